"""Tests for course.grading.matching.reconcile: careless submissions get their grading metadata back.

- Assignment 1 (the real source, release and worked solution notebooks): a normal
  solved submission comes back byte for byte with no notes; the worked
  solution (no nbgrader metadata) gets every grade id exactly once with the
  student's code in the answer cells; a fresh notebook with only the answers
  pasted gets the tests put back after their answers; a deleted answer+test
  section comes back (the answer as the blank template) and the notes name
  it; merged answers are never shadowed by a template; the student's own
  cells stay; reordered and duplicated cells; empty, markdown-only,
  magic-laden, unparsable and nbformat 4.4 notebooks. Every result passes
  nbformat's validation and nbgrader's metadata check.
- A toy assignment (no torch), whose code cells are executed in one namespace
  as the grading kernel would: merged answers still pass their tests, a
  missing answer's tests fail instead of crashing.
- nbgrader's own sanitising preprocessors (as the worker runs them, with a
  gradebook from generate_assignment): the worked solution crashes them as
  submitted and passes them once reconciled, with nothing left to restore.
"""
import copy
import pathlib

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.nbgraderformat import MetadataValidator

from course.grading._nb import strip_solution_markers
from course.grading.matching import _names, reconcile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "assignments" / "source" / "a1_convolutions" / "a1_convolutions.ipynb"
RELEASE = ROOT / "assignments" / "release" / "a1_convolutions" / "a1_convolutions.ipynb"
SOLUTION = ROOT / "solutions" / "a1_convolutions.ipynb"


# ----------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def a1():
    return (nbformat.read(SOURCE, as_version=4), nbformat.read(RELEASE, as_version=4),
            nbformat.read(SOLUTION, as_version=4))


@pytest.fixture
def source(a1):
    return copy.deepcopy(a1[0])


@pytest.fixture
def release(a1):
    return copy.deepcopy(a1[1])


@pytest.fixture
def solution(a1):
    return copy.deepcopy(a1[2])


def gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def slots(nb):
    """[(grade_id, cell)] of the assignment cells of the source notebook, in order."""
    return [(gid(c), c) for c in nb.cells if gid(c)]


def source_ids(source):
    return [g for g, _ in slots(source)]


def ids(nb):
    return [gid(c) for c in nb.cells if gid(c)]


def kind(source, grade_id):
    meta = dict(slots(source))[grade_id].metadata.nbgrader
    if meta.get("solution"):
        return "answer" if dict(slots(source))[grade_id].cell_type == "code" else "written"
    return "test" if meta.get("grade") else "read-only"


def cell_of(nb, grade_id):
    [cell] = [c for c in nb.cells if gid(c) == grade_id]
    return cell


def solved(source, release):
    """The release with every answer filled in from the source, markers stripped (a normal submission)."""
    nb = copy.deepcopy(release)
    answers = {g: c for g, c in slots(source) if c.metadata.nbgrader.get("solution")}
    for cell in nb.cells:
        if gid(cell) in answers:
            cell.source = strip_solution_markers(answers[gid(cell)].source)
    return nb


def fresh(*sources):
    """A new notebook (no nbgrader metadata) with these code cells, or markdown for ('md', text)."""
    nb = new_notebook()
    for src in sources:
        nb.cells.append(new_markdown_cell(src[1]) if isinstance(src, tuple) else new_code_cell(src))
    return nb


def valid(nb):
    """nbformat's schema, nbgrader's metadata check (CheckCellMetadata), unique grade ids and cell ids."""
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    assert len(ids(nb)) == len(set(ids(nb)))
    cell_ids = [c.get("id") for c in nb.cells if c.get("id")]
    assert len(cell_ids) == len(set(cell_ids))
    return nb


def last_definer(nb, name, before):
    """The cell that last defined ``name`` when the notebook reaches the cell ``before`` (top to bottom)."""
    found = None
    for cell in nb.cells:
        if cell is before:
            return found
        if cell.cell_type == "code" and name in _names(cell.source).bound:
            found = cell
    raise AssertionError("cell not in notebook")


def position(nb, grade_id):
    return [gid(c) for c in nb.cells].index(grade_id)


def check_tests_follow_answers(source, nb):
    """Every test cell comes after the answer cell that precedes it in the source."""
    current = None
    for grade_id in source_ids(source):
        if kind(source, grade_id) == "answer":
            current = grade_id
        elif kind(source, grade_id) == "test" and current:
            assert position(nb, grade_id) > position(nb, current), (grade_id, current)


def solution_answers(source, solution):
    """{grade_id: worked solution source} for the answer cells (the solution keeps the source's cell order)."""
    return {g: solution.cells[i].source for i, c in enumerate(source.cells)
            if (g := gid(c)) and c.metadata.nbgrader.get("solution")}


# ----------------------------------------------------------------------------- assignment 1

def test_normal_submission_is_unchanged(source, release):
    for nb in (solved(source, release), release):
        before = nbformat.writes(nb)
        out, notes = reconcile(nb, source, release)
        assert notes == []
        assert nbformat.writes(out) == before
        assert out is not nb
        assert nbformat.writes(nb) == before  # the input is not modified


def test_worked_solution_gets_every_grade_id_once(source, release, solution):
    assert ids(solution) == []  # no nbgrader metadata at all
    before = nbformat.writes(solution)
    out, notes = reconcile(solution, source, release)
    valid(out)
    assert nbformat.writes(solution) == before
    assert ids(out) == source_ids(source)  # each exactly once, in source order
    assert len(out.cells) == len(solution.cells)  # nothing put back: it was all there
    for grade_id, text in solution_answers(source, solution).items():
        assert cell_of(out, grade_id).source == text
    release_cells = dict(slots(release))
    for grade_id in source_ids(source):
        meta = cell_of(out, grade_id).metadata.nbgrader
        assert meta == release_cells[grade_id].metadata.nbgrader
        if kind(source, grade_id) in ("test", "read-only"):
            assert cell_of(out, grade_id).source == release_cells[grade_id].source
    assert len(notes) == 1 and "no grading metadata" in notes[0]


def test_fresh_notebook_with_only_the_answers(source, release, solution):
    answers = solution_answers(source, solution)
    code = [text for g, text in answers.items() if kind(source, g) == "answer"]
    nb = fresh(*code)
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == source_ids(source)  # tests inserted after their answers, setup first
    check_tests_follow_answers(source, out)
    for grade_id, text in answers.items():
        if kind(source, grade_id) == "answer":
            assert cell_of(out, grade_id).source == text
    release_cells = dict(slots(release))
    for grade_id in source_ids(source):
        if kind(source, grade_id) != "answer":
            assert cell_of(out, grade_id).source == release_cells[grade_id].source
    text = "\n".join(notes)
    assert "no grading metadata" in notes[0]
    assert "read-only cell `setup` was missing" in text
    assert "test cells `test_output_size_basic`, `test_output_size_dilation`, `test_conv2d_naive`" in text
    assert "written answer `answer_two_3x3` was missing" in text
    assert "answer cell" not in text  # every answer was found


@pytest.mark.parametrize("deleted", [["conv2d_naive", "test_conv2d_naive"], ["conv2d_naive"],
                                     ["test_conv2d_naive"], ["answer_two_3x3"], ["setup"],
                                     ["test_max_pool_values", "test_max_pool_indices"]])
def test_deleted_cells_are_put_back(source, release, deleted):
    nb = solved(source, release)
    nb.cells = [c for c in nb.cells if gid(c) not in deleted]
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    assert [c for c in out.cells if gid(c) not in deleted] == nb.cells  # the rest untouched
    release_cells = dict(slots(release))
    for grade_id in deleted:
        assert cell_of(out, grade_id).source == release_cells[grade_id].source  # template / test as released
        assert cell_of(out, grade_id).metadata == release_cells[grade_id].metadata
        assert any(f"`{grade_id}`" in n for n in notes)
    text = "\n".join(notes)
    if "conv2d_naive" in deleted:
        assert "answer cell `conv2d_naive` was missing: the blank template was put back, so its tests score 0" in text
    if "test_conv2d_naive" in deleted:
        assert "test cell `test_conv2d_naive` was missing and was put back" in text
    if "setup" in deleted:
        # no assignment cell before it: just before the first one (after the title)
        assert position(out, "setup") == position(out, "output_size") - 1 > 0
    assert "grading metadata" not in text
    assert len(notes) == len({kind(source, g) for g in deleted})  # one note per kind (tests grouped)


def test_deleting_a_multi_function_answer_names_its_functions(source, release):
    nb = solved(source, release)
    nb.cells = [c for c in nb.cells if gid(c) != "param_counts"]
    _, notes = reconcile(nb, source, release)
    assert notes == ["answer cell `param_counts` (conv2d_params, keras_cats_dogs_params, keras_mnist_params, "
                     "linear_params) was missing: the blank template was put back, so its tests score 0"]


def test_merged_answers_in_a_fresh_notebook_are_not_shadowed(source, release, solution):
    answers = solution_answers(source, solution)
    merged = answers["conv2d_naive"] + "\n\n\n" + answers["conv2d_unfold"]
    code = [answers[g] for g in ("output_size",)] + [merged] + \
           [answers[g] for g in answers if kind(source, g) == "answer" and g not in
            ("output_size", "conv2d_naive", "conv2d_unfold")]
    out, notes = reconcile(fresh(*code), source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    assert cell_of(out, "conv2d_naive").source == merged
    placeholder = cell_of(out, "conv2d_unfold")
    assert _names(placeholder.source).bound == set()  # defines nothing: the student's function stays
    assert placeholder.cell_type == "code" and placeholder.metadata.nbgrader["solution"]
    for test in ("test_conv2d_naive", "test_conv2d_unfold"):
        for name in ("conv2d_naive", "conv2d_unfold"):
            assert last_definer(out, name, cell_of(out, test)) is cell_of(out, "conv2d_naive")
    [note] = [n for n in notes if "`conv2d_unfold`" in n]
    assert "conv2d_unfold is defined in cell 2" in note and "empty answer cell" in note


def test_answer_written_in_another_answer_cell_is_not_shadowed(source, release, solution):
    nb = solved(source, release)
    unfold = cell_of(nb, "conv2d_unfold").source
    cell_of(nb, "conv2d_naive").source += "\n\n\n" + unfold
    nb.cells = [c for c in nb.cells if gid(c) != "conv2d_unfold"]
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    assert "conv2d_unfold" not in _names(cell_of(out, "conv2d_unfold").source).bound
    assert last_definer(out, "conv2d_unfold", cell_of(out, "test_conv2d_unfold")) is cell_of(out, "conv2d_naive")
    assert len(notes) == 1 and "answer cell `conv2d_unfold` was missing, but conv2d_unfold is defined in cell 8" \
        in notes[0]


def test_answer_defined_later_in_own_cell_is_not_shadowed(source, release):
    """An answer cell deleted, the function written in an extra cell further down: that cell is the answer."""
    nb = solved(source, release)
    naive = cell_of(nb, "conv2d_naive").source
    nb.cells = [c for c in nb.cells if gid(c) != "conv2d_naive"] + [new_code_cell(naive)]
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert cell_of(out, "conv2d_naive") is out.cells[-1] and cell_of(out, "conv2d_naive").source == naive
    assert notes == [f"cells without grading metadata were matched to the assignment by content: "
                     f"cell {len(nb.cells)} as `conv2d_naive`"]


def test_extra_cells_are_kept(source, release, solution):
    nb = solved(source, release)
    extras = [new_code_cell("print(conv2d_naive(torch.ones(1, 3, 3), torch.ones(1, 1, 2, 2)))"),
              new_code_cell("def _my_helper(x):\n    return x"),
              new_markdown_cell("My notes on exercise 2."),
              new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "cell-1234", "grade": False,
                                                            "solution": False, "locked": False}})]
    at = position(nb, "test_conv2d_naive") + 1
    nb.cells[at:at] = extras
    out, notes = reconcile(nb, source, release)
    assert notes == []
    assert [c.source for c in out.cells] == [c.source for c in nb.cells]
    assert "nbgrader" not in out.cells[at + 3].metadata  # unknown grade id: not an assignment cell
    valid(out)

    # the same extras in a notebook without metadata: kept in place, without metadata
    sol = copy.deepcopy(solution)
    at = [c.source for c in sol.cells].index(cell_of(release, "test_conv2d_naive").source) + 1
    sol.cells[at:at] = copy.deepcopy(extras)
    out, notes = reconcile(sol, source, release)
    valid(out)
    assert [c.source for c in out.cells] == [c.source for c in sol.cells]
    assert ids(out) == source_ids(source)
    assert all("nbgrader" not in c.metadata for c in out.cells[at:at + 4])


def test_unknown_grade_ids_are_matched_by_content(source, release):
    nb = solved(source, release)
    cell = cell_of(nb, "conv2d_naive")
    cell.metadata.nbgrader["grade_id"] = "conv2d_loops"  # renamed in an older version of the notebook
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    assert cell_of(out, "conv2d_naive").source == cell.source
    assert notes == ["cells without grading metadata were matched to the assignment by content: "
                     f"cell {position(nb, 'conv2d_loops') + 1} as `conv2d_naive`"]


def test_reordered_answers(source, release, solution):
    answers = solution_answers(source, solution)
    code = [text for g, text in answers.items() if kind(source, g) == "answer"][::-1]
    out, notes = reconcile(fresh(*code), source, release)
    valid(out)
    assert sorted(ids(out)) == sorted(source_ids(source))
    assert out.cells[0].metadata.nbgrader["grade_id"] == "setup"
    check_tests_follow_answers(source, out)
    for grade_id, text in answers.items():
        if kind(source, grade_id) == "answer":
            assert cell_of(out, grade_id).source == text


def test_reordered_sections_keep_the_students_order(source, release):
    nb = solved(source, release)
    a = position(nb, "conv2d_naive")
    b = position(nb, "test_conv2d_naive") + 1
    section = nb.cells[a:b]
    del nb.cells[a:b]
    nb.cells[-1:-1] = section  # exercise 2 moved to the end
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    out, _ = reconcile(nb, source, release)
    valid(out)
    assert [c.source for c in out.cells] == [c.source for c in nb.cells]
    assert position(out, "conv2d_naive") == len(nb.cells) - 3


def test_duplicated_definitions_the_last_wins(source, release, solution):
    answers = solution_answers(source, solution)
    first = "def conv2d_naive(x, weight, bias=None, stride=1, padding=0):\n    return None  # first try"
    code = [first] + [text for g, text in answers.items() if kind(source, g) == "answer"]
    out, notes = reconcile(fresh(*code), source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    assert cell_of(out, "conv2d_naive").source == answers["conv2d_naive"]
    [kept] = [c for c in out.cells if c.source == first]
    assert "nbgrader" not in kept.metadata  # kept, not graded
    assert last_definer(out, "conv2d_naive", cell_of(out, "test_conv2d_naive")) is cell_of(out, "conv2d_naive")
    [note] = [n for n in notes if "the last" in n]
    assert note.startswith("conv2d_naive is defined in cells 1 and 3: the last one, cell 3, was taken as "
                           "answer cell `conv2d_naive`")


def test_duplicated_test_and_setup_cells(source, release, solution):
    sol = copy.deepcopy(solution)
    test = next(c for c in sol.cells if c.source == cell_of(release, "test_conv2d_naive").source)
    setup = next(c for c in sol.cells if c.source == cell_of(release, "setup").source)
    sol.cells.insert(sol.cells.index(test) + 1, new_code_cell(test.source))
    sol.cells.append(new_code_cell(setup.source))
    out, notes = reconcile(sol, source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    assert len(out.cells) == len(sol.cells)
    assert notes == [notes[0]] and "no grading metadata" in notes[0]


def test_whitespace_and_magics(source, release, solution):
    answers = solution_answers(source, solution)
    test = cell_of(release, "test_conv2d_naive").source
    nb = fresh("%matplotlib inline\n!pip list\n" + answers["conv2d_naive"],
               "\n" + test.replace("\n", "  \n\n") + "\n\n",
               "%%time\n" + answers["conv2d_unfold"],
               "def conv_output_size(size, kernel_size:\n    return 0")  # does not parse
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert sorted(ids(out)) == sorted(source_ids(source))
    order = [position(out, g) for g in ("setup", "conv2d_naive", "test_conv2d_naive", "conv2d_unfold", "output_size")]
    assert order == sorted(order) and order[:3] == [0, 1, 2]  # the setup, then the student's cells in their order
    for i, grade_id in enumerate(["conv2d_naive", "conv2d_unfold", "output_size"]):
        assert cell_of(out, grade_id).source == nb.cells[[0, 2, 3][i]].source
    assert cell_of(out, "test_conv2d_naive").source == test  # the released source (whitespace only differed)
    assert "test cell `test_conv2d_naive`" not in "\n".join(notes)


def test_empty_notebook(source, release):
    out, notes = reconcile(new_notebook(), source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    release_cells = dict(slots(release))
    for cell in out.cells:
        assert cell.source == release_cells[gid(cell)].source
    assert notes[0] == "the notebook had no cells"
    assert "answer cell `conv2d_naive` was missing: the blank template was put back" in "\n".join(notes)


def test_markdown_only_notebook(source, release):
    markdown = [c for c in release.cells if c.cell_type == "markdown" and not gid(c)]
    nb = fresh(*[("md", c.source) for c in markdown], ("md", "I ran out of time, sorry."))
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == source_ids(source)
    # the only markdown cell that is not the instructor's is taken as the written answer (graded by hand)
    assert cell_of(out, "answer_two_3x3").source == "I ran out of time, sorry."
    assert all(c.source == r.source for c, r in zip([c for c in out.cells if not gid(c)], markdown, strict=True))
    assert "its cells were matched to the assignment by content" in notes[0]

    nb.cells.pop()
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert cell_of(out, "answer_two_3x3").source == cell_of(release, "answer_two_3x3").source
    assert "none of its cells matched" in notes[0]


def test_written_answer_matched_by_position(source, release, solution):
    answers = solution_answers(source, solution)
    question = next(c.source for c in release.cells if c.source.startswith("## 10."))
    nb = fresh(answers["separable_cost"], ("md", question), ("md", "Two 3x3 convolutions see 5x5 pixels."),
               ("md", "You have reached the end."))
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert cell_of(out, "answer_two_3x3").source == "Two 3x3 convolutions see 5x5 pixels."
    assert "written answer" not in "\n".join(notes)


def test_nbformat_4_4_notebook(source, release, solution):
    data = nbformat.from_dict(copy.deepcopy(solution))
    data.nbformat_minor = 4
    for cell in data.cells:
        cell.pop("id", None)
    data.cells = [c for c in data.cells if not c.source.startswith("check_equal(\"conv2d_params")]
    nbformat.validate(data)
    out, notes = reconcile(data, source, release)
    valid(out)
    assert out.nbformat_minor == 4 and not any("id" in c for c in out.cells)
    assert "test cell `test_param_counts` was missing and was put back" in notes


def test_cell_ids_stay_unique(source, release, solution):
    nb = fresh(*solution_answers(source, solution).values())
    nb.cells[0].id = "setup"  # the id the released setup cell has
    out, _ = reconcile(nb, source, release)
    valid(out)
    assert cell_of(out, "setup").id == "setup-1"


# ----------------------------------------------------------------------------- a toy assignment, executed

def _meta(grade_id, **flags):
    meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3, "grade_id": grade_id}
    meta.update(flags)
    return {"nbgrader": meta}


def toy():
    """(source, release) of a small assignment: two answers, their tests, a written answer."""
    source = new_notebook(cells=[
        new_markdown_cell("# Toy"),
        new_code_cell("import math", metadata=_meta("setup", locked=True)),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=_meta("double", solution=True)),
        new_code_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(0) == 0\n### END HIDDEN TESTS",
                      metadata=_meta("test_double", grade=True, locked=True, points=1)),
        new_code_cell("def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION",
                      metadata=_meta("triple", solution=True)),
        new_code_cell("assert triple(2) == 6", metadata=_meta("test_triple", grade=True, locked=True, points=1)),
        new_markdown_cell("Why?"),
        new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                          metadata=_meta("why", grade=True, solution=True, points=1)),
    ])
    release = copy.deepcopy(source)
    stub = "    # YOUR CODE HERE\n    raise NotImplementedError()"
    release.cells[2].source = "def double(x):\n" + stub
    release.cells[3].source = "assert double(2) == 4"
    release.cells[4].source = "def triple(x):\n" + stub
    release.cells[7].source = "YOUR ANSWER HERE"
    return source, release


def run(nb):
    """Execute the code cells top to bottom in one namespace: {test grade_id: passed}."""
    namespace, results = {}, {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            exec(compile(cell.source, "<cell>", "exec"), namespace)
            ok = True
        except Exception:
            ok = False
        if cell.metadata.get("nbgrader", {}).get("grade"):
            results[gid(cell)] = ok
    return results


def test_toy_merged_answers_pass_their_tests():
    source, release = toy()
    nb = fresh("def double(x):\n    return 2 * x\n\ndef triple(x):\n    return 3 * x")
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == ["setup", "double", "test_double", "triple", "test_triple", "why"]
    assert run(out) == {"test_double": True, "test_triple": True}
    assert any("answer cell `triple` was missing, but triple is defined in cell 1" in n for n in notes)


def test_toy_missing_answer_fails_its_tests_only():
    source, release = toy()
    nb = fresh("def double(x):\n    return 2 * x", "assert double(2) == 4")
    out, notes = reconcile(nb, source, release)
    valid(out)
    assert ids(out) == ["setup", "double", "test_double", "triple", "test_triple", "why"]
    assert run(out) == {"test_double": True, "test_triple": False}
    assert cell_of(out, "triple").source == release.cells[4].source
    assert "answer cell `triple` was missing: the blank template was put back, so its tests score 0" in notes


def test_toy_renamed_function_is_named_in_the_notes():
    source, release = toy()
    nb = fresh("def double(x):\n    return 2 * x", "def triple_it(x):\n    return 3 * x")
    _, notes = reconcile(nb, source, release)
    assert "cell 2 (defining triple_it) matches no answer cell: the assignment's functions must keep " \
           "their names" in notes


def test_toy_release_without_a_cell_falls_back_to_the_source():
    source, release = toy()
    release.cells = release.cells[:4]  # triple, its test and the written answer missing from the release
    out, _ = reconcile(fresh("def double(x):\n    return 2 * x"), source, release)
    valid(out)
    assert ids(out) == ["setup", "double", "test_double", "triple", "test_triple", "why"]
    assert "return 3 * x" not in cell_of(out, "triple").source
    assert "raise NotImplementedError()" in cell_of(out, "triple").source
    assert "Because" not in cell_of(out, "why").source


def test_names():
    names = _names("import numpy as np\nfrom a import b as c\nx, (y, *z) = 1, (2, 3)\nn: int = 1\n"
                   "if True:\n    def f(): pass\nclass K:\n    def method(self): pass\n"
                   "for i in range(3):\n    t = i\ntry:\n    u = 1\nexcept Exception:\n    v = 2\n")
    assert names.defs == {"f", "K"}
    assert names.assigns == {"x", "y", "z", "n", "t", "u", "v"}
    assert names.imports == {"np", "c"}
    broken = _names("def f(x:\n    return x\nclass K(:\nvalue = 3\nvalue == 4\n")
    assert broken.defs == {"f", "K"} and broken.assigns == {"value"}


# ----------------------------------------------------------------------------- nbgrader itself

@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    from course.grading import _course
    root = _course.generate_assignment(_course.DEFAULT_COURSE_DIR, "a1_convolutions",
                                       tmp_path_factory.mktemp("course"))
    return f"sqlite:///{root / 'gradebook.db'}"


def sanitize(nb, db_url):
    """The worker's sanitising preprocessors, as nbgrader's Autograde runs them (no kernel)."""
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells

    from course.grading._preprocessors import Record, RestoreCellMetadata

    resources = {"nbgrader": {"notebook": "a1_convolutions", "assignment": "a1_convolutions",
                              "db_url": db_url, "student": "someone"}}
    record = Record()
    for preprocessor in (ClearOutput(), DeduplicateIds(), RestoreCellMetadata(record=record),
                         OverwriteCells(add_missing_cells=True), CheckCellMetadata()):
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb, record["restored"], record["missing_answers"]


def test_nbgrader_accepts_reconciled_notebooks(gradebook, source, release, solution):
    from course.grading import _course

    with pytest.raises(KeyError):  # what happens today: nbgrader cannot place the cells
        sanitize(copy.deepcopy(solution), gradebook)
    expected = [name for name, _, _ in _course.gradebook_cells(gradebook, "a1_convolutions", "a1_convolutions")]

    out, _ = reconcile(solution, source, release)
    graded, restored, missing = sanitize(out, gradebook)
    assert (restored, missing) == ([], [])
    assert [g for g in ids(graded) if g in expected] == expected
    answers = solution_answers(source, solution)
    assert cell_of(graded, "conv2d_naive").source == answers["conv2d_naive"]

    nb = solved(source, release)
    nb.cells = [c for c in nb.cells if gid(c) not in ("conv2d_naive", "test_conv2d_naive")]
    out, _ = reconcile(nb, source, release)
    graded, restored, missing = sanitize(out, gradebook)
    assert (restored, missing) == ([], [])
    assert "BEGIN HIDDEN TESTS" in cell_of(graded, "test_conv2d_naive").source  # nbgrader restored the hidden tests

    out, _ = reconcile(fresh(*[answers[g] for g in answers if kind(source, g) == "answer"]), source, release)
    graded, restored, missing = sanitize(out, gradebook)
    assert (restored, missing) == ([], [])
    assert ids(graded) == source_ids(source)


# ----------------------------------------------------------------------------- plain nbgrader

@pytest.mark.slow
def test_plain_nbgrader_grades_the_worked_solution_with_the_course_config(tmp_path):
    """The course's nbgrader_config.py puts ReconcileCells first: plain `nbgrader autograde` of the
    worked solution (no grading metadata) exits 0 with full marks instead of crashing on a KeyError."""
    import csv
    import os
    import shutil
    import subprocess
    import sys

    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments", course, ignore=shutil.ignore_patterns("gradebook.db", "autograded",
                                                                               "submitted", "feedback", "grading"))
    folder = course / "submitted" / "alice" / "a1_convolutions"
    folder.mkdir(parents=True)
    shutil.copy(SOLUTION, folder / "a1_convolutions.ipynb")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    # nbgrader runs `alembic` for a new gradebook: the virtualenv's bin must be on PATH
    env = dict(os.environ, PYTHONWARNINGS="ignore",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    logs = {}
    for args in (["generate_assignment", "a1_convolutions", "--force"], ["autograde", "a1_convolutions"],
                 ["export", "--to", str(tmp_path / "grades.csv")]):
        run = subprocess.run(nbgrader + args, cwd=course, capture_output=True, text=True, timeout=600, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        logs[args[0]] = run.stdout + run.stderr
    assert "alice: the notebook had no grading metadata" in logs["autograde"]
    row = next(csv.DictReader((tmp_path / "grades.csv").open()))
    source = nbformat.read(str(SOURCE), as_version=4)
    auto = sum(c.metadata.nbgrader["points"] for c in source.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    assert float(row["score"]) == auto
