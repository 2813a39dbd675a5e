"""The grading kernel.

A private kernelspec with resource limits, an optional write-isolating sandbox
and a deterministic environment.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "course-grading"
SANDBOX_SCRIPT = Path(__file__).with_name("sandbox.py")

#: environment of every grading kernel: deterministic, quiet, single-threaded
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    # nbgrader scores a test cell 0 when it writes to stderr: a library warning
    # or a progress bar must not cost a correct answer its points
    "PYTHONWARNINGS": "ignore",
    "TQDM_DISABLE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "COURSE_GRADING": "1",
}


def unshare_prefix() -> list[str]:
    """The ``unshare`` command line that gives a kernel its own mount, PID, IPC and network namespaces."""
    # --net: no network at all (the kernel talks to the worker over Unix sockets)
    # --ipc: System V IPC objects are private to the submission and vanish with it
    prefix = ["unshare", "--mount", "--pid", "--ipc", "--net", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        prefix += ["--user", "--map-root-user"]
    return prefix + ["--"]


def limits_prefix(memory_mb: int, cpu_seconds: int) -> list[str]:
    """The ``prlimit`` command line of a kernel's per-process limits (none without prlimit)."""
    if not shutil.which("prlimit"):
        return []
    return ["prlimit", f"--data={int(memory_mb) * 2**20}", f"--cpu={int(cpu_seconds)}",
            f"--fsize={512 * 2**20}", "--core=0", "--"]


def write_kernelspec(jupyter_path: Path, *, memory_mb: int, cpu_seconds: int,
                     sandbox_spec: Path | None, env: dict[str, str]) -> str:
    """Write ``<jupyter_path>/kernels/course-grading/kernel.json``; return its name."""
    argv = limits_prefix(memory_mb, cpu_seconds) + [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                    "{connection_file}"]
    if sandbox_spec is not None:
        argv = unshare_prefix() + [sys.executable, "-I", "-S", str(SANDBOX_SCRIPT), str(sandbox_spec),
                                   "--"] + argv
    spec = {
        "argv": argv,
        "display_name": "Python 3 (course grading)",
        "language": "python",
        "env": {**KERNEL_ENV, **env},
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }
    folder = jupyter_path / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return KERNEL_NAME


def readable_paths() -> list[str]:
    """What a sandboxed kernel may read besides the system: this virtualenv and its site-packages."""
    import site
    paths = [sys.prefix, sys.base_prefix, *site.getsitepackages()]
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})


def sandbox_problem(hide: list[str] | None = None) -> str | None:
    """None when the sandbox works on this machine, else why it does not."""
    if sys.platform != "linux":
        return "the sandbox needs Linux"
    for tool in ("unshare", "prlimit"):
        if not shutil.which(tool):
            return f"{tool} (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="course-grade-probe-") as tmp:
        rw = Path(tmp) / "work"
        rw.mkdir()
        (Path(tmp) / "root").mkdir()
        secret = Path(tmp) / "host-file"
        secret.write_text("not for kernels")
        spec = Path(tmp) / "spec.json"
        readonly = [str(Path(__file__).resolve().parent), sys.prefix]
        spec.write_text(json.dumps({"root": str(Path(tmp) / "root"), "binds": [[str(rw), str(rw)]],
                                    "allow": readable_paths(),
                                    "must_be_readonly": readonly,
                                    "must_be_hidden": [str(secret)] + list(hide or [])}))
        cmd = unshare_prefix() + [sys.executable, "-I", "-S", str(SANDBOX_SCRIPT), str(spec), "--probe"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare failed: {exc}"
        if proc.returncode != 0 or proc.stdout.strip() != "ok":
            why = (proc.stdout + proc.stderr).strip().splitlines()
            return f"namespaces are not usable here: {why[-1] if why else proc.returncode}"
    return None


def warm_matplotlib_cache(cache: Path) -> bool:
    """Build matplotlib's font cache once per batch (kernels copy it)."""
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLCONFIGDIR=str(cache), MPLBACKEND="Agg")
    try:
        proc = subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0
