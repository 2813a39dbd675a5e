"""Write-isolating launcher for grading kernels (Linux only, standard library only).

The grading kernelspec runs, for every submission::

    unshare --mount --pid --fork --kill-child --mount-proc [--user --map-root-user] -- \\
        python -I -S sandbox.py SPEC.json -- prlimit --data=... --cpu=... -- \\
        python -m ipykernel_launcher -f CONNECTION_FILE

``unshare`` gives the kernel its own mount and PID namespaces: every process the
student starts lives in the PID namespace and dies with the kernel. This script
then, inside the new mount namespace:

1. remounts every inherited mount read-only (the repository, the virtualenv, the
   course directory and its gradebook, the home directory, ...);
2. mounts a fresh, size-limited ``tmpfs`` on ``/tmp`` and ``/dev/shm`` (so the
   other submissions' working copies under ``/tmp`` are not even visible);
3. hides the paths in ``spec["hide"]`` (submitted/, autograded/, feedback/, the
   gradebook, the batch directory): an empty read-only tmpfs over directories,
   ``/dev/null`` over files, so a submission cannot read another student's work;
4. bind-mounts the submission's own working directory (``spec["rw"]``) back,
   writable, at its original path;
5. replaces ``/dev`` by a minimal one (null, zero, full, random, urandom: no
   disks) and makes ``/proc`` read-only (``/proc/sys`` is writable by uid 0 even
   without capabilities);
6. drops every capability (bounding set included) and sets ``no_new_privs``, so
   the kernel, even when the grader runs as root, cannot undo any of the above;
7. sends the kernel's raw stdout/stderr to ``/dev/null`` (what a cell prints goes
   through ipykernel's IOPub channel, which the grader caps) and execs the rest
   of the command line.

Run ``python sandbox.py --probe`` through the same ``unshare`` prefix to check
that the machine allows it: it prints ``ok`` and exits 0 when every step works.
"""
import ctypes
import json
import os
import sys

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_OPTION_FLAGS = {
    "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _b(value):
    return None if value is None else os.fsencode(value)


def mount(source, target, fstype, flags, data=None):
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount({source!r}, {target!r}, {fstype!r}): {os.strerror(err)}")


def _unescape(path):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and path[i + 1:i + 4].isdigit() and len(path[i + 1:i + 4]) == 3:
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _mounts():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            yield _unescape(fields[4]), fields[5].split(",")


def _flags(options):
    flags = 0
    for option in options:
        flags |= _OPTION_FLAGS.get(option, 0)
    return flags


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def make_readonly(skip):
    """Remount every mount point read-only (per-mount flag only: the host is untouched)."""
    for target, options in sorted(_mounts()):
        if _under(target, skip) or "ro" in options or not os.path.exists(target):
            continue
        try:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _flags(options))
        except OSError:
            # A mount we cannot remount (for example one shadowed by a later
            # mount); what matters is checked by the probe: writes fail.
            pass


def drop_privileges():
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


def minimal_dev(size):
    """Replace /dev by a tmpfs holding only harmless device nodes (no disks)."""
    fds = {name: os.open(f"/dev/{name}", os.O_PATH) for name in _DEVICES if os.path.exists(f"/dev/{name}")}
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name, fd in fds.items():
        open(f"/dev/{name}", "w").close()
        mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
        os.close(fd)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/shm")
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")


def _needed_paths():
    """The virtualenv and the repository (the editable ``course`` package), resolved."""
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    paths = {os.path.realpath(sys.prefix), repository}
    # A path inside another one is kept visible by its parent's bind mount.
    return sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths))


def setup(spec):
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in spec["rw"]]
    make_readonly(skip=["/proc"])
    size = spec.get("tmpfs_size", "256m")
    minimal_dev(size)
    # The fresh /tmp would also hide what the kernel itself needs when it lives
    # under /tmp (a checkout and its .venv there, as on a CI machine): keep
    # those visible, read-only, through the new tmpfs.
    needed = [p for p in _needed_paths() if p.startswith("/tmp/")]
    needed_fds = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in needed]
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for path, fd in zip(needed, needed_fds):
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    hidden_dirs = []
    for target in spec.get("hide", []):
        if os.path.isdir(target) and not os.path.islink(target):
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            hidden_dirs.append(target)
        elif os.path.isfile(target) and not os.path.islink(target):
            mount("/dev/null", target, None, MS_BIND)
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    for path, fd in zip(spec["rw"], keep):
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
        os.close(fd)
    for target in hidden_dirs:
        try:
            mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        except OSError:
            pass
    # /proc/sys is writable by uid 0 even without capabilities
    mount(None, "/proc", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    drop_privileges()
    os.chdir(spec.get("cwd") or spec["rw"][0])


def _probe(spec):
    """Check that the sandbox really isolates: run after setup()."""
    problems = []
    for path in spec.get("must_be_readonly", []):
        try:
            with open(os.path.join(path, ".sandbox-probe"), "w"):
                pass
            problems.append(f"could write into {path}")
            os.unlink(os.path.join(path, ".sandbox-probe"))
        except OSError:
            pass
    for path in spec.get("hide", []):
        if os.path.isdir(path):
            allowed = {os.path.relpath(rw, path).split(os.sep)[0] for rw in spec["rw"] if _under(rw, [path])}
            if set(os.listdir(path)) - allowed:
                problems.append(f"{path} is still visible")
    for path in spec["rw"]:
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


def main(argv):
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
