"""Collecting submissions (course/grading/submissions.py) and exporting plain-nbgrader grades.

The collection tests build real submission folders with real symbolic links
(to another student's work and to a host file holding a secret string), FIFOs,
hidden folders and hostile zips, and check that no link is ever followed, no
read ever blocks, and every student folder ends as a row or a warning.
"""
from __future__ import annotations

import os
import stat
import threading
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from course.grading import submissions as subs_mod
from course.grading._course import GradingError
from course.grading.statuses import Status
from course.grading.submissions import Entry, collect

A = "a1"  # assignment id and notebook name
SECRET = "HOST-SECRET-7f3a9c21e5"
VICTIM = b'{"victim": "VICTIM-WORK-b81d"}'


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def mine(student: str) -> bytes:
    return f'{{"owner": "{student}-OWN-WORK"}}'.encode()


@pytest.fixture
def host(tmp_path):
    """A host file and folder outside the submissions, whose content and names hold SECRET."""
    folder = tmp_path / "host"
    write(folder / "secret.txt", f"{SECRET}\nmore secret lines\n".encode())
    write(folder / f"{SECRET}-listing.txt", b"x")
    write(folder / f"{SECRET}.ipynb", f'{{"secret": "{SECRET}"}}'.encode())
    return folder


def run(submissions: Path, scratch: Path, timeout: float = 60) -> tuple[dict[str, Entry], list[str]]:
    """collect() in a thread: a read that blocks (a FIFO) fails the test instead of hanging it."""
    out = {}

    def target():
        try:
            out["result"] = collect(submissions, A, A, scratch)
        except BaseException as exc:  # re-raised below
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "collect() blocked (it opened a FIFO or a device?)"
    if "error" in out:
        raise out["error"]
    entries, warnings = out["result"]
    assert [e.student for e in entries] == sorted(e.student for e in entries)
    return {e.student: e for e in entries}, warnings


def texts(entries: dict[str, Entry], warnings: list[str]) -> str:
    """Every piece of text collection produced that could reach a CSV, a log or a feedback page."""
    parts = list(warnings)
    for e in entries.values():
        parts += [e.student, e.reason, e.timestamp or "", *e.notes]
        if e.path is not None:
            parts.append(str(e.path))
    return "\n".join(parts)


def assert_private(entries: dict[str, Entry], scratch: Path) -> None:
    """Every notebook to grade is a regular file (not a link) inside scratch."""
    for e in entries.values():
        if e.path is None:
            continue
        assert e.path.resolve().is_relative_to(scratch.resolve()), e
        assert not any(p.is_symlink() for p in [e.path, *e.path.parents] if p.is_relative_to(scratch)), e
        assert stat.S_ISREG(os.lstat(e.path).st_mode), e


# ----------------------------------------------------------------------------- links to another student

LINKS = {  # name: (link inside mallory's folder, its target relative to that link's folder)
    "assignment folder -> victim": (A, "../victim"),
    "assignment folder -> victim's assignment folder": (A, "../victim/" + A),
    "notebook -> victim's notebook": (f"{A}.ipynb", f"../victim/{A}/{A}.ipynb"),
    "nested notebook -> victim's notebook": (f"{A}/{A}.ipynb", f"../../victim/{A}/{A}.ipynb"),
    "other name -> victim's notebook": (f"{A}/final.ipynb", f"../../victim/{A}/{A}.ipynb"),
    "absolute link -> victim's folder": (A, None),
}


@pytest.mark.parametrize("case", LINKS)
def test_mallory_is_never_graded_with_the_victims_notebook(tmp_path, case):
    root = tmp_path / "submitted"
    victim = write(root / "victim" / A / f"{A}.ipynb", VICTIM)
    name, target = LINKS[case]
    link = root / "mallory" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target if target is not None else str(victim.parent.resolve()), link)
    followed = [Path(d) / f for d, _, files in os.walk(root / "mallory", followlinks=True) for f in files]
    assert VICTIM in b"".join(p.read_bytes() for p in followed)  # following the link would find her work

    entries, warnings = run(root, tmp_path / "scratch")
    mallory = entries["mallory"]
    assert mallory.path is None or VICTIM not in mallory.path.read_bytes()
    assert mallory.status == Status.MISSING_NOTEBOOK and mallory.status == "missing_notebook"
    assert any("symbolic link" in n and Path(name).name in n for n in mallory.notes), mallory.notes
    assert entries["victim"].path.read_bytes() == VICTIM and entries["victim"].status is None
    assert_private(entries, tmp_path / "scratch")


def test_mallorys_own_notebook_is_graded_and_the_link_beside_it_is_noted(tmp_path):
    root = tmp_path / "submitted"
    write(root / "victim" / A / f"{A}.ipynb", VICTIM)
    write(root / "mallory" / A / "mine.ipynb", mine("mallory"))
    os.symlink(f"../../victim/{A}/{A}.ipynb", root / "mallory" / A / f"{A}.ipynb")
    entries, _ = run(root, tmp_path / "scratch")
    mallory = entries["mallory"]
    assert mallory.path.read_bytes() == mine("mallory")
    assert mallory.wrong_filename and mallory.status is None
    assert any(f"skipped {A}/{A}.ipynb: a symbolic link" in n for n in mallory.notes), mallory.notes


# ----------------------------------------------------------------------------- links to host files

def test_no_host_file_content_or_name_reaches_any_text(tmp_path, host):
    root = tmp_path / "submissions"
    # a timestamp.txt that is a link to a host file
    write(root / "tina" / A / f"{A}.ipynb", mine("tina"))
    os.symlink(host / "secret.txt", root / "tina" / A / "timestamp.txt")
    # a folder linked to a host folder: its names must not be listed as "found"
    write(root / "dora" / "notes.txt", b"see the data folder")
    os.symlink(host, root / "dora" / "data")
    # nothing but a link to a host folder holding a notebook
    (root / "lena").mkdir(parents=True)
    os.symlink(host, root / "lena" / A)
    # the notebook itself a link to a host file
    (root / "nick").mkdir()
    os.symlink(host / "secret.txt", root / "nick" / f"{A}.ipynb")

    scratch = tmp_path / "scratch"
    entries, warnings = run(root, scratch)
    assert sorted(entries) == ["dora", "lena", "nick", "tina"]
    assert SECRET not in texts(entries, warnings)
    for e in entries.values():
        assert e.path is None or SECRET.encode() not in e.path.read_bytes(), e
    assert not any(SECRET in p.name or SECRET.encode() in p.read_bytes()
                   for p in scratch.rglob("*") if p.is_file())

    assert entries["tina"].path.read_bytes() == mine("tina") and entries["tina"].timestamp is None
    assert any("timestamp.txt: a symbolic link" in n for n in entries["tina"].notes)
    dora = entries["dora"]
    assert dora.status == Status.MISSING_NOTEBOOK
    assert "found notes.txt)" in dora.reason, dora.reason
    assert any("skipped data: a symbolic link" in n for n in dora.notes)
    for student in ("lena", "nick"):
        assert entries[student].status == Status.MISSING_NOTEBOOK and entries[student].path is None


def test_a_regular_timestamp_is_read_and_bounded(tmp_path):
    root = tmp_path / "submissions"
    write(root / "ivan" / A / f"{A}.ipynb", mine("ivan"))  # nbgrader's layout
    write(root / "ivan" / A / "timestamp.txt", b"2026-01-15 10:00:00.000000 UTC\n")
    write(root / "huge" / f"{A}.ipynb", mine("huge"))
    write(root / "huge" / "timestamp.txt", b"9" * 10_000_000)
    entries, _ = run(root, tmp_path / "scratch")
    assert entries["ivan"].timestamp == "2026-01-15 10:00:00.000000 UTC"
    assert entries["ivan"].path.read_bytes() == mine("ivan")
    assert entries["huge"].timestamp == "9" * 64


# ----------------------------------------------------------------------------- every folder is accounted for

def test_symlinked_student_folders_get_a_row(tmp_path, host):
    outside = tmp_path / "elsewhere" / "bob"
    write(outside / A / f"{A}.ipynb", mine("bob"))
    root = tmp_path / "submitted"
    (root / "frank").mkdir(parents=True)  # no notebook: must not be taken for a wrapper folder
    write(root / "frank" / "answers.txt", b"I forgot")
    os.symlink(outside, root / "bob")
    os.symlink(host, root / "carl")
    os.symlink(tmp_path / "does-not-exist", root / "dangling")
    entries, warnings = run(root, tmp_path / "scratch")
    assert sorted(entries) == ["bob", "carl", "dangling", "frank"]
    for student in ("bob", "carl", "dangling"):
        e = entries[student]
        assert (e.status, e.path) == (Status.MISSING_NOTEBOOK, None), e
        assert "symbolic link" in e.reason and "never followed" in e.reason, e.reason
    assert entries["frank"].status == Status.MISSING_NOTEBOOK and "answers.txt" in entries["frank"].reason
    assert SECRET not in texts(entries, warnings)


def test_a_batch_of_only_symlinked_folders_is_not_empty(tmp_path):
    write(tmp_path / "real" / "zoe" / f"{A}.ipynb", mine("zoe"))
    root = tmp_path / "batch" / "submitted"  # also inside a wrapper folder
    root.mkdir(parents=True)
    os.symlink(tmp_path / "real" / "zoe", root / "zoe")
    entries, warnings = run(tmp_path / "batch", tmp_path / "scratch")
    assert list(entries) == ["zoe"] and entries["zoe"].status == Status.MISSING_NOTEBOOK
    assert not any("no student folders" in w for w in warnings), warnings


def test_hidden_folders_are_warned_about_not_dropped(tmp_path):
    root = tmp_path / "submissions"
    write(root / ".mallory" / A / f"{A}.ipynb", mine("mallory"))
    write(root / "alice" / f"{A}.ipynb", mine("alice"))
    os.symlink(root / "alice", root / ".alias")
    write(root / ".DS_Store", b"junk")
    write(root / "__MACOSX" / "alice" / f"._{A}.ipynb", b"junk")
    entries, warnings = run(root, tmp_path / "scratch")
    assert list(entries) == ["alice"]
    assert any(".mallory" in w and "hidden folder" in w for w in warnings), warnings
    assert any(".alias" in w and "symbolic link" in w for w in warnings), warnings
    assert not any("DS_Store" in w or "MACOSX" in w for w in warnings), warnings


def test_fifos_and_other_special_files_are_never_opened(tmp_path):
    root = tmp_path / "submissions"
    (root / "fred" / A).mkdir(parents=True)
    os.mkfifo(root / "fred" / A / f"{A}.ipynb")  # opening it for reading would wait for a writer
    os.mkfifo(root / "fred" / A / "timestamp.txt")
    write(root / "gail" / f"{A}.ipynb", mine("gail"))
    os.mkfifo(root / "gail" / "timestamp.txt")
    os.mkfifo(root / "hugo")  # a FIFO where a student folder would be
    entries, warnings = run(root, tmp_path / "scratch", timeout=30)
    fred = entries["fred"]
    assert (fred.status, fred.path, fred.timestamp) == (Status.MISSING_NOTEBOOK, None, None)
    assert any(f"{A}/{A}.ipynb: not a regular file" in n for n in fred.notes), fred.notes
    assert entries["gail"].path.read_bytes() == mine("gail") and entries["gail"].timestamp is None
    assert "hugo" not in entries and any("hugo" in w and "not a regular file" in w for w in warnings)


def test_every_student_level_name_is_a_row_or_a_warning(tmp_path, host):
    root = tmp_path / "submissions"
    write(root / "victim" / A / f"{A}.ipynb", VICTIM)
    write(root / "alice" / f"{A}.ipynb", mine("alice"))
    write(root / "gina" / "a1 (1).ipynb", mine("gina"))
    write(root / "many" / "x.ipynb", b"{}")
    write(root / "many" / "y.ipynb", b"{}")
    write(root / "bad name!" / f"{A}.ipynb", b"{}")
    write(root / ".hidden" / f"{A}.ipynb", b"{}")
    write(root / f"{A}.ipynb", b"{}")
    os.symlink("victim", root / "mallory")
    os.symlink(host, root / "hostlink")
    os.symlink(root / "victim", root / "bad link!")
    os.mkfifo(root / "pipe")
    (root / "mike" / A).mkdir(parents=True)
    os.symlink("../../victim", root / "mike" / A / "sub")
    scratch = tmp_path / "scratch"
    entries, warnings = run(root, scratch)

    for name in os.listdir(root):
        assert name in entries or any(name in w for w in warnings), name
    assert entries["alice"].path.read_bytes() == mine("alice")
    assert entries["gina"].wrong_filename and entries["gina"].path.read_bytes() == mine("gina")
    assert entries["many"].status == Status.WRONG_FILENAME and entries["many"].path is None
    assert entries["bad name!"].status == Status.INVALID_STUDENT_ID
    assert entries["bad link!"].status == Status.INVALID_STUDENT_ID
    for student in ("mallory", "hostlink", "mike"):
        e = entries[student]
        assert (e.status, e.path) == (Status.MISSING_NOTEBOOK, None), e
    assert any(f"ignored {A}.ipynb" in w for w in warnings)
    assert SECRET not in texts(entries, warnings)
    victims = [s for s, e in entries.items() if e.path is not None and VICTIM in e.path.read_bytes()]
    assert victims == ["victim"]
    assert_private(entries, scratch)


# ----------------------------------------------------------------------------- the copier itself

def test_the_copier_refuses_a_link_or_fifo_swapped_in_after_the_lstat(tmp_path, host):
    """_copy_file/_copy_subdir open with O_NOFOLLOW (and O_NONBLOCK): what lstat saw does not matter."""
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(host / "secret.txt", folder / "file-link")
    os.symlink(host, folder / "dir-link")
    os.mkfifo(folder / "fifo")
    dest = tmp_path / "dest"
    dest.mkdir()
    stager = subs_mod._Stager(folder)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        done = threading.Event()

        def copy():
            stager._copy_file(fd, "file-link", dest / "file-link", PurePosixPath("file-link"))
            stager._copy_subdir(fd, "dir-link", dest / "dir-link", PurePosixPath("dir-link"))
            stager._copy_file(fd, "fifo", dest / "fifo", PurePosixPath("fifo"))
            done.set()

        threading.Thread(target=copy, daemon=True).start()
        assert done.wait(30), "copying a FIFO blocked"
    finally:
        os.close(fd)
    assert os.listdir(dest) == []
    assert dict(stager.skipped) == {PurePosixPath("file-link"): subs_mod.LINK,
                                    PurePosixPath("dir-link"): subs_mod.LINK,
                                    PurePosixPath("fifo"): subs_mod.SPECIAL}


def test_staging_is_bounded(tmp_path, monkeypatch):
    root = tmp_path / "submissions"
    for i in range(5):
        write(root / f"s{i}" / f"{A}.ipynb", b"x" * 1000)
    monkeypatch.setattr(subs_mod, "MAX_STAGE_FILES", 6)
    with pytest.raises(GradingError, match="more than 6 files"):
        collect(root, A, A, tmp_path / "scratch1")
    monkeypatch.setattr(subs_mod, "MAX_STAGE_FILES", 100)
    monkeypatch.setattr(subs_mod, "MAX_STAGE_BYTES", 3000)
    with pytest.raises(GradingError, match="more than"):
        collect(root, A, A, tmp_path / "scratch2")
    monkeypatch.setattr(subs_mod, "MAX_STAGE_BYTES", 5000)
    entries, _ = collect(root, A, A, tmp_path / "scratch3")
    assert len(entries) == 5


def test_the_original_folder_is_left_untouched(tmp_path, host):
    root = tmp_path / "submissions"
    write(root / "alice" / f"{A}.ipynb", mine("alice"))
    os.symlink(host, root / "alice" / "data")
    before = {p: (p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else None)
              for p in root.rglob("*")}
    entries, _ = run(root, tmp_path / "scratch")
    entries["alice"].path.write_bytes(b"changed by the grader")
    after = {p: (p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else None)
             for p in root.rglob("*")}
    assert after == before


# ----------------------------------------------------------------------------- zips

def test_zip_traversal_and_link_members_are_skipped(tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"submitted/alice/{A}.ipynb", mine("alice"))
        zf.writestr(f"submitted/ivan/{A}/{A}.ipynb", mine("ivan"))
        zf.writestr(f"submitted/ivan/{A}/timestamp.txt", "2026-01-15 10:00:00.000000 UTC")
        zf.writestr("../escaped.ipynb", b"escaped")
        zf.writestr("/abs-escaped.ipynb", b"escaped")
        zf.writestr(f"submitted/__MACOSX/alice/._{A}.ipynb", b"junk")
        for name, target in ((f"submitted/mallory/{A}.ipynb", f"../victim/{A}.ipynb"),
                             ("submitted/zed", "/etc")):
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
        zf.writestr("submitted/mallory/readme.txt", b"hi")
    scratch = tmp_path / "scratch"
    entries, warnings = run(archive, scratch)
    assert sorted(entries) == ["alice", "ivan", "mallory", "zed"]
    assert entries["alice"].path.read_bytes() == mine("alice")
    assert entries["ivan"].path.read_bytes() == mine("ivan")
    assert entries["ivan"].timestamp.startswith("2026-01-15")
    assert entries["mallory"].status == Status.MISSING_NOTEBOOK
    assert any("a1.ipynb: a symbolic link" in n for n in entries["mallory"].notes)
    assert entries["zed"].status == Status.MISSING_NOTEBOOK and "symbolic link" in entries["zed"].reason
    assert any("skipped 2 member(s)" in w for w in warnings), warnings
    assert not (tmp_path / "escaped.ipynb").exists() and not Path("/abs-escaped.ipynb").exists()
    assert not any(p.is_symlink() for p in scratch.rglob("*"))
    assert_private(entries, scratch)


def test_zip_bomb_and_not_a_zip_are_refused(tmp_path, monkeypatch):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"alice/{A}.ipynb", b"0" * 100_000)
    monkeypatch.setattr(subs_mod, "MAX_ZIP_BYTES", 10_000)
    with pytest.raises(GradingError, match="unpacks to more than"):
        collect(archive, A, A, tmp_path / "scratch")
    text = write(tmp_path / "notes.txt", b"not a zip")
    with pytest.raises(GradingError, match="neither a folder nor a zip"):
        collect(text, A, A, tmp_path / "scratch2")
    with pytest.raises(GradingError, match="no such"):
        collect(tmp_path / "missing", A, A, tmp_path / "scratch3")


# ----------------------------------------------------------------------------- export of plain nbgrader grades

@pytest.fixture(scope="module")
def plain_nbgrader_course(tmp_path_factory):
    """A toy course whose gradebook has submissions as plain ``nbgrader autograde`` leaves them."""
    from nbgrader.api import Gradebook

    from course.grading import _course
    from grading_toy import make_toy_course

    root = make_toy_course(tmp_path_factory.mktemp("plain") / "course")
    url = _course.db_url(root)
    _course.generate_assignment(root, "toy", root, db=url)
    with _course.quiet_logs(), Gradebook(url, "toy-course") as gb:
        for student in ("crashed", "fine", "absent"):
            gb.add_student(student)
        for student in ("crashed", "fine"):
            gb.add_submission("toy", student)  # grades with NULL scores, as after a crashed autograde
        for grade in gb.find_submission_notebook("toy", "toy", "fine").grades:
            grade.auto_score = grade.max_score
        gb.db.commit()
    write(root / "autograded" / "fine" / "toy" / "toy.ipynb", b"{}")  # nbgrader wrote fine's graded notebook
    return root


def test_export_says_a_submission_without_a_graded_notebook_was_not_graded(plain_nbgrader_course):
    from course.grading import export

    header, data = export.rows(plain_nbgrader_course, "toy")
    rows = {row["student"]: row for row in data}
    assert sorted(rows) == ["absent", "crashed", "fine"]
    crashed = rows["crashed"]
    assert crashed["status"] == Status.NOT_GRADED and crashed["status"] == "not_graded"
    assert "no graded notebook" in crashed["reason"] and "nbgrader" in crashed["reason"]
    assert crashed["needs_manual_grade"] == "yes"
    assert rows["fine"]["status"] == "graded" and rows["fine"]["score"] == "6"
    assert rows["absent"]["status"] == "no_submission"
    csv_text = export.export_csv(plain_nbgrader_course, "toy")
    assert ",not_graded," in csv_text and ",graded," in csv_text and "Status." not in csv_text


def test_export_keeps_graded_once_the_graded_notebook_exists(plain_nbgrader_course, tmp_path):
    from course.grading import export

    graded = plain_nbgrader_course / "autograded" / "crashed" / "toy" / "toy.ipynb"
    write(graded, b"{}")
    try:
        rows = {row["student"]: row for row in export.rows(plain_nbgrader_course, "toy")[1]}
    finally:
        graded.unlink()
    assert rows["crashed"]["status"] == "graded"
    assert "no status recorded" in rows["crashed"]["reason"]


@pytest.mark.parametrize("failures, stopped", [("0", None), ("3", "dead")])
def test_a_cell_that_stalls_at_the_memory_limit_ends_as_a_crash(tmp_path, failures, stopped):
    """A kernel thrashing at its memory limit may be OOM-killed or time out first, depending on the
    machine's load. When the cell times out and the submission's cgroup has hit its limit, the grader
    kills the kernel: the same outcome (crashed, later cells not run) either way."""
    from nbformat.v4 import new_code_cell, new_notebook

    from course.grading._preprocessors import GuardedExecute, exit_text

    cgroup = tmp_path / "memory"
    cgroup.mkdir()
    (cgroup / "memory.failcnt").write_text(failures)   # how often the cgroup hit its limit
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("while True:\n    pass"), new_code_cell("y = 2")])
    execute = GuardedExecute(timeout=2, interrupt_on_timeout=True, memory_cgroup=str(cgroup), kernel_name="python3")
    execute.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    report = execute._report
    assert report["stopped"] == stopped
    if stopped:
        assert report["stopped_cell"] == 1 and "memory limit" in exit_text(report["exit"])
        assert [o.ename for o in nb.cells[2].outputs] == ["NotRun"]
    else:
        assert report["timed_out"] == [1] and nb.cells[2].execution_count is not None
