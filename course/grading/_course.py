"""The nbgrader course directory: configuration, assignments, gradebook, template."""
from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# jsonschema imports rfc3987_syntax only for an optional format checker; that
# import builds a grammar and costs seconds of CPU in every process that
# imports nbformat. The grader never validates IRIs.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None: "import it" raises ImportError

from traitlets.config import Config  # noqa: E402
from traitlets.config.loader import PyFileConfigLoader  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_COURSE_DIR = REPO_ROOT / "assignments"

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")

#: files in source/<id>/ that students never get
INSTRUCTOR_ONLY = ["wrong_answers.json"]

#: pseudo-students the selftest uses; never real students
SELFTEST_PREFIX = "selftest-"


_PATCHED = False


def patch_nbgrader() -> None:
    """Make creating a gradebook cheap.

    nbgrader stamps every new gradebook with the alembic head revision, which
    it gets by running the ``alembic heads`` command in a subprocess: about
    5 s here, for every new sqlite file (and it needs ``alembic`` on PATH).
    The head is a constant of the installed nbgrader: read it once, in-process.
    """
    global _PATCHED
    if _PATCHED:
        return
    import functools

    from nbgrader import api

    original = api.get_alembic_version

    @functools.lru_cache(maxsize=1)
    def head() -> str:
        try:
            from alembic.config import Config as AlembicConfig
            from alembic.script import ScriptDirectory
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(Path(api.__file__).with_name("alembic")))
            found = ScriptDirectory.from_config(cfg).get_current_head()
            if found:
                return found
        except Exception:
            pass
        return original()

    api.get_alembic_version = head
    _PATCHED = True


class GradingError(Exception):
    """A problem the instructor must fix (bad arguments, missing assignment...)."""


def load_config(course_dir: Path) -> Config:
    """The course's ``nbgrader_config.py`` (if any), with the root set to ``course_dir``."""
    cfg = Config()
    path = course_dir / "nbgrader_config.py"
    if path.exists():
        loader = PyFileConfigLoader(path.name, path=str(course_dir))
        cfg.merge(loader.load_config())
    cfg.CourseDirectory.root = str(course_dir)
    # instructor-only files of an assignment's source folder: never copied into
    # the release or next to a student's notebook during grading
    ignore = list(cfg.CourseDirectory.ignore) if "ignore" in cfg.CourseDirectory else [
        ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
    cfg.CourseDirectory.ignore = ignore + [p for p in INSTRUCTOR_ONLY if p not in ignore]
    return cfg


def db_url(course_dir: Path, cfg: Config | None = None) -> str:
    cfg = cfg if cfg is not None else load_config(course_dir)
    url = cfg.CourseDirectory.get("db_url") if "db_url" in cfg.CourseDirectory else None
    return url or f"sqlite:///{(course_dir / 'gradebook.db').resolve()}"


def course_id(cfg: Config) -> str:
    return cfg.CourseDirectory.course_id if "course_id" in cfg.CourseDirectory else ""


def sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def assignments(course_dir: Path) -> list[str]:
    source = course_dir / "source"
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))


def notebook_name(course_dir: Path, assignment: str) -> str:
    """The stem of the assignment's notebook: ``<id>.ipynb`` or its only notebook."""
    folder = course_dir / "source" / assignment
    if not folder.is_dir():
        known = ", ".join(assignments(course_dir)) or "none"
        raise GradingError(f"no assignment {assignment!r} in {course_dir / 'source'} (assignments: {known})")
    if (folder / f"{assignment}.ipynb").exists():
        return assignment
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) == 1:
        return notebooks[0].stem
    raise GradingError(f"{folder} must hold {assignment}.ipynb (or exactly one notebook), "
                       f"found {[p.name for p in notebooks]}")


@contextlib.contextmanager
def quiet_logs(level: int = logging.ERROR) -> Iterator[None]:
    """Silence nbgrader/traitlets/sqlalchemy chatter (restored afterwards)."""
    import warnings
    names = ["", "traitlets", "nbgrader", "NbGrader", "sqlalchemy", "alembic"]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for n, lvl in saved.items():
                logging.getLogger(n).setLevel(lvl)


def _quiet_converter(converter: Any) -> Any:
    """``converter`` (an nbgrader converter) with a log of its own that goes nowhere."""
    log = logging.getLogger(f"course.grading.{converter.__class__.__name__}")
    log.handlers[:] = [logging.NullHandler()]
    log.propagate = False
    converter.log = log
    return converter


def generate_assignment(course_dir: Path, assignment: str, root: Path, db: str | None = None) -> Path:
    """Run nbgrader's generate_assignment for ``assignment`` into ``root``.

    ``root`` becomes a course directory holding a copy of ``source/<assignment>``,
    the release ``release/<assignment>`` and (unless ``db`` is given) its own
    gradebook with the assignment's cells. Returns ``root``.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    patch_nbgrader()
    root.mkdir(parents=True, exist_ok=True)
    src = course_dir / "source" / assignment
    if not src.is_dir():
        raise GradingError(f"no assignment source {src}")
    if root.resolve() != course_dir.resolve():
        dest = root / "source" / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"))
    cfg = load_config(course_dir)
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = db or f"sqlite:///{(root / 'gradebook.db').resolve()}"
    cfg.CourseDirectory.assignment_id = assignment
    cfg.GenerateAssignment.force = True
    cfg.GenerateAssignment.create_assignment = True
    with quiet_logs(), contextlib.redirect_stdout(io.StringIO()):
        coursedir = CourseDirectory(config=cfg)
        converter = _quiet_converter(GenerateAssignment(coursedir=coursedir, config=cfg))
        errors = run_converter(converter)
        if errors is not None:
            raise GradingError(f"nbgrader generate_assignment failed for {assignment}: {errors}")
    return root


def run_converter(converter: Any) -> str | None:
    """Run an nbgrader converter; None on success, else the exception and its ERROR log lines."""
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.ERROR)
    converter.log.addHandler(handler)
    try:
        converter.start()
    except Exception as exc:
        return f"{exc}\n{log.getvalue()}"
    finally:
        converter.log.removeHandler(handler)
    return None


def gradebook_cells(url: str, assignment: str, notebook: str) -> list[tuple[str, float, bool]]:
    """[(grade_id, max_score, autograded)] of the assignment's grade cells in notebook order."""
    from nbgrader.api import Gradebook

    patch_nbgrader()
    with quiet_logs(), Gradebook(url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        order = {c.name: i for i, c in enumerate(nb.source_cells)}
        solution_ids = {c.name for c in nb.solution_cells}
        cells = [(c.name, float(c.max_score), c.cell_type == "code" and c.name not in solution_ids,
                  order.get(c.name, 10**6)) for c in nb.grade_cells]
    cells.sort(key=lambda t: (t[3], t[0]))
    return [(name, mx, auto) for name, mx, auto, _ in cells]

