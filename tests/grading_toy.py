"""A tiny nbgrader course, for the grading command's own tests (a test fixture, not part of the library).

``make_toy_course(root)`` writes ``root/source/toy/toy.ipynb``: a read-only
helper cell, two answer cells (``add``, ``mul``) and three test cells worth
2 + 3 + 1 points, with hidden tests. No torch: a kernel starts in about a second.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ASSIGNMENT = "toy"
#: test cell -> points
POINTS = {"test_add": 2.0, "test_mul": 3.0, "test_mul_hidden": 1.0}
#: text that appears only in hidden tests (code and failure messages)
HIDDEN_MARKER = "SECRET_HIDDEN_CHECK"


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {"nbgrader": {"schema_version": 3, "grade_id": grade_id, "grade": grade, "solution": solution,
                         "locked": locked}}
    if points is not None:
        meta["nbgrader"]["points"] = points
    return meta


def source_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "some-author-kernel", "display_name": "Author's kernel",
                                 "language": "python"}
    cells = [
        new_markdown_cell("# Toy assignment\nImplement `add` and `mul`.", metadata=_meta("intro", locked=True)),
        new_code_cell("def check_equal(got, expected, what):\n"
                      "    if got != expected:\n"
                      "        raise AssertionError(f\"{what}: expected {expected!r}, got {got!r}\")\n"
                      "    print(f\"ok: {what}\")",
                      metadata=_meta("helpers", locked=True)),
        new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                      metadata=_meta("add", solution=True)),
        new_code_cell("check_equal(add(1, 2), 3, \"add(1, 2)\")\n"
                      "### BEGIN HIDDEN TESTS\n"
                      f"assert add(-1, 1) == 0, \"{HIDDEN_MARKER}: add(-1, 1) should be 0\"\n"
                      "### END HIDDEN TESTS",
                      metadata=_meta("test_add", grade=True, locked=True, points=POINTS["test_add"])),
        new_code_cell("def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
                      metadata=_meta("mul", solution=True)),
        new_code_cell("check_equal(mul(2, 3), 6, \"mul(2, 3)\")\n"
                      "### BEGIN HIDDEN TESTS\n"
                      f"assert mul(-2, 3) == -6, \"{HIDDEN_MARKER}: mul(-2, 3) should be -6\"\n"
                      "### END HIDDEN TESTS",
                      metadata=_meta("test_mul", grade=True, locked=True, points=POINTS["test_mul"])),
        new_code_cell("### BEGIN HIDDEN TESTS\n"
                      f"check_equal(mul(0, 5), 0, \"{HIDDEN_MARKER} mul(0, 5)\")\n"
                      "### END HIDDEN TESTS",
                      metadata=_meta("test_mul_hidden", grade=True, locked=True,
                                     points=POINTS["test_mul_hidden"])),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb.cells = cells
    return nb


#: wrong answers for the selftest: replace a solution cell; these tests must lose points
WRONG_ANSWERS = [
    {"name": "add subtracts", "grade_id": "add", "source": "def add(a, b):\n    return a - b",
     "must_lose": ["test_add"]},
    {"name": "mul only positive", "grade_id": "mul",
     "source": "def mul(a, b):\n    return abs(a) * abs(b)", "must_lose": ["test_mul"]},
]


def make_toy_course(root: Path) -> Path:
    """Write the toy course under ``root`` (an nbgrader course directory); return ``root``."""
    root = Path(root)
    folder = root / "source" / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), str(folder / f"{ASSIGNMENT}.ipynb"))
    (folder / "wrong_answers.json").write_text(json.dumps(WRONG_ANSWERS, indent=1) + "\n")
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'toy-course'\n")
    return root


def student_notebook(release_nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the released notebook with ``answers`` (grade_id -> source) filled in."""
    import copy
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb
