"""Transfer learning: does a backbone pretrained on digits 0-4 help to learn digits 5-9 from few labels?

The pretrained network is ``course.pretrained.load_pretrained("digits_cnn")``,
a DigitsCNN trained by ``scripts/pretrain_backbone.py`` on the digits 0-4 only.
The new task is to tell the digits **5 to 9** apart (classes it never saw)
with only ``k`` labelled images per class, taken from the training split;
every model is scored on all the 5-9 digits of the held-out test split.

Three ways to train the same architecture, with the same budget (epochs,
optimizer, learning rate, batch size) and the same seeds:

* **scratch**: random initial weights;
* **fine-tune**: the pretrained weights, a new last layer, every layer trained;
* **linear probe**: the pretrained trunk frozen, only the new last layer trained.

Each cell is the mean over ``SEEDS`` (the seed picks the labelled images, the
new layer's initial weights and the batch order), with the worst and best
seed in brackets. Nothing is tuned on the test digits: the table shows every
learning rate of a small grid, for every method, rather than a chosen one.

What to expect: with 5 or 10 labels per class the pretrained features give a
large gain; with 20 per class (100 images) these easy digits are learnt well
from scratch too, and the two end up close. Transfer matters most when labels
are scarce. Run from the repository root:
``.venv/bin/python benchmarks/transfer_learning.py`` (about a minute on 2 cores).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.data import DigitsClassification  # noqa: E402
from course.pretrained import DigitsCNN, load_pretrained  # noqa: E402
from course.train import evaluate, fit, predict  # noqa: E402

NEW_CLASSES = [5, 6, 7, 8, 9]          # never seen in pretraining (it used 0-4)
LABELS_PER_CLASS = (5, 10, 20)
LRS = (1e-3, 3e-3)
SEEDS = (0, 1, 2)
EPOCHS, BATCH_SIZE = 15, 16
METHODS = ("scratch", "fine-tune", "linear probe")


def digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels 0..4 (for the digits 5..9) of one split."""
    data = DigitsClassification(split, image_size=28)
    keep = torch.isin(data.labels, torch.tensor(NEW_CLASSES))
    return data.images[keep], data.labels[keep] - NEW_CLASSES[0]


def few_labels(images, labels, per_class: int, seed: int) -> TensorDataset:
    """``per_class`` random images of each class (the seed picks which)."""
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(len(NEW_CLASSES)):
        members = (labels == c).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    chosen = torch.cat(chosen)
    return TensorDataset(images[chosen], labels[chosen])


def new_head(model: nn.Module) -> nn.Module:
    """Replace the last layer (5 scores for 0-4) by a fresh one for the 5 new classes."""
    model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, len(NEW_CLASSES))
    return model


def run(method: str, train: TensorDataset, test: TensorDataset, seed: int, lr: float) -> tuple[float, float]:
    """Train with ``method``; return (held-out accuracy, seconds)."""
    start = time.perf_counter()
    budget = dict(epochs=EPOCHS, lr=lr, batch_size=BATCH_SIZE, seed=seed, device="cpu", progress=False)
    torch.manual_seed(seed)                                  # initial weights of what is new
    if method == "scratch":
        model = DigitsCNN(num_classes=len(NEW_CLASSES), width=16)
    else:
        model = new_head(load_pretrained("digits_cnn"))
    if method == "linear probe":
        # The trunk is a fixed feature extractor: compute the pooled features once,
        # then train only the last layer on them.
        trunk = nn.Sequential(model.features, *model.classifier[:-1])          # (N, 1, 28, 28) -> (N, 64)
        features = TensorDataset(predict(trunk, train.tensors[0], logits=True), train.tensors[1])
        fit(model.classifier[-1], features, **budget)
    else:
        fit(model, train, **budget)
    seconds = time.perf_counter() - start
    return evaluate(model, test)["metric"], seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    train_images, train_labels = digits("train")
    test = TensorDataset(*digits("test"))
    info = load_pretrained("digits_cnn").pretrained_info
    print(f"pretrained: digits_cnn on digits {info['classes']} ({info['train_examples']} images, "
          f"held-out accuracy {info['test_accuracy']:.3f})")
    print(f"new task: digits {NEW_CLASSES} from k labelled images per class; "
          f"scored on the {len(test)} held-out digits 5-9")
    print(f"every run: {EPOCHS} epochs, Adam, batch {BATCH_SIZE}; mean over seeds {list(SEEDS)} "
          f"[worst, best]; every learning rate of the grid is shown\n")
    print(f"{'k':>3} {'images':>6} {'lr':>6}  " + "  ".join(f"{m:>22}" for m in METHODS)
          + "   seconds per run (" + ", ".join(METHODS) + ")")
    mean = {}
    for k in LABELS_PER_CLASS:
        for lr in LRS:
            cells, times = [], []
            for method in METHODS:
                results = [run(method, few_labels(train_images, train_labels, k, seed), test, seed, lr)
                           for seed in SEEDS]
                accuracies = [a for a, _ in results]
                mean[k, lr, method] = statistics.mean(accuracies)
                cells.append(f"{mean[k, lr, method]:.3f} [{min(accuracies):.3f}, {max(accuracies):.3f}]")
                times.append(f"{statistics.mean(s for _, s in results):.1f}")
            print(f"{k:>3} {k * len(NEW_CLASSES):>6} {lr:>6g}  " + "  ".join(f"{c:>22}" for c in cells)
                  + "   " + ", ".join(times))
    print()
    for k in LABELS_PER_CLASS:
        wins = sum(mean[k, lr, "fine-tune"] > mean[k, lr, "scratch"] for lr in LRS)
        best_scratch = max(mean[k, lr, "scratch"] for lr in LRS)
        best_fine = max(mean[k, lr, "fine-tune"] for lr in LRS)
        print(f"k={k:>2} ({k * len(NEW_CLASSES):>3} images): fine-tune beats scratch at {wins} of {len(LRS)} "
              f"learning rates; best of each: fine-tune {best_fine:.3f} vs scratch {best_scratch:.3f} "
              f"({best_fine - best_scratch:+.3f})")
    threads = torch.get_num_threads()
    print(f"\ntotal {time.perf_counter() - start:.0f} s on {threads} thread{'s' if threads != 1 else ''}")


if __name__ == "__main__":
    main()
