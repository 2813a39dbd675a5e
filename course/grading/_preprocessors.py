"""nbgrader preprocessors that close the holes where nbgrader's defaults lose grades or leak hidden tests.

Autograding (in each worker, configured by :mod:`course.grading._worker`):

- :class:`RestoreCellMetadata` (sanitising, before ``OverwriteCells``): every cell
  whose ``grade_id`` belongs to the assignment gets the instructor's nbgrader
  metadata back (grade/solution/locked/points), so a student who unticks
  "graded" or "read-only" on a test cell cannot turn it into an ungraded or
  editable cell; cells with unknown ids lose their nbgrader metadata.
- :class:`GuardedExecute` (replaces ``Execute``): per-cell timeout capped by the
  submission's deadline, a cap on output bytes while the kernel runs, and no
  lost grades when the kernel dies or ignores the interrupt: the cell gets an
  error, every later code cell gets a ``NotRun`` error (an unexecuted test cell
  has no output, which nbgrader scores as *full marks*), and the reason is
  recorded for the report.
- :class:`RecordingSaveAutoGrades` and :class:`CaptureNotebook` keep the scores
  and the graded notebook in the worker's memory, so the worker reports what it
  computed, not what is on disk.
- :class:`~course.grading.rubric.InsertRubric` (after the scores are saved):
  the model answer and rubric after each answer graded by hand, for the grader
  (plain ``nbgrader autograde`` gets it from ``assignments/nbgrader_config.py``).

The feedback preprocessors (hidden tests, inert student content, grading note)
are in :mod:`course.grading.feedback_filters`.
"""
from __future__ import annotations

import json
import os
import signal
import time
from typing import Any, TypedDict

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, SaveAutoGrades
from traitlets import Float, HasTraits, Instance, Integer, Unicode

from . import trusted
from ._nb import first_line, hidden_regions
from .rubric import InsertRubric  # noqa: F401  (an autograde preprocessor of the worker)

#: nbconvert's resources dict, passed along the preprocessors
Resources = dict[str, Any]


class Record(dict[str, Any]):
    """What the autograding preprocessors of one grading run found, for the worker to report.

    Keys: ``scores`` and ``comments`` (per grade cell), ``notebook`` (the graded
    notebook, as text), ``execution`` (how running it ended), ``restored`` and
    ``missing_answers``. The worker passes one in the configuration
    (``cfg.<Preprocessor>.record``); traitlets deep-copies configured values,
    so a Record copies as itself: every preprocessor of the run shares it.
    """

    def __init__(self) -> None:
        super().__init__(scores={}, comments={}, notebook=None, execution=None, restored=[], missing_answers=[])

    def __deepcopy__(self, memo: dict[int, object]) -> Record:
        return self


class Recording(HasTraits):
    """A preprocessor that writes what it finds into the run's :class:`Record`."""

    record = Instance(Record, args=()).tag(config=True)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


# ----------------------------------------------------------------------------- sanitising

class RestoreCellMetadata(NbGraderPreprocessor, Recording):
    """Give every cell with a known grade_id the instructor's nbgrader metadata."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        notebook_id = resources["nbgrader"]["notebook"]
        assignment_id = resources["nbgrader"]["assignment"]
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            source_nb = gb.find_notebook(notebook_id, assignment_id)
            self._source: dict[str, Any] = {c.name: c for c in source_nb.source_cells}  # nbgrader's SourceCell
            self._grade: dict[str, float] = {c.name: float(c.max_score) for c in source_nb.grade_cells}
            self._solution: set[str] = {c.name for c in source_nb.solution_cells}
            self._task: dict[str, float] = {c.name: float(c.max_score) for c in source_nb.task_cells}
            self._restored: list[str] = []
            nb, resources = super().preprocess(nb, resources)
            present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
            missing = [name for name in self._grade if name not in present]
            order = {c.name: i for i, c in enumerate(source_nb.source_cells)}
        self.record["restored"] = sorted(set(self._restored)) + [f"{name} (deleted)" for name in missing]
        self.record["missing_answers"] = sorted(
            (n for n in self._solution if n not in present and n not in self._grade), key=lambda n: order.get(n, 0))
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: Resources,
                        index: int) -> tuple[NotebookNode, Resources]:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            return cell, resources
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in self._source:
            del cell.metadata["nbgrader"]
            return cell, resources
        source = self._source[grade_id]
        new: dict[str, object] = {"schema_version": 3, "grade_id": grade_id,
                                  "grade": grade_id in self._grade, "solution": grade_id in self._solution,
                                  "locked": bool(source.locked)}
        if grade_id in self._grade:
            new["points"] = self._grade[grade_id]
        if grade_id in self._task:
            new["task"] = True
            new["points"] = self._task[grade_id]
        old = {k: meta.get(k) for k in new}
        if old != new:
            self._restored.append(f"{grade_id} (metadata)")
        cell.metadata["nbgrader"] = new
        if source.locked and grade_id in self._grade:
            released, _ = hidden_regions(source.source)
            if cell.source.strip() not in (source.source.strip(), released.strip()):
                self._restored.append(f"{grade_id} (edited)")
        return cell, resources


# ----------------------------------------------------------------------------- execution

def _is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell (its nbgrader metadata was restored from the gradebook)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _is_instructor_cell(cell: NotebookNode) -> bool:
    """A read-only instructor code cell that is not a test (the imports at the top, say)."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


class ExecutionReport(TypedDict):
    """How running a notebook ended (``Record["execution"]``); cells are 0-based indices."""

    timed_out: list[int]       # cells interrupted at the time limit
    truncated: list[int]       # cells whose output was cut at the output cap
    stopped: str | None        # why the run stopped early: deadline, dead, unresponsive, kernel_failed, grader_error
    stopped_cell: int | None   # the cell it stopped at
    exit: int | None           # the kernel's exit status when it died (negative: the signal)
    kernel_error: str | None   # the exception, for kernel_failed and grader_error
    setup_errors: list[str]    # read-only instructor cells that failed in the grader


class GuardedExecute(Execute, Recording):
    """nbgrader's Execute with a deadline, an output cap and no silent full marks."""

    deadline = Float(0.0, help="time.monotonic() after which no cell may run (0: none)").tag(config=True)
    max_output_bytes = Integer(2**20, help="output bytes kept per cell").tag(config=True)
    max_total_output_bytes = Integer(8 * 2**20, help="output bytes kept per notebook").tag(config=True)
    memory_cgroup = Unicode("", help="the submission's memory cgroup folder ('' without cgroups)").tag(config=True)
    setup_timeout = Integer(120, help="timeout of the instructor's read-only cells that are not tests "
                                      "(imports: slow on a loaded machine, and never student code)").tag(config=True)

    def _reset_report(self) -> None:
        self._report: ExecutionReport = {"timed_out": [], "truncated": [], "stopped": None, "stopped_cell": None,
                                         "exit": None, "kernel_error": None, "setup_errors": []}
        self._bytes_total = 0
        self._bytes_cell: dict[int, int] = {}
        self._stderr_dropped: set[int] = set()
        self._current: int | None = None
        self._trusted: trusted.TrustedRunner | None = None
        self._test_count = 0
        self._memory_stall = False

    def preprocess(self, nb: NotebookNode, resources: Resources | None = None,
                   km: Any = None) -> tuple[NotebookNode, Resources]:
        from nbclient.client import NotebookClient

        self._reset_report()
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        started = False
        try:
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                if info is not None:
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                started = True
                self._run_cells(resources)
        except Exception as exc:  # the kernel could not be started, or the grader failed
            if self._report["stopped"] is None:
                self._report["stopped"] = "grader_error" if started else "kernel_failed"
                self._report["kernel_error"] = f"{exc.__class__.__name__}: {exc}"[:500]
                self._report["stopped_cell"] = self._current
                self._not_run(self._current or 0, "the grader failed" if started else
                              "the grading kernel could not be started")
        finally:
            if self._trusted is not None:
                self._trusted.channel.close_channels()
        self.record["execution"] = self._report
        return self.nb, self.resources

    def _code_cells_from(self, start: int) -> list[int]:
        return [i for i, c in enumerate(self.nb.cells) if i >= start and c.cell_type == "code" and c.source.strip()]

    def _not_run(self, start: int, why: str) -> None:
        for i in self._code_cells_from(start):
            self.nb.cells[i].outputs = [_error("NotRun", f"this cell was not run: {why}")]

    def _run_cells(self, resources: Resources | None) -> None:
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if self.deadline and time.monotonic() >= self.deadline:
                self._report["stopped"] = "deadline"
                self._report["stopped_cell"] = index
                self._not_run(index, "the submission ran out of time")
                return
            self._current = index
            try:
                if _is_test_cell(cell):
                    self._run_test_cell(cell, index)
                else:
                    self.preprocess_cell(cell, resources, index)
                    if _is_instructor_cell(cell):
                        self._run_in_grader(cell, index)
            except (DeadKernelError, trusted.KernelDied):
                self._report["stopped"] = "dead"
                self._report["stopped_cell"] = index
                # stalled at the memory limit: the grader killed it (see _async_handle_timeout)
                self._report["exit"] = -signal.SIGKILL if self._memory_stall else self._exit_status()
                cell.outputs.append(_error("KernelDied", "the kernel died while running this cell"
                                           + self._exit_text()))
                self._not_run(index + 1, "the kernel died in an earlier cell")
                self.shutdown_kernel = "immediate"
                return
            except (CellTimeoutError, trusted.KernelUnresponsive):
                # the interrupt was ignored (or the kernel is stuck in C code)
                self._report["stopped"] = "unresponsive"
                self._report["stopped_cell"] = index
                if index not in self._report["timed_out"]:
                    self._report["timed_out"].append(index)
                cell.outputs.append(_error("CellTimeoutError", "the cell did not stop when interrupted "
                                           "after the time limit; the kernel was killed"))
                self._not_run(index + 1, "the kernel was killed after an earlier cell timed out")
                self.shutdown_kernel = "immediate"
                return

    # -- test cells run here, the student's functions in the kernel ---------------------------
    def _runner(self) -> trusted.TrustedRunner:
        if self._trusted is None:
            from jupyter_core.utils import run_sync
            channel = trusted.KernelChannel(self.km.get_connection_info(), alive=run_sync(self.km.is_alive),
                                            interrupt=run_sync(self.km.interrupt_kernel),
                                            socket_dir=os.path.dirname(self.km.connection_file))
            self._trusted = trusted.TrustedRunner(channel)
        return self._trusted

    def _run_in_grader(self, cell: NotebookNode, index: int) -> None:
        """A read-only instructor cell (imports, helpers) runs in the grader's namespace too."""
        problem = self._runner().run_setup(cell.source)
        if problem is not None:
            self._report["setup_errors"].append(f"{describe_cell(self.nb, index)}: {problem}")

    def _run_test_cell(self, cell: NotebookNode, index: int) -> None:
        """Run a test cell in the grader; its outputs (and so its score) come from there."""
        self._test_count += 1
        result = self._runner().run_test(cell.source, timeout=self._get_timeout(cell) or 60,
                                         count=self._test_count)
        cell.outputs = result.outputs
        cell.execution_count = None
        if result.timed_out and index not in self._report["timed_out"]:
            self._report["timed_out"].append(index)
        if result.truncated and index not in self._report["truncated"]:
            self._report["truncated"].append(index)

    def _exit_status(self) -> int | None:
        try:
            proc = self.km.provisioner.process
            return proc.poll() if proc is not None else None
        except Exception:
            return None

    def _exit_text(self) -> str:
        return exit_text(self._report.get("exit"))

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        timeout = super()._get_timeout(cell)
        meta = cell.metadata.get("nbgrader", {}) if cell is not None else {}
        if timeout is not None and meta.get("locked") and not meta.get("grade") and not meta.get("solution"):
            # read-only instructor cell (restored from the gradebook if edited), e.g. the imports
            timeout = max(timeout, self.setup_timeout)
        if self.deadline:
            remaining = max(1, int(self.deadline - time.monotonic()) + 1)
            timeout = remaining if timeout is None else min(timeout, remaining)
        return timeout

    def _memory_limit_reached(self) -> bool:
        """Whether the submission's cgroup has hit its memory limit (its failure counter moved)."""
        if not self.memory_cgroup:
            return False
        for name in ("memory.failcnt", "memory.memsw.failcnt"):
            try:
                if int(open(os.path.join(self.memory_cgroup, name)).read()) > 0:
                    return True
            except (OSError, ValueError):
                pass
        return False

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> dict[str, Any] | None:
        if self._memory_limit_reached():
            # A kernel at its memory limit thrashes (the kernel evicts its code pages and reads
            # them back) until the OOM killer acts or the cell times out, whichever comes first
            # on a loaded machine. Both end the same way here, so the grade does not depend on it.
            self._memory_stall = True
            await self.km.shutdown_kernel(now=True)
            raise DeadKernelError("the cell reached the memory limit and stalled")
        if self._current is not None and self._current not in self._report["timed_out"]:
            self._report["timed_out"].append(self._current)
        return await super()._async_handle_timeout(timeout, cell)

    # -- output cap ------------------------------------------------------------------
    @staticmethod
    def _size(content: object) -> int:
        try:
            return len(json.dumps(content, default=str))
        except (TypeError, ValueError, RecursionError):
            return 2**31

    def _mark_truncated(self, outs: list[NotebookNode], cell_index: int) -> None:
        if cell_index not in self._report["truncated"]:
            self._report["truncated"].append(cell_index)
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n[output truncated by the grader: more than "
                                          f"{self.max_output_bytes // 1024} KB in this cell or "
                                          f"{self.max_total_output_bytes // 2**20} MB in the notebook]\n"))

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        size = self._size(msg.get("content"))
        used = self._bytes_cell.get(cell_index, 0)
        if used + size <= self.max_output_bytes and self._bytes_total + size <= self.max_total_output_bytes:
            self._bytes_cell[cell_index] = used + size
            self._bytes_total += size
            return super().output(outs, msg, display_id, cell_index)
        # over the cap: errors and results still decide the score, so keep them, shortened
        self._mark_truncated(outs, cell_index)
        content, msg_type = msg.get("content", {}), msg.get("msg_type")
        if msg_type == "error":
            out = NotebookNode(output_type="error", ename=str(content.get("ename", ""))[:200],
                               evalue=str(content.get("evalue", ""))[:2000],
                               traceback=[str(line)[:2000] for line in content.get("traceback", [])[:60]])
        elif msg_type == "execute_result":
            text = content.get("data", {}).get("text/plain", "")
            out = NotebookNode(output_type="execute_result", execution_count=content.get("execution_count"),
                               metadata={}, data={"text/plain": text[:2000] if isinstance(text, str) else ""})
        elif msg_type == "stream" and content.get("name") == "stderr" and cell_index not in self._stderr_dropped:
            # nbgrader scores a test cell that wrote to stderr as failed: keep that fact
            self._stderr_dropped.add(cell_index)
            out = NotebookNode(output_type="stream", name="stderr", text="[stderr output truncated]\n")
        else:
            return None
        outs.append(out)
        return out

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        if self._size(msg.get("content")) > self.max_output_bytes:
            return
        super()._update_display_id(display_id, msg)


# ----------------------------------------------------------------------------- recording

class RecordingSaveAutoGrades(SaveAutoGrades, Recording):
    """SaveAutoGrades that also keeps the scores in the worker's memory."""

    def _add_score(self, cell: NotebookNode, resources: Resources) -> None:
        super()._add_score(cell, resources)
        score, max_points = utils.determine_grade(cell, self.log)
        self.record["scores"][cell.metadata["nbgrader"]["grade_id"]] = {"score": score, "max": max_points}

    def _add_comment(self, cell: NotebookNode, resources: Resources) -> None:
        super()._add_comment(cell, resources)
        if cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) and not utils.is_task(cell):
            self.record["comments"][cell.metadata["nbgrader"]["grade_id"]] = "No response."


class CaptureNotebook(NbGraderPreprocessor, Recording):
    """Keep the graded notebook in memory (last autograde preprocessor)."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        from nbformat import writes
        self.record["notebook"] = writes(nb)
        return nb, resources


# ----------------------------------------------------------------------------- describing cells

def describe_cell(nb: NotebookNode, index: int | None) -> str:
    """How reasons and notes name cell ``index`` of ``nb``: its number, grade_id and first line."""
    if index is None or index >= len(nb.cells):
        return "a cell"
    cell = nb.cells[index]
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    label = f"cell {index + 1}"
    if grade_id:
        label += f" ({grade_id})"
    line = first_line(cell.source)
    return f"{label} `{line}`" if line else label


def exit_text(code: int | None) -> str:
    """How a process ended, for a reason: "" for a normal exit, else the code or signal with a hint."""
    if code is None or code == 0:
        return ""
    if code > 0:
        return f" (exit code {code})"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f" (signal {-code})"
    hint = {"SIGKILL": "killed, possibly by the memory limit", "SIGXCPU": "CPU time limit",
            "SIGSEGV": "segmentation fault", "SIGABRT": "aborted, possibly out of memory"}.get(name)
    return f" ({name}: {hint})" if hint else f" ({name})"
