"""Pretrain the course's small backbone and write ``course/weights/digits_cnn.pt``.

The network is :class:`course.pretrained.DigitsCNN` (width 16, about 24k
parameters). It learns to classify the handwritten digits **0 to 4** of the
training split of :class:`course.data.DigitsClassification` (scikit-learn's
digits, upscaled to 28x28), and is scored on the held-out test split of the
same digits. The digits 5 to 9 are kept away from it on purpose: the
transfer-learning lecture (and ``benchmarks/transfer_learning.py``) fine-tunes
it on 5-9 with a few labels.

Deterministic: the weights, the data order and every random draw come from
``--seed``, and the script runs on 2 CPU threads (``--threads``; another
thread count may change the last bits of the weights). It takes well under
a minute on two cores. Run it from the repository root::

    .venv/bin/python scripts/pretrain_backbone.py           # writes course/weights/digits_cnn.pt
    .venv/bin/python scripts/pretrain_backbone.py --output /tmp/weights
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # use this checkout's course package

from course.data import DigitsClassification  # noqa: E402
from course.pretrained import WEIGHTS_DIR, DigitsCNN, save_pretrained  # noqa: E402
from course.train import evaluate, fit  # noqa: E402

NAME = "digits_cnn"
CLASSES = [0, 1, 2, 3, 4]
IMAGE_SIZE = 28
WIDTH = 16


def digits_subset(split: str, classes: list[int]) -> TensorDataset:
    """The digits of ``classes`` from one split, as a TensorDataset with labels 0..len(classes)-1."""
    data = DigitsClassification(split, image_size=IMAGE_SIZE)
    keep = torch.isin(data.labels, torch.tensor(classes))
    relabel = {digit: i for i, digit in enumerate(classes)}
    labels = torch.tensor([relabel[int(d)] for d in data.labels[keep]])
    return TensorDataset(data.images[keep], labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=WEIGHTS_DIR, help="folder for <name>.pt")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the weights shipped used 2)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    train, test = digits_subset("train", CLASSES), digits_subset("test", CLASSES)
    torch.manual_seed(args.seed)                       # the initial weights
    model = DigitsCNN(num_classes=len(CLASSES), in_channels=1, width=WIDTH)

    start = time.perf_counter()
    history = fit(model, train, epochs=args.epochs, lr=args.lr, optimizer="adam", scheduler="cosine",
                  batch_size=args.batch_size, seed=args.seed, device="cpu", progress=not args.no_progress)
    seconds = time.perf_counter() - start
    test_accuracy = evaluate(model, test)["metric"]

    metadata = {
        "name": NAME,
        "description": "DigitsCNN trained to classify the handwritten digits 0-4 "
                       "(scikit-learn digits upscaled to 28x28, DigitsClassification train split)",
        "classes": CLASSES,
        "image_size": IMAGE_SIZE,
        "input": "(N, 1, 28, 28) float32 in [0, 1], white digit on black",
        "train_examples": len(train),
        "test_examples": len(test),
        "test_split": "DigitsClassification('test', image_size=28), digits 0-4",
        "epochs": args.epochs,
        "optimizer": "adam",
        "lr": args.lr,
        "scheduler": "cosine",
        "batch_size": args.batch_size,
        "seed": args.seed,
        "train_accuracy": history.train_metric[-1],
        "test_accuracy": test_accuracy,
        "torch_version": str(torch.__version__),
        "script": "scripts/pretrain_backbone.py",
    }
    path = save_pretrained(model, NAME, metadata, directory=args.output)
    params = sum(p.numel() for p in model.parameters())
    print(f"trained {NAME} ({params:,} parameters) on {len(train)} digits 0-4 "
          f"for {args.epochs} epochs in {seconds:.1f} s")
    print(f"train accuracy {history.train_metric[-1]:.4f}, held-out accuracy {test_accuracy:.4f} "
          f"({len(test)} test digits)")
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
