"""Autograding a batch that mixes honest and hostile submissions, for every assignment.

Each assignment of assignments/source (or the toy assignment when there is
none) is copied to a scratch course directory and one batch is graded with
``--jobs 2`` (``python -m course.grading autograde``), then exported and
given feedback. The first assignment gets the full batch, graded twice: the
attacks on the grading machinery, the host (sandbox, cgroup, IPC, disk) and
the resources do not depend on the assignment, so they run once. Every other
assignment gets the batch that does depend on it (honest and partial scores,
timeouts and crashes between its tests, edited and deleted cells, its
catalogued cheats, patched checks, careless submissions), graded once.

Every honest submission must get its exact score; every hostile one a score or
an explicit status with its reason (in the CSV and in its feedback); tampering
with the grading machinery must end as ``tampered`` with 0 points and the
reason naming it; the gradebook must stay consistent; no process or IPC object
may survive; files outside a submission's folder must be untouched (content
and mode); the memory of a whole submission stays under its limit and its
process count is bounded; feedback is inert (no student script or HTML); and
both gradings must give the same CSV, byte for byte.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import html
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from course.grading import _course
from course.grading._kernel import sandbox_problem
from course.grading._nb import strip_solution_markers
from course.grading.limits import cgroup_problem
from grading_toy import make_toy_course

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: every assignment of the course (the toy assignment when there is none yet)
ASSIGNMENTS = sorted(p.name for p in (REPO / "assignments" / "source").glob("*") if list(p.glob("*.ipynb"))) \
    or ["toy"]
CELL_TIMEOUT = 10
SLEEP_MARK = "987654"  # `sleep 987654`: a process a submission leaves behind


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "course.grading", *map(str, args)], capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_test(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def is_answer(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("solution")


def defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def insert_after(nb, grade_id, source):
    index = next(i for i, c in enumerate(nb.cells) if gid(c) == grade_id)
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def points_before(nb, index):
    return sum(c.metadata.nbgrader.points for c in nb.cells[:index] if is_test(c))


class Assignment:
    """The assignment under test and the notebooks derived from it."""

    def __init__(self, base: Path, assignment: str):
        self.course = base / "coursedir"
        real = REPO / "assignments" / "source" / assignment
        if assignment != "toy":
            self.id, self.real = assignment, True
            shutil.copytree(real, self.course / "source" / assignment)
            if (REPO / "assignments" / "nbgrader_config.py").exists():
                shutil.copy(REPO / "assignments" / "nbgrader_config.py", self.course / "nbgrader_config.py")
        else:
            self.id, self.real = "toy", False
            make_toy_course(self.course)
        self.stem = _course.notebook_name(self.course, self.id)
        self.source = nbformat.read(str(self.course / "source" / self.id / f"{self.stem}.ipynb"), as_version=4)
        gen = _course.generate_assignment(self.course, self.id, base / "generated")
        self.release = nbformat.read(str(gen / "release" / self.id / f"{self.stem}.ipynb"), as_version=4)
        self.tests = {gid(c): float(c.metadata.nbgrader.points) for c in self.source.cells if is_test(c)}
        self.full = sum(self.tests.values())
        wrong = self.course / "source" / self.id / "wrong_answers.json"
        self.wrong = {w["name"]: w for w in json.loads(wrong.read_text())} if wrong.exists() else {}
        answers = {gid(c): strip_solution_markers(c.source) for c in self.source.cells
                   if c.metadata.get("nbgrader", {}).get("solution")}
        self.answers = answers
        # a "leaf" answer: its functions are used by exactly one test cell and by no other answer
        sources = {gid(c): c.source for c in self.source.cells if gid(c)}
        self.leaf = self.leaf_test = None
        for c in self.source.cells:
            if not is_answer(c):
                continue
            names = defined_names(answers[gid(c)])
            users = [g for g in self.tests if any(re.search(rf"\b{n}\b", sources[g]) for n in names)]
            others = [g for g, s in sources.items() if g != gid(c) and g not in self.tests
                      and any(re.search(rf"\b{n}\b", s) for n in names)]
            if names and len(users) == 1 and not others:
                self.leaf, self.leaf_test = gid(c), users[0]
                break
        assert self.leaf, "no answer cell is used by exactly one test cell"

    def solved(self, **replace):
        """The released notebook with every answer filled in (``replace``: grade_id -> source)."""
        nb = nbformat.from_dict(json.loads(json.dumps(self.release)))
        for cell in nb.cells:
            g = gid(cell)
            if g in self.answers:
                cell.source = self.answers[g]
            if g in replace:
                cell.source = replace[g]
        return nb

    def stub(self, grade_id):
        return next(c.source for c in self.release.cells if gid(c) == grade_id)


def hostile_batch(a: Assignment, folder: Path, sandboxed: bool, full: bool = True) -> dict:
    """Write the submissions; return {student: (status, exact score or None, reason regex, zeroed tests)}.

    ``full``: also the attacks that do not depend on the assignment (machinery, resources, host).
    """
    expect = {}
    pT = a.tests[a.leaf_test]

    def put(student, nb, name=None):
        path = folder / student / (name or f"{a.stem}.ipynb")
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))

    put("honest_full", a.solved())
    expect["honest_full"] = ("graded", a.full, r"^$", [])
    put("honest_partial", a.solved(**{a.leaf: a.stub(a.leaf)}))
    expect["honest_partial"] = ("graded", a.full - pT, r"^$", [a.leaf_test])

    put("infinite_loop", insert_after(a.solved(), a.leaf, "while True:\n    pass"))
    expect["infinite_loop"] = ("timeout", a.full, rf"interrupted after the {CELL_TIMEOUT} s cell time limit", [])

    tests_in_order = [gid(c) for c in a.source.cells if is_test(c)]
    middle = tests_in_order[len(tests_in_order) // 2]
    nb = insert_after(a.solved(), middle, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                          "while True:\n    pass")
    index = next(i for i, c in enumerate(nb.cells) if "SIG_IGN" in c.source)
    put("sigint_ignored", nb)
    expect["sigint_ignored"] = ("timeout", points_before(nb, index), r"ignored the interrupt; the kernel was killed",
                                tests_in_order[len(tests_in_order) // 2 + 1:])

    later = tests_in_order[len(tests_in_order) // 2 - 1]
    nb = insert_after(a.solved(), later, "import os\nos._exit(1)")
    index = next(i for i, c in enumerate(nb.cells) if "os._exit" in c.source)
    put("os_exit", nb)
    expect["os_exit"] = ("crashed", points_before(nb, index),
                         r"kernel died while running cell \d+ `import os` \(exit code 1\)",
                         tests_in_order[len(tests_in_order) // 2:])

    nb = a.solved(**{a.leaf: a.stub(a.leaf)})
    next(c for c in nb.cells if gid(c) == a.leaf_test).source = "pass"
    put("edited_test", nb)
    expect["edited_test"] = ("graded", a.full - pT, rf"restored.*{a.leaf_test} \(edited\)", [a.leaf_test])

    nb = a.solved(**{a.leaf: a.stub(a.leaf)})
    nb.cells = [c for c in nb.cells if gid(c) != a.leaf_test]
    put("deleted_test", nb)
    expect["deleted_test"] = ("graded", a.full - pT, rf"{a.leaf_test}.*was missing and was put back", [a.leaf_test])

    nb = a.solved()
    nb.cells = [c for c in nb.cells if not is_answer(c)]
    put("deleted_answers", nb)
    expect["deleted_answers"] = ("graded", 0.0, re.escape(next(gid(c) for c in a.source.cells if is_answer(c)))
                                 + r".*was missing: the blank template was put back", list(a.tests))

    (folder / "invalid_json").mkdir()
    (folder / "invalid_json" / f"{a.stem}.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x')
    expect["invalid_json"] = ("unreadable", 0.0, r"not valid notebook JSON", list(a.tests))

    put("wrong_name", a.solved(), name=f"{a.stem}-final.ipynb")
    expect["wrong_name"] = ("wrong_filename", a.full, rf"named {a.stem}-final\.ipynb instead of {a.stem}\.ipynb", [])

    (folder / "no_notebook").mkdir()
    (folder / "no_notebook" / "notes.txt").write_text("see attached")
    expect["no_notebook"] = ("missing_notebook", 0.0, r"no notebook in the submission", list(a.tests))

    if a.real:
        # a wrong answer that passes the visible tests and fails a hidden one: its feedback names the case
        for name in [n for n in ("cheat_reference_wrapper", "max_pool_indices_pooled_width") if n in a.wrong]:
            w = a.wrong[name]
            put(name, a.solved(**{w["grade_id"]: w["source"]}))
            expect[name] = ("graded", a.full - sum(a.tests[t] for t in w["must_lose"]), r"^$", w["must_lose"])
        patch = ("import course.grading as _g, course.grading.checks as _c\n"
                 "def _ok(*args, **kwargs):\n    return None\n"
                 "for _m in (_g, _c):\n"
                 "    for _n in dir(_m):\n"
                 "        if _n.startswith('check_'):\n            setattr(_m, _n, _ok)\n"
                 "check_equal = check_close = check_tensor_close = check_raises = _ok\n")
        first_answer = next(gid(c) for c in a.source.cells if is_answer(c))
        nb = insert_after(a.solved(**{a.leaf: a.stub(a.leaf)}), first_answer, patch)
        put("monkeypatch_checks", nb)
        expect["monkeypatch_checks"] = ("tampered", 0.0, r"course\.grading", list(a.tests))

    targets = {
        "gradebook": a.course / "gradebook.db",
        "other_graded": a.course / "autograded" / "honest_full" / a.id / f"{a.stem}.ipynb",
        "other_input": folder / "honest_full" / f"{a.stem}.ipynb",
        "source_probe": a.course / "source" / a.id / "HOSTILE_PROBE.txt",
        "repo_probe": REPO / "course" / "grading" / "HOSTILE_PROBE.txt",
    }
    if not sandboxed:  # without the sandbox these writes would succeed: keep them harmless
        targets = {k: v for k, v in targets.items() if k in ("gradebook", "other_graded", "source_probe")}
    code = ("import glob, os\n"
            f"targets = {[str(t) for t in targets.values()]!r}\n"
            + ("targets += glob.glob('/tmp/course-grade-*/**/*', recursive=True)\n" if sandboxed else "")
            + "written = []\n"
            "for t in targets:\n"
            "    try:\n"
            "        fd = os.open(t, os.O_WRONLY | os.O_CREAT)\n"
            "        os.pwrite(fd, b'HOSTILE', 0 if t.endswith('ipynb') else 100)\n"
            "        os.close(fd)\n"
            "        written.append(t)\n"
            "    except OSError:\n"
            "        pass\n"
            "print(len(written), 'written')\n")
    put("writes_outside", insert_after(a.solved(), a.leaf, code))
    # it names the grading package's folder and writes files: an attack, 0 points until reviewed
    expect["writes_outside"] = ("tampered", 0.0, r"grading package.*reads or writes a file", list(a.tests))

    if not full:
        _careless(a, folder, expect)
        return expect, targets
    # resource abuse: a memory bomb (bytes and torch), megabytes of output, a process left behind
    nb = a.solved()
    insert_after(nb, a.leaf, "import subprocess\nsubprocess.Popen(['sleep', "
                             f"'{SLEEP_MARK}'], start_new_session=True)")
    insert_after(nb, a.leaf, "print('x' * 20_000_000)\nfor i in range(50_000):\n    print(i)")
    insert_after(nb, a.leaf, "blob = bytearray(30 * 2**30)")
    insert_after(nb, a.leaf, "import torch\nbig = torch.empty(30 * 2**30 // 4, dtype=torch.float32)\nbig.fill_(1)")
    put("resource_abuse", nb)
    # starting a program is not an attack, but the grader cannot judge it alone
    expect["resource_abuse"] = ("needs_review", a.full, r"subprocess.*output truncated in cell \d+$", [])
    _machinery_attacks(a, folder, expect)
    if sandboxed and cgroup_problem() is None:
        _host_attacks(a, folder, expect, targets)
    _careless(a, folder, expect)
    return expect, targets


#: code cells that attack the grading machinery from inside the kernel (issue 10, hole 1 and 3):
#: each one, on the *release* notebook, gave 22/22 "graded" when tests ran in the kernel
MACHINERY_ATTACKS = {
    "t_input_cleanup": ("get_ipython().input_transformers_cleanup.append(lambda lines: [])",
                        r"input_transformers_cleanup"),
    "t_input_post": ("ip = get_ipython()\nip.input_transformers_post.append(lambda lines: ['pass\\n'])",
                     r"input_transformers_post"),
    "t_ast_empty": ("import ast\nclass Empty(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
                    "        node.body = []\n        return node\nget_ipython().ast_transformers.append(Empty())",
                    r"ast_transformers"),
    "t_ast_wrap": ("import ast\nclass Wrap(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
                   "        handler = ast.ExceptHandler(type=None, name=None, body=[ast.Pass()])\n"
                   "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[],"
                   " finalbody=[])]\n        return ast.fix_missing_locations(node)\n"
                   "get_ipython().ast_transformers.append(Wrap())", r"ast_transformers"),
    "t_run_cell": ("shell = get_ipython()\n_real = shell.run_cell\n"
                   "shell.run_cell = lambda *args, **kwargs: _real('pass')", r"run_cell"),
    "t_transform_cell": ("get_ipython().transform_cell = lambda raw: 'pass\\n'", r"transform_cell"),
    "t_meta_path": ("import sys, types, importlib.abc, importlib.machinery\n"
                    "class Fake(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
                    "    def find_spec(self, name, path, target=None):\n"
                    "        if name == 'course.grading.checks':\n"
                    "            return importlib.machinery.ModuleSpec(name, self)\n"
                    "    def create_module(self, spec):\n        return None\n"
                    "    def exec_module(self, module):\n"
                    "        for n in ('check_equal', 'check_close', 'check_tensor_close', 'check_raises'):\n"
                    "            setattr(module, n, lambda *a, **k: None)\n"
                    "sys.meta_path.insert(0, Fake())", r"import hook"),
}


def _machinery_attacks(a: Assignment, folder: Path, expect: dict) -> None:
    first_answer = next(gid(c) for c in a.source.cells if is_answer(c))
    for student, (code, reason) in MACHINERY_ATTACKS.items():
        nb = nbformat.from_dict(json.loads(json.dumps(a.release)))
        insert_after(nb, first_answer, code)
        _put(folder, a, student, nb)
        expect[student] = ("tampered", 0.0, reason, list(a.tests))
    if "conv2d_naive" in a.answers:
        # the reference copied by its source text, so that it belongs to __main__ (hole 3)
        code = ("import course.conv\nexec(open(course.conv.__file__).read())\n"
                "def conv2d_naive(x, weight, bias=None, stride=1, padding=0):\n"
                "    return conv2d(x[None], weight, bias, stride=stride, padding=padding)[0]")
        nb = a.solved()
        next(c for c in nb.cells if gid(c) == "conv2d_naive").source = code
        _put(folder, a, "t_exec_reference", nb)
        expect["t_exec_reference"] = ("tampered", 0.0, r"exec", list(a.tests))


def _put(folder: Path, a: Assignment, student: str, nb, name=None) -> Path:
    path = folder / student / (name or f"{a.stem}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _put_crash(a: Assignment, folder: Path, expect: dict, student: str, code: str, reason: str) -> None:
    """A solved notebook whose kernel dies in ``code`` (after the leaf answer): the tests before keep
    their points, the ones after score 0, and the status is ``crashed`` with ``reason``."""
    nb = insert_after(a.solved(), a.leaf, code)
    index = next(i for i, c in enumerate(nb.cells) if c.source == code)
    _put(folder, a, student, nb)
    later = [g for g in a.tests if g not in {gid(c) for c in nb.cells[:index]}]
    expect[student] = ("crashed", points_before(nb, index), reason, later)


SECRET = "HOST-SECRET-5d1c"
SHM_KEY = 0x5EC12E7


def _host_attacks(a: Assignment, folder: Path, expect: dict, targets: dict) -> None:
    """Attacks on the host and on other students (holes 2, 4, 5, 6, 7)."""
    base = folder.parent
    victim = base / "victim.txt"
    victim.write_text("VICTIM")
    victim.chmod(0o600)
    secret = base / "secret.txt"
    secret.write_text(SECRET)
    targets["victim"] = victim
    gradebook = a.course / "gradebook.db"

    # hole 2: what can a kernel see of the course directory, the solutions, other students?
    looked_for = [a.course / "source" / a.id / f"{a.stem}.ipynb", gradebook, REPO / "solutions",
                  REPO / "assignments" / "source", folder / "honest_full", secret, REPO / "README.md"]
    code = (f"import os\npaths = {[str(p) for p in looked_for]!r}\n"
            "print('VISIBLE:', [p for p in paths if os.path.exists(p)])")
    _put(folder, a, "t_look_around", insert_after(a.solved(), a.leaf, code))
    expect["t_look_around"] = ("graded", a.full, r"^$", [])

    # hole 4: the kernel leaves symlinks to host files where the grader used to write
    code = ("import os\n"
            f"for name, target in [('{a.stem}.ipynb', {str(gradebook)!r}), ('victim', {str(victim)!r}), "
            f"('{a.stem}', {str(victim)!r})]:\n"
            "    try:\n        os.remove(name)\n    except OSError:\n        pass\n"
            "    os.symlink(target, name)\nprint(sorted(os.listdir('.')))")
    _put(folder, a, "t_symlink_escape", insert_after(a.solved(), a.leaf, code))
    expect["t_symlink_escape"] = ("graded", a.full, r"^$", [])

    # hole 5: symlinked submissions
    (folder / "t_mallory").symlink_to(folder / "honest_full", target_is_directory=True)
    expect["t_mallory"] = ("missing_notebook", 0.0, r"symbolic link", list(a.tests))
    path = _put(folder, a, "t_timestamp_link", a.solved())
    (path.parent / "timestamp.txt").symlink_to(secret)
    expect["t_timestamp_link"] = ("graded", a.full, r"symbolic link", [])

    # hole 6: memory through shared memory, a fork bomb, System V IPC
    # (filled 64 MiB at a time, at memset speed: a page-by-page Python loop on a loaded machine could
    # meet the 10 s cell limit before the memory limit, and grade 'timeout' instead of 'crashed')
    code = ("import mmap\nm = mmap.mmap(-1, 4 * 2**30)\nchunk = b'\\1' * 2**26\nfor i in range(64):\n"
            "    m.write(chunk)\nprint('survived')")
    _put_crash(a, folder, expect, "t_shared_memory", code, r"memory limit")
    # a fork bomb in a small process (forking a kernel of 500 MB 255 times is slow on a loaded machine)
    bomb = ("import os, time\npids = []\nfor i in range(100000):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(2)\n        os._exit(0)\n"
            "    pids.append(pid)\nprint(len(pids), flush=True)\nfor pid in pids:\n    os.waitpid(pid, 0)\n")
    code = (f"import subprocess, sys\nbomb = {bomb!r}\n"
            "out = subprocess.run([sys.executable, '-c', bomb], capture_output=True, text=True, timeout=8)\n"
            "print('FORKED', out.stdout.strip())")
    _put(folder, a, "t_fork_bomb", insert_after(a.solved(), a.leaf, code))
    expect["t_fork_bomb"] = ("needs_review", a.full, r"subprocess", [])
    code = ("import ctypes\nlibc = ctypes.CDLL(None)\n"
            f"print('SHMID', libc.shmget({SHM_KEY}, 3 * 2**30, 0o1000 | 0o666), libc.shmget({SHM_KEY}, 0, 0))")
    _put(folder, a, "t_sysv_writer", insert_after(a.solved(), a.leaf, code))
    expect["t_sysv_writer"] = ("tampered", 0.0, r"ctypes", list(a.tests))
    code = f"import ctypes\nprint('SHMID', ctypes.CDLL(None).shmget({SHM_KEY}, 0, 0))"
    _put(folder, a, "t_sysv_reader", insert_after(a.solved(), a.leaf, code))
    expect["t_sysv_reader"] = ("tampered", 0.0, r"ctypes", list(a.tests))

    # the disk: every folder a kernel can write is on the batch's tmpfs, charged to its memory.
    # 1.2 GB, under the limit: a kernel thrashing at its limit may end 'crashed' or 'timeout'
    # (not deterministic), and the shared-memory case already shows the limit holds
    code = ("import os, ipykernel\n"
            "folders = ['.', os.path.expanduser('~'), os.path.dirname(ipykernel.get_connection_file())]\n"
            "for i, where in enumerate(folders):\n"
            "    with open(os.path.join(where, f'fill{i}'), 'wb') as f:\n"
            "        f.write(b'x' * 400 * 2**20)\n"
            "print('wrote 1.2 GB')")
    _put(folder, a, "t_disk_fill", insert_after(a.solved(), a.leaf, code))
    expect["t_disk_fill"] = ("needs_review", a.full, r"ipykernel", [])

    # hole 7: student HTML and script in the feedback
    code = ("from IPython.display import HTML, Javascript, display\n"
            "display(HTML(\"<script>window.PWNED = 1</script>"
            "<div style='position:fixed;top:0'>Score: 24 / 24</div>\"))\n"
            "display(Javascript('window.PWNED = 2'))")
    nb = insert_after(a.solved(), a.leaf, code)
    written = [c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    for cell in written:
        cell.source = "My answer <img src=x onerror=\"window.PWNED = 3\"> <script>window.PWNED = 4</script>"
    _put(folder, a, "t_html_feedback", nb)
    expect["t_html_feedback"] = ("graded", a.full, r"^$", [])


def _careless(a: Assignment, folder: Path, expect: dict) -> None:
    """Careless, not hostile (hole 8): a grade for what is there, and a message naming what changed."""
    from nbformat.v4 import new_notebook
    fresh = new_notebook(cells=[new_code_cell(source) for source in a.answers.values()])
    _put(folder, a, "c_fresh_notebook", fresh)
    expect["c_fresh_notebook"] = ("graded", a.full, r"matched to the assignment by content", [])

    nb = a.solved()
    nb.cells = [c for c in nb.cells if gid(c) not in (a.leaf, a.leaf_test)]
    _put(folder, a, "c_deleted_section", nb)
    expect["c_deleted_section"] = ("graded", a.full - a.tests[a.leaf_test],
                                   rf"{a.leaf}.*missing.*{a.leaf_test}|{a.leaf_test}.*{a.leaf}", [a.leaf_test])
    solution = REPO / "solutions" / f"{a.id}.ipynb"
    if solution.exists():
        _put(folder, a, "c_worked_solution", nbformat.read(str(solution), as_version=4))
        expect["c_worked_solution"] = ("graded", a.full, r"no grading metadata", [])


def csv_rows(text):
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text))}


def sha(path: Path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture(scope="class")
def graded(tmp_path_factory, request):
    """One hostile batch per test class, that is per assignment (see the classes at the end)."""
    base = tmp_path_factory.mktemp("hostile")
    a = Assignment(base, request.cls.ASSIGNMENT)
    full = request.cls.FULL
    shm_before = _sysv_segments()
    sandboxed = sandbox_problem() is None
    folder = base / "submitted"
    expect, targets = hostile_batch(a, folder, sandboxed, full)
    inputs = {p: sha(p) for p in folder.rglob("*") if p.is_file()}
    args = ["autograde", a.id, folder, "--course-dir", a.course, "--jobs", "2", "--cell-timeout", CELL_TIMEOUT,
            "--submission-timeout", "150", "--memory-mb", "2048"]
    runs, csvs = [], []
    for i in range(2 if full else 1):
        runs.append(cli(*args))
        csvs.append(cli("export", a.id, "--course-dir", a.course).stdout)
        if i == 0:
            cli("feedback", a.id, "--course-dir", a.course)
            feedback = {p.parent.parent.name: p.read_text() for p in (a.course / "feedback").glob(f"*/{a.id}/*.html")}
    victim = targets.get("victim")
    victim_state = (victim.read_bytes(), victim.stat().st_mode) if victim else None
    results = json.loads((a.course / "grading" / f"{a.id}.json").read_text())
    return {"a": a, "expect": expect, "targets": targets, "runs": runs, "csvs": csvs, "inputs": inputs,
            "feedback": feedback, "sandboxed": sandboxed, "full": full,
            "protected": sandboxed and cgroup_problem() is None, "results": results, "victim_state": victim_state,
            "shm_before": shm_before, "shm_after": _sysv_segments()}


def _sysv_segments() -> str:
    return subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout


def graded_output(graded, student) -> str:
    a = graded["a"]
    path = a.course / "autograded" / student / a.id / f"{a.stem}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def host_attacks_ran(graded) -> bool:
    return "victim" in graded["targets"]


def need_host_attacks(graded) -> None:
    """Skip, saying why, where the host attacks did not run."""
    if not graded["full"]:
        pytest.skip(f"the host attacks run with the first assignment's batch ({ASSIGNMENTS[0]}) only")
    if not host_attacks_ran(graded):
        pytest.skip("no sandbox or no cgroups on this machine")


def need_full_batch(graded) -> None:
    if not graded["full"]:
        pytest.skip(f"assignment-independent attacks run with the first assignment's batch ({ASSIGNMENTS[0]}) only")


def test_tampering_scores_zero_but_the_tests_really_ran_outside_the_kernel(graded):
    """Tampered submissions export 0; what the tests gave (kept for review) ignores the tampering."""
    a, results = graded["a"], graded["results"]["students"]
    for student in MACHINERY_ATTACKS if graded["full"] else ():
        assert results[student]["status"] == "tampered"
        assert sum(v or 0 for v in results[student]["scores_before_review"].values()) == 0.0, student
    if "monkeypatch_checks" in results:
        # the checks were patched in the kernel; the grader's own checks still failed the stubbed answer
        before = results["monkeypatch_checks"]["scores_before_review"]
        assert before[a.leaf_test] == 0.0
        assert sum(v or 0 for v in before.values()) == a.full - a.tests[a.leaf_test]


def test_a_kernel_sees_nothing_of_the_course_directory_or_other_students(graded):
    need_host_attacks(graded)
    assert "VISIBLE: []" in graded_output(graded, "t_look_around")


def test_nothing_a_kernel_leaves_is_followed(graded):
    need_host_attacks(graded)
    victim = graded["targets"]["victim"]
    assert graded["victim_state"] == (b"VICTIM", victim.stat().st_mode) and victim.read_bytes() == b"VICTIM"
    assert oct(victim.stat().st_mode & 0o777) == oct(0o600)
    rows = csv_rows(graded["csvs"][-1])
    assert rows["honest_full"]["score"] == f"{graded['a'].full:g}"  # the gradebook survived
    for page in graded["feedback"].values():
        assert SECRET not in page
    assert SECRET not in graded["csvs"][0]


def test_memory_processes_and_ipc_are_bounded_per_submission(graded):
    need_host_attacks(graded)
    peaks = {s: r.get("peak_memory_mb") for s, r in graded["results"]["students"].items()
             if r.get("graded_notebook")}
    assert all(p is not None and p <= 2048 for p in peaks.values()), peaks
    assert peaks["t_shared_memory"] >= 1500  # it did reach the limit: the whole submission was counted
    assert peaks["t_disk_fill"] - peaks["honest_full"] >= 1000  # its 1.2 GB of files are memory, not disk
    forked = int(re.search(r"FORKED (\d+)", graded_output(graded, "t_fork_bomb")).group(1))
    assert 10 < forked < 256
    assert re.search(r"SHMID -1\b", graded_output(graded, "t_sysv_reader"))
    assert graded["shm_after"] == graded["shm_before"]
    assert f"{SHM_KEY:#010x}" not in graded["shm_after"]


def test_student_html_and_script_in_feedback_are_inert(graded):
    need_host_attacks(graded)
    page = graded["feedback"]["t_html_feedback"]
    assert "Content-Security-Policy" in page
    assert "window.PWNED = 3" in html.unescape(page)  # the student's markdown is shown, as text
    active = ActiveContent()
    active.feed(page)
    assert not active.found, active.found


class ActiveContent(HTMLParser):
    """What in a page could run or draw over it: event handlers, student scripts, inline styles."""

    def __init__(self):
        super().__init__()
        self.found, self._tag = [], None

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        for name, value in attrs:
            if name.startswith("on") or (name == "style" and "fixed" in (value or "")):
                self.found.append((tag, name, value))

    def handle_data(self, data):
        if self._tag == "script" and "PWNED" in data:
            self.found.append(("script", data[:60]))


def test_every_submission_gets_its_exact_score_or_an_explicit_failure(graded):
    a, expect = graded["a"], graded["expect"]
    rows = csv_rows(graded["csvs"][0])
    assert sorted(rows) == sorted(expect)
    problems = []
    for student, (status, score, reason, zeroed) in sorted(expect.items()):
        row = rows[student]
        got = (row["status"], float(row["score"]))
        if got != (status, score) or not re.search(reason, row["reason"]):
            problems.append(f"{student}: expected {status} {score:g} /{reason}/, got {got} {row['reason']!r}")
        for test, points in a.tests.items():
            want = 0.0 if test in zeroed else points
            if float(row[test]) != want:
                problems.append(f"{student}: {test} = {row[test]}, expected {want:g}")
    assert not problems, "\n".join(problems)


def test_the_export_says_which_protections_were_applied(graded):
    rows = csv_rows(graded["csvs"][0])
    graded_rows = [r for r in rows.values() if r["status"] not in ("missing_notebook", "invalid_student_id")]
    expected = "all applied" if graded["protected"] else None
    for row in graded_rows:
        assert row["protections"] == expected if expected else row["protections"].startswith("missing: ")


def test_grading_twice_gives_the_same_csv(graded):
    need_full_batch(graded)
    assert graded["csvs"][0] == graded["csvs"][1]


def test_feedback_explains_failures_and_hides_hidden_tests(graded):
    a, feedback = graded["a"], graded["feedback"]
    assert sorted(feedback) == sorted(graded["expect"])
    rows = csv_rows(graded["csvs"][0])
    hidden = [line.strip() for c in a.source.cells if "BEGIN HIDDEN TESTS" in c.source
              for line in c.source.split("BEGIN HIDDEN TESTS", 1)[1].split("END HIDDEN TESTS")[0].splitlines()[1:]
              if len(line.strip()) > 25]
    assert hidden
    for student, page in feedback.items():
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden test code: {leaked[:3]}"
        if student == "cheat_reference_wrapper":
            # the guard's message is meant for students: it is shown, its traceback is not
            assert "NotYourOwnCode" in text and "yourself" in text
        if student == "max_pool_indices_pooled_width":
            # a hidden case failed: the check's message says which call, what was expected, what came back
            assert re.search(r"CheckFailure: max_pool2d_with_indices\(.*expected.*got", text), text[-3000:]
            assert "A hidden test in this cell failed" not in text
        status = rows[student]["status"]
        if status != "graded":
            assert status in text, student
            # (the note is Markdown: `code` loses its backticks)
            assert rows[student]["reason"].replace("`", "")[:60] in text, student


def test_gradebook_is_consistent(graded):
    a = graded["a"]
    db = a.course / "gradebook.db"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        students = {r[0] for r in con.execute("SELECT id FROM student")}
        assert students == set(graded["expect"])
        grades = con.execute(
            "SELECT s.student_id, gc.name, g.auto_score, g.manual_score, g.needs_manual_grade "
            "FROM grade g JOIN base_cell gc ON g.cell_id = gc.id "
            "JOIN submitted_notebook n ON g.notebook_id = n.id "
            "JOIN submitted_assignment s ON n.assignment_id = s.id").fetchall()
    finally:
        con.close()
    per_student = {}
    for student, cell, auto, manual, needs_manual in grades:
        per_student.setdefault(student, set()).add(cell)
        if auto is None and manual is None:
            # only a written answer (graded by hand) may have no score, and it is flagged
            assert cell not in a.tests and needs_manual, (student, cell)
    assert all(cells >= set(a.tests) for cells in per_student.values())
    assert set(per_student) == set(graded["expect"])


def test_nothing_outside_a_submission_changed_and_nothing_survived(graded):
    for path, digest in graded["inputs"].items():
        assert sha(path) == digest, f"{path} was modified"
    targets = graded["targets"]
    for name in ("source_probe", "repo_probe"):
        if name in targets:
            assert not targets[name].exists(), f"a submission created {targets[name]}"
    assert not any("restored from the backup" in run.stdout for run in graded["runs"])
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"sleep {SLEEP_MARK}" not in ps


def test_memory_and_output_are_capped(graded):
    need_full_batch(graded)
    a = graded["a"]
    path = a.course / "autograded" / "resource_abuse" / a.id / f"{a.stem}.ipynb"
    assert path.stat().st_size < 12 * 2**20
    assert "output truncated by the grader" in path.read_text()
    nb = nbformat.read(str(path), as_version=4)
    errors = {o.ename for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"}
    assert "MemoryError" in errors  # bytearray(30 GiB) under the kernel's memory limit
    assert "RuntimeError" in errors or "OutOfMemoryError" in errors  # torch.empty(30 GiB)


# One test class per assignment, holding every test above: `make test` distributes by scope
# (module, or class), so the batches of different assignments run on both workers.
_TESTS = {name: fn for name, fn in list(globals().items()) if name.startswith("test_") and callable(fn)}
for _assignment in ASSIGNMENTS:
    _name = "TestHostile_" + _assignment
    globals()[_name] = type(_name, (), {"ASSIGNMENT": _assignment, "FULL": _assignment == ASSIGNMENTS[0],
                                        **{name: staticmethod(fn) for name, fn in _TESTS.items()}})
for _name in _TESTS:
    del globals()[_name]

