"""Tests for course.grading.scan, the static scan of a submission's code.

- Every attack seen so far (and its aliased variants) is TAMPERED, named in
  the finding's ``what``, at the right cell and line; obfuscation primitives
  an honest student does not need are NEEDS_REVIEW.
- Honest code gives no finding: every code cell of the worked solution, of
  the released assignment and of every lecture (students copy lecture code),
  the catalogued wrong answers that are merely wrong, harmless magics and
  settings.
- Locked instructor cells (ids in ``instructor_ids``) are not reported; a
  cell that does not parse gives no finding; ``describe`` is bounded and
  names cells and lines.

Fast: no kernel, no torch needed by the scan itself.
"""
import dataclasses
import json
import pathlib
import re

import nbformat
import pytest

from course.grading import scan
from course.grading.scan import Finding, describe, scan_notebook
from course.grading.statuses import Status

ROOT = pathlib.Path(__file__).resolve().parents[1]
A1 = ROOT / "assignments" / "source" / "a1_convolutions"
RELEASE = ROOT / "assignments" / "release" / "a1_convolutions" / "a1_convolutions.ipynb"
SOLUTION = ROOT / "solutions" / "a1_convolutions.ipynb"
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))

T, R = Status.TAMPERED, Status.NEEDS_REVIEW

SETUP = """\
import math

import torch
import torch.nn.functional as F

from course.grading import check_close, check_equal, check_raises, check_tensor_close, warnings_to_stdout

warnings_to_stdout()
"""
HONEST = """\
def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    return (size + 2 * padding - span) // stride + 1
"""


def notebook(*sources, setup=SETUP):
    """A notebook like a submission: the locked setup cell, a markdown cell, then ``sources``
    (student cells, grade_id ``answer<i>``)."""
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell(setup, metadata={"nbgrader": {"grade_id": "setup", "locked": True}}),
             nbformat.v4.new_markdown_cell("# Exercise")]
    for i, source in enumerate(sources):
        cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade_id": f"answer{i}"}}))
    nb.cells = cells
    return nb


def findings_of(*sources, instructor_ids=frozenset({"setup"})):
    return scan_notebook(notebook(*sources), instructor_ids)


def show(findings):
    return "\n".join(f"  cell {f.cell} line {f.line} {f.severity}: {f.what}  [{f.source}]" for f in findings)


# --------------------------------------------------------------------------
# Attacks: (source, line of the attack, severity, text the `what` must contain)
# --------------------------------------------------------------------------

ATTACKS = {
    # IPython's machinery
    "input_transformers_cleanup": (
        "get_ipython().input_transformers_cleanup.append(lambda lines: [])", 1, T, "input_transformers_cleanup"),
    "input_transformers_post_via_shell_variable": (
        "shell = get_ipython()\nshell.input_transformers_post.append(lambda lines: [])", 2, T,
        "input_transformers_post"),
    "ast_transformers_via_aliased_get_ipython": (
        "from IPython import get_ipython as g\nip = g()\nip.ast_transformers.append(Wrap())", 3, T,
        "ast_transformers"),
    "ast_transformer_emptying_cells": (
        "import ast\n\n\nclass Empty(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        return ast.Module(body=[], type_ignores=[])\n\n\nget_ipython().ast_transformers.append(Empty())",
        9, T, "ast_transformers"),
    "run_cell_replaced": (
        "shell = get_ipython()\nshell.run_cell = lambda *args, **kwargs: None", 2, T, "run_cell"),
    "run_cell_replaced_on_the_class": (
        "from IPython.core.interactiveshell import InteractiveShell\nInteractiveShell.run_cell = skip", 2, T,
        "run_cell"),
    "transform_cell_replaced": (
        "get_ipython().transform_cell = lambda cell: ''", 1, T, "transform_cell"),
    "run_ast_nodes_wrapped": (
        "ip = get_ipython()\n_orig = ip.run_ast_nodes\nip.run_ast_nodes = lambda *a, **k: _orig([], *a[1:])",
        2, T, "run_ast_nodes"),
    "event_callback": (
        "get_ipython().events.register('pre_run_cell', lambda info: None)", 1, T, "events.register"),
    "custom_exception_handler": (
        "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)", 1, T, "set_custom_exc"),
    "showtraceback_replaced": (
        "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None", 2, T, "showtraceback"),
    "displayhook_replaced": (
        "import sys\nsys.displayhook = lambda value: None", 2, T, "displayhook"),
    "kernel_request_handler_replaced": (
        "kernel = get_ipython().kernel\nkernel.do_execute = fake_execute", 2, T, "do_execute"),
    "grading_tool_imported": (
        "from nbgrader.api import Gradebook", 1, T, "nbgrader"),
    "shell_setting_changed": (
        "%config InteractiveShell.ast_node_interactivity = 'all'", 1, T, "InteractiveShell"),
    # Import machinery
    "meta_path_finder": (
        "import sys\nsys.meta_path.insert(0, FakeChecksFinder())", 2, T, "meta_path"),
    "meta_path_via_import_alias": (
        "import sys as s\ns.meta_path.append(Finder())", 2, T, "meta_path"),
    "meta_path_imported_by_name": (
        "from sys import meta_path\nmeta_path.insert(0, Finder())", 1, T, "meta_path"),
    "meta_path_through_getattr": (
        "getattr(sys, 'meta_path').append(Finder())", 1, T, "meta_path"),
    "meta_path_without_import": (
        "sys.path_hooks.insert(0, hook)", 1, T, "path_hooks"),
    "finder_class": (
        "class Finder:\n    def find_spec(self, name, path, target=None):\n        return None", 2, T,
        "find_spec"),
    "sys_modules_pop_imported_by_name": (
        "from sys import modules\nmodules.pop('torch')", 2, T, "sys.modules"),
    "sys_modules_item_replaced": (
        "import sys, types\nsys.modules['course.conv'] = types.ModuleType('fake')", 2, T, "sys.modules"),
    "sys_modules_item_deleted": (
        "import sys\ndel sys.modules['course.conv']", 2, T, "sys.modules"),
    "sys_modules_cleared_through_a_variable": (
        "import sys\nloaded = sys.modules\nloaded.clear()", 3, T, "sys.modules"),
    "sys_modules_popped_in_a_comprehension": (
        "import sys\n[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('torch')]", 2, T,
        "sys.modules"),
    "importlib_reload": (
        "import importlib\nimport course.conv\nimportlib.reload(course.conv)", 3, T, "importlib.reload"),
    "spec_from_file_location": (
        "from importlib import util\nspec = util.spec_from_file_location('conv', path)", 1, T, "importlib.util"),
    "module_from_spec_whatever_the_receiver": (
        "module = loader_tools.module_from_spec(spec)", 1, T, "module_from_spec"),
    "runpy": (
        "import runpy\nnamespace = runpy.run_path(path)", 1, T, "runpy"),
    # The grading package
    "import_course_grading_checks": (
        "import course.grading.checks as checks\nchecks.check_equal = lambda *a: None", 1, T, "course.grading"),
    "checks_patched": (
        "import course.grading.checks as checks\nchecks.check_equal = lambda *a: None", 2, T,
        "course.grading.checks.check_equal"),
    "guard_patched": (
        "from course.grading import guard\nguard.static_problem = lambda *a, **k: None", 2, T,
        "course.grading.guard.static_problem"),
    "checks_patched_with_setattr": (
        "import course.grading\nsetattr(course.grading, 'check_equal', print)", 2, T, "course.grading"),
    "checks_imported_by_string": (
        "import importlib\nchecks = importlib.import_module('course.grading.checks')", 2, T, "course.grading"),
    "grading_modules_named_in_a_string": (
        "for name in [m for m in sys.modules if m.startswith('course.grad' 'ing')]:\n    pass", 1, T,
        "course.grading"),
    # Patching imported modules, classes and functions
    "torch_function_replaced": (
        "F.conv2d = my_conv2d", 1, T, "torch.nn.functional.conv2d"),
    "torch_allclose_replaced": (
        "torch.allclose = lambda *a, **k: True", 1, T, "torch.allclose"),
    "torch_patched_with_setattr": (
        "setattr(torch, 'isclose', lambda *a, **k: torch.tensor(True))", 1, T, "torch.isclose"),
    "tensor_method_replaced": (
        "torch.Tensor.__eq__ = always_equal", 1, T, "torch.Tensor.__eq__"),
    "module_namespace_written": (
        "F.__dict__['conv2d'] = my_conv2d", 1, T, "torch.nn.functional"),
    "module_namespace_updated": (
        "vars(torch).update(isclose=fake)", 1, T, "torch"),
    "function_imported_from_torch_patched": (
        "from torch.nn.functional import conv2d\nconv2d.__wrapped__ = conv2d_naive", 2, T, "__wrapped__"),
    "reference_replaced": (
        "import course.conv\ncourse.conv.conv2d = conv2d_naive", 2, T, "course.conv.conv2d"),
    "builtin_replaced": (
        "import builtins\nbuiltins.isinstance = lambda *a: True", 2, T, "builtins.isinstance"),
    "builtins_dict_written": (
        "__builtins__['__import__'] = fake_import", 1, T, "builtins"),
    "builtin_replaced_with_setattr": (
        "import builtins\nsetattr(builtins, 'print', fake)", 2, T, "builtins.print"),
    "math_isclose_replaced": (
        "math.isclose = lambda *a, **k: True", 1, T, "math.isclose"),
    "rebinding_in_a_comprehension_does_not_hide_the_module": (
        "[F for F in [0]]\nF.conv2d = my_conv2d", 2, T, "torch.nn.functional.conv2d"),
    "conditional_rebinding_does_not_hide_the_module": (
        "if False:\n    F = None\nF.conv2d = my_conv2d", 3, T, "torch.nn.functional.conv2d"),
    "function_using_a_name_imported_later": (
        "def patch():\n    mods.pop('course.conv')\n\n\nfrom sys import modules as mods\npatch()", 2, T,
        "sys.modules"),
    "torch_function_mode": (
        "from torch.overrides import TorchFunctionMode", 1, T, "torch.overrides"),
    "torch_library": (
        "import torch.library\nlib = torch.library.Library('aten', 'IMPL')", 1, T, "torch.library"),
    # Frames and code objects
    "getframe": (
        "import sys\nframe = sys._getframe(1)", 2, T, "_getframe"),
    "currentframe_imported_under_another_name": (
        "from inspect import currentframe as here\ng = here().f_back.f_globals", 1, T, "currentframe"),
    "currentframe_alias_used": (
        "from inspect import currentframe as here\ng = here().f_back.f_globals", 2, T, "f_back"),
    "stack_in_a_function": (
        "def peek():\n    import inspect\n    return inspect.stack()[1].frame.f_locals", 3, T, "f_locals"),
    "traceback_frame": (
        "try:\n    1 / 0\nexcept Exception as error:\n    caller = error.__traceback__.tb_frame.f_back", 4, T,
        "tb_frame"),
    "gc_get_objects": (
        "import gc\nfor obj in gc.get_objects():\n    pass", 2, T, "gc.get_objects"),
    "gc_get_referrers": (
        "import gc\nholders = gc.get_referrers(check_equal)", 2, T, "get_referrers"),
    "code_replaced": (
        "check_tensor_close.__code__ = (lambda *a, **k: None).__code__", 1, T, "__code__"),
    "function_globals_written": (
        "check_equal.__globals__['_fail'] = lambda *a: None", 1, T, "__globals__"),
    "closure_read": (
        "value = f.__closure__[0].cell_contents", 1, T, "__closure__"),
    "frame_attribute_fetched_by_name": (
        "caller = getattr(frame, 'f_back')", 1, T, "f_back"),
    "reference_code_copied": (
        "import types, course.conv\nmine = types.FunctionType(course.conv.conv2d.__code__, globals())", 2, T,
        "course.conv.conv2d.__code__"),
    "code_origin_disguised": (
        "code = my_code.replace(co_filename='<ipython-input-3>')", 1, T, "co_filename"),
    "ctypes": (
        "import ctypes", 1, T, "ctypes"),
    "settrace": (
        "import sys\nsys.settrace(tracer)", 2, T, "settrace"),
    "threading_settrace": (
        "import threading\nthreading.settrace(tracer)", 2, T, "settrace"),
    "setprofile": (
        "sys.setprofile(profiler)", 1, T, "setprofile"),
    # Reading the course's source, the hidden tests, the solutions
    "getsource_of_the_reference": (
        "import inspect, course.conv\nsource = inspect.getsource(course.conv)", 2, T, "getsource"),
    "exec_of_the_reference_file": (
        "import course.conv\nexec(open(course.conv.__file__).read())", 2, T, "exec"),
    "exec_of_the_reference_source": (
        "import inspect, course.conv\nexec(inspect.getsource(course.conv.conv2d))", 2, T, "getsource"),
    "reference_file_located": (
        "import course.conv\npath = course.conv.__spec__.origin", 2, T, "__spec__"),
    "linecache": (
        "import linecache\nlines = linecache.getlines(path)", 1, T, "linecache"),
    "hidden_tests_read": (
        "text = open('../source/a1_convolutions/a1_convolutions.ipynb').read()", 1, T, "open("),
    "solutions_read_with_pathlib": (
        "from pathlib import Path\nsolution = Path('solutions/a1_convolutions.ipynb').read_text()", 2, T,
        "Path("),
    "course_file_read_with_a_path_method": (
        "text = (here / 'conv.py').read_text()", 1, T, "read_text"),
    "source_folder_listed": (
        "import os\nprint(os.listdir('../../source'))", 2, T, "os.listdir"),
    "hidden_tests_read_by_shell": (
        "!cat ../source/a1_convolutions/a1_convolutions.ipynb", 1, T, "!cat"),
    "reference_run_by_magic": (
        "%run -i ../../course/conv.py", 1, T, "%run"),
    "reference_loaded_by_magic": (
        "%load /opt/course/conv.py", 1, T, "%load"),
    "checks_overwritten_by_writefile": (
        "%%writefile course/grading/checks.py\ndef check_equal(*args):\n    pass", 1, T, "%%writefile"),
    # Code run by exec, magics and expansions is scanned
    "exec_of_built_text": (
        "code = 'im' + 'port sys'\nexec(code)", 2, T, "exec(code)"),
    "eval_of_compiled_text": (
        "result = eval(compile(text, 'x', 'eval'))", 1, T, "eval("),
    "exec_literal_hiding_an_import_hook": (
        "exec('import sys; sys.meta_path.insert(0, Finder())')", 1, T, "meta_path"),
    "exec_through_builtins": (
        "__builtins__.exec(text)", 1, T, "exec"),
    "capture_magic_hiding_a_transformer": (
        "%%capture\nget_ipython().input_transformers_post.append(blank)", 2, T, "input_transformers_post"),
    "time_magic_hiding_a_tracer": (
        "%time sys.settrace(tracer)", 1, T, "settrace"),
    "timeit_setup_hiding_a_pop": (
        "%timeit -n1 -s \"import sys; sys.modules.pop('torch')\" pass", 1, T, "sys.modules"),
    "shell_expansion_hiding_an_import_hook": (
        "!echo {__import__('sys').meta_path.append(Finder())}", 1, T, "meta_path"),
    "magic_expansion_hiding_an_import_hook": (
        "%matplotlib {__import__('sys').meta_path.append(Finder())}", 1, T, "meta_path"),
    "cell_magic_body_lines_counted_from_the_cell": (
        "%%time\nx = 1\n\nimport ctypes", 4, T, "ctypes"),
    "after_blank_lines": (
        "\n\n%matplotlib inline\nimport ctypes", 4, T, "ctypes"),
    "indented_cell": (
        "  x = 1\n  import ctypes", 2, T, "ctypes"),
}

REVIEWS = {
    "exec_of_a_literal": ("exec('x = 1')", 1, "exec('x = 1')"),
    "eval_of_a_literal": ("y = eval('1 + 1')", 1, "eval("),
    "dunder_import": ("m = __import__('math')", 1, "__import__"),
    "import_module_of_a_computed_name": ("import importlib\nm = importlib.import_module(name)", 2,
                                         "import_module"),
    "getattr_with_a_computed_name_on_a_module": ("op = getattr(torch, 'conv' + '2d')", 1, "getattr(torch"),
    "getattr_with_a_computed_name_on_an_alias": ("import torch.nn.functional as G\nop = getattr(G, name)", 2,
                                                 "getattr(G"),
    "os_system": ("import os\nos.system('ls')", 2, "os.system"),
    "subprocess": ("import subprocess\nsubprocess.run(['ls'])", 1, "subprocess"),
    "shell_command": ("!pip install einops", 1, "!pip"),
    "shell_output": ("files = !ls", 1, "!ls"),
    "bash_cell": ("%%bash\necho hello", 1, "%%bash"),
    "open_of_another_file": ("with open('notes.txt') as f:\n    text = f.read()", 1, "open("),
    "writefile_of_another_file": ("%%writefile notes.txt\nhello", 1, "%%writefile"),
    "threads": ("import threading\nthreading.Thread(target=f).start()", 1, "threading"),
    "processes": ("from multiprocessing import Pool", 1, "multiprocessing"),
    "atexit": ("import atexit\natexit.register(f)", 1, "atexit"),
    "finaliser": ("class Sneaky:\n    def __del__(self):\n        pass", 2, "__del__"),
    "subclasses": ("classes = object.__subclasses__()", 1, "__subclasses__"),
    "sys_modules_read": ("names = sorted(sys.modules)", 1, "sys.modules"),
    "sys_path_changed": ("sys.path.insert(0, '..')", 1, "sys.path"),
    "code_object_of_own_function": ("n = conv_output_size.__code__.co_argcount", 1, "__code__"),
    "pickle": ("import pickle\nobj = pickle.loads(blob)", 1, "pickle"),
    "get_ipython": ("ip = get_ipython()", 1, "get_ipython"),
    "ipython_internals": ("from IPython.core import interactiveshell", 1, "IPython"),
    "load_ext": ("%load_ext some_extension", 1, "%load_ext"),
    "unknown_magic": ("%alias_magic t timeit", 1, "%alias_magic"),
    "magic_name_computed": ("get_ipython().run_line_magic(name, '')", 1, "run_line_magic"),
    "globals_written": ("globals()['F'] = None", 1, "globals()"),
    "private_torch_api": ("fn = torch._C._VariableFunctions.conv2d", 1, "torch._C"),
    "tensor_subclass_hook": ("class T:\n    def __torch_function__(self, *a):\n        pass", 2,
                             "__torch_function__"),
    "chdir": ("import os\nos.chdir('/tmp')", 2, "os.chdir"),
    "cd_magic": ("%cd /tmp", 1, "%cd"),
    "builtins_module": ("import builtins\nprint(builtins.len([]))", 1, "builtins"),
    "nbformat": ("import nbformat", 1, "nbformat"),
    "package_data": ("import pkgutil\ndata = pkgutil.get_data('torch', 'version.py')", 1, "pkgutil"),
    "code_module": ("import code\ncode.InteractiveInterpreter().runsource(text)", 1, "code"),
}


def check_finding(findings, cell, line, severity, text):
    at = [f for f in findings if f.cell == cell and f.line == line]
    assert at, f"nothing found at cell {cell} line {line}; found:\n{show(findings)}"
    assert max(f.severity is T for f in at) == (severity is T), show(at)
    assert any(f.severity is severity and text in f.what for f in at), \
        f"no {severity} finding naming {text!r} at cell {cell} line {line}:\n{show(at)}"
    for f in at:
        assert f.grade_id == "answer1"
        assert f.source and len(f.source) <= 100


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_tampered(name):
    source, line, severity, text = ATTACKS[name]
    findings = findings_of(HONEST, source)     # cell 0 setup, 1 markdown, 2 honest, 3 the attack
    check_finding(findings, 3, line, severity, text)
    assert not [f for f in findings if f.cell != 3], show(findings)


@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_obfuscation_needs_review(name):
    source, line, text = REVIEWS[name]
    findings = findings_of(HONEST, source)
    check_finding(findings, 3, line, R, text)
    assert all(f.severity is R for f in findings), show(findings)


def test_patterns_table_is_in_the_docstring():
    doc = " ".join(scan.__doc__.split())
    for patterns, severity, explanation in scan.PATTERNS:
        assert severity in (T, R, None)
        assert explanation
        for pattern in patterns:
            assert f"``{pattern.split('{')[0]}" in doc, pattern


def test_every_row_can_fire_or_is_an_exception():
    """Every pattern of the table is reachable: the attacks and reviews above name a row each."""
    whats = " ".join(f.what for name in ATTACKS for f in findings_of(ATTACKS[name][0]))
    whats += " ".join(f.what for name in REVIEWS for f in findings_of(REVIEWS[name][0]))
    unused = [explanation for _, severity, explanation in scan.PATTERNS
              if severity is not None and explanation not in whats]
    assert not unused, unused


# --------------------------------------------------------------------------
# Honest code gives no finding
# --------------------------------------------------------------------------

HARMLESS = {
    "magics": "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n"
              "%config InlineBackend.figure_format = 'retina'",
    "help": "conv_output_size?\nF.conv2d??",
    "timing": "%time y = conv_output_size(28, 3)\n%timeit -n 3 conv_output_size(28, 3)",
    "timing_cell": "%%timeit\nconv_output_size(28, 3)",
    "capture_cell": "%%capture output\nprint('hello')",
    "display": "from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))",
    "settings": "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (6, 4)\n"
                "plt.rcParams.update({'font.size': 9})\ntorch.backends.cudnn.benchmark = True\n"
                "import os\nos.environ['OMP_NUM_THREADS'] = '1'",
    "models": "import torch.nn as nn\nmodel = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval()\n"
              "model[0].bias = None\nfor p in model.parameters():\n    p.requires_grad = False\n"
              "x = torch.randn(1, 1, 8, 8, requires_grad=True)\nx.grad = None",
    "names_rebound_at_module_level": "from course import conv\nconv = torch.nn.Conv2d(1, 1, 3)\n"
                                     "conv.bias = None\nconv.weight.data.fill_(1)",
    "parameters_shadowing_modules": "def f(F, torch):\n    F.x = 1\n    torch.y = 2\n    return F",
    "attributes_in_classes": "class Box:\n    def __init__(self, **kw):\n        for k, v in kw.items():\n"
                             "            setattr(self, k, v)\n    def get(self, name):\n"
                             "        return getattr(self, name)",
    "methods_named_like_builtins": "model = torch.nn.Linear(2, 2)\nmodel.eval()\n"
                                   "import re\npattern = re.compile('x')\nfast = torch.compile",
    "numpy_functions_named_like_mutators": "import numpy as np\na = np.append(np.zeros(2), 1)\n"
                                           "b = np.insert(a, 0, 5)\nimport os.path\nos.path.join('a', 'b')",
    "math_and_warnings": "import warnings\nwarnings.filterwarnings('ignore')\nmath.isclose(1.0, 1.0)",
    "checks_imported_again": "from course.grading import check_equal, check_tensor_close\n"
                             "from course.grading.checks import check_close\ncheck_equal('x', 1, 1)",
    "course_library": "from course import conv, viz\nimport course.complexity\n"
                      "y = course.complexity.conv_cost(3, 4, 10, 128)",
    "string_mentioning_words": "print('the source of the photo, the solutions of exercise 1')\n"
                               "title = 'course'",
    "docstring_mentioning_the_grader": 'def f():\n    """Not course.grading: my own f_back."""\n    return 1',
    "gc_collect": "import gc\ngc.collect()",
    "inspect_signature": "import inspect\nprint(inspect.signature(conv_output_size))",
    "collections": "from collections import OrderedDict\nlayers = OrderedDict()\nlayers.update(a=1)\n"
                   "layers.pop('a')",
}


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_code_gives_no_finding(name):
    findings = findings_of(HONEST, HARMLESS[name])
    assert not findings, show(findings)


def code_cells(path):
    nb = nbformat.read(str(path), as_version=4)
    return nb, [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


@pytest.mark.parametrize("path", [SOLUTION, RELEASE], ids=lambda p: p.parent.name + "/" + p.name)
def test_assignment_notebooks_give_no_finding(path):
    nb, cells = code_cells(path)
    assert cells
    findings = scan_notebook(nb)      # every cell scanned, the setup cell included
    assert not findings, show(findings)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_code_gives_no_finding(path):
    """Students copy lecture code into their notebooks: none of it may be reported."""
    nb, cells = code_cells(path)
    findings = scan_notebook(nb)
    for finding in findings:
        print(f"{path.name}: {finding}")
    assert not [f for f in findings if f.severity is T], show(findings)
    assert not findings, show(findings)


def test_lectures_exist():
    assert len(LECTURES) >= 5


def wrong_answers():
    return json.loads((A1 / "wrong_answers.json").read_text())


@pytest.mark.parametrize("entry", [e for e in wrong_answers() if not e["name"].startswith("cheat")],
                         ids=lambda e: e["name"])
def test_wrong_answers_give_no_finding(entry):
    findings = findings_of(entry["source"])
    assert not findings, show(findings)


def test_catalogue_cheat_that_tampers_is_tampered():
    entry = next(e for e in wrong_answers() if e["name"] == "cheat_tamper")
    findings = findings_of(entry["source"])
    assert findings and all(f.severity is T for f in findings), show(findings)
    assert any("course.grading" in f.what for f in findings)
    assert any("course.conv.conv2d" in f.what for f in findings)
    assert any("check_tensor_close" in f.what for f in findings)


def test_catalogue_cheats_using_the_reference_are_left_to_the_guard():
    """Calling the reference or the torch op is the guard's business (no points for the part),
    not an attack on the grader: the scan says nothing."""
    for name in ("cheat_reference_wrapper", "cheat_torch_op", "cheat_alias"):
        entry = next(e for e in wrong_answers() if e["name"] == name)
        assert not findings_of(entry["source"]), name


# --------------------------------------------------------------------------
# Instructor cells, syntax errors, the notebook's shape
# --------------------------------------------------------------------------

def test_instructor_cells_are_not_reported_but_their_imports_are_followed():
    setup = SETUP + "import sys\nsys.modules.pop('nothing', None)\nimport sys as s\n"
    nb = notebook("s.meta_path.append(Finder())", setup=setup)
    findings = scan_notebook(nb, {"setup"})
    assert [(f.cell, f.line) for f in findings] == [(2, 1)], show(findings)
    assert "sys.meta_path" in findings[0].what
    everything = scan_notebook(nb)
    assert {f.cell for f in everything} == {0, 2}, show(everything)


def test_source_notebook_locked_cells_are_instructor_cells():
    """The source notebook's hidden tests do what an attack does (pop course.grading from
    sys.modules): reported when scanned, silent as the locked cells they are."""
    nb = nbformat.read(str(A1 / "a1_convolutions.ipynb"), as_version=4)
    locked = {cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
              if cell.metadata.get("nbgrader", {}).get("locked")}
    assert locked
    assert not scan_notebook(nb, locked)
    assert any(f.severity is T and "sys.modules" in f.what for f in scan_notebook(nb))


def test_cell_that_does_not_parse_gives_no_finding():
    findings = findings_of("def f(:\n    sys.meta_path.append(x)", "import ctypes")
    assert [(f.cell, f.line) for f in findings] == [(3, 1)], show(findings)


def test_markdown_and_raw_cells_are_not_code():
    nb = notebook(HONEST)
    nb.cells.append(nbformat.v4.new_markdown_cell("```python\nimport ctypes\n```"))
    nb.cells.append(nbformat.v4.new_raw_cell("import ctypes"))
    assert not scan_notebook(nb, {"setup"})


def test_plain_json_notebook_and_cells_without_metadata():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["import sys\n", "sys.settrace(f)\n"],
                     "outputs": [], "execution_count": None},
                    {"cell_type": "code", "source": None}, "not a cell"]}
    findings = scan_notebook(nb)
    assert [(f.cell, f.line, f.grade_id) for f in findings] == [(0, 2, None)]
    assert scan_notebook({"cells": "nonsense"}) == [] and scan_notebook({}) == []


def test_one_finding_per_explanation_and_line_and_reviews_dropped_next_to_tampering():
    findings = findings_of("import sys; sys.modules.pop('torch'); x = sys.modules")
    assert findings and all(f.severity is T for f in findings), show(findings)
    explanations = [f.what.split(": ", 1)[1] for f in findings]
    assert len(explanations) == len(set(explanations))


def test_deeply_nested_code_does_not_break_the_scan():
    findings = findings_of("x = " + "(" * 150 + "1" + ")" * 150, "y = " + " + ".join(["1"] * 3000),
                           "import ctypes")
    assert any(f.cell == 4 and f.severity is T for f in findings), show(findings)


def test_finding_is_frozen():
    finding = findings_of("import ctypes")[0]
    assert isinstance(finding, Finding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 3


# --------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------

def test_describe_names_cells_lines_and_what():
    findings = findings_of(HONEST, "import sys\nsys.meta_path.insert(0, Finder())")
    text = describe(findings)
    assert text.startswith("The notebook has code that changes how it is graded: ")
    assert "cell 4 (answer1), line 2" in text
    assert "`sys.meta_path.insert(0, Finder())`" in text
    assert "import hook" in text
    assert text.endswith(".") and "\n" not in text


def test_describe_review_only():
    text = describe(findings_of("exec('x = 1')"))
    assert text.startswith("The notebook has code the grader cannot judge on its own: ")
    assert "cell 3 (answer0), line 1" in text


def test_describe_empty():
    assert describe([]) == ""


@pytest.mark.parametrize("limit", [120, 300, 600, 2000])
def test_describe_is_bounded(limit):
    sources = [source for source, *_ in ATTACKS.values()] + [source for source, *_ in REVIEWS.values()]
    findings = findings_of(*sources)
    assert len(findings) > 50
    text = describe(findings, limit=limit)
    assert len(text) <= limit, (len(text), text)
    assert re.search(r"; and \d+ more\.$", text), text
    assert text.startswith("The notebook has code that changes how it is graded")
    # TAMPERED first, one entry per line
    assert "cannot judge" not in text


def test_describe_shortens_a_single_long_entry():
    long_line = "import ctypes; x = " + "1 + " * 200 + "1"
    text = describe(findings_of(long_line), limit=150)
    assert len(text) <= 150 and text.endswith(".")
    assert "cell 3" in text


def test_describe_counts_the_rest():
    findings = findings_of("import ctypes", "import linecache", "import runpy")
    text = describe(findings, limit=130)
    assert len(text) <= 130
    assert text.endswith("; and 2 more.") or text.endswith("; and 1 more."), text
    full = describe(findings)
    assert "cell 3" in full and "cell 4" in full and "cell 5" in full
    assert full.count("; ") == 2
