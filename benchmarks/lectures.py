"""How long each lecture takes to run top to bottom (goal: at most 30 s on 2 CPU cores).

Each notebook runs in a fresh kernel, as a student's "Restart Kernel and Run
All Cells" would, from its own folder; nothing is written back. Prints the
wall time of the whole notebook (kernel start included) and its three slowest
cells. Pass notebook paths to time only those; set OMP_NUM_THREADS to try
other thread counts (by default PyTorch uses every core).
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 30


def cell_seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def run(path: Path) -> tuple[float, list[tuple[float, str]]]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    total = time.perf_counter() - start
    cells = [(cell_seconds(cell), cell.source.strip().splitlines()[0][:60])
             for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]
    return total, sorted(cells, reverse=True)[:3]


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv] or sorted((ROOT / "lectures").glob("*.ipynb"))
    print(f"{len(paths)} lectures, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    slowest = 0.0
    for path in paths:
        total, cells = run(path)
        slowest = max(slowest, total)
        print(f"{path.name:<28} {total:6.1f} s   slowest cells: "
              + "; ".join(f"{seconds:.1f} s {text!r}" for seconds, text in cells))
    print(f"slowest lecture: {slowest:.1f} s (goal: at most {GOAL_SECONDS} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
