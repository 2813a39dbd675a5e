"""The model answer and rubric next to each answer graded by hand, for the grader only.

An answer graded by hand (a Markdown or code cell with nbgrader ``grade`` and
``solution``) holds, in the instructor's *source* notebook, the model answer
and the rubric; students get "YOUR ANSWER HERE". The grader, in nbgrader's
formgrader, sees the autograded notebook, which holds the student's answer
only. :class:`InsertRubric` (an autograde preprocessor) puts right after each
such answer a read-only Markdown cell titled :data:`TITLE`, holding that
cell's source from ``source/<assignment>/<notebook>.ipynb`` in the course
directory. The cell has no nbgrader metadata (nbgrader matches cells by
grade_id, so no score changes) and is marked ``metadata.course.rubric =
<grade_id>``; :class:`RemoveRubric` (the first feedback preprocessor) drops
every marked cell, so students never see it. A student's cell that carries
the mark loses it when autograding starts, so only the inserted cells have it.

Registered for ``python -m course.grading autograde``
(:mod:`course.grading._worker`, through :mod:`course.grading._preprocessors`)
and for plain ``nbgrader autograde`` (``assignments/nbgrader_config.py``).
Imports only nbgrader, nbformat and traitlets (the nbgrader configuration
imports it).
"""
from __future__ import annotations

import os
from typing import Any

import nbformat
from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

#: the heading of the grader's cell
TITLE = "For the grader: model answer and rubric"
#: ``cell.metadata[KEY]["rubric"]``: the grade_id of the answer a grader's cell belongs to
KEY = "course"


def rubric_of(cell: object) -> str | None:
    """The grade_id a cell for the grader belongs to, or None for any other cell."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    mark = meta.get(KEY) if isinstance(meta, dict) else None
    if isinstance(mark, dict) and "rubric" in mark:
        return str(mark["rubric"])
    return None


def manual_answers(source_nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell of the source notebook's answers graded by hand, in notebook order."""
    answers: dict[str, nbformat.NotebookNode] = {}
    for cell in source_nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade") and meta.get("solution") \
                and isinstance(meta.get("grade_id"), str):
            answers.setdefault(meta["grade_id"], cell)
    return answers


def rubric_cell(grade_id: str, source_cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The read-only Markdown cell for the grader, after the answer ``grade_id``."""
    text = source_cell.source
    if source_cell.cell_type == "code":
        fence = "````" if "```" in text else "```"
        text = f"{fence}python\n{text}\n{fence}"
    cell = new_markdown_cell(f"### {TITLE}\n\n{text}")
    cell.metadata[KEY] = {"rubric": grade_id}
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


class InsertRubric(NbGraderPreprocessor):
    """After each answer graded by hand, its model answer and rubric from the source notebook."""

    source_notebook = Unicode("", help="the source notebook to read (default: source/<assignment>/<notebook>.ipynb "
                                       "under the course directory's root)").tag(config=True)

    def _source_path(self, resources: dict[str, Any]) -> str:
        if self.source_notebook:
            return self.source_notebook
        from nbgrader.coursedir import CourseDirectory

        info = resources["nbgrader"]
        coursedir = CourseDirectory(parent=self)
        folder = coursedir.format_path(coursedir.source_directory, ".", info["assignment"])
        return os.path.join(folder, f"{info['notebook']}.ipynb")

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict[str, Any]
                   ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        """Return ``(nb, resources)`` with the model answer and rubric after each hand-graded answer."""
        # a cell that already claims to be for the grader is the student's: it loses the claim
        # (and stays, like anything else they wrote)
        for cell in nb.cells:
            if rubric_of(cell) is not None:
                del cell.metadata[KEY]
        path = self._source_path(resources)
        if not os.path.isfile(path):
            self.log.warning("no source notebook %s: the model answers are not put in for the grader", path)
            return nb, resources
        answers = manual_answers(nbformat.read(path, as_version=4))
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            meta = cell.get("metadata", {}).get("nbgrader")
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(grade_id, str) and grade_id in answers:
                cells.append(rubric_cell(grade_id, answers.pop(grade_id)))
        nb.cells = cells
        return nb, resources


class RemoveRubric(NbGraderPreprocessor):
    """Drop the cells for the grader (:class:`InsertRubric`) from a notebook students will see."""

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict[str, Any]
                   ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        """Return ``(nb, resources)`` without the grader's rubric cells."""
        nb.cells = [cell for cell in nb.cells if rubric_of(cell) is None]
        return nb, resources
