"""Finding and killing the processes a grading worker started (Linux /proc)."""
from __future__ import annotations

import os
import signal
from collections.abc import Iterable


def _stat_ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces
    rest = data[data.rfind(b")") + 2:].split()
    try:
        return int(rest[1])
    except (IndexError, ValueError):
        return None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        ppid = _stat_ppid(p)
        if ppid is not None:
            children.setdefault(ppid, []).append(p)
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def with_env_token(token: str) -> list[int]:
    """Processes whose initial environment holds ``COURSE_GRADING_TOKEN=token``."""
    needle = f"COURSE_GRADING_TOKEN={token}".encode()
    found: list[int] = []
    for p in _all_pids():
        if p == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(p)
        except OSError:
            continue
    return found


def kill(pids: Iterable[int]) -> None:
    """SIGKILL each of ``pids``; processes already gone (or not ours) are skipped."""
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid: int, token: str | None = None) -> None:
    """SIGKILL ``pid``, its descendants and, if given, every process carrying ``token``.

    Descendants are collected before anything is killed (once a parent dies its
    children are re-parented and can no longer be found by ancestry); the
    environment token catches the ones that escaped with ``setsid``.
    """
    for _ in range(3):
        victims = descendants(pid) + ([pid] if os.path.exists(f"/proc/{pid}") else [])
        if token:
            victims += with_env_token(token)
        if not victims:
            return
        kill(set(victims))
