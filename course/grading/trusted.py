"""Run test cells in the grader's own process; only the student's functions run in the kernel.

Anything that runs inside a student's kernel can be rewritten by the student's
code: IPython's input and AST transformers, ``run_cell``, an import hook that
serves fake checks, a patched ``check_equal``. So the autograder never sends
a test cell to the kernel. It executes the test cell's code (restored from
the gradebook: the instructor's code) here, in a namespace of its own, where
every name the student defines is a :class:`RemoteFunction` (or a value
fetched from the kernel). Calling it sends the arguments to the kernel, runs
the student's function there (under the anti-reference guard when the test
asks for it) and brings the result back as data (:mod:`course.grading.wire`).
The reference values and every comparison are computed here, where the
student's code never runs; a kernel can only answer calls, and a wrong or
missing answer fails the test.

The line to the kernel (:class:`KernelChannel`) is one execute request per
test cell running :func:`course.grading.kernel_server.serve`, which connects
to a Unix socket the grader listens on and answers requests there. A call
costs about 0.1 ms.

For assignment authors: a test cell is plain Python (no ``%magic``) run in
the grader, after the read-only instructor cells (the imports) ran there too.
It reads the student's globals by name; values that are not data (a model, a
generator) stay in the kernel and are used through a reference (call it, read
its attributes, iterate it). What the test prints is shown; what it
displays (figures) is not. The selftest (``course-admin selftest``) is how
you check that a new assignment grades as intended this way.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import os
import queue
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from nbformat.notebooknode import NotebookNode

from . import wire
from ._nb import STUDENT_TRACEBACK
from .kernel_server import END, receive_message, send_message

if TYPE_CHECKING:
    from jupyter_client.connect import KernelConnectionInfo

    from .guard import Forbidden

#: output kept from the student's code during one test cell (bytes)
MAX_STREAM_BYTES = 256 * 1024


class KernelDied(Exception):
    """The kernel died while answering."""


class KernelUnresponsive(Exception):
    """The kernel ignored the interrupt sent at the time limit."""


class CallTimeout(TimeoutError):
    """A call did not finish within the test cell's time limit (the kernel was interrupted)."""


class KernelStopped(RuntimeError):
    """The kernel stopped answering calls (its code replaced the grader's loop, or raised)."""


@dataclass
class Streams:
    """What the student's code printed while the grader called it."""

    text: list[str] = field(default_factory=list)
    size: int = 0
    truncated: bool = False

    def add(self, text: str) -> None:
        """Keep ``text``, up to ``MAX_STREAM_BYTES`` in all (then mark the streams truncated)."""
        if self.size + len(text) > MAX_STREAM_BYTES:
            text = text[: max(0, MAX_STREAM_BYTES - self.size)]
            self.truncated = True
        self.size += len(text)
        if text:
            self.text.append(text)


class KernelChannel:
    """Request/reply calls into a running kernel, over a Unix socket in its runtime folder.

    ``alive()`` and ``interrupt()`` come from the kernel manager. Every wait is
    bounded by a deadline (``time.monotonic()``).
    """

    def __init__(self, connection_info: KernelConnectionInfo, alive: Callable[[], bool],
                 interrupt: Callable[[], object], socket_dir: str) -> None:
        import zmq
        from jupyter_client import BlockingKernelClient

        self._alive, self._interrupt = alive, interrupt
        self.kc = BlockingKernelClient()
        self.kc.load_connection_info(connection_info)
        self.kc.start_channels()
        for channel in (self.kc.shell_channel, self.kc.iopub_channel):
            channel.socket.setsockopt(zmq.MAXMSGSIZE, wire.MAX_REPLY_BYTES + 2**20)
        self.path = os.path.join(socket_dir, f"grader-{uuid.uuid4().hex[:12]}.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.conn: socket.socket | None = None
        self.msg_id: str | None = None
        self.streams = Streams()

    def close_channels(self) -> None:
        """Close the socket and the kernel's channels; errors are ignored."""
        for closable in (self.conn, self.listener):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()
        with contextlib.suppress(Exception):
            self.kc.stop_channels()

    # -- one serving session per test cell -------------------------------------------
    def open(self, deadline: float) -> None:
        """Start the kernel's answering loop and accept its connection."""
        self.streams = Streams()
        code = (f"import course.grading.kernel_server as _course_kernel_server; "
                f"_course_kernel_server.serve({self.path!r})")
        self.msg_id = self.kc.execute(code, silent=False, store_history=False, allow_stdin=False)
        self._wait_readable(self.listener, deadline)
        self.conn, _ = self.listener.accept()
        if self._receive(self.conn, deadline) != {"ready": True}:
            raise KernelStopped("the kernel did not start answering the grader's calls")

    def call(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request; return the reply data (``{"ok": ...}`` or ``{"error": ...}``)."""
        conn = self.conn
        if conn is None:
            raise KernelStopped("the kernel stopped answering the grader's calls earlier in this cell")
        try:
            send_message(conn, request)
        except OSError:
            self._lost()
        reply = self._receive(conn, deadline)
        if not isinstance(reply, dict) or not ({"ok", "error"} & set(reply)):
            raise KernelStopped("the kernel sent a malformed answer")
        return reply

    def close(self, deadline: float) -> None:
        """Stop the answering loop, wait for the end of its execute request, keep what it printed."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                send_message(self.conn, END)
            self.conn.close()
            self.conn = None
        if self.msg_id is not None:
            self._wait_reply(self.msg_id, deadline)
            self.msg_id = None

    # -- waiting -------------------------------------------------------------------------
    def _receive(self, conn: socket.socket, deadline: float) -> Any:
        """The next message on ``conn`` (the open connection), as ``json.loads`` gives it."""
        self._wait_readable(conn, deadline)
        # a kernel that sends half a message and stalls must not hold the grader past the deadline
        conn.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            return receive_message(conn)
        except socket.timeout:
            self._on_timeout()
        except (EOFError, OSError):
            self._lost()

    def _lost(self) -> NoReturn:
        """The connection broke: the kernel died, or its code stopped the loop."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if not self._alive():
            self.msg_id = None
            raise KernelDied("the kernel died while the grader was calling it")
        raise KernelStopped("the kernel stopped answering the grader's calls")

    def _wait_readable(self, sock: socket.socket, deadline: float) -> None:
        """Wait until ``sock`` can be read, the serving request ends, or the deadline."""
        import zmq
        poller = zmq.Poller()
        poller.register(sock.fileno(), zmq.POLLIN)
        poller.register(self.kc.shell_channel.socket, zmq.POLLIN)
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._on_timeout()
            ready = dict(poller.poll(int(max(1, min(deadline - now, 0.5) * 1000))))
            if sock.fileno() in ready:
                return
            if self.kc.shell_channel.socket in ready:
                msg = self.kc.shell_channel.get_msg(timeout=0)
                serving = self.msg_id
                if serving is not None and msg.get("parent_header", {}).get("msg_id") == serving \
                        and msg["msg_type"] == "execute_reply":
                    self._drain_iopub(serving)
                    self.msg_id = None
                    content = msg.get("content", {})
                    why = f"{content.get('ename', '')}: {content.get('evalue', '')}".strip(": ")
                    raise KernelStopped("the kernel stopped answering the grader's calls"
                                        + (f" ({why[:300]})" if why else ""))
            elif not ready and not self._alive():
                self.msg_id = None
                raise KernelDied("the kernel died while the grader was calling it")

    def _wait_reply(self, msg_id: str, deadline: float) -> bool:
        """Wait for the execute reply to ``msg_id``; then collect its output. False at the deadline."""
        while time.monotonic() < deadline:
            try:
                msg = self.kc.shell_channel.get_msg(timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                if not self._alive():
                    raise KernelDied("the kernel died while the grader was calling it") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                self._drain_iopub(msg_id)
                return True
        return False

    def _on_timeout(self) -> NoReturn:
        """Interrupt the kernel; if its loop does not end within 5 s, it is unresponsive."""
        msg_id, self.msg_id = self.msg_id, None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self._interrupt()
        if msg_id is not None and self._wait_reply(msg_id, time.monotonic() + 5):
            raise CallTimeout("the call was still running at the cell time limit and was interrupted")
        raise KernelUnresponsive("the kernel did not stop when interrupted at the cell time limit")

    def _drain_iopub(self, msg_id: str) -> None:
        """Keep what the student's code printed during the request (until the kernel is idle)."""
        end = time.monotonic() + 2
        while time.monotonic() < end:
            try:
                msg = self.kc.iopub_channel.get_msg(timeout=0.2)
            except queue.Empty:
                return
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                self.streams.add(str(msg["content"].get("text", "")))
            elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                return


# ----------------------------------------------------------------------------- proxies

def _rebuild_exception(error: dict[str, Any]) -> BaseException:
    """The student's exception, as an exception of the grader's (builtin types keep their type)."""
    name = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    kind = getattr(builtins, name, None)
    if name in ("NotYourOwnCode", "CheckFailure"):
        checks = sys.modules.get("course.grading.checks")
        if checks is None:
            from . import checks
        kind = getattr(checks, name)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = type(name, (Exception,), {})  # the student's own class, by name
    try:
        exc = kind(message)
    except Exception:
        exc = type(name, (Exception,), {})(message)
    exc.student_traceback = str(error.get("traceback", ""))[-4000:]
    return exc


class _Remote:
    """Base of the stand-ins for the kernel's objects."""

    _runner: TrustedRunner

    def __init__(self, runner: TrustedRunner) -> None:
        object.__setattr__(self, "_runner", runner)

    def _request(self, request: dict[str, Any]) -> Any:
        return self._runner.request(request)


class RemoteFunction(_Remote):
    """A global of the notebook that is callable: calling it calls it in the kernel, by name."""

    _name: str
    _rules: list[str] | None

    def __init__(self, runner: TrustedRunner, name: str, rules: list[str] | None = None) -> None:
        super().__init__(runner)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_rules", rules)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        """Call the function in the kernel with ``args`` and ``kwargs``; returns its decoded result."""
        return self._request({"op": "call", "target": {"name": self._name}, "rules": self._rules,
                              "args": self._runner.encode(list(args)), "kwargs": self._runner.encode(kwargs)})

    def __course_remote__(self, name: str, forbidden: Forbidden) -> RemoteFunction:
        """The guard's ``student_function`` for a remote function: checked and guarded in the kernel."""
        from . import guard as fresh_guard
        guard = sys.modules.get("course.grading.guard", fresh_guard)
        names = {id(value): key for key, value in vars(guard).items() if isinstance(value, guard.Rule)}
        rules = [names[id(rule)] for rule in guard._with_course(forbidden)]
        self._request({"op": "guard", "name": self._name, "rules": rules})
        return RemoteFunction(self._runner, self._name, rules)

    def __repr__(self) -> str:
        return f"<your function {self._name}>"


class RemoteObject(_Remote):
    """Any other object of the kernel's (a module instance, a generator...), by reference."""

    _ref: int
    _type: str

    def __init__(self, runner: TrustedRunner, ref: int, type_name: str) -> None:
        super().__init__(runner)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_name)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        """Call the object in the kernel with ``args`` and ``kwargs``; returns its decoded result."""
        return self._request({"op": "call", "target": {"ref": self._ref}, "args": self._runner.encode(list(args)),
                              "kwargs": self._runner.encode(kwargs)})

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self._request({"op": "getattr", "ref": self._ref, "attr": attr})

    def __iter__(self) -> Iterator[Any]:
        return iter(self._request({"op": "list", "ref": self._ref}))

    def __repr__(self) -> str:
        return self._request({"op": "repr", "ref": self._ref})


# ----------------------------------------------------------------------------- running a test cell

@dataclass
class CellResult:
    """What running one test cell gave: notebook outputs and how it ended."""

    outputs: list[NotebookNode]
    timed_out: bool = False
    truncated: bool = False


def _error_output(ename: str, evalue: str, traceback_lines: list[str]) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=traceback_lines)


class TrustedRunner:
    """The grader-side namespace in which test cells run, and their line to the kernel."""

    def __init__(self, channel: KernelChannel) -> None:
        self.channel = channel
        self.namespace: dict[str, Any] = {"__name__": "__grader__", "__builtins__": builtins}
        self._remote_names: set[str] = set()
        self._deadline = 0.0
        self.calls = 0

    # -- plumbing used by the proxies ---------------------------------------------------------
    def encode(self, value: object) -> wire.JSON:
        """``value`` for the wire, kernel objects by reference."""
        def refer(obj: object) -> int:
            if isinstance(obj, RemoteObject):
                return obj._ref
            raise wire.WireError(f"a {type(obj).__name__} cannot be sent to the student's kernel")
        return wire.encode(value, refer)

    def request(self, request: dict[str, Any]) -> Any:
        """Send one request to the kernel; returns the decoded reply, or raises the kernel's exception."""
        self.calls += 1
        reply = self.channel.call(request, self._deadline)
        if "error" in reply:
            raise _rebuild_exception(reply["error"] if isinstance(reply["error"], dict) else {})
        return wire.decode(reply["ok"], resolve=lambda ref, kind: RemoteObject(self, ref, kind))

    # -- instructor code --------------------------------------------------------------------
    def run_setup(self, source: str) -> str | None:
        """Run a read-only instructor cell (imports, helpers) here too; return the error, if any."""
        try:
            with contextlib.redirect_stdout(io.StringIO()), _fresh_grading_modules():
                exec(compile(source, "<setup cell>", "exec"), self.namespace)
        except BaseException as exc:
            return f"{exc.__class__.__name__}: {exc}"
        return None

    def run_test(self, source: str, timeout: float, count: int) -> CellResult:
        """Run one test cell within ``timeout`` seconds; its outputs decide its score."""
        self._deadline = time.monotonic() + timeout
        filename = f"<test cell {uuid.uuid4().hex[:8]}>"
        printed = io.StringIO()
        error: BaseException | None = None
        timed_out = False
        last: ast.Expr | None = None
        value: object = None
        try:
            self.channel.open(self._deadline)
            tree = ast.parse(source, filename)
            self._bind_student_names(source)
            final = tree.body[-1] if tree.body else None
            if isinstance(final, ast.Expr):  # the cell's value is that of its last line, as in Jupyter
                last = final
                tree.body.pop()
            with contextlib.redirect_stdout(printed), _fresh_grading_modules():
                exec(compile(tree, filename, "exec"), self.namespace)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), filename, "eval"), self.namespace)
        except (KernelDied, KernelUnresponsive):
            raise
        except CallTimeout as exc:
            timed_out = True
            error = exc
        except BaseException as exc:  # a failing test
            error = exc
        else:
            error = None
        self.channel.close(max(self._deadline, time.monotonic() + 5))
        outputs: list[NotebookNode] = []
        streams = self.channel.streams
        if streams.text:
            text = "".join(streams.text) + ("\n[output truncated by the grader]\n" if streams.truncated else "")
            outputs.append(NotebookNode(output_type="stream", name="stdout", text=text))
        if printed.getvalue():
            outputs.append(NotebookNode(output_type="stream", name="stdout",
                                        text=printed.getvalue()[:MAX_STREAM_BYTES]))
        if error is not None:
            outputs.append(self._error(error, filename, count))
        elif last is not None and value is not None:
            outputs.append(NotebookNode(output_type="execute_result", execution_count=count, metadata={},
                                        data={"text/plain": repr(value)[:2000]}))
        return CellResult(outputs, timed_out=timed_out, truncated=streams.truncated)

    def _bind_student_names(self, source: str) -> None:
        """Make every free name of the cell that the notebook defines a stand-in for the kernel's."""
        for name in sorted(_free_names(source)):
            if name in self.namespace and name not in self._remote_names:
                continue
            if hasattr(builtins, name):
                continue
            try:
                found = self.request({"op": "lookup", "name": name})
            except NameError:
                self.namespace.pop(name, None)
                self._remote_names.discard(name)
                continue
            if isinstance(found, dict) and found.get("callable"):
                self.namespace[name] = RemoteFunction(self, name)
            else:
                self.namespace[name] = found.get("value") if isinstance(found, dict) else None
            self._remote_names.add(name)

    @staticmethod
    def _error(exc: BaseException, filename: str, count: int) -> NotebookNode:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        lines = [f"Cell In[{count}], line {f.lineno}\n    {f.line or ''}" for f in frames]
        student = getattr(exc, "student_traceback", "")
        if student:
            lines.append(STUDENT_TRACEBACK + student.rstrip())
        name = type(exc).__name__
        try:
            message = str(exc)
        except Exception:
            message = ""
        if isinstance(exc, NotImplementedError) and not message and student:
            message = "not attempted: the exercise still raises NotImplementedError()"
        lines.append(f"\x1b[0;31m{name}\x1b[0m: {message}")
        return _error_output(name, message, lines)


def _free_names(source: str) -> set[str]:
    """Names the cell reads but never binds at its top level (candidates for the notebook's globals)."""
    import symtable

    try:
        top = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set()
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    names = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        stack.extend(table.get_children())
        for symbol in table.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                names.add(symbol.get_name())
    return names - bound


@contextlib.contextmanager
def _fresh_grading_modules() -> Iterator[None]:
    """Undo what a test cell does to ``sys.modules`` (hidden tests re-import course.grading)."""
    saved = {k: v for k, v in sys.modules.items() if k.startswith("course.grading")}
    try:
        yield
    finally:
        for key in [k for k in sys.modules if k.startswith("course.grading")]:
            if key not in saved:
                del sys.modules[key]
        sys.modules.update(saved)
