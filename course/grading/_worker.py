"""Grade one submission, in a process of its own, in a private course directory.

:func:`run` is the body of a forked worker process (see
:mod:`course.grading.autograde`). Its private directory holds a copy of the
assignment's source, a gradebook that only knows the assignment, the submitted
notebook and a private Jupyter path with the grading kernelspec. It never
touches the instructor's gradebook: it returns a result dict (scores per grade
cell, status, reason, the graded notebook) that the parent merges serially.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from . import _course  # noqa: F401  (sets up the fast nbformat import)
from ._kernel import readable_paths, write_kernelspec
from ._nb import Unreadable, read_submission, write
from ._preprocessors import exit_text
from .matching import reconcile
from .scan import Finding, describe, scan_notebook
from .statuses import Status

if TYPE_CHECKING:
    from nbformat import NotebookNode
    from traitlets.config import Config


class _RequiredSpec(TypedDict):
    """The keys every :class:`WorkerSpec` has."""

    student: str
    assignment: str
    notebook: str             # the notebook's name, without .ipynb
    course_dir: str           # the instructor's course directory (its nbgrader_config.py)
    template: str             # the batch's scratch course directory: source, release, gradebook
    workdir: str              # this worker's private folder
    incoming: str             # the submitted notebook
    cell_timeout: float       # seconds
    submission_timeout: float
    memory_mb: int
    cpu_seconds: int
    tmpfs_mb: int
    max_output_bytes: int
    max_total_output_bytes: int
    sandbox: bool             # run the kernel in the sandbox
    cgroups_enabled: bool
    token: str                # in the environment of every process of the submission
    notes: list[str]
    wrong_filename: bool
    mpl_cache: str | None     # a warm matplotlib cache to copy


class WorkerSpec(_RequiredSpec, total=False):
    """What a worker grades and how (:func:`course.grading.autograde.grade_batch` writes it).

    The scheduler adds ``deadline`` (``time.monotonic()`` by which grading must
    stop) and ``cgroups`` (the ``cgroup.procs`` files the kernel joins).
    """

    deadline: float
    cgroups: list[str]


#: a worker's result: ``student``, ``status``, ``reason``, ``notes``, ``scores``
#: (grade_id -> ``{"score", "max"}``), ``comments``, ``notebook`` (the graded notebook
#: as text, or None), ``seconds``; and, when they apply, ``traceback``, ``log``, ``peak_memory_mb``
Result = dict[str, Any]


def _assignment_notebooks(spec: WorkerSpec) -> tuple[NotebookNode, NotebookNode]:
    """The instructor's source notebook and the released one, from the batch's template."""
    import nbformat
    template, assignment, name = Path(spec["template"]), spec["assignment"], f"{spec['notebook']}.ipynb"
    return (nbformat.read(str(template / "source" / assignment / name), as_version=4),
            nbformat.read(str(template / "release" / assignment / name), as_version=4))


def _layout(spec: WorkerSpec) -> dict[str, Path]:
    """The folders of the worker's private directory, by role."""
    priv = Path(spec["workdir"])
    root = priv / "course"
    student, assignment = spec["student"], spec["assignment"]
    return {
        "priv": priv,
        "root": root,
        "submitted": root / "submitted" / student / assignment,
        "autograded": root / "autograded" / student / assignment,
        "jupyter": priv / "jupyter",
        "runtime": priv / "runtime",
        "home": priv / "home",
        "kernel_cwd": priv / "kernel-cwd",
        "root_fs": priv / "root-fs",
    }


def _prepare(spec: WorkerSpec, paths: dict[str, Path]) -> None:
    """Fill the private directory: the assignment's source, the gradebook, the kernel's folders."""
    template = Path(spec["template"])
    assignment = spec["assignment"]
    shutil.copytree(template / "source" / assignment, paths["root"] / "source" / assignment)
    shutil.copy2(template / "gradebook.db", paths["root"] / "gradebook.db")
    for key in ("submitted", "autograded", "runtime", "home", "jupyter", "kernel_cwd", "root_fs"):
        paths[key].mkdir(parents=True, exist_ok=True)
    (paths["priv"] / "jupyter-config").mkdir(exist_ok=True)
    # the assignment's other files (data, images), as released to students: the kernel's folder
    release = template / "release" / assignment
    for item in sorted(release.iterdir()) if release.is_dir() else []:
        if item.suffix == ".ipynb" or item.is_symlink():
            continue
        if item.is_dir():
            shutil.copytree(item, paths["kernel_cwd"] / item.name, symlinks=True)
        else:
            shutil.copy2(item, paths["kernel_cwd"] / item.name)
    mpl = spec.get("mpl_cache")
    if mpl and Path(mpl).is_dir():
        shutil.copytree(mpl, paths["home"] / "mplconfig", dirs_exist_ok=True)
    else:
        (paths["home"] / "mplconfig").mkdir(exist_ok=True)


#: the only variables of the instructor's environment a grading kernel inherits
#: (a student's notebook could print the others into its feedback)
KEEP_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "VIRTUAL_ENV", "PYTHONPATH",
            "CONDA_PREFIX", "LD_LIBRARY_PATH", "USER", "LOGNAME")


def _environment(spec: WorkerSpec, paths: dict[str, Path]) -> str:
    """Set this process's environment for grading; write the kernelspec and return its name."""
    for key in list(os.environ):
        if key not in KEEP_ENV and not key.startswith("LC_"):
            del os.environ[key]
    os.environ["JUPYTER_PATH"] = str(paths["jupyter"])
    os.environ["JUPYTER_RUNTIME_DIR"] = str(paths["runtime"])
    os.environ["JUPYTER_DATA_DIR"] = str(paths["priv"] / "jupyter-data")
    os.environ["JUPYTER_CONFIG_DIR"] = str(paths["priv"] / "jupyter-config")
    os.environ.pop("PYTHONSTARTUP", None)
    # jupyter_client writes the connection file with tempfile: keep it in the
    # runtime folder, the only one the sandboxed kernel shares with the worker
    import tempfile
    os.environ["TMPDIR"] = str(paths["runtime"])
    tempfile.tempdir = str(paths["runtime"])
    sandbox_spec: Path | None = None
    if spec.get("sandbox"):
        import json
        sandbox_spec = paths["priv"] / "sandbox.json"
        # The kernel works in a scratch folder of its own, mounted where nbgrader expects the
        # notebook's folder: nbgrader writes the graded notebook into the real folder, which
        # the kernel never sees, so nothing it leaves (a symlink, say) is ever followed.
        sandbox_spec.write_text(json.dumps({
            "root": str(paths["root_fs"]),
            "allow": readable_paths(),
            "binds": [[str(paths["kernel_cwd"]), str(paths["autograded"])],
                      [str(paths["runtime"]), str(paths["runtime"])],
                      [str(paths["home"]), str(paths["home"])]],
            "cwd": str(paths["autograded"]),
            "cgroups": spec.get("cgroups", []),
            "tmpfs_size": f"{int(spec.get('tmpfs_mb', 256))}m",
        }))
    env = {
        "HOME": str(paths["home"]),
        "IPYTHONDIR": str(paths["home"] / "ipython"),
        "MPLCONFIGDIR": str(paths["home"] / "mplconfig"),
        "COURSE_GRADING_TOKEN": spec["token"],
    }
    return write_kernelspec(paths["jupyter"], memory_mb=spec["memory_mb"], cpu_seconds=spec["cpu_seconds"],
                            sandbox_spec=sandbox_spec, env=env)


def _config(spec: WorkerSpec, paths: dict[str, Path], kernel_name: str) -> Config:
    """The nbgrader configuration of this submission's Autograde run."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
    )

    from ._course import load_config
    from ._preprocessors import (
        CaptureNotebook,
        GuardedExecute,
        InsertRubric,
        RecordingSaveAutoGrades,
        RestoreCellMetadata,
    )

    cfg = load_config(Path(spec["course_dir"]))
    root = paths["root"]
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    cfg.CourseDirectory.assignment_id = spec["assignment"]
    cfg.CourseDirectory.student_id = spec["student"]
    cfg.CourseDirectory.notebook_id = "*"
    cfg.Autograde.force = True
    cfg.Autograde.create_student = True
    cfg.Autograde.exclude_overwriting = {}
    cfg.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, RestoreCellMetadata,
                                            OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
    cfg.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                             LimitOutput, RecordingSaveAutoGrades, InsertRubric, CheckCellMetadata,
                                             CaptureNotebook]
    # deleted test cells come back (nbgrader's default leaves them out: NULL score)
    cfg.OverwriteCells.add_missing_cells = True
    for section in ("Execute", "GuardedExecute"):
        cfg[section].kernel_name = kernel_name
        cfg[section].timeout = int(spec["cell_timeout"])
        cfg[section].interrupt_on_timeout = True
        cfg[section].raise_on_iopub_timeout = True
        cfg[section].iopub_timeout = 5
        cfg[section].startup_timeout = 60
        cfg[section].execute_retries = 0
        cfg[section].record_timing = False
    cfg.KernelManager.connection_file = str(paths["runtime"] / "kernel-connection.json")
    if spec.get("sandbox"):
        # the sandboxed kernel has no network: ZeroMQ over Unix sockets in the runtime folder
        cfg.KernelManager.transport = "ipc"
    cfg.GuardedExecute.deadline = float(spec["deadline"])
    cfg.GuardedExecute.max_output_bytes = int(spec.get("max_output_bytes", 2**20))
    cfg.GuardedExecute.max_total_output_bytes = int(spec.get("max_total_output_bytes", 8 * 2**20))
    memory = [os.path.dirname(f) for f in spec.get("cgroups", []) if "/memory" in f]
    cfg.GuardedExecute.memory_cgroup = memory[0] if memory else ""
    cfg.LimitOutput.max_lines = 1000
    cfg.LimitOutput.max_traceback = 100
    return cfg


def _grade(spec: WorkerSpec, paths: dict[str, Path], cfg: Config) -> str | None:
    """Run nbgrader's Autograde converter; return the failure text, if any."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    failure: list[str] = []

    class _Autograde(Autograde):
        def convert_single_notebook(self, notebook_filename: str) -> None:
            try:
                super().convert_single_notebook(notebook_filename)
            except Exception as exc:
                failure.append(f"{exc.__class__.__name__}: {exc}")
                raise

    converter = _Autograde(coursedir=CourseDirectory(config=cfg), config=cfg)
    log = logging.getLogger("course.grading.worker")
    log.propagate = False
    log.handlers[:] = [logging.StreamHandler()]  # the worker's stderr: a log file
    log.setLevel(logging.WARNING)
    converter.log = log
    try:
        converter.start()
    except Exception as exc:
        if not failure:
            failure.append(f"{exc.__class__.__name__}: {exc}")
    return failure[0] if failure else None


def run(spec: WorkerSpec) -> Result:
    """Grade one submission; always returns a result dict, never raises."""
    from . import _preprocessors as pp

    started = time.monotonic()
    result: Result = {"student": spec["student"], "status": Status.ERROR, "reason": "",
                      "notes": list(spec.get("notes", [])), "scores": {}, "comments": {}, "notebook": None}
    try:
        paths = _layout(spec)
        _prepare(spec, paths)
        try:
            nb, notes = read_submission(Path(spec["incoming"]))
        except Unreadable as exc:
            result.update(status=Status.UNREADABLE, reason=str(exc))
            return result
        result["notes"] += notes
        source_nb, release_nb = _assignment_notebooks(spec)
        nb, notes = reconcile(nb, source_nb, release_nb)
        result["notes"] += notes
        findings = _scan(nb, source_nb, release_nb)
        nb.metadata.pop("widgets", None)
        write(nb, paths["submitted"] / f"{spec['notebook']}.ipynb")
        kernel_name = _environment(spec, paths)
        cfg = _config(spec, paths, kernel_name)
        for attempt in range(2):
            record = pp.Record()
            for section in ("RestoreCellMetadata", "GuardedExecute", "RecordingSaveAutoGrades", "CaptureNotebook"):
                cfg[section].record = record
            with contextlib.redirect_stdout(io.StringIO()):
                failure = _grade(spec, paths, cfg)
            execution = record["execution"] or {}
            if execution.get("stopped") not in ("kernel_failed", "grader_error") or attempt == 1 \
                    or time.monotonic() > spec["deadline"]:
                break
            shutil.rmtree(paths["autograded"], ignore_errors=True)
            paths["autograded"].mkdir(parents=True)
        _interpret(spec, result, failure, record)
        _apply_findings(result, findings)
    except Exception as exc:  # a bug or an environment problem: say so, do not crash
        result.update(status=Status.ERROR, reason=f"internal grader error: {exc.__class__.__name__}: {exc}",
                      traceback=traceback.format_exc()[-4000:])
    finally:
        result["seconds"] = round(time.monotonic() - started, 2)
    return result


def _interpret(spec: WorkerSpec, result: Result, failure: str | None, record: dict[str, Any]) -> None:
    """Fill ``result`` from what the grading run recorded: status, reason, notes, scores, notebook."""
    import nbformat

    from ._preprocessors import describe_cell
    from .rubric import rubric_of

    execution = record.get("execution") or {}
    nb = nbformat.reads(record["notebook"], as_version=4) if record.get("notebook") else None
    if nb is not None:  # cell numbers are those of the notebook as run, before the grader's rubric cells
        nb.cells = [c for c in nb.cells if rubric_of(c) is None]
    if record.get("restored"):
        result["notes"].append("test cells restored from the assignment: " + ", ".join(record["restored"]))
    if record.get("missing_answers"):
        result["notes"].append("answer cells missing from the submission: " + ", ".join(record["missing_answers"]))
    if execution.get("truncated") and nb is not None:
        cells = ", ".join(describe_cell(nb, i).split(" `")[0] for i in execution["truncated"][:5])
        result["notes"].append(f"output truncated in {cells}")
    if failure or nb is None:
        if execution.get("stopped") == "kernel_failed":
            result.update(status=Status.ERROR, reason=f"the grading kernel could not be started: "
                                                 f"{execution.get('kernel_error')}")
        else:
            result.update(status=Status.ERROR, reason=f"nbgrader could not grade the notebook: "
                                                 f"{(failure or 'no graded notebook')[:500]}")
        return
    result["notebook"] = record["notebook"]
    result["scores"] = record["scores"]
    result["comments"] = record["comments"]
    stopped, cell = execution.get("stopped"), execution.get("stopped_cell")
    timed_out = execution.get("timed_out", [])
    limit = int(spec["cell_timeout"])
    if stopped == "kernel_failed":
        result.update(status=Status.ERROR, reason=f"the grading kernel could not be started: "
                                             f"{execution.get('kernel_error')}")
    elif stopped == "grader_error":
        result.update(status=Status.ERROR, reason=f"the grader failed while running {describe_cell(nb, cell)}: "
                                             f"{execution.get('kernel_error')}")
    elif stopped == "dead":
        result.update(status=Status.CRASHED, reason=f"the kernel died while running {describe_cell(nb, cell)}"
                      f"{exit_text(execution.get('exit'))}; the tests after it were not run and scored 0")
    elif stopped == "unresponsive":
        result.update(status=Status.TIMEOUT, reason=f"{describe_cell(nb, cell)} was still running after the "
                      f"{limit} s cell time limit and ignored the interrupt; the kernel was killed and the "
                      "tests after it scored 0")
    elif stopped == "deadline":
        result.update(status=Status.TIMEOUT, reason=f"the submission used up its {int(spec['submission_timeout'])} s "
                      f"time limit before {describe_cell(nb, cell)}; the tests from there on scored 0")
    elif timed_out:
        cells = "; ".join(describe_cell(nb, i) for i in timed_out[:5])
        result.update(status=Status.TIMEOUT, reason=f"interrupted after the {limit} s cell time limit: {cells}; "
                      "the rest of the notebook was graded")
    else:
        result.update(status=Status.GRADED, reason="")
    if spec.get("wrong_filename") and result["status"] == Status.GRADED:
        result["status"] = Status.WRONG_FILENAME


def _scan(nb: NotebookNode, source_nb: NotebookNode, release_nb: NotebookNode) -> list[Finding]:
    """Read the student's code outside the kernel, before anything runs, for attacks on grading.

    Locked instructor cells are not reported (the grader restores them), but only when their
    text is the instructor's: a student's cell that merely claims a locked grade_id is scanned.
    """
    import copy

    def text(cell: NotebookNode) -> str:
        return " ".join(cell.source.split())

    instructor: dict[str, set[str]] = {}
    for cell in list(source_nb.cells) + list(release_nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked"):
            instructor.setdefault(meta["grade_id"], set()).add(text(cell))
    checked = copy.deepcopy(nb)
    for cell in checked.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in instructor and text(cell) not in instructor[grade_id]:
            del cell.metadata["nbgrader"]
    return scan_notebook(checked, instructor_ids=frozenset(instructor))


def _apply_findings(result: Result, findings: list[Finding]) -> None:
    """Mark a submission whose code tampers with grading, or that the grader cannot judge.

    Code that tampers with grading makes the submission ``tampered`` (0 points until reviewed);
    code the grader cannot judge makes a graded one ``needs_review``. The reason names the lines.
    """
    if not findings or result["status"] in (Status.ERROR, Status.UNREADABLE):
        return
    worst = Status.TAMPERED if any(f.severity == Status.TAMPERED for f in findings) else Status.NEEDS_REVIEW
    text = describe(findings)
    if worst == Status.TAMPERED or result["status"] in (Status.GRADED, Status.WRONG_FILENAME):
        if result["reason"]:
            result["notes"].insert(0, result["reason"])
        result.update(status=worst, reason=text)
    else:
        result["notes"].append(text)
