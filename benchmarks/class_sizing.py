"""Class sizing: what one student and one graded submission cost, measured on this machine.

Three measurements, then what they imply for a class of 1,000 students:

1. Each lecture, top to bottom, in a fresh kernel (as ``benchmarks/lectures.py``
   runs it): wall seconds, CPU seconds of the kernel process tree, and its peak
   resident memory (the kernel's own high-water mark, ``VmHWM``, and the whole
   tree sampled every 50 ms; the larger of the two).
2. The idle footprint of what a student's pod holds once the course is open: a
   Jupyter server (JupyterLab and nbgrader's extensions) plus one kernel that ran
   ``import course, torch``.
3. Grading: N copies of the worked solution, graded by ``course-admin autograde``
   (a real subprocess, interpreter start-up included) with ``--jobs 1`` and
   ``--jobs 2``. ``os.wait4`` gives the CPU seconds and the largest resident
   process of the whole grading run, so CPU seconds per submission is the cost
   per submission per core.

Nothing here is an assertion: figures depend on the machine and on its other
load, which is printed alongside. Run with ``OMP_NUM_THREADS=1`` to match the
single-user image (one thread per kernel). ``--record FILE`` writes the figures
as JSON (``tests/test_deploy.py`` checks the Helm values against them).

    python benchmarks/class_sizing.py [--copies 4] [--assignment a1_convolutions ...]
        [--lectures lectures/01_convolutions.ipynb ...] [--record deploy/kubernetes/class_sizing.json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import psutil
from jupyter_client import BlockingKernelClient, KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import autograde as autograde_benchmark  # noqa: E402  (benchmarks/autograde.py: the solved notebook)

from course.grading import _course  # noqa: E402
from course.grading._nb import write  # noqa: E402
from course.grading.limits import Limits  # noqa: E402

MIB = 2**20
SAMPLE_SECONDS = 0.05


# --- memory and CPU of a process tree ----------------------------------------------------------------------------

def process_tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and its live descendants (empty when it has exited)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """Resident bytes of the process tree of ``pid`` right now (shared pages count once per process)."""
    total = 0
    for process in process_tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid``, its live descendants and the children they have reaped."""
    total = 0.0
    for process in process_tree(pid):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def high_water_mark(pid: int) -> int:
    """Peak resident bytes of one process over its life (``VmHWM`` in /proc; 0 where unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakSampler:
    """Samples the resident memory of a process tree in a background thread; ``peak`` is the largest sum seen.

    Args:
        pid: the root of the tree (a kernel).
        interval: seconds between samples.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# --- 1. one student's kernel per lecture ------------------------------------------------------------------------

@dataclass
class LectureCost:
    """What one lecture, run top to bottom in a fresh kernel, cost that kernel."""

    lecture: str
    wall_seconds: float
    cpu_seconds: float
    peak_mib: float


def kernel_pid(manager: KernelManager) -> int:
    """The process id of the kernel a local ``KernelManager`` started."""
    pid = getattr(manager.provisioner, "pid", None)
    if not isinstance(pid, int):
        raise RuntimeError(f"manager: no local kernel process to measure (provisioner {manager.provisioner!r})")
    return pid


def run_lecture(path: Path) -> LectureCost:
    """Run one lecture notebook in a fresh kernel from its own folder; measure the kernel.

    Args:
        path: a ``lectures/*.ipynb`` file.

    Returns:
        Wall and CPU seconds and peak resident MiB of the kernel process tree.
    """
    notebook = nbformat.read(path, as_version=4)
    manager = KernelManager(kernel_name="python3")
    start = time.perf_counter()
    manager.start_kernel(cwd=str(path.parent), stderr=subprocess.DEVNULL)  # its TCP warning is noise here
    try:
        pid = kernel_pid(manager)
        client = NotebookClient(notebook, km=manager, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        with PeakSampler(pid) as sampler:
            client.execute()
        wall = time.perf_counter() - start
        cpu = tree_cpu_seconds(pid)
        peak = max(sampler.peak, high_water_mark(pid))
    finally:
        manager.shutdown_kernel(now=True)
    return LectureCost(path.name, round(wall, 1), round(cpu, 1), round(peak / MIB))


# --- 2. the idle footprint of a student's server ---------------------------------------------------------------

@dataclass
class IdleFootprint:
    """Resident memory of a Jupyter server and its kernel after ``import course, torch``, settled."""

    server_mib: float
    kernel_mib: float

    @property
    def total_mib(self) -> float:
        """Server plus kernel."""
        return self.server_mib + self.kernel_mib


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api(url: str, token: str, method: str = "GET", body: dict[str, str] | None = None) -> dict[str, object]:
    """One call to a Jupyter server's REST API; the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return json.loads(text) if text else {}


def idle_footprint(settle_seconds: float = 3.0) -> IdleFootprint:
    """Start JupyterLab and one kernel through its REST API, ``import course, torch`` in it, and measure both.

    Args:
        settle_seconds: wait after the import before measuring.

    Returns:
        Resident MiB of the server process (with any helper processes) and of the kernel.
    """
    token, port = secrets.token_hex(16), free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="class-sizing-") as runtime:
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": runtime}
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO / 'lectures'}",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    api(f"{base}/api/status", token)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("jupyter lab did not start") from None
                    time.sleep(0.5)
            kernel_id = str(api(f"{base}/api/kernels", token, "POST", {"name": "python3"})["id"])
            client = BlockingKernelClient(connection_file=str(Path(runtime) / f"kernel-{kernel_id}.json"))
            client.load_connection_file()
            client.start_channels()
            reply = client.execute_interactive("import course, torch", timeout=300)
            client.stop_channels()
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"import course, torch failed in the kernel: {reply['content']}")
            time.sleep(settle_seconds)
            kernels = [p for p in process_tree(server.pid)[1:] if "ipykernel" in " ".join(p.cmdline())]
            if len(kernels) != 1:
                raise RuntimeError(f"expected one kernel under the server, found {len(kernels)}")
            kernel = tree_rss(kernels[0].pid)
            everything = tree_rss(server.pid)
            api(f"{base}/api/kernels/{kernel_id}", token, "DELETE")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return IdleFootprint(round((everything - kernel) / MIB), round(kernel / MIB))


# --- 3. grading ---------------------------------------------------------------------------------------------------

@dataclass
class GradingCost:
    """One ``course-admin autograde`` run over ``copies`` worked solutions."""

    assignment: str
    jobs: int
    copies: int
    wall_seconds_per_submission: float
    cpu_seconds_per_submission: float
    peak_process_mib: float


def grade_copies(course_dir: Path, assignment: str, copies: int, jobs_options: tuple[int, ...] = (1, 2)
                 ) -> list[GradingCost]:
    """Grade ``copies`` worked solutions with ``course-admin autograde --jobs J``, in a scratch course.

    Args:
        course_dir: the nbgrader course directory (``assignments/``); it is not touched.
        assignment: the assignment id.
        copies: how many submissions.
        jobs_options: the ``--jobs`` values to run, one grading run each.

    Returns:
        One ``GradingCost`` per ``--jobs`` value.
    """
    admin = shutil.which("course-admin", path=str(Path(sys.executable).parent)) or "course-admin"
    costs = []
    with tempfile.TemporaryDirectory(prefix="class-sizing-grade-") as scratch_name:
        scratch = Path(scratch_name)
        submissions = scratch / "submissions"
        for copy in [f"course-jobs{jobs}" for jobs in jobs_options]:
            shutil.copytree(course_dir / "source" / assignment, scratch / copy / "source" / assignment)
            if (course_dir / "nbgrader_config.py").exists():
                shutil.copy(course_dir / "nbgrader_config.py", scratch / copy / "nbgrader_config.py")
        stem, notebook = autograde_benchmark.solved_notebook(scratch / "course-jobs1", assignment, scratch)
        for index in range(copies):
            write(notebook, submissions / f"student{index:03d}" / f"{stem}.ipynb")
        for jobs in jobs_options:
            course = scratch / f"course-jobs{jobs}"
            errors = scratch / f"stderr-jobs{jobs}.txt"
            start = time.perf_counter()
            with errors.open("wb") as stderr:  # a file, not a pipe: nobody reads it while wait4 waits
                grader = subprocess.Popen([admin, "autograde", assignment, str(submissions), "--course-dir",
                                           str(course), "--jobs", str(jobs)], stdout=subprocess.DEVNULL, stderr=stderr)
                # wait4, not Popen.wait: it also returns the resources of the whole finished process tree
                _, status, usage = os.wait4(grader.pid, 0)
            wall = time.perf_counter() - start
            grader.returncode = os.waitstatus_to_exitcode(status)
            if grader.returncode != 0:
                error = errors.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"course-admin autograde {assignment} --jobs {jobs} failed: {error}")
            costs.append(GradingCost(assignment, jobs, copies, round(wall / copies, 2),
                                     round((usage.ru_utime + usage.ru_stime) / copies, 2),
                                     round(usage.ru_maxrss * 1024 / MIB)))
    return costs


# --- what it implies -------------------------------------------------------------------------------------------

def round_up(value: float, step: float) -> float:
    """``value`` rounded up to a multiple of ``step``: ``round_up(1100, 256) == 1280``."""
    return math.ceil(value / step) * step


def implications(lectures: list[LectureCost], idle: IdleFootprint, grading: list[GradingCost],
                 students: int, node_gib: float, grading_cores: tuple[int, ...]) -> dict[str, object]:
    """Pod memory guarantee and limit, users and nodes, and grading time for a class; printed and returned."""
    worst_kernel = max(cost.peak_mib for cost in lectures)
    working_set = idle.server_mib + worst_kernel
    # a student often has two notebooks open (a lecture and an assignment): room for a second, idle kernel
    two_kernels = working_set + idle.kernel_mib
    guarantee = round_up(idle.total_mib * 1.25, 128)
    limit = round_up(two_kernels * 1.15, 256)
    per_node = math.floor(node_gib * 1024 / guarantee)
    per_node_at_peak = math.floor(node_gib * 1024 / working_set)
    cpu_per_submission = max(cost.cpu_seconds_per_submission for cost in grading)
    grading_memory = max(cost.peak_process_mib for cost in grading)
    print(f"\nWhat it implies for {students} students (figures above, measured here):")
    print(f"- a student's pod: {idle.total_mib:.0f} MiB idle (server {idle.server_mib:.0f} + kernel "
          f"{idle.kernel_mib:.0f}); {working_set:.0f} MiB while running the heaviest lecture "
          f"(server + kernel peak {worst_kernel:.0f}).")
    print(f"- suggested singleuser.memory: guarantee {guarantee:.0f}M (idle + 25 %), limit {limit:.0f}M "
          f"(peak + a second, idle kernel = {two_kernels:.0f} MiB, + 15 %); one kernel thread, so cpu "
          f"guarantee 0.05-0.1, limit 1.")
    print(f"- a node with {node_gib:g} GiB for users (a 64 GiB machine) holds {per_node} pods by guarantee, "
          f"{per_node_at_peak} if every student runs the heaviest lecture at once.")
    for concurrent in (100, 250, students):
        print(f"  {concurrent:>5} users at once: {math.ceil(concurrent / per_node)} nodes "
              f"({math.ceil(concurrent / per_node_at_peak)} sized for everyone at peak), "
              f"{concurrent * guarantee / 1024:.0f} GiB guaranteed in total")
    print(f"- grading: {cpu_per_submission:.1f} CPU seconds per submission (worst assignment), up to "
          f"{grading_memory:.0f} MiB per grading process (the hard cap per submission is "
          f"{Limits().memory_mb} MiB).")
    for cores in grading_cores:
        minutes = students * cpu_per_submission / cores / 60
        print(f"  {students} submissions on {cores:>2} cores (--jobs {cores}): about {minutes:.0f} min, "
              f"{cores * Limits().memory_mb / 1024:.0f} GiB to honour every submission's cap")
    return {"pod_working_set_mib": working_set, "pod_with_two_kernels_mib": two_kernels,
            "memory_guarantee_mib": guarantee, "memory_limit_mib": limit,
            "pods_per_node": per_node, "grading_cpu_seconds_per_submission": cpu_per_submission}


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables and the implications; optionally record them as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lectures", nargs="*", type=Path, help="default: every lectures/*.ipynb")
    parser.add_argument("--assignment", nargs="*", help="default: every assignment in COURSE_DIR/source")
    parser.add_argument("--copies", type=int, default=4, help="submissions graded per run (default 4)")
    parser.add_argument("--course-dir", type=Path, default=REPO / "assignments")
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--node-gib", type=float, default=60.0, help="memory a node offers user pods (GiB)")
    parser.add_argument("--record", type=Path, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_at_start = os.getloadavg()[0]
    print(f"{started}; {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, OMP_NUM_THREADS={threads}; "
          f"load average {load_at_start:.1f}")

    assignments = args.assignment or _course.assignments(args.course_dir)
    grading = [cost for name in assignments for cost in grade_copies(args.course_dir, name, args.copies)]
    print("\n| assignment | --jobs | submissions | wall s / submission | CPU s / submission | largest process MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for g in grading:
        print(f"| {g.assignment} | {g.jobs} | {g.copies} | {g.wall_seconds_per_submission:.2f} | "
              f"{g.cpu_seconds_per_submission:.2f} | {g.peak_process_mib:.0f} |")
    loads = {"start": round(load_at_start, 1), "after_grading": round(os.getloadavg()[0], 1)}
    print(f"(load average after grading: {loads['after_grading']:.1f})")

    idle = idle_footprint()
    print(f"\nIdle pod: Jupyter server {idle.server_mib:.0f} MiB + kernel after `import course, torch` "
          f"{idle.kernel_mib:.0f} MiB = {idle.total_mib:.0f} MiB")

    paths = args.lectures or sorted((REPO / "lectures").glob("*.ipynb"))
    print("\n| lecture | wall s | kernel CPU s | kernel peak MiB |")
    print("|---|---:|---:|---:|")
    lectures = []
    for path in paths:
        cost = run_lecture(path)
        lectures.append(cost)
        print(f"| {cost.lecture} | {cost.wall_seconds:.1f} | {cost.cpu_seconds:.1f} | {cost.peak_mib:.0f} |",
              flush=True)
    loads["after_lectures"] = round(os.getloadavg()[0], 1)
    print(f"(load average after the lectures: {loads['after_lectures']:.1f})")

    implied = implications(lectures, idle, grading, args.students, args.node_gib, (2, 8, 32))
    if args.record:
        record = {"measured": started, "cpus": os.cpu_count(), "omp_num_threads": threads, "load_average": loads,
                  "idle": {**asdict(idle), "total_mib": idle.total_mib},
                  "lectures": [asdict(cost) for cost in lectures], "grading": [asdict(g) for g in grading],
                  "implied": implied}
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(record, indent=1) + "\n")
        print(f"recorded in {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
