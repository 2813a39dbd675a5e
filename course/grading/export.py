"""``export``: the grades of one assignment as CSV, one row per student.

Columns: ``student, status, reason, score, max_score, needs_manual_grade,
protections``, then one column per grade cell (in notebook order).
``protections`` says whether the submission's kernel ran with every isolation
the grader applies (``all applied``) or which this machine could not give
(``missing: cgroups, sandbox``). Scores come from the gradebook
(so a grader's manual score wins over the autograder's); status and reason
come from the grading results. A student the gradebook knows but who did not
submit is ``no_submission``. A failed submission is never a bare 0: its status
and reason say why. A submission graded by plain ``nbgrader autograde`` (no
status recorded) is ``graded`` if nbgrader wrote its graded notebook, else
``not_graded``: nbgrader's autograde failed for it.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from . import _course
from .results import State
from .statuses import Status

COLUMNS = ["student", "status", "reason", "score", "max_score", "needs_manual_grade", "protections"]


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{float(value):g}"


def _has_graded_notebook(state: State, student: str, assignment: str, notebook: str) -> bool:
    """Whether ``autograded/<student>/<assignment>/<notebook>.ipynb`` exists (nbgrader's layout)."""
    cfg = state.cfg.CourseDirectory
    folder = cfg.autograded_directory if "autograded_directory" in cfg else "autograded"
    return any((base / folder / student / assignment / f"{notebook}.ipynb").is_file()
               for base in {state.state_dir, state.course_dir})


def rows(course_dir: Path, assignment: str, state_dir: Path | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """``(header, rows)`` of the grade table of ``assignment``: one row per student, one column per graded cell."""
    from nbgrader.api import Gradebook, MissingEntry

    state = State(course_dir, state_dir)
    notebook = _course.notebook_name(state.course_dir, assignment)
    results = state.load_results(assignment).get("students", {})
    try:
        cells = _course.gradebook_cells(state.db_url, assignment, notebook)
    except MissingEntry:
        cells = [(c["grade_id"], c["max_score"], c["autograded"])
                 for c in state.load_results(assignment).get("cells", [])]
    header = COLUMNS + [g for g, _, _ in cells]
    max_total = sum(mx for _, mx, _ in cells)
    out: list[dict[str, str]] = []
    with _course.quiet_logs(), Gradebook(state.db_url, state.course_id) as gb:
        students = sorted({s.id for s in gb.students} | set(results))
        for sid in students:
            entry = results.get(sid)
            row = {"student": sid, "max_score": _fmt(max_total),
                   "protections": entry.get("protections", "unknown") if entry else "unknown"}
            try:
                snb = gb.find_submission_notebook(notebook, assignment, sid)
            except MissingEntry:
                snb = None
            if snb is not None:
                per = {}
                manual = False
                for grade in snb.grades:
                    value = grade.manual_score if grade.manual_score is not None else grade.auto_score
                    per[grade.name] = value
                    manual |= bool(grade.needs_manual_grade)
                row.update({g: _fmt(per.get(g)) for g, _, _ in cells})
                row["score"] = _fmt(sum(v for v in per.values() if v is not None))
                row["needs_manual_grade"] = "yes" if manual else "no"
                if entry:
                    row["status"], row["reason"] = entry["status"], entry.get("reason", "")
                elif _has_graded_notebook(state, sid, assignment, notebook):
                    row["status"] = Status.GRADED
                    row["reason"] = "graded outside course.grading (no status recorded)"
                else:
                    row["status"] = Status.NOT_GRADED
                    row["reason"] = ("nbgrader produced no graded notebook for this submission: its autograde "
                                     "failed for it (see nbgrader's log); no status recorded by course.grading")
            elif entry:
                row.update({g: _fmt(entry.get("scores", {}).get(g, 0.0)) for g, _, _ in cells})
                row["score"] = _fmt(entry.get("score", 0.0))
                row["status"], row["reason"] = entry["status"], entry.get("reason", "")
                row["needs_manual_grade"] = "yes"
            else:
                row.update({g: _fmt(0.0) for g, _, _ in cells})
                row.update(score=_fmt(0.0), status=Status.NO_SUBMISSION, needs_manual_grade="no",
                           reason="no submission was graded for this student", protections="")
            out.append(row)
    return header, out


def export_csv(course_dir: Path, assignment: str, state_dir: Path | None = None) -> str:
    """The grade table of ``assignment`` (see :func:`rows`) as CSV text."""
    header, data = rows(course_dir, assignment, state_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in data:
        writer.writerow(row)
    return buf.getvalue()
