"""Checks for assignment tests: say what was expected and what came back.

A failing check raises :class:`CheckFailure` (an ``AssertionError``) whose
message starts with the name of what was checked, then gives the expected and
the actual value, for example::

    CheckFailure: conv2d(x, w, stride=2): expected shape (1, 4, 3, 3), got (1, 4, 4, 4)
    CheckFailure: conv_output_size(5, 3, stride=2): expected 2, got 3

The checks:

- :func:`check_equal`: ints, bools, strings, tuples and lists (element by element).
- :func:`check_close`: one number, within a tolerance.
- :func:`check_tensor_close`: a tensor: its type, then shape, then dtype, then
  values (the first differing index, both values, the largest difference).
- :func:`check_raises`: that calling a function raises a given exception.
- :func:`check_is_student_code`: that an answer is the student's own code, not
  the course's reference or the PyTorch operation the exercise asks to write
  (see :mod:`course.grading.guard`).

The lectures' ungraded "your turn" exercises use :func:`self_check` and
:func:`self_check_function` instead: they print one line (correct, wrong with
expected and got, or not attempted yet) and never raise, so *Run All* goes on.

Every check returns ``None``. That is on purpose: nbgrader reads the value of
a test cell's last line as a partial score, so a check that returned a number
could change a grade.
"""
from __future__ import annotations

import math
import numbers
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, SupportsFloat, TextIO

import torch

from .failures import CheckFailure, NotYourOwnCode, short_repr
from .guard import static_problem

if TYPE_CHECKING:
    from types import TracebackType

    from .guard import Forbidden

__all__ = [
    "CheckFailure",
    "NotYourOwnCode",
    "check_equal",
    "check_close",
    "check_tensor_close",
    "check_raises",
    "check_is_student_code",
    "warnings_to_stdout",
    "show_not_attempted",
    "passed",
    "self_check",
    "self_check_function",
]



def _kind(value: object) -> str:
    """The type of ``value`` as a student would name it: int, float, Tensor, ..."""
    return type(value).__name__


def _number(value: object) -> str:
    """A number printed briefly: ints exactly, floats with 6 significant digits."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.6g}"
    return short_repr(value)


def _fail(name: str, problem: str) -> NoReturn:
    raise CheckFailure(f"{name}: {problem}")


# --------------------------------------------------------------------------
# check_equal
# --------------------------------------------------------------------------

def _int_problem(got: object, expected: numbers.Integral) -> str | None:
    if isinstance(got, bool) or not isinstance(got, numbers.Integral):
        hint = ""
        if isinstance(got, float):
            hint = " (sizes and counts are ints: use // for floor division, or int(...))"
        elif isinstance(got, torch.Tensor):
            hint = " (turn a one-element tensor into a Python int with .item() or int(...))"
        return f"expected the int {expected}, got {_kind(got)} {short_repr(got)}{hint}"
    if got != expected:
        return f"expected {expected}, got {int(got)}"
    return None


def _difference(got: object, expected: object) -> str | None:
    """What is wrong with ``got``, or None if it equals ``expected``."""
    if isinstance(expected, torch.Tensor):
        return _tensor_problem(got, expected, atol=0.0, rtol=0.0, check_dtype=True)
    if isinstance(expected, bool):
        if not isinstance(got, bool):
            return f"expected the bool {expected}, got {_kind(got)} {short_repr(got)}"
        return None if got == expected else f"expected {expected}, got {got}"
    if isinstance(expected, numbers.Integral):
        return _int_problem(got, expected)
    if isinstance(expected, numbers.Real):
        return _number_problem(got, expected, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(expected, (tuple, list)):
        if isinstance(got, torch.Size):
            got = tuple(got)  # printed as (1, 4, 3, 3), not torch.Size([1, 4, 3, 3])
        if not isinstance(got, (tuple, list)):
            return f"expected a {_kind(expected)} {short_repr(expected)}, got {_kind(got)} {short_repr(got)}"
        if len(got) != len(expected):
            return (f"expected {len(expected)} values {short_repr(expected)}, "
                    f"got {len(got)}: {short_repr(got)}")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = _difference(g, e)
            if problem is not None:
                return f"expected {short_repr(expected)}, got {short_repr(got)}; at position {i}: {problem}"
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict, got {_kind(got)} {short_repr(got)}"
        if set(got) != set(expected):
            def keys(collection: Iterable[object]) -> str:
                return "[" + ", ".join(sorted(repr(key) for key in collection)) + "]"
            return (f"expected the keys {keys(expected)}, missing {keys(set(expected) - set(got))}, "
                    f"unexpected {keys(set(got) - set(expected))}")
        for key in expected:
            problem = _difference(got[key], expected[key])
            if problem is not None:
                return f"at key {key!r}: {problem}"
        return None
    if type(got) is not type(expected) or got != expected:
        return f"expected {_kind(expected)} {short_repr(expected)}, got {_kind(got)} {short_repr(got)}"
    return None


def check_equal(name: str, got: object, expected: object) -> None:
    """Check ``got == expected`` exactly, including the type of each number.

    For ints (sizes, counts) a float or a tensor is reported as the wrong
    type even if its value is right: ``3.0`` cannot be used as a tensor size.
    Tuples, lists and ``torch.Size`` compare element by element and are
    interchangeable; the message names the first differing position.

    >>> check_equal("conv_output_size(5, 3)", 3, 3)
    >>> check_equal("conv_output_size(5, 3, stride=2)", 3, 2)
    Traceback (most recent call last):
    ...
    course.grading.failures.CheckFailure: conv_output_size(5, 3, stride=2): expected 2, got 3
    """
    problem = _difference(got, expected)
    if problem is not None:
        _fail(name, problem)


# --------------------------------------------------------------------------
# check_close
# --------------------------------------------------------------------------

def _number_problem(got: object, expected: SupportsFloat, rel_tol: float, abs_tol: float) -> str | None:
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        hint = ""
        if isinstance(got, torch.Tensor):
            hint = " (turn a one-element tensor into a Python number with .item())"
        return f"expected a number close to {_number(expected)}, got {_kind(got)} {short_repr(got)}{hint}"
    got_f, expected_f = float(got), float(expected)
    if math.isnan(got_f) and math.isnan(expected_f):
        return None
    if math.isclose(got_f, expected_f, rel_tol=rel_tol, abs_tol=abs_tol):
        return None
    return (f"expected {expected_f:.6g}, got {got_f:.6g} (difference {got_f - expected_f:.3g}; "
            f"allowed: rel_tol={rel_tol:g}, abs_tol={abs_tol:g})")


def check_close(name: str, got: object, expected: SupportsFloat, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
    """Check that the number ``got`` is within tolerance of ``expected`` (``math.isclose``).

    Ints and floats are both accepted; tensors are not.

    >>> check_close("separable_ratio(3, 1024)", 0.112, 1 / 1024 + 1 / 9, abs_tol=5e-4)
    """
    problem = _number_problem(got, expected, rel_tol, abs_tol)
    if problem is not None:
        _fail(name, problem)


# --------------------------------------------------------------------------
# check_tensor_close
# --------------------------------------------------------------------------

def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _dtype_hint(got: torch.Tensor, expected: torch.Tensor) -> str:
    if expected.is_floating_point() and got.is_floating_point():
        return (" (create new tensors with the dtype of the input, e.g. x.new_zeros(...) "
                "or torch.zeros(..., dtype=x.dtype))")
    if expected.dtype == torch.int64:
        return " (indices are int64: torch.long)"
    return ""


def _tensor_problem(got: object, expected: torch.Tensor, atol: float, rtol: float,
                    check_dtype: bool) -> str | None:
    if not isinstance(got, torch.Tensor):
        return (f"expected a torch.Tensor of shape {_shape(expected)} and dtype {expected.dtype}, "
                f"got {_kind(got)} {short_repr(got)}")
    if type(got) not in (torch.Tensor, torch.nn.Parameter):
        return f"expected a plain torch.Tensor, got the tensor subclass {_kind(got)}"
    if _shape(got) != _shape(expected):
        return f"expected shape {_shape(expected)}, got {_shape(got)}"
    if check_dtype and got.dtype != expected.dtype:
        return f"expected dtype {expected.dtype}, got {got.dtype}{_dtype_hint(got, expected)}"

    got = got.detach().cpu()
    expected = expected.detach().cpu()
    exact = not (expected.is_floating_point() or expected.is_complex()
                 or got.is_floating_point() or got.is_complex())
    if exact:
        same = got.to(torch.int64) == expected.to(torch.int64) if got.dtype != expected.dtype else got == expected
    else:
        kind = torch.complex128 if (got.is_complex() or expected.is_complex()) else torch.float64
        got, expected = got.to(kind), expected.to(kind)
        same = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if bool(same.all()):
        return None

    wrong = (~same).nonzero()
    first = tuple(int(i) for i in wrong[0])
    tolerance = "exactly" if exact else f"with atol={atol:g}, rtol={rtol:g}"
    diff = (got.to(torch.float64) - expected.to(torch.float64)).abs() if not got.is_complex() \
        else (got - expected).abs()
    finite = diff[torch.isfinite(diff)]
    biggest = f"{float(finite.max()):.3g}" if finite.numel() else "nan"
    index = first if len(first) != 1 else f"({first[0]},)"
    return (f"{len(wrong)} of {expected.numel()} values differ ({tolerance}); "
            f"first at index {index}: expected {_number(expected[first].item())}, "
            f"got {_number(got[first].item())}; max abs difference {biggest}")


def check_tensor_close(name: str, got: object, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4,
                       check_dtype: bool = True) -> None:
    """Check a tensor against the expected one.

    In this order: that it is a tensor, its shape, its dtype (unless
    ``check_dtype=False``), then its values (``torch.isclose``: ``|got - expected| <= atol + rtol*|expected|``;
    exact for integer tensors; NaN equals NaN).

    The message for wrong values names the first differing index, both values
    there, how many values differ and the largest absolute difference::

        conv2d_naive(x, w): 3 of 36 values differ (with atol=1e-05, rtol=0.0001);
        first at index (0, 1, 2): expected 0.5, got 0.75; max abs difference 0.25
    """
    if not isinstance(expected, torch.Tensor):
        raise TypeError(f"check_tensor_close: expected must be a torch.Tensor, got {_kind(expected)}")
    problem = _tensor_problem(got, expected, atol, rtol, check_dtype)
    if problem is not None:
        _fail(name, problem)


# --------------------------------------------------------------------------
# check_raises
# --------------------------------------------------------------------------

def check_raises(name: str, fn: Callable[[], object],
                 exception_types: type[BaseException] | tuple[type[BaseException], ...],
                 match: str | None = None) -> None:
    """Check that ``fn()`` raises one of ``exception_types``.

    ``exception_types`` is a class or a tuple of classes; the message must match
    the regular expression ``match`` if given.

    >>> check_raises("conv_output_size(2, 3)", lambda: int("x"), ValueError)
    """
    if isinstance(exception_types, type):
        exception_types = (exception_types,)
    exception_types = tuple(exception_types)
    wanted = " or ".join(t.__name__ for t in exception_types)
    try:
        result = fn()
    except exception_types as error:
        if match is not None and not re.search(match, str(error)):
            _fail(name, f"raised {type(error).__name__} as expected, but its message {str(error)!r} "
                        f"does not match {match!r}")
        return None
    except Exception as error:
        raise CheckFailure(f"{name}: expected {wanted}, got {type(error).__name__}: {error}") from error
    _fail(name, f"expected {wanted} to be raised, but it returned {_kind(result)} {short_repr(result)}")


# --------------------------------------------------------------------------
# check_is_student_code
# --------------------------------------------------------------------------

def check_is_student_code(name: str, fn: object, forbidden: Forbidden = (), student_module: str = "__main__") -> None:
    """Check that ``fn`` is a function written in the notebook that reaches no forbidden object.

    Forbidden are the ``forbidden`` objects and the course library's reference
    implementations (always).

    ``forbidden`` holds rules from :mod:`course.grading.guard` (for example
    ``guard.CONVOLUTION``). This is the static half of the guard: it finds
    forbidden objects bound *before* ``fn`` runs (imported under another
    name, stored in a default argument, a closure, a global container, a
    class attribute). :func:`course.grading.guard.student_function` adds the
    run-time half.

    Raises :class:`NotYourOwnCode` naming what was found.
    """
    problem = static_problem(name, fn, forbidden, student_module=student_module)
    if problem is not None:
        raise NotYourOwnCode(problem)


# --------------------------------------------------------------------------
# Warnings
# --------------------------------------------------------------------------

def _show_on_stdout(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: TextIO | None = None, line: str | None = None) -> None:
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


def warnings_to_stdout() -> None:
    """Print Python warnings on stdout instead of stderr.

    nbgrader gives a test cell no points when anything is written to stderr,
    so a harmless warning (a deprecation in correct code) would cost points.
    Shown on stdout, the warning is still visible but does not change grades.
    """
    warnings.showwarning = _show_on_stdout


# --------------------------------------------------------------------------
# Not attempted yet, passed
# --------------------------------------------------------------------------

NOT_ATTEMPTED = "not attempted yet"


def _stub_function(tb: TracebackType, user_ns: dict[str, Any]) -> str | None:
    """The name of the notebook function whose ``raise NotImplementedError()`` stub ended ``tb``, or None."""
    last = tb
    while last.tb_next is not None:
        last = last.tb_next
    frame = last.tb_frame
    if frame.f_globals is not user_ns:       # raised by a library, not by a notebook cell
        return None
    return getattr(frame.f_code, "co_qualname", frame.f_code.co_name)


def _not_attempted_handler(shell: Any, etype: type[BaseException], value: BaseException, tb: TracebackType,
                           tb_offset: int | None = None) -> None:
    """IPython custom exception handler: one line for an exercise stub, the usual traceback otherwise."""
    name = _stub_function(tb, shell.user_ns) if not value.args else None
    if name is None or name == "<module>":
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    # still an error output (the cell scores 0), but one line long
    shell._showtraceback(etype, value, [
        f"\x1b[0;33m{name}: {NOT_ATTEMPTED}.\x1b[0m Replace `raise NotImplementedError()` in its cell "
        "with your code, run that cell, then run this one again. (It scores 0 until then.)"])
    return None


def show_not_attempted() -> None:
    """In a notebook, report an exercise stub as "not attempted yet" instead of a traceback.

    The released notebook's exercises start as ``raise NotImplementedError()``.
    Its test cells are tagged ``raises-exception``, so *Run All* goes on past a
    failing test; with this handler, a test that calls a stub prints one line,
    ``one_hot: not attempted yet.``, instead of a traceback. It is still an
    error (the cell scores 0). Other errors keep their usual traceback.
    Outside IPython (the grader's own process), this does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((NotImplementedError,), _not_attempted_handler)


def passed(name: str) -> None:
    """Print that every check of a test cell passed (the last line of each test cell)."""
    print(f"\u2714 {name}: every check in this cell passed.")


# --------------------------------------------------------------------------
# Self-checks for the lectures' "your turn" exercises (ungraded)
# --------------------------------------------------------------------------

def _not_attempted_line(name: str) -> str:
    return (f"\u2026 {name}: {NOT_ATTEMPTED}. Write your answer in the cell above (replace the ... or the "
            "raise NotImplementedError()), run it, then run this cell again.")


def _compare(name: str, got: object, expected: object, rel_tol: float, abs_tol: float) -> None:
    """Raise CheckFailure unless ``got`` matches ``expected`` (tensors and floats within the tolerances)."""
    if isinstance(expected, torch.Tensor):
        check_tensor_close(name, got, expected, atol=abs_tol, rtol=rel_tol)
    elif isinstance(expected, numbers.Real) and not isinstance(expected, (bool, numbers.Integral)):
        check_close(name, got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    else:
        check_equal(name, got, expected)


def _verdict(name: str, compare: Callable[[], object], correct: str = "correct.") -> None:
    """Run ``compare()`` and print one line: correct, wrong (expected vs got) or not attempted yet."""
    try:
        compare()
    except NotImplementedError:
        print(_not_attempted_line(name))
    except CheckFailure as failure:
        print(f"\u2718 {failure}")
    except Exception as error:  # the student's code failed: say so, but let Run All go on
        print(f"\u2718 {name}: your code raised {type(error).__name__}: {short_repr(str(error), 300)}")
    else:
        print(f"\u2714 {name}: {correct}")


def self_check(name: str, answer: object, expected: object, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
    """Say at once whether a lecture exercise's ``answer`` equals ``expected``; prints one line, never raises.

    ``answer`` is ``...`` (Ellipsis) until the student writes one: that prints
    "not attempted yet". Ints, bools, strings, tuples and lists must be equal;
    floats and tensors agree within ``rel_tol`` / ``abs_tol``.

    >>> self_check("output size", ..., 3)
    \u2026 output size: not attempted yet. Write your answer in the cell above
    (replace the ... or the raise NotImplementedError()), run it, then run this cell again.
    >>> self_check("output size", 4, 3)
    \u2718 output size: expected 3, got 4
    >>> self_check("output size", 3, 3)
    \u2714 output size: correct.
    """
    if answer is Ellipsis:
        print(_not_attempted_line(name))
        return None
    _verdict(name, lambda: _compare(name, answer, expected, rel_tol, abs_tol))
    return None


def _call_text(name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    parts = [short_repr(a, 60) for a in args] + [f"{k}={short_repr(v, 60)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def self_check_function(name: str, fn: object, reference: Callable[..., object], cases: Iterable[object], *,
                        rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
    """Call the student's ``fn`` and the course's ``reference`` on each case; print one line, never raise.

    ``cases`` is a list of argument tuples (or ``(args, kwargs)`` pairs when
    an element is a tuple whose second item is a dict). The first case that
    differs is named with its arguments; a stub that raises
    ``NotImplementedError`` (or returns ``...``) is "not attempted yet".

    >>> def double(x):
    ...     return x + x
    >>> self_check_function("double", double, lambda x: 2 * x, [(1,), (2.5,)])
    \u2714 double: correct on 2 cases.
    >>> self_check_function("double", lambda x: x * x, lambda x: 2 * x, [(2,), (3,)])
    \u2718 double(3): expected 6, got 9
    """
    if not callable(fn):
        print(f"\u2718 {name}: expected a function, got {_kind(fn)} {short_repr(fn)}")
        return None
    cases = list(cases)

    def compare() -> None:
        for case in cases:
            args: tuple[object, ...]
            kwargs: dict[str, object] = {}
            if isinstance(case, tuple) and len(case) == 2 and isinstance(case[0], tuple) and isinstance(case[1], dict):
                args, kwargs = case
            elif isinstance(case, tuple):
                args = case
            else:
                args = (case,)
            call = _call_text(name, args, kwargs)
            try:
                got = fn(*args, **kwargs)
            except NotImplementedError:
                raise
            except Exception as error:
                raise CheckFailure(f"{call}: your code raised {type(error).__name__}: "
                                   f"{short_repr(str(error), 300)}") from error
            if got is Ellipsis:
                raise NotImplementedError
            _compare(call, got, reference(*args, **kwargs), rel_tol, abs_tol)

    _verdict(name, compare, f"correct on {len(cases)} case{'s' if len(cases) != 1 else ''}.")
    return None
