r"""What a feedback page may show: the student's graded notebook, inert, without hidden tests.

Used by ``python -m course.grading feedback`` (:mod:`course.grading.feedback`)
and, through ``assignments/nbgrader_config.py``, by plain ``nbgrader
generate_feedback`` (and, for :class:`InertStudentContent`, by the
formgrader). This module imports only nbgrader, nbconvert, nbformat, traitlets,
jinja2, latex2mathml (when it first renders math), :mod:`course.grading._nb`
and :mod:`course.grading.rubric`: never torch, since the nbgrader
configuration imports it.

Preprocessors, in the order :data:`FEEDBACK_PREPROCESSORS` runs them:

- :class:`~course.grading.rubric.RemoveRubric`: drops the cells for the grader
  (model answer and rubric) that autograding inserted.
- :class:`GetGradesOrPending`: nbgrader's GetGrades, which also tells which
  answers graded by hand are still waiting for a grader.
- :class:`HideHiddenTests`: removes hidden test code *and* whatever its
  execution left behind (tracebacks quoting hidden lines, assertion messages,
  printed values); a visible test's failure keeps its message.
- :class:`InertStudentContent`: nothing a student wrote can run or restyle the
  page. Code output keeps only plain text, PNG and JPEG (streams and errors
  are plain text); raw HTML in the student's Markdown is shown as text while
  the Markdown itself still renders; cell and notebook metadata keep only what
  the templates need, checked.
- :class:`GradingNote`: a note at the top of the feedback when the submission
  timed out, crashed, was repaired, had test cells restored, ...

Math (``$...$``, ``$$...$$``, ``\begin{...}``) is rendered on the server into
MathML (:func:`tex_to_mathml`, with latex2mathml), which browsers show
without any script: in the student's Markdown while it is made inert, and by
:class:`FeedbackExporter`'s Markdown filter in every other cell (and in the
grader's comments). The MathML is rebuilt element by element from an
allow-list (MathML presentation elements, a few attributes with checked
values, text escaped), so math a student wrote cannot inject HTML. An
expression latex2mathml cannot convert shows as its TeX source in a
``<code>``.

:class:`FeedbackExporter` is nbconvert's HTMLExporter plus a strict
Content-Security-Policy in every page (:func:`with_csp`): no script at all
(a feedback page needs none: the template's MathJax loader is replaced by
nothing), only the page's own ``<style>`` elements (by hash: no style
attribute, no ``<style>`` a student slipped in), images only as ``data:``
URIs or files next to the page. With nbgrader's ``feedback`` template it
renders :data:`FEEDBACK_TEMPLATE`: an answer graded by hand that nobody has
graded yet (the feedback was made right after autograding) says "pending",
and the total counts the autograded points only (:class:`GetGradesOrPending`).

:class:`GradingNote` runs after :class:`InertStudentContent` and renders its
note the same way; it marks the note (with a per-conversion secret) so that
running :class:`InertStudentContent` again, as the formgrader setting in the
course configuration does, leaves it alone.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import DictLoader, pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_markdown_cell
from nbgrader import utils
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
from traitlets import Dict, List, Unicode, default

from ._nb import BEGIN_HIDDEN, END_HIDDEN, STUDENT_TRACEBACK, hidden_regions, joined_text, strip_ansi
from .rubric import KEY as RUBRIC_KEY, RemoveRubric, rubric_of

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from jinja2.runtime import Context


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


# ----------------------------------------------------------------------------- hidden tests

def _student_traceback(out: NotebookNode) -> str | None:
    """The student's own frames of an error a test cell run by the grader recorded, if any."""
    for line in out.get("traceback", []):
        if isinstance(line, str) and line.startswith(STUDENT_TRACEBACK):
            return line[len(STUDENT_TRACEBACK):]
    return None


_CELL_FRAME = re.compile(r"Cell In\s*\[\d*\],?\s*line (\d+)")
_TRIVIAL = re.compile(r"^[\s\W]*$")


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests and every trace of them from the feedback."""

    begin = Unicode(BEGIN_HIDDEN).tag(config=True)
    end = Unicode(END_HIDDEN).tag(config=True)
    message = Unicode("A hidden test in this cell failed. Hidden tests check cases the visible "
                      "tests do not show; re-read the task and test your answer on more inputs.").tag(config=True)
    #: errors raised by hidden tests whose message is written for students: shown as
    #: "name: message", without traceback. A failing check names the case it tried and says
    #: what was expected and what came back (shape, dtype, first differing value), which is
    #: what a student needs to act; the hidden test's code is never shown.
    student_facing = List(Unicode(), ["NotYourOwnCode", "CheckFailure"]).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        """Return ``(nb, resources)`` with the hidden tests removed from every cell."""
        self._hidden_lines: set[str] = set()
        for cell in nb.cells:
            if self.begin in cell.source:
                lines = cell.source.split("\n")
                _, numbers = hidden_regions(cell.source, self.begin, self.end)
                for n in numbers:
                    text = lines[n - 1].strip()
                    if not _TRIVIAL.match(text) and self.begin not in text and self.end not in text:
                        self._hidden_lines.add(text)
        return super().preprocess(nb, resources)

    def _leaks(self, text: str) -> bool:
        plain = strip_ansi(text)
        return any(line in plain for line in self._hidden_lines)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int
                        ) -> tuple[NotebookNode, dict[str, Any]]:
        """Remove the hidden tests from one cell: its source and every output that shows them."""
        if cell.cell_type != "code":
            if self.begin in cell.source:
                cell.source, _ = hidden_regions(cell.source, self.begin, self.end)
            return cell, resources
        has_hidden = self.begin in cell.source
        if has_hidden:
            original = cell.source
            cell.source, hidden_numbers = hidden_regions(original, self.begin, self.end)
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests are not shown)"
            failed_in_hidden = None
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    match = _CELL_FRAME.search(strip_ansi("\n".join(out.get("traceback", []))))
                    if out.ename in ("NotRun", "KernelDied", "CellTimeoutError", "KeyboardInterrupt"):
                        failed_in_hidden = False
                    elif match:
                        failed_in_hidden = int(match.group(1)) in hidden_numbers
                    else:
                        failed_in_hidden = True  # cannot tell: assume the worst
                    break
            if failed_in_hidden is None:
                # passed (or no error): hidden code ran and may have printed anything
                cell.outputs = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            elif failed_in_hidden:
                errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
                first = errors[0] if errors else None
                student = _student_traceback(first) if first is not None else None
                if (first is not None and first.ename in self.student_facing
                        and not self._leaks(first.get("evalue", ""))):
                    cell.outputs = [_error(first.ename, first.get("evalue", ""))]
                elif first is not None and student and not self._leaks(student) \
                        and not self._leaks(first.get("evalue", "")):
                    # the student's own code raised, called by a hidden test: their traceback is theirs
                    out = _error(first.ename, first.get("evalue", ""))
                    out.traceback = ["A hidden test called your code, and your code raised an error:",
                                     student] + out.traceback
                    cell.outputs = [out]
                else:
                    cell.outputs = [_error("HiddenTestFailed", self.message)]
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                if self._leaks(out.get("evalue", "")) or self._leaks(out.get("ename", "")):
                    out.ename, out.evalue = "HiddenTestFailed", self.message
                    out.traceback = [f"HiddenTestFailed: {self.message}"]
                elif any(self._leaks(line) for line in out.get("traceback", [])):
                    out.traceback = [f"\x1b[0;31m{out.ename}\x1b[0m: {out.evalue}",
                                     "(the traceback is not shown because it quotes hidden test code)"]
            elif out.output_type == "stream":
                if self._leaks(out.get("text", "")):
                    out.text = "[output hidden: it quotes hidden test code]\n"
            elif "data" in out:
                if any(self._leaks(v) for v in out.data.values() if isinstance(v, str)):
                    out.data = {"text/plain": "[output hidden: it quotes hidden test code]"}
        return cell, resources


# ----------------------------------------------------------------------------- math as MathML

#: the MathML elements latex2mathml produces and a feedback page may hold (presentation
#: MathML only: no <semantics>/<annotation-xml>, which can carry HTML, no <maction>, <mglyph>)
MATHML_ELEMENTS = frozenset("""math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mstyle
    merror mpadded mphantom menclose munder mover munderover mmultiscripts mprescripts none mtable mtr mtd
    mlabeledtr""".split())
_BOOL = re.compile(r"^(true|false)$")
_NAMED = re.compile(r"^[a-z]{1,40}$")
_LENGTH = re.compile(r"^[+-]?(\d{1,6}(\.\d{0,6})?|\.\d{1,6})(em|ex|mu|pt|px|%|cm|mm|in)?$")
#: the largest length of each unit math may use (a student's \hspace or \rule cannot cover the page)
_MAX_LENGTH = {"": 10.0, "em": 10.0, "ex": 20.0, "mu": 180.0, "pt": 100.0, "px": 130.0, "%": 300.0,
               "cm": 4.0, "mm": 40.0, "in": 1.5}
_WORDS = re.compile(r"^[a-z]{1,20}( [a-z]{1,20}){0,49}$")


def _length(value: str) -> bool:
    if _NAMED.match(value):  # thin, medium, thickmathspace, ...
        return True
    found = _LENGTH.match(value)
    if not found:
        return False
    unit = found.group(3) or ""
    return abs(float(value[:len(value) - len(unit)] or 0)) <= _MAX_LENGTH[unit]


def _lengths(value: str) -> bool:
    parts = value.split()
    return 0 < len(parts) <= 50 and all(_length(part) for part in parts)


#: attribute -> check of its value; any other attribute (href, style, mathcolor,
#: mathbackground, class, id, xmlns, on...) is dropped
MATHML_ATTRIBUTES: dict[str, Callable[[str], object]] = {
    "display": re.compile(r"^(inline|block)$").match,
    "mathvariant": re.compile(r"^[a-z-]{1,30}$").match,
    "stretchy": _BOOL.match, "fence": _BOOL.match, "separator": _BOOL.match, "accent": _BOOL.match,
    "accentunder": _BOOL.match, "movablelimits": _BOOL.match, "largeop": _BOOL.match,
    "symmetric": _BOOL.match, "displaystyle": _BOOL.match,
    "form": re.compile(r"^(prefix|infix|postfix)$").match,
    "scriptlevel": re.compile(r"^[+-]?[0-9]$").match,
    "lspace": _length, "rspace": _length, "width": _length, "height": _length, "depth": _length,
    "voffset": _length, "minsize": _length, "maxsize": _length, "linethickness": _length,
    "mathsize": _length, "rowspacing": _lengths, "columnspacing": _lengths,
    "columnalign": _WORDS.match, "rowalign": _WORDS.match, "columnlines": _WORDS.match,
    "rowlines": _WORDS.match, "notation": _WORDS.match, "frame": _WORDS.match,
}
#: TeX longer than this is shown as source (latex2mathml's time grows with it)
MAX_TEX_LENGTH = 4000
_MAX_DEPTH = 60
_CHAR_REF = re.compile(r"&#(x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")
_UNKNOWN_COMMAND = re.compile(r"\\[A-Za-z]")


def _char(match: re.Match[str]) -> str:
    ref = match.group(1)
    code = int(ref[1:], 16) if ref[0] == "x" else int(ref)
    if not (0 < code <= 0x10FFFF) or 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"bad character reference {match.group(0)}")
    return chr(code)


def _text(value: str | None) -> str:
    """Element text as latex2mathml leaves it (with ``&#x...;`` references), escaped for HTML."""
    if not value:
        return ""
    # latex2mathml writes symbols as character references and leaves other text
    # (\text{<b>}, \unicode{...}) as it is: decode the references, then escape everything
    text = _CHAR_REF.sub(_char, value)
    if _UNKNOWN_COMMAND.search(text):  # latex2mathml keeps a command it does not know as text
        raise ValueError(f"unknown command in {text!r}")
    return html.escape(text, quote=False).replace("$", "&#36;")


def _serialize(element: Element, depth: int = 0) -> str:
    tag = element.tag
    if tag not in MATHML_ELEMENTS:
        raise ValueError(f"<{tag}> is not allowed")
    if depth > _MAX_DEPTH:
        raise ValueError("too deeply nested")
    attrs = "".join(f' {name}="{html.escape(str(value), quote=True)}"'
                    for name, value in element.attrib.items()
                    if name in MATHML_ATTRIBUTES and isinstance(value, str) and MATHML_ATTRIBUTES[name](value))
    inner = _text(element.text) + "".join(_serialize(child, depth + 1) + _text(child.tail) for child in element)
    return f"<{tag}{attrs}>{inner}</{tag}>"


def tex_source(tex: str, display: bool) -> str:
    """``tex`` as it is shown when it cannot be converted: its source, with delimiters, in ``<code>``."""
    delimiter = "$$" if display else "$"
    text = html.escape(delimiter + tex + delimiter, quote=False).replace("$", "&#36;")
    return f'<code class="math-tex">{text}</code>'


def tex_to_mathml(tex: str, display: bool = False) -> str:
    r"""``tex`` (without delimiters) as a ``<math>`` element, or :func:`tex_source` if it cannot be.

    The MathML is rebuilt from latex2mathml's element tree: only
    :data:`MATHML_ELEMENTS`, only :data:`MATHML_ATTRIBUTES` with values that
    pass their check, every text escaped (latex2mathml's own string output
    puts ``\text{<b>}`` into the page as markup). An expression latex2mathml
    rejects, or whose output still holds a command (one it does not know), is
    shown as its source. Never raises.
    """
    if len(tex) > MAX_TEX_LENGTH or not tex.strip():
        return tex_source(tex, display)
    # the instructor's formulas come back in every student's page: remembered (short ones only)
    return _cached_mathml(tex, display) if len(tex) <= 300 else _mathml(tex, display)


def _mathml(tex: str, display: bool) -> str:
    try:
        from latex2mathml.converter import convert_to_element
        return _serialize(convert_to_element(tex, display="block" if display else "inline"))
    except Exception:  # not convertible (or latex2mathml missing): the source, as text
        return tex_source(tex, display)


_cached_mathml: Callable[[str, bool], str] = functools.lru_cache(maxsize=4096)(_mathml)


class _MathRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer with math as MathML (:func:`tex_to_mathml`)."""

    def inline_math(self, body: str) -> str:
        return tex_to_mathml(body, display=False)

    def block_math(self, body: str) -> str:
        return tex_to_mathml(body, display=True)

    def latex_environment(self, name: str, body: str) -> str:
        return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


def markdown_to_html(source: str, **renderer_options: Any) -> str:
    """``source`` rendered as nbconvert renders Markdown, math as MathML (instructor text: raw HTML kept)."""
    return MarkdownWithMath(renderer=_MathRenderer(escape=False, **renderer_options)).render(source)


# ----------------------------------------------------------------------------- inert Markdown

#: cell metadata key marking a Markdown/raw cell already made inert in this conversion; its
#: value is a random token kept in the conversion's resources, so a student cannot forge it
_INERT_MARK = "course_inert"
_TOKEN_KEY = "course_inert_token"


def _inert_token(resources: dict[str, Any]) -> str:
    token = resources.get(_TOKEN_KEY)
    if not token:
        token = resources[_TOKEN_KEY] = secrets.token_hex(16)
    return token


_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S | re.I)


class _InertRenderer(_MathRenderer):
    """nbconvert's Markdown renderer with raw HTML escaped, no script-capable output, math as MathML."""

    def __init__(self, attachments: dict[str, dict[str, str]] | None = None) -> None:
        # allow_harmful_protocols=False: javascript:, vbscript:, file: and non-image data:
        # links become "#harmful-link"
        super().__init__(escape=True, allow_harmful_protocols=False, attachments=attachments or {})

    def block_mermaidjs(self, code: str) -> str:
        # nbconvert inserts a ```mermaid block's text unescaped (and mermaid is a script)
        return "<pre><code>" + html.escape(code) + "</code></pre>\n"

    def image(self, text: str, url: str, title: str | None = None) -> str:
        # only embedded raster images (attachments, data: URIs) are shown; any other
        # image becomes a link (checked like every link), or its alt text
        try:
            src = self._embed_image_or_attachment(url)
        except Exception:  # a missing attachment: nbconvert raises, the page must still render
            src = ""
        if _DATA_IMAGE.match(src):
            return super().image(text, src, title)
        return self.link(text or html.escape(src), src, title) if src else text


def inert_markdown(source: str, attachments: dict[str, dict[str, str]] | None = None) -> str:
    """``source`` rendered as Markdown, its raw HTML escaped, its math as MathML, as one HTML block.

    The result is what the template's Markdown filter passes through unchanged
    (a single line starting with ``<div``: a CommonMark HTML block), so it
    renders the same whatever exporter the cell later goes through. Newlines
    inside ``<pre>`` become ``&#10;`` (the same text in the browser); others
    become spaces.
    """
    rendered = MarkdownWithMath(renderer=_InertRenderer(attachments)).render(source)
    parts = _PRE.split(rendered.replace("\r\n", "\n").replace("\r", "\n"))
    flat = "".join(part.replace("\n", "&#10;") if i % 2 else part.replace("\n", " ")
                   for i, part in enumerate(parts))
    return f'<div class="inert-markdown">{flat.strip()}</div>'


# ----------------------------------------------------------------------------- inert content

_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TAG = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MIME = re.compile(r"^[A-Za-z0-9.+-]{1,40}/[A-Za-z0-9.+-]{1,80}$")
_NBGRADER_KEYS = ("schema_version", "grade_id", "grade", "solution", "locked", "task", "points", "score",
                  "comment", "checksum", "cell_type")
_IMAGE_ATTACHMENTS = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _scalars(value: object) -> dict[str, str | int | float]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items()
            if isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool)}


class InertStudentContent(NbGraderPreprocessor):
    """Make everything a student controls display as text or a plain image.

    - Code cells: outputs keep only ``keep_mimetypes`` (text/plain, image/png,
      image/jpeg; an image must be base64), with text/plain as the fallback; an
      output left with nothing says which types were not shown. Streams and
      errors are rebuilt from their text (the template escapes it; ANSI colours
      stay). Output metadata keeps only numeric image width/height; execution
      counts must be integers.
    - Markdown and raw cells: an unchanged instructor cell (locked, and equal to
      its source cell in the gradebook) is left alone; every other one (answer
      cells, cells the student added or edited) is replaced by its rendering
      with raw HTML escaped and math as checked MathML (:func:`inert_markdown`
      and :func:`tex_to_mathml`; raw cells as preformatted
      text), and attachments other than base64 PNG/JPEG/GIF/WebP are dropped.
      Without a gradebook, every Markdown cell counts as the student's.
    - Metadata: a cell keeps only its nbgrader metadata (with a valid
      grade_id), plain tags and the mark of a cell for the grader
      (``course.rubric``, a valid grade_id); the notebook only its kernelspec
      and language_info (no widget state, no title).
    """

    keep_mimetypes = List(Unicode(), ["text/plain", "image/png", "image/jpeg"],
                          help="output MIME types shown; the rest are dropped").tag(config=True)
    db_url = Unicode("", help="gradebook to recognise unchanged instructor cells when the "
                              "resources do not name one (the formgrader)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        """Return ``(nb, resources)`` with everything the student controls made inert."""
        self._token = _inert_token(resources)
        self._instructor = self._instructor_cells(resources)
        meta = nb.get("metadata", {})
        nb.metadata = NotebookNode({key: NotebookNode(_scalars(meta.get(key)))
                                    for key in ("kernelspec", "language_info") if isinstance(meta.get(key), dict)})
        return super().preprocess(nb, resources)

    def _instructor_cells(self, resources: dict[str, Any]) -> dict[str, str]:
        """grade_id -> source of the assignment's locked Markdown/raw cells, from the gradebook."""
        info = resources.get("nbgrader") or {}
        db_url = info.get("db_url") or self.db_url
        assignment = info.get("assignment") or resources.get("assignment_id")
        notebook = info.get("notebook") or resources.get("notebook_id")
        if not (db_url and assignment and notebook):
            return {}
        if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
            return {}  # opening it would create an empty gradebook
        try:
            from nbgrader.api import Gradebook
            with Gradebook(db_url) as gb:
                cells = gb.find_notebook(notebook, assignment).source_cells
                return {c.name: c.source for c in cells if c.locked and c.cell_type in ("markdown", "raw")}
        except Exception:
            return {}

    def _is_instructor_cell(self, cell: NotebookNode) -> bool:
        meta = cell.metadata.get("nbgrader") or {}
        if not meta.get("locked") or meta.get("solution") or meta.get("grade"):
            return False
        grade_id = meta.get("grade_id")  # a str: _cell_metadata kept only a valid one
        source = self._instructor.get(grade_id) if isinstance(grade_id, str) else None
        return source is not None and source.strip() == (joined_text(cell.get("source")) or "").strip()

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int
                        ) -> tuple[NotebookNode, dict[str, Any]]:
        """Make one cell inert: markdown as text, outputs as text or a plain image."""
        meta = cell.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        already_inert = meta.get(_INERT_MARK) == self._token
        cell.metadata = self._cell_metadata(meta)
        if "id" in cell and not (isinstance(cell.id, str) and _CELL_ID.match(cell.id)):
            cell.id = f"cell-{index}"
        if cell.get("cell_type") == "code":
            cell.source = joined_text(cell.get("source")) or ""
            cell.execution_count = _count(cell.get("execution_count"))
            outputs = cell.get("outputs")
            if not isinstance(outputs, list):
                outputs = []
            cell.outputs = [new for new in map(self._output, outputs) if new is not None]
            return cell, resources
        if already_inert:
            cell.metadata[_INERT_MARK] = self._token
            return cell, resources
        if cell.get("cell_type") in ("markdown", "raw") and self._is_instructor_cell(cell):
            return cell, resources
        source = joined_text(cell.get("source")) or ""
        if cell.get("cell_type") == "markdown":
            cell.source = inert_markdown(source, self._attachments(cell.get("attachments")))
        else:  # raw (or unknown) cells: the text as it is, preformatted
            cell.cell_type = "raw"
            cell.source = f"<pre>{html.escape(source)}</pre>"
            cell.metadata["raw_mimetype"] = "text/html"
            cell.pop("type", None)
        cell.pop("attachments", None)
        cell.metadata[_INERT_MARK] = self._token
        return cell, resources

    @staticmethod
    def _cell_metadata(meta: dict[str, Any]) -> NotebookNode:
        out = NotebookNode()
        nbgrader = meta.get("nbgrader")
        if isinstance(nbgrader, dict) and isinstance(nbgrader.get("grade_id"), str) \
                and _GRADE_ID.match(nbgrader["grade_id"]):
            out.nbgrader = NotebookNode({k: v for k, v in nbgrader.items() if k in _NBGRADER_KEYS})
        tags = meta.get("tags")
        if isinstance(tags, list):
            out.tags = [t for t in tags if isinstance(t, str) and _TAG.match(t)]
        rubric = rubric_of({"metadata": meta})
        if rubric is not None and _GRADE_ID.match(rubric):
            # the grader's model answer (course.grading.rubric): RemoveRubric must still find it when
            # this runs first (as the formgrader setting makes it do in a feedback exporter too)
            out[RUBRIC_KEY] = NotebookNode(rubric=rubric)
        return out

    @staticmethod
    def _attachments(attachments: object) -> dict[str, dict[str, str]]:
        """Only base64 raster images (an SVG attachment could hold script)."""
        safe: dict[str, dict[str, str]] = {}
        for name, bundle in (attachments.items() if isinstance(attachments, dict) else ()):
            texts = {mime: joined_text(data) for mime, data in bundle.items() if mime in _IMAGE_ATTACHMENTS} \
                if isinstance(bundle, dict) else {}
            images = {mime: data for mime, data in texts.items() if data is not None and _BASE64.match(data)}
            if images:
                safe[name] = images
        return safe

    def _output(self, out: object) -> NotebookNode | None:
        if not isinstance(out, dict):
            return None
        kind = out.get("output_type")
        if kind == "stream":
            return NotebookNode(output_type="stream", name="stderr" if out.get("name") == "stderr" else "stdout",
                                text=joined_text(out.get("text")) or "")
        if kind == "error":
            traceback = out.get("traceback")
            if not isinstance(traceback, list):
                traceback = []
            return NotebookNode(output_type="error", ename=joined_text(out.get("ename")) or "",
                                evalue=joined_text(out.get("evalue")) or "",
                                traceback=[line for line in traceback if isinstance(line, str)])
        if kind not in ("execute_result", "display_data"):
            return None
        data = out.get("data")
        if not isinstance(data, dict):
            data = {}
        kept: dict[str, str] = {}
        for mime in self.keep_mimetypes:
            value = joined_text(data.get(mime))
            if value is None or (mime.startswith("image/") and not _BASE64.match(value)):
                continue
            kept[mime] = value
        if not kept:
            if not data:
                return None
            dropped = [m for m in data if isinstance(m, str) and _MIME.match(m)]
            shown = ", ".join(dropped[:3]) + (", ..." if len(dropped) > 3 else "") if dropped else "other"
            kept["text/plain"] = f"[{shown} output: not shown in the feedback]"
        metadata: dict[str, dict[str, int]] = {}
        raw_meta = out.get("metadata")
        if not isinstance(raw_meta, dict):
            raw_meta = {}
        for mime in kept:
            size = raw_meta.get(mime)
            if not isinstance(size, dict):
                size = {}
            dims = {k: int(v) for k, v in size.items()
                    if k in ("width", "height") and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and 0 < v < 100000}
            if dims and mime.startswith("image/"):
                metadata[mime] = dims
        new = NotebookNode(output_type=kind, data=NotebookNode(kept), metadata=NotebookNode(metadata))
        if kind == "execute_result":
            new.execution_count = _count(out.get("execution_count"))
        return new


# ----------------------------------------------------------------------------- grading note

class GradingNote(NbGraderPreprocessor):
    """Insert a note about the grading status at the top of the feedback.

    The note is Markdown (a reason names cells as `code`), rendered like a
    student's Markdown: the reason quotes student code, so its HTML is shown as
    text, exactly once escaped.
    """

    results_path = Unicode("", help="the grading/<assignment>.json autograde wrote; "
                                    "'{assignment}' is replaced by the assignment id").tag(config=True)
    advice = Dict(value_trait=Unicode(), help="status -> advice shown under the note").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        """Return ``(nb, resources)`` with the grading note as the first cell."""
        info = resources["nbgrader"]
        path = self.results_path.replace("{assignment}", str(info.get("assignment", "")))
        results: dict[str, Any] = {}
        if path and Path(path).is_file():
            results = json.loads(Path(path).read_text(encoding="utf-8")).get("students", {})
        entry = results.get(info["student"])
        if entry and (entry.get("status") != "graded" or entry.get("reason")):
            status = str(entry.get("status") or "")
            text = f"**Grading note — status: {status}.** {entry.get('reason') or ''}"
            if self.advice.get(status):
                text += "\n\n" + self.advice[status]
            note = new_markdown_cell(inert_markdown(text))
            note.metadata[_INERT_MARK] = _inert_token(resources)
            nb.cells.insert(0, note)
        return nb, resources


# ----------------------------------------------------------------------------- grades

class GetGradesOrPending(GetGrades):
    """nbgrader's GetGrades, which also tells the answers graded by hand that nobody graded yet.

    An answer graded by hand (a solution cell that is a grade cell, or a task)
    is *pending* when the gradebook has neither a manual score nor an
    automatic one for it (nbgrader gives an unchanged answer 0 automatically:
    that one is not pending). Then nbgrader's score is 0, which would read as
    lost points; the resources say instead (``resources["nbgrader"]``):
    ``pending`` (grade_id -> points), ``pending_points`` and
    ``autograded_max_score`` (the maximum score less the pending points),
    which :data:`FEEDBACK_TEMPLATE` shows as "pending (graded by hand)".
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        """Return ``(nb, resources)`` with the grades, and the answers still waiting for a hand grade."""
        self._pending: dict[str, float] = {}
        nb, resources = super().preprocess(nb, resources)
        info = resources["nbgrader"]
        info["pending"] = dict(self._pending)
        info["pending_points"] = sum(self._pending.values())
        info["autograded_max_score"] = (info.get("max_score") or 0) - info["pending_points"]
        return nb, resources

    def _get_score(self, cell: NotebookNode, resources: dict[str, Any]) -> None:
        super()._get_score(cell, resources)
        if not (utils.is_solution(cell) or utils.is_task(cell)):
            return
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id, self.student_id)
        if grade.manual_score is None and grade.auto_score is None:
            self._pending[grade_id] = float(grade.max_score or 0)


#: the feedback preprocessors, in order (nbgrader's GetGrades, extended, first; its CSS last)
FEEDBACK_PREPROCESSORS = [RemoveRubric, GetGradesOrPending, HideHiddenTests, InertStudentContent, GradingNote,
                          CSSHTMLHeaderPreprocessor]


# ----------------------------------------------------------------------------- the page

_HEAD_END = re.compile(r"</head\s*>", re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.S | re.I)
_CHARSET = re.compile(r"<meta\s+charset=[^>]*>", re.I)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)


def style_hash(css: str) -> str:
    """The CSP source of an inline ``<style>`` with this text (line ends as a browser reads them)."""
    css = css.replace("\r\n", "\n").replace("\r", "\n")
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(styles: list[str]) -> str:
    """No script, plugin, form, frame or network fetch; only the given inline styles; data: images."""
    allowed = " ".join(dict.fromkeys(style_hash(css) for css in styles)) or "'none'"
    return ("default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
            f"frame-src 'none'; img-src 'self' data:; font-src 'self' data:; style-src {allowed}")


def with_csp(page: str) -> str:
    """``page`` with a Content-Security-Policy ``<meta>`` at the start of its ``<head>``.

    The ``<style>`` elements of the head (the template's) are allowed by hash;
    nothing in the body (where student content is) is.
    """
    end = _HEAD_END.search(page)
    head = page[:end.start()] if end else ""
    policy = content_security_policy(_STYLE.findall(head))
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'  # (no " < > & in it)
    for anchor in (_CHARSET, _HEAD):
        found = anchor.search(head)
        if found:
            return page[:found.end()] + "\n" + meta + page[found.end():]
    return meta + "\n" + page


#: nbgrader's feedback template (``feedback/index.html.j2``, which :class:`FeedbackExporter`
#: uses instead when the template is nbgrader's ``feedback``), where an answer graded by hand
#: that nobody graded yet reads "pending (graded by hand)", and so does the total
FEEDBACK_TEMPLATE = r"""{%- extends 'index.html.j2' -%}

{%- macro course_points(value) -%}{{ "%g" | format(value | float) }}{%- endmacro -%}

{%- macro course_pending(cell) -%}
pending (graded by hand; {{ course_points(resources.nbgrader.pending[cell.metadata.nbgrader.grade_id]) }} points)
{%- endmacro -%}

{%- macro course_link(meta) -%}<a href="#{{ meta.grade_id }}">{%- endmacro -%}

{%- macro course_score(meta) -%}
{{ meta.score | float | round(2) }} / {{ meta.points | float | round(2) }}
{%- endmacro -%}

{%- macro course_is_pending(cell) -%}
{%- if cell.metadata.nbgrader and cell.metadata.nbgrader.grade_id
      and cell.metadata.nbgrader.grade_id in (resources.nbgrader.pending or {}) -%}yes{%- endif -%}
{%- endmacro -%}

{%- macro course_heading(cell) -%}
<a name="comment-{{ cell.metadata.nbgrader.grade_id }}"></a><a name="{{ cell.metadata.nbgrader.grade_id }}"></a>
<div class="panel-heading">
  <span class="nbgrader-label">Student's {{ 'task' if cell.metadata.nbgrader.task else 'answer' }}</span>
  <span class="pull-right">Score: {{ course_pending(cell) }} <a href="#top">(Top)</a></span>
</div>
{%- endmacro -%}

{% block body %}
{%- set pending = resources.nbgrader.pending or {} -%}
<body>
  <a name="top"></a>
  <div class="container">
    <div class="panel panel-default">
      <div class="panel-heading">
        {%- set info = resources.nbgrader %}
        {%- if pending %}
        <h4>{{ info.notebook }} (Score: {{ course_points(info.score) }} / {{ course_points(info.autograded_max_score) }}
          autograded points; {{ 'written answer' if pending | length == 1 else 'written answers' }}
          ({{ course_points(info.pending_points) }} points) pending)</h4>
        {%- else %}
        <h4>{{ info.notebook }} (Score: {{ info.score | float | round(2) }} /
          {{- ' ' ~ (info.max_score | float | round(2)) }})</h4>
        {%- endif %}
        <div id="toc">
          <ol>
          {% for cell in nb.cells %}
            {% set meta = cell.metadata.get('nbgrader') or {} %}
            {% if course_is_pending(cell) %}
            <li>{{ course_link(meta) }}{{ 'Task' if meta.task else ('Written response' if cell.cell_type == 'markdown'
                 else 'Coding free-response') }}</a> (Score: {{ course_pending(cell) }})</li>
            {% elif meta and meta.grade and not meta.solution %}
            <li>{{ course_link(meta) }}Test cell</a> (Score: {{ course_score(meta) }})</li>
            {% elif cell.cell_type == "code" and meta and meta.grade %}
            <li>{{ course_link(meta) }}Coding free-response</a> (Score: {{ course_score(meta) }})</li>
            {% elif cell.cell_type == "markdown" and meta and meta.grade %}
            <li>{{ course_link(meta) }}Written response</a> (Score: {{ course_score(meta) }})</li>
            {% elif cell.cell_type == "markdown" and meta and meta.task %}
            <li>{{ course_link(meta) }}Task</a> (Score: {{ course_score(meta) }})</li>
            {% endif %}
            {% if meta and meta.comment %}
            <li><a href="#comment-{{ meta.grade_id }}">Comment</a></li>
            {% endif %}
          {% endfor %}
          {% if info.late_penalty > 0 %}
            <li class="late-penalty">Late submission penalty (Score: -{{ info.late_penalty | float | round(2) }})</li>
          {% endif %}
          </ol>
        </div>
      </div>
      <div class="panel-body">
        <div id="notebook" class="border-box-sizing">
          <div class="container" id="notebook-container">
            {{ super.super() }}
          </div>
        </div>
      </div>
    </div>
  </div>
</body>
{%- endblock body %}

{% block markdowncell scoped %}
{%- if course_is_pending(cell) -%}
<div class="cell border-box-sizing text_cell rendered">
  {{ self.empty_in_prompt() }}
  <div class="panel panel-primary nbgrader_cell">
    {{ course_heading(cell) }}
    <div class="panel-body">
      <div class="text_cell_render border-box-sizing rendered_html">
        {{ cell.source | markdown2html | strip_files_prefix }}
      </div>
    </div>
    {{ nbgrader_footer(cell) }}
  </div>
</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock markdowncell %}

{% block input %}
{%- if course_is_pending(cell) -%}
  <div class="panel panel-primary nbgrader_cell">
    {{ course_heading(cell) }}
    <div class="panel-body">
      <div class="input_area">
        {{ cell.source | highlight_code(metadata=cell.metadata) }}
      </div>
    </div>
    {{ nbgrader_footer(cell) }}
  </div>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input %}
"""

#: the templates :class:`FeedbackExporter` finds before all others: no MathJax loader
#: (math is MathML already; the page's policy would block the script anyway)
_TEMPLATES = {
    "course_feedback.html.j2": FEEDBACK_TEMPLATE,
    "mathjax.html.j2": '{%- macro mathjax(url="") -%}{%- endmacro %}\n',
}


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTMLExporter for feedback pages.

    - every page carries :func:`with_csp`'s policy;
    - the Markdown filter renders math as MathML (:func:`tex_to_mathml`);
    - no MathJax loader (``mathjax.html.j2`` is an empty macro);
    - with nbgrader's ``feedback`` template, :data:`FEEDBACK_TEMPLATE`
      (answers graded by hand that are still pending).
    """

    @default("extra_loaders")
    def _extra_loaders_default(self) -> list[DictLoader]:
        return [DictLoader(_TEMPLATES)]

    @default("template_file")
    def _template_file_default(self) -> str | None:
        if self.template_name == "feedback":
            return "course_feedback.html.j2"
        return super()._template_file_default()

    @pass_context
    def markdown2html(self, context: Context, source: str) -> str:
        """A markdown cell as HTML, through :func:`markdown_to_html` (math as MathML, no script)."""
        cell = context.get("cell", {})
        return markdown_to_html(source, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                                anchor_link_text=self.anchor_link_text,
                                exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)

    def from_notebook_node(  # type: ignore[override]  # as nbconvert's HTMLExporter: Exporter's says NotebookNode
            self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[str, dict[str, Any]]:
        """``(html, resources)`` of the feedback page, with its Content-Security-Policy."""
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return with_csp(output), resources
