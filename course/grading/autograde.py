"""Autograde a batch of submissions: isolated, parallel, bounded, deterministic.

How a batch runs (``python -m course.grading autograde ASSIGNMENT SUBMISSIONS``):

1. **Collect.** ``SUBMISSIONS`` is a folder (or a zip of one) holding
   ``<student>/<id>.ipynb`` or nbgrader's ``<student>/<id>/<id>.ipynb``. A
   student folder without a notebook is ``missing_notebook``; a single notebook
   under another name is graded and flagged ``wrong_filename``; several
   notebooks, none with the right name, are ``wrong_filename`` and not graded.
   Every submission's bytes are staged into a private working directory before
   any student code runs.
2. **Template.** nbgrader's generate_assignment runs once into a scratch course
   directory; its gradebook (the assignment's cells only) and source are the
   template every worker copies. The instructor's gradebook gets the assignment
   too (the same generate_assignment, pointed at it).
3. **Workers.** Each submission is graded by its own forked worker process
   (``--jobs`` at a time, each in its own session) in its own private course
   directory, with nbgrader's Autograde converter and the safety preprocessors
   of :mod:`course.grading._preprocessors`. The kernel runs under ``prlimit``
   (memory, CPU) and, when the machine allows it, inside the write-isolating
   sandbox of :mod:`course.grading.sandbox`. A worker that outlives
   ``--submission-timeout`` is killed with its whole process tree (kernel
   included). A worker that fails for a reason that is not the student's
   (``error``) is retried once at the end.
4. **Merge.** Only the parent writes shared state, serially, after every worker
   is gone: it first checks that nothing a submission could reach was modified
   (the gradebook, autograded/, the results file: restored from a backup if
   so), then stores each student's scores per grade cell in the gradebook, the
   graded notebook in ``autograded/<student>/<id>/``, and status + reason in
   ``grading/<id>.json``.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from . import _course
from ._course import GradingError, load_config
from .limits import Limits, SubmissionCgroup, cgroup_problem
from .statuses import Status
from .submissions import Entry, collect


# ----------------------------------------------------------------------------- state

class State:
    """Where grading results live: a course directory (the default) or a scratch one."""

    def __init__(self, course_dir: Path, state_dir: Path | None = None):
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
        return self.state_dir / "autograded" / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        return self.state_dir / "feedback" / student / assignment

    def results_path(self, assignment: str) -> Path:
        return self.state_dir / "grading" / f"{assignment}.json"

    def load_results(self, assignment: str) -> dict:
        path = self.results_path(assignment)
        if path.exists():
            return json.loads(path.read_text())
        return {"assignment": assignment, "students": {}}


# ----------------------------------------------------------------------------- integrity

def _manifest(paths: list[Path]) -> dict[str, str]:
    out = {}
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


class Guard:
    """Detect writes by submissions outside their folder; undo them in grader-owned state.

    With the sandbox, kernels cannot write there at all: a change then comes
    from someone else (an instructor in formgrader, say), so it is reported,
    not undone. Without the sandbox, the gradebook, autograded/, grading/ and
    feedback/ are restored from a copy taken before any submission ran.
    """

    def __init__(self, state: State, assignment: str, backup: Path, sandboxed: bool):
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
    def _under(manifest: dict, path: Path) -> dict:
        return {k: v for k, v in manifest.items() if k == str(path) or k.startswith(str(path) + os.sep)}

    def check_and_restore(self) -> list[str]:
        messages = []
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


# ----------------------------------------------------------------------------- workers

def _child(conn, spec: dict, log_path: str) -> None:
    os.setsid()
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        from . import _worker
        result = _worker.run(spec)
    except BaseException as exc:  # noqa: BLE001 - the parent must always get an answer
        result = {"student": spec["student"], "status": Status.ERROR, "reason": f"worker failed: {exc!r}",
                  "notes": [], "scores": {}, "comments": {}, "notebook": None}
    try:
        conn.send(result)
        conn.close()
    finally:
        os._exit(0)


def _run_workers(specs: list[dict], jobs: int, limits: Limits, batch: Path, progress) -> dict:
    ctx = multiprocessing.get_context("fork")
    pending = list(specs)
    running: dict = {}
    results: dict = {}
    total = len(specs)
    try:
        _schedule(ctx, pending, running, results, total, jobs, limits, batch, progress)
    finally:
        from ._procs import kill_tree
        for pid, item in running.items():  # interrupted: leave nothing behind
            kill_tree(pid, item["spec"]["token"])
            if item["cgroup"] is not None:
                item["cgroup"].remove()
            item["proc"].join(timeout=5)
    return results


def _schedule(ctx, pending, running, results, total, jobs, limits, batch, progress):
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
                from ._procs import kill_tree
                kill_tree(pid, spec["token"])
                item["result"] = {"student": spec["student"], "status": Status.TIMEOUT,
                                  "reason": f"grading did not finish within the {submission_timeout:g} s limit "
                                            "per submission; the kernel and every process it started were killed",
                                  "notes": list(spec.get("notes", [])), "scores": {}, "comments": {},
                                  "notebook": None}
                done = True
            if done:
                from ._procs import kill_tree
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


# ----------------------------------------------------------------------------- batch

def _cell_table(url: str, assignment: str, notebook: str):
    return _course.gradebook_cells(url, assignment, notebook)


def protections(sandbox: str = "auto") -> tuple[dict, list[str]]:
    """Which isolation this machine gives kernels: ``({"sandbox": bool, "cgroups": bool}, warnings)``.

    ``sandbox`` is ``"auto"`` (use what works), ``"on"`` (refuse to grade
    without the sandbox and cgroups) or ``"off"``. Every protection that
    cannot be applied is named in a warning, printed by the command and kept
    in the grading results.
    """
    from ._kernel import sandbox_problem

    applied = {"sandbox": False, "cgroups": False, "prlimit": bool(shutil.which("prlimit"))}
    warnings = []
    if sandbox != "off":
        problem = sandbox_problem()
        if problem is None:
            applied["sandbox"] = True
        elif sandbox == "on":
            raise GradingError(f"--sandbox on, but {problem}")
        else:
            warnings.append(f"no sandbox ({problem}): kernels can read the course directory and write "
                            "wherever this user can; the gradebook and grading results are checked and "
                            "restored after the batch")
        problem = cgroup_problem() if applied["sandbox"] else "it needs the sandbox"
        if problem is None:
            applied["cgroups"] = True
        elif sandbox == "on":
            raise GradingError(f"--sandbox on, but no cgroups: {problem}")
        else:
            warnings.append(f"no cgroups ({problem}): the memory limit is per process (shared memory not "
                            "counted) and the number of processes a submission starts is not limited")
    else:
        warnings.append("--sandbox off: kernels run unisolated, with no limit on processes")
    if not applied["prlimit"]:
        warnings.append("prlimit (util-linux) is not installed: kernels run without per-process memory and CPU "
                        "limits")
    return applied, warnings


def grade_batch(course_dir: Path, assignment: str, submissions: Path, *, state_dir: Path | None = None,
                jobs: int = 1, limits: Limits | None = None, sandbox: str = "auto", progress=print) -> dict:
    """Grade every submission in ``submissions`` under ``limits``; return ``{student: summary}``."""
    limits = limits or Limits()
    limits.check()
    state = State(course_dir, state_dir)
    notebook = _course.notebook_name(state.course_dir, assignment)
    state.state_dir.mkdir(parents=True, exist_ok=True)
    from . import trusted  # noqa: F401  (imports torch once, before the workers fork)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        batch = Path(tmp)
        os.chmod(batch, 0o700)
        entries, warnings = collect(submissions, assignment, notebook, batch)
        for w in warnings:
            progress(f"warning: {w}")
        template = _course.generate_assignment(state.course_dir, assignment, batch / "template")
        _course.generate_assignment(state.course_dir, assignment, batch / "gradebook-sync", db=state.db_url)
        applied, missing = protections(sandbox)
        for w in missing:
            progress(f"warning: {w}")
        from ._kernel import warm_matplotlib_cache
        mpl_cache = None
        source_text = (state.course_dir / "source" / assignment / f"{notebook}.ipynb").read_text(errors="replace")
        if any(word in source_text for word in ("matplotlib", "course.viz", "plt.")):
            # a kernel would otherwise build matplotlib's font cache itself (seconds, on stderr)
            mpl_cache = batch / "mplcache"
            if not warm_matplotlib_cache(mpl_cache):
                mpl_cache = None

        specs = []
        for entry in entries:
            if entry.status is not None:
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
        guard = Guard(state, assignment, batch / "backup", sandboxed=applied["sandbox"])
        results = _run_workers(specs, jobs, limits, batch, progress)
        retry = [s for s in specs if results[s["student"]]["status"] == Status.ERROR]
        if retry:
            progress(f"retrying {len(retry)} submission(s) that failed for a reason that is not the student's")
            for s in retry:
                s["token"] = uuid.uuid4().hex
                shutil.rmtree(Path(s["workdir"]) / "course", ignore_errors=True)
            results.update(_run_workers(retry, jobs, limits, batch, progress))
        for message in guard.check_and_restore():
            progress(f"WARNING: {message}")
        summary = _merge(state, assignment, notebook, entries, results, missing)
    return summary


def _reason(result: dict) -> str:
    parts = [result.get("reason") or ""] + list(result.get("notes") or [])
    return "; ".join(p for p in parts if p)


def _merge(state: State, assignment: str, notebook: str, entries: list[Entry], results: dict,
           missing_protections: list[str]) -> dict:
    from nbgrader.api import Gradebook

    cells = _cell_table(state.db_url, assignment, notebook)
    max_total = sum(mx for _, mx, _ in cells)
    stored = state.load_results(assignment)
    stored["assignment"] = assignment
    stored["notebook"] = notebook
    stored["cells"] = [{"grade_id": g, "max_score": mx, "autograded": auto} for g, mx, auto in cells]
    stored["protections_missing"] = missing_protections
    students = stored.setdefault("students", {})
    summary = {}
    with _course.quiet_logs(), Gradebook(state.db_url, state.course_id) as gb:
        for entry in entries:
            sid = entry.student
            result = results.get(sid) or {"status": entry.status, "reason": entry.reason, "notes": entry.notes,
                                          "scores": {}, "comments": {}, "notebook": None}
            status, reason = Status(result["status"]), _reason(result)
            graded = result.get("notebook") is not None
            before_review = {}
            scores = {}
            folder = state.autograded(sid, assignment)
            if status != Status.INVALID_STUDENT_ID:
                shutil.rmtree(folder, ignore_errors=True)
                gb.update_or_create_student(sid)
                kwargs = {}
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
                             "scores": scores, "graded_notebook": graded}
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
