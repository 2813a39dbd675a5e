"""Feedback pages a dishonest student cannot use: nothing of theirs runs, restyles or leaks.

The first half checks the filters of course/grading/feedback_filters.py on
notebooks built here (no kernel). The second half grades the toy assignment
(tests/grading_toy.py, no torch) with ``python -m course.grading autograde``
for students whose notebooks display HTML, JavaScript and SVG, whose Markdown
holds ``<script>`` and ``onerror=``, who fail a hidden test or crash the kernel
in a cell whose first line is HTML; then gives feedback three ways: ``python -m
course.grading feedback``, plain ``nbgrader generate_feedback`` with the
course's ``assignments/nbgrader_config.py``, and the exporter nbgrader's
formgrader builds from that configuration. Every page is checked as markup
(which elements and attributes exist), and as text (what a student reads).
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from grading_toy import HIDDEN_MARKER, make_toy_course, student_notebook
from course.grading.feedback_filters import (FEEDBACK_PREPROCESSORS, FeedbackExporter, GradingNote, HideHiddenTests,
                                             InertStudentContent, inert_markdown, style_hash, with_csp)
from course.grading.statuses import Status

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: a 1x1 PNG
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
#: what the dishonest student's Markdown answer says, and must be read literally
MD_SCRIPT = "<script>alert(1)</script>"
MD_IMG = '<img src=x onerror="alert(2)">'
#: first line of the cell that crashes the kernel: quoted in the grading note's reason
CRASH_LINE = '# <b>x</b> & "q"'


# ----------------------------------------------------------------------------- reading pages

class Page(HTMLParser):
    """The elements (tag, attributes, in <head>?) and the visible text of an HTML page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, bool]] = []
        self.raw: list[tuple[str, dict, bool, str]] = []  # <script>/<style> with their content
        self._text: list[str] = []
        self._in_head = False
        self._open_raw = None
        self.feed(text)
        self.close()
        self.text = re.sub(r"\s+", " ", "".join(self._text))

    def handle_starttag(self, tag, attrs):
        attrs = {k.lower(): (v or "") for k, v in attrs}
        if tag == "head":
            self._in_head = True
        elif tag == "body":
            self._in_head = False
        self.elements.append((tag, attrs, self._in_head))
        if tag in ("script", "style"):
            self._open_raw = [tag, attrs, self._in_head, ""]

    def handle_endtag(self, tag):
        if tag == "head":
            self._in_head = False
        if self._open_raw and tag == self._open_raw[0]:
            self.raw.append(tuple(self._open_raw))
            self._open_raw = None

    def handle_data(self, data):
        if self._open_raw:
            self._open_raw[3] += data
        else:
            self._text.append(data)

    def csp(self) -> str:
        metas = [a.get("content", "") for t, a, in_head in self.elements
                 if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy" and in_head]
        assert len(metas) == 1, f"expected one CSP <meta> in <head>, found {len(metas)}"
        return metas[0]


def assert_inert(page: Page) -> None:
    """No student markup can act: scripts, handlers, styles, frames, foreign images, links."""
    problems = []
    for tag, attrs, in_head in page.elements:
        handlers = [a for a in attrs if a.startswith("on")]
        if handlers:
            problems.append(f"<{tag}> with {handlers}")
        if "style" in attrs:
            problems.append(f"<{tag} style={attrs['style']!r}>")
        if tag in ("script", "style", "meta", "link", "base", "title") and not in_head:
            problems.append(f"<{tag} {attrs}> in the body")
        if tag in ("iframe", "frame", "object", "embed", "svg", "math", "form", "template"):
            problems.append(f"<{tag}>")
        if tag == "img" and not re.match(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$",
                                         attrs.get("src", "")):
            problems.append(f"<img src={attrs.get('src', '')[:60]!r}>")
        if tag == "a" and re.match(r"\s*(javascript|vbscript|data):", attrs.get("href", ""), re.I):
            problems.append(f"<a href={attrs['href']!r}>")
    for tag, attrs, in_head, content in page.raw:
        if re.search(r"PWNED|alert\(", content):
            problems.append(f"<{tag}> holding student code: {content[:80]!r}")
    assert not problems, "\n".join(problems)
    policy = page.csp()
    assert "script-src 'none'" in policy and "default-src 'none'" in policy


def read(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- the filters, no kernel

def display(data: dict, metadata: dict | None = None):
    return new_output("display_data", data=data, metadata=metadata or {})


def hostile_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "title": "</title><script>alert('title')</script>",
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {"</script><script>alert(0)//": 1}}},
    })
    code = new_code_cell("x = 1", execution_count=3, outputs=[
        display({"text/html": "<script>document.title='PWNED'</script>"
                              "<div style='position:fixed;top:0'>Score: 24 / 24</div>",
                 "text/plain": "PLAIN_FALLBACK"}),
        display({"application/javascript": "document.title='PWNED'"}),
        display({"image/svg+xml": "<svg onload='alert(3)'><script>alert(4)</script></svg>"}),
        display({"text/markdown": "<img src=x onerror=alert(5)>", "text/latex": "$x$"}),
        display({"application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2}}),
        display({"image/png": '" onerror="alert(6)'}),
        display({"image/png": PNG}, {"image/png": {"width": "1 onerror=alert(7)", "height": 20},
                                     "filenames": {"image/png": "../../other/secret.png"}}),
        new_output("execute_result", data={"text/plain": "'<b>repr</b>'"}, execution_count=3),
        new_output("stream", name="stdout", text="<script>alert('stdout')</script>\n"),
        new_output("error", ename="ValueError", evalue="<img src=x onerror=alert(8)>",
                   traceback=["\x1b[0;31mValueError\x1b[0m: <img src=x onerror=alert(8)>"]),
    ])
    code.metadata["tags"] = ['x" onmouseover="alert(9)', "fine-tag"]
    code.metadata["jupyter"] = {"source_hidden": True}
    markdown = new_markdown_cell(
        "## My answer\n**bold** and `a<b`\n\n" + MD_SCRIPT + "\n\n" + MD_IMG + "\n\n"
        "<style>body{display:none}</style><div style=\"position:fixed;top:0\">Score: 24 / 24</div>\n\n"
        "[click](javascript:alert(10)) ![pic](attachment:pic.png) ![vec](attachment:vec.svg)\n\n"
        "```mermaid\n</pre><script>alert(11)</script>\n```\n")
    markdown.attachments = {"pic.png": {"image/png": PNG},
                            "vec.svg": {"image/svg+xml": "PHN2ZyBvbmxvYWQ9YWxlcnQoMTIpPjwvc3ZnPg=="}}
    # a student's cell pretending to be already made inert (the mark is a per-run secret)
    forged = new_markdown_cell("<script>alert(13)</script>", metadata={"course_inert": "0" * 32})
    raw = new_raw_cell("<script>alert(14)</script>", metadata={"raw_mimetype": "text/html"})
    nb.cells = [code, markdown, forged, raw]
    return nb


@pytest.fixture(scope="module")
def filtered():
    nb = hostile_notebook()
    resources = {}
    InertStudentContent().preprocess(nb, resources)
    html_text, _ = FeedbackExporter(template_name="classic").from_notebook_node(nb)
    return nb, Page(html_text)


def test_outputs_keep_only_text_png_and_jpeg(filtered):
    nb, _ = filtered
    outputs = nb.cells[0].outputs
    assert [sorted(o.get("data", {})) for o in outputs] == [
        ["text/plain"], ["text/plain"], ["text/plain"], ["text/plain"], ["text/plain"], ["text/plain"],
        ["image/png"], ["text/plain"], [], [],
    ]
    assert outputs[0].data["text/plain"] == "PLAIN_FALLBACK"  # the HTML's own text version
    assert "application/javascript" in outputs[1].data["text/plain"]  # says what was not shown
    assert "image/svg+xml" in outputs[2].data["text/plain"]
    assert "image/png" in outputs[5].data["text/plain"]  # not base64: dropped
    assert outputs[6].metadata == {"image/png": {"height": 20}}  # no injected width, no file name
    assert nb.cells[0].metadata == {"tags": ["fine-tag"]}
    assert set(nb.metadata) == {"kernelspec", "language_info"}


def test_student_markdown_renders_with_its_html_as_text(filtered):
    _, page = filtered
    assert_inert(page)
    for literal in (MD_SCRIPT, MD_IMG, "<style>body{display:none}</style>", "<script>alert(13)</script>",
                    "<script>alert(14)</script>", "</pre><script>alert(11)</script>",
                    "<script>alert('stdout')</script>", "ValueError: <img src=x onerror=alert(8)>",
                    "PLAIN_FALLBACK", "'<b>repr</b>'"):
        assert literal in page.text, literal
    tags = [t for t, _, _ in page.elements]
    assert "h2" in tags and "strong" in tags and "code" in tags  # ordinary Markdown still renders
    images = [a["src"] for t, a, _ in page.elements if t == "img"]
    assert len(images) == 2 and all(src.startswith("data:image/png;base64,") for src in images)
    links = [a.get("href") for t, a, _ in page.elements if t == "a" and a.get("href", "").startswith(("java", "#h"))]
    assert links == ["#harmful-link"]


def test_inert_markdown_is_one_html_block_that_markdown_passes_through():
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    block = inert_markdown("text <b>x</b>\n\n```\nline 1\n\n  line 3 <i>\n```\n\n$a<b$ and *em*")
    assert "\n" not in block and block.startswith("<div")
    assert markdown2html_mistune(block).strip() == block
    text = Page(block).text
    assert "text <b>x</b>" in text and "$a<b$" in text
    assert Page(block).raw == [] and "line 1\n\n  line 3 <i>\n" in html.unescape(re.sub(r"<[^>]+>", "", block))


def test_csp_allows_only_the_head_styles_and_no_script():
    # the hash of the Content Security Policy specification's own example
    assert style_hash("alert('Hello, world.');") == "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
    page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>p{color:red}</style></head>"
            "<body><style>body{display:none}</style><p>x</p></body></html>")
    out = with_csp(page)
    assert out.index('<meta charset="utf-8">') < out.index("Content-Security-Policy") < out.index("<style>")
    policy = Page(out).csp()
    assert style_hash("p{color:red}") in policy and style_hash("body{display:none}") not in policy
    assert "'unsafe-inline'" not in policy and "script-src 'none'" in policy


def test_configuration_uses_the_course_filters():
    from course.grading._course import load_config

    cfg = load_config(ROOT / "assignments")
    assert list(cfg.GenerateFeedback.preprocessors) == FEEDBACK_PREPROCESSORS
    assert cfg.GenerateFeedback.exporter_class is FeedbackExporter
    assert InertStudentContent in cfg.HTMLExporter.preprocessors
    assert cfg.GradingNote.advice["timeout"] == Status.TIMEOUT.advice


def test_grading_note_shows_the_reason_once_escaped(tmp_path):
    import json

    reason = 'cell 4 `<b>x</b> & "q"` and <b>x</b> & "q"'
    results = tmp_path / "grading" / "toy.json"
    results.parent.mkdir()
    results.write_text(json.dumps({"students": {"mallory": {"status": "timeout", "reason": reason}}}))
    nb = new_notebook(cells=[new_markdown_cell("hello")])
    note = GradingNote(results_path=str(tmp_path / "grading" / "{assignment}.json"),
                       advice={"timeout": "Look for a <loop>."})
    resources = {"nbgrader": {"student": "mallory", "assignment": "toy"}}
    nb, resources = note.preprocess(nb, resources)
    InertStudentContent().preprocess(nb, resources)  # after the note: leaves it alone
    page = Page(FeedbackExporter(template_name="classic").from_notebook_node(nb)[0])
    assert_inert(page)
    assert 'status: timeout. cell 4 <b>x</b> & "q" and <b>x</b> & "q" Look for a <loop>.' in page.text
    assert "&lt;" not in page.text and "b" not in [t for t, _, _ in page.elements]


# ----------------------------------------------------------------------------- the toy course, graded

HOSTILE_CODE = f"""from IPython.display import HTML, Javascript, Markdown, SVG, display
display(HTML("<script>document.title='PWNED'</script><div style='position:fixed;top:0'>Score: 24 / 24</div>"))
display(Javascript("document.title='PWNED'"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(3)"><script>alert(4)</script></svg>'))
display(Markdown("<img src=x onerror=alert(5)>"))
display({{"text/html": "<b style='position:fixed'>html</b>", "text/plain": "PLAIN_FALLBACK_TEXT"}}, raw=True)
display({{"image/png": '" onerror="alert(6)'}}, raw=True)
display({{"image/png": "{PNG}"}}, metadata={{"image/png": {{"width": "1 onerror=alert(7)"}}}}, raw=True)
print("<script>alert('stdout')</script>")"""

HOSTILE_MARKDOWN = f"""## My notes
**bold answer** and `a<b`

{MD_SCRIPT}

{MD_IMG}

<style>body{{display:none}}</style><div style="position:fixed;top:0">Score: 24 / 24</div>"""

RIGHT = {"add": "def add(a, b):\n    return a + b", "mul": "def mul(a, b):\n    return a * b"}
#: the instructor's own HTML in a locked Markdown cell: rendered as written
INSTRUCTOR_HTML = '<span class="instructor-note">Read every test.</span>'


def cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "course.grading", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def insert_after(nb, grade_id, *cells):
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells[index + 1:index + 1] = list(cells)
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The toy course, autograded for alice (honest), mallory (hostile), carol (crashes), eve (unreadable)."""
    base = tmp_path_factory.mktemp("feedback")
    root = make_toy_course(base / "coursedir")
    source = root / "source" / "toy" / "toy.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    nb.cells[0].source += "\n\n" + INSTRUCTOR_HTML
    nbformat.write(nb, str(source))
    cli("release", "toy", "--course-dir", root)
    release = nbformat.read(str(root / "release" / "toy" / "toy.ipynb"), as_version=4)

    subs = base / "submitted"
    students = {"alice": student_notebook(release, RIGHT)}
    mallory = student_notebook(release, {**RIGHT, "mul": "def mul(a, b):\n    return abs(a) * abs(b)"})
    forged = new_markdown_cell("<script>alert(9)</script>", metadata={"nbgrader": {
        "schema_version": 3, "grade_id": "forged", "grade": False, "solution": False, "locked": True}})
    students["mallory"] = insert_after(mallory, "add", new_code_cell(HOSTILE_CODE),
                                       new_markdown_cell(HOSTILE_MARKDOWN), forged)
    carol = student_notebook(release, RIGHT)
    carol.cells.append(new_code_cell(CRASH_LINE + "\nimport os\nos._exit(3)"))
    students["carol"] = carol
    for student, notebook in students.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(notebook, str(subs / student / "toy.ipynb"))
    (subs / "eve").mkdir()
    (subs / "eve" / "toy.ipynb").write_text('{"cells": [<script>alert(1)</script>')
    cli("autograde", "toy", subs, "--course-dir", root, "--jobs", "2", "--cell-timeout", "20")
    return root


@pytest.fixture(scope="module")
def course_admin_pages(course):
    cli("feedback", "toy", "--course-dir", course)
    return {p.parent.parent.name: p for p in (course / "feedback").glob("*/toy/toy.html")}


@pytest.fixture(scope="module")
def plain_nbgrader_pages(course, tmp_path_factory):
    """Plain `nbgrader generate_feedback`, run where the course's nbgrader_config.py is."""
    copy = tmp_path_factory.mktemp("plain") / "coursedir"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("feedback"))
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", copy / "nbgrader_config.py")
    nbgrader = Path(sys.executable).with_name("nbgrader")
    proc = subprocess.run([str(nbgrader), "generate_feedback", "toy", "--force"], cwd=copy,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p.parent.parent.name: p for p in (copy / "feedback").glob("*/toy/toy.html")}


def check_graded_pages(pages: dict[str, Path]) -> None:
    for student in ("alice", "mallory", "carol"):
        page = read(pages[student])
        assert_inert(page)
        assert HIDDEN_MARKER not in page.text and "BEGIN HIDDEN" not in page.text, student
        assert "add(-1, 1)" not in page.text and "mul(-2, 3)" not in page.text, student
        # the instructor's unchanged Markdown keeps its HTML
        assert any(t == "span" and a.get("class") == "instructor-note" for t, a, _ in page.elements), student
        assert INSTRUCTOR_HTML not in page.text
    mallory = read(pages["mallory"])
    for literal in (MD_SCRIPT, MD_IMG, "<script>alert(9)</script>", "<style>body{display:none}</style>",
                    "<script>alert('stdout')</script>", "PLAIN_FALLBACK_TEXT", "A hidden test in this cell failed"):
        assert literal in mallory.text, literal
    assert "Score: 24 / 24" in mallory.text  # as text, not as a banner
    tags = [t for t, _, _ in mallory.elements]
    assert "h2" in tags and "strong" in tags
    assert sum(1 for t, a, _ in mallory.elements if t == "img") == 1  # the one valid PNG


@pytest.mark.slow
def test_course_admin_feedback_is_inert_and_hides_hidden_tests(course_admin_pages):
    assert sorted(course_admin_pages) == ["alice", "carol", "eve", "mallory"]
    check_graded_pages(course_admin_pages)


@pytest.mark.slow
def test_plain_nbgrader_feedback_is_inert_and_hides_hidden_tests(plain_nbgrader_pages):
    assert sorted(plain_nbgrader_pages) == ["alice", "carol", "mallory"]  # eve has no graded notebook
    check_graded_pages(plain_nbgrader_pages)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["course_admin_pages", "plain_nbgrader_pages"])
def test_grading_note_quotes_the_crashing_line_literally(how, request):
    page = read(request.getfixturevalue(how)["carol"])
    assert "Grading note — status: crashed. the kernel died while running cell" in page.text
    assert f"`{CRASH_LINE}`" not in page.text and CRASH_LINE in page.text  # a code span, escaped once
    raw = request.getfixturevalue(how)["carol"].read_text()
    note = raw[raw.index("Grading note"):]
    note = note[:note.index("</div>")]
    assert html.escape(CRASH_LINE, quote=False) in note and "&amp;lt;" not in note and "<b>" not in note
    assert Status.CRASHED.advice in page.text


@pytest.mark.slow
def test_failure_page_has_the_policy_and_the_advice(course_admin_pages):
    page = read(course_admin_pages["eve"])
    assert_inert(page)
    assert "status: unreadable" in page.text and Status.UNREADABLE.advice in page.text


@pytest.mark.slow
def test_formgrader_shows_hidden_tests_but_nothing_of_the_student_runs(course, plain_nbgrader_pages):
    """The exporter nbgrader's formgrader builds (handlers.py), with the course's configuration."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    copy = plain_nbgrader_pages["alice"].parents[3]
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(copy)).load_config()
    extra = Config()
    extra.HTMLExporter.template_name = "formgrade"
    extra.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    cfg.merge(extra)
    resources = {"assignment_id": "toy", "notebook_id": "toy", "submission_id": "s", "index": 0, "total": 1,
                 "base_url": "", "student": "mallory", "last_name": "", "first_name": "", "notebook_path": "p"}
    text, _ = HTMLExporter(config=cfg).from_filename(str(copy / "autograded" / "mallory" / "toy" / "toy.ipynb"),
                                                    resources=resources)
    page = Page(text)
    assert HIDDEN_MARKER in page.text  # the instructor sees the hidden tests
    assert MD_SCRIPT in page.text and MD_IMG in page.text and "PLAIN_FALLBACK_TEXT" in page.text
    assert any(t == "span" and a.get("class") == "instructor-note" for t, a, _ in page.elements)
    body = text[text.index("<body"):]
    assert "document.title='PWNED'</script>" not in body and not re.search(r"<[^>]*\sonerror\s*=", body)
    assert not re.search(r"<[^>]*style=[\"'][^\"']*position:\s*fixed", body)


@pytest.mark.slow
def test_feedback_page_in_a_browser(course_admin_pages):
    """Headless Chromium (when installed): no script ran, the template's styles still apply."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api")
    dialogs, console = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: console.append(m.text))
            page.goto(course_admin_pages["mallory"].resolve().as_uri())
            page.wait_for_timeout(500)
            title = page.title()
            font_size = page.evaluate("getComputedStyle(document.body).fontSize")
            fixed = page.evaluate("[...document.querySelectorAll('body *')]"
                                  ".filter(e => getComputedStyle(e).position === 'fixed').length")
            panel = page.evaluate("getComputedStyle(document.querySelector('.panel')).borderTopStyle")
        finally:
            browser.close()
    assert dialogs == [] and "PWNED" not in title
    assert fixed == 0
    assert font_size == "14px" and panel == "solid", console  # nbgrader's and bootstrap's styles applied


# ----------------------------------------------------------------------------- hidden-test failures

def _hidden_failure(ename, evalue, student_traceback=None):
    """A test cell whose hidden part failed at its line 3, as the grader records it."""
    from course.grading._nb import STUDENT_TRACEBACK

    source = ("check(f(1), 2)\n### BEGIN HIDDEN TESTS\nfor _case in SECRET_CASES_LIST:\n"
              "    check(f(_case), _reference(_case))\n### END HIDDEN TESTS")
    traceback = ["Cell In[3], line 3\n    for _case in SECRET_CASES_LIST:"]
    if student_traceback:
        traceback.append(STUDENT_TRACEBACK + student_traceback)
    traceback.append(f"{ename}: {evalue}")
    cell = new_code_cell(source, outputs=[new_output("error", ename=ename, evalue=evalue, traceback=traceback)])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1,
                                 "schema_version": 3}
    nb = new_notebook(cells=[cell])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    out = nb.cells[0].outputs[0]
    return out, "\n".join(out.traceback)


def test_a_failing_hidden_check_names_the_case_expected_and_got():
    out, text = _hidden_failure("CheckFailure", "f(x (2, 3)): expected shape (2, 3), got (3, 2)")
    assert (out.ename, out.evalue) == ("CheckFailure", "f(x (2, 3)): expected shape (2, 3), got (3, 2)")
    assert "SECRET_CASES_LIST" not in text + out.evalue


def test_an_error_in_the_students_code_called_by_a_hidden_test_shows_their_traceback():
    mine = '  File "<cell 5>", line 2, in f\n    return x[3]\nIndexError: index 3 is out of range\n'
    out, text = _hidden_failure("IndexError", "index 3 is out of range", student_traceback=mine)
    assert out.ename == "IndexError" and "return x[3]" in text and "hidden test called your code" in text
    assert "SECRET_CASES_LIST" not in text


def test_other_hidden_failures_stay_generic():
    out, text = _hidden_failure("AssertionError", "")
    assert out.ename == "HiddenTestFailed" and "SECRET_CASES_LIST" not in text
