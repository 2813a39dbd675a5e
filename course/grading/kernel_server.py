"""The student's kernel's side of trusted grading: answer the grader's calls.

Test cells do not run in the student's kernel (see :mod:`course.grading.trusted`).
For each test cell the grader sends one execute request that runs
:func:`serve`, which connects to a Unix socket the grader listens on (in the
kernel's private runtime folder) and answers requests there until told to
stop. A request names a global of the notebook (a function the student
wrote) and the arguments to call it with; the reply is its result or the
exception it raised. Each message is a length (8 bytes, big-endian) followed
by that many bytes of JSON (:mod:`course.grading.wire`).

Everything here runs next to the student's code and can be replaced by it;
that is fine: all it can change is the values that go back, and those are
compared with the reference in the grader's own process.
"""
from __future__ import annotations

import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from . import wire

#: the request that stops serving
END = {"op": "end"}
_MAX_TRACEBACK = 4000

#: the guarded stand-ins made so far: (name, id(function), rules) -> (function, its guarded stand-in);
#: the function is kept so that its id is not reused
Wrappers = dict[tuple[str, int, tuple[str, ...]], tuple[object, Callable[..., Any]]]


def send_message(sock: socket.socket, data: object) -> None:
    """Send ``data`` on ``sock``: its length (8 bytes, big-endian), then its JSON."""
    payload = wire.dumps(data).encode("utf-8")
    sock.sendall(len(payload).to_bytes(8, "big") + payload)


def receive_message(sock: socket.socket, limit: int = wire.MAX_REPLY_BYTES) -> Any:
    """The next message's data (as ``json.loads`` gives it); ``EOFError`` when the other side is gone."""
    size = int.from_bytes(_exactly(sock, 8), "big")
    if size > limit:
        raise wire.WireError(f"message of {size} bytes, more than {limit}")
    return wire.loads(_exactly(sock, size).decode("utf-8", errors="replace"))


def _exactly(sock: socket.socket, count: int) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left:
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            raise EOFError("the connection was closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(path: str) -> None:
    """Answer the grader's requests on the Unix socket ``path`` until it sends :data:`END`."""
    objects: dict[int, object] = {}
    wrappers: Wrappers = {}

    def refer(obj: object) -> int:
        objects[id(obj)] = obj  # kept alive, so the id stays unique
        return id(obj)

    def resolve(number: int, _type: str) -> Any:
        if number not in objects:
            raise wire.WireError(f"unknown reference {number}")
        return objects[number]

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        send_message(sock, {"ready": True})
        while True:
            request = receive_message(sock)
            if request == END:
                return
            try:
                reply: dict[str, object] = {"ok": wire.encode(_handle(request, resolve, wrappers), refer)}
            except KeyboardInterrupt:
                raise  # the grader's interrupt (time limit): stop serving
            except BaseException as exc:  # the student's exception is the answer
                reply = {"error": _describe(exc)}
            send_message(sock, reply)


def _namespace() -> dict[str, Any]:
    return vars(sys.modules["__main__"])


def _handle(request: dict[str, Any], resolve: wire.Resolve, wrappers: Wrappers) -> object:
    op = request.get("op")
    if op == "lookup":
        name = request["name"]
        namespace = _namespace()
        if name not in namespace:
            raise NameError(f"name {name!r} is not defined")
        value = namespace[name]
        return {"callable": True} if callable(value) else {"value": value}
    if op == "guard":
        _guarded(request["name"], request.get("rules"), wrappers)
        return None
    if op == "call":
        target = request["target"]
        args = wire.decode(request.get("args", []), resolve=resolve)
        kwargs = wire.decode(request.get("kwargs", {"__dict__": {}}), resolve=resolve)
        if "name" in target:
            fn = _guarded(target["name"], request.get("rules"), wrappers)
        else:
            fn = resolve(target["ref"], "")
        return fn(*args, **kwargs)
    if op == "getattr":
        return getattr(resolve(request["ref"], ""), request["attr"])
    if op == "list":
        return list(resolve(request["ref"], ""))
    if op == "repr":
        return repr(resolve(request["ref"], ""))[:2000]
    raise ValueError(f"unknown request {op!r}")


def _guarded(name: str, rules: list[str] | None, wrappers: Wrappers) -> Callable[..., Any]:
    """The notebook's global ``name``; with ``rules``, wrapped by the anti-reference guard."""
    namespace = _namespace()
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    fn = namespace[name]
    if rules is None:
        return fn
    key = (name, id(fn), tuple(rules))
    if key not in wrappers:
        from . import guard
        forbidden = tuple(getattr(guard, rule) for rule in rules)
        wrappers[key] = (fn, guard.student_function(name, fn, forbidden))
    return wrappers[key][1]


def _describe(exc: BaseException) -> dict[str, str]:
    """The exception as data: its type, message and the student's part of the traceback."""
    try:
        frames = traceback.extract_tb(exc.__traceback__)
        here = __file__.rsplit(".", 1)[0]
        mine = [f for f in frames if not f.filename.startswith(here)]
        text = "".join(traceback.format_list(mine) + traceback.format_exception_only(type(exc), exc))
        message = str(exc)
    except Exception:  # a broken __str__ must not stop the answer
        text, message = "", ""
    return {"type": type(exc).__name__[:100], "module": str(type(exc).__module__)[:100],
            "message": message[:2000], "traceback": text[-_MAX_TRACEBACK:]}
