"""Autograde a batch of submissions: isolated, parallel, bounded, deterministic.

How a batch runs (``python -m course.grading autograde ASSIGNMENT SUBMISSIONS``),
and which module does each step:

1. **Collect** (:mod:`~course.grading.submissions`). ``SUBMISSIONS`` is a folder
   (or a zip of one) of ``<student>/<id>.ipynb`` or nbgrader's
   ``<student>/<id>/<id>.ipynb``, staged into a private folder without
   following any link before any student code runs.
2. **Template.** nbgrader's generate_assignment runs once into a scratch
   course directory; its gradebook and source are the template every worker
   copies. The instructor's gradebook gets the assignment too.
3. **Protections** (:func:`protections`). The sandbox (:mod:`~course.grading.sandbox`)
   and the cgroups (:mod:`~course.grading.limits`) are probed; whatever this
   machine cannot apply is said in the output and kept in the results.
4. **Workers** (:mod:`~course.grading.scheduling`, :mod:`~course.grading._worker`).
   One forked worker per submission, ``--jobs`` at a time, each in a private
   course directory with its own cgroups. The worker matches careless
   notebooks to the assignment (:mod:`~course.grading.matching`), scans the
   student's code for attacks on grading (:mod:`~course.grading.scan`), then
   runs nbgrader's Autograde with the preprocessors of
   :mod:`~course.grading._preprocessors`: the student's cells run in a
   sandboxed kernel, the test cells in the worker itself
   (:mod:`~course.grading.trusted`), calling the student's functions in the
   kernel. A worker that fails for a reason that is not the student's
   (``error``) is retried once.
5. **Merge** (:mod:`~course.grading.results`). Only the parent writes shared
   state, serially, after every worker is gone: it checks that nothing a
   submission could reach was modified, then stores scores, graded notebooks
   and each submission's :class:`~course.grading.statuses.Status` and reason.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _course
from ._course import GradingError
from .limits import Limits, cgroup_problem
from .results import IntegrityCheck, State, merge
from .scheduling import run_workers
from .statuses import Status
from .submissions import collect

if TYPE_CHECKING:
    from ._worker import WorkerSpec


def protections(sandbox: str = "auto") -> tuple[dict[str, bool], list[str]]:
    """Which isolation this machine gives kernels.

    Returns ``({"sandbox": bool, "cgroups": bool, "prlimit": bool}, warnings)``
    (:func:`grade_batch` adds ``"tmpfs"``: the batch folder on a tmpfs of its own).

    ``sandbox`` is ``"auto"`` (use what works), ``"on"`` (refuse to grade
    without the sandbox and cgroups) or ``"off"``. Every protection that
    cannot be applied is named in a warning, printed by the command and kept
    in the grading results.
    """
    from ._kernel import sandbox_problem

    applied = {"sandbox": False, "cgroups": False, "prlimit": bool(shutil.which("prlimit"))}
    warnings: list[str] = []
    if sandbox != "off":
        applied["sandbox"] = _usable(
            "sandbox", sandbox_problem(), sandbox, warnings,
            without="kernels can read the course directory and write wherever this user can; the gradebook "
                    "and grading results are checked and restored after the batch")
        applied["cgroups"] = _usable(
            "cgroups", cgroup_problem() if applied["sandbox"] else "it needs the sandbox", sandbox, warnings,
            without="the memory limit is per process (shared memory not counted) and the number of processes "
                    "a submission starts is not limited")
    else:
        warnings.append("--sandbox off: kernels run unisolated, with no limit on processes")
    if not applied["prlimit"]:
        warnings.append("prlimit (util-linux) is not installed: kernels run without per-process memory and CPU "
                        "limits")
    return applied, warnings


def _usable(protection: str, problem: str | None, sandbox: str, warnings: list[str], *, without: str) -> bool:
    """Whether ``protection`` can be applied (``problem`` is None).

    If not: with ``sandbox="on"`` a :class:`GradingError`; otherwise a warning,
    added to ``warnings``, that says why and what ``without`` it means.
    """
    if problem is None:
        return True
    if sandbox == "on":
        raise GradingError(f"--sandbox on, but no {protection}: {problem}")
    warnings.append(f"no {protection} ({problem}): {without}")
    return False


@contextlib.contextmanager
def _batch_folder(on_tmpfs: bool) -> Iterator[tuple[Path, bool]]:
    """A private folder for the batch: ``(path, on_tmpfs)``, removed at the end.

    With cgroups, it is a tmpfs of its own: every folder a kernel can write
    (its working folder, its home, the Jupyter runtime folder) lives there, so
    what a submission writes is memory charged to its own cgroup, and no
    submission can fill the host's disk.
    """
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        mounted = on_tmpfs and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "mode=700,nosuid,nodev", "course-grade", tmp],
            capture_output=True).returncode == 0
        try:
            os.chmod(tmp, 0o700)
            yield Path(tmp), mounted
        finally:
            if mounted:
                subprocess.run(["umount", "--lazy", tmp], capture_output=True)


def grade_batch(course_dir: Path, assignment: str, submissions: Path, *, state_dir: Path | None = None,
                jobs: int = 1, limits: Limits | None = None, sandbox: str = "auto",
                progress: Callable[[str], object] = print) -> dict[str, dict[str, Any]]:
    """Grade every submission in ``submissions`` under ``limits``; return ``{student: summary}``."""
    limits = limits or Limits()
    limits.check()
    state = State(course_dir, state_dir)
    notebook = _course.notebook_name(state.course_dir, assignment)
    state.state_dir.mkdir(parents=True, exist_ok=True)
    from . import trusted  # noqa: F401  (imports torch once, before the workers fork)
    applied, missing = protections(sandbox)
    with _batch_folder(on_tmpfs=applied["cgroups"]) as (batch, on_tmpfs):
        applied["tmpfs"] = on_tmpfs
        if applied["cgroups"] and not on_tmpfs:
            missing.append("the batch folder could not be put on a tmpfs: a submission can fill the disk "
                           "it is on (up to the file-size limit per file)")
        for w in missing:
            progress(f"warning: {w}")
        entries, warnings = collect(submissions, assignment, notebook, batch)
        for w in warnings:
            progress(f"warning: {w}")
        template = _course.generate_assignment(state.course_dir, assignment, batch / "template")
        _course.generate_assignment(state.course_dir, assignment, batch / "gradebook-sync", db=state.db_url)
        from ._kernel import warm_matplotlib_cache
        mpl_cache = None
        source_text = (state.course_dir / "source" / assignment / f"{notebook}.ipynb").read_text(errors="replace")
        if any(word in source_text for word in ("matplotlib", "course.viz", "plt.")):
            # a kernel would otherwise build matplotlib's font cache itself (seconds, on stderr)
            mpl_cache = batch / "mplcache"
            if not warm_matplotlib_cache(mpl_cache):
                mpl_cache = None

        specs: list[WorkerSpec] = []
        for entry in entries:
            if entry.status is not None or entry.path is None:  # not graded: the status says why
                continue
            work = Path(tempfile.mkdtemp(prefix="w-", dir=batch))
            incoming = work / "incoming.ipynb"
            shutil.copyfile(entry.path, incoming)
            specs.append({
                "student": entry.student, "assignment": assignment, "notebook": notebook,
                "course_dir": str(state.course_dir), "template": str(template), "workdir": str(work),
                "incoming": str(incoming), "cell_timeout": limits.cell_timeout,
                "submission_timeout": limits.submission_timeout, "memory_mb": limits.memory_mb,
                "cpu_seconds": limits.cpu_seconds, "tmpfs_mb": limits.tmpfs_mb,
                "max_output_bytes": limits.max_output_bytes,
                "max_total_output_bytes": limits.max_total_output_bytes,
                "sandbox": applied["sandbox"], "cgroups_enabled": applied["cgroups"],
                "token": uuid.uuid4().hex, "notes": list(entry.notes), "wrong_filename": entry.wrong_filename,
                "mpl_cache": str(mpl_cache) if mpl_cache else None,
            })
        integrity = IntegrityCheck(state, assignment, batch / "backup", sandboxed=applied["sandbox"])
        results = run_workers(specs, jobs, limits, batch, progress)
        retry = [s for s in specs if results[s["student"]]["status"] == Status.ERROR]
        if retry:
            progress(f"retrying {len(retry)} submission(s) that failed for a reason that is not the student's")
            for s in retry:
                s["token"] = uuid.uuid4().hex
                shutil.rmtree(Path(s["workdir"]) / "course", ignore_errors=True)
            results.update(run_workers(retry, jobs, limits, batch, progress))
        for message in integrity.check_and_restore():
            progress(f"WARNING: {message}")
        summary = merge(state, assignment, notebook, entries, results, applied, missing)
    return summary
