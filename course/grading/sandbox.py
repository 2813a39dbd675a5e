r"""Launcher that isolates a grading kernel (Linux only, standard library only).

The grading kernelspec runs, for every submission::

    unshare --mount --pid --ipc --net --fork --kill-child --mount-proc [--user --map-root-user] -- \
        python -I -S sandbox.py SPEC.json -- prlimit --data=... --cpu=... -- \
        python -m ipykernel_launcher -f CONNECTION_FILE

``unshare`` gives the kernel its own mount, PID, IPC and network namespaces:
every process the student starts lives in the PID namespace and dies with the
kernel, System V IPC objects vanish with it, and there is no network. This
script then, inside the new mount namespace:

1. joins the submission's cgroups (``spec["cgroups"]``: memory and pids), so a
   memory limit covers every process of the submission, shared memory and
   tmpfs included, and the number of processes is bounded;
2. builds a new root file system from an allow-list and ``pivot_root``-s
   into it. The kernel sees, read-only: the system (``/usr``, ``/lib*``,
   ``/bin``, ``/etc`` with its secrets masked), the Python installation and
   virtualenv, and the ``course`` package; read-write: only the folders of
   ``spec["binds"]`` (its working folder, the Jupyter runtime folder, a home),
   each a private folder of this submission; plus fresh size-limited ``/tmp``
   and ``/dev/shm``, a minimal ``/dev`` and a read-only ``/proc``. Nothing
   else of the host exists for it: not the course directory (hidden tests,
   solutions), not the gradebook, not the other submissions;
3. drops every capability (bounding set included) and sets ``no_new_privs``,
   so the kernel, even when the grader runs as root, cannot undo any of it;
4. sends the kernel's raw stdout/stderr to ``/dev/null`` (what a cell prints
   goes through ipykernel's IOPub channel, which the grader caps) and execs
   the rest of the command line.

Run ``python sandbox.py SPEC --probe`` through the same ``unshare`` prefix to
check that the machine allows it: it prints ``ok`` and exits 0 when every step
works and the host's files are out of sight.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: this script starts every kernel
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """``mount(2)``; an ``OSError`` naming the call on failure."""
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount({source!r}, {target!r}, {fstype!r}): {os.strerror(err)}")


def drop_privileges() -> None:
    """Drop every capability from the bounding set and forbid gaining new privileges."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if _libc.syscall(126 if os.uname().machine in ("x86_64",) else 91, ctypes.byref(header), data) != 0:
        # 126 = capset on x86_64, 91 on aarch64; a failure leaves caps that the
        # dropped bounding set already makes useless after exec.
        pass


_DEVICES = ("null", "zero", "full", "random", "urandom")


def minimal_dev(dev: str, size: str) -> None:
    """Mount on ``dev`` (the new root's /dev) a tmpfs holding only harmless device nodes (no disks)."""
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in _DEVICES:
        if os.path.exists(f"/dev/{name}"):
            open(f"{dev}/{name}", "w").close()
            mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm")
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    mount(None, dev, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")


MNT_DETACH = 2
#: paths of /etc a kernel must not read (they are replaced by empty files or folders)
ETC_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers",
               "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private", "/etc/security/opasswd")
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def allowed_paths(extra: Iterable[str] = ()) -> list[str]:
    """What a kernel may read: the system, this Python, the course package and ``extra``.

    ``extra`` comes from the grader: its virtualenv and site-packages (this
    script runs with ``python -I -S``, which does not know the virtualenv).
    """
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, package, *extra)}
    paths |= {p for p in SYSTEM_PATHS if os.path.exists(p)}
    # A path inside another one is visible through its parent's bind mount.
    return sorted(p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths))


def join_cgroups(procs_files: Iterable[str]) -> None:
    """Move this process (and so everything it starts) into the submission's cgroups."""
    for path in procs_files:
        with open(path, "w") as f:
            f.write("0")


def _bind(source: str, target: str, writable: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
    mount(None, target, None, flags)


def _pivot_root(new_root: str) -> None:
    put_old = os.path.join(new_root, ".old-root")
    os.mkdir(put_old)
    number = 155 if os.uname().machine == "x86_64" else 41  # SYS_pivot_root (x86_64, aarch64)
    if _libc.syscall(number, os.fsencode(new_root), os.fsencode(put_old)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    os.chdir("/")
    if _libc.umount2(b"/.old-root", MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount /.old-root: {os.strerror(err)}")
    os.rmdir("/.old-root")


def setup(spec: dict[str, Any]) -> None:
    """Build the sandbox that ``spec`` describes: private mounts, cgroups, a tmpfs root."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    join_cgroups(spec.get("cgroups", []))
    size = spec.get("tmpfs_size", "256m")
    root = spec["root"]
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    # a fresh /tmp first: what follows may live under /tmp (a CI checkout, the submission's folders)
    os.makedirs(root + "/tmp", exist_ok=True)
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for path in allowed_paths(spec.get("allow", [])):
        _bind(path, root + path, writable=False)
    for path in ETC_SECRETS:
        if os.path.lexists(path) and not os.path.islink(path):
            target = root + path
            if os.path.isdir(path):
                mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=700")
            else:
                mount("/dev/null", target, None, MS_BIND)
    for source, target in spec.get("binds", []):
        _bind(source, root + target, writable=True)
    os.makedirs(root + "/proc", exist_ok=True)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/dev", exist_ok=True)
    minimal_dev(root + "/dev", size)
    _pivot_root(root)
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    # /proc/sys is writable by uid 0 even without capabilities
    mount("/proc", "/proc", None, MS_BIND | MS_REC)
    mount(None, "/proc", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    drop_privileges()
    os.chdir(spec.get("cwd") or "/")


def _probe(spec: dict[str, Any]) -> list[str]:
    """Check that the sandbox really isolates: run after setup()."""
    problems = []
    for path in spec.get("must_be_hidden", []):
        if os.path.lexists(path):
            problems.append(f"{path} is visible")
    for path in spec.get("must_be_readonly", []):
        try:
            with open(os.path.join(path, ".sandbox-probe"), "w"):
                pass
            problems.append(f"could write into {path}")
            os.unlink(os.path.join(path, ".sandbox-probe"))
        except OSError:
            pass
    for _, path in spec.get("binds", []):
        probe = os.path.join(path, ".sandbox-probe")
        try:
            with open(probe, "w"):
                pass
            os.unlink(probe)
        except OSError as exc:
            problems.append(f"cannot write into its own folder {path}: {exc}")
    try:
        mount(None, "/", None, MS_REMOUNT | MS_BIND)
        problems.append("could remount / read-write")
    except OSError:
        pass
    return problems


def main(argv: list[str]) -> int:
    """``sandbox.py SPEC.json [--probe] -- COMMAND...``: run COMMAND in the sandbox; returns the exit status."""
    if len(argv) < 2:
        print("usage: sandbox.py SPEC.json [--probe] -- COMMAND...", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        spec = json.load(f)
    probe = "--probe" in argv[2:3]
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    try:
        setup(spec)
    except OSError as exc:
        print(f"sandbox setup failed: {exc}", file=sys.stderr)
        return 97
    if probe:
        problems = _probe(spec)
        print("\n".join(problems) if problems else "ok")
        return 1 if problems else 0
    if not command:
        return 0
    if not spec.get("keep_stdio"):
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
