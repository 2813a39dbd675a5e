"""How course.grading is cut: one place for statuses and limits, no import cycles, the kernel side apart.

- every :class:`~course.grading.statuses.Status` has advice for students;
- :class:`~course.grading.limits.Limits` holds every default the command line shows;
- the modules of course.grading import each other without a cycle (imports
  inside functions included);
- the kernel side (what runs inside a student's kernel: checks, guard,
  failures, wire, kernel_server) imports nothing of Jupyter or nbgrader.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from course.grading.limits import Limits
from course.grading.statuses import ADVICE, Status

PACKAGE = Path(__file__).resolve().parents[1] / "course" / "grading"
KERNEL_SIDE = ("checks", "guard", "failures", "wire", "kernel_server")


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_advice_for_students(status):
    assert status in ADVICE
    assert (status.advice == "") == (status is Status.GRADED)
    assert str(status) == status.value


def test_only_scores_that_need_no_review_are_final():
    assert {s for s in Status if not s.score_is_final} == {
        Status.TAMPERED, Status.NEEDS_REVIEW, Status.ERROR, Status.NOT_GRADED}


def test_the_command_line_shows_the_defaults_of_limits():
    from course.grading.cli import _parser

    args = _parser().parse_args(["autograde", "a1", "subs"])
    default = Limits()
    assert (args.cell_timeout, args.submission_timeout, args.memory_mb, args.processes) == (
        default.cell_timeout, default.submission_timeout, default.memory_mb, default.processes)
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=0).check()


def _imports(module: Path) -> set[str]:
    """The course.grading modules ``module`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
            elif (node.module or "").startswith("course.grading"):
                rest = node.module[len("course.grading"):].lstrip(".")
                names = [rest] if rest else [a.name for a in node.names]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names
                      if a.name.startswith("course.grading.") and a.name.count(".") >= 2}
    return {n for n in found if (PACKAGE / f"{n}.py").exists()} - {module.stem}


def test_no_import_cycles_in_the_grading_package():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py")}
    cycles = []

    def visit(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif len(path) < len(graph):
                visit(nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, cycles[:5]


def test_the_kernel_side_imports_nothing_of_jupyter_or_nbgrader():
    code = ("import sys\n"
            + "".join(f"import course.grading.{name}\n" for name in KERNEL_SIDE)
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
              "('nbgrader', 'nbconvert', 'nbclient', 'nbformat', 'jupyter_client', 'traitlets', 'zmq'))\n"
              "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
