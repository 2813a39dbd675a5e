"""Transfer learning: does a backbone pretrained on digits 0-4 help to learn digits 5-9 from few labels?

The pretrained network is ``course.pretrained.load_pretrained("digits_cnn")``,
a DigitsCNN trained by ``scripts/pretrain_backbone.py`` on the digits 0-4 only.
The new task is to tell the digits **5 to 9** apart (classes it never saw)
with only ``k`` labelled images per class, taken from the training split;
every model is scored on all the 5-9 digits of the held-out test split.

Four ways to train the same architecture, with the same budget (epochs,
optimizer, learning rate, batch size) and the same seeds:

* **scratch**: random initial weights, every layer trained;
* **fine-tune**: the pretrained weights, a new last layer, every layer trained;
* **linear probe**: the pretrained trunk frozen, only the new last layer trained;
* **random probe**: the control for the linear probe: a frozen trunk with
  random weights (its BatchNorm statistics estimated on the training images),
  only the last layer trained.

DigitsCNN has batch normalisation. After a short run (15 epochs of 25 images
are 30 optimizer steps) its running statistics lag behind the weights, and
in evaluation mode a network trained from scratch can score near chance even
on its own training images. So every model is scored twice: **as trained**
(evaluation mode as ``fit`` leaves it) and **re-estimated** (after one pass
over its training images in training mode with ``momentum=None``, which
recomputes the statistics of the layers that trained; the weights and any
frozen layer stay as they are). The re-estimated numbers are the fair ones.

Each cell is the mean over ``SEEDS`` (the seed picks the labelled images, the
new layer's initial weights and the batch order), with the worst and best
seed in brackets. Nothing is tuned on the test digits: the table shows every
learning rate of a small grid, for every method, rather than a chosen one.

What it showed (2 cores, torch 2.14): as trained, scratch stays near chance
with 25 labels and fine-tuning looks far better, but that is the stale
statistics. Re-estimated, scratch and fine-tuning are within 0.04 of each
other at every k (2 to 20) and learning rate, with 6 seeds; the frozen
pretrained trunk (linear probe) is 0.2 to 0.3 below them, and 0.07 to 0.3
above a frozen random trunk. So the features learned on 0-4 do transfer, but
on these easy digits they teach nothing that a few labels of 5-9 cannot.
Run from the repository root:
``.venv/bin/python benchmarks/transfer_learning.py`` (about two minutes on one thread).
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

from course.data import DigitsClassification
from course.pretrained import DigitsCNN, load_pretrained
from course.train import evaluate, fit, predict, reestimate_batchnorm

NEW_CLASSES = [5, 6, 7, 8, 9]          # never seen in pretraining (it used 0-4)
LABELS_PER_CLASS = (2, 5, 10, 20)
LRS = (1e-3, 3e-3)
SEEDS = (0, 1, 2, 3, 4, 5)
EPOCHS, BATCH_SIZE = 15, 16
METHODS = ("scratch", "fine-tune", "linear probe", "random probe")
AS_TRAINED, REESTIMATED = 0, 1         # positions in what run() returns


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


def run(method: str, train: TensorDataset, test: TensorDataset, seed: int, lr: float) -> tuple[float, float, float]:
    """Train with ``method``; return (held-out accuracy as trained, re-estimated, seconds)."""
    start = time.perf_counter()
    budget = dict(epochs=EPOCHS, lr=lr, batch_size=BATCH_SIZE, seed=seed, device="cpu", progress=False)
    images = train.tensors[0]
    torch.manual_seed(seed)                                  # initial weights of what is new
    if method in ("scratch", "random probe"):
        model = DigitsCNN(num_classes=len(NEW_CLASSES), width=16)
    else:
        model = new_head(load_pretrained("digits_cnn"))
    if method in ("linear probe", "random probe"):
        # The trunk is a fixed feature extractor: compute the pooled features once,
        # then train only the last layer on them. A random trunk first gets the
        # BatchNorm statistics of the training images (its initial ones are 0 and 1).
        if method == "random probe":
            reestimate_batchnorm(model, images.split(256))
        trunk = nn.Sequential(model.features, *model.classifier[:-1])          # (N, 1, 28, 28) -> (N, 64)
        features = TensorDataset(predict(trunk, images, logits=True), train.tensors[1])
        fit(model.classifier[-1], features, **budget)
        as_trained = reestimated = evaluate(model, test)["metric"]            # nothing in the trunk trained
    else:
        fit(model, train, **budget)
        as_trained = evaluate(model, test)["metric"]
        reestimated = evaluate(reestimate_batchnorm(model, images.split(256)), test)["metric"]
    return as_trained, reestimated, time.perf_counter() - start


def cell(accuracies: list[float]) -> str:
    """``mean [worst, best]``."""
    return f"{statistics.mean(accuracies):.3f} [{min(accuracies):.3f}, {max(accuracies):.3f}]"


def best_mean(results: dict, k: int, method: str, column: int) -> float:
    """The best over ``LRS`` of the mean over seeds of ``column`` (``AS_TRAINED`` or ``REESTIMATED``)."""
    return max(statistics.mean(result[column] for result in results[k, lr, method]) for lr in LRS)


def main(argv: list[str] | None = None) -> None:
    """Print the table (re-estimated), the as-trained numbers and a summary per k."""
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
    results = {}
    for k in LABELS_PER_CLASS:
        for lr in LRS:
            for method in METHODS:
                results[k, lr, method] = [run(method, few_labels(train_images, train_labels, k, seed), test, seed, lr)
                                          for seed in SEEDS]

    print("held-out accuracy, BatchNorm statistics re-estimated on the training images (the fair numbers)")
    print(f"{'k':>3} {'images':>6} {'lr':>6}  " + "  ".join(f"{m:>22}" for m in METHODS)
          + "   seconds per run (" + ", ".join(METHODS) + ")")
    for k in LABELS_PER_CLASS:
        for lr in LRS:
            cells = [cell([r for _, r, _ in results[k, lr, method]]) for method in METHODS]
            times = [f"{statistics.mean(s for _, _, s in results[k, lr, method]):.1f}" for method in METHODS]
            print(f"{k:>3} {k * len(NEW_CLASSES):>6} {lr:>6g}  " + "  ".join(f"{c:>22}" for c in cells)
                  + "   " + ", ".join(times))

    trained = ("scratch", "fine-tune")
    print("\nheld-out accuracy as trained (evaluation mode with the running statistics fit leaves)")
    print(f"{'k':>3} {'images':>6} {'lr':>6}  " + "  ".join(f"{m:>22}" for m in trained))
    for k in LABELS_PER_CLASS:
        for lr in LRS:
            cells = [cell([a for a, _, _ in results[k, lr, method]]) for method in trained]
            print(f"{k:>3} {k * len(NEW_CLASSES):>6} {lr:>6g}  " + "  ".join(f"{c:>22}" for c in cells))

    print()
    for k in LABELS_PER_CLASS:
        fair = {method: best_mean(results, k, method, REESTIMATED) for method in METHODS}
        raw = {method: best_mean(results, k, method, AS_TRAINED) for method in trained}
        print(f"k={k:>2} ({k * len(NEW_CLASSES):>3} images), best learning rate of each: "
              f"fine-tune - scratch {fair['fine-tune'] - fair['scratch']:+.3f} re-estimated, "
              f"{raw['fine-tune'] - raw['scratch']:+.3f} as trained; "
              f"linear probe - random probe {fair['linear probe'] - fair['random probe']:+.3f}; "
              f"scratch - linear probe {fair['scratch'] - fair['linear probe']:+.3f}")
    threads = torch.get_num_threads()
    print(f"\ntotal {time.perf_counter() - start:.0f} s on {threads} thread{'s' if threads != 1 else ''}")


if __name__ == "__main__":
    main()
