"""Open the course in JupyterLab: the entry point behind ``make lab``.

``python -m course.lab [jupyter lab options]`` serves the repository (lectures,
assignments, the ``course`` sources) and opens the lecture index
``lectures/00_index.ipynb`` when it exists, else the repository root.
Any extra option goes to JupyterLab unchanged, for example::

    python -m course.lab --no-browser --port 8890
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

INDEX_NOTEBOOK = "lectures/00_index.ipynb"


def course_root() -> Path:
    """The repository folder that holds ``lectures/`` (the package lives in ``course/`` below it)."""
    return Path(__file__).resolve().parent.parent


def lab_arguments(extra: list[str], root: Path | None = None) -> list[str]:
    """The JupyterLab command-line arguments ``make lab`` uses, followed by ``extra``."""
    root = course_root() if root is None else Path(root)
    if not root.is_dir():
        raise ValueError(f"root must be an existing folder, got {str(root)!r}")
    index = root / INDEX_NOTEBOOK
    default_url = f"/lab/tree/{INDEX_NOTEBOOK}" if index.exists() else "/lab"
    args = [f"--ServerApp.root_dir={root}", f"--LabApp.default_url={default_url}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI machines often run as root
    return args + list(extra)


def main(argv: list[str] | None = None) -> None:
    """Start JupyterLab on the course (blocks until the server stops)."""
    from jupyterlab.labapp import LabApp

    argv = sys.argv[1:] if argv is None else argv
    LabApp.launch_instance(argv=lab_arguments(argv))


if __name__ == "__main__":
    main()
