"""``selftest``: does each assignment grade as intended?

For an assignment, one batch is autograded in a scratch state directory (the
instructor's gradebook is not touched):

- the source notebook (solutions and hidden tests in place) must get full marks
  on every autograded test cell, with status ``graded``;
- the released notebook must get zero autograded points (a test that passes
  without an answer tests nothing);
- every wrong answer of ``source/<id>/wrong_answers.json`` (a list of
  ``{"name", "grade_id", "source", "must_lose"}``), applied to a copy of the
  source by replacing the cell ``grade_id`` with ``source``, must lose points on
  each test cell of ``must_lose``.

A table is printed (name, score/max, lost parts, OK/FAIL); the result is False
if any row fails.
"""
from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

from . import _course
from ._course import GradingError
from ._nb import write
from .autograde import grade_batch
from .limits import Limits

PREFIX = _course.SELFTEST_PREFIX

#: a row of the table: notebook, score, lost parts, note, ok
Row = tuple[str, str, str, str, bool]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "x"


def load_wrong_answers(course_dir: Path, assignment: str) -> list[dict[str, Any]]:
    """The catalogue of typical wrong answers of ``assignment`` (``wrong_answers.json``), checked."""
    path = course_dir / "source" / assignment / "wrong_answers.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise GradingError(f"{path} must hold a list of {{name, grade_id, source, must_lose}}")
    for i, item in enumerate(data):
        missing = {"name", "grade_id", "source", "must_lose"} - set(item)
        if missing:
            raise GradingError(f"{path}: entry {i} lacks {sorted(missing)}")
    return data


def selftest(course_dir: Path, assignment: str, *, jobs: int = 2, limits: Limits | None = None,
             sandbox: str = "auto", progress: Callable[[str], object] = print, verbose: bool = False) -> bool:
    """Autograde the source (full marks), the release (zero) and each wrong answer (loses points); True if all pass."""
    course_dir = Path(course_dir).resolve()
    notebook = _course.notebook_name(course_dir, assignment)
    source_path = course_dir / "source" / assignment / f"{notebook}.ipynb"
    source = nbformat.read(str(source_path), as_version=4)
    wrong = load_wrong_answers(course_dir, assignment)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="course-selftest-") as scratch:
        tmp = Path(scratch)
        subs = tmp / "submissions"
        committed = course_dir / "release" / assignment / f"{notebook}.ipynb"
        if committed.exists():
            release_nb, release_label = nbformat.read(str(committed), as_version=4), "release (committed)"
        else:
            root = _course.generate_assignment(course_dir, assignment, tmp / "generated")
            release_nb = nbformat.read(str(root / "release" / assignment / f"{notebook}.ipynb"), as_version=4)
            release_label = "release (generated: not committed yet)"
        # submission id -> (label, notebook, the test cells it must lose points on)
        plan: dict[str, tuple[str, nbformat.NotebookNode, list[str]]] = {
            f"{PREFIX}source": ("source", source, []), f"{PREFIX}release": (release_label, release_nb, [])}
        for i, item in enumerate(wrong, start=1):
            nb = nbformat.from_dict(json.loads(json.dumps(source)))
            targets = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == item["grade_id"]]
            sid = f"{PREFIX}wrong-{i:02d}-{_slug(item['name'])}"
            if not targets:
                rows.append((f"wrong: {item['name']}", "-", "-", f"no cell with grade_id {item['grade_id']!r}",
                             False))
                continue
            targets[0].source = item["source"]
            plan[sid] = (f"wrong: {item['name']}", nb, item["must_lose"])
        for sid, (_, nb, _) in plan.items():
            write(nb, subs / sid / f"{notebook}.ipynb")
        say = progress if verbose else (lambda message: None)
        progress(f"selftest {assignment}: grading {len(plan)} notebooks "
                 f"(source, release, {len(plan) - 2} wrong answers) with --jobs {jobs} ...")
        summary = grade_batch(course_dir, assignment, subs, state_dir=tmp / "state", jobs=jobs,
                              limits=limits, sandbox=sandbox, progress=say)
        cells = _course.gradebook_cells(f"sqlite:///{tmp / 'state' / 'gradebook.db'}", assignment, notebook)
    auto = [(g, mx) for g, mx, is_auto in cells if is_auto]
    auto_max = sum(mx for _, mx in auto)
    for sid, (label, _, must_lose) in plan.items():
        row = summary[sid]
        scores = row["scores"]
        got = sum(scores.get(g) or 0.0 for g, _ in auto)
        lost = [g for g, mx in auto if (scores.get(g) or 0.0) < mx]
        note = ""
        if sid == f"{PREFIX}source":
            ok = row["status"] == "graded" and not lost
            if not ok:
                note = f"status {row['status']}: {row['reason']}" if row["status"] != "graded" else \
                    "the solution loses points"
        elif sid == f"{PREFIX}release":
            ok = got == 0 and row["status"] in ("graded", "timeout", "crashed")
            if not ok:
                passing = [g for g, _ in auto if (scores.get(g) or 0.0) > 0]
                note = f"tests pass without an answer: {', '.join(passing)}" if passing else row["reason"]
        else:
            unknown = [g for g in must_lose if g not in dict(auto)]
            kept = [g for g in must_lose if g in dict(auto) and g not in lost]
            ok = not unknown and not kept and row["status"] != "error"
            if unknown:
                note = f"must_lose names unknown test cells: {', '.join(unknown)}"
            elif kept:
                note = f"does not lose points on {', '.join(kept)}"
            elif row["status"] != "graded":
                note = f"{row['status']}: {row['reason'][:80]}"
        rows.append((label, f"{got:g}/{auto_max:g}", ", ".join(lost) or "-", note, ok))
    _print_table(assignment, rows)
    return all(r[4] for r in rows)


def _print_table(assignment: str, rows: list[Row]) -> None:
    headers = ("notebook", "score", "lost parts", "")
    widths = [max(len(headers[i]), *(len(str(r[i])) for r in rows)) for i in range(3)]
    widths[2] = min(widths[2], 60)
    print(f"\nselftest: {assignment}")
    print(f"  {headers[0]:<{widths[0]}}  {headers[1]:>{widths[1]}}  {headers[2]:<{widths[2]}}  result")
    for label, score, lost, note, ok in rows:
        lost = lost if len(lost) <= widths[2] else lost[: widths[2] - 3] + "..."
        line = f"  {label:<{widths[0]}}  {score:>{widths[1]}}  {lost:<{widths[2]}}  {'OK' if ok else 'FAIL'}"
        if note:
            line += f"  ({note})"
        print(line)
    failed = sum(not r[4] for r in rows)
    print(f"  {'all OK' if not failed else f'{failed} FAILED'}")
