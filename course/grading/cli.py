"""The instructor's grading command: ``python -m course.grading COMMAND``.

Commands (each takes ``--course-dir``; default: the current directory when it is an nbgrader
course directory, holding ``nbgrader_config.py`` and ``source/``, as an instructor's copy on a
hub is; otherwise the repository's ``assignments/``)::

    release ASSIGNMENT | --all [--check]   release/<id>/ and solutions/<id>.ipynb
    autograde ASSIGNMENT SUBMISSIONS       grade a folder or zip of <student>/<id>.ipynb
    feedback ASSIGNMENT                    feedback/<student>/<id>/<id>.html
    export ASSIGNMENT --output grades.csv  one row per student, with a status column
    selftest [ASSIGNMENT | --all]          source = full marks, release = 0, wrong answers lose

Run ``python -m course.grading COMMAND --help`` for the options.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._course import DEFAULT_COURSE_DIR, GradingError

if TYPE_CHECKING:
    from .limits import Limits


def _course_dir(value: str) -> Path:
    return Path(value).resolve()


def default_course_dir(cwd: Path | None = None) -> Path:
    """The course directory when ``--course-dir`` is not given.

    ``cwd`` (default: the current directory) when it is an nbgrader course directory, i.e.
    holds ``nbgrader_config.py`` and ``source/`` (nbgrader itself reads the configuration of
    the folder it runs in); otherwise the repository's ``assignments/``.

    Args:
        cwd: the folder to look at first.

    Returns:
        The resolved course directory.
    """
    here = (cwd or Path.cwd()).resolve()
    if (here / "nbgrader_config.py").is_file() and (here / "source").is_dir():
        return here
    return DEFAULT_COURSE_DIR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course.grading", description=__doc__.split("\n")[0],
                                     epilog="\n".join(__doc__.split("\n")[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--course-dir", type=_course_dir, default=default_course_dir(),
                       help="the nbgrader course directory (default: the current directory if it holds "
                            f"nbgrader_config.py and source/, else {DEFAULT_COURSE_DIR}; here: %(default)s)")
        return p

    p = command("release", "generate release/<id>/ and the worked solution solutions/<id>.ipynb")
    p.add_argument("assignment", nargs="?", help="assignment id (a folder of source/)")
    p.add_argument("--all", action="store_true", help="every assignment in source/")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and list the files that are stale")
    p.add_argument("--solutions-dir", type=_course_dir, default=None,
                   help="where worked solutions go (default: <course-dir>/../solutions)")
    p.add_argument("--timeout", type=float, default=600, help="cell timeout when executing the solution")

    def grading_options(p: argparse.ArgumentParser, jobs_default: int = 1) -> None:
        from .limits import Limits
        default = Limits()
        p.add_argument("--jobs", "-j", type=int, default=jobs_default, help="parallel worker processes")
        p.add_argument("--cell-timeout", type=float, default=default.cell_timeout,
                       help="seconds per cell (default %(default)s)")
        p.add_argument("--submission-timeout", type=float, default=default.submission_timeout,
                       help="wall-clock seconds per submission; then its processes are killed "
                            "(default %(default)s)")
        p.add_argument("--memory-mb", type=int, default=default.memory_mb,
                       help="memory of a whole submission, all its processes (default %(default)s)")
        p.add_argument("--processes", type=int, default=default.processes,
                       help="processes and threads of a whole submission (default %(default)s)")
        p.add_argument("--sandbox", choices=["auto", "on", "off"], default="auto",
                       help="run kernels in a write-isolating namespace sandbox (default: when available)")

    p = command("autograde", "autograde every submission of an assignment")
    p.add_argument("assignment")
    p.add_argument("submissions", type=Path, help="folder (or zip) of <student>/<id>.ipynb")
    grading_options(p)

    p = command("feedback", "write HTML feedback for every graded student")
    p.add_argument("assignment")

    p = command("export", "write the grades of an assignment as CSV")
    p.add_argument("assignment")
    p.add_argument("--output", "-o", type=Path, default=None, help="CSV file (default: standard output)")

    p = command("selftest", "check that the assignments grade as intended")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--all", action="store_true")
    grading_options(p, jobs_default=2)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``course-admin`` with ``argv`` (default: the command line); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _assignments(args: argparse.Namespace) -> list[str]:
    from ._course import assignments
    if getattr(args, "all", False) or not args.assignment:
        if not getattr(args, "all", False) and args.command == "release":
            raise GradingError("give an ASSIGNMENT or --all")
        found = assignments(args.course_dir)
        if not found:
            raise GradingError(f"no assignments in {args.course_dir / 'source'}")
        return found
    return [args.assignment]


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "release":
        from .release import release
        stale: list[str] = []
        for assignment in _assignments(args):
            stale += release(args.course_dir, assignment, check=args.check, solutions_dir=args.solutions_dir,
                             timeout=args.timeout, progress=print)
        if args.check:
            if stale:
                print("stale (run `python -m course.grading release --all` and commit):")
                for path in stale:
                    print(f"  {path}")
                return 1
            print("release and solutions are up to date")
        return 0

    if args.command == "autograde":
        from .autograde import grade_batch
        summary = grade_batch(args.course_dir, args.assignment, args.submissions, jobs=args.jobs,
                              limits=_limits(args), sandbox=args.sandbox, progress=print)
        _print_summary(summary)
        return 0

    if args.command == "feedback":
        from .feedback import generate_feedback
        written = generate_feedback(args.course_dir, args.assignment)
        print(f"wrote feedback for {len(written)} student(s) in {args.course_dir / 'feedback'}")
        return 0

    if args.command == "export":
        from .export import export_csv
        text = export_csv(args.course_dir, args.assignment)
        if args.output:
            args.output.write_text(text)
            print(f"wrote {args.output}")
        else:
            sys.stdout.write(text)
        return 0

    if args.command == "selftest":
        from .selftest import selftest
        ok = True
        for assignment in _assignments(args):
            ok &= selftest(args.course_dir, assignment, jobs=args.jobs, limits=_limits(args),
                           sandbox=args.sandbox, progress=print)
        return 0 if ok else 1
    raise AssertionError(args.command)


def _limits(args: argparse.Namespace) -> Limits:
    from .limits import Limits
    limits = Limits(cell_timeout=args.cell_timeout, submission_timeout=args.submission_timeout,
                    memory_mb=args.memory_mb, processes=args.processes)
    try:
        limits.check()
    except ValueError as exc:
        raise GradingError(f"--{str(exc).split()[0].replace('_', '-')}: {exc}") from None
    return limits


def _print_summary(summary: dict[str, dict[str, Any]]) -> None:
    if not summary:
        print("no submissions")
        return
    width = max(len(s) for s in summary)
    print()
    for sid, row in summary.items():
        score = f"{row['score']:g}/{row['max_score']:g}"
        line = f"{sid:<{width}}  {row['status']:<16} {score:>9}"
        if row.get("reason"):
            line += f"  {row['reason'][:150]}"
        print(line)
