"""Tests for course.grading: the checks, the anti-reference guard, and assignment 1.

- The checks: each failure message names what was checked and says what was
  expected and what came back (type, shape, dtype, first differing value).
- The guard: answers that import or wrap the reference or the production op
  are caught (statically and at run time); honest answers pass; everything
  patched is restored, also on error; hidden tests get pristine checks and
  references whatever the notebook did.
- The source notebook of assignment 1, executed with nbclient in one kernel:
  every test cell passes (and none prints to stderr or leaves a value nbgrader
  would read as a partial score); with solutions and hidden tests stripped as
  nbgrader does, every test cell fails; each entry of the wrong-answer
  catalogue fails the tests it names. One kernel runs everything (starting
  one and importing torch costs several seconds): before each variant the
  namespace is reset and the setup cell runs again, then the variant's
  solution cell and the tests of its exercise. ``python -m course.grading
  selftest`` runs the same catalogue through nbgrader itself.
"""
import copy
import json
import pathlib
import subprocess
import sys
import time
import warnings

import pytest
import torch
import torch.nn.functional as F

import course.conv
import course.grading
import course.upsample
from course.grading import guard
from course.grading.checks import (
    CheckFailure,
    NotYourOwnCode,
    check_close,
    check_equal,
    check_is_student_code,
    check_raises,
    check_tensor_close,
    self_check,
    self_check_function,
    warnings_to_stdout,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASSIGNMENT = ROOT / "assignments" / "source" / "a1_convolutions"
NOTEBOOK = ASSIGNMENT / "a1_convolutions.ipynb"
CATALOGUE = json.loads((ASSIGNMENT / "wrong_answers.json").read_text())


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------------------
# check_equal, check_close, check_raises
# ---------------------------------------------------------------------------

def test_checks_pass_silently_and_return_none():
    # nbgrader reads a test cell's last value as a partial score: checks return None.
    assert check_equal("n", 3, 3) is None
    assert check_equal("shape", torch.Size([1, 4, 3, 3]), (1, 4, 3, 3)) is None
    assert check_equal("list", (1, 2), [1, 2]) is None
    assert check_close("r", 0.1120, 1 / 1024 + 1 / 9, abs_tol=5e-4) is None
    assert check_tensor_close("t", torch.ones(2), torch.ones(2)) is None
    assert check_raises("r", lambda: int("x"), ValueError) is None


def test_importing_the_package_is_light():
    """The instructor's command line imports course.grading: no torch, no nbgrader until needed."""
    code = ("import sys, course.grading; "
            "assert 'torch' not in sys.modules and 'nbgrader' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    # The checks still import from the package (loaded on first use).
    assert course.grading.check_equal is check_equal and "check_equal" in dir(course.grading)


def test_failures_are_assertion_errors():
    assert issubclass(CheckFailure, AssertionError)
    assert issubclass(NotYourOwnCode, CheckFailure)
    assert course.grading.CheckFailure is CheckFailure


def test_check_equal_int():
    assert message(check_equal, "conv_output_size(5, 3, stride=2)", 3, 2) == \
        "conv_output_size(5, 3, stride=2): expected 2, got 3"


def test_check_equal_wrong_number_types():
    text = message(check_equal, "conv_output_size(5, 3)", 3.0, 3)
    assert text.startswith("conv_output_size(5, 3): expected the int 3, got float 3.0")
    assert "//" in text
    assert "got Tensor" in message(check_equal, "n", torch.tensor(3), 3)
    assert ".item()" in message(check_equal, "n", torch.tensor(3), 3)
    assert "got bool True" in message(check_equal, "n", True, 1)


def test_check_equal_sequences():
    text = message(check_equal, "conv2d(x, w).shape", (1, 4, 4, 4), (1, 4, 3, 3))
    assert text == ("conv2d(x, w).shape: expected (1, 4, 3, 3), got (1, 4, 4, 4); "
                    "at position 2: expected 3, got 4")
    assert "expected 5 values" in message(check_equal, "counts", [1, 2], [1, 2, 3, 4, 5])
    assert "expected a list" in message(check_equal, "counts", 7, [7])


def test_check_equal_other_values():
    assert "missing ['b']" in message(check_equal, "d", {"a": 1}, {"a": 1, "b": 2})
    assert message(check_equal, "name", "max", "min") == "name: expected str 'min', got str 'max'"
    assert "expected 0.5" in message(check_equal, "x", 0.25, 0.5)


def test_check_close():
    text = message(check_close, "separable_ratio(3, 1024)", 0.334, 0.112, abs_tol=5e-4)
    assert text.startswith("separable_ratio(3, 1024): expected 0.112, got 0.334 (difference 0.222")
    assert "got Tensor" in message(check_close, "r", torch.tensor(0.5), 0.5)
    assert "expected a number" in message(check_close, "r", "0.5", 0.5)


def test_check_raises():
    assert message(check_raises, "f()", lambda: 3, ValueError) == \
        "f(): expected ValueError to be raised, but it returned int 3"
    text = message(check_raises, "f()", lambda: [][1], (ValueError, TypeError))
    assert text.startswith("f(): expected ValueError or TypeError, got IndexError: list index out of range")
    assert "does not match" in message(check_raises, "f()", lambda: int("x"), ValueError, match="kernel")


# ---------------------------------------------------------------------------
# check_tensor_close
# ---------------------------------------------------------------------------

def test_tensor_close_not_a_tensor():
    assert message(check_tensor_close, "f(x)", [[1.0, 2.0]], torch.zeros(1, 2)) == \
        "f(x): expected a torch.Tensor of shape (1, 2) and dtype torch.float32, got list [[1.0, 2.0]]"


def test_tensor_close_shape_first():
    got, expected = torch.zeros(1, 4, 4, 4, dtype=torch.float64), torch.zeros(1, 4, 3, 3)
    assert message(check_tensor_close, "conv2d(x, w, stride=2)", got, expected) == \
        "conv2d(x, w, stride=2): expected shape (1, 4, 3, 3), got (1, 4, 4, 4)"


def test_tensor_close_dtype():
    text = message(check_tensor_close, "f(x)", torch.zeros(2, dtype=torch.float64), torch.zeros(2))
    assert text.startswith("f(x): expected dtype torch.float32, got torch.float64")
    assert "new_zeros" in text
    assert "int64" in message(check_tensor_close, "idx", torch.zeros(2, dtype=torch.int32),
                              torch.zeros(2, dtype=torch.int64))
    check_tensor_close("f(x)", torch.zeros(2, dtype=torch.float64), torch.zeros(2), check_dtype=False)


def test_tensor_close_values():
    expected = torch.zeros(2, 3, 3)
    got = expected.clone()
    got[0, 1, 2] = 0.75
    got[1, 0, 0] = -2.0
    text = message(check_tensor_close, "conv2d_naive(x, w)", got, expected)
    assert text == ("conv2d_naive(x, w): 2 of 18 values differ (with atol=1e-05, rtol=0.0001); "
                    "first at index (0, 1, 2): expected 0, got 0.75; max abs difference 2")


def test_tensor_close_tolerance_and_special_values():
    check_tensor_close("t", torch.tensor([1.0, float("nan")]), torch.tensor([1.0 + 1e-6, float("nan")]))
    assert "first at index (0,)" in message(check_tensor_close, "t", torch.tensor([1.1]), torch.tensor([1.0]))
    assert "expected 1, got nan" in message(check_tensor_close, "t", torch.tensor([float("nan")]),
                                            torch.tensor([1.0]))


def test_tensor_close_integer_tensors_are_exact():
    text = message(check_tensor_close, "indices", torch.tensor([[5, 8]]), torch.tensor([[5, 7]]))
    assert text == ("indices: 1 of 2 values differ (exactly); first at index (0, 1): "
                    "expected 7, got 8; max abs difference 1")


def test_tensor_close_rejects_subclasses():
    class Liar(torch.Tensor):
        pass

    fake = torch.zeros(2).as_subclass(Liar)
    assert "tensor subclass Liar" in message(check_tensor_close, "t", fake, torch.zeros(2))
    check_tensor_close("parameter", torch.nn.Parameter(torch.zeros(2)), torch.zeros(2))


def test_warnings_to_stdout(capsys):
    original = warnings.showwarning
    try:
        warnings_to_stdout()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("harmless", UserWarning, stacklevel=1)
    finally:
        warnings.showwarning = original
    out, err = capsys.readouterr()
    assert "UserWarning: harmless" in out
    assert err == ""


# ---------------------------------------------------------------------------
# The guard
# ---------------------------------------------------------------------------

def notebook(source: str) -> dict:
    """Run ``source`` as a notebook cell would: in a namespace whose ``__name__`` is ``__main__``."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<notebook cell>", "exec"), namespace)
    return namespace


X = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(0))
W = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(1))

HONEST = {
    "loops": """
import torch
def conv2d_naive(x, w):
    N, C, H, Wd = x.shape
    O, _, k, _ = w.shape
    out = x.new_zeros(N, O, H - k + 1, Wd - k + 1)
    for i in range(H - k + 1):
        for j in range(Wd - k + 1):
            out[:, :, i, j] = (x[:, None, :, i:i + k, j:j + k] * w).sum((2, 3, 4))
    return out
""",
    "unfold": """
import torch.nn.functional as F
def conv2d_naive(x, w):
    cols = F.unfold(x, w.shape[-2:])
    out = w.reshape(w.shape[0], -1) @ cols
    return out.view(x.shape[0], w.shape[0], x.shape[2] - w.shape[2] + 1, x.shape[3] - w.shape[3] + 1)
""",
}

# Each is caught before it runs (the static half) and when it runs.
CHEATS = {
    "direct import of the reference": "from course.conv import conv2d as conv2d_naive",
    "the production op itself": "import torch.nn.functional as F\nconv2d_naive = F.conv2d",
    "wrapper via the course module": """
import course.conv
def conv2d_naive(x, w):
    return course.conv.conv2d(x, w)
""",
    "wrapper via F": """
import torch.nn.functional as F
def conv2d_naive(x, w):
    return F.conv2d(x, w)
""",
    "wrapper via the full torch path": """
import torch
def conv2d_naive(x, w):
    return torch.nn.functional.conv2d(x, w)
""",
    "alias name": """
from torch.nn.functional import conv2d as my_helper
def conv2d_naive(x, w):
    return my_helper(x, w)
""",
    "alias of the reference": """
from course.conv import conv2d as helper
def conv2d_naive(x, w):
    return helper(x, w)
""",
    "alias in a helper function": """
from torch import conv2d as c
def helper(x, w):
    return c(x, w)
def conv2d_naive(x, w):
    return helper(x, w)
""",
    "default argument": """
import torch
def conv2d_naive(x, w, op=torch.conv2d):
    return op(x, w)
""",
    "closure": """
def make():
    import course.conv
    ref = course.conv.conv2d
    def conv2d_naive(x, w):
        return ref(x, w)
    return conv2d_naive
conv2d_naive = make()
""",
    "global container": """
import torch.nn.functional as F
OPS = {"conv": F.conv2d}
def conv2d_naive(x, w):
    return OPS["conv"](x, w)
""",
    "class attribute": """
import torch
class Ops:
    conv = torch.conv2d
def conv2d_naive(x, w):
    return Ops.conv(x, w)
""",
    "nn.Conv2d": """
import torch
def conv2d_naive(x, w):
    layer = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], bias=False)
    layer.weight.data = w
    return layer(x)
""",
    "torch.ops.aten": """
import torch
def conv2d_naive(x, w):
    return torch.ops.aten.conv2d(x, w)
""",
    "decorated": """
import functools
import torch.nn.functional as F
@functools.lru_cache(maxsize=None)
def conv2d_naive(x, w):
    return F.conv2d(x, w)
""",
}

# Only the run-time half can see these.
RUNTIME_ONLY = {
    "import inside the function": """
def conv2d_naive(x, w):
    from torch.nn.functional import conv2d
    return conv2d(x, w)
""",
    "dynamic attribute": """
import torch.nn.functional as F
def conv2d_naive(x, w):
    return getattr(F, "conv" + "2d")(x, w)
""",
    "exception swallowed": """
import importlib
def conv2d_naive(x, w):
    try:
        return importlib.import_module("course.conv").conv2d(x, w)
    except Exception:
        return x
""",
}


@pytest.mark.parametrize("name", list(HONEST))
def test_guard_passes_honest_code(name):
    fn = notebook(HONEST[name])["conv2d_naive"]
    check_is_student_code("conv2d_naive", fn, guard.CONVOLUTION)
    got = guard.student_function("conv2d_naive", fn, guard.CONVOLUTION)(X, W)
    check_tensor_close("conv2d_naive", got, F.conv2d(X, W))


def test_guard_rules_are_per_part():
    unfold = notebook(HONEST["unfold"])["conv2d_naive"]
    with pytest.raises(NotYourOwnCode, match=r"torch\.nn\.functional\.unfold \(im2col"):
        check_is_student_code("conv2d_naive", unfold, guard.CONVOLUTION + guard.UNFOLD)
    # F.conv2d is allowed where only transposed convolutions are forbidden.
    wrapper = notebook(CHEATS["wrapper via F"])["conv2d_naive"]
    check_is_student_code("conv2d_naive", wrapper, guard.TRANSPOSED_CONVOLUTION)


@pytest.mark.parametrize("name", list(CHEATS))
def test_guard_static_half_catches(name):
    fn = notebook(CHEATS[name])["conv2d_naive"]
    with pytest.raises(NotYourOwnCode) as info:
        check_is_student_code("conv2d_naive", fn, guard.CONVOLUTION)
    text = str(info.value)
    assert text.startswith("conv2d_naive: ")
    assert "write conv2d_naive yourself" in text
    with pytest.raises(NotYourOwnCode):
        guard.student_function("conv2d_naive", fn, guard.CONVOLUTION)


# The cheats that look the forbidden function up when they run. (The others hold
# the original object, bound before the test: only the static half sees those.)
LOOKED_UP_AT_RUN_TIME = ["wrapper via the course module", "wrapper via F", "wrapper via the full torch path",
                         "nn.Conv2d", "torch.ops.aten", "decorated"]


@pytest.mark.parametrize("name", LOOKED_UP_AT_RUN_TIME)
def test_guard_runtime_half_catches(name):
    fn = notebook(CHEATS[name])["conv2d_naive"]
    with pytest.raises(NotYourOwnCode, match="write conv2d_naive yourself"):
        with guard.forbidden_calls("conv2d_naive", guard.CONVOLUTION):
            fn(X, W)


@pytest.mark.parametrize("name", list(RUNTIME_ONLY))
def test_guard_runtime_only(name):
    fn = notebook(RUNTIME_ONLY[name])["conv2d_naive"]
    assert guard.static_problem("conv2d_naive", fn, guard.CONVOLUTION) is None
    wrapped = guard.student_function("conv2d_naive", fn, guard.CONVOLUTION)
    with pytest.raises(NotYourOwnCode) as info:
        wrapped(X, W)
    assert "conv2d_naive: this part asks you to write conv2d_naive yourself" in str(info.value)


def test_guard_allows_the_students_own_helpers():
    source = """
import functools
import torch.nn.functional as F
def conv2d(x, w):               # the student's own, even with a production name
    return F.unfold(x, w.shape[-2:])
def conv2d_unfold(x, w):
    return conv2d(x, w)
partial_answer = functools.partial(conv2d_unfold)
"""
    namespace = notebook(source)
    check_is_student_code("conv2d_unfold", namespace["conv2d_unfold"], guard.CONVOLUTION)
    check_is_student_code("conv2d_unfold", namespace["partial_answer"], guard.CONVOLUTION)


def test_guard_scan_is_bounded():
    namespace = notebook("BIG = list(range(1_000_000))\ndef f(x):\n    return BIG[x]")
    start = time.perf_counter()
    assert guard.static_problem("f", namespace["f"], guard.CONVOLUTION) is None
    assert time.perf_counter() - start < 1.0


def test_guard_message_names_the_alias():
    fn = notebook(CHEATS["alias name"])["conv2d_naive"]
    text = guard.static_problem("conv2d_naive", fn, guard.CONVOLUTION)
    assert "torch.nn.functional.conv2d" in text and "my_helper" in text


def test_guard_rejects_things_that_are_not_notebook_functions():
    assert "expected a function" in guard.static_problem("f", 3)
    assert "expected a function defined in the notebook" in guard.static_problem("f", json.dumps)
    copy_src = "import types, course.conv\nf = types.FunctionType(course.conv.conv2d.__code__, globals())"
    assert "a copy of course.conv.conv2d" in guard.static_problem("f", notebook(copy_src)["f"])


def _snapshot():
    owners = [torch, F, torch.nn, torch._C._nn, torch.nn.grad, course.conv, course.upsample]
    state = {(id(o), k): v for o in owners for k, v in list(vars(o).items())}
    state.update({("aten", n): getattr(torch.ops.aten, n) for n in ("conv2d", "max_pool2d", "im2col")})
    return state


@pytest.mark.parametrize("ending", ["normally", "error", "forbidden", "interrupt"])
def test_guard_restores_everything(ending):
    before = _snapshot()
    rules = guard.CONVOLUTION + guard.UNFOLD + guard.MAX_POOL + guard.MAX_UNPOOL + guard.LAYERS
    errors = {"normally": None, "error": ValueError, "forbidden": NotYourOwnCode,
              "interrupt": KeyboardInterrupt}
    try:
        with guard.forbidden_calls("part", rules):
            assert F.conv2d is not before[(id(F), "conv2d")]
            assert course.conv.conv2d is not before[(id(course.conv), "conv2d")]
            if ending == "error":
                raise ValueError("student bug")
            if ending == "forbidden":
                F.max_pool2d(X, 2)
            if ending == "interrupt":
                raise KeyboardInterrupt
    except BaseException as error:
        assert type(error) is errors[ending]
    after = _snapshot()
    assert after.keys() == before.keys()
    changed = [key for key in before if after[key] is not before[key]]
    assert changed == []


def test_hidden_preamble_gets_pristine_checks_and_reference():
    """A notebook that disables the checks and replaces the reference fools neither."""
    import course.grading.checks as checks_module
    saved_checks = checks_module.check_tensor_close
    saved_conv2d = course.conv.conv2d
    saved_modules = {k: v for k, v in sys.modules.items() if k.startswith("course.grading")}
    try:
        checks_module.check_tensor_close = lambda *args, **kwargs: None
        course.conv.conv2d = lambda *args, **kwargs: torch.zeros(1)
        # The first lines of every hidden test:
        namespace = {"__name__": "__main__"}
        exec(
            'import sys; [sys.modules.pop(_m) for _m in list(sys.modules) if _m.startswith("course.grading")]\n'
            "from course.grading import checks as _c, guard as _g\n"
            "_ref = _g.fresh_reference()\n",
            namespace,
        )
        fresh_checks, fresh_ref = namespace["_c"], namespace["_ref"]
        assert fresh_checks is not checks_module
        with pytest.raises(AssertionError, match="expected shape"):
            fresh_checks.check_tensor_close("t", torch.zeros(2), torch.zeros(3))
        check_tensor_close_ = fresh_checks.check_tensor_close
        check_tensor_close_("reference", fresh_ref.conv.conv2d(X, W), F.conv2d(X, W))
        assert fresh_ref.conv is not course.conv
        assert "course.conv" in sys.modules and sys.modules["course.conv"] is course.conv
    finally:
        checks_module.check_tensor_close = saved_checks
        course.conv.conv2d = saved_conv2d
        sys.modules.update(saved_modules)
        sys.modules["course"].grading = saved_modules["course.grading"]


# ---------------------------------------------------------------------------
# Assignment 1: the source notebook, its released version, the wrong answers
# ---------------------------------------------------------------------------

nbformat = pytest.importorskip("nbformat")


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _load():
    return nbformat.read(str(NOTEBOOK), as_version=4)


def _parts(nb):
    """solution grade_id -> the grade_ids of the test cells that follow it."""
    parts, current = {}, None
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            current = meta["grade_id"]
            parts[current] = []
        elif meta.get("grade") and cell.cell_type == "code":
            parts[current].append(meta["grade_id"])
    return parts


def test_notebook_metadata():
    nb = _load()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.metadata.kernelspec.display_name == "Python 3 (ipykernel)"
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    points = {}
    for cell in nb.cells:
        meta, source = _meta(cell), cell.source
        if meta:
            assert meta["schema_version"] == 3
        if "BEGIN HIDDEN TESTS" in source:
            assert meta.get("grade") and meta.get("locked") and not meta.get("solution")
            assert source.count("### BEGIN HIDDEN TESTS") == source.count("### END HIDDEN TESTS") == 1
            assert "_g.student_function(" in source
        if meta.get("grade"):
            points[meta["grade_id"]] = meta["points"]
            if cell.cell_type == "code":
                assert meta["locked"] and "BEGIN HIDDEN TESTS" in source
        if meta.get("solution") and cell.cell_type == "code":
            assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION") >= 1
        if cell.cell_type == "code" and not meta.get("grade"):
            # The reference is only imported inside hidden tests.
            assert "course.conv" not in source and "course.upsample" not in source
    manual = [c for c in nb.cells if c.cell_type == "markdown" and _meta(c).get("grade")]
    assert len(manual) == 1 and _meta(manual[0])["solution"]
    autograded = sum(p for gid, p in points.items() if gid.startswith("test_"))
    assert len([g for g in points if g.startswith("test_")]) >= 8
    assert (autograded, sum(points.values())) == (22, 24)


def test_catalogue_format():
    nb = _load()
    parts = _parts(nb)
    assert len(CATALOGUE) >= 6
    assert len({entry["name"] for entry in CATALOGUE}) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert {"name", "grade_id", "source", "must_lose"} <= set(entry)
        assert entry["grade_id"] in parts, entry["name"]
        assert entry["must_lose"] and set(entry["must_lose"]) <= set(parts[entry["grade_id"]]), entry["name"]
        assert "BEGIN SOLUTION" not in entry["source"]
        compile(entry["source"], entry["name"], "exec")


class Kernel:
    """One kernel for every run; a run resets the namespace, then executes cells."""

    def __init__(self, client):
        self.client = client

    def run(self, cells):
        """Execute copies of ``cells`` after a namespace reset; returns them with their outputs."""
        cells = [nbformat.v4.new_code_cell("%reset -f")] + [copy.deepcopy(c) for c in cells]
        self.client.nb = nbformat.v4.new_notebook(cells=cells, metadata=self.client.nb.metadata)
        for index, cell in enumerate(cells):
            if cell.cell_type == "code":
                cell.outputs = []
                self.client.execute_cell(cell, index)
        return cells[1:]


@pytest.fixture(scope="module")
def kernel():
    nbclient = pytest.importorskip("nbclient")
    client = nbclient.NotebookClient(_load(), kernel_name="python3", timeout=120, allow_errors=True)
    with client.setup_kernel():
        yield Kernel(client)


def _failures(cells):
    """grade_id -> problems (an error, or output on stderr) for every graded code cell."""
    result = {}
    for cell in cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        problems = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        problems += [f"stderr: {o.text}" for o in cell.outputs
                     if o.output_type == "stream" and o.name == "stderr"]
        result[meta["grade_id"]] = problems
    return result


@pytest.mark.slow
def test_source_notebook_gets_full_marks(kernel):
    cells = kernel.run(_load().cells)
    failures = _failures(cells)
    assert len(failures) == len([c for c in _load().cells if c.cell_type == "code" and _meta(c).get("grade")])
    assert len(failures) == 14
    assert {gid: p for gid, p in failures.items() if p} == {}
    for cell in cells:
        if cell.cell_type == "code" and _meta(cell).get("grade"):
            # An execute_result would be read by nbgrader as a partial score.
            assert not [o for o in cell.outputs if o.output_type == "execute_result"], _meta(cell)["grade_id"]
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]


@pytest.mark.slow
def test_setup_cell_sends_warnings_to_stdout(kernel):
    """nbgrader gives 0 points to a test cell with output on stderr: warnings go to stdout."""
    setup = [c for c in _load().cells if _meta(c).get("grade_id") == "setup"]
    cells = kernel.run(setup + [nbformat.v4.new_code_cell("import warnings\nwarnings.warn('harmless')")])
    streams = [(o.name, o.text) for o in cells[-1].outputs if o.output_type == "stream"]
    assert streams and all(name == "stdout" for name, _ in streams)
    assert "UserWarning: harmless" in streams[0][1]


@pytest.mark.slow
def test_released_notebook_gets_no_points(kernel):
    """Solutions and hidden tests stripped the way nbgrader generate_assignment does."""
    preprocessors = pytest.importorskip("nbgrader.preprocessors")
    nb = _load()
    resources = {}
    nb, resources = preprocessors.ClearSolutions().preprocess(nb, resources)
    nb, resources = preprocessors.ClearHiddenTests().preprocess(nb, resources)
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "_ref" not in text
    assert text.count("raise NotImplementedError()") == 14  # one stub per function to write
    failures = _failures(kernel.run(nb.cells))
    assert [gid for gid, problems in failures.items() if not problems] == []
    # The released notebook still runs top to bottom: only the stubs raise.
    assert all("NotImplementedError" in " ".join(p) or "NameError" in " ".join(p)
               for p in failures.values())


@pytest.mark.slow
@pytest.mark.parametrize("entry", CATALOGUE, ids=[entry["name"] for entry in CATALOGUE])
def test_wrong_answer_loses_points(kernel, entry):
    nb = _load()
    tests = _parts(nb)[entry["grade_id"]]
    cells = []
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("grade_id") == "setup":
            cells.append(cell)
        elif meta.get("grade_id") == entry["grade_id"]:
            cell = copy.deepcopy(cell)
            cell.source = entry["source"]
            cells.append(cell)
        elif meta.get("grade_id") in tests:
            cells.append(cell)
    failures = _failures(kernel.run(cells))
    lost = {gid for gid, problems in failures.items() if problems}
    assert set(entry["must_lose"]) <= lost, (entry["name"], failures)
    # The failure comes from a check (or the guard), with a message, not a crash of the test itself.
    for gid in entry["must_lose"]:
        assert any(p.startswith(("CheckFailure", "NotYourOwnCode", "RuntimeError", "IndexError",
                                 "ValueError", "TypeError"))
                   for p in failures[gid]), failures[gid]


# --------------------------------------------------------------------------
# Self-checks of the lectures' "your turn" exercises: one printed line, never raising
# --------------------------------------------------------------------------

def test_self_check_says_not_attempted_wrong_or_correct(capsys):
    self_check("output size", ..., 3)
    self_check("output size", 4, 3)
    self_check("output size", 3, 3)
    self_check("output size", 3.0, 3)            # an int was asked for: the float is named
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("\u2026 output size: not attempted yet.")
    assert lines[1] == "\u2718 output size: expected 3, got 4"
    assert lines[2] == "\u2714 output size: correct."
    assert lines[3].startswith("\u2718 output size: expected the int 3, got float 3.0")


def test_self_check_compares_floats_and_tensors_within_tolerance(capsys):
    self_check("ratio", 1 / 3 + 1e-9, 1 / 3)
    self_check("ratio", 0.3, 1 / 3)
    self_check("map", torch.ones(2, 2) + 1e-7, torch.ones(2, 2))
    self_check("map", torch.ones(2, 3), torch.ones(2, 2))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "\u2714 ratio: correct."
    assert lines[1].startswith("\u2718 ratio: expected 0.333333, got 0.3")
    assert lines[2] == "\u2714 map: correct."
    assert lines[3].startswith("\u2718 map: expected shape (2, 2), got (2, 3)")


def test_self_check_function_names_the_first_failing_case(capsys):
    def stub(x):
        raise NotImplementedError()

    self_check_function("double", stub, lambda x: 2 * x, [(1,), (2,)])
    self_check_function("double", lambda x: x * x, lambda x: 2 * x, [(2,), (3,)])
    self_check_function("double", lambda x: 1 / 0, lambda x: 2 * x, [(2,)])
    self_check_function("pad", lambda k, dilation=1: dilation * (k - 1) // 2,
                        lambda k, dilation=1: dilation * (k - 1) // 2, [((3,), {"dilation": 2}), 5])
    self_check_function("double", 4, lambda x: 2 * x, [(2,)])
    self_check_function("double", lambda x: ..., lambda x: 2 * x, [(2,)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("\u2026 double: not attempted yet.")
    assert lines[1] == "\u2718 double(3): expected 6, got 9"          # (2,) passed: 4 == 4
    assert lines[2] == "\u2718 double(2): your code raised ZeroDivisionError: 'division by zero'"
    assert lines[3] == "\u2714 pad: correct on 2 cases."
    assert lines[4] == "\u2718 double: expected a function, got int 4"
    assert lines[5].startswith("\u2026 double: not attempted yet.")


def test_self_checks_never_raise_and_return_none(capsys):
    assert self_check("x", object(), 1) is None
    assert self_check_function("f", lambda x: x, lambda x: x, [(1,)]) is None
    assert capsys.readouterr().out.splitlines()[-1] == "\u2714 f: correct on 1 case."


def test_guard_checks_a_class_answer_its_bases_and_its_methods():
    """An nn.Module to write (a4's Bottleneck): the notebook's own passes, a subclass or a call inside fails."""
    own = notebook("import torch\n"
                   "class Block(torch.nn.Module):\n"
                   "    def __init__(self, c):\n"
                   "        super().__init__()\n"
                   "        self.conv = torch.nn.Conv2d(c, c, 3, padding=1)\n"
                   "    def forward(self, x):\n"
                   "        return torch.relu(self.conv(x)) + x\n")["Block"]
    assert guard.static_problem("Block", own, guard.TORCHVISION_MODELS) is None
    block = guard.student_function("Block", own, guard.TORCHVISION_MODELS)(4)
    assert block(torch.zeros(1, 4, 5, 5)).shape == (1, 4, 5, 5)

    subclass = notebook("import torchvision\n"
                        "class Block(torchvision.models.resnet.Bottleneck):\n"
                        "    pass\n")["Block"]
    text = guard.static_problem("Block", subclass, guard.TORCHVISION_MODELS)
    assert "derives from torchvision.models.resnet.Bottleneck" in text
    with pytest.raises(NotYourOwnCode):
        guard.student_function("Block", subclass, guard.TORCHVISION_MODELS)

    inside = notebook("import torch\nfrom torchvision.models.resnet import Bottleneck as B\n"
                      "class Block(torch.nn.Module):\n"
                      "    def __init__(self, c):\n"
                      "        super().__init__()\n"
                      "        self.inner = B(c, c // 4)\n"
                      "    def forward(self, x):\n"
                      "        return self.inner(x)\n")["Block"]
    text = guard.static_problem("Block", inside, guard.TORCHVISION_MODELS)
    assert text is not None and "Bottleneck" in text


def test_guard_normalization_rule_catches_batch_norm_by_any_name():
    fn = notebook("import torch.nn.functional as F\n"
                  "def bn(x, mean, var):\n"
                  "    return F.batch_norm(x, mean, var, training=False)\n")["bn"]
    assert "batch_norm" in guard.static_problem("bn", fn, guard.NORMALIZATION)
    sneaky = notebook("import torch\n"
                      "def bn(x, mean, var):\n"
                      "    op = getattr(torch, 'batch' + '_norm')\n"
                      "    return op(x, None, None, mean, var, False, 0.1, 1e-5, False)\n")["bn"]
    wrapped = guard.student_function("bn", sneaky, guard.NORMALIZATION)
    with pytest.raises(NotYourOwnCode):
        wrapped(torch.zeros(2, 3, 4, 4), torch.zeros(3), torch.ones(3))
