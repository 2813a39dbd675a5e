"""Running one worker process per submission: at most ``jobs`` at a time, each bounded in time.

Each submission is graded by its own forked worker process (in its own
session, see :mod:`course.grading._worker`) with its own cgroups
(:class:`~course.grading.limits.SubmissionCgroup`). A worker that outlives
the submission timeout is killed with its whole process tree, kernel
included; whatever a submission left behind is killed when its worker ends.
The parent always gets a result dict, even from a worker that died.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkProcess
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from ._procs import kill_tree
from .limits import Limits, SubmissionCgroup
from .statuses import Status

if TYPE_CHECKING:
    from ._worker import Result, WorkerSpec


class _Running(TypedDict):
    """A worker being waited for."""

    proc: ForkProcess
    conn: Connection        # the parent's end of the pipe the result comes through
    spec: WorkerSpec
    start: float            # time.monotonic() when it started
    result: Result | None   # once received
    cgroup: SubmissionCgroup | None


def _child(conn: Connection, spec: WorkerSpec, log_path: str) -> None:
    """The forked worker: grade ``spec`` with output to ``log_path``, send the result on ``conn``, exit."""
    os.setsid()
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        from . import _worker
        result: Result = _worker.run(spec)
    except BaseException as exc:  # the parent must always get an answer
        result = {"student": spec["student"], "status": Status.ERROR, "reason": f"worker failed: {exc!r}",
                  "notes": [], "scores": {}, "comments": {}, "notebook": None}
    try:
        conn.send(result)
        conn.close()
    finally:
        os._exit(0)


def run_workers(specs: list[WorkerSpec], jobs: int, limits: Limits, batch: Path,
                progress: Callable[[str], object] | None) -> dict[str, Result]:
    """Grade ``specs`` in at most ``jobs`` forked workers; returns each submission's result by name."""
    ctx = multiprocessing.get_context("fork")
    pending = list(specs)
    running: dict[int, _Running] = {}
    results: dict[str, Result] = {}
    total = len(specs)
    try:
        _schedule(ctx, pending, running, results, total, jobs, limits, batch, progress)
    finally:
        for pid, item in running.items():  # interrupted: leave nothing behind
            kill_tree(pid, item["spec"]["token"])
            if item["cgroup"] is not None:
                item["cgroup"].remove()
            item["proc"].join(timeout=5)
    return results


def _schedule(ctx: ForkContext, pending: list[WorkerSpec], running: dict[int, _Running], results: dict[str, Result],
              total: int, jobs: int, limits: Limits, batch: Path, progress: Callable[[str], object] | None) -> None:
    """Start workers from ``pending`` (``jobs`` at a time) until every one has a result in ``results``."""
    submission_timeout = limits.submission_timeout
    while pending or running:
        while pending and len(running) < max(1, jobs):
            spec = pending.pop(0)
            parent_conn, child_conn = ctx.Pipe(duplex=False)
            log = batch / "logs" / f"{spec['student']}.log"
            log.parent.mkdir(exist_ok=True)
            sys.stdout.flush()
            sys.stderr.flush()
            start = time.monotonic()
            spec["deadline"] = start + max(1.0, submission_timeout - min(10.0, 0.15 * submission_timeout))
            cgroup = SubmissionCgroup(spec["token"], limits) if spec.get("cgroups_enabled") else None
            spec["cgroups"] = cgroup.procs_files if cgroup is not None else []
            proc = ctx.Process(target=_child, args=(child_conn, spec, str(log)), daemon=False)
            proc.start()
            child_conn.close()
            if proc.pid is None:  # start() sets it (or raises)
                raise RuntimeError(f"the worker of {spec['student']} did not start")
            running[proc.pid] = {"proc": proc, "conn": parent_conn, "spec": spec, "start": start, "result": None,
                                 "cgroup": cgroup}
        waitables = [r["conn"] for r in running.values()] + [r["proc"].sentinel for r in running.values()]
        multiprocessing.connection.wait(waitables, timeout=0.5)
        now = time.monotonic()
        for pid in list(running):
            item = running[pid]
            proc, conn, spec = item["proc"], item["conn"], item["spec"]
            done = False
            try:
                if conn.poll():
                    item["result"] = conn.recv()
                    done = True
            except (EOFError, OSError):
                done = True
            if not done and not proc.is_alive():
                try:
                    if conn.poll(0.1):
                        item["result"] = conn.recv()
                except (EOFError, OSError):
                    pass
                done = True
            if not done and now - item["start"] > submission_timeout:
                kill_tree(pid, spec["token"])
                item["result"] = {"student": spec["student"], "status": Status.TIMEOUT,
                                  "reason": f"grading did not finish within the {submission_timeout:g} s limit "
                                            "per submission; the kernel and every process it started were killed",
                                  "notes": list(spec.get("notes", [])), "scores": {}, "comments": {},
                                  "notebook": None}
                done = True
            if done:
                proc.join(timeout=5)
                kill_tree(pid, spec["token"])  # whatever the kernel left behind
                cgroup = item["cgroup"]
                if cgroup is not None:
                    cgroup.kill_all()
                proc.join(timeout=5)
                conn.close()
                result = item["result"]
                if result is None:
                    log = batch / "logs" / f"{spec['student']}.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    result = {"student": spec["student"], "status": Status.ERROR,
                              "reason": f"the grading worker died (exit code {proc.exitcode})",
                              "notes": list(spec.get("notes", [])), "scores": {}, "comments": {},
                              "notebook": None, "log": tail}
                result["seconds"] = round(time.monotonic() - item["start"], 1)
                if cgroup is not None:
                    peak = cgroup.peak_memory_bytes()
                    result["peak_memory_mb"] = None if peak is None else round(peak / 2**20)
                    if cgroup.oom_killed():
                        result.setdefault("notes", []).append(
                            f"the submission reached its {limits.memory_mb} MB memory limit")
                    cgroup.remove()
                results[spec["student"]] = result
                del running[pid]
                if progress:
                    progress(f"[{len(results)}/{total}] {spec['student']}: {result['status']} "
                             f"({result['seconds']:.1f} s)")
