"""How fast each explorer redraws after one control changes (goal: under 0.2 s on 2 cores).

Builds every explorer of ``course.viz`` as a lecture does, then moves each
control through several values, one change at a time, timing each redraw
(recompute, draw the figure, encode the PNG): what a student waits for after
releasing a slider. Prints the median and worst redraw per explorer. The
first redraw of a new setting is timed, so caches only help where a student
would really come back to a setting. CPU time is printed next to wall time:
on a busy machine the wall time grows, the CPU time does not. Set
OMP_NUM_THREADS to try other thread counts.

    .venv/bin/python benchmarks/explorers.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import torch
from torch import nn

from course import viz

GOAL_SECONDS = 0.2
STEPS_PER_CONTROL = 4


def small_classifier(num_classes: int = 3) -> nn.Sequential:
    """A small CNN of the size lecture 09 trains (three conv stages, global pooling, a linear layer)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes)).eval()


def grad_cam_explorer():
    model = small_classifier()
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return viz.grad_cam_explorer(model, images, {"conv1": model[0], "conv2": model[3], "conv3": model[6]},
                                 class_names=["a", "b", "c"])


EXPLORERS = {
    "conv_arithmetic": viz.conv_arithmetic_explorer,
    "transposed_conv": lambda: viz.transposed_conv_explorer(),
    "checkerboard": viz.checkerboard_explorer,
    "unpooling": viz.unpooling_explorer,
    "receptive_field": viz.receptive_field_explorer,
    "iou": viz.iou_explorer,
    "pr_threshold": viz.pr_threshold_explorer,
    "nms": viz.nms_explorer,
    "grad_cam": grad_cam_explorer,
}


def control_values(control) -> list:
    """A few values spread over the control's range (or its options), ending away from the start."""
    if hasattr(control, "options") and not hasattr(control, "max"):
        values = [option[1] if isinstance(option, tuple) else option for option in control.options]
        return values[1:] + values[:1]
    low, high = control.min, control.max
    if isinstance(control.value, int):
        span = range(low, high + 1)
        picks = [span[round(i * (len(span) - 1) / STEPS_PER_CONTROL)] for i in range(1, STEPS_PER_CONTROL + 1)]
    else:
        picks = [low + (high - low) * i / STEPS_PER_CONTROL for i in range(1, STEPS_PER_CONTROL + 1)]
    return [value for value in picks if value != control.value] or [low]


def redraw_times(explorer) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each redraw (CPU time does not grow when other programs share the cores)."""
    times, cpu = [], []
    for name in list(explorer.controls):
        for value in control_values(explorer.controls[name]):
            control = explorer.controls[name]
            if hasattr(control, "max") and not (control.min <= value <= control.max):
                continue  # the range follows another control (a unit's position): skip what is out of it now
            start, start_cpu = time.perf_counter(), time.process_time()
            control.value = value
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return times, cpu


def main(argv: list[str]) -> int:
    names = argv or list(EXPLORERS)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"{len(names)} explorers, {os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'explorer':<18} {'build s':>8} {'redraws':>8} {'median s':>9} {'worst s':>8} "
          f"{'median CPU s':>13} {'worst CPU s':>12}")
    worst_of_all = 0.0
    for name in names:
        start = time.perf_counter()
        explorer = EXPLORERS[name]()
        build = time.perf_counter() - start
        times, cpu = redraw_times(explorer)
        worst_of_all = max(worst_of_all, max(times))
        print(f"{name:<18} {build:8.2f} {len(times):8d} {statistics.median(times):9.3f} {max(times):8.3f} "
              f"{statistics.median(cpu):13.3f} {max(cpu):12.3f}")
    print(f"worst redraw: {worst_of_all:.3f} s (goal: under {GOAL_SECONDS} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
