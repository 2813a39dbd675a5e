"""A class on a real JupyterHub: nbgrader's exchange from release to feedback, end to end.

The hub is ``deploy/hub/jupyterhub_config.py`` (the file an instructor runs), started on
a free loopback port with configurable-http-proxy; test values come in through its
environment variables. Real system users are created (an instructor and four students,
names ``cvs-...`` with a random suffix) and deleted with their homes afterwards, whatever
happens. Each user's server runs as that user (LocalProcessSpawner).

1. The instructor's course directory is a copy of ``assignments/``; they run
   ``nbgrader release_assignment`` into a fresh exchange (root-owned, mode 1777).
2. Three students, each with their own API token, start their server through the hub's
   REST API, fetch the assignment through nbgrader's server extension (what the
   Assignments tab calls), write their notebook with the contents API and submit:
   one correct, one partly wrong (a catalogued wrong answer), one hostile (patches the
   checks, prints a fake "passed", tries to write into the exchange and into another
   student's home).
3. The instructor runs ``nbgrader collect``, ``course-admin autograde`` on what it
   collected, ``course-admin feedback`` and ``nbgrader release_feedback``.
4. Each student fetches feedback through their server: it shows their real score and
   no hidden test.

A fourth student fetches and submits through the Assignments tab in headless Chromium.

Skipped (with the reason) without root, ``useradd`` or ``configurable-http-proxy``,
unless ``COURSE_REQUIRE_HUB=1``, which turns the skip into a failure.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course.grading._nb import strip_solution_markers
from jupyter_env import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
HUB_CONFIG = REPO / "deploy" / "hub" / "jupyterhub_config.py"
COURSE = "convseg"
ASSIGNMENT = "a1_convolutions"
SOURCE = REPO / "assignments" / "source" / ASSIGNMENT
#: a line of every hidden test region of the assignment: never in a student's feedback
HIDDEN_LINE = "Fresh copies of the checks, the guard and the reference"
#: what the hostile submission writes wherever it can (its source never spells it out)
MARK = "PWNED-BY-ATTACKER"
HUB_START_SECONDS = 60
SERVER_START_SECONDS = 90
COMMAND_SECONDS = 600
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"  # absolute: the users' PATH has no sbin


# --------------------------------------------------------------------------- can it run here?

def hub_problem() -> str | None:
    """Why a hub with system users cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: the test creates system users and the hub spawns servers as them"
    for command in ("useradd", "userdel", "runuser"):
        if shutil.which(command) is None:
            return f"{command} not found"
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy not found (npm install -g configurable-http-proxy)"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install -e '.[dev]')"
    return None


def skip_or_fail(problem: str, variable: str = "COURSE_REQUIRE_HUB") -> None:
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {problem}")
    pytest.skip(problem)


# --------------------------------------------------------------------------- HTTP

def http(method: str, url: str, token: str | None = None, body: dict | None = None, timeout: float = 60,
         ) -> tuple[int, bytes]:
    """(status, body) of one request; a JSON ``body`` is sent as JSON."""
    headers = {"Authorization": f"token {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(what: str, check: Callable[[], object], seconds: float, interval: float = 0.3) -> object:
    """Call ``check()`` until it returns something true (returned), or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------- users and the hub

@dataclass
class Hub:
    """A running hub and its users; ``as_user``/``api``/``server`` are "as user X, call Y"."""

    url: str
    service_token: str
    password: str
    python: Path
    exchange: Path
    instructor: str
    students: list[str]
    process: subprocess.Popen
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def environment(self, user: str) -> dict[str, str]:
        """What a terminal in ``user``'s server has (the hub's spawner sets the same)."""
        return {"HOME": str(self.home(user)), "USER": user, "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
                "PATH": f"{self.python.parent}:/usr/local/bin:/usr/bin:/bin",
                "JUPYTER_CONFIG_PATH": str(HUB_CONFIG.parent / "singleuser"),
                "COURSE_EXCHANGE": str(self.exchange), "COURSE_ID": COURSE}

    def as_user(self, user: str, *args: str, cwd: Path | None = None, check: bool = True,
                ) -> subprocess.CompletedProcess:
        """Run a command as ``user`` (``runuser``), in their home or ``cwd``."""
        proc = subprocess.run([RUNUSER, "-u", user, "--", *args], cwd=cwd or self.home(user),
                              env=self.environment(user), capture_output=True, text=True, timeout=COMMAND_SECONDS)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} as {user} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def api(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
        """The hub's REST API (``/hub/api/...``); the service's admin token unless ``token``."""
        status, data = http(method, f"{self.url}/hub/api/{path}", token or self.service_token, body)
        return status, json.loads(data) if data.strip() else {}

    def token(self, user: str) -> str:
        """``user``'s own API token (created once, by the admin service)."""
        if user not in self.tokens:
            status, reply = self.api("POST", f"users/{user}/tokens", body={"note": "test", "expires_in": 3600})
            assert status in (200, 201), reply
            self.tokens[user] = reply["token"]
        return self.tokens[user]

    def start_servers(self, *users: str) -> None:
        """Start each user's server with their own token; wait until the hub says all are ready."""
        for user in users:
            status, reply = self.api("POST", f"users/{user}/server", token=self.token(user))
            assert status in (201, 202), (user, status, reply)

        def ready(user: str) -> bool:
            _, model = self.api("GET", f"users/{user}", token=self.token(user))
            return bool(model.get("servers", {}).get("", {}).get("ready"))
        wait_for(f"the servers of {', '.join(users)}", lambda: all(ready(user) for user in users),
                 SERVER_START_SECONDS, interval=0.5)

    def server(self, user: str, method: str, path: str, body: dict | None = None) -> dict:
        """Call ``user``'s own server (``/user/<name>/<path>``) with their token; the JSON reply."""
        status, data = http(method, f"{self.url}/user/{user}/{path}", self.token(user), body, timeout=300)
        assert status in (200, 201), f"{method} {path} as {user}: {status} {data[:2000]!r}"
        return json.loads(data)

    def assignment_action(self, user: str, action: str) -> dict:
        """POST ``assignments/<action>`` (fetch, submit, fetch_feedback): what the Assignments tab does."""
        query = urllib.parse.urlencode({"course_id": COURSE, "assignment_id": ASSIGNMENT})
        reply = self.server(user, "POST", f"assignments/{action}?{query}")
        assert reply.get("success"), f"{action} as {user}: {reply}"
        return reply

    def listed(self, user: str) -> list[dict]:
        """The Assignments tab's list of ``user`` for this assignment."""
        reply = self.server(user, "GET", f"assignments?course_id={COURSE}")
        assert reply.get("success"), reply
        return [a for a in reply["value"] if a["assignment_id"] == ASSIGNMENT]

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""


#: the comment (GECOS field) of every account this test creates, with the creating process's
#: pid: how a later run finds the accounts of a run that died
TEST_ACCOUNT = "convseg hub test account pid "


def create_user(name: str) -> None:
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", f"{TEST_ACCOUNT}{os.getpid()}",
                    name], check=True, capture_output=True, timeout=30)


def delete_leftover_users() -> None:
    """Delete the accounts of earlier runs that died (a killed pytest never reaches its teardown).

    Only accounts whose creating process is gone: a run going on beside this one keeps its users.
    """
    for account in pwd.getpwall():
        owner = account.pw_gecos.removeprefix(TEST_ACCOUNT)
        if account.pw_name.startswith("cvs-") and owner != account.pw_gecos and owner.isdigit():
            if not Path(f"/proc/{owner}").exists():
                delete_user(account.pw_name)


def delete_user(name: str) -> None:
    """Kill every process of ``name`` (they are the test's), then delete the user and their home."""
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=30)
    time.sleep(0.2)
    subprocess.run(["userdel", "--remove", "--force", name], capture_output=True, timeout=30)


def usable_python(user: str, work: Path) -> Path:
    """A Python with the course, nbgrader and JupyterHub that ``user`` can run.

    The venv's own interpreter when the user can run it; else (a venv whose python
    links into a private /root, as with pyenv) deploy/hub/shared_python.py builds one.
    """
    probe = [sys.executable, "-c", "import course.grading, nbgrader, jupyterhub, jupyterlab"]
    if subprocess.run([RUNUSER, "-u", user, "--", *probe], cwd="/", capture_output=True,
                      timeout=120).returncode == 0:
        return Path(sys.executable)
    sys.path.insert(0, str(HUB_CONFIG.parent))
    try:
        from shared_python import build_shared_python
    finally:
        sys.path.pop(0)
    python = build_shared_python(Path(sys.prefix), work / "python")
    probe[0] = str(python)
    proc = subprocess.run([RUNUSER, "-u", user, "--", *probe], cwd="/", capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"the shared python does not work for {user}: {proc.stderr[-2000:]}"
    return python


def open_the_way(path: Path) -> list[tuple[Path, int]]:
    """Let every user traverse (not list) the folders above ``path``; return the modes to restore.

    The users' servers import the course (installed in editable mode from this checkout), read
    the lectures and deploy/hub/singleuser/ from it: on a real hub the course is installed
    where every user can read it. A checkout in a private folder (``mktemp -d`` makes 700)
    is opened for the test's duration only.
    """
    changed = []
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            changed.append((folder, mode))
            os.chmod(folder, mode | 0o001)
    return changed


def stop_process_group(process: subprocess.Popen, seconds: float = 20) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


@pytest.fixture(scope="module")
def hub():
    """The hub of deploy/hub/, its users, and ``a1_convolutions`` released into the exchange."""
    problem = hub_problem()
    if problem:
        skip_or_fail(problem)
    started = time.monotonic()
    delete_leftover_users()
    suffix = secrets.token_hex(3)
    instructor = f"cvs-i{suffix}"
    students = [f"cvs-s{i}{suffix}" for i in range(1, 5)]
    reopened = open_the_way(Path(sys.prefix).resolve()) + open_the_way(REPO)
    work = Path(tempfile.mkdtemp(prefix="cvs-hub-"))
    os.chmod(work, 0o755)  # the users reach the exchange and the shared python through it
    state = work / "state"
    state.mkdir(mode=0o700)
    exchange = work / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o1777)  # what nbgrader requires of its exchange root
    process = None
    proxy_pid_file = state / "jupyterhub-proxy.pid"
    created: list[str] = []
    try:
        for name in [instructor, *students]:
            create_user(name)
            created.append(name)
        python = usable_python(students[0], work)
        port = free_port()
        service_token = secrets.token_hex(24)
        password = secrets.token_urlsafe(12)
        env = dict(os.environ, COURSE_HUB_IP="127.0.0.1", COURSE_HUB_PORT=str(port),
                   COURSE_HUB_INTERNAL_PORT=str(free_port()), COURSE_HUB_PROXY_API_PORT=str(free_port()),
                   COURSE_HUB_STATE_DIR=str(state), COURSE_HUB_PYTHON=str(python),
                   COURSE_HUB_SHARED_PASSWORD=password, COURSE_HUB_SERVICE_TOKEN=service_token,
                   COURSE_INSTRUCTORS=instructor, COURSE_STUDENTS=",".join(students),
                   COURSE_EXCHANGE=str(exchange), COURSE_ID=COURSE, OMP_NUM_THREADS="1")
        log_path = work / "hub.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)], cwd=state,
                                       env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        the_hub = Hub(url=f"http://127.0.0.1:{port}", service_token=service_token, password=password,
                      python=python, exchange=exchange, instructor=instructor, students=students,
                      process=process, log_path=log_path)

        def answers() -> bool:
            assert process.poll() is None, f"the hub exited with {process.returncode}:\n{the_hub.log_tail()}"
            return http("GET", f"{the_hub.url}/hub/api/", timeout=5)[0] == 200
        wait_for("the hub", answers, HUB_START_SECONDS)
        print(f"hub up after {time.monotonic() - started:.1f} s (users, python, hub)")

        # the instructor works in their own server (its start makes their home private)
        the_hub.start_servers(instructor)
        course = the_hub.home(instructor) / COURSE
        shutil.copytree(REPO / "assignments", course, ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "gradebook.db", "autograded", "submitted", "feedback", "grading"))
        subprocess.run(["chown", "-R", f"{instructor}:", str(course)], check=True, timeout=60)
        the_hub.as_user(instructor, "python", "-m", "nbgrader", "release_assignment", ASSIGNMENT, cwd=course)
        yield the_hub
    finally:
        if process is not None:
            stop_process_group(process)
        if proxy_pid_file.exists():  # the hub stops its proxy; if it could not, stop it here
            try:
                os.kill(int(proxy_pid_file.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        for name in created:
            delete_user(name)
        shutil.rmtree(work, ignore_errors=True)
        for folder, mode in reversed(reopened):
            os.chmod(folder, mode)


# --------------------------------------------------------------------------- the students' notebooks

def source_notebook() -> nbformat.NotebookNode:
    return nbformat.read(SOURCE / f"{ASSIGNMENT}.ipynb", as_version=4)


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solved(released: dict, **answers: str) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled from the source (or from ``answers``)."""
    nb = nbformat.from_dict(released)
    model = {grade_id(c): strip_solution_markers(c.source) for c in source_notebook().cells if grade_id(c)}
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid and cell.metadata["nbgrader"].get("solution"):
            cell.source = answers.get(gid, model[gid])
    return nb


def partly_wrong(released: dict) -> tuple[nbformat.NotebookNode, list[str]]:
    """A catalogued wrong answer in one cell; returns it and the tests it must lose."""
    wrong = json.loads((SOURCE / "wrong_answers.json").read_text())[0]
    return solved(released, **{wrong["grade_id"]: wrong["source"]}), wrong["must_lose"]


def hostile(released: dict, exchange: Path, victim_home: Path) -> nbformat.NotebookNode:
    """Correct answers plus a cell that patches the checks, fakes a pass and writes where it must not."""
    nb = solved(released)
    attack = ("import course.grading as _g, course.grading.checks as _c\n"
              "def _ok(*args, **kwargs):\n    return None\n"
              "for _m in (_g, _c):\n"
              "    for _n in dir(_m):\n"
              "        if _n.startswith('check_'):\n            setattr(_m, _n, _ok)\n"
              "check_equal = check_close = check_tensor_close = check_raises = _ok\n"
              "print('All tests passed! Score: 100/100')\n"
              "import glob, os\n"
              "_mark = ''.join(['PWNED', '-BY-', 'ATTACKER'])  # spelled out only when it runs\n"
              f"for _t in glob.glob({str(exchange)!r} + '/**', recursive=True) + [{str(victim_home)!r} + '/x']:\n"
              "    try:\n"
              "        open(_t if not os.path.isdir(_t) else _t + '/' + _mark, 'a').write(_mark)\n"
              "    except OSError:\n"
              "        pass\n")
    first_answer = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells.insert(first_answer + 1, nbformat.v4.new_code_cell(attack))
    return nb


NOTEBOOK_PATH = f"{COURSE}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"  # fetched into the home (path_includes_course)


def fetch_fill_submit(hub: Hub, user: str, fill) -> None:
    """As ``user``: fetch, write ``fill(released notebook)`` with the contents API, submit."""
    hub.assignment_action(user, "fetch")
    assert [a["status"] for a in hub.listed(user) if a["status"] != "released"] == ["fetched"], hub.listed(user)
    released = hub.server(user, "GET", f"api/contents/{NOTEBOOK_PATH}?content=1")["content"]
    nb = fill(released)
    hub.server(user, "PUT", f"api/contents/{NOTEBOOK_PATH}",
               {"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))})
    hub.assignment_action(user, "submit")
    statuses = {a["status"] for a in hub.listed(user)}
    assert "submitted" in statuses, hub.listed(user)


def fetched_feedback(hub: Hub, user: str) -> str:
    """As ``user``: fetch feedback through the server; the HTML of the (only) submission's feedback."""
    hub.assignment_action(user, "fetch_feedback")
    folder = hub.server(user, "GET", f"api/contents/{COURSE}/{ASSIGNMENT}/feedback?content=1")["content"]
    assert len(folder) == 1, folder  # one submission, one timestamp folder
    path = urllib.parse.quote(f"{folder[0]['path']}/{ASSIGNMENT}.html")
    page = hub.server(user, "GET", f"api/contents/{path}?content=1&format=text")
    return page["content"]


def score_in(page: str) -> tuple[float, float]:
    """The total score shown at the top of a feedback page."""
    match = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", re.sub(r"<[^>]+>", " ", page))
    assert match, page[:3000]
    return float(match.group(1)), float(match.group(2))


# --------------------------------------------------------------------------- the tests

def test_a_class_through_the_exchange(hub: Hub):
    assert HIDDEN_LINE in (SOURCE / f"{ASSIGNMENT}.ipynb").read_text()  # so its absence below means something
    started = time.monotonic()
    correct, wrong, attacker = hub.students[:3]
    timings = {}
    hub.start_servers(correct, wrong, attacker)
    timings["servers"] = time.monotonic() - started

    must_lose: list[str] = []

    def fill_wrong(released: dict) -> nbformat.NotebookNode:
        nb, lose = partly_wrong(released)
        must_lose.extend(lose)
        return nb
    fetch_fill_submit(hub, correct, solved)
    fetch_fill_submit(hub, wrong, fill_wrong)
    fetch_fill_submit(hub, attacker, lambda released: hostile(released, hub.exchange, hub.home(correct)))
    timings["fetch+submit"] = time.monotonic() - started - timings["servers"]

    # what a student can reach of another's work: neither the exchange's inbound nor a home
    probe = hub.as_user(attacker, "python", "-c", (
        "import json, os, sys\n"
        "inbound, home = sys.argv[1], sys.argv[2]\n"
        "def can(f):\n"
        "    try:\n        f()\n        return True\n"
        "    except OSError:\n        return False\n"
        "print(json.dumps({'list_inbound': can(lambda: os.listdir(inbound)),\n"
        "                  'list_home': can(lambda: os.listdir(home)),\n"
        "                  'write_home': can(lambda: open(os.path.join(home, 'x'), 'w'))}))"),
        str(hub.exchange / COURSE / "inbound"), str(hub.home(correct)))
    assert json.loads(probe.stdout) == {"list_inbound": False, "list_home": False, "write_home": False}

    # the instructor: collect, autograde, feedback, release it
    course = hub.home(hub.instructor) / COURSE
    hub.as_user(hub.instructor, "python", "-m", "nbgrader", "collect", ASSIGNMENT, cwd=course)
    assert {correct, wrong, attacker} <= {p.name for p in (course / "submitted").iterdir()}
    grading = time.monotonic()
    autograde = hub.as_user(hub.instructor, "python", "-m", "course.grading", "autograde", ASSIGNMENT,
                            str(course / "submitted"), "--course-dir", str(course), cwd=course)
    print(autograde.stdout[-3000:])
    hub.as_user(hub.instructor, "python", "-m", "course.grading", "feedback", ASSIGNMENT, "--course-dir",
                str(course), cwd=course)
    timings["autograde+feedback"] = time.monotonic() - grading
    # the hostile cell ran while grading, as the instructor (who owns the exchange's course folder):
    # the sandbox kept it from writing anywhere
    for path in hub.exchange.rglob("*"):
        assert MARK not in path.name and (path.is_dir() or MARK.encode() not in path.read_bytes()), path
    assert not (hub.home(correct) / "x").exists()
    hub.as_user(hub.instructor, "python", "-m", "nbgrader", "release_feedback", ASSIGNMENT, cwd=course)
    graded = json.loads((course / "grading" / f"{ASSIGNMENT}.json").read_text())
    results = graded["students"]

    # every student: feedback with their real score and no hidden test
    pages = {user: fetched_feedback(hub, user) for user in (correct, wrong, attacker)}
    for user, page in pages.items():
        assert HIDDEN_LINE not in page, f"hidden test code in the feedback of {user}"
        assert "BEGIN HIDDEN TESTS" not in page
        assert score_in(page)[0] == pytest.approx(results[user]["score"]), (user, results[user])
    points = {cell["grade_id"]: cell["max_score"] for cell in graded["cells"] if cell["autograded"]}
    assert results[correct]["status"] == "graded" and score_in(pages[correct])[0] == sum(points.values())
    assert results[wrong]["status"] == "graded"
    assert score_in(pages[wrong])[0] == sum(points.values()) - sum(points[test] for test in must_lose)
    assert results[attacker]["status"] == "tampered" and score_in(pages[attacker])[0] == 0
    assert "status: tampered" in re.sub(r"<[^>]+>", "", pages[attacker])  # the note says why: no fake pass
    timings["total"] = time.monotonic() - started
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def test_assignments_tab_in_chromium(hub: Hub, tmp_path: Path):
    """A student logs into the hub in Chromium, fetches and submits in JupyterLab's Assignments tab."""
    problem = None if Path(CHROMIUM).exists() else f"{CHROMIUM} not found (Debian: apt-get install chromium)"
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        problem = problem or "the playwright module is missing (pip install -e '.[dev]')"
    if problem:
        skip_or_fail(problem, "COURSE_REQUIRE_BROWSER")
    student = hub.students[3]
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(SERVER_START_SECONDS * 1000)
        try:
            page.goto(f"{hub.url}/hub/login")
            page.fill("input[name=username]", student)
            page.fill("input[name=password]", hub.password)
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf"/user/{student}/lab"))  # the hub spawned the server
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
            page.locator('.lm-Menu-item[data-command="nbgrader:open-assignment-list"]').click()
            released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
            released.locator("button", has_text="Fetch").click()
            fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
            fetched.locator("button", has_text="Submit").click()
            submitted = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first
            expect(submitted.locator("button", has_text="Fetch Feedback")).to_be_visible()
            page.screenshot(path=str(tmp_path / "assignments-tab.png"))
        except Exception:
            page.screenshot(path=str(tmp_path / "assignments-tab-failed.png"))
            print(f"screenshot: {tmp_path / 'assignments-tab-failed.png'}\n{hub.log_tail()}")
            raise
        finally:
            browser.close()
    assert "submitted" in {a["status"] for a in hub.listed(student)}  # the exchange has it
    print(f"browser: login, spawn, fetch, submit in {time.monotonic() - started:.1f} s")


def test_feedback_gets_the_files_release_feedback_needs(tmp_path: Path):
    """``course-admin feedback`` puts a collected submission's timestamp and secret next to its page."""
    from course.grading.feedback import copy_exchange_files

    collected = tmp_path / "course" / "submitted" / "ada" / ASSIGNMENT
    collected.mkdir(parents=True)
    (collected / "timestamp.txt").write_text("2026-12-03 22:22:13.870687 UTC")
    (collected / "submission_secret.txt").write_bytes(b"s3cret\n")  # copied byte for byte: it names the page
    page = tmp_path / "course" / "feedback" / "ada" / ASSIGNMENT
    page.mkdir(parents=True)
    assert copy_exchange_files(collected, page) == ["timestamp.txt", "submission_secret.txt"]
    assert (page / "submission_secret.txt").read_bytes() == b"s3cret\n"

    # the student's files: a link (to the instructor's files) or a huge file is not copied
    other = tmp_path / "course" / "submitted" / "eve" / ASSIGNMENT
    other.mkdir(parents=True)
    (other / "timestamp.txt").symlink_to(tmp_path / "course" / "submitted" / "ada" / ASSIGNMENT / "timestamp.txt")
    (other / "submission_secret.txt").write_bytes(b"x" * 10**6)
    eve_page = tmp_path / "course" / "feedback" / "eve" / ASSIGNMENT
    eve_page.mkdir(parents=True)
    assert copy_exchange_files(other, eve_page) == []
    linked = tmp_path / "course" / "submitted" / "mal"
    linked.symlink_to(collected.parent)  # a student folder that is a link
    assert copy_exchange_files(linked / ASSIGNMENT, eve_page) == []
    assert copy_exchange_files(tmp_path / "course" / "submitted" / "nobody" / ASSIGNMENT, eve_page) == []


def test_feedback_that_nbgrader_could_not_write_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A graded student without a page fails ``course-admin feedback`` (it used to print "0 student(s)", exit 0)."""
    from course.grading import _course, feedback

    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(SOURCE / f"{ASSIGNMENT}.ipynb", course / "source" / ASSIGNMENT)
    (course / "autograded" / "ada" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(SOURCE / f"{ASSIGNMENT}.ipynb", course / "autograded" / "ada" / ASSIGNMENT)
    # what a broken nbconvert gives: an error, and no page
    monkeypatch.setattr(_course, "run_converter", lambda converter: "Traceback ...\nSelectorSyntaxError: boom\n")
    with pytest.raises(_course.GradingError, match=r"no feedback page for 1 graded student\(s\) \(ada\).*boom"):
        feedback.generate_feedback(course, ASSIGNMENT)
