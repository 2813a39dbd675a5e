"""The lecture notebooks as files: what students open before running anything.

nbval (configured in pyproject.toml) re-runs every lecture in `make test` and
compares the stored outputs. These tests check what nbval cannot: that every
lecture is listed in the index and every link there resolves, that each one was
committed fully executed (no errors, no warnings, no timings), imports the
library instead of re-defining it, asks for nothing from the network, and stays
small.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import course

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
INDEX = LECTURES / "00_index.ipynb"
NOTEBOOKS = sorted(LECTURES.glob("*.ipynb"))
IGNORE_OUTPUT = "nbval-ignore-output"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MAX_NOTEBOOK_BYTES = 800_000
MAX_IMAGE_BYTES = 120_000          # base64 characters of one stored PNG
LIBRARY_MODULES = ["conv", "upsample", "receptive", "complexity", "boxes", "metrics", "losses", "train",
                   "detection", "explain"]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def markdown_links(notebook: dict) -> list[str]:
    text = "\n".join(source(cell) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_lectures_exist_and_are_named_nn_topic():
    names = [path.name for path in NOTEBOOKS]
    assert "00_index.ipynb" in names
    assert {"01_convolutions.ipynb", "06_upsampling.ipynb"} <= set(names)
    for name in names:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name), name


def test_index_links_every_lecture_and_every_link_resolves():
    links = markdown_links(load(INDEX))
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    for link in local:
        target = (LECTURES / link.split("#")[0]).resolve()
        assert target.exists(), f"00_index links to {link}, which does not exist"
    linked = {Path(link).name for link in local}
    for path in NOTEBOOKS:
        if path != INDEX:
            assert path.name in linked, f"00_index does not link {path.name}"
    released = sorted((ROOT / "assignments" / "release").glob("*/*.ipynb"))
    assert released and {path.name for path in released} <= linked, "00_index must link every released assignment"


def test_index_marks_unwritten_lectures_as_planned():
    text = "\n".join(source(cell) for cell in load(INDEX)["cells"])
    rows = re.findall(r"^\| (\d\d) \| (.+?) \|", text, flags=re.M)
    assert [number for number, _ in rows] == [f"{n:02d}" for n in range(1, len(rows) + 1)]
    existing = {path.name[:2] for path in NOTEBOOKS}
    for number, title in rows:
        if number in existing:
            assert "](" in title and "planned" not in title, f"lecture {number} exists: link it"
        else:
            assert "planned" in title and "](" not in title, f"lecture {number} does not exist yet"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lecture_was_committed_fully_executed(path):
    notebook = load(path)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    cells = [cell for cell in code_cells(notebook) if source(cell).strip()]
    counts = [cell["execution_count"] for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), \
        f"{path.name}: run it top to bottom with scripts/execute_lectures.py (execution counts {counts})"
    for cell in cells:
        assert "execution" not in cell["metadata"], f"{path.name}: timings stored; use scripts/execute_lectures.py"
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"{path.name}: a stored error in\n{source(cell)}"
            if output["output_type"] == "stream":
                assert output["name"] == "stdout", \
                    f"{path.name}: stderr (a warning?) stored in\n{source(cell)}\n{''.join(output['text'])}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lecture_outputs_that_vary_are_tagged_and_the_rest_are_checked(path):
    notebook = load(path)
    checked = 0
    for cell in code_cells(notebook):
        varying = any(WIDGET_VIEW in output.get("data", {}) for output in cell["outputs"])
        if varying:  # widget views carry fresh model ids and progress bars carry timings
            assert IGNORE_OUTPUT in tags(cell), f"{path.name}: tag this cell {IGNORE_OUTPUT}:\n{source(cell)}"
        if IGNORE_OUTPUT not in tags(cell) and cell["outputs"]:
            checked += 1
    assert checked >= 1, f"{path.name}: strict nbval compares no output at all"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lecture_imports_the_library_and_does_not_redefine_it(path):
    code = "\n".join(source(cell) for cell in code_cells(load(path)))
    assert re.search(r"^(from course[ .]|import course)", code, flags=re.M), f"{path.name} does not import course"
    public = set()
    for module in LIBRARY_MODULES:
        public |= set(getattr(getattr(course, module), "__all__", []))
    defined = set(re.findall(r"^def (\w+)", code, flags=re.M)) | set(re.findall(r"^class (\w+)", code, flags=re.M))
    assert not defined & public, f"{path.name} re-defines library code {sorted(defined & public)}: import it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lecture_downloads_nothing(path):
    code = "\n".join(source(cell) for cell in code_cells(load(path)))
    for pattern in [r"https?://", r"download\s*=\s*True", r"\bweights=(?!None\b)\S", r"urlopen|urlretrieve",
                    r"import requests", r"torch\.hub", r"pretrained\s*=\s*True"]:
        assert not re.search(pattern, code), f"{path.name} may reach the network: {pattern}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lecture_stays_small(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"
    for cell in code_cells(load(path)):
        for output in cell["outputs"]:
            png = output.get("data", {}).get("image/png", "")
            assert len(png) < MAX_IMAGE_BYTES, f"{path.name}: a {len(png):,}-character figure in\n{source(cell)}"
