"""Open the course in JupyterLab: the entry point behind ``make lab``.

``python -m course.lab [jupyter lab options]`` serves the repository (lectures,
assignments, the ``course`` sources) and opens the lecture index
``lectures/00_index.ipynb`` when it exists, else the repository root.
Any extra option goes to JupyterLab unchanged, for example::

    python -m course.lab --no-browser --port 8890

Set ``COURSE_ROOT`` to serve another folder laid out like the repository,
for example a temporary copy of the lectures (the browser tests do this, so
running cells and autosave never touch the committed notebooks)::

    COURSE_ROOT=/tmp/course-copy python -m course.lab
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

INDEX_NOTEBOOK = "lectures/00_index.ipynb"
ROOT_VARIABLE = "COURSE_ROOT"


def course_root() -> Path:
    """The repository folder that holds ``lectures/`` (the package lives in ``course/`` below it)."""
    return Path(__file__).resolve().parent.parent


def lab_root() -> Path:
    """The folder ``make lab`` serves: ``$COURSE_ROOT`` when set (and not empty), else :func:`course_root`."""
    value = os.environ.get(ROOT_VARIABLE, "")
    return Path(value) if value else course_root()


def lab_arguments(extra: list[str], root: Path | None = None) -> list[str]:
    """The JupyterLab command-line arguments ``make lab`` uses, followed by ``extra``.

    ``root`` is the folder to serve; by default :func:`lab_root`.
    """
    root = lab_root() if root is None else Path(root)
    if not root.is_dir():
        raise ValueError(f"root must be an existing folder, got {str(root)!r}")
    index = root / INDEX_NOTEBOOK
    default_url = f"/lab/tree/{INDEX_NOTEBOOK}" if index.exists() else "/lab"
    args = [f"--ServerApp.root_dir={root}", f"--LabApp.default_url={default_url}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI machines often run as root
    return args + list(extra)


REPORTED_PACKAGES = ("convseg-course", "torch", "torchvision", "matplotlib", "ipywidgets", "jupyterlab",
                     "scikit-learn", "nbgrader")


def environment_report() -> dict[str, str | int]:
    """What the course runs on: versions, the device, threads, and the offline data.

    Returns ``{"python": ..., "<package>": version or "missing", ...,
    "device": "cpu" or "cuda (<name>)", "threads": n, "offline data": "ok" or
    the error}``. Nothing here touches the network.

    >>> report = environment_report()
    >>> report["device"].startswith(("cpu", "cuda"))
    True
    """
    import torch

    report: dict[str, str | int] = {"python": platform.python_version()}
    for package in REPORTED_PACKAGES:
        try:
            report[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            report[package] = "missing"
    report["device"] = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    report["threads"] = torch.get_num_threads()
    try:
        from course.data import load_digits, sample_photo
        load_digits()
        sample_photo("china", size=8)
        report["offline data"] = "ok"
    except Exception as error:  # report it, the check is for humans
        report["offline data"] = f"{type(error).__name__}: {error}"
    return report


def trust_lectures(root: Path | None = None) -> list[Path]:
    """Mark the course's lecture notebooks trusted for this user; return the ones newly signed.

    JupyterLab shows the stored outputs of an untrusted notebook only in
    their plain-text form, so a lecture opened before it is run would show
    ``Explorer(children=(HBox(...`` instead of its explorer. The lectures come
    with the course the student installs, so ``make lab`` trusts them, as
    ``jupyter trust lectures/*.ipynb`` would (the signatures go to Jupyter's
    data folder, not into the notebooks).
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    root = lab_root() if root is None else Path(root)
    notary = NotebookNotary()
    signed = []
    try:
        for path in sorted((root / "lectures").glob("*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            if not notary.check_signature(notebook):
                notary.sign(notebook)
                signed.append(path)
    finally:
        notary.store.close()
    return signed


def main(argv: list[str] | None = None) -> None:
    """Trust the lectures, then start JupyterLab on the course (blocks until the server stops)."""
    from jupyterlab.labapp import LabApp

    argv = sys.argv[1:] if argv is None else argv
    arguments = lab_arguments(argv)
    trust_lectures()
    LabApp.launch_instance(argv=arguments)


if __name__ == "__main__":
    main()
