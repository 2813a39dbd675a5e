"""What a failing check raises, shared by the checks and the guard (kernel side, no imports).

>>> short_repr(list(range(100)), limit=20)
'[0, 1, 2, 3, 4, 5...'
"""
from __future__ import annotations


class CheckFailure(AssertionError):
    """A check failed; the message says what was expected and what came back."""


class NotYourOwnCode(CheckFailure):
    """An answer uses the reference (or the library operation) it was asked to write."""


def short_repr(value: object, limit: int = 120) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__} object>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
