"""Where grading results live, and how a batch's results reach the gradebook.

- :class:`State`: a course directory (or a scratch state directory) and where
  its gradebook, graded notebooks, feedback and ``grading/<id>.json`` are.
- :class:`IntegrityCheck`: a snapshot of the grader-owned state taken before
  any submission runs; after the batch it reports (and, when kernels ran
  without the sandbox, undoes) any change a submission could have made.
- :func:`merge`: the parent process, after every worker is gone, stores each
  student's scores per grade cell in the gradebook, the graded notebook in
  ``autograded/<student>/<id>/`` and status + reason in ``grading/<id>.json``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _course
from ._course import load_config
from .statuses import Status
from .submissions import Entry

# ----------------------------------------------------------------------------- state

class State:
    """Where grading results live: a course directory (the default) or a scratch one."""

    def __init__(self, course_dir: Path, state_dir: Path | None = None) -> None:
        self.course_dir = Path(course_dir).resolve()
        self.state_dir = Path(state_dir).resolve() if state_dir else self.course_dir
        self.cfg = load_config(self.course_dir)
        if self.state_dir == self.course_dir:
            self.db_url = _course.db_url(self.course_dir, self.cfg)
        else:
            self.db_url = f"sqlite:///{self.state_dir / 'gradebook.db'}"
        self.course_id = _course.course_id(self.cfg)
        _course.patch_nbgrader()

    def autograded(self, student: str, assignment: str) -> Path:
        """The folder of ``student``'s autograded ``assignment``."""
        return self.state_dir / "autograded" / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        """The folder of ``student``'s feedback on ``assignment``."""
        return self.state_dir / "feedback" / student / assignment

    def results_path(self, assignment: str) -> Path:
        """The JSON file of the grading results of ``assignment``."""
        return self.state_dir / "grading" / f"{assignment}.json"

    def load_results(self, assignment: str) -> dict[str, Any]:
        """The grading results of ``assignment`` (empty ones before the first run)."""
        path = self.results_path(assignment)
        if path.exists():
            return json.loads(path.read_text())
        return {"assignment": assignment, "students": {}}


# ----------------------------------------------------------------------------- integrity

def _manifest(paths: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for base in paths:
        if base.is_file():
            out[str(base)] = hashlib.sha256(base.read_bytes()).hexdigest()
        elif base.is_dir():
            for p in sorted(base.rglob("*")):
                if p.is_file() and "__pycache__" not in p.parts:
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(base)] = "absent"
    return out


class IntegrityCheck:
    """Detect writes by submissions outside their folder; undo them in grader-owned state.

    With the sandbox, kernels cannot write there at all: a change then comes
    from someone else (an instructor in formgrader, say), so it is reported,
    not undone. Without the sandbox, the gradebook, autograded/, grading/ and
    feedback/ are restored from a copy taken before any submission ran.
    """

    def __init__(self, state: State, assignment: str, backup: Path, sandboxed: bool) -> None:
        db = _course.sqlite_path(state.db_url)
        self.owned = [state.state_dir / "autograded", state.state_dir / "grading", state.state_dir / "feedback"]
        if db is not None:
            self.owned += [db, Path(f"{db}-journal"), Path(f"{db}-wal"), Path(f"{db}-shm")]
        # never restored (someone may be editing them), only reported
        self.watched = [state.course_dir / "source" / assignment, state.course_dir / "release",
                        state.course_dir / "nbgrader_config.py"]
        if not sandboxed:
            self.watched.append(Path(__file__).resolve().parent)
        self.restore = not sandboxed
        self.backup = backup
        self.before_owned = _manifest(self.owned)
        self.before_watched = _manifest(self.watched)
        if self.restore:
            for i, path in enumerate(self.owned):
                if path.is_dir():
                    shutil.copytree(path, backup / str(i), symlinks=True)
                elif path.is_file():
                    backup.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, backup / str(i))

    @staticmethod
    def _under(manifest: dict[str, str], path: Path) -> dict[str, str]:
        return {k: v for k, v in manifest.items() if k == str(path) or k.startswith(str(path) + os.sep)}

    def check_and_restore(self) -> list[str]:
        """Messages naming each grader-owned path a submission changed; each one is restored."""
        messages: list[str] = []
        after = _manifest(self.owned)
        for i, path in enumerate(self.owned):
            if self._under(after, path) == self._under(self.before_owned, path):
                continue
            if not self.restore:
                messages.append(f"{path} changed while submissions ran (not by a sandboxed submission; "
                                "left as it is)")
                continue
            messages.append(f"{path} was modified while submissions ran: restored from the backup")
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink()
            saved = self.backup / str(i)
            if saved.is_dir():
                shutil.copytree(saved, path, symlinks=True)
            elif saved.is_file():
                shutil.copy2(saved, path)
        now = _manifest(self.watched)
        changed = {k for k in set(now) | set(self.before_watched) if now.get(k) != self.before_watched.get(k)}
        if changed:
            messages.append("files outside the grading state changed while submissions ran (check them; "
                            "not restored): " + ", ".join(sorted(changed)[:10]))
        return messages


def cell_table(url: str, assignment: str, notebook: str) -> list[tuple[str, float, bool]]:
    """The graded cells of ``notebook`` in the gradebook at ``url``."""
    return _course.gradebook_cells(url, assignment, notebook)



def _reason(result: Mapping[str, Any]) -> str:
    parts = [result.get("reason") or ""] + list(result.get("notes") or [])
    return "; ".join(p for p in parts if p)


def merge(state: State, assignment: str, notebook: str, entries: list[Entry], results: Mapping[str, Mapping[str, Any]],
          applied: Mapping[str, bool], missing_protections: list[str]) -> dict[str, dict[str, Any]]:
    """Record a batch's grades in the gradebook and the results file; returns a summary per student.

    ``results`` holds each student's grading result (a missing one is recorded
    with the status of its ``entry``); the results file of ``assignment`` is
    rewritten with every student's scores.
    """
    from nbgrader.api import Gradebook

    cells = cell_table(state.db_url, assignment, notebook)
    max_total = sum(mx for _, mx, _ in cells)
    stored = state.load_results(assignment)
    stored["assignment"] = assignment
    stored["notebook"] = notebook
    stored["cells"] = [{"grade_id": g, "max_score": mx, "autograded": auto} for g, mx, auto in cells]
    stored["protections_missing"] = missing_protections
    missing = sorted(name for name, on in applied.items() if not on)
    protections = "missing: " + ", ".join(missing) if missing else "all applied"
    students = stored.setdefault("students", {})
    summary: dict[str, dict[str, Any]] = {}
    with _course.quiet_logs(), Gradebook(state.db_url, state.course_id) as gb:
        for entry in entries:
            sid = entry.student
            result = results.get(sid) or {"status": entry.status, "reason": entry.reason, "notes": entry.notes,
                                          "scores": {}, "comments": {}, "notebook": None}
            status, reason = Status(result["status"]), _reason(result)
            graded = result.get("notebook") is not None
            before_review: dict[str, float | None] = {}
            scores: dict[str, float | None] = {}
            folder = state.autograded(sid, assignment)
            if status != Status.INVALID_STUDENT_ID:
                shutil.rmtree(folder, ignore_errors=True)
                gb.update_or_create_student(sid)
                kwargs: dict[str, Any] = {}
                if entry.timestamp:
                    try:
                        from nbgrader.utils import parse_utc
                        kwargs["timestamp"] = parse_utc(entry.timestamp)
                    except Exception:
                        reason = "; ".join(p for p in [reason, f"unreadable timestamp.txt {entry.timestamp!r}"] if p)
                gb.update_or_create_submission(assignment, sid, **kwargs)
                snb = gb.find_submission_notebook(notebook, assignment, sid)
                for grade in snb.grades:
                    cell = result["scores"].get(grade.name) if graded else None
                    if graded and cell is not None:
                        value = cell["score"]
                        if value is not None:
                            value = min(max(float(value), 0.0), float(grade.max_score))
                        if status == Status.TAMPERED:
                            # no points until the instructor has looked; what the tests gave is kept
                            before_review[grade.name] = value
                            value = 0.0 if value is not None else None
                        grade.auto_score = value
                        grade.needs_manual_grade = (grade.manual_score is not None or value is None
                                                    or not status.score_is_final)
                    else:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = True
                    # Grade.score is a SQL column_property: stale until reloaded
                    scores[grade.name] = grade.manual_score if grade.manual_score is not None else grade.auto_score
                for comment in snb.comments:
                    comment.auto_comment = result["comments"].get(comment.name) if graded else None
                snb.flagged = status != "graded"
                gb.db.commit()
                if graded:
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{notebook}.ipynb").write_text(result["notebook"], encoding="utf-8")
            else:
                scores = {g: 0.0 for g, _, _ in cells}
            total = sum(v for v in scores.values() if v is not None)
            students[sid] = {"status": status, "reason": reason, "score": total, "max_score": max_total,
                             "scores": scores, "graded_notebook": graded, "protections": protections}
            if before_review:
                students[sid]["scores_before_review"] = before_review
            if result.get("peak_memory_mb") is not None:
                students[sid]["peak_memory_mb"] = result["peak_memory_mb"]
            summary[sid] = dict(students[sid], seconds=result.get("seconds"))
    stored["students"] = dict(sorted(students.items()))
    path = state.results_path(assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return summary
