"""Autograding throughput of every assignment, with ``--jobs 1`` and ``--jobs 2``.

Goals: under 15 s per submission on 2 cores, and ``--jobs 2`` at least 1.7x
faster than ``--jobs 1`` (for a1, issue 10 set 4.05 s per submission).

A batch of N copies of the worked solution (default 8) is graded twice, with
``--jobs 1`` and with ``--jobs 2``, each time in a scratch copy of the course
(the instructor's gradebook is not touched), through the same code path as
``python -m course.grading autograde`` (sandbox, limits, merge). Printed: wall
seconds per submission for each, and the throughput ratio. The figure includes
the per-batch overhead (generate_assignment, integrity snapshot, merge), not
the interpreter's start-up. Other load on the machine distorts the ratio: the
load average is printed alongside.

    python benchmarks/autograde.py [--copies 8] [--assignment a1_convolutions ...]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course.grading import _course  # noqa: E402
from course.grading._nb import strip_solution_markers, write  # noqa: E402
from course.grading.autograde import grade_batch  # noqa: E402
from course.grading.limits import Limits  # noqa: E402


def solved_notebook(course: Path, assignment: str, scratch: Path):
    stem = _course.notebook_name(course, assignment)
    source = nbformat.read(str(course / "source" / assignment / f"{stem}.ipynb"), as_version=4)
    release = nbformat.read(str(_course.generate_assignment(course, assignment, scratch / "gen")
                                / "release" / assignment / f"{stem}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: strip_solution_markers(c.source) for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return stem, release


SPIN = ("import time\nt = time.perf_counter()\nx = 0\nfor i in range(20_000_000):\n    x += i\n"
        "print(time.perf_counter() - t)")


def cpu_calibration() -> tuple[float, float]:
    """Seconds of a pure-Python loop alone, and with two copies running at once."""
    import subprocess

    def spin(n):
        procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True) for _ in range(n)]
        return max(float(p.communicate()[0]) for p in procs)
    return spin(1), spin(2)


def measure(course_dir: Path, assignment: str, copies: int) -> dict:
    """Grade ``copies`` worked solutions with --jobs 1 and --jobs 2; print and return the figures."""
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        tmp = Path(tmp)
        course = tmp / "coursedir"
        shutil.copytree(course_dir / "source" / assignment, course / "source" / assignment)
        if (course_dir / "nbgrader_config.py").exists():
            shutil.copy(course_dir / "nbgrader_config.py", course / "nbgrader_config.py")
        stem, nb = solved_notebook(course, assignment, tmp)
        subs = tmp / "submissions"
        for i in range(copies):
            write(nb, subs / f"student{i:02d}" / f"{stem}.ipynb")
        print(f"{assignment}: {copies} submissions of the worked solution; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        figures = {}
        for jobs in (1, 2):
            state = tmp / f"state-jobs{jobs}"
            start = time.perf_counter()
            summary = grade_batch(course, assignment, subs, state_dir=state, jobs=jobs,
                                  limits=Limits(cell_timeout=120), progress=lambda message: None)
            elapsed = time.perf_counter() - start
            statuses = {str(row["status"]) for row in summary.values()}
            scores = {row["score"] for row in summary.values()}
            per = elapsed / copies
            figures[jobs] = per
            worker = sorted(row["seconds"] for row in summary.values())
            print(f"  --jobs {jobs}: {elapsed:6.1f} s for {copies} = {per:5.2f} s per submission "
                  f"(one worker: median {worker[len(worker) // 2]:.1f} s; statuses {sorted(statuses)}, "
                  f"scores {sorted(scores)}; load average {os.getloadavg()[0]:.1f})")
        ratio = figures[1] / figures[2]
        print(f"  throughput --jobs 2 / --jobs 1: {ratio:.2f}x (goal >= 1.7x); "
              f"per submission {min(figures.values()):.2f} s (goal < 15 s)")
        return {"seconds_per_submission": figures, "ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--assignment", nargs="*", help="default: every assignment in COURSE_DIR/source")
    parser.add_argument("--course-dir", type=Path, default=REPO / "assignments")
    args = parser.parse_args()
    names = args.assignment or _course.assignments(args.course_dir)
    missing = [a for a in names if not (args.course_dir / "source" / a).is_dir()]
    if missing or not names:
        print(f"no assignment {missing or ''} in {args.course_dir / 'source'}: nothing to measure")
        return
    one, two = cpu_calibration()
    print(f"CPU check: a busy loop takes {one:.2f} s alone and {two:.2f} s with two at once, so two "
          f"processes can run at most {2 * one / two:.2f}x faster than one on this machine right now")
    figures = {assignment: measure(args.course_dir, assignment, args.copies) for assignment in names}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
