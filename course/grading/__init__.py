"""Grading support for the course's nbgrader assignments.

- :mod:`course.grading.checks`: the checks assignment tests use. A failing
  check says what was checked, what was expected and what came back
  (shape, dtype, the first differing value), never a bare ``AssertionError``.
- :mod:`course.grading.guard`: the anti-reference guard. An answer that calls
  the course's reference implementation or the PyTorch operation the part
  asks for gets no points for that part.

The checks are importable from here::

    from course.grading import check_equal, check_tensor_close

They load on first use: importing this package imports neither torch nor
nbgrader, so the instructor's command line (``python -m course.grading``)
starts quickly and loads nbgrader only where it needs it.
"""
from __future__ import annotations

_CHECKS = (
    "CheckFailure",
    "NotYourOwnCode",
    "check_close",
    "check_equal",
    "check_is_student_code",
    "check_raises",
    "check_tensor_close",
    "warnings_to_stdout",
)

__all__ = list(_CHECKS)


def __getattr__(name: str):
    if name in _CHECKS:
        from course.grading import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'course.grading' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_CHECKS))
