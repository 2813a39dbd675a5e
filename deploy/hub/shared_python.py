"""A Python every user can run, with the packages of a virtual environment they cannot.

The hub starts each server as its user, so the course's Python must be readable and
executable by every user. A virtual environment made from an interpreter under
``/root`` (pyenv's default, as on the reference machine and in CI) is not: its
``bin/python`` is a link into ``/root``, which is mode 700. Rather than opening
``/root``, this builds a copy of the interpreter that anyone can run:

- the interpreter's own files (the executable, ``libpython``, the standard library),
  hard-linked where possible (no extra disk), copied otherwise. Exactly the same
  Python: a different patch release of 3.11 is not enough (Debian's 3.11.2 ``re``
  rejects patterns that soupsieve, which nbconvert uses for every HTML page, compiles);
- its ``lib/pythonX.Y/site-packages``, ``share/jupyter`` and ``etc/jupyter`` are links
  to the virtual environment's (its packages, kernelspecs, the nbgrader labextension
  and server extensions), so ``site.getsitepackages()`` names them and the grading
  sandbox lets kernels read them;
- an executable built with an absolute ``RUNPATH`` to its ``libpython`` (pyenv's
  shared builds) gets a private copy whose ``RUNPATH`` is ``$ORIGIN/../lib``.

Usage::

    python deploy/hub/shared_python.py /work/main/.venv /opt/course-python
    COURSE_HUB_PYTHON=/opt/course-python/bin/python jupyterhub -f deploy/hub/jupyterhub_config.py

Its ``bin/`` also has ``nbgrader``, ``course-admin``, ``jupyter`` and ``alembic`` for
the users' terminals (nbgrader runs ``alembic`` when it creates a gradebook).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
from pathlib import Path

#: commands put in bin/: name -> the module ``python -m`` runs
COMMANDS = {"nbgrader": "nbgrader", "course-admin": "course.grading", "jupyter": "jupyter_core.command",
            "alembic": "alembic"}
#: what ``$ORIGIN/../lib`` replaces in the executable's RUNPATH
ORIGIN_LIB = b"$ORIGIN/../lib"


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError:  # another file system, or links not allowed: a copy
        shutil.copy2(source, dest)


def _relocated_executable(source: Path, dest: Path, old_lib: Path) -> None:
    """Copy the executable ``source`` to ``dest`` with ``old_lib`` in its RUNPATH made ``$ORIGIN/../lib``."""
    data = source.read_bytes()
    old = str(old_lib).encode() + b"\0"
    if old in data and len(old) > len(ORIGIN_LIB):
        data = data.replace(old, ORIGIN_LIB + b"\0" * (len(old) - len(ORIGIN_LIB)), 1)
    dest.write_bytes(data)
    os.chmod(dest, 0o755)


def build_shared_python(venv: Path, dest: Path, base: Path | None = None) -> Path:
    """Build the interpreter at ``dest`` (a new folder); return its ``bin/python``.

    Args:
        venv: the course's virtual environment (its ``lib/pythonX.Y/site-packages`` is used).
        dest: where to build it (must not exist; its parent must be reachable by every user).
        base: the installation the venv was made from (default: this Python's ``sys.base_prefix``).

    Returns:
        The path of the new ``bin/python``.
    """
    venv = Path(venv).resolve()
    base = Path(base or sys.base_prefix).resolve()
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site_packages = venv / "lib" / version / "site-packages"
    if not site_packages.is_dir():
        raise ValueError(f"venv: {venv} has no lib/{version}/site-packages")
    dest = Path(dest)
    if dest.exists():
        raise ValueError(f"dest: {dest} exists already")
    # the standard library (without the base's own site-packages) and libpython
    shutil.copytree(base / "lib", dest / "lib", symlinks=True, copy_function=_link_or_copy,
                    ignore=lambda folder, names: ["site-packages"] if Path(folder) == base / "lib" / version
                    else [n for n in names if n in ("pkgconfig",)])
    (dest / "lib" / version / "site-packages").symlink_to(site_packages)
    (dest / "bin").mkdir()
    executable = Path(sysconfig.get_config_var("BINDIR") or base / "bin") / version
    _relocated_executable(executable if executable.exists() else base / "bin" / version,
                          dest / "bin" / version, base / "lib")
    for name in ("python", "python3"):
        (dest / "bin" / name).symlink_to(version)
    for shared in ("share", "etc"):
        if (venv / shared / "jupyter").is_dir():
            (dest / shared).mkdir()
            (dest / shared / "jupyter").symlink_to(venv / shared / "jupyter")
    for command, module in COMMANDS.items():
        script = dest / "bin" / command
        script.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/python" -m {module} "$@"\n')
        os.chmod(script, 0o755)
    for folder in (dest, dest / "bin", *(dest / shared for shared in ("share", "etc") if (dest / shared).exists())):
        os.chmod(folder, 0o755)
    return dest / "bin" / "python"


def main(argv: list[str] | None = None) -> int:
    """``python shared_python.py VENV DEST``: build the interpreter, print its path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("venv", type=Path, help="the course's virtual environment")
    parser.add_argument("dest", type=Path, help="where to build (a new folder every user can reach)")
    args = parser.parse_args(argv)
    print(build_shared_python(args.venv, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
