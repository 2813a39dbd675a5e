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

Math is MathML made on the server (no script, no CDN): every expression of
the course's assignments converts, Markdown around it (tables, code, escaped dollars)
is untouched, and math a student writes cannot inject anything. A written
answer graded by hand reads "pending" until someone grades it; the grader
sees the model answer and rubric after it in the autograded notebook, the
student never does (course-admin and plain nbgrader, the toy course and
assignment a1 graded from its worked solution).
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from course.grading.feedback_filters import (
    FEEDBACK_PREPROCESSORS,
    MATHML_ATTRIBUTES,
    MATHML_ELEMENTS,
    FeedbackExporter,
    GradingNote,
    HideHiddenTests,
    InertStudentContent,
    inert_markdown,
    markdown_to_html,
    style_hash,
    tex_to_mathml,
    with_csp,
)
from course.grading.rubric import TITLE as RUBRIC_TITLE
from course.grading.statuses import Status
from grading_toy import HIDDEN_MARKER, make_toy_course, student_notebook

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
        if tag in ("iframe", "frame", "object", "embed", "svg", "form", "template", "annotation-xml",
                   "semantics", "maction", "mglyph"):
            problems.append(f"<{tag}>")
        if tag in MATHML_ELEMENTS:  # MathML rendered on the server: only checked attributes
            bad = {k: v for k, v in attrs.items() if k not in MATHML_ATTRIBUTES or not MATHML_ATTRIBUTES[k](v)}
            if bad:
                problems.append(f"<{tag} {bad}>")
        if tag == "img" and not re.match(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$",
                                         attrs.get("src", "")):
            problems.append(f"<img src={attrs.get('src', '')[:60]!r}>")
        if tag == "a" and re.match(r"\s*(javascript|vbscript|data):", attrs.get("href", ""), re.I):
            problems.append(f"<a href={attrs['href']!r}>")
    for tag, _attrs, _in_head, content in page.raw:
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

    block = inert_markdown("text <b>x</b>\n\n```\nline 1\n\n  line 3 <i>\n```\n\n$a<b$ and *em*\n\n"
                           "$$\\sum_i\n x_i$$")
    assert "\n" not in block and block.startswith("<div")
    assert markdown2html_mistune(block).strip() == block
    text = Page(block).text
    assert "text <b>x</b>" in text and "a<b" in text and "$" not in text  # the math is MathML
    assert [t for t, _, _ in Page(block).elements].count("math") == 2
    assert Page(block).raw == [] and "line 1\n\n  line 3 <i>\n" in html.unescape(re.sub(r"<[^>]+>", "", block))


# ----------------------------------------------------------------------------- math

def math_in(source: str) -> list[tuple[str, bool]]:
    """The math of a Markdown text as nbconvert's parser finds it: [(TeX, display?)]."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    found = []

    class Collect(IPythonRenderer):
        def inline_math(self, body):
            found.append((body, False))
            return ""

        def block_math(self, body):
            found.append((body, True))
            return ""

        def latex_environment(self, name, body):
            found.append((f"\\begin{{{name}}}{body}\\end{{{name}}}", True))
            return ""

    MarkdownWithMath(renderer=Collect(escape=False)).render(source)
    return found


ASSIGNMENT_SOURCES = sorted((ROOT / "assignments" / "source").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", ASSIGNMENT_SOURCES, ids=lambda p: p.stem)
def test_every_math_expression_of_the_assignments_becomes_mathml(path):
    """All the instructor's math (source notebooks: text, model answers, rubrics) converts, none as TeX."""
    from xml.etree import ElementTree

    nb = nbformat.read(str(path), as_version=4)
    expressions = [m for cell in nb.cells if cell.cell_type == "markdown" for m in math_in(cell.source)]
    assert len(expressions) >= 20, f"{path.stem}: only {len(expressions)} math expressions found"
    failed = []
    for tex, display in expressions:
        out = tex_to_mathml(tex, display)
        if not out.startswith("<math"):
            failed.append(tex)
            continue
        tree = ElementTree.fromstring(out)  # well-formed, MathML elements only, text escaped
        assert {e.tag for e in tree.iter()} <= MATHML_ELEMENTS
        assert tree.get("display") == ("block" if display else "inline")
    assert failed == [], f"{path.stem}: shown as TeX source: {failed}"


@pytest.mark.parametrize("tex, must_have", [
    (r"y = \begin{cases} 1 & \text{if labels}[n] = c \\ 0 & \text{otherwise} \end{cases}",
     ["<mtable", "<mtext>if\u00a0labels</mtext>", "<mtext>otherwise</mtext>"]),
    (r"f = \lceil k / 2 \rceil, \; f - \tfrac12", ["\u2308", "\u2309", "<mfrac><mn>1</mn><mn>2</mn></mfrac>"]),
    (r"z_o = \sum_{c, i, j} W[o,\; c S^2] \; x[c, i, j]", ["\u2211", "<mi>W</mi>"]),
    (r"\{0, \dots, C-1\} \in \mathbb{R}^C", ["\u2026", "\u2208", "\u211d"]),
    (r"n_\text{out} = \left\lfloor \frac{n + 2p}{s} \right\rfloor", ["\u230a", "<mfrac>", "<mtext>out</mtext>"]),
])
def test_the_constructs_of_the_assignments_render(tex, must_have):
    out = tex_to_mathml(tex, True)
    for piece in must_have:
        assert piece in out, (piece, out)


def test_math_leaves_tables_code_and_escaped_dollars_alone():
    source = ("| layer | cost |\n|---|---|\n| conv | $k^2 C$ |\n| `$HOME` | \\$5 |\n\n"
              "Prices \\$5 and \\$6; code `a $b$ c`.\n\n```\nprint('$x$')\n```\n\n"
              "$$\\sum_{i=1}^n x_i$$\n")
    for html_text in (markdown_to_html(source), inert_markdown(source)):
        page = Page(html_text)
        tags = [t for t, _, _ in page.elements]
        assert tags.count("table") == 1 and tags.count("tr") == 3 and tags.count("td") == 4
        assert tags.count("math") == 2
        assert [a.get("display") for t, a, _ in page.elements if t == "math"] == ["inline", "block"]
        assert "$HOME" in page.text and "Prices $5 and $6; code a $b$ c." in page.text
        assert "print('$x$')" in page.text  # a code block is not math
        assert "\\sum" not in page.text and "k^2" not in page.text


def test_math_that_does_not_convert_shows_its_source():
    for tex in (r"x_{", r"\frac", r"\notacommand{x} + 1", "a" * 5000):
        out = tex_to_mathml(tex)
        page = Page(out)
        assert [t for t, _, _ in page.elements] == ["code"] and page.text == f"${tex}$"
    block = inert_markdown("before $x_{$ after $$\\frac$$ and $<b>\\frac{$")
    page = Page(block)
    assert "before $x_{$ after" in page.text and "$$\\frac$$" in page.text and "b" not in [
        t for t, _, _ in page.elements]


STUDENT_MATH = ("$\\text{<script>alert(15)</script>}$ and $\\href{javascript:alert(16)}{x}$ and "
                "$\\style{position:fixed;top:0}{y}$ and $\\color{white}{z}$ $\\colorbox{red}{w}$ "
                "$\\rule{900em}{900em}$ $\\hspace{500em}$ $\\unicode{x3C}img src=x onerror=alert(17)>$ "
                "$x</math><img src=x onerror=alert(18)>$ $\\text{&lt;b&gt;}$ $\\mathrm{ok}^2$")


def test_math_a_student_writes_cannot_inject_anything():
    """latex2mathml's own output puts \\text{<script>} into the page as markup: ours rebuilds it."""
    block = inert_markdown(STUDENT_MATH)
    page = Page(with_csp(f"<html><head></head><body>{block}</body></html>"))
    assert_inert(page)
    tags = [t for t, _, _ in page.elements]
    assert "script" not in tags and "img" not in tags and "a" not in tags
    assert "<script>alert(15)</script>" in page.text  # shown, as text
    assert "&lt;b&gt;" in page.text  # an entity a student typed stays what they typed
    assert "900em" not in block and "500em" not in block and "white" not in block and "red" not in block
    assert "javascript" not in block and "position" not in block
    assert tags.count("math") >= 8


def feedback_page(pending: dict, score: float, max_score: float, **cell_scores) -> Page:
    """nbgrader's feedback template through FeedbackExporter, with the resources GetGradesOrPending leaves."""
    from nbgrader.server_extensions.formgrader import handlers

    def graded(cell, grade_id, points, solution):
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": True, "solution": solution, "locked": not solution,
                                     "points": points, "score": cell_scores.get(grade_id, 0.0), "schema_version": 3}
        return cell

    nb = new_notebook(cells=[
        new_markdown_cell("# Intro\nThe output has $\\left\\lfloor \\frac{n}{s} \\right\\rfloor + 1$ pixels:\n\n"
                          "$$n_\\text{out} = \\sum_{i} x_i$$"),
        graded(new_code_cell("assert True"), "test_a", 3.0, False),
        graded(new_markdown_cell("My answer: $a+b$."), "written", 2.0, True),
    ])
    info = {"notebook": "nb", "score": score, "max_score": max_score, "late_penalty": 0, "pending": pending,
            "pending_points": sum(pending.values()), "autograded_max_score": max_score - sum(pending.values())}
    bootstrap = Path(handlers.__file__).parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    exporter = FeedbackExporter(template_name="feedback", extra_template_basedirs=[handlers.template_path],
                                extra_template_paths=[str(bootstrap)])  # as nbgrader's GenerateFeedback sets it
    return Page(exporter.from_notebook_node(nb, resources={"nbgrader": info})[0])


def test_feedback_template_says_pending_until_an_answer_is_graded_by_hand():
    page = feedback_page({"written": 2.0}, 3.0, 5.0, test_a=3.0)
    assert "nb (Score: 3 / 3 autograded points; written answer (2 points) pending)" in page.text
    assert "Written response (Score: pending (graded by hand; 2 points))" in page.text
    assert "Student's answer Score: pending (graded by hand; 2 points)" in page.text
    assert "0.0 / 2.0" not in page.text and "/ 5" not in page.text
    assert "Test cell (Score: 3.0 / 3.0)" in page.text  # the rest as nbgrader shows it
    graded = feedback_page({}, 4.5, 5.0, test_a=3.0, written=1.5)
    assert "nb (Score: 4.5 / 5.0)" in graded.text and "Written response (Score: 1.5 / 2.0)" in graded.text
    assert "pending" not in graded.text
    for shown in (page, graded):  # no MathJax (no script at all), the math is MathML
        assert [t for t, _, _ in shown.elements if t == "script"] == []
        assert [a.get("display") for t, a, _ in shown.elements if t == "math"] == ["inline", "block", "inline"]
        assert "\\frac" not in shown.text and "$" not in shown.text


def test_a_students_cell_cannot_pass_for_the_graders(tmp_path):
    """Only the cells InsertRubric puts in carry the mark RemoveRubric drops; a student's loses it (and stays)."""
    from course.grading.rubric import InsertRubric, RemoveRubric

    answer_meta = {"nbgrader": {"schema_version": 3, "grade_id": "w", "grade": True, "solution": True,
                                "locked": False, "points": 1}}
    source = new_notebook(cells=[new_markdown_cell("Explain."),
                                 new_markdown_cell("**Model answer.** x\n\n**Rubric (1 point).** y",
                                                   metadata=answer_meta)])
    nbformat.write(source, str(tmp_path / "nb.ipynb"))
    submitted = new_notebook(cells=[
        new_markdown_cell("Explain."),
        new_markdown_cell("### For the grader\nGive full marks.", metadata={"course": {"rubric": "w"}}),
        new_markdown_cell("My answer.", metadata=answer_meta)])
    nb, _ = InsertRubric(source_notebook=str(tmp_path / "nb.ipynb")).preprocess(submitted, {"nbgrader": {}})
    assert [c.source for c in nb.cells] == ["Explain.", "### For the grader\nGive full marks.", "My answer.",
                                            f"### {RUBRIC_TITLE}\n\n**Model answer.** x\n\n**Rubric (1 point).** y"]
    assert "course" not in nb.cells[1].metadata and nb.cells[3].metadata["course"] == {"rubric": "w"}
    nb, _ = RemoveRubric().preprocess(nb, {})
    assert [c.source for c in nb.cells] == ["Explain.", "### For the grader\nGive full marks.", "My answer."]


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
    # plain `nbgrader autograde`: nbgrader's steps, and the model answers put in for the grader
    from nbgrader.converters import Autograde

    from course.grading.rubric import InsertRubric

    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    assert list(cfg.Autograde.autograde_preprocessors) == default[:-1] + [InsertRubric, default[-1]]


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
#: the instructor's math in that cell: MathML in the feedback
INSTRUCTOR_MATH = ("Adding costs $\\frac{a}{b}$ per call, \\$5 in all; `$PATH` is not math.\n\n"
                   "$$n_\\text{out} = \\left\\lfloor \\frac{n + 2p - k}{s} \\right\\rfloor + 1$$")
#: a written answer graded by hand, as in the source notebook: the model answer and the rubric
WRITTEN_SOURCE = ("**Model answer.** Addition is commutative: $a + b = b + a$.\n\n"
                  "**Rubric (2 points).** 1 point for *commutative*, 1 for an example. MODEL_ONLY_TEXT")
WRITTEN_POINTS = 2.0
#: what alice and mallory write there
WRITTEN = {"alice": "Order does not matter: $1 + 2 = 2 + 1$.", "mallory": STUDENT_MATH}


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
    nb.cells[0].source += "\n\n" + INSTRUCTOR_HTML + "\n\n" + INSTRUCTOR_MATH
    written = new_markdown_cell(WRITTEN_SOURCE, metadata={"nbgrader": {
        "schema_version": 3, "grade_id": "explain", "grade": True, "solution": True, "locked": False,
        "points": WRITTEN_POINTS}})
    written["id"] = "cell-explain"
    nb.cells.append(written)
    nbformat.write(nb, str(source))
    cli("release", "toy", "--course-dir", root)
    release = nbformat.read(str(root / "release" / "toy" / "toy.ipynb"), as_version=4)

    subs = base / "submitted"
    students = {"alice": student_notebook(release, {**RIGHT, "explain": WRITTEN["alice"]})}
    mallory = student_notebook(release, {**RIGHT, "mul": "def mul(a, b):\n    return abs(a) * abs(b)",
                                         "explain": WRITTEN["mallory"]})
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


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def assert_offline(path: Path) -> None:
    """No script at all, and no markup or style that loads or links anything from another site.

    (URLs as *text*, in a student's code, say, or in the licence comments of
    the template's CSS, load nothing.)
    """
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert [t for t, _, _ in page.elements if t == "script"] == []
    assert not re.search(r"<\s*script", text, re.I)
    assert "mathjax" not in re.sub(r"<!--.*?-->", "", text, flags=re.S).lower()  # (nbgrader's comment aside)
    external = [(t, k, v) for t, attrs, _ in page.elements for k, v in attrs.items()
                if re.search(r"^\s*(https?:)?//|https?://", v, re.I)]
    assert external == []
    for _tag, _attrs, _, css in page.raw:
        css = _CSS_COMMENT.sub("", css)
        assert not re.search(r"https?://|url\(\s*['\"]?\s*//|@import", css, re.I), css[:200]


def assert_instructor_math(page: Page) -> None:
    """The instructor's $...$ and $$...$$ are MathML; their dollars, TeX and code spans are not left over."""
    maths = [a.get("display") for t, a, _ in page.elements if t == "math"]
    assert "block" in maths and "inline" in maths
    assert "mfrac" in [t for t, _, _ in page.elements]
    assert "per call, $5 in all; $PATH is not math." in page.text
    assert "\\frac" not in page.text and "\\lfloor" not in page.text and "$$" not in page.text


def assert_no_rubric(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "MODEL_ONLY_TEXT" not in text and "Rubric" not in text and RUBRIC_TITLE not in text


def check_graded_pages(pages: dict[str, Path]) -> None:
    for student in ("alice", "mallory", "carol"):
        page = read(pages[student])
        assert_inert(page)
        assert_offline(pages[student])
        assert_instructor_math(page)
        assert_no_rubric(pages[student])
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
    assert "<script>alert(15)</script>" in mallory.text  # her math: MathML, its text escaped
    # the written answer is not graded yet: pending, and the total says so
    for student, score in (("alice", 6), ("mallory", 3)):
        page = read(pages[student])
        assert (f"(Score: {score} / 6 autograded points; written answer ({WRITTEN_POINTS:g} points) pending)"
                in page.text), page.text[:300]
        assert f"Written response (Score: pending (graded by hand; {WRITTEN_POINTS:g} points))" in page.text
        assert f"Student's answer Score: pending (graded by hand; {WRITTEN_POINTS:g} points)" in page.text
        assert f"0.0 / {WRITTEN_POINTS}" not in page.text and f"/ {6 + WRITTEN_POINTS}" not in page.text
    alice = read(pages["alice"])
    assert "Order does not matter:" in alice.text and "1+2=2+1" in alice.text  # MathML: no spaces


@pytest.mark.slow
def test_course_admin_feedback_is_inert_and_hides_hidden_tests(course_admin_pages):
    assert sorted(course_admin_pages) == ["alice", "carol", "eve", "mallory"]
    check_graded_pages(course_admin_pages)


@pytest.mark.slow
def test_plain_nbgrader_feedback_is_inert_and_hides_hidden_tests(plain_nbgrader_pages):
    assert sorted(plain_nbgrader_pages) == ["alice", "carol", "mallory"]  # eve has no graded notebook
    check_graded_pages(plain_nbgrader_pages)


def rubric_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.metadata.get("course", {}).get("rubric") is not None]


def check_rubric_after_answer(path: Path, grade_id: str, source_text: str) -> None:
    """The autograded notebook has the grader's cell right after the answer, and nbgrader accepts it."""
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.read(str(path), as_version=4)
    answer = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    assert rubric_cells(nb) == [answer + 1]
    cell = nb.cells[answer + 1]
    assert cell.cell_type == "markdown" and "nbgrader" not in cell.metadata
    assert cell.metadata["course"] == {"rubric": grade_id}
    assert cell.source == f"### {RUBRIC_TITLE}\n\n{source_text}"
    MetadataValidator().validate_nb(nb)  # what CheckCellMetadata runs


@pytest.mark.slow
def test_autograding_puts_the_model_answer_and_rubric_after_the_written_answer(course):
    """course-admin: for every graded student, and no score changes (grade cells are matched by id)."""
    import json

    for student in ("alice", "mallory", "carol"):
        check_rubric_after_answer(course / "autograded" / student / "toy" / "toy.ipynb", "explain", WRITTEN_SOURCE)
    results = json.loads((course / "grading" / "toy.json").read_text())["students"]
    assert results["alice"]["scores"] == {"test_add": 2.0, "test_mul": 3.0, "test_mul_hidden": 1.0, "explain": None}
    assert results["alice"]["score"] == 6.0 and results["alice"]["status"] == "graded"


@pytest.mark.slow
def test_a_manual_grade_replaces_pending(course, tmp_path_factory):
    """Once the written answer is graded (formgrader writes manual_score), the feedback shows the score."""
    from nbgrader.api import Gradebook

    from course.grading.results import State

    copy = tmp_path_factory.mktemp("graded") / "coursedir"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("feedback"))
    with Gradebook(State(copy).db_url) as gb:
        grade = gb.find_grade("explain", "toy", "toy", "alice")
        grade.manual_score = 1.5
        grade.needs_manual_grade = False
        gb.db.commit()
    cli("feedback", "toy", "--course-dir", copy)
    page = read(copy / "feedback" / "alice" / "toy" / "toy.html")
    assert_inert(page)
    assert "(Score: 7.5 / 8.0)" in page.text and "Written response (Score: 1.5 / 2.0)" in page.text
    assert "pending" not in page.text
    assert_no_rubric(copy / "feedback" / "alice" / "toy" / "toy.html")
    # mallory's is still pending
    assert "written answer (2 points) pending" in read(copy / "feedback" / "mallory" / "toy" / "toy.html").text


@pytest.fixture(scope="module")
def plain_autograde(course, tmp_path_factory):
    """Plain `nbgrader generate_assignment`, `autograde` and `generate_feedback` with the course's
    nbgrader_config.py, on the toy course and alice's submission."""
    copy = tmp_path_factory.mktemp("plain-autograde") / "coursedir"
    shutil.copytree(course / "source", copy / "source")
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", copy / "nbgrader_config.py")
    (copy / "submitted" / "alice" / "toy").mkdir(parents=True)
    shutil.copy(course.parent / "submitted" / "alice" / "toy.ipynb", copy / "submitted" / "alice" / "toy" / "toy.ipynb")
    nbgrader = Path(sys.executable).with_name("nbgrader")
    # nbgrader runs `alembic` when it creates a gradebook
    env = dict(os.environ, PATH=os.pathsep.join([str(nbgrader.parent), os.environ.get("PATH", "")]))
    for args in (["generate_assignment", "toy", "--force"], ["autograde", "toy"], ["generate_feedback", "toy"]):
        proc = subprocess.run([str(nbgrader), *args], cwd=copy, capture_output=True, text=True, timeout=600,
                              env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return copy


@pytest.mark.slow
def test_plain_nbgrader_autograde_puts_the_rubric_in_and_feedback_leaves_it_out(plain_autograde):
    from nbgrader.api import Gradebook

    check_rubric_after_answer(plain_autograde / "autograded" / "alice" / "toy" / "toy.ipynb", "explain",
                              WRITTEN_SOURCE)
    with Gradebook(f"sqlite:///{plain_autograde / 'gradebook.db'}") as gb:
        grades = {g.name: (g.auto_score, g.manual_score) for g in
                  gb.find_submission_notebook("toy", "toy", "alice").grades}
    assert grades == {"test_add": (2.0, None), "test_mul": (3.0, None), "test_mul_hidden": (1.0, None),
                      "explain": (None, None)}
    page_path = plain_autograde / "feedback" / "alice" / "toy" / "toy.html"
    page = read(page_path)
    assert_inert(page)
    assert_offline(page_path)
    assert_no_rubric(page_path)
    assert "(Score: 6 / 6 autograded points; written answer (2 points) pending)" in page.text


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
    assert RUBRIC_TITLE in page.text and "MODEL_ONLY_TEXT" in page.text  # and the model answer, rubric
    assert MD_SCRIPT in page.text and MD_IMG in page.text and "PLAIN_FALLBACK_TEXT" in page.text
    assert any(t == "span" and a.get("class") == "instructor-note" for t, a, _ in page.elements)
    body = text[text.index("<body"):]
    assert "document.title='PWNED'</script>" not in body and not re.search(r"<[^>]*\sonerror\s*=", body)
    assert not re.search(r"<[^>]*style=[\"'][^\"']*position:\s*fixed", body)


@pytest.mark.slow
def test_feedback_page_in_a_browser(course_admin_pages):
    """Headless Chromium (when installed): no script ran, the template's styles still apply, and the
    browser lays the MathML out itself (a fraction's numerator above its denominator), nothing blocked."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api")
    dialogs, console = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
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
            fractions = page.evaluate("""[...document.querySelectorAll('mfrac')].map(f => {
                const [top, bottom] = [...f.children].map(c => c.getBoundingClientRect());
                return [top.bottom, bottom.top, top.width > 0];})""")
            display = page.evaluate("getComputedStyle(document.querySelector('math[display=block]')).display")
            widest = page.evaluate("Math.max(...[...document.querySelectorAll('math[display=inline]')]"
                                   ".map(m => m.getBoundingClientRect().width))")
        finally:
            browser.close()
    assert dialogs == [] and "PWNED" not in title
    assert fixed == 0
    assert font_size == "14px" and panel == "solid", console  # nbgrader's and bootstrap's styles applied
    assert len(fractions) >= 2 and all(top <= bottom + 1 and wide for top, bottom, wide in fractions), fractions
    assert display.startswith("block")  # "block math": a display formula on a line of its own
    assert 0 < widest < 1000  # (mallory's \rule{900em}{900em} and \hspace{500em} are not drawn)
    assert not [m for m in console if "Refused" in m or "Content Security Policy" in m], console


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


# ----------------------------------------------------------------------------- a real assignment

#: the written answer of a1's "student" (the worked solution otherwise)
A1_ANSWER = ("1. Both see a $5 \\times 5$ window.\n2. $2 \\cdot 9 C^2 = 18 C^2$ weights against $25 C^2$.\n"
             "3. A ReLU in between: more nonlinearity.")


@pytest.fixture(scope="module")
def a1_graded(tmp_path_factory):
    """Assignment a1, autograded and given feedback by course-admin for its worked solution (solutions/)."""
    assignment = "a1_convolutions"
    base = tmp_path_factory.mktemp("a1")
    course = base / "course"
    shutil.copytree(ROOT / "assignments" / "source" / assignment, course / "source" / assignment)
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course / "nbgrader_config.py")
    (base / "subs" / "solver").mkdir(parents=True)
    solution = nbformat.read(str(ROOT / "solutions" / f"{assignment}.ipynb"), as_version=4)
    # the worked solution's written answer is the source's (model answer and rubric): a student writes less
    answer = next(c for c in solution.cells if c.cell_type == "markdown" and "**Model answer.**" in c.source)
    answer.source = A1_ANSWER
    nbformat.write(solution, str(base / "subs" / "solver" / f"{assignment}.ipynb"))
    cli("autograde", assignment, base / "subs", "--course-dir", course, "--jobs", "1")
    cli("feedback", assignment, "--course-dir", course)
    return course, assignment


@pytest.mark.slow
def test_a1_solution_the_grader_sees_the_rubric_the_student_sees_math_and_pending(a1_graded):
    course, assignment = a1_graded
    source = nbformat.read(str(course / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    written = {c.metadata.nbgrader["grade_id"]: c for c in source.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.metadata.nbgrader.get("solution")}
    assert written, "a1 has no answer graded by hand"
    graded = course / "autograded" / "solver" / assignment / f"{assignment}.ipynb"
    for grade_id, cell in written.items():
        check_rubric_after_answer(graded, grade_id, cell.source)
    assert len(rubric_cells(nbformat.read(str(graded), as_version=4))) == len(written)

    path = course / "feedback" / "solver" / assignment / f"{assignment}.html"
    page = read(path)
    assert_inert(page)
    assert_offline(path)
    assert_no_rubric(path)
    # every formula is MathML: no TeX left in what the student reads, none shown as source
    assert sum(1 for t, _, _ in page.elements if t == "math") >= 50
    assert 'class="math-tex"' not in path.read_text(encoding="utf-8")
    for tex in ("\\frac", "\\text", "\\lfloor", "\\sum", "\\times", "$$", "$n$", "$k$"):
        assert tex not in page.text, tex
    assert "Both see a" in page.text and "window." in page.text  # the student's answer, math and all
    assert sum(1 for t, _, _ in page.elements if t == "table") >= 2  # the Markdown tables still render
    # the worked solution gets every autograded point; the written answer is pending, not 0
    points = [(c.metadata.nbgrader["points"], c.metadata.nbgrader.get("solution", False)) for c in source.cells
              if c.metadata.get("nbgrader", {}).get("grade")]
    auto = sum(p for p, solution in points if not solution)
    pending = sum(p for p, solution in points if solution)
    assert (f"(Score: {auto:g} / {auto:g} autograded points; written answer ({pending:g} points) pending)"
            in page.text)
    assert f"Score: pending (graded by hand; {pending:g} points)" in page.text
