"""Collect a batch of submissions without ever following a link.

``SUBMISSIONS`` is a folder (or a zip of one) holding ``<student>/<id>.ipynb``
or nbgrader's ``<student>/<id>/<id>.ipynb``, possibly inside wrapper folders
(``submitted/``, a zip's top folder). A student controls everything inside
their folder, so nothing there is trusted:

1. **Stage.** The tree is first copied into a private scratch folder: a zip is
   extracted (no path traversal, no links, bounded size), a folder is copied
   with :func:`_stage`, which looks at each name with ``lstat`` and opens it
   with ``O_NOFOLLOW``, copies regular files only (never a symbolic link, a
   FIFO, a socket or a device) and records what it skipped.
2. **Collect.** Every later read is of a private regular file in that copy:
   the student folders, their notebook, their ``timestamp.txt``.

A student folder without a notebook is ``missing_notebook``; a single notebook
under another name is graded and flagged ``wrong_filename``; several notebooks,
none with the right name, are ``wrong_filename`` and not graded. A student
folder that is a symbolic link gets a ``missing_notebook`` row saying so; a
hidden folder (``.name``) is not a student and gets a warning.
"""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ._course import STUDENT_ID, GradingError
from .statuses import Status

#: names that are never part of a submission (copied by no one, reported to no one)
JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints"}
MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_MEMBERS = 20000
#: limits of a copied folder: the same as a zip's
MAX_STAGE_BYTES = MAX_ZIP_BYTES
MAX_STAGE_FILES = MAX_ZIP_MEMBERS
#: folders nested deeper than this inside the submissions folder are not copied
MAX_DEPTH = 16
#: at most this many bytes of timestamp.txt are read
MAX_TIMESTAMP_BYTES = 256

LINK = "a symbolic link (links are never followed)"
SPECIAL = "not a regular file (a FIFO, socket or device: never read)"
UNREADABLE = "could not be read (permission denied)"
TOO_DEEP = f"nested more than {MAX_DEPTH} folders deep"

#: (path relative to the staged root, why it was not copied)
Skipped = list[tuple[PurePosixPath, str]]


@dataclass
class Entry:
    """One student's submission: the notebook to grade, or a status saying why there is none."""

    student: str
    path: Path | None = None
    status: Status | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    wrong_filename: bool = False
    timestamp: str | None = None


# ----------------------------------------------------------------------------- staging

def _hidden(name: str) -> bool:
    return name in JUNK or name.startswith(".")


def _safe_extract(archive: Path, dest: Path) -> tuple[Skipped, int]:
    """Extract a zip without path traversal, links, or zip bombs.

    Returns (the symbolic links skipped, how many members had an unsafe path).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise GradingError(f"{archive} is not a valid zip file: {exc}") from None
    skipped: Skipped = []
    unsafe = 0
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise GradingError(f"{archive} holds {len(members)} files, more than {MAX_ZIP_MEMBERS}")
        total = 0
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or "\0" in name:
                unsafe += 1  # path traversal: skipped
                continue
            if any(p in JUNK for p in parts):
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                skipped.append((PurePosixPath(*parts), LINK))
                continue
            target = dest.joinpath(*parts) if parts else dest
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                out = open(target, "wb")
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                continue  # a file and a folder with the same name: the first one wins
            with zf.open(info) as src, out:
                while chunk := src.read(2**20):
                    total += len(chunk)
                    if total > MAX_ZIP_BYTES:
                        raise GradingError(f"{archive} unpacks to more than {MAX_ZIP_BYTES // 2**30} GB")
                    out.write(chunk)
    return skipped, unsafe


class _Stager:
    """Copy a folder's regular files and folders, never following a link (see :func:`_stage`)."""

    def __init__(self, source: Path):
        self.source = source
        self.skipped: Skipped = []
        self.files = 0
        self.bytes = 0

    def _count(self, files: int = 0, size: int = 0) -> None:
        self.files += files
        self.bytes += size
        if self.files > MAX_STAGE_FILES:
            raise GradingError(f"{self.source} holds more than {MAX_STAGE_FILES} files and folders")
        if self.bytes > MAX_STAGE_BYTES:
            raise GradingError(f"{self.source} holds more than {MAX_STAGE_BYTES // 2**30} GB")

    def copy_dir(self, dir_fd: int, dest: Path, rel: PurePosixPath) -> None:
        """Copy the folder open as ``dir_fd`` (at ``rel``) into the new folder ``dest``."""
        for name in sorted(os.listdir(dir_fd)):
            if name in JUNK:
                continue
            where = rel / name
            try:
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # removed while we looked
            if stat.S_ISLNK(mode):
                self.skipped.append((where, LINK))
            elif stat.S_ISDIR(mode):
                self._copy_subdir(dir_fd, name, dest / name, where)
            elif stat.S_ISREG(mode):
                self._copy_file(dir_fd, name, dest / name, where)
            else:
                self.skipped.append((where, SPECIAL))

    def _copy_subdir(self, dir_fd: int, name: str, dest: Path, rel: PurePosixPath) -> None:
        if len(rel.parts) > MAX_DEPTH:
            self.skipped.append((rel, TOO_DEEP))
            return
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        except PermissionError:
            self.skipped.append((rel, UNREADABLE))
            return
        except OSError:  # ELOOP/ENOTDIR: swapped for a link or a file since the lstat
            self.skipped.append((rel, LINK))
            return
        try:
            self._count(files=1)
            dest.mkdir(mode=0o700)
            self.copy_dir(fd, dest, rel)
        finally:
            os.close(fd)

    def _copy_file(self, dir_fd: int, name: str, dest: Path, rel: PurePosixPath) -> None:
        # O_NONBLOCK: if a FIFO replaced the file since the lstat, opening it does not wait
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except PermissionError:
            self.skipped.append((rel, UNREADABLE))
            return
        except OSError:  # ELOOP: swapped for a link since the lstat
            self.skipped.append((rel, LINK))
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self.skipped.append((rel, SPECIAL))
                return
            self._count(files=1)
            out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                while chunk := os.read(fd, 2**20):
                    self._count(size=len(chunk))
                    os.write(out, chunk)
            finally:
                os.close(out)
        finally:
            os.close(fd)


def _stage(source: Path, dest: Path) -> Skipped:
    """Copy the folder ``source`` into the new folder ``dest``; return what was not copied.

    Only folders and regular files are copied, at most ``MAX_STAGE_FILES`` of
    them and ``MAX_STAGE_BYTES`` in all (a :class:`GradingError` beyond). Below
    ``source`` itself (the instructor's argument), nothing is followed: each
    name is examined with ``lstat`` and opened relative to its open parent with
    ``O_NOFOLLOW``, so a link swapped in meanwhile is refused too.
    """
    stager = _Stager(source)
    fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dest.mkdir(mode=0o700)
        stager.copy_dir(fd, dest, PurePosixPath())
    finally:
        os.close(fd)
    return stager.skipped


# ----------------------------------------------------------------------------- collection

def _visible(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if not _hidden(p.name))


def _is_student_dir(path: Path, assignment: str) -> bool:
    return (path / assignment).is_dir() or any(p.suffix == ".ipynb" for p in _visible(path) if p.is_file())


def _submissions_root(staged: Path, assignment: str, skipped: Skipped) -> Path:
    """Descend through wrapper folders (``submitted/``, a zip's top folder).

    A folder is a wrapper when all it holds is one folder that is not a
    student's; a skipped link next to that folder may be a student's, so it
    stops the descent.
    """
    with_links = {staged.joinpath(*rel.parent.parts) for rel, _ in skipped if not _hidden(rel.name)}
    root = staged
    for _ in range(4):
        entries = _visible(root)
        dirs = [p for p in entries if p.is_dir()]
        if len(dirs) == 1 and len(entries) == 1 and root not in with_links \
                and not _is_student_dir(dirs[0], assignment):
            root = dirs[0]
        else:
            break
    return root


def _read_timestamp(path: Path) -> str | None:
    """The start of a (staged, regular) timestamp.txt, if there is one."""
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        text = f.read(MAX_TIMESTAMP_BYTES).decode("utf-8", errors="replace")
    return text.strip()[:64] or None


def _skipped_notes(skipped: Skipped) -> list[str]:
    notes = [f"skipped {rel}: {why}" for rel, why in skipped[:5]]
    if len(skipped) > 5:
        notes.append(f"and {len(skipped) - 5} more files skipped")
    return notes


def _student_entry(folder: Path, assignment: str, expected: str, skipped: Skipped) -> Entry:
    """The entry of the (staged) student folder ``folder``; ``skipped`` is relative to it."""
    entry = Entry(folder.name, notes=_skipped_notes(skipped))
    where = folder / assignment if (folder / assignment).is_dir() else folder
    entry.timestamp = _read_timestamp(where / "timestamp.txt")
    notebooks = sorted(p for p in where.rglob("*.ipynb")
                       if p.is_file() and not any(_hidden(part) for part in p.relative_to(where).parts))
    if (where / expected).is_file():
        entry.path = where / expected
    elif len(notebooks) == 1:
        entry.path = notebooks[0]
        entry.wrong_filename = True
        entry.notes.insert(0, f"the notebook was named {notebooks[0].relative_to(where)} instead of "
                              f"{expected}; it was graded anyway")
    elif notebooks:
        entry.status = Status.WRONG_FILENAME
        names = ", ".join(str(p.relative_to(where)) for p in notebooks[:5])
        entry.reason = f"no notebook named {expected}, and several others ({names}): not graded"
    else:
        entry.status = Status.MISSING_NOTEBOOK
        found = ", ".join(p.name for p in _visible(where)[:5]) or "nothing"
        entry.reason = f"no notebook in the submission (expected {expected}; found {found})"
    return entry


def _invalid_id(student: str) -> Entry:
    return Entry(student, status=Status.INVALID_STUDENT_ID,
                 reason="the folder name is not a valid student id (letters, digits and _ . @ + - only); "
                        "not graded")


def collect(submissions: Path, assignment: str, notebook: str, scratch: Path) -> tuple[list[Entry], list[str]]:
    """Find every student's notebook. Returns (entries sorted by student, warnings).

    The submissions are staged into ``scratch/staged`` first: every
    ``Entry.path`` is a private regular file in there.
    """
    submissions = Path(submissions)
    staged = Path(scratch) / "staged"
    staged.parent.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    if submissions.is_dir():
        skipped = _stage(submissions, staged)
    elif submissions.is_file() and zipfile.is_zipfile(submissions):
        staged.mkdir(mode=0o700)
        skipped, unsafe = _safe_extract(submissions, staged)
        if unsafe:
            warnings.append(f"skipped {unsafe} member(s) of {submissions.name} with an absolute path or '..'")
    elif submissions.exists():
        raise GradingError(f"{submissions} is neither a folder nor a zip file")
    else:
        raise GradingError(f"no such submissions folder or zip: {submissions}")

    root = _submissions_root(staged, assignment, skipped)
    base = root.relative_to(staged).parts
    below: dict[str, Skipped] = {}  # student-level name -> what was skipped inside it
    not_copied: dict[str, str] = {}  # student-level name (a link, a FIFO...) -> why it was skipped
    for rel, why in skipped:
        if rel.parts[:len(base)] != base or len(rel.parts) == len(base):
            continue
        name, inner = rel.parts[len(base)], rel.parts[len(base) + 1:]
        if inner:
            below.setdefault(name, []).append((PurePosixPath(*inner), why))
        else:
            not_copied[name] = why

    expected = f"{notebook}.ipynb"
    entries: list[Entry] = []
    names = sorted({p.name for p in root.iterdir()} | set(not_copied))
    for name in names:
        path = root / name
        if name in JUNK:
            continue
        if name.startswith("."):
            if name in not_copied or path.is_dir():
                what = "symbolic link" if not_copied.get(name) == LINK else "folder"
                warnings.append(f"ignored {name}: a hidden {what} (its name starts with '.'), not a student")
            continue
        if name in not_copied:
            why = not_copied[name]
            if why == SPECIAL or name.endswith(".ipynb"):
                warnings.append(f"ignored {name}: {why}")
            elif not STUDENT_ID.match(name):
                entries.append(_invalid_id(name))
            elif why == LINK:
                entries.append(Entry(name, status=Status.MISSING_NOTEBOOK,
                                     reason="the student folder is a symbolic link; links are never followed, "
                                            "so nothing was graded"))
            else:
                entries.append(Entry(name, status=Status.MISSING_NOTEBOOK,
                                     reason=f"the student folder {why}; nothing was graded"))
            continue
        if not path.is_dir():
            if path.suffix == ".ipynb":
                warnings.append(f"ignored {name}: notebooks must be inside a folder named after the student")
            continue
        if not STUDENT_ID.match(name):
            entries.append(_invalid_id(name))
            continue
        entries.append(_student_entry(path, assignment, expected, below.get(name, [])))
    if not entries:
        warnings.append(f"no student folders found in {submissions}")
    return entries, warnings
