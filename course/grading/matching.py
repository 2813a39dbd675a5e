"""Match a submitted notebook's cells to the assignment's cells before nbgrader grades it.

nbgrader knows the cells of an assignment only by the ``grade_id`` in each cell's
metadata. A student who pastes the answers into a fresh notebook, submits the
worked solution (no metadata at all) or deletes a section has cells nbgrader
cannot place, and nbgrader's autograder fails. :func:`reconcile` gives such a
notebook its grading metadata back, by content, and says what it did:

1. **Known cells stay.** A cell whose metadata carries a grade_id of the
   assignment is kept as it is, where it is. Other nbgrader metadata (an unknown
   grade_id) is removed.
2. **The other cells are matched** to the assignment cells still missing:

   - a read-only cell (test, setup, task) by its source: equal to the released
     cell, or to the instructor's source without its hidden tests, whitespace
     aside (cell types must agree);
   - a code answer by the names it defines at top level (``def``, ``class``,
     assignments; IPython magics and shell lines are skipped, a cell that does
     not parse is scanned line by line) against the names the released cell
     defines (its functions, else its variables). When several cells define
     them, the last one is the answer, as when the notebook runs top to
     bottom. A cell that defines the answers of several cells goes to the first
     of them that no other cell answers;
   - a written (markdown) answer by position: the first markdown cell after the
     placed assignment cell that precedes it in the source and before the placed
     one that follows it, that is neither empty nor one of the instructor's
     markdown cells.

   A matched cell gets the released cell's nbgrader metadata (and its
   ``deletable``/``editable`` flags); a matched read-only cell also gets the
   released source, which differs from the student's in whitespace only.
3. **Missing cells are put back**, in source order, right after the nearest
   preceding assignment cell (if there is none, before the notebook's first
   assignment cell, or at the top): read-only cells and
   written answers as released, a code answer as the released template (its
   tests then fail instead of crashing the grader). A template is never put
   back when a function or variable it would define is defined anywhere in the
   notebook (two answers merged into one cell, an answer written in another
   answer's cell): that would replace the student's code. A code cell holding
   only a comment takes the answer's place instead.
4. **Everything else stays** where it is, without nbgrader metadata: the
   student's own cells run as they are and are not graded.

A normal, complete submission comes back unchanged, with no notes.
"""
from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from ._nb import hidden_regions

__all__ = ["reconcile"]

#: top-level metadata the released cells carry next to ``nbgrader``
_FLAGS = ("deletable", "editable")


# ----------------------------------------------------------------------------- source analysis

def _norm(source: str) -> str:
    """The source with all runs of whitespace made one space (for comparisons)."""
    return " ".join(source.split())


def _as_python(source: str) -> str:
    """The source with IPython cell magics, line magics and shell lines made ``pass``."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]  # %%time, %%capture...: the body is Python (or, if not, fails to parse)
    out = []
    for line in lines:
        body = line.lstrip()
        out.append(line[: len(line) - len(body)] + "pass" if body.startswith(("%", "!")) else line)
    return "\n".join(out)


@dataclass
class _Names:
    defs: set[str] = field(default_factory=set)     # def / async def / class
    assigns: set[str] = field(default_factory=set)  # assignment targets
    imports: set[str] = field(default_factory=set)  # import aliases

    @property
    def binds(self) -> set[str]:
        """Names the cell defines itself (not imports)."""
        return self.defs | self.assigns

    @property
    def bound(self) -> set[str]:
        return self.defs | self.assigns | self.imports


_DEF_LINE = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.M)
_ASSIGN_LINE = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)", re.M)


def _targets(node: ast.AST, into: set[str]) -> None:
    if isinstance(node, ast.Name):
        into.add(node.id)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            _targets(elt, into)
    elif isinstance(node, ast.Starred):
        _targets(node.value, into)


def _collect(body: list[ast.stmt], names: _Names) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.defs.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                _targets(target, names.assigns)
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
            _targets(stmt.target, names.assigns)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                names.imports.add((alias.asname or alias.name).split(".")[0])
        else:
            # definitions inside top-level if/for/while/with/try blocks are top-level too
            for attr in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, attr, None)
                if isinstance(inner, list):
                    _collect(inner, names)
            for handler in getattr(stmt, "handlers", []) or []:
                _collect(handler.body, names)


def _names(source: str) -> _Names:
    """The names a code cell defines at top level (best effort for cells that do not parse)."""
    names = _Names()
    try:
        tree = ast.parse(_as_python(source))
    except Exception:  # SyntaxError, ValueError (NUL bytes), RecursionError...
        names.defs.update(_DEF_LINE.findall(source))
        names.assigns.update(_ASSIGN_LINE.findall(source))
        return names
    _collect(tree.body, names)
    return names


# ----------------------------------------------------------------------------- the assignment

@dataclass
class _Slot:
    """One cell of the assignment (a cell of the source notebook with a grade_id)."""

    grade_id: str
    order: int               # position in the source notebook
    kind: str                # "fixed" (read-only), "answer" (code) or "written" (markdown answer)
    release: NotebookNode    # the released cell: template for answers, visible tests for tests
    label: str               # "test cell", "read-only cell", ...
    texts: set[str] = field(default_factory=set)      # fixed: accepted normalised sources
    keys: set[str] = field(default_factory=set)       # answer: names that identify it
    provides: set[str] = field(default_factory=set)   # answer: every name its template defines

    def describe(self) -> str:
        names = sorted(self.keys - {self.grade_id})
        extra = f" ({', '.join(names)})" if names else ""
        return f"{self.label} `{self.grade_id}`{extra}"


def _released(cell: NotebookNode) -> NotebookNode:
    """A stand-in released cell when the release lacks one: hidden tests and solutions removed."""
    cell = copy.deepcopy(cell)
    visible, _ = hidden_regions(cell.source)
    stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
    lines, inside = [], False
    for line in visible.split("\n"):
        if "BEGIN SOLUTION" in line:
            inside = True
            lines.append(line[: len(line) - len(line.lstrip())] + stub)
        elif "END SOLUTION" in line and inside:
            inside = False
        elif not inside:
            lines.append(line)
    cell.source = "\n".join(lines)
    return cell


def _nbgrader_meta(cell: NotebookNode) -> dict[str, Any] | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def _slots(source_nb: NotebookNode, release_nb: NotebookNode) -> list[_Slot]:
    released: dict[str, NotebookNode] = {}
    for cell in release_nb.cells:
        meta = _nbgrader_meta(cell)
        if meta and isinstance(meta.get("grade_id"), str):
            released.setdefault(meta["grade_id"], cell)
    slots: list[_Slot] = []
    seen: set[str] = set()
    for order, cell in enumerate(source_nb.cells):
        meta = _nbgrader_meta(cell)
        if not meta or not isinstance(meta.get("grade_id"), str) or meta["grade_id"] in seen:
            continue
        if not any(meta.get(flag) for flag in ("grade", "solution", "locked", "task")):
            continue
        grade_id = meta["grade_id"]
        seen.add(grade_id)
        release = released.get(grade_id) or _released(cell)
        if meta.get("solution") and cell.cell_type == "code":
            template, full = _names(release.source), _names(cell.source)
            keys = template.defs or full.defs or template.assigns or full.assigns
            slots.append(_Slot(grade_id, order, "answer", release, "answer cell", keys=set(keys),
                               provides=template.defs | template.assigns))
        elif meta.get("solution"):
            slots.append(_Slot(grade_id, order, "written", release, "written answer"))
        else:
            label = ("task cell" if meta.get("task") else "test cell" if meta.get("grade")
                     else "read-only cell")
            texts = {_norm(release.source), _norm(hidden_regions(cell.source)[0]), _norm(cell.source)}
            slots.append(_Slot(grade_id, order, "fixed", release, label, texts=texts - {""}))
    return slots


def _instructor_markdown(source_nb: NotebookNode, release_nb: NotebookNode) -> set[str]:
    """Normalised sources of the instructor's markdown cells (not the written answers)."""
    texts: set[str] = set()
    for cell in list(source_nb.cells) + list(release_nb.cells):
        if cell.cell_type == "markdown" and not (_nbgrader_meta(cell) or {}).get("solution"):
            texts.add(_norm(cell.source))
    return texts


# ----------------------------------------------------------------------------- notes

def _cells(indices: Iterable[int]) -> str:
    """``cell 3`` or ``cells 1, 2 and 5``: cells counted from 1, for notes."""
    numbers = [str(i + 1) for i in sorted(indices)]
    if len(numbers) == 1:
        return f"cell {numbers[0]}"
    return f"cells {', '.join(numbers[:-1])} and {numbers[-1]}"


def _ids(slots: Iterable[_Slot]) -> str:
    return ", ".join(f"`{s.grade_id}`" for s in slots)


# ----------------------------------------------------------------------------- reconcile

def reconcile(nb: NotebookNode, source_nb: NotebookNode,
              release_nb: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """Give the cells of a submitted notebook the assignment's grading metadata, by content.

    ``nb`` is the student's notebook, ``source_nb`` the instructor's source
    notebook (its cells with ``metadata.nbgrader`` define the assignment) and
    ``release_nb`` the released notebook. Returns a new notebook (``nb`` is not
    modified) in which every assignment cell appears, and notes for the
    student saying what changed (none when nothing did); "cell N" in a note
    counts from 1 in the notebook as submitted. See the module docstring for
    the rules.
    """
    return _Reconciler(nb, source_nb, release_nb).run()


class _Reconciler:
    def __init__(self, nb: NotebookNode, source_nb: NotebookNode, release_nb: NotebookNode) -> None:
        self.out = copy.deepcopy(nb)
        self.cells = self.out.cells
        self.slots = _slots(source_nb, release_nb)
        self.by_id = {s.grade_id: s for s in self.slots}
        self.instructor_md = _instructor_markdown(source_nb, release_nb)
        self.notes: list[str] = []
        self.placed: dict[str, int] = {}    # grade_id -> index in the submitted notebook
        self.matched: dict[str, int] = {}   # the part of ``placed`` found by content
        self.used: set[int] = set()         # cells matched to a slot
        self.free: list[int] = []           # cells open to matching
        self.names: dict[int, _Names] = {}  # names defined by the free code cells

    def run(self) -> tuple[NotebookNode, list[str]]:
        self.keep_known_cells()
        had_metadata = bool(self.placed)
        self.match_fixed()
        self.match_answers()
        self.match_written()
        self.label_matched()
        if self.cells and not had_metadata:
            self.notes.insert(0, "the notebook had no grading metadata (a copy or a fresh notebook?): its cells "
                                 "were matched to the assignment by content" if self.matched else
                                 "the notebook had no grading metadata and none of its cells matched a cell of "
                                 "the assignment (is it the right notebook?)")
        elif self.matched:
            which = ", ".join(f"cell {i + 1} as `{g}`"
                              for g, i in sorted(self.matched.items(), key=lambda item: item[1]))
            self.notes.insert(0, f"cells without grading metadata were matched to the assignment by content: "
                                 f"{which}")
        elif not self.cells and self.slots:
            self.notes.append("the notebook had no cells")
        self.put_back_missing()
        return self.out, self.notes

    # -- 1. known cells ---------------------------------------------------------------
    def keep_known_cells(self) -> None:
        """Cells with a known grade_id stay (with duplicates, the last counts, as for nbgrader)."""
        for i, cell in enumerate(self.cells):
            grade_id = _grade_id(cell)
            if grade_id is not None and grade_id in self.by_id:
                self.placed[grade_id] = i
                continue
            if "nbgrader" in cell.metadata:
                del cell.metadata["nbgrader"]  # unknown grade_id: not a cell of this assignment
            self.free.append(i)
            if cell.cell_type == "code":
                self.names[i] = _names(cell.source)

    # -- 2. matching --------------------------------------------------------------------
    def missing(self, kind: str) -> list[_Slot]:
        return [s for s in self.slots if s.kind == kind and s.grade_id not in self.placed]

    def place(self, slot: _Slot, i: int) -> None:
        self.placed[slot.grade_id] = self.matched[slot.grade_id] = i
        self.used.add(i)

    def match_fixed(self) -> None:
        """Read-only cells (tests, setup): the same source, whitespace aside."""
        for slot in self.missing("fixed"):
            for i in self.free:
                cell = self.cells[i]
                if i not in self.used and cell.cell_type == slot.release.cell_type \
                        and _norm(cell.source) in slot.texts:
                    self.place(slot, i)
                    break

    def match_answers(self) -> None:
        """Code answers: the last cell defining the answer's names; cells defining several answers last."""
        answers = self.missing("answer")
        fixed_texts = set().union(*(s.texts for s in self.slots if s.kind == "fixed"))
        definers = {s.grade_id: [i for i, names in self.names.items() if s.keys & names.binds
                                 and _norm(self.cells[i].source) not in fixed_texts] for s in answers}
        for merged_allowed in (False, True):
            for slot in answers:
                if slot.grade_id in self.placed:
                    continue
                others = set().union(*(s.keys for s in answers
                                       if s is not slot and s.grade_id not in self.placed))
                pool = [i for i in definers[slot.grade_id] if i not in self.used
                        and (merged_allowed or not self.names[i].binds & others)]
                if not pool:
                    continue
                self.place(slot, pool[-1])
                if len(pool) > 1:
                    what = ", ".join(sorted(slot.keys & self.names[pool[-1]].binds))
                    self.notes.append(f"{what} is defined in {_cells(pool)}: the last one, {_cells(pool[-1:])}, "
                                      f"was taken as {slot.describe()}, since a notebook run top to bottom "
                                      "uses the last definition")

    def match_written(self) -> None:
        """Written answers: by position, between the placed assignment cells around them."""
        for slot in self.missing("written"):
            around = [(s.order, self.placed[s.grade_id]) for s in self.slots if s.grade_id in self.placed]
            before = [i for order, i in around if order < slot.order]
            after = [i for order, i in around if order > slot.order]
            lo = before[-1] if before else -1
            hi = after[0] if after else len(self.cells)
            for i in self.free:
                text = _norm(self.cells[i].source)
                if lo < i < hi and i not in self.used and self.cells[i].cell_type == "markdown" \
                        and text and text not in self.instructor_md:
                    self.place(slot, i)
                    break

    def label_matched(self) -> None:
        """Matched cells get the released metadata (read-only ones the released source too)."""
        for grade_id, i in self.matched.items():
            slot, cell = self.by_id[grade_id], self.cells[i]
            cell.metadata["nbgrader"] = copy.deepcopy(slot.release.metadata["nbgrader"])
            for key in _FLAGS:
                if key in slot.release.metadata:
                    cell.metadata[key] = slot.release.metadata[key]
            if slot.kind == "fixed":
                cell.source = slot.release.source

    # -- 3. putting back ----------------------------------------------------------------
    def put_back_missing(self) -> None:
        """Insert what is still missing, in source order, after the nearest preceding assignment cell."""
        cells = self.cells
        defined: dict[str, int] = {}  # name -> first cell of the submission that defines it
        for i, cell in enumerate(cells):
            if cell.cell_type == "code":
                for name in _names(cell.source).bound:
                    defined.setdefault(name, i)
        anchors = {g: cells[i] for g, i in self.placed.items()}  # cell objects: indices shift below
        taken_ids = {c.get("id") for c in cells}
        put_back: dict[str, list[_Slot]] = {}
        templated = False
        for slot in self.slots:
            if slot.grade_id in anchors:
                continue
            new = _fresh(slot.release, self.out, taken_ids)
            shadowed = sorted(slot.provides & set(defined))
            if slot.kind == "answer" and shadowed:
                where = _cells({defined[name] for name in shadowed})
                what = ", ".join(shadowed)
                new.source = (f"# {slot.grade_id}: {what} is defined in {where} of the notebook you submitted.\n"
                              "# The grader left this answer cell empty so that it does not replace your code.")
                self.notes.append(f"{slot.describe()} was missing, but {what} is defined in {where}: an empty "
                                  "answer cell took its place (the blank template would have replaced your "
                                  "code), and the tests use your definition")
            elif slot.kind == "answer":
                templated = True
                self.notes.append(f"{slot.describe()} was missing: the blank template was put back, "
                                  "so its tests score 0")
            elif slot.kind == "written":
                self.notes.append(f"{slot.describe()} was missing: the blank template was put back, "
                                  "so it scores 0")
            else:
                put_back.setdefault(slot.label, []).append(slot)
            previous = [anchors[s.grade_id] for s in self.slots if s.order < slot.order and s.grade_id in anchors]
            if previous:
                at = _index(cells, previous[-1]) + 1
            else:  # the first cells of the assignment: before the notebook's first assignment cell
                at = min((_index(cells, c) for c in anchors.values()), default=0)
            cells.insert(at, new)
            anchors[slot.grade_id] = new
        for label, group in put_back.items():
            if len(group) == 1:
                self.notes.append(f"{label} {_ids(group)} was missing and was put back")
            else:
                self.notes.append(f"{label}s {_ids(group)} were missing and were put back")
        if templated:  # a function under another name may explain a missing answer
            expected = set().union(*(s.keys for s in self.slots))
            for i, names in sorted(self.names.items()):
                own = sorted(names.defs - expected) if i not in self.used else []
                if own:
                    self.notes.append(f"cell {i + 1} (defining {', '.join(own)}) matches no answer cell: the "
                                      "assignment's functions must keep their names")


def _grade_id(cell: NotebookNode) -> str | None:
    meta = _nbgrader_meta(cell)
    grade_id = meta.get("grade_id") if meta else None
    return grade_id if isinstance(grade_id, str) else None


def _index(cells: list[NotebookNode], target: NotebookNode) -> int:
    return next(i for i, cell in enumerate(cells) if cell is target)


def _fresh(release: NotebookNode, nb: NotebookNode, taken: set[str]) -> NotebookNode:
    """A copy of a released cell for ``nb``: no outputs, a cell id of its own if ``nb`` has ids."""
    if release.cell_type == "code":
        cell = nbformat.v4.new_code_cell(release.source)
    elif release.cell_type == "markdown":
        cell = nbformat.v4.new_markdown_cell(release.source)
    else:
        cell = nbformat.v4.new_raw_cell(release.source)
    cell.metadata = copy.deepcopy(release.metadata)
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        cell.pop("id", None)
        return cell
    base = str(release.get("id") or _grade_id(release) or "cell")[:50]
    base = re.sub(r"[^A-Za-z0-9_-]", "-", base) or "cell"
    candidate, n = base, 1
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    cell.id = candidate
    taken.add(candidate)
    return cell


# ----------------------------------------------------------------------------- plain nbgrader

class ReconcileCells(NbGraderPreprocessor):
    """:func:`reconcile` as an nbgrader preprocessor, for plain ``nbgrader autograde``.

    The course's ``nbgrader_config.py`` puts it first among Autograde's
    sanitising preprocessors, so a notebook without grading metadata (the
    worked solution, answers pasted into a fresh notebook) is graded instead of
    crashing nbgrader. It reads the assignment's source and released notebooks
    from the course directory; the notes go to nbgrader's log.
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        assignment, notebook = resources["nbgrader"]["assignment"], resources["nbgrader"]["notebook"]
        source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook}.ipynb"
        release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment)) / f"{notebook}.ipynb"
        if not source.exists():
            self.log.warning("ReconcileCells: no source notebook %s; the submission is left as it is", source)
            return nb, resources
        source_nb = nbformat.read(str(source), as_version=4)
        release_nb = nbformat.read(str(release), as_version=4) if release.exists() else source_nb
        nb, notes = reconcile(nb, source_nb, release_nb)
        for note in notes:
            self.log.warning("%s: %s", resources["nbgrader"].get("student", "?"), note)
        return nb, resources
