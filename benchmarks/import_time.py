"""How long `import course` takes beyond `import torch` (goal: under 0.3 s).

Each measurement runs in a fresh interpreter so nothing is cached in-process;
the figure is the median over several runs of
    time(import torch; import course; touch every core submodule) - time(import torch)
and, separately, of the bare `import course`.
"""
from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 5
CORE = ("conv", "upsample", "receptive", "complexity")

SNIPPET = """
import time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import course
t2 = time.perf_counter()
for name in {modules!r}:
    getattr(course, name)
t3 = time.perf_counter()
import sys
heavy = sorted(m for m in ("matplotlib", "ipywidgets", "torchvision", "sklearn", "nbgrader") if m in sys.modules)
print(t1 - t0, t2 - t1, t3 - t1, ",".join(heavy))
"""


def measure() -> tuple[float, float, float, str]:
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(modules=CORE)],
                         check=True, capture_output=True, text=True).stdout.split()
    heavy = out[3] if len(out) > 3 else ""
    return float(out[0]), float(out[1]), float(out[2]), heavy


def main() -> None:
    runs = [measure() for _ in range(RUNS)]
    torch_s = statistics.median(r[0] for r in runs)
    bare_s = statistics.median(r[1] for r in runs)
    core_s = statistics.median(r[2] for r in runs)
    print(f"import torch                                 {torch_s:6.3f} s (median of {RUNS})")
    print(f"import course (beyond torch)                 {bare_s:6.3f} s")
    print(f"import course + {', '.join(CORE)} {core_s:6.3f} s  (goal < 0.300 s)")
    print(f"heavy modules loaded: {runs[-1][3] or 'none'}")


if __name__ == "__main__":
    main()
