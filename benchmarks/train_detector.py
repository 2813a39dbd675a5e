"""How long the course's small SSD takes, on 2 CPU threads, to reach held-out mAP@0.5 >= 0.8 on the shapes data.

Setup (the same for every run): ``ShapesDataset(task="detection")`` scenes of
48x48 with 1 to 4 shapes of 3 classes (circle, square, triangle; the default
``color="class"``), 1,000 training scenes (seed 0) and 200 held-out scenes
(seed 1), generated once and kept in memory with their per-anchor targets;
``TinySSD(3, 48)`` (anchors at strides 4 and 8, hard-negative mining 3:1,
smooth-L1 boxes); Adam, batch 16, one-cycle learning rate peaking at 0.01
over a budget of ``MAX_IMAGES`` training images, trained with
``course.train.fit``. Every ``CHECK_EVERY`` training images (one short
"epoch" of ``fit``) the model detects the held-out scenes
(``TinySSD.detect``: score > 0.05, NMS at 0.45, at most 100 boxes) and
``course.metrics.mean_average_precision`` scores them.

Printed: the training time until the first check with mAP@0.5 >= 0.8
(``fit``'s own per-epoch times, checks excluded), the wall time including the
checks, and the final held-out mAP@[.5:.95], mAP@0.5 and mAP@0.75 after the
whole budget. Lecture 10 trains the same model on 400 scenes for 5 passes
(2,000 images). Run from the repository root::

    .venv/bin/python benchmarks/train_detector.py
    .venv/bin/python benchmarks/train_detector.py --threads 1 --seed 1
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.data import ShapesDataset
from course.metrics import mean_average_precision
from course.models import TinySSD, positive_accuracy
from course.train import fit

IMAGE_SIZE, NUM_SHAPE_CLASSES = 48, 3
TRAIN_IMAGES, VAL_IMAGES = 1000, 200
BATCH_SIZE, LR = 16, 0.01
CHECK_EVERY = 400            # training images between two held-out checks
MAX_IMAGES = 6_000           # the one-cycle schedule spans this many training images (6 passes over the data)
TARGET = 0.8
SEED = 0


def scenes(n: int, seed: int):
    data = ShapesDataset(n, IMAGE_SIZE, task="detection", num_classes=NUM_SHAPE_CLASSES, seed=seed)
    images, targets = zip(*(data[i] for i in range(n)), strict=True)
    return torch.stack(images), [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=SEED, help="initial weights and batch order")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} thread{'s' if threads != 1 else ''}, "
          f"load average before the run {load:.2f} (timings are only meaningful on an idle machine)")

    start = time.perf_counter()
    train_images, train_targets = scenes(TRAIN_IMAGES, 0)
    val_images, val_targets = scenes(VAL_IMAGES, 1)
    torch.manual_seed(args.seed)
    model = TinySSD(NUM_SHAPE_CLASSES, IMAGE_SIZE)
    train = TensorDataset(train_images, model.encode_targets(train_targets))
    data_seconds = time.perf_counter() - start

    checks: list[dict] = []

    def check(history) -> bool:
        """Score the held-out scenes after each short epoch; never stops training (the whole budget runs)."""
        result = mean_average_precision(model.detect(val_images), val_targets)
        checks.append({"images": history.epochs * CHECK_EVERY, "train_seconds": history.total_seconds,
                       "wall": time.perf_counter() - wall_start, "cpu": time.process_time() - cpu_start, **result})
        return False

    sampler = RandomSampler(train, num_samples=CHECK_EVERY, generator=torch.Generator().manual_seed(args.seed))
    loader = DataLoader(train, batch_size=BATCH_SIZE, sampler=sampler)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    fit(model, loader, epochs=MAX_IMAGES // CHECK_EVERY, lr=LR, loss=model.loss, metric=positive_accuracy,
        scheduler="onecycle", seed=args.seed, device="cpu", progress=False, callback=check)

    params = sum(p.numel() for p in model.parameters())
    print(f"TinySSD(3, {IMAGE_SIZE}), {params:,} parameters, {len(model.anchors)} anchors; "
          f"{TRAIN_IMAGES} train + {VAL_IMAGES} held-out scenes and their targets made in {data_seconds:.1f} s")
    reached = next((c for c in checks if c["map_50"] >= TARGET), None)
    if reached is None:
        print(f"  did NOT reach held-out mAP@0.5 >= {TARGET} within {MAX_IMAGES:,} training images")
    else:
        print(f"  reached held-out mAP@0.5 >= {TARGET} after {reached['images']:,} training images "
              f"({reached['images'] / TRAIN_IMAGES:.1f} passes): {reached['train_seconds']:.1f} s of training "
              f"(goal < 60 s), {reached['wall']:.1f} s wall and {reached['cpu']:.1f} s CPU with the checks")
    final = checks[-1]
    print(f"  final, after {final['images']:,} images ({final['train_seconds']:.1f} s of training): "
          f"map {final['map']:.3f}  map_50 {final['map_50']:.3f}  map_75 {final['map_75']:.3f}")
    print("  held-out mAP@0.5 at each check: " + " ".join(f"{c['map_50']:.3f}" for c in checks))
    print("  held-out mAP@[.5:.95] at each check: " + " ".join(f"{c['map']:.3f}" for c in checks))


if __name__ == "__main__":
    main()
