"""The course's nbgrader assignments (assignments/source/*) grade as intended.

- ``release --check``: the committed student versions (assignments/release/)
  and worked solutions (solutions/) are what the sources generate, byte for
  byte. After editing a source notebook, run
  ``python -m course.grading release --all`` and commit the result.
- ``selftest`` (one test per assignment): every source notebook autogrades to full marks, every
  released notebook to zero, and every wrong answer of its wrong_answers.json
  loses points on the tests it names. The score table is printed.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from course.grading._course import DEFAULT_COURSE_DIR, assignments

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not assignments(DEFAULT_COURSE_DIR), reason="no assignment in assignments/source"),
]


def run(*args):
    return subprocess.run([sys.executable, "-m", "course.grading", *args], capture_output=True, text=True,
                          timeout=1800, cwd=Path(__file__).resolve().parents[1])


def test_release_and_solutions_are_up_to_date():
    proc = run("release", "--all", "--check")
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, (
        "the committed release or solution is stale; run `python -m course.grading release --all` "
        f"and commit:\n{proc.stdout}{proc.stderr}")


def test_selftest(assignment):
    proc = run("selftest", assignment, "--jobs", "2")
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, f"selftest failed:\n{proc.stdout}{proc.stderr}"
    assert "all OK" in proc.stdout


# --------------------------------------------------------------------------
# The standard every assignment meets (read from the source notebooks)
# --------------------------------------------------------------------------

SOURCES = sorted((DEFAULT_COURSE_DIR / "source").glob("*/*.ipynb"))
ROOT = Path(__file__).resolve().parents[1]


def _cells(path):
    import nbformat

    return nbformat.read(str(path), as_version=4).cells


def _grading(cell):
    return cell.metadata.get("nbgrader", {})


def _test_cells(cells):
    return [c for c in cells if c.cell_type == "code" and _grading(c).get("grade") and not _grading(c).get("solution")]


def test_partial_credit_and_not_attempted_conventions(path):
    cells = _cells(path)
    tests = _test_cells(cells)
    assert len(tests) >= 10, f"{path.stem}: {len(tests)} test cells"
    for cell in tests:
        grade_id = _grading(cell)["grade_id"]
        assert _grading(cell)["points"] <= 2, f"{grade_id}: more than 2 points in one test cell"
        assert "raises-exception" in cell.metadata.get("tags", []), f"{grade_id}: Run All would stop here"
        assert cell.source.rstrip().splitlines()[-1] == f'passed("{grade_id}")', f"{grade_id}: no passed() line"
    setup = [c for c in cells if _grading(c).get("grade_id") == "setup"]
    assert setup and "show_not_attempted()" in setup[0].source


def test_written_answer_has_model_answer_and_rubric(path):
    answers = [c for c in _cells(path) if c.cell_type == "markdown" and _grading(c).get("grade")]
    assert answers, f"{path.stem} has no manually graded written answer"
    for cell in answers:
        points = _grading(cell)["points"]
        assert "**Model answer.**" in cell.source
        assert f"**Rubric ({points} point" in cell.source, "the rubric states how the points split"


def test_released_notebook_runs_all_and_says_not_attempted(path, tmp_path):
    """Run All on the student's version: every test cell says "not attempted yet", nothing else fails;
    the worked solution: every test cell says it passed."""
    import nbformat
    from nbclient import NotebookClient

    release = DEFAULT_COURSE_DIR / "release" / path.parent.name / path.name
    nb = nbformat.read(str(release), as_version=4)
    NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if cell in _test_cells(nb.cells):
            assert len(errors) == 1 and len(errors[0].traceback) == 1, cell.source[:80]
            assert "not attempted yet" in errors[0].traceback[0]
        else:
            assert not errors, cell.source[:200]
    solution = nbformat.read(str(ROOT / "solutions" / path.name), as_version=4)
    for cell in solution.cells:
        if cell.cell_type == "code" and "passed(" in cell.source:
            assert "every check in this cell passed" in "".join(o.get("text", "") for o in cell.outputs)


# --------------------------------------------------------------------------
# Plain nbgrader gives the same scores as course-admin
# --------------------------------------------------------------------------

def _sample_submissions(path):
    """{student: notebook}: the worked solution, the release, and three honest wrong answers."""
    import json

    import nbformat

    from course.grading.selftest import load_wrong_answers

    assignment = path.parent.name
    source = nbformat.read(str(path), as_version=4)
    subs = {"solution": nbformat.read(str(ROOT / "solutions" / path.name), as_version=4),
            "release": nbformat.read(str(DEFAULT_COURSE_DIR / "release" / assignment / path.name), as_version=4)}
    honest = [w for w in load_wrong_answers(DEFAULT_COURSE_DIR, assignment) if not w["name"].startswith("cheat")]
    for item in (honest[0], honest[len(honest) // 2], honest[-1]):
        nb = nbformat.from_dict(json.loads(json.dumps(source)))
        next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == item["grade_id"]).source = \
            item["source"]
        subs[item["name"].replace("_", "-")] = nb
    return subs


def test_plain_nbgrader_gives_the_same_scores_as_course_admin(path, tmp_path):
    """`nbgrader autograde` in a copy of assignments/ (the course's nbgrader_config.py) and course-admin's
    grade_batch agree cell by cell on honest submissions. (Plain nbgrader runs the tests in the student's
    kernel, so only course-admin resists tampering: the cheat_* answers are left out on purpose.)"""
    import os
    import shutil

    import nbformat
    from nbgrader.api import Gradebook

    from course.grading.autograde import grade_batch

    assignment, notebook = path.parent.name, path.stem
    course = tmp_path / "course"
    shutil.copytree(DEFAULT_COURSE_DIR, course, ignore=shutil.ignore_patterns(
        "gradebook.db", "autograded", "submitted", "feedback", "grading", "__pycache__"))
    subs = _sample_submissions(path)
    for student, nb in subs.items():
        for folder in (course / "submitted" / student / assignment, tmp_path / "zip" / student):
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{notebook}.ipynb"))
    env = dict(os.environ, PYTHONWARNINGS="ignore",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    for args in (["generate_assignment", assignment, "--force"], ["autograde", assignment]):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True,
                              text=True, timeout=900, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    plain = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in subs:
            nb = gb.find_submission_notebook(notebook, assignment, student)
            plain[student] = {g.name: g.score for g in nb.grades if g.cell.cell_type == "code"}
    admin = grade_batch(DEFAULT_COURSE_DIR, assignment, tmp_path / "zip", state_dir=tmp_path / "state", jobs=2,
                        progress=lambda message: None)
    for student in subs:
        ours = {g: s for g, s in admin[student]["scores"].items() if g in plain[student]}
        assert ours == plain[student], f"{assignment}, {student}: course-admin {ours} != nbgrader {plain[student]}"
    full = sum(plain["solution"].values())
    assert full > 0 and sum(plain["release"].values()) == 0
    assert all(sum(plain[s].values()) < full for s in subs if s not in ("solution", "release"))


# --------------------------------------------------------------------------
# One test class per assignment: `make test` distributes by scope (module or
# class), so the selftests and nbgrader runs of different assignments run on
# both workers.
# --------------------------------------------------------------------------

@pytest.fixture
def path(request):
    """The assignment's source notebook (the test class says which)."""
    return request.cls.SOURCE


@pytest.fixture
def assignment(path):
    return path.parent.name


_PER_ASSIGNMENT = {name: fn for name, fn in list(globals().items())
                   if name.startswith("test_") and callable(fn) and name != "test_release_and_solutions_are_up_to_date"}
for _source in SOURCES:
    _name = "TestAssignment_" + _source.parent.name
    globals()[_name] = type(_name, (), {"SOURCE": _source,
                                        **{name: staticmethod(fn) for name, fn in _PER_ASSIGNMENT.items()}})
for _name in _PER_ASSIGNMENT:
    del globals()[_name]

