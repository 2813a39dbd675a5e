"""The student's path in a real browser: `make lab`'s entry point, headless Chromium,
run every cell, see a figure, move an explorer's slider and see the figure change.

The server is ``python -m course.lab`` (what ``make lab`` runs) on a free loopback
port, serving a temporary copy of ``lectures/`` (``COURSE_ROOT``), so running cells
and autosave never touch the committed notebooks. Every check is on what the page
shows: prompts ``[n]:``, rendered PNGs, the explorer's text line and figure.

Screenshots go to ``$COURSE_SCREENSHOT_DIR`` when it is set, else to the test's
``tmp_path``; each test prints where. The browser is Debian's ``chromium`` driven by
Playwright (never ``playwright install``). Without them the tests skip, unless
``COURSE_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which turns the skip into a failure.

The lecture tests target ``INDEX``, ``LECTURE`` and ``CONV_LECTURE`` below (the
last one also checks the training progress bar and that the arithmetic explorer's
text is ``conv_output_size`` of its sliders) and skip only while those notebooks
do not exist; the fixture tests use notebooks written here, so the
browser path is tested whatever the lectures contain.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from course.lab import ROOT_VARIABLE
from jupyter_env import free_port, isolated_environment

ROOT = Path(__file__).resolve().parent.parent
INDEX = "00_index.ipynb"            # the lecture index: opened and run
LECTURE = "06_upsampling.ipynb"     # a lecture with figures and at least one explorer
FIXTURE = "browser_fixture.ipynb"   # written by this file into the copy of lectures/
FIXTURE_ERROR = "browser_fixture_error.ipynb"
FIXTURE_EXERCISE = "browser_fixture_exercise.ipynb"  # an assignment's pattern: a stub, its test cell
FIXTURE_EXPLORERS = "browser_fixture_explorers.ipynb"  # every explorer of course.viz, one per cell

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "course-browser-test-token"
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
SERVER_START_SECONDS = 60
RUN_ALL_SECONDS = 90        # a whole notebook; the lectures take well under this
SLIDER_SECONDS = 15         # one slider move: the kernel redraws one figure

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- environment

def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright module is missing (pip install -e '.[dev]')"
    return None


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("COURSE_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------- fixture notebooks

# A 1x1 PNG stored as an old output: the test must see it replaced by a fresh figure.
STALE_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
             "hKmMIQAAAABJRU5ErkJggg==")


def fixture_notebooks() -> dict[str, nbformat.NotebookNode]:
    """A small lecture (a figure, an explorer) and a notebook whose second cell fails."""
    v4 = nbformat.v4
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
                "language_info": {"name": "python"}}
    figure = v4.new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(4, 2.5))\n"
        "ax.plot([0, 1, 4, 9, 16], marker='o')\n"
        "ax.set_title('browser fixture')\n"
        "plt.show()",
        execution_count=7,
        outputs=[v4.new_output("display_data", data={"image/png": STALE_PNG, "text/plain": "<Figure>"})])
    lecture = v4.new_notebook(metadata=metadata, cells=[
        v4.new_markdown_cell("# Browser fixture\nA figure and an explorer, like a lecture."),
        figure,
        v4.new_code_cell(""),  # an empty cell keeps the prompt `[ ]:` after running
        v4.new_code_cell("from course.viz import checkerboard_explorer\n"
                         "checkerboard_explorer(kernel_size=3, stride=2)"),
    ])
    failing = v4.new_notebook(metadata=metadata, cells=[
        v4.new_code_cell("x = 1"),
        v4.new_code_cell("raise ValueError('deliberate failure for the browser test')"),
        v4.new_code_cell("y = 2"),
    ])
    # The released assignments' pattern: the setup cell calls show_not_attempted(), an exercise is
    # still a stub, its test cell is tagged raises-exception, and the next exercise follows.
    test_cell = v4.new_code_cell("check_equal('double(2)', double(2), 4)\npassed('test_double')")
    test_cell.metadata["tags"] = ["raises-exception"]
    exercise = v4.new_notebook(metadata=metadata, cells=[
        v4.new_code_cell("from course.grading import check_equal, passed, show_not_attempted\nshow_not_attempted()"),
        v4.new_code_cell("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"),
        test_cell,
        v4.new_code_cell("def triple(x):\n    return 3 * x"),
        v4.new_code_cell("check_equal('triple(2)', triple(2), 6)\npassed('test_triple')"),
    ])
    # One cell per explorer, as the lectures build them (Grad-CAM on a small untrained network).
    explorers = v4.new_notebook(metadata=metadata, cells=[
        v4.new_code_cell("import torch\nfrom torch import nn\nfrom course import viz\n"
                         "torch.manual_seed(0)\n"
                         "net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),\n"
                         "                    nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),\n"
                         "                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()\n"
                         "images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))"),
        *[v4.new_code_cell(code) for code in EXPLORER_CELLS.values()],
    ])
    return {FIXTURE: lecture, FIXTURE_ERROR: failing, FIXTURE_EXERCISE: exercise, FIXTURE_EXPLORERS: explorers}


# The explorers the issue asked for, as a lecture builds each one (CSS class -> code).
EXPLORER_CELLS = {
    "receptive-field": "viz.receptive_field_explorer()",
    "iou": "viz.iou_explorer()",
    "pr-threshold": "viz.pr_threshold_explorer()",
    "nms": "viz.nms_explorer()",
    "grad-cam": "viz.grad_cam_explorer(net, images, {'conv1': net[0], 'conv2': net[3]}, class_names=['a', 'b', 'c'])",
    "unpooling": "viz.unpooling_explorer()",
}


def code_cells(path: Path) -> tuple[int, int]:
    """(code cells, code cells with source) of a notebook file."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return len(cells), sum(1 for c in cells if c.source.strip())


# --------------------------------------------------------------------------- server

class LabServer:
    """``python -m course.lab`` serving ``root`` on a loopback port (a process group of its own)."""

    def __init__(self, root: Path, home: Path):
        self.root = root
        self.home = home
        self.log_path = home / "server.log"
        self.process: subprocess.Popen | None = None
        self.base = ""

    def environment(self) -> dict:
        env = isolated_environment(self.home)
        env[ROOT_VARIABLE] = str(self.root)
        return env

    def start(self, attempts: int = 3) -> None:
        env = self.environment()
        for _ in range(attempts):
            port = free_port()
            command = [sys.executable, "-m", "course.lab", "--no-browser", f"--port={port}",
                       "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
                       f"--IdentityProvider.token={TOKEN}"]
            with open(self.log_path, "a") as log:
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
                self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
            self.base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + SERVER_START_SECONDS
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    request = urllib.request.Request(f"{self.base}/api/status",
                                                     headers={"Authorization": f"token {TOKEN}"})
                    with urllib.request.urlopen(request, timeout=5):
                        return
                except OSError:
                    time.sleep(0.3)
            else:
                self.stop()
                raise RuntimeError(f"JupyterLab did not answer on port {port} within {SERVER_START_SECONDS} s:\n"
                                   + self.log_tail())
            if "already in use" not in self.log_tail():  # lost the port to another process: try another
                break
        raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the server shuts its kernels down
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, chars: int = 12000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return text if len(text) <= chars else "...\n" + text[-chars:]

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/lectures/{notebook}?reset&token={TOKEN}"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright, for the whole file (one xdist worker)."""
    problem = browser_problem()
    if problem:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """The server, on a temporary copy of lectures/ plus the fixture notebooks."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "course"
    lectures = root / "lectures"
    if (ROOT / "lectures").is_dir():
        shutil.copytree(ROOT / "lectures", lectures)
    lectures.mkdir(parents=True, exist_ok=True)
    for name, notebook in fixture_notebooks().items():
        nbformat.write(notebook, lectures / name)
    server = LabServer(root, home)
    try:
        server.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server
    finally:
        server.stop()


class Session:
    """One page on the lab; failures carry the server log and the browser console."""

    def __init__(self, lab: LabServer, page, shots: Path):
        self.lab = lab
        self.page = page
        self.shots = shots
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def screenshot(self, name: str, element=None) -> Path:
        path = self.shots / name
        (element or self.page).screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    @contextmanager
    def explained(self, what: str):
        try:
            yield
        except Exception as error:
            try:
                shot = f" (screenshot {self.screenshot(f'failure-{Path(what).stem}.png')})"
            except Exception:
                shot = ""
            console = "\n".join(self.console[-30:]) or "(none)"
            pytest.fail(f"{what}: {type(error).__name__}: {error}{shot}\n"
                        f"--- browser console errors ---\n{console}\n"
                        f"--- server log ({self.lab.log_path}) ---\n{self.lab.log_tail()}")


@pytest.fixture
def session(browser, lab, tmp_path):
    """A fresh browser profile and page per test; ``?reset`` gives it a fresh workspace."""
    shots = screenshot_dir(tmp_path)
    print(f"screenshots in {shots}")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield Session(lab, page, shots)
    finally:
        context.close()


# --------------------------------------------------------------------------- page actions

RUN_STATE_JS = """
() => {
  const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')];
  const state = {cells: cells.length, running: 0, done: 0, blank: 0, counts: [], stale: 0, errors: []};
  for (const cell of cells) {
    const prompt = (cell.querySelector('.jp-InputArea .jp-InputPrompt')?.textContent || '').trim();
    const number = prompt.match(/^\\[(\\d+)\\]:?$/);
    if (number) { state.done++; state.counts.push(Number(number[1])); }
    else if (/^\\[\\*\\]:?$/.test(prompt)) state.running++;
    else state.blank++;
    state.stale += cell.querySelectorAll('.jp-OutputArea-output[data-course-stale]').length;
    const errors = cell.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], ' +
      '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]');
    for (const e of errors) {
      const text = e.textContent || '';
      if (e.getAttribute('data-mime-type') === 'application/vnd.jupyter.error' || text.includes('Traceback'))
        state.errors.push(text.slice(0, 3000));
    }
  }
  return state;
}
"""

MARK_STALE_JS = """
() => { for (const o of document.querySelectorAll('.jp-OutputArea-output')) o.setAttribute('data-course-stale', '1'); }
"""


def open_notebook(session: Session, name: str) -> tuple[int, int]:
    """Open lectures/``name`` on a fresh workspace and wait for its kernel; return its code cells."""
    page = session.page
    total, with_source = code_cells(session.lab.root / "lectures" / name)
    start = time.monotonic()
    page.goto(session.lab.url(name))
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(state="visible")
    shown = time.monotonic() - start
    page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-CodeCell').length === {total}")
    print(f"{name}: notebook shown after {shown:.1f} s, kernel idle after {time.monotonic() - start:.1f} s")
    return total, with_source


def run_all(session: Session, name: str, expect_error: bool = False) -> dict:
    """Run > Run All Cells, wait until every cell ran (or one failed); return the final state."""
    page = session.page
    total, with_source = open_notebook(session, name)
    page.evaluate(MARK_STALE_JS)  # stored outputs: they must all be replaced
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    start = time.monotonic()
    page.wait_for_function(
        f"""() => {{
              const s = ({RUN_STATE_JS})();
              return s.running === 0 && s.stale === 0 && (s.done === {with_source} || s.errors.length > 0);
           }}""", timeout=RUN_ALL_SECONDS * 1000, polling=250)
    state = page.evaluate(RUN_STATE_JS)
    state["seconds"] = time.monotonic() - start
    print(f"{name}: ran {state['done']} of {total} code cells in {state['seconds']:.1f} s")
    if not expect_error:
        assert not state["errors"], f"{name}: a cell failed:\n" + "\n---\n".join(state["errors"])
        assert state["done"] == with_source and state["cells"] == total, f"{name}: not every cell ran: {state}"
        # A fresh kernel numbers the cells 1, 2, 3 ... in order.
        assert state["counts"] == list(range(1, with_source + 1)), f"{name}: execution counts {state['counts']}"
    page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).first.wait_for(state="visible")
    return state


def rendered_pngs(page) -> list[str]:
    """The sources of the PNG figures in the notebook's outputs, in order."""
    return page.eval_on_selector_all(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output.jp-RenderedImage img[src^="data:image/png"]',
        "imgs => imgs.map(i => i.getAttribute('src'))")


EXPLORER_JS = """
(index) => {
  const box = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer')[index];
  if (!box) return null;
  const img = box.querySelector('.course-explorer-output img[src^="data:image/png"]');
  const label = box.querySelector('.course-explorer-label');
  return {label: label ? label.textContent.trim() : null, src: img ? img.getAttribute('src') : null};
}
"""


def move_a_slider(session: Session, stem: str) -> dict:
    """Press ArrowRight on the first explorer slider that can move; the text and figure must change."""
    page = session.page
    explorers = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer")
    assert explorers.count() > 0, "no explorer (.course-explorer) rendered: is the widget manager loaded?"
    for index in range(explorers.count()):
        explorer = explorers.nth(index)
        handles = explorer.locator(".noUi-handle[role=slider]")
        for h in range(handles.count()):
            handle = handles.nth(h)
            if float(handle.get_attribute("aria-valuenow")) < float(handle.get_attribute("aria-valuemax")):
                break
        else:
            continue
        break
    else:
        pytest.fail("no explorer slider can move right")
    explorer.scroll_into_view_if_needed()
    before = page.evaluate(EXPLORER_JS, index)
    assert before["label"], f"explorer {index} shows no text line"
    assert before["src"], f"explorer {index} shows no figure"
    session.screenshot(f"{stem}-explorer-before.png", explorer)
    control = re.search(r"course-control-(\S+)",
                        handle.locator("xpath=ancestor::*[contains(@class, 'course-control-')][1]")
                        .get_attribute("class") or "")
    value = float(handle.get_attribute("aria-valuenow"))
    after = None
    for _ in range(3):  # a step that changes nothing visible: step again
        handle.focus()
        page.keyboard.press("ArrowRight")
        value += 1
        page.wait_for_function(f"() => document.activeElement && "
                               f"parseFloat(document.activeElement.getAttribute('aria-valuenow')) >= {value}")
        try:
            page.wait_for_function(
                """([index, before]) => {
                     const box = document.querySelectorAll(
                       '.jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer')[index];
                     const img = box.querySelector('.course-explorer-output img[src^="data:image/png"]');
                     const label = box.querySelector('.course-explorer-label');
                     return img && label && img.getAttribute('src') !== before.src
                            && label.textContent.trim() !== before.label;
                   }""", arg=[index, before], timeout=SLIDER_SECONDS * 1000, polling=100)
        except Exception:
            if value >= float(handle.get_attribute("aria-valuemax")):
                raise
            continue
        after = page.evaluate(EXPLORER_JS, index)
        break
    assert after is not None, f"moving the slider did not change the explorer: still {before['label']!r}"
    print(f"slider {control.group(1) if control else '?'} -> {value:g}: "
          f"{before['label']!r} -> {after['label']!r}")
    session.screenshot(f"{stem}-explorer-after.png", explorer)
    session.screenshot(f"{stem}-2-slider.png")
    return {"before": before, "after": after}


# --------------------------------------------------------------------------- tests

def test_fixture_notebook_runs_shows_a_figure_and_an_explorer_follows_its_slider(session):
    page = session.page
    with session.explained(FIXTURE):
        run_all(session, FIXTURE)
        pngs = rendered_pngs(page)
        assert pngs, "no PNG figure rendered"
        assert all(STALE_PNG not in src for src in pngs), "the stored output was not replaced"
        session.screenshot("fixture-1-run.png")
        change = move_a_slider(session, "fixture")
        # checkerboard_explorer(3, 2): the first slider is kernel_size, 3 -> 4 is divisible by 2.
        assert "kernel_size 3 is not divisible by stride 2" in change["before"]["label"]
        assert "kernel_size 4 is divisible by stride 2" in change["after"]["label"]


def test_a_failing_cell_is_reported(session):
    with session.explained(FIXTURE_ERROR):
        state = run_all(session, FIXTURE_ERROR, expect_error=True)
        session.screenshot("fixture-error.png")
    assert len(state["errors"]) == 1 and "deliberate failure" in state["errors"][0], state
    assert state["done"] == 2, state  # the third cell never ran


def test_run_all_goes_past_an_unanswered_exercise(session):
    """JupyterLab honours the raises-exception tag: Run All reports the stub and runs on to the end."""
    page = session.page
    with session.explained(FIXTURE_EXERCISE):
        state = run_all(session, FIXTURE_EXERCISE, expect_error=True)
        page.wait_for_function(f"() => ({RUN_STATE_JS})().done === 5", timeout=30_000)
        state = page.evaluate(RUN_STATE_JS)
        session.screenshot("fixture-exercise.png")
        outputs = page.eval_on_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output",
                                            "els => els.map(e => e.textContent)")
    assert state["done"] == 5 and not state["errors"], state  # every cell ran; no traceback anywhere
    assert [text for text in outputs if "not attempted yet" in text] == [
        "double: not attempted yet. Replace `raise NotImplementedError()` in its cell with your code, "
        "run that cell, then run this one again. (It scores 0 until then.)"], outputs
    assert any("test_triple: every check in this cell passed" in text for text in outputs), outputs


@pytest.mark.skipif(not (ROOT / "lectures" / INDEX).exists(), reason=f"lectures/{INDEX} is not written yet")
def test_index_runs_in_the_browser(session):
    with session.explained(INDEX):
        run_all(session, INDEX)
        session.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.scroll_into_view_if_needed()
        session.screenshot(f"{Path(INDEX).stem}-1-run.png")


@pytest.mark.skipif(not (ROOT / "lectures" / LECTURE).exists(), reason=f"lectures/{LECTURE} is not written yet")
def test_lecture_runs_shows_figures_and_an_explorer_follows_its_slider(session):
    page = session.page
    stem = Path(LECTURE).stem
    with session.explained(LECTURE):
        run_all(session, LECTURE)
        pngs = rendered_pngs(page)
        assert pngs, "no PNG figure rendered"
        first = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                             ".jp-OutputArea-output.jp-RenderedImage img[src^='data:image/png']").first
        first.scroll_into_view_if_needed()
        session.screenshot(f"{stem}-1-run.png")
        move_a_slider(session, stem)


@pytest.mark.skipif(not (ROOT / "lectures" / LECTURE).exists(), reason=f"lectures/{LECTURE} is not written yet")
def test_a_lecture_not_yet_run_shows_its_stored_figures_and_explorers(session):
    """Students read a lecture before running it: the stored figures and explorers (saved widget state) show."""
    page = session.page
    with session.explained(LECTURE):
        open_notebook(session, LECTURE)
        page.wait_for_function("() => document.querySelectorAll("
                               "'.jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer').length > 0",
                               timeout=30_000)
        explorer = page.evaluate(EXPLORER_JS, 0)
        assert explorer["label"] and explorer["src"], f"the stored explorer shows no text or figure: {explorer}"
        assert rendered_pngs(page), "no stored PNG figure rendered"
        prompts = page.eval_on_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt",
                                            "ps => ps.map(p => p.textContent.trim())")
        assert any(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"stored prompts missing: {prompts[:5]}"
        box = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer").first
        box.scroll_into_view_if_needed()
        session.screenshot(f"{Path(LECTURE).stem}-0-stored-explorer.png", element=box)


CONV_LECTURE = "01_convolutions.ipynb"   # trains with a progress bar; the convolution-arithmetic explorer

CONV_EXPLORER_JS = """
() => {
  const box = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer-conv-arithmetic');
  if (!box) return null;
  const values = {};
  for (const name of ['input_size', 'kernel_size', 'stride', 'padding', 'dilation']) {
    const readout = box.querySelector('.course-control-' + name + ' .widget-readout');
    values[name] = readout ? Number(readout.textContent.trim()) : null;
  }
  const img = box.querySelector('.course-explorer-output img[src^="data:image/png"]');
  return {values, label: box.querySelector('.course-explorer-label')?.textContent.trim(),
          src: img ? img.getAttribute('src') : null};
}
"""


@pytest.mark.skipif(not (ROOT / "lectures" / CONV_LECTURE).exists(),
                    reason=f"lectures/{CONV_LECTURE} is not written yet")
def test_training_shows_a_progress_bar_and_the_arithmetic_explorer_computes_output_sizes(session):
    from course.conv import conv_output_size

    page = session.page
    stem = Path(CONV_LECTURE).stem
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    with session.explained(CONV_LECTURE):
        run_all(session, CONV_LECTURE)
        # course.train.fit's epoch bar is a live ipywidgets progress bar, finished.
        bars = page.locator(f"{panel} .widget-hprogress")
        assert bars.count() >= 1, "no progress bar rendered for the training cell"
        box = bars.first.locator("xpath=..")
        assert re.search(r"fit.*100%.*6/6", box.text_content() or "", flags=re.S), box.text_content()
        box.scroll_into_view_if_needed()
        session.screenshot(f"{stem}-1-progress.png")

        before = page.evaluate(CONV_EXPLORER_JS)
        assert before and before["src"], "the convolution-arithmetic explorer shows no figure"
        stride = page.locator(f"{panel} .course-explorer-conv-arithmetic .course-control-stride "
                              ".noUi-handle[role=slider]")
        stride.scroll_into_view_if_needed()
        stride.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"([before]) => {{ const s = ({CONV_EXPLORER_JS})(); "
                               "return s && s.label !== before.label && s.src !== before.src; }",
                               arg=[before], timeout=SLIDER_SECONDS * 1000, polling=100)
        after = page.evaluate(CONV_EXPLORER_JS)
        assert after["values"]["stride"] == before["values"]["stride"] + 1
        v = after["values"]
        expected = conv_output_size(v["input_size"], v["kernel_size"], v["stride"], v["padding"], v["dilation"])
        assert after["label"] == f"output size = {expected}", (after, expected)
        print(f"stride {before['values']['stride']} -> {v['stride']}: {before['label']!r} -> {after['label']!r}")
        session.screenshot(f"{stem}-2-slider.png",
                           page.locator(f"{panel} .course-explorer-conv-arithmetic").first)


EXPLORER_BY_CLASS_JS = """
(name) => {
  const box = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer-' + name);
  if (!box) return null;
  const img = box.querySelector('.course-explorer-output img[src^="data:image/png"]');
  const label = box.querySelector('.course-explorer-label');
  const controls = [...box.querySelectorAll('[class*="course-control-"]')].map(
    c => [...c.classList].find(k => k.startsWith('course-control-')).slice('course-control-'.length));
  return {label: label ? label.textContent.trim() : null, src: img ? img.getAttribute('src') : null, controls};
}
"""


def change_control(page, explorer, control: str) -> str:
    """Move one control of an explorer as a student would: pick the next option, or step a slider."""
    widget = explorer.locator(f".course-control-{control}").first
    widget.scroll_into_view_if_needed()
    select = widget.locator("select")
    if select.count():
        options = select.locator("option").all_text_contents()
        current = select.evaluate("s => s.selectedIndex")
        choice = options[(current + 1) % len(options)]
        select.select_option(label=choice)
        return f"{options[current]!r} -> {choice!r}"
    handle = widget.locator(".noUi-handle[role=slider]")
    now, top = float(handle.get_attribute("aria-valuenow")), float(handle.get_attribute("aria-valuemax"))
    handle.focus()
    page.keyboard.press("ArrowRight" if now < top else "ArrowLeft")
    return f"{now:g} -> one step {'right' if now < top else 'left'}"


CHANGED_JS = """([name, before]) => {
  const box = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer-' + name);
  const img = box.querySelector('.course-explorer-output img[src^="data:image/png"]');
  const label = box.querySelector('.course-explorer-label');
  return img && label && label.textContent.trim() !== before.label && img.getAttribute('src') !== before.src;
}"""


def test_every_explorer_follows_its_controls(session):
    """Run a notebook holding every explorer; in each, move each control and see text and figure change."""
    page = session.page
    with session.explained(FIXTURE_EXPLORERS):
        run_all(session, FIXTURE_EXPLORERS)
        for name in EXPLORER_CELLS:
            state = page.evaluate(EXPLORER_BY_CLASS_JS, name)
            assert state is not None, f"no .course-explorer-{name} rendered"
            assert state["label"] and state["src"], f"explorer {name} shows no text or no figure: {state}"
            explorer = page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) .course-explorer-{name}").first
            moved = 0
            for control in state["controls"]:
                before = page.evaluate(EXPLORER_BY_CLASS_JS, name)
                moves = []
                for _ in range(3):   # a move that shows the same thing (the predicted class named): move again
                    moves.append(change_control(page, explorer, control))
                    try:
                        page.wait_for_function(CHANGED_JS, arg=[name, before], timeout=SLIDER_SECONDS * 1000,
                                               polling=100)
                        break
                    except Exception:
                        continue
                after = page.evaluate(EXPLORER_BY_CLASS_JS, name)
                assert after["label"] != before["label"] and after["src"] != before["src"], (
                    f"explorer {name}: control {control} moved ({'; '.join(moves)}) but the text or the figure "
                    f"did not change: {before['label']!r} -> {after['label']!r}")
                print(f"{name}: {control} {'; '.join(moves)}: {before['label']!r} -> {after['label']!r}")
                moved += 1
            assert moved >= 1, f"explorer {name} has no control"
            session.screenshot(f"explorer-{name}.png", explorer)
