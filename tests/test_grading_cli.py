"""The instructor's grading command on a toy assignment (no torch in its kernels).

Every command runs as ``python -m course.grading ...`` in a subprocess, as an
instructor runs it. The toy assignment (tests/grading_toy.py) has three test
cells worth 2 + 3 + 1 points, with hidden tests whose code and messages
contain ``SECRET_HIDDEN_CHECK``.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grading_toy import HIDDEN_MARKER, make_toy_course, student_notebook

pytestmark = pytest.mark.slow

RIGHT = {"add": "def add(a, b):\n    return a + b", "mul": "def mul(a, b):\n    return a * b"}


def cli(*args, check=True, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "course.grading", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A released toy course: <tmp>/coursedir (course directory) and <tmp>/solutions."""
    base = tmp_path_factory.mktemp("toy")
    root = make_toy_course(base / "coursedir")
    cli("release", "toy", "--course-dir", root)
    return root


def put(folder: Path, student: str, nb, name="toy.ipynb"):
    path = folder / student / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def release_nb(course):
    return nbformat.read(str(course / "release" / "toy" / "toy.ipynb"), as_version=4)


def read_csv(text):
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text))}


def page_text(path: Path) -> str:
    """What a student reads in an HTML page: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


# ----------------------------------------------------------------------------- release

def test_release_writes_student_version_and_solution(course):
    files = sorted(p.name for p in (course / "release" / "toy").iterdir())
    assert files == ["toy.ipynb"]  # wrong_answers.json stays with the instructor
    text = (course / "release" / "toy" / "toy.ipynb").read_text()
    assert HIDDEN_MARKER not in text and "return a + b" not in text and "NotImplementedError" in text

    solution = nbformat.read(str(course.parent / "solutions" / "toy.ipynb"), as_version=4)
    sources = "\n".join(c.source for c in solution.cells)
    assert "return a + b" in sources and "return a * b" in sources
    assert "BEGIN SOLUTION" not in sources and "HIDDEN" not in sources and HIDDEN_MARKER not in sources
    assert all("nbgrader" not in c.metadata and "execution" not in c.metadata for c in solution.cells)
    outputs = [o for c in solution.cells if c.cell_type == "code" for o in c.outputs]
    assert any("ok: add(1, 2)" in o.get("text", "") for o in outputs)
    assert solution.metadata.kernelspec.name == "python3"


def test_release_is_byte_stable_and_check_detects_staleness(course):
    release = course / "release" / "toy" / "toy.ipynb"
    solution = course.parent / "solutions" / "toy.ipynb"
    before = release.read_bytes(), solution.read_bytes()
    ok = cli("release", "--all", "--check", "--course-dir", course)
    assert "up to date" in ok.stdout

    release.write_text(release.read_text().replace("Implement", "Write"))
    solution.unlink()
    stale = cli("release", "--all", "--check", "--course-dir", course, check=False)
    assert stale.returncode == 1
    assert str(release) in stale.stdout and str(solution) in stale.stdout
    # regenerating (a second generation, in a new scratch folder, with a new
    # kernel) gives back the very same bytes
    cli("release", "toy", "--course-dir", course)
    assert (release.read_bytes(), solution.read_bytes()) == before


# ----------------------------------------------------------------------------- autograde

@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """A graded batch (given as a zip with a wrapper folder) and its CSV."""
    subs = tmp_path_factory.mktemp("submissions") / "submitted"
    rel = release_nb(course)
    put(subs, "alice", student_notebook(rel, RIGHT))
    put(subs, "bob", student_notebook(rel, {**RIGHT, "mul": "def mul(a, b):\n    return abs(a) * abs(b)"}))
    put(subs, "hank", student_notebook(rel, {**RIGHT, "add": "def add(a, b):\n    return a - b"}))
    put(subs, "gina", student_notebook(rel, RIGHT), name="toy (1).ipynb")
    (subs / "eve").mkdir()
    (subs / "eve" / "toy.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = ')
    (subs / "frank").mkdir()
    (subs / "frank" / "answers.txt").write_text("I forgot the notebook")
    nested = subs / "ivan" / "toy"  # nbgrader's own layout: <student>/<assignment>/<notebook>
    nested.mkdir(parents=True)
    nbformat.write(student_notebook(rel, RIGHT), str(nested / "toy.ipynb"))
    (nested / "timestamp.txt").write_text("2026-01-15 10:00:00.000000 UTC")
    archive = subs.parent / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(subs.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(subs.parent))
    run = cli("autograde", "toy", archive, "--course-dir", course, "--jobs", "2", "--cell-timeout", "10")
    out = cli("export", "toy", "--course-dir", course, "--output", course.parent / "grades.csv")
    assert "grades.csv" in out.stdout
    return {"run": run, "csv": (course.parent / "grades.csv").read_text(), "subs": subs, "archive": archive}


def test_export_has_one_row_per_student_with_status_and_parts(graded):
    text = graded["csv"]
    header = text.splitlines()[0].split(",")
    assert header == ["student", "status", "reason", "score", "max_score", "needs_manual_grade", "protections",
                      "test_add", "test_mul", "test_mul_hidden"]
    rows = read_csv(text)
    assert sorted(rows) == ["alice", "bob", "eve", "frank", "gina", "hank", "ivan"]
    expect = {  # student: (status, score, test_add, test_mul, test_mul_hidden)
        "alice": ("graded", "6", "2", "3", "1"),
        "bob": ("graded", "3", "2", "0", "1"),
        "hank": ("graded", "4", "0", "3", "1"),
        "ivan": ("graded", "6", "2", "3", "1"),
        "gina": ("wrong_filename", "6", "2", "3", "1"),
        "eve": ("unreadable", "0", "0", "0", "0"),
        "frank": ("missing_notebook", "0", "0", "0", "0"),
    }
    for student, (status, score, *parts) in expect.items():
        row = rows[student]
        assert (row["status"], row["score"], row["test_add"], row["test_mul"], row["test_mul_hidden"]) == \
            (status, score, *parts), row
        assert row["max_score"] == "6"
        if status != "graded":
            assert row["reason"], f"{student} has no reason"
    assert "toy (1).ipynb" in rows["gina"]["reason"]
    assert "JSON" in rows["eve"]["reason"]
    assert "toy.ipynb" in rows["frank"]["reason"] and "answers.txt" in rows["frank"]["reason"]


def test_results_and_gradebook_agree(graded, course):
    from nbgrader.api import Gradebook

    results = json.loads((course / "grading" / "toy.json").read_text())["students"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, entry in results.items():
            nb = gb.find_submission_notebook("toy", "toy", student)
            scores = {g.name: (g.manual_score if g.manual_score is not None else g.auto_score) for g in nb.grades}
            assert None not in scores.values(), (student, scores)
            assert scores == entry["scores"]
        ivan = gb.find_submission("toy", "ivan")
        assert ivan.timestamp.year == 2026


def test_grading_the_same_folder_again_gives_the_same_csv(graded, course):
    cli("autograde", "toy", graded["subs"], "--course-dir", course, "--jobs", "1", "--cell-timeout", "10")
    again = cli("export", "toy", "--course-dir", course).stdout
    assert again == graded["csv"]


def test_feedback_never_shows_hidden_tests(graded, course):
    cli("feedback", "toy", "--course-dir", course)
    pages = {p.parent.parent.name: p for p in (course / "feedback").glob("*/toy/toy.html")}
    assert sorted(pages) == ["alice", "bob", "eve", "frank", "gina", "hank", "ivan"]
    for student, page in pages.items():
        text = page_text(page)
        assert HIDDEN_MARKER not in text, student
        assert "BEGIN HIDDEN" not in text and "mul(-2, 3)" not in text and "add(-1, 1)" not in text, student
    # bob's answer passes the visible test of mul but fails its hidden test
    assert "A hidden test in this cell failed" in page_text(pages["bob"])
    # hank's answer fails a visible test: its message stays
    assert "add(1, 2): expected 3, got -1" in page_text(pages["hank"])
    # failures say what went wrong
    assert "unreadable" in page_text(pages["eve"]) and "JSON" in page_text(pages["eve"])
    assert "missing_notebook" in page_text(pages["frank"])
    assert "toy (1).ipynb" in page_text(pages["gina"])


# ----------------------------------------------------------------------------- selftest

def test_selftest_prints_a_table_and_fails_when_a_wrong_answer_keeps_its_points(course):
    wrong = course / "source" / "toy" / "wrong_answers.json"
    saved = wrong.read_text()
    try:
        entries = json.loads(saved)
        entries.append({"name": "harmless", "grade_id": "add", "source": RIGHT["add"], "must_lose": ["test_add"]})
        wrong.write_text(json.dumps(entries))
        run = cli("selftest", "toy", "--course-dir", course, "--cell-timeout", "10", check=False)
    finally:
        wrong.write_text(saved)
    assert run.returncode == 1, run.stdout
    assert re.search(r"source\s+6/6\s+-\s+OK", run.stdout), run.stdout
    assert re.search(r"release \(committed\)\s+0/6\s+test_add, test_mul, test_mul_hidden\s+OK", run.stdout)
    assert re.search(r"wrong: add subtracts\s+4/6\s+test_add\s+OK", run.stdout)
    assert re.search(r"wrong: mul only positive\s+3/6\s+test_mul\s+OK", run.stdout)
    assert re.search(r"wrong: harmless\s+6/6\s+-\s+FAIL\s+\(does not lose points on test_add\)", run.stdout)
    assert "1 FAILED" in run.stdout


def test_a_print_split_into_several_messages_is_stored_as_one_output():
    """A busy machine can deliver one print as two stream messages: the worked solution must not change."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from course.grading.release import normalise

    def notebook(*texts):
        cell = new_code_cell("print('x')", outputs=[new_output("stream", name="stdout", text=t) for t in texts])
        cell.id = "cell-1"
        cell.outputs.append(new_output("stream", name="stderr", text="warning\n"))
        return normalise(new_notebook(cells=[cell]))

    whole, split = notebook("✔ test: every check passed.\n"), notebook("✔ test: every check ", "passed.\n")
    assert nbformat.writes(whole) == nbformat.writes(split)
    assert [o.name for o in split.cells[0].outputs] == ["stdout", "stderr"]   # different streams stay apart


def test_the_course_directory_defaults_to_the_current_one_when_it_is_a_course(course, tmp_path):
    """An instructor in their copy of the course (on a hub: ~/convseg) need not pass --course-dir."""
    from course.grading._course import DEFAULT_COURSE_DIR
    from course.grading.cli import default_course_dir

    assert default_course_dir(course) == course.resolve()
    assert default_course_dir(tmp_path) == DEFAULT_COURSE_DIR           # not a course directory
    (tmp_path / "source").mkdir()
    assert default_course_dir(tmp_path) == DEFAULT_COURSE_DIR           # source/ without nbgrader_config.py
    run = cli("release", "toy", "--check", cwd=course)                 # the toy course, not assignments/
    assert "toy: up to date" in run.stdout, run.stdout
    elsewhere = cli("release", "toy", "--check", cwd=tmp_path, check=False)   # the repository's assignments/
    assert elsewhere.returncode == 2 and f"no assignment 'toy' in {DEFAULT_COURSE_DIR / 'source'}" in elsewhere.stderr
