"""``release``: the student version (nbgrader generate_assignment) and the worked solution.

- ``<course-dir>/release/<id>/``: nbgrader's release, committed so students take
  it from the repository. Instructor-only files (``wrong_answers.json``) are
  left out.
- ``solutions/<id>.ipynb``: the source with the solutions kept (the
  ``### BEGIN/END SOLUTION`` lines removed), hidden tests and mark schemes
  removed, nbgrader metadata removed, executed top to bottom with outputs.

Both are byte-stable: notebooks are rewritten canonically, execution timing and
widget state are dropped, memory addresses in outputs are masked. So
``release --check`` can regenerate everything in a scratch folder and compare
bytes, and lists every stale file.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from . import _course
from ._course import GradingError
from ._nb import BEGIN_HIDDEN, END_HIDDEN, dumps, hidden_regions, strip_solution_markers

if TYPE_CHECKING:
    from traitlets.config import Config

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]{6,}")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _read_canonical(path: Path) -> bytes:
    if path.suffix == ".ipynb":
        try:
            return dumps(nbformat.read(str(path), as_version=4)).encode()
        except Exception:
            return path.read_bytes()
    return path.read_bytes()


def _tree(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): _read_canonical(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}


def _delimiters(cfg: Config) -> tuple[str, str, str, str, str, str]:
    """The solution, hidden-test and mark-scheme delimiters (begin, end each) of the nbgrader config."""
    def get(section: str, key: str, default: str) -> str:
        return cfg[section][key] if key in cfg[section] else default
    return (get("ClearSolutions", "begin_solution_delimeter", "BEGIN SOLUTION"),
            get("ClearSolutions", "end_solution_delimeter", "END SOLUTION"),
            get("ClearHiddenTests", "begin_test_delimeter", BEGIN_HIDDEN),
            get("ClearHiddenTests", "end_test_delimeter", END_HIDDEN),
            get("ClearMarkScheme", "begin_mark_scheme_delimeter", "BEGIN MARK SCHEME"),
            get("ClearMarkScheme", "end_mark_scheme_delimeter", "END MARK SCHEME"))


def solution_notebook(source: nbformat.NotebookNode, cfg: Config | None = None) -> nbformat.NotebookNode:
    """The worked solution (not executed): solutions kept, hidden tests removed."""
    from traitlets.config import Config
    b_sol, e_sol, b_hid, e_hid, b_ms, e_ms = _delimiters(cfg or Config())
    nb = nbformat.v4.new_notebook()
    nb.metadata = {k: v for k, v in source.metadata.items() if k not in ("widgets", "celltoolbar")}
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in source.cells:
        text = strip_solution_markers(cell.source, b_sol, e_sol)
        text, _ = hidden_regions(text, b_hid, e_hid)
        text, _ = hidden_regions(text, b_ms, e_ms)
        text = text.rstrip("\n") if text.strip() else ""
        if not text and cell.metadata.get("nbgrader", {}).get("grade"):
            continue  # a test cell made only of hidden tests
        meta = {k: v for k, v in cell.metadata.items() if k not in ("nbgrader", "execution", "deletable",
                                                                      "editable", "collapsed")}
        maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                 "raw": nbformat.v4.new_raw_cell}[cell.cell_type]
        new = maker(text, metadata=meta)
        if "id" in cell:
            new["id"] = cell["id"]
        nb.cells.append(new)
    return nb


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from one execution to the next."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            if "data" in out:
                out.data.pop(_WIDGET_VIEW, None)
                for key, value in list(out.data.items()):
                    if isinstance(value, str) and key.startswith("text/"):
                        out.data[key] = _ADDRESS.sub("at 0x...", value)
            if out.get("output_type") == "stream":
                out.text = _ADDRESS.sub("at 0x...", out.text)
            if out.get("output_type") == "error":
                out.traceback = [_ADDRESS.sub("at 0x...", t) for t in out.traceback]
        if "outputs" in cell:
            cell.outputs = merge_streams([o for o in cell.outputs if not ("data" in o and not o.data)])
    return nb


def merge_streams(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Join consecutive stream outputs of the same name (stdout, stderr) into one.

    One ``print`` can reach the notebook as one message or as several (a busy
    machine splits it), so the stored outputs would differ from run to run.
    """
    merged: list[nbformat.NotebookNode] = []
    for out in outputs:
        previous = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == out.get("name")):
            previous["text"] = previous["text"] + out["text"]
        else:
            merged.append(out)
    return merged


def execute(nb: nbformat.NotebookNode, run_dir: Path, timeout: float, memory_mb: int = 4096) -> nbformat.NotebookNode:
    """Execute ``nb`` in ``run_dir`` with the grading kernel (no sandbox, same limits and env)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from ._kernel import write_kernelspec

    with tempfile.TemporaryDirectory(prefix="course-solution-") as tmp:
        name = write_kernelspec(Path(tmp), memory_mb=memory_mb, cpu_seconds=int(timeout) * 4 + 600,
                                sandbox_spec=None, env={})
        saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH",)}
        os.environ["JUPYTER_PATH"] = tmp
        try:
            client = NotebookClient(nb, kernel_name=name, timeout=int(timeout), allow_errors=False,
                                    record_timing=False, resources={"metadata": {"path": str(run_dir)}})
            client.execute(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except CellExecutionError as exc:
            raise GradingError(f"the worked solution does not run: {str(exc)[-1500:]}") from None
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    # Test cells are tagged raises-exception (Run All goes on past an unanswered
    # exercise), so nbclient lets their errors through: a worked solution must have none.
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise GradingError(f"the worked solution does not run: cell {index} raised "
                                   f"{output.get('ename')}: {output.get('evalue')}")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def build_solution(course_dir: Path, assignment: str, timeout: float = 600) -> str:
    """The solution notebook of ``assignment``, executed in a copy of its source folder, as text."""
    cfg = _course.load_config(course_dir)
    notebook = _course.notebook_name(course_dir, assignment)
    src_dir = course_dir / "source" / assignment
    source = nbformat.read(str(src_dir / f"{notebook}.ipynb"), as_version=4)
    nb = solution_notebook(source, cfg)
    with tempfile.TemporaryDirectory(prefix="course-solution-run-") as tmp:
        run_dir = Path(tmp) / assignment
        shutil.copytree(src_dir, run_dir, ignore=shutil.ignore_patterns("*.ipynb", *_course.INSTRUCTOR_ONLY,
                                                                        ".ipynb_checkpoints", "__pycache__"))
        nb = execute(nb, run_dir, timeout)
    return dumps(normalise(nb))


def release(course_dir: Path, assignment: str, *, check: bool = False, solutions_dir: Path | None = None,
            timeout: float = 600, progress: Callable[[str], object] = print) -> list[str]:
    """Generate (or, with ``check``, compare) the release and the solution. Returns stale paths."""
    course_dir = Path(course_dir).resolve()
    solutions_dir = Path(solutions_dir) if solutions_dir else course_dir.parent / "solutions"
    notebook = _course.notebook_name(course_dir, assignment)
    stale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = _course.generate_assignment(course_dir, assignment, Path(tmp) / "course")
        produced = _tree(root / "release" / assignment)
        target = course_dir / "release" / assignment
        existing = _tree(target)
        for rel in sorted(set(produced) | set(existing)):
            if produced.get(rel) != existing.get(rel):
                stale.append(str(target / rel))
        solution_path = solutions_dir / f"{assignment}.ipynb"
        solution = build_solution(course_dir, assignment, timeout).encode()
        current = solution_path.read_bytes() if solution_path.exists() else None
        if current != solution:
            stale.append(str(solution_path))
        if check:
            progress(f"{assignment}: " + (f"{len(stale)} stale file(s)" if stale else "up to date"))
            return stale
        for rel, data in produced.items():
            if existing.get(rel) != data:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_bytes(data)
        for rel in set(existing) - set(produced):
            (target / rel).unlink()
        if current != solution:
            solution_path.parent.mkdir(parents=True, exist_ok=True)
            solution_path.write_bytes(solution)
        progress(f"{assignment}: " + ("wrote " + ", ".join(os.path.relpath(p, course_dir.parent) for p in stale)
                                      if stale else f"release/{assignment}/{notebook}.ipynb and "
                                      f"{os.path.relpath(solution_path, course_dir.parent)} already up to date"))
    return stale
