"""How long a small U-Net takes, on 2 CPU threads, to reach held-out mIoU >= 0.90 on the shapes data.

Setup (the same for every run; picked from about a dozen tried on the
random-color data): ``ShapesDataset`` images of
48x48 with 3 shape classes (+ background), 1,000 training images (seed 0) and
200 held-out images (seed 1), generated once and kept in memory;
``UNet(3, 4, base_channels=8, depth=2)`` with batch norm; Adam, batch 8,
one-cycle learning rate peaking at 0.005 over at most 8,000 training images,
trained with ``course.train.fit``.
The held-out mIoU is measured every ``CHECK_EVERY`` training images (one
short "epoch" of ``fit``) and training stops at the first check >= 0.90.

The figure is wall time of training plus the held-out checks (data
generation is reported separately). The shapes come in two color modes: the
default ``color="class"`` (each class in its own hue, so color gives the
class away), the headline figure, and ``color="random"`` (only the outline
tells the class), a harder variant that this small network reaches only near
the end of its 8,000-image budget, and with some seeds (``--seed``) not at
all. Run from the repository root::

    .venv/bin/python benchmarks/train_unet.py                  # both color modes
    .venv/bin/python benchmarks/train_unet.py --color random
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
from course.models import UNet
from course.train import evaluate, fit

IMAGE_SIZE, NUM_SHAPE_CLASSES = 48, 3
TRAIN_IMAGES, VAL_IMAGES = 1000, 200
BASE_CHANNELS, DEPTH = 8, 2
BATCH_SIZE, LR = 8, 0.005
CHECK_EVERY = 256            # training images between two held-out checks
MAX_IMAGES = 8_000           # the one-cycle schedule spans this many training images (8 passes over the data)
TARGET = 0.90
SEED = 0


def in_memory(data) -> TensorDataset:
    """Generate every item once: a TensorDataset of images (N, 3, H, W) and label maps (N, H, W)."""
    images, masks = zip(*(data[i] for i in range(len(data))), strict=True)
    return TensorDataset(torch.stack(images), torch.stack(masks))


def run(color: str, seed: int = SEED) -> None:
    start = time.perf_counter()
    train = in_memory(ShapesDataset(TRAIN_IMAGES, IMAGE_SIZE, num_classes=NUM_SHAPE_CLASSES, color=color, seed=0))
    val = in_memory(ShapesDataset(VAL_IMAGES, IMAGE_SIZE, num_classes=NUM_SHAPE_CLASSES, color=color, seed=1))
    data_seconds = time.perf_counter() - start

    # A "short epoch" of CHECK_EVERY random training images, so fit checks the held-out mIoU often.
    sampler = RandomSampler(train, num_samples=CHECK_EVERY, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(train, batch_size=BATCH_SIZE, sampler=sampler)
    torch.manual_seed(seed)
    model = UNet(3, NUM_SHAPE_CLASSES + 1, base_channels=BASE_CHANNELS, depth=DEPTH)

    start, cpu_start = time.perf_counter(), time.process_time()
    history = fit(model, loader, val, epochs=MAX_IMAGES // CHECK_EVERY, lr=LR, scheduler="onecycle",
                  metric="miou", stop_at=TARGET, batch_size=64, seed=seed, device="cpu", progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    final = evaluate(model, val, metric="miou")["metric"]

    reached = history.val_metric[-1] >= TARGET
    images_seen = history.epochs * CHECK_EVERY
    params = sum(p.numel() for p in model.parameters())
    print(f"color={color!r}, seed {seed}: UNet(base_channels={BASE_CHANNELS}, depth={DEPTH}), {params:,} parameters, "
          f"{IMAGE_SIZE}x{IMAGE_SIZE} images")
    print(f"  data: {TRAIN_IMAGES} train + {VAL_IMAGES} held-out images generated in {data_seconds:.1f} s")
    status = "reached" if reached else "did NOT reach"
    print(f"  {status} held-out mIoU >= {TARGET} after {images_seen:,} training images "
          f"({images_seen / TRAIN_IMAGES:.2f} passes over the data, {history.epochs} checks)")
    print(f"  wall time {seconds:.1f} s (goal < 60 s), CPU time {cpu_seconds:.1f} s, "
          f"final held-out mIoU {final:.4f}")
    print(f"  held-out mIoU at each check: {' '.join(f'{m:.3f}' for m in history.val_metric)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--color", choices=("class", "random", "both"), default="both")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=SEED, help="initial weights and batch order")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} thread{'s' if threads != 1 else ''}, "
          f"load average before the run {load:.2f} (timings are only meaningful on an idle machine)")
    for color in (("class", "random") if args.color == "both" else (args.color,)):
        run(color, args.seed)


if __name__ == "__main__":
    main()
