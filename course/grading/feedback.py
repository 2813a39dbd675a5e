"""``feedback``: one HTML page per student, without hidden tests, where nothing a student wrote runs.

Graded notebooks go through nbgrader's GenerateFeedback with the course's
filters (:mod:`course.grading.feedback_filters`, the same ones plain
``nbgrader generate_feedback`` gets from ``assignments/nbgrader_config.py``):
:class:`~course.grading.feedback_filters.HideHiddenTests` removes hidden test
code *and* the tracebacks, messages and output it left;
:class:`~course.grading.feedback_filters.InertStudentContent` keeps only text
and PNG/JPEG output and shows the HTML in a student's Markdown as text;
:class:`~course.grading.feedback_filters.GradingNote` says at the top when a
submission timed out, crashed, was repaired or had test cells restored; every
page carries a Content-Security-Policy that lets no script run.
A submission that could not be graded at all (unreadable, missing, wrongly
named, killed) gets a short page that says what went wrong and what to do.

On a hub, ``nbgrader collect`` puts each submission in
``<course>/submitted/<student>/<id>/`` with its ``timestamp.txt`` and
``submission_secret.txt``; ``nbgrader release_feedback`` needs both next to
the page (the secret names the page in the exchange, so that only its student
finds it): they are copied there when present (:func:`copy_exchange_files`).
"""
from __future__ import annotations

import contextlib
import html
import io
import os
import shutil
import stat
from pathlib import Path

from . import _course
from .results import State
from .statuses import Status


def _advice(status: str) -> str:
    try:
        return Status(status).advice
    except ValueError:
        return ""


def _failure_page(student: str, assignment: str, entry: dict) -> str:
    from .feedback_filters import with_csp

    status = str(entry.get("status") or "error")
    reason = entry.get("reason") or ""
    advice = _advice(status)
    return with_csp(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(assignment)}: feedback</title>
<style>body{{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}}
.status{{padding:1em;border-left:.4em solid #c0392b;background:#fbeeee}}</style></head>
<body>
<h1>{html.escape(assignment)}</h1>
<p>Student: <b>{html.escape(student)}</b></p>
<p>Score: <b>{entry.get('score', 0):g} / {entry.get('max_score', 0):g}</b></p>
<div class="status"><p><b>Your submission could not be graded (status: {html.escape(status)}).</b></p>
<p>{html.escape(reason)}</p><p>{html.escape(advice)}</p></div>
</body></html>
""")


#: the files of a collected submission that ``nbgrader release_feedback`` reads next to the page
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
#: larger files are not copied (nbgrader writes a timestamp of 30 bytes and a secret of 128)
MAX_EXCHANGE_FILE_BYTES = 4096


def _read_collected(folder: Path, name: str) -> bytes | None:
    """The bytes of ``folder/name`` if every part of that path is a real folder or file, else None.

    The submission is the student's: no link is followed (``O_NOFOLLOW`` at
    every step below the course directory), only a small regular file is read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW
    try:
        fd = os.open(folder.parents[1], flags | os.O_DIRECTORY)  # <course>/submitted: the instructor's
    except OSError:
        return None
    try:
        for part in folder.parts[-2:]:  # <student>/<assignment>
            inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(name, flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_EXCHANGE_FILE_BYTES:
            return None
        return os.read(file_fd, MAX_EXCHANGE_FILE_BYTES + 1)[:MAX_EXCHANGE_FILE_BYTES]
    finally:
        os.close(file_fd)


def copy_exchange_files(collected: Path, feedback: Path) -> list[str]:
    """Copy ``timestamp.txt`` and ``submission_secret.txt`` of a collected submission next to its feedback.

    Args:
        collected: ``<course>/submitted/<student>/<assignment>`` (``nbgrader collect``'s layout).
        feedback: the folder of the student's feedback page.

    Returns:
        The names copied (none when the submission did not come through the exchange).
    """
    copied: list[str] = []
    for name in EXCHANGE_FILES:
        data = _read_collected(collected, name)
        if data is not None:
            (feedback / name).write_bytes(data)
            copied.append(name)
    return copied


def generate_feedback(course_dir: Path, assignment: str, state_dir: Path | None = None) -> list[Path]:
    """Write ``feedback/<student>/<id>/<id>.html`` for every student; return the files.

    Raises:
        GradingError: a graded student got no page (nbgrader's error is in the message);
            the pages of the others are written first.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    from .feedback_filters import FEEDBACK_PREPROCESSORS, FeedbackExporter

    state = State(course_dir, state_dir)
    notebook = _course.notebook_name(state.course_dir, assignment)
    results = state.load_results(assignment).get("students", {})
    graded = sorted(p.parent.name for p in (state.state_dir / "autograded").glob(f"*/{assignment}")
                    if (p / f"{notebook}.ipynb").exists())
    written: list[Path] = []
    missing: list[str] = []
    errors: str | None = None
    if graded:
        cfg = _course.load_config(state.course_dir)
        cfg.CourseDirectory.root = str(state.state_dir)
        cfg.CourseDirectory.db_url = state.db_url
        cfg.CourseDirectory.assignment_id = assignment
        cfg.CourseDirectory.student_id = "*"
        cfg.GenerateFeedback.force = True
        cfg.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)
        cfg.GenerateFeedback.exporter_class = FeedbackExporter
        cfg.GradingNote.results_path = str(state.results_path(assignment))
        cfg.GradingNote.advice = {status.value: status.advice for status in Status}
        for section in ("ClearHiddenTests",):
            if section in cfg and "begin_test_delimeter" in cfg[section]:
                cfg.HideHiddenTests.begin = cfg[section].begin_test_delimeter
                cfg.HideHiddenTests.end = cfg[section].end_test_delimeter
        with _course.quiet_logs(), contextlib.redirect_stdout(io.StringIO()):
            converter = _course._quiet_converter(GenerateFeedback(coursedir=CourseDirectory(config=cfg),
                                                                  config=cfg))
            errors = _course.run_converter(converter)
        if errors is not None:
            print(f"warning: nbgrader generate_feedback reported errors: {errors[-2000:]}")
        for student in graded:
            page = state.feedback(student, assignment) / f"{notebook}.html"
            if page.exists():
                written.append(page)
            else:
                missing.append(student)
    for student, entry in sorted(results.items()):
        if student in graded:
            continue
        folder = state.feedback(student, assignment)
        if not _course.STUDENT_ID.match(student):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        page = folder / f"{notebook}.html"
        page.write_text(_failure_page(student, assignment, entry), encoding="utf-8")
        written.append(page)
    submitted = state.course_dir / "submitted"
    for page in written:
        student = page.parent.parent.name
        copy_exchange_files(submitted / student / assignment, page.parent)
    if missing:
        lines = (errors or "").strip().splitlines()
        cause = next((line.strip() for line in reversed(lines) if "Error" in line or "Exception" in line),
                     lines[0] if lines else "no error reported")
        raise _course.GradingError(f"no feedback page for {len(missing)} graded student(s) "
                                   f"({', '.join(missing[:5])}): nbgrader generate_feedback failed: {cause}")
    return written
