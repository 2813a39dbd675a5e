"""The course's nbgrader assignments (assignments/source/*) grade as intended.

- ``release --check``: the committed student versions (assignments/release/)
  and worked solutions (solutions/) are what the sources generate, byte for
  byte. After editing a source notebook, run
  ``python -m course.grading release --all`` and commit the result.
- ``selftest --all``: every source notebook autogrades to full marks, every
  released notebook to zero, and every wrong answer of its wrong_answers.json
  loses points on the tests it names. The score table is printed.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from course.grading._course import DEFAULT_COURSE_DIR, assignments

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not assignments(DEFAULT_COURSE_DIR), reason="no assignment in assignments/source"),
]


def run(*args):
    return subprocess.run([sys.executable, "-m", "course.grading", *args], capture_output=True, text=True,
                          timeout=1800, cwd=Path(__file__).resolve().parents[1])


def test_release_and_solutions_are_up_to_date():
    proc = run("release", "--all", "--check")
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, (
        "the committed release or solution is stale; run `python -m course.grading release --all` "
        f"and commit:\n{proc.stdout}{proc.stderr}")


def test_selftest_all_assignments():
    proc = run("selftest", "--all", "--jobs", "2")
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, f"selftest failed:\n{proc.stdout}{proc.stderr}"
    assert "all OK" in proc.stdout
