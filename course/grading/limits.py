"""Every limit a submission is graded under, with its default, in one place.

:class:`Limits` is what ``course-admin autograde`` and ``selftest`` take
(``--cell-timeout``, ``--submission-timeout``, ``--memory-mb``,
``--processes``); :class:`SubmissionCgroup` enforces the memory and process
limits on a whole submission (the kernel and everything it starts, shared
memory included) with the Linux cgroup v1 ``memory`` and ``pids``
controllers, and its CPU share with the ``cpu`` controller where there is one.
``prlimit`` adds per-process limits (data segment, CPU time, file size) that
turn a runaway allocation into a ``MemoryError`` the student can read.

>>> Limits().cell_timeout
30.0
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """How much one submission may use. Times in seconds, memory in MiB."""

    #: one cell (a test cell: all the calls it makes into the kernel)
    cell_timeout: float = 30.0
    #: the whole submission, wall clock; then every process of it is killed
    submission_timeout: float = 600.0
    #: memory of the whole submission (every process, shared memory and /tmp included)
    memory_mb: int = 3072
    #: processes and threads of the whole submission
    processes: int = 256
    #: CPU cores the whole submission may keep busy (cgroup cpu quota; forked
    #: processes cannot slow the submissions graded beside it)
    cpus: float = 1.0
    #: size of the kernel's private /tmp and /dev/shm
    tmpfs_mb: int = 256
    #: output kept per cell and per notebook (bytes)
    max_output_bytes: int = 2**20
    max_total_output_bytes: int = 8 * 2**20

    @property
    def cpu_seconds(self) -> int:
        """CPU time of one kernel process (prlimit --cpu): the wall-clock limit plus a margin."""
        return int(self.submission_timeout) + 30

    def check(self) -> None:
        """Raise ValueError naming the first limit that is not positive."""
        for name in ("cell_timeout", "submission_timeout", "memory_mb", "processes", "cpus", "tmpfs_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")


# ----------------------------------------------------------------------------- cgroups

CGROUP_PREFIX = "course-grading-"


def _cgroup_root(controller: str) -> Path | None:
    """Where this process's ``controller`` cgroup is mounted and which of its cgroups we are in."""
    mountpoint = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                if fields[sep + 1] == "cgroup" and controller in fields[sep + 3].split(","):
                    mountpoint = fields[4]
                    break
        if mountpoint is None:
            return None
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controller in controllers.split(","):
                    return Path(mountpoint) / path.lstrip("/")
    except (OSError, ValueError):
        return None
    return None


def cgroup_problem() -> str | None:
    """None when submissions can get their own memory and pids cgroups here, else why not."""
    for controller, probe in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max")):
        root = _cgroup_root(controller)
        if root is None:
            return f"the cgroup v1 {controller} controller is not mounted"
        test = root / f"{CGROUP_PREFIX}probe-{os.getpid()}"
        try:
            test.mkdir()
            try:
                if not (test / probe).exists():
                    return f"{test} has no {probe}"
                (test / probe).write_text(str(10**9 if controller == "memory" else 100))
            finally:
                test.rmdir()
        except OSError as exc:
            return f"cannot create a {controller} cgroup in {root} ({exc.strerror})"
    return None


class SubmissionCgroup:
    """A memory and a pids cgroup for one submission: create, limit, kill all, remove."""

    def __init__(self, token: str, limits: Limits):
        self.paths: list[Path] = []
        for controller in ("memory", "pids"):
            root = _cgroup_root(controller)
            if root is None:
                raise OSError(f"no {controller} cgroup")
            path = root / f"{CGROUP_PREFIX}{token}"
            path.mkdir()
            self.paths.append(path)
        memory, pids = self.paths
        limit = str(int(limits.memory_mb) * 2**20)
        (memory / "memory.limit_in_bytes").write_text(limit)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # no escaping into swap
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        (pids / "pids.max").write_text(str(int(limits.processes)))
        cpu = _cgroup_root("cpu")  # optional: a CPU quota where the controller is there
        if cpu is not None:
            try:
                path = cpu / f"{CGROUP_PREFIX}{token}"
                path.mkdir()
                self.paths.append(path)
                period = int((path / "cpu.cfs_period_us").read_text())
                (path / "cpu.cfs_quota_us").write_text(str(int(period * limits.cpus)))
            except OSError:
                pass

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes ``0`` into to join (see sandbox.join_cgroups)."""
        return [str(p / "cgroup.procs") for p in self.paths]

    def peak_memory_bytes(self) -> int | None:
        """The most memory the submission used, in bytes; None where the cgroup does not say."""
        try:
            return int((self.paths[0] / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return None

    def oom_killed(self) -> bool:
        """Whether the memory limit was reached (the kernel's OOM killer acted in this cgroup)."""
        try:  # "oom_kill N" counts the processes the OOM killer ended in this cgroup
            fields = dict(line.split() for line in (self.paths[0] / "memory.oom_control").read_text().splitlines())
            if int(fields.get("oom_kill", 0)) > 0:
                return True
        except (OSError, ValueError):
            pass
        for name in ("memory.failcnt", "memory.memsw.failcnt"):
            try:
                if int((self.paths[0] / name).read_text()) > 0:
                    return True
            except (OSError, ValueError):
                pass
        return False

    def pids(self) -> set[int]:
        """The ids of the processes still in the submission's cgroups."""
        found: set[int] = set()
        for path in self.paths:
            try:
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self) -> None:
        """SIGKILL every process of the submission (repeated: a fork may race the first pass)."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        """Kill every process of the submission, then remove its cgroups."""
        self.kill_all()
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)  # the last processes are still exiting
