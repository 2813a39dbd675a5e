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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import _course
from ._course import STUDENT_ID, GradingError, load_config

JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints"}
MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_MEMBERS = 20000


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


# ----------------------------------------------------------------------------- collection

@dataclass
class Entry:
    student: str
    path: Path | None = None
    status: str | None = None
    reason: str = ""
    notes: list = field(default_factory=list)
    wrong_filename: bool = False
    timestamp: str | None = None


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip without path traversal, links, or zip bombs."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise GradingError(f"{archive} is not a valid zip file: {exc}") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise GradingError(f"{archive} holds {len(members)} files, more than {MAX_ZIP_MEMBERS}")
        total = 0
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                continue  # path traversal: skipped
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                continue  # symbolic link: skipped
            target = dest.joinpath(*parts) if parts else dest
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(2**20):
                    total += len(chunk)
                    if total > MAX_ZIP_BYTES:
                        raise GradingError(f"{archive} unpacks to more than {MAX_ZIP_BYTES // 2**30} GB")
                    out.write(chunk)


def _visible(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.name not in JUNK and not p.name.startswith("."))


def _is_student_dir(path: Path, assignment: str) -> bool:
    return (path / assignment).is_dir() or any(p.suffix == ".ipynb" for p in _visible(path) if p.is_file())


def _submissions_root(root: Path, assignment: str) -> Path:
    """Descend through wrapper folders (``submitted/``, a zip's top folder)."""
    for _ in range(4):
        entries = _visible(root)
        dirs = [p for p in entries if p.is_dir()]
        files = [p for p in entries if p.is_file()]
        if len(dirs) == 1 and not files and not _is_student_dir(dirs[0], assignment):
            root = dirs[0]
        else:
            break
    return root


def collect(submissions: Path, assignment: str, notebook: str, scratch: Path) -> tuple[list[Entry], list[str]]:
    """Find every student's notebook. Returns (entries sorted by student, warnings)."""
    submissions = Path(submissions)
    warnings: list[str] = []
    if not submissions.exists():
        raise GradingError(f"no such submissions folder or zip: {submissions}")
    if submissions.is_file():
        if not zipfile.is_zipfile(submissions):
            raise GradingError(f"{submissions} is neither a folder nor a zip file")
        extracted = scratch / "extracted"
        extracted.mkdir(parents=True)
        _safe_extract(submissions, extracted)
        submissions = extracted
    root = _submissions_root(submissions, assignment)
    expected = f"{notebook}.ipynb"
    entries = []
    for folder in _visible(root):
        if not folder.is_dir():
            if folder.suffix == ".ipynb":
                warnings.append(f"ignored {folder.name}: notebooks must be inside a folder named after the student")
            continue
        student = folder.name
        if folder.is_symlink():
            warnings.append(f"ignored {folder.name}: a symbolic link, not a folder")
            continue
        entry = Entry(student)
        if not STUDENT_ID.match(student):
            entry.status = "invalid_student_id"
            entry.reason = ("the folder name is not a valid student id (letters, digits and _ . @ + - only); "
                            "not graded")
            entries.append(entry)
            continue
        where = folder / assignment if (folder / assignment).is_dir() else folder
        stamp = where / "timestamp.txt"
        if stamp.is_file():
            entry.timestamp = stamp.read_text(errors="replace").strip()[:64] or None
        # symbolic links are never followed (one could point at another student's work)
        notebooks = sorted(p for p in where.rglob("*.ipynb")
                           if p.is_file() and not p.is_symlink()
                           and not any(part in JUNK or part.startswith(".") for part in p.relative_to(where).parts))
        if (where / expected).is_file() and not (where / expected).is_symlink():
            entry.path = where / expected
        elif len(notebooks) == 1:
            entry.path = notebooks[0]
            entry.wrong_filename = True
            entry.notes.append(f"the notebook was named {notebooks[0].relative_to(where)} instead of "
                               f"{expected}; it was graded anyway")
        elif notebooks:
            entry.status = "wrong_filename"
            names = ", ".join(str(p.relative_to(where)) for p in notebooks[:5])
            entry.reason = f"no notebook named {expected}, and several others ({names}): not graded"
        else:
            entry.status = "missing_notebook"
            found = ", ".join(p.name for p in _visible(where)[:5]) or "nothing"
            entry.reason = f"no notebook in the submission (expected {expected}; found {found})"
        entries.append(entry)
    if not entries:
        warnings.append(f"no student folders found in {submissions}")
    return entries, warnings


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
        result = {"student": spec["student"], "status": "error", "reason": f"worker failed: {exc!r}",
                  "notes": [], "scores": {}, "comments": {}, "notebook": None}
    try:
        conn.send(result)
        conn.close()
    finally:
        os._exit(0)


def _run_workers(specs: list[dict], jobs: int, submission_timeout: float, batch: Path, progress) -> dict:
    ctx = multiprocessing.get_context("fork")
    pending = list(specs)
    running: dict = {}
    results: dict = {}
    total = len(specs)
    try:
        _schedule(ctx, pending, running, results, total, jobs, submission_timeout, batch, progress)
    finally:
        from ._procs import kill_tree
        for pid, item in running.items():  # interrupted: leave nothing behind
            kill_tree(pid, item["spec"]["token"])
            item["proc"].join(timeout=5)
    return results


def _schedule(ctx, pending, running, results, total, jobs, submission_timeout, batch, progress):
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
            proc = ctx.Process(target=_child, args=(child_conn, spec, str(log)), daemon=False)
            proc.start()
            child_conn.close()
            running[proc.pid] = {"proc": proc, "conn": parent_conn, "spec": spec, "start": start, "result": None}
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
                item["result"] = {"student": spec["student"], "status": "timeout",
                                  "reason": f"grading did not finish within the {submission_timeout:g} s limit "
                                            "per submission; the kernel and every process it started were killed",
                                  "notes": list(spec.get("notes", [])), "scores": {}, "comments": {},
                                  "notebook": None}
                done = True
            if done:
                from ._procs import kill_tree
                proc.join(timeout=5)
                kill_tree(pid, spec["token"])  # whatever the kernel left behind
                proc.join(timeout=5)
                conn.close()
                result = item["result"]
                if result is None:
                    log = batch / "logs" / f"{spec['student']}.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    result = {"student": spec["student"], "status": "error",
                              "reason": f"the grading worker died (exit code {proc.exitcode})",
                              "notes": list(spec.get("notes", [])), "scores": {}, "comments": {},
                              "notebook": None, "log": tail}
                result["seconds"] = round(time.monotonic() - item["start"], 1)
                results[spec["student"]] = result
                del running[pid]
                if progress:
                    progress(f"[{len(results)}/{total}] {spec['student']}: {result['status']} "
                             f"({result['seconds']:.1f} s)")


# ----------------------------------------------------------------------------- batch

def _cell_table(url: str, assignment: str, notebook: str):
    return _course.gradebook_cells(url, assignment, notebook)


def grade_batch(course_dir: Path, assignment: str, submissions: Path, *, state_dir: Path | None = None,
                jobs: int = 1, cell_timeout: float = 30, submission_timeout: float = 300,
                memory_mb: int = 2048, sandbox: str = "auto", progress=print) -> dict:
    """Grade every submission in ``submissions``; return ``{student: summary}``."""
    state = State(course_dir, state_dir)
    notebook = _course.notebook_name(state.course_dir, assignment)
    state.state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        batch = Path(tmp)
        os.chmod(batch, 0o700)
        entries, warnings = collect(submissions, assignment, notebook, batch)
        for w in warnings:
            progress(f"warning: {w}")
        template = _course.generate_assignment(state.course_dir, assignment, batch / "template")
        _course.generate_assignment(state.course_dir, assignment, batch / "gradebook-sync", db=state.db_url)

        hide = [str(state.state_dir / d) for d in ("submitted", "autograded", "feedback", "grading")]
        db_file = _course.sqlite_path(state.db_url)
        if db_file is not None:
            hide.append(str(db_file))
        hide += [str(batch), str(Path(submissions).resolve())]
        use_sandbox = False
        if sandbox in ("auto", "on"):
            from ._kernel import sandbox_problem
            problem = sandbox_problem()
            if problem is None:
                use_sandbox = True
            elif sandbox == "on":
                raise GradingError(f"--sandbox on, but {problem}")
            else:
                progress(f"warning: no sandbox ({problem}); submissions can write wherever this user can. "
                         "The gradebook and grading results are checked and restored after the batch.")
        if not shutil.which("prlimit"):
            progress("warning: prlimit (util-linux) is not installed: kernels run without memory and CPU limits")
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
                "incoming": str(incoming), "cell_timeout": cell_timeout,
                "submission_timeout": submission_timeout, "memory_mb": memory_mb,
                "cpu_seconds": int(submission_timeout) + 30, "sandbox": use_sandbox, "hide": hide,
                "token": uuid.uuid4().hex, "notes": list(entry.notes), "wrong_filename": entry.wrong_filename,
                "mpl_cache": str(mpl_cache) if mpl_cache else None,
            })
        guard = Guard(state, assignment, batch / "backup", sandboxed=use_sandbox)
        results = _run_workers(specs, jobs, submission_timeout, batch, progress)
        retry = [s for s in specs if results[s["student"]]["status"] == "error"]
        if retry:
            progress(f"retrying {len(retry)} submission(s) that failed for a reason that is not the student's")
            for s in retry:
                s["token"] = uuid.uuid4().hex
                shutil.rmtree(Path(s["workdir"]) / "course", ignore_errors=True)
            results.update(_run_workers(retry, jobs, submission_timeout, batch, progress))
        for message in guard.check_and_restore():
            progress(f"WARNING: {message}")
        summary = _merge(state, assignment, notebook, entries, results)
    return summary


def _reason(result: dict) -> str:
    parts = [result.get("reason") or ""] + list(result.get("notes") or [])
    return "; ".join(p for p in parts if p)


def _merge(state: State, assignment: str, notebook: str, entries: list[Entry], results: dict) -> dict:
    from nbgrader.api import Gradebook

    cells = _cell_table(state.db_url, assignment, notebook)
    max_total = sum(mx for _, mx, _ in cells)
    stored = state.load_results(assignment)
    stored["assignment"] = assignment
    stored["notebook"] = notebook
    stored["cells"] = [{"grade_id": g, "max_score": mx, "autograded": auto} for g, mx, auto in cells]
    students = stored.setdefault("students", {})
    summary = {}
    with _course.quiet_logs(), Gradebook(state.db_url, state.course_id) as gb:
        for entry in entries:
            sid = entry.student
            result = results.get(sid) or {"status": entry.status, "reason": entry.reason, "notes": entry.notes,
                                          "scores": {}, "comments": {}, "notebook": None}
            status, reason = result["status"], _reason(result)
            graded = result.get("notebook") is not None
            scores = {}
            folder = state.autograded(sid, assignment)
            if status != "invalid_student_id":
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
                        grade.auto_score = value
                        grade.needs_manual_grade = grade.manual_score is not None or value is None
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
            summary[sid] = dict(students[sid], seconds=result.get("seconds"))
    stored["students"] = dict(sorted(students.items()))
    path = state.results_path(assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return summary
