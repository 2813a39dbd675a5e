"""Notebook helpers for the grading command.

Tolerant reading, hidden-test regions, solution markers and byte-stable writing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
#: the line before the student's own frames in the traceback of a test cell the grader ran
#: (course.grading.trusted writes it; feedback shows that part even when a hidden test failed)
STUDENT_TRACEBACK = "In your code:\n"

#: largest submitted notebook the grader reads (bytes)
MAX_NOTEBOOK_BYTES = 50 * 2**20

_NBGRADER_KEYS = ("grade", "solution", "locked", "task", "grade_id", "points", "schema_version", "checksum",
                  "cell_type")


class Unreadable(Exception):
    """The submitted file is not a notebook the grader can run."""


def read_submission(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """Read a student's notebook, repairing what can be repaired.

    Returns ``(notebook, notes)`` where ``notes`` says what was repaired, or
    raises :class:`Unreadable` with a reason a student can act on.
    """
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise Unreadable(f"the notebook file is {size / 2**20:.0f} MB, more than the "
                         f"{MAX_NOTEBOOK_BYTES // 2**20} MB the grader accepts")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "was it saved by Jupyter?") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise Unreadable(f"the file is not valid notebook JSON{where}: {exc.__class__.__name__}; "
                         "open it in Jupyter, save it again and resubmit") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise Unreadable("the file is JSON but not a Jupyter notebook (it has no cells)")
    notes: list[str] = []
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        return nb, notes
    except Exception as exc:  # nbformat raises a variety of errors
        first_error = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    nb = _repair(data)
    if nb is None:
        raise Unreadable(f"the notebook is not valid nbformat ({first_error[:200]}) and could not be repaired")
    notes.append(f"the notebook file was not valid nbformat ({first_error[:120]}); "
                 "its cells were recovered and graded")
    return nb, notes


def joined_text(value: object) -> str | None:
    """A notebook string field (a str, or a list of str as nbformat allows), or None if it is neither."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return None


def _repair(data: dict[str, Any]) -> nbformat.NotebookNode | None:
    """Rebuild a notebook from the cell types, sources and nbgrader metadata."""
    cells = data.get("cells")
    if not isinstance(cells, list):
        return None
    nb = nbformat.v4.new_notebook()
    for raw in cells:
        if not isinstance(raw, dict):
            continue
        source = joined_text(raw.get("source", ""))
        kind = raw.get("cell_type")
        if source is None or kind not in ("code", "markdown", "raw"):
            continue
        maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                 "raw": nbformat.v4.new_raw_cell}[kind]
        cell = maker(source)
        meta = raw.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("nbgrader"), dict):
            cell.metadata["nbgrader"] = {k: v for k, v in meta["nbgrader"].items() if k in _NBGRADER_KEYS}
        nb.cells.append(cell)
    if not nb.cells:
        return None
    try:
        nbformat.validate(nb)
    except Exception:
        return None
    return nb


def hidden_regions(source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN) -> tuple[str, list[int]]:
    """Split ``source`` into (visible source, 1-based line numbers of the hidden region).

    The delimiter lines themselves count as hidden.
    """
    visible: list[str] = []
    hidden: list[int] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            inside = True
            hidden.append(number)
        elif end in line and inside:
            inside = False
            hidden.append(number)
        elif inside:
            hidden.append(number)
        else:
            visible.append(line)
    return "\n".join(visible), hidden


def strip_solution_markers(source: str, begin: str = BEGIN_SOLUTION, end: str = END_SOLUTION) -> str:
    """Remove the ``### BEGIN/END SOLUTION`` lines, keeping the solution between them."""
    lines = [line for line in source.split("\n") if begin not in line and end not in line]
    return "\n".join(lines)


def dumps(nb: nbformat.NotebookNode) -> str:
    """The notebook as nbformat writes it, with exactly one trailing newline."""
    return nbformat.writes(nb).rstrip("\n") + "\n"


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` as :func:`dumps` does, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(nb), encoding="utf-8")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def first_line(source: str, width: int = 60) -> str:
    for line in source.split("\n"):
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 3] + "..."
    return ""
