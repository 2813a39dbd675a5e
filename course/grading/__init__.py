"""Grading support for the course's nbgrader assignments.

Two sides, kept apart (``tests/test_grading_structure.py`` checks it):

- **Kernel side** (imports only torch and the standard library; runs inside a
  student's kernel, where the student's code can change it):
  :mod:`~course.grading.checks` (what assignment tests use: a failing check
  says what was expected and what came back, never a bare ``AssertionError``),
  :mod:`~course.grading.guard` (an answer that calls the reference or the
  PyTorch operation it was asked to write gets no points),
  :mod:`~course.grading.failures`, and :mod:`~course.grading.kernel_server` with
  :mod:`~course.grading.wire` (answering the grader's calls during grading).
- **Instructor side**: the command line ``python -m course.grading``
  (:mod:`~course.grading.cli`) and everything behind it. Nothing it decides is
  left to the kernel: test cells run in the grader's own process
  (:mod:`~course.grading.trusted`); see :mod:`~course.grading.autograde` for
  how a batch runs and which module does what.

The checks are importable from here::

    from course.grading import check_equal, check_tensor_close

They load on first use: importing this package imports neither torch nor
nbgrader, so the instructor's command line starts quickly and loads nbgrader
only where it needs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy __getattr__ below returns, for mypy and IDEs (never run: no torch here)
    from course.grading.checks import (
        CheckFailure,
        NotYourOwnCode,
        check_close,
        check_equal,
        check_is_student_code,
        check_raises,
        check_tensor_close,
        passed,
        show_not_attempted,
        warnings_to_stdout,
    )

__all__ = [
    "CheckFailure",
    "NotYourOwnCode",
    "check_close",
    "check_equal",
    "check_is_student_code",
    "check_raises",
    "check_tensor_close",
    "warnings_to_stdout",
    "show_not_attempted",
    "passed",
]


def __getattr__(name: str) -> object:
    """A check of :mod:`course.grading.checks`, imported on first use (it imports torch)."""
    if name in __all__:
        from course.grading import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'course.grading' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
