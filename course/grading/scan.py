"""A static scan of a submission's code for attacks on the grading machinery.

Grading runs the student's notebook in a Jupyter kernel, and anything running
in that kernel can be rewritten by the student's code. This scan runs in the
grader's own process, on the submitted notebook's source text (which the
kernel cannot alter), before anything is executed. It reads every code cell
the student could write or edit (not the locked instructor cells, whose
source the grader restores from the gradebook anyway), turns IPython syntax
(``%magic``, ``!shell``, ``obj?``) into Python with IPython's own
``TransformerManager``, parses it with :mod:`ast` and walks the tree. A cell
that does not parse gives no finding: it fails when it runs.

:func:`scan_notebook` returns :class:`Finding` objects; :func:`describe`
turns them into one reason sentence for the export and the feedback.

Severity
--------
- ``TAMPERED``: code that attacks the grading itself, every attack seen so far:
  IPython's input or AST transformers (they blank or wrap every later cell),
  replacing ``run_cell``/``transform_cell``, import hooks serving a fake
  ``course.grading.checks``, patching the checks, the guard, the reference or
  ``torch`` (``F.conv2d = ...``, ``torch.isclose = ...``), ``exec`` of
  ``course/conv.py``'s text so the reference counts as notebook code, reading
  the hidden tests or the solutions from disk, reaching the grader's frames.
  An honest answer needs none of it, so such a finding is an attack until an
  instructor says otherwise.
- ``NEEDS_REVIEW``: obfuscation primitives and escape hatches that an honest
  student of this course does not need but that are not attacks by
  themselves (``exec`` of a string literal, ``__import__``, ``getattr`` with a
  computed name, shell commands, threads, opening files): an instructor reads
  the lines named.
- Honest code (the solutions, the lectures, the catalogued wrong answers)
  produces no finding at all; the tests check it.

How names are followed
----------------------
Imports and simple assignments are followed through every cell in notebook
order, the instructor cells included (``F`` comes from the setup cell), so
``import sys as s; s.meta_path``, ``from sys import modules; modules.pop(x)``,
``ip = get_ipython(); ip.ast_transformers`` and ``getattr(sys, "meta_path")``
are recognised. ``sys``, ``get_ipython`` and ``__builtins__`` are known
without an import (the hidden tests import ``sys`` into the namespace). A
module-level rebinding replaces a name's meaning; one inside ``if``, ``for``,
``try``... adds to it; inside a function a global name means everything it was
ever bound to. Attribute names that only the machinery uses
(``input_transformers_post``, ``meta_path``, ``f_back``...) are matched whatever
the object they are taken from, and also as string literals (``getattr(x,
"f_back")``). The code run by ``%time``, ``%timeit``, ``%prun``, ``%debug``,
``%%capture``, the ``{expressions}`` IPython expands in magics and shell
commands, and string literals given to ``exec``, ``eval`` or ``compile``
are scanned as code too.

Patterns
--------
How to read a pattern: ``.name`` is an attribute of that name taken from any
object (``.a.b``: the attribute chain ending so), ``.name =`` assigning or
deleting it; a dotted name (``sys.modules``, ``course.grading``) is what an
expression refers to after following imports and aliases, including anything
under it and importing it (``*`` and ``{a,b}`` as in file names); ``X =`` is
writing into ``X``: assigning or deleting an attribute or an item, ``setattr``,
or a mutating method (``pop``, ``update``...) of a table such as
``sys.modules``; ``def name`` is defining a function of that name. When several
dotted patterns match, the longest wins; ``(allowed)`` rows are exceptions.

=============================================  ============  ===========================================
Pattern                                        Severity      Why
=============================================  ============  ===========================================
**IPython and Jupyter**
``.input_transformers_cleanup``,               TAMPERED      rewrites the source of every later cell
``.input_transformers_post``,                                before it runs (it can blank the tests)
``.input_transformer_manager``,
``.input_splitter``, ``.prefilter_manager``
``.ast_transformers``                          TAMPERED      rewrites every later cell before it runs
                                                             (empties the tests or wraps them in
                                                             try/except)
``.run_cell``, ``.run_cell_async``,            TAMPERED      replaces or drives IPython's execution of
``.run_ast_nodes``, ``.run_code``,                           cells
``.transform_cell``, ``.transform_ast``
``.events.register``, ``.events.unregister``,  TAMPERED      runs code before or after every later cell
``.events.callbacks``
``.set_custom_exc``, ``.custom_exceptions``,   TAMPERED      changes how errors in cells are handled
``.showtraceback =``, ``.showsyntaxerror =``,                (it can hide failing tests)
``.InteractiveTB``, ``.SyntaxTB``
``.displayhook``, ``.display_pub``,            TAMPERED      changes what cells output (nbgrader reads
``.display_trap``, ``.display_formatter``                    a test cell's output)
``.do_execute``, ``.shell_handlers``,          TAMPERED      replaces the kernel's handling of requests
``.dispatch_shell``
``%config InteractiveShell``,                  TAMPERED      changes the IPython shell that runs every
``IPython.get_ipython() =``                                  cell
``IPython``, ``ipykernel``,                    NEEDS_REVIEW  uses the machinery of IPython or Jupyter
``jupyter_client``, ``zmq``                                  (``get_ipython()`` included)
``IPython.display``                            (allowed)     displaying images or HTML
``nbgrader``, ``nbclient``, ``nbconvert``      TAMPERED      uses the grading tools themselves
``nbformat``                                   NEEDS_REVIEW  reads or writes notebooks
**Imports**
``.meta_path``, ``.path_hooks``,               TAMPERED      an import hook: it can serve fake modules
``.path_importer_cache``, ``def find_spec``,                 (a fake ``course.grading.checks`` or
``def find_module``, ``def exec_module``,                    ``torch``) to the tests
``def load_module``, ``def create_module``,
``importlib.abc``, ``zipimport``
``sys.modules =``                              TAMPERED      removes or replaces loaded modules, so
                                                             that the tests import something else
``sys.modules``                                NEEDS_REVIEW  reads the table of loaded modules
``sys.path =``                                 NEEDS_REVIEW  changes where modules are imported from
``importlib.reload``                           TAMPERED      executes a module again
``importlib.util``, ``importlib.machinery``,   TAMPERED      loads or runs a module's file by hand (how
``importlib._bootstrap``,                                    a copy of the reference becomes notebook
``importlib._bootstrap_external``,                           code)
``.spec_from_file_location``,
``.module_from_spec``, ``runpy``, ``imp``
``builtins.__import__``,                       NEEDS_REVIEW  imports a module whose name is given as
``importlib.import_module(<not a literal>)``                 text
``pkgutil``, ``importlib.resources``           NEEDS_REVIEW  reads files of installed packages
**The course**
``course.grading``                             TAMPERED      touches the grading package (its checks
                                                             or its guard)
``course.grading.{check_*,CheckFailure,``      (allowed)     the checks, imported as the assignment's
``NotYourOwnCode,warnings_to_stdout,``                       first cell does (and the lectures'
``show_not_attempted,passed,self_check,``                    self-checks)
``self_check_function}``,
``course.grading.checks.{...}``
``"course.grading"``                           TAMPERED      names the grading package in a string (to
                                                             reach it indirectly)
``course.grading =``                           TAMPERED      changes the grading package (its checks or
                                                             its guard)
``course =``                                   TAMPERED      changes the course library (the reference
                                                             the tests compare with)
``course.*.__code__``                          TAMPERED      copies the code of the course's reference
**Patching**
``<imported name>.x =``                        TAMPERED      changes an imported module, class or
                                                             function (``F.conv2d = ...``,
                                                             ``setattr(torch, ...)``) for every later
                                                             cell, the tests included
``builtins =``                                 TAMPERED      changes a built-in (``builtins.x = ...``,
                                                             ``__builtins__[...] = ...``)
``torch.backends =``,                          (allowed)     settings
``matplotlib.rcParams =``,
``matplotlib.pyplot.rcParams =``,
``os.environ =``, ``pandas.options =``
``builtins``                                   NEEDS_REVIEW  uses the builtins module directly
``builtins.{exec,eval,...}``                   (allowed)     the built-in functions themselves: judged
                                                             where they are called (below)
``globals() =``                                NEEDS_REVIEW  binds or changes notebook names through
                                                             ``globals()``, out of sight
``getattr(<imported name>, <not a literal>)``  NEEDS_REVIEW  looks up an attribute whose name is
                                                             computed at run time
``torch.library``, ``torch.overrides``,        TAMPERED      intercepts or re-registers PyTorch
``torch.utils._python_dispatch``                             operations (``torch.isclose``, which the
                                                             checks use)
``torch._C``                                   NEEDS_REVIEW  PyTorch's private C API (operations the
                                                             guard cannot replace)
``def __torch_function__``,                    NEEDS_REVIEW  a tensor type that intercepts PyTorch
``def __torch_dispatch__``                                   calls
**Frames and code objects**
``._getframe``, ``._current_frames``,          TAMPERED      reaches stack frames, and so the
``.currentframe``, ``inspect.stack``,                        variables of the grader's code
``inspect.trace``, ``inspect.getouterframes``,
``inspect.getinnerframes``,
``traceback.walk_stack``, ``.f_back``,
``.f_globals``, ``.f_locals``, ``.f_builtins``,
``.tb_frame``, ``.gi_frame``, ``.cr_frame``,
``.ag_frame``
``gc.get_objects``, ``.get_referrers``,        TAMPERED      finds live objects of the grader by
``.get_referents``                                           walking memory
``.__globals__``, ``.__closure__``,            TAMPERED      reads or changes the variables of another
``.cell_contents``                                           function (the checks', the guard's)
``.__code__ =``                                TAMPERED      replaces the code of a function
``.__wrapped__ =``                             TAMPERED      makes the guard inspect another function
                                                             than the one that runs
``co_filename=``                               TAMPERED      disguises where a code object comes from
``ctypes``                                     TAMPERED      writes to the interpreter's memory
``.settrace``, ``.setprofile``,                TAMPERED      runs code on every line, call or event,
``.settrace_all_threads``,                                   the tests' included
``.setprofile_all_threads``,
``sys.monitoring``, ``sys.addaudithook``
``.__code__``, ``types.FunctionType``,         NEEDS_REVIEW  builds functions from code objects
``types.CodeType``, ``marshal``
``pickle``, ``dill``, ``cloudpickle``          NEEDS_REVIEW  unpickling runs code hidden in data
``.__subclasses__``                            NEEDS_REVIEW  reaches classes without importing them
**Source files**
``.getsource``, ``.getsourcelines``,           TAMPERED      reads source files (the reference's, the
``.getsourcefile``, ``.findsource``,                         checks' or the tests')
``inspect.getfile``, ``inspect.getabsfile``,
``linecache``
``.__file__``, ``.__spec__``,                  TAMPERED      locates a module's source file (to read or
``.__loader__``, ``.__cached__``                             run the reference)
``open(<course file>)``                        TAMPERED      opens, lists or changes files of the
                                                             course, the assignments, the solutions
                                                             or the gradebook (``open``, ``Path``,
                                                             ``os.listdir``, ``shutil``...: a string
                                                             argument names ``course``, ``source``,
                                                             ``solutions``, ``.py``, ``.ipynb``...)
``open(<other file>)``, ``.read_text``,        NEEDS_REVIEW  reads or writes a file
``.read_bytes``, ``.write_text``,
``.write_bytes``
**Running code**
``exec(<not a literal>)``                      TAMPERED      runs code built at run time (``exec``,
                                                             ``eval`` or ``compile``), which cannot be
                                                             read here
``exec("...")``                                NEEDS_REVIEW  runs code given as a string literal (it is
                                                             scanned too)
``code``, ``codeop``                           NEEDS_REVIEW  runs code given as text
**Processes, background code, magics**
``!command``, ``%%bash``, ``os.system``,       NEEDS_REVIEW  runs a shell command or another program
``os.popen``, ``os.exec*``, ``os.spawn*``,
``os.posix_spawn*``, ``os.fork*``,
``subprocess``, ``pty``
``%magic <course file>``                       TAMPERED      a magic or shell command that runs, reads
                                                             or writes files of the course, the
                                                             assignments or the solutions
``%run``, ``%load``, ``%%writefile``           NEEDS_REVIEW  runs, reads or writes a file
``threading``, ``_thread``,                    NEEDS_REVIEW  runs code in the background, possibly
``multiprocessing``, ``concurrent``,                         while the tests run
``asyncio``
``atexit``, ``weakref.finalize``,              NEEDS_REVIEW  runs code at a moment of its own choosing
``def __del__``
``os.chdir``, ``%cd``                          NEEDS_REVIEW  changes the working folder
``%load_ext``                                  NEEDS_REVIEW  loads an IPython extension (it can
                                                             rewrite every later cell)
``%<other magic>``                             NEEDS_REVIEW  a magic the scan does not know
``%matplotlib``, ``%time``, ``%timeit``,       (allowed)     harmless magics (the code that ``%time``
``%%capture``, ``obj?``                                      and friends run is scanned)
=============================================  ============  ===========================================

Judgement calls: reading ``sys.modules``, ``__code__`` or ``builtins`` is
only suspicious (NEEDS_REVIEW); writing them is an attack (TAMPERED).
``signal`` handlers are left out (an interrupt that is ignored is handled by
the cell timeout). Writing a ``.py`` file counts as an attack (a module the
tests could import instead of the real one), like reading one.

What it cannot catch: code hidden from a static reading (``exec`` of text
built at run time, ``getattr`` with a computed name, unpickling) is reported
for review, not understood; names bound out of sight (through ``globals()``)
are not followed. The other defences (the in-kernel guard, hidden tests run
with fresh copies of the checks and the reference, tests run outside the
kernel) still apply.
"""
from __future__ import annotations

import ast
import collections
import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import TypeAlias

from course.grading.statuses import Status

__all__ = ["Finding", "PATTERNS", "scan_notebook", "describe"]

T = Status.TAMPERED
R = Status.NEEDS_REVIEW

#: The patterns: (patterns, severity, explanation); severity None marks an allowed exception.
#: The module docstring shows the same table.
PATTERNS: tuple[tuple[tuple[str, ...], Status | None, str], ...] = (
    # IPython and Jupyter
    ((".input_transformers_cleanup", ".input_transformers_post", ".input_transformer_manager",
      ".input_splitter", ".prefilter_manager"), T,
     "IPython input transformers rewrite the source of every later cell before it runs "
     "(they can blank the tests)"),
    ((".ast_transformers",), T,
     "IPython AST transformers rewrite every later cell before it runs (they can empty the tests "
     "or wrap them in try/except)"),
    ((".run_cell", ".run_cell_async", ".run_ast_nodes", ".run_code", ".transform_cell", ".transform_ast"), T,
     "replaces or drives IPython's execution of cells"),
    ((".events.register", ".events.unregister", ".events.callbacks"), T,
     "an IPython event callback runs code before or after every later cell"),
    ((".set_custom_exc", ".custom_exceptions", ".showtraceback =", ".showsyntaxerror =",
      ".InteractiveTB", ".SyntaxTB"), T,
     "changes how errors in cells are handled (it can hide failing tests)"),
    ((".displayhook", ".display_pub", ".display_trap", ".display_formatter"), T,
     "changes what cells output (nbgrader reads a test cell's output)"),
    ((".do_execute", ".shell_handlers", ".dispatch_shell"), T,
     "replaces the kernel's handling of execution requests"),
    (("%config InteractiveShell", "IPython.get_ipython() ="), T,
     "changes the IPython shell that runs every cell"),
    (("IPython", "ipykernel", "jupyter_client", "zmq"), R,
     "uses the machinery of IPython or Jupyter (the shell that runs the cells)"),
    (("IPython.display",), None, "displaying images or HTML: harmless"),
    (("nbgrader", "nbclient", "nbconvert"), T, "uses the grading tools themselves"),
    (("nbformat",), R, "reads or writes notebooks (the assignment's, say)"),
    # Imports
    ((".meta_path", ".path_hooks", ".path_importer_cache", "def find_spec", "def find_module",
      "def exec_module", "def load_module", "def create_module", "importlib.abc", "zipimport"), T,
     "an import hook, which can serve fake modules (a fake course.grading.checks or torch) to the tests"),
    (("sys.modules =",), T, "removes or replaces loaded modules, so that the tests import something else"),
    (("sys.modules",), R, "reads the table of loaded modules"),
    (("sys.path =",), R, "changes where modules are imported from"),
    (("importlib.reload",), T, "executes a module again (a changed or copied reference)"),
    (("importlib.util", "importlib.machinery", "importlib._bootstrap", "importlib._bootstrap_external",
      ".spec_from_file_location", ".module_from_spec", "runpy", "imp"), T,
     "loads or runs a module's file by hand (how a copy of the reference becomes notebook code)"),
    (("builtins.__import__", "importlib.import_module(<not a literal>)"), R,
     "imports a module whose name is given as text"),
    (("pkgutil", "importlib.resources"), R, "reads files of installed packages"),
    # The course
    (("course.grading",), T, "touches the grading package (its checks or its guard)"),
    (("course.grading.{check_*,CheckFailure,NotYourOwnCode,warnings_to_stdout,show_not_attempted,passed,"
      "self_check,self_check_function}",
      "course.grading.checks.{check_*,CheckFailure,NotYourOwnCode,warnings_to_stdout,show_not_attempted,passed,"
      "self_check,self_check_function}"),
     None,
     "the checks, imported as the assignment's first cell does (and the lectures' self-checks)"),
    (('"course.grading"',), T, "names the grading package in a string (to reach it indirectly)"),
    (("course.grading =",), T, "changes the grading package (its checks or its guard)"),
    (("course =",), T, "changes the course library (the reference the tests compare with)"),
    (("course.*.__code__",), T, "copies the code of the course's reference"),
    # Patching
    (("<imported name>.x =",), T,
     "changes an imported module, class or function for every later cell, the tests included"),
    (("builtins =",), T, "changes a built-in for every later cell, the tests included"),
    (("torch.backends =", "matplotlib.rcParams =", "matplotlib.pyplot.rcParams =", "os.environ =",
      "pandas.options ="), None, "settings"),
    (("builtins",), R, "uses the builtins module directly"),
    (("builtins.{exec,eval,compile,open,getattr,setattr,delattr,vars,globals,locals}",), None,
     "the built-in functions themselves: judged where they are called"),
    (("globals() =",), R, "binds or changes notebook names through globals(), out of sight"),
    (("getattr(<imported name>, <not a literal>)",), R,
     "looks up an attribute whose name is computed at run time (it hides what is used)"),
    (("torch.library", "torch.overrides", "torch.utils._python_dispatch"), T,
     "intercepts or re-registers PyTorch operations (torch.isclose, which the checks use, say)"),
    (("torch._C",), R, "PyTorch's private C API (operations the guard cannot replace)"),
    (("def __torch_function__", "def __torch_dispatch__"), R, "a tensor type that intercepts PyTorch calls"),
    # Frames and code objects
    (("._getframe", "._current_frames", ".currentframe", "inspect.stack", "inspect.trace",
      "inspect.getouterframes", "inspect.getinnerframes", "traceback.walk_stack", ".f_back", ".f_globals",
      ".f_locals", ".f_builtins", ".tb_frame", ".gi_frame", ".cr_frame", ".ag_frame"), T,
     "reaches stack frames, and so the variables of the grader's code"),
    (("gc.get_objects", ".get_referrers", ".get_referents"), T,
     "finds live objects of the grader by walking memory"),
    ((".__globals__", ".__closure__", ".cell_contents"), T,
     "reads or changes the variables of another function (the checks', the guard's)"),
    ((".__code__ =",), T, "replaces the code of a function"),
    ((".__wrapped__ =",), T, "makes the guard inspect another function than the one that runs"),
    (("co_filename=",), T,
     "disguises where a code object comes from (a copy of the reference passed off as notebook code)"),
    (("ctypes",), T, "writes to the interpreter's memory (it can change anything, the checks included)"),
    ((".settrace", ".setprofile", ".settrace_all_threads", ".setprofile_all_threads", "sys.monitoring",
      "sys.addaudithook"), T, "runs code on every line, call or event, the tests' included"),
    ((".__code__", "types.FunctionType", "types.CodeType", "marshal"), R, "builds functions from code objects"),
    (("pickle", "dill", "cloudpickle"), R, "unpickling runs code hidden in data"),
    ((".__subclasses__",), R, "reaches classes without importing them (a way around import checks)"),
    # Source files
    ((".getsource", ".getsourcelines", ".getsourcefile", ".findsource", "inspect.getfile",
      "inspect.getabsfile", "linecache"), T,
     "reads source files (the reference's, the checks' or the tests')"),
    ((".__file__", ".__spec__", ".__loader__", ".__cached__"), T,
     "locates a module's source file (to read or run the reference)"),
    (("open(<course file>)",), T,
     "opens, lists or changes files of the course, the assignments, the solutions or the gradebook"),
    (("open(<other file>)", ".read_text", ".read_bytes", ".write_text", ".write_bytes"), R,
     "reads or writes a file"),
    # Running code
    (("exec(<not a literal>)",), T,
     "runs code built at run time (exec, eval or compile), which cannot be read here"),
    (('exec("...")',), R, "runs code given as a string (exec, eval or compile); the string was scanned too"),
    (("code", "codeop"), R, "runs code given as text"),
    # Processes, background code, magics
    (("!command", "%%bash", "os.system", "os.popen", "os.exec*", "os.spawn*", "os.posix_spawn*", "os.fork*",
      "subprocess", "pty"), R, "runs a shell command or another program"),
    (("%magic <course file>",), T,
     "a magic or shell command that runs, reads or writes files of the course, the assignments or "
     "the solutions"),
    (("%run", "%load", "%%writefile"), R, "runs, reads or writes a file"),
    (("threading", "_thread", "multiprocessing", "concurrent", "asyncio"), R,
     "runs code in the background, possibly while the tests run"),
    (("atexit", "weakref.finalize", "def __del__"), R, "runs code at a moment of its own choosing"),
    (("os.chdir", "%cd"), R, "changes the working folder (where files and modules are looked for)"),
    (("%load_ext",), R, "loads an IPython extension (extensions can rewrite every later cell)"),
    (("%<other magic>",), R, "an IPython magic the scan does not know"),
    (("%matplotlib", "%time", "%timeit", "%%capture", "obj?"), None,
     "harmless magics (the code %time, %timeit, %prun, %debug and %%capture run is scanned)"),
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One suspicious line.

    ``cell`` is the index of the cell in ``nb.cells`` (from 0; :func:`describe`
    counts from 1, as a person does), ``line`` the line in the cell's source
    (from 1), ``source`` that line, shortened.
    """

    cell: int
    grade_id: str | None
    line: int
    source: str
    what: str
    severity: Status


# --------------------------------------------------------------------------
# The table, indexed
# --------------------------------------------------------------------------

class _Row:
    __slots__ = ("pattern", "severity", "explanation")

    def __init__(self, pattern: str, severity: Status | None, explanation: str) -> None:
        self.pattern, self.severity, self.explanation = pattern, severity, explanation


def _expand(pattern: str) -> list[str]:
    """``a.{b,c}`` -> ``[a.b, a.c]``."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    return [expanded for option in match.group(1).split(",")
            for expanded in _expand(pattern[:match.start()] + option + pattern[match.end():])]


_NAME = re.compile(r"[\w.*{},()]+( =)?")
_ROWS: dict[str, _Row] = {}                      # every pattern
_ATTR: dict[tuple[str, ...], _Row] = {}          # attribute chains, read or written
_ATTR_STORE: dict[tuple[str, ...], _Row] = {}    # attribute chains, written
_DEF: dict[str, _Row] = {}
#: the name tables: first component of a dotted name -> [(regex, length, row)]
_Table: TypeAlias = "dict[str, list[tuple[re.Pattern[str], int, _Row]]]"
_READ: _Table = {}
_WRITE: _Table = {}


def _index() -> None:
    for patterns, severity, explanation in PATTERNS:
        for pattern in patterns:
            row = _Row(pattern, severity, explanation)
            _ROWS[pattern] = row
            if pattern.startswith("def "):
                _DEF[pattern[4:]] = row
            elif pattern.startswith("."):
                store = pattern.endswith(" =")
                chain = tuple(pattern.removesuffix(" =")[1:].split("."))
                (_ATTR_STORE if store else _ATTR)[chain] = row
            elif _NAME.fullmatch(pattern):
                store = pattern.endswith(" =")
                table = _WRITE if store else _READ
                for name in _expand(pattern.removesuffix(" =")):
                    glob = ".*".join(re.escape(part) for part in name.split("*"))
                    regex = re.compile(glob + r"(?:\..*)?\Z", re.DOTALL)
                    table.setdefault(name.split(".")[0], []).append((regex, len(name), row))


_index()
# Attribute names that only the machinery uses: also matched as string literals (getattr(x, "f_back")).
_MACHINE_NAMES = {chain[0]: row for chain, row in _ATTR.items() if len(chain) == 1}


def _best(table: _Table, qualified: str) -> _Row | None:
    """The most specific row matching ``qualified``; None if none does."""
    best: _Row | None = None
    length = -1
    for regex, size, row in table.get(qualified.split(".")[0], ()):
        if size > length and regex.match(qualified):
            best, length = row, size
    return best


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

# Names known without an import: the hidden tests import sys; IPython provides get_ipython.
_PRESET = {"get_ipython": "IPython.get_ipython", "__builtins__": "builtins", "sys": "sys"}
# Built-ins followed by name (the others, print or len, are not interesting).
_BUILTINS = {"exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "delattr", "vars",
             "globals", "locals"}
_SHELL = "IPython.get_ipython()"
_GET_IPYTHON = {"IPython.get_ipython", "IPython.core.getipython.get_ipython"}
_MUTATORS = {"pop", "popitem", "clear", "update", "setdefault", "append", "insert", "extend", "remove",
             "__setitem__", "__delitem__"}
# Tables whose mutating methods count as writes (elsewhere np.append is not a write into numpy).
_TABLES = ("sys.modules", "sys.path", "globals()")
_OPENERS = {"builtins.open", "io.open", "io.open_code", "os.open", "codecs.open", "io.FileIO", "tokenize.open",
            "fileinput.input"}
_PATH_FUNCTIONS = re.compile(r"(pathlib|shutil|glob|os\.path)\.\w+|os\.(listdir|scandir|walk|stat|remove|unlink|"
                             r"rename|replace|chmod|makedirs|mkdir|rmdir|symlink|link|truncate|utime)\Z")
_PATH_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "open", "iterdir", "glob", "rglob",
                 "exists", "unlink", "touch", "chmod", "symlink_to"}
# A path of the course library, an assignment, the solutions or the grader's files.
_COURSE_PATH = re.compile(
    r"course[/\\.]grading|gradebook|nbgrader|\.ipynb\b|\.pyc?\b|"
    r"(?:^|[\s/\\'\"=:(])(?:course|assignments|source|solutions|release|autograded|submitted|feedback|"
    r"site-packages|dist-packages)(?:[\s/\\'\")]|\Z)",
    re.IGNORECASE)
_GRADING_STRING = re.compile(r"course[/\\.]grading")

_PY_MAGICS = {"time", "timeit", "prun", "debug", "capture"}      # their code runs in the kernel
_HARMLESS_MAGICS = {"matplotlib", "pinfo", "pinfo2", "pdoc", "pdef", "psearch", "who", "whos", "who_ls",
                    "lsmagic", "magic", "quickref", "precision", "pprint", "xmode", "html", "javascript", "js",
                    "markdown", "latex", "svg", "autoreload", "aimport", "page", "pwd", "colors"}
_FILE_MAGICS = {"run", "load", "loadpy", "pycat", "psource", "pfile", "save", "edit", "writefile", "file",
                "notebook", "logstart", "macro"}
_SHELL_MAGICS = {"!", "system", "sx", "bash", "sh", "script", "python", "python2", "python3", "pypy", "perl",
                 "ruby", "pip", "conda", "mamba", "micromamba", "uv"}
_MAX_DEPTH = 6      # code in strings in code...


def _literal(node: ast.AST | None) -> str | None:
    """The text of a str or bytes literal, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        value = node.value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unparse(node: ast.AST, limit: int = 60) -> str:
    try:
        return _short(ast.unparse(node), limit)
    except Exception:  # pragma: no cover - unparse handles every parsed tree
        return type(node).__name__


def _strings(*nodes: ast.AST | None) -> Iterator[str]:
    for node in nodes:
        if node is None:
            continue
        for child in ast.walk(node):
            text = _literal(child)
            if text is not None:
                yield text


def _braces(text: str) -> list[str]:
    """The ``{expressions}`` IPython expands in a magic's line or a shell command."""
    found: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = i + 1
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                found.append(text[start:i])
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def _transform(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager  # imported on first use: IPython is slow

    return TransformerManager().transform_cell(source)


def _parse(source: str, ipython: bool) -> tuple[ast.Module | None, int]:
    """``(tree, first line)`` of ``source``, or None if it does not parse.

    The tree of ``source`` (IPython syntax turned into Python first) and the line
    of ``source`` its line 1 is (IPython drops leading blank lines).
    """
    lines = source.splitlines()
    lead = 0
    while lead < len(lines) and not lines[lead].strip():
        lead += 1
    code = source
    if ipython:
        try:
            code = _transform(source)
        except Exception:
            code = source
    else:
        lead = 0
    try:
        return ast.parse(code), lead + 1
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None, 0


def _function_names(node: _FunctionNode) -> tuple[set[str], set[str], set[str]]:
    """Names local to a function (assigned in it), and those declared global or nonlocal."""
    local: set[str] = set()
    global_: set[str] = set()
    nonlocal_: set[str] = set()
    args = node.args
    for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
        if arg is not None:
            local.add(arg.arg)
    if isinstance(node, ast.Lambda):
        return local, global_, nonlocal_
    stack: list[ast.AST] = list(node.body)
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.add(child.name)
            continue
        if isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            local.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            local.update((a.asname or a.name.split(".")[0]) for a in child.names if a.name != "*")
        elif isinstance(child, ast.ExceptHandler) and child.name:
            local.add(child.name)
        elif isinstance(child, ast.Global):
            global_.update(child.names)
        elif isinstance(child, ast.Nonlocal):
            nonlocal_.update(child.names)
        stack.extend(ast.iter_child_nodes(child))
    return local - global_ - nonlocal_, global_, nonlocal_


_FunctionNode: TypeAlias = "ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda"


class _Scope:
    __slots__ = ("kind", "names", "locals", "globals", "nonlocals", "depth")

    def __init__(self, kind: str, locals_: Iterable[str] = (), globals_: Iterable[str] = (),
                 nonlocals: Iterable[str] = ()) -> None:
        self.kind = kind                  # module, function, class, comprehension
        self.names: dict[str, frozenset[str]] = {}
        self.locals, self.globals, self.nonlocals = set(locals_), set(globals_), set(nonlocals)
        self.depth = 0                    # nesting in if/for/while/try: bindings there add, not replace


# --------------------------------------------------------------------------
# The scanner
# --------------------------------------------------------------------------

#: where a deferred function body is read: cell, grade_id, lines, base, report, docstrings, depth
_Context: TypeAlias = "tuple[int, str | None, list[str], int, bool, set[int], int]"
#: a function body walked at the end: its node, body, the scopes around it and its context
_Deferred: TypeAlias = "tuple[_FunctionNode, list[ast.stmt] | ast.expr, list[_Scope], _Context]"

class _Scanner(ast.NodeVisitor):

    def __init__(self) -> None:
        self.scopes = [_Scope("module")]
        self.ever: dict[str, frozenset[str]] = {}  # every meaning a module-level name has had
        self.findings: list[Finding] = []
        self.report = False
        self.cell = 0
        self.grade_id: str | None = None
        self.lines: list[str] = []
        self.base = 1                            # the cell line of line 1 of the tree being walked
        self.depth = 0
        self.docstrings: set[int] = set()
        self.deferred: collections.deque[_Deferred] = collections.deque()

    # ---- cells -----------------------------------------------------------

    def scan_cell(self, index: int, grade_id: str | None, source: str, report: bool) -> None:
        self.cell, self.grade_id, self.report = index, grade_id, report
        self.lines = source.splitlines()
        tree, first = _parse(source, ipython=True)
        if tree is None:
            return
        self.base, self.depth = first, 0
        self.docstrings = _docstrings(tree)
        try:
            for statement in tree.body:
                self.visit(statement)
        except RecursionError:
            self.scopes[1:] = []
            self._add_line(first, R, "the cell", "the scan could not read this cell (too deeply nested)")

    def embedded(self, text: str, line: int, ipython: bool) -> bool:
        """Scan ``text``, code found in a string, as if it started on cell line ``line``."""
        if self.depth >= _MAX_DEPTH:
            return False
        tree, first = _parse(text, ipython)
        if tree is None:
            return False
        saved = self.base, self.docstrings
        self.base, self.docstrings = line + first - 1, _docstrings(tree)
        self.depth += 1
        try:
            for statement in tree.body:
                self.visit(statement)
        finally:
            self.depth -= 1
            self.base, self.docstrings = saved
        return True

    # ---- findings --------------------------------------------------------

    def _line(self, node: ast.AST) -> int:
        return self.base + getattr(node, "lineno", 1) - 1

    def _add(self, node: ast.AST, row: _Row | str, thing: str) -> None:
        if isinstance(row, str):
            row = _ROWS[row]
        if row.severity is not None:
            self._add_line(self._line(node), row.severity, thing, row.explanation)

    def _add_line(self, line: int, severity: Status, thing: str, explanation: str) -> None:
        if not self.report:
            return
        line = max(1, min(line, len(self.lines) or 1))
        text = self.lines[line - 1] if self.lines else ""
        self.findings.append(Finding(self.cell, self.grade_id, line, _short(text.strip(), 100),
                                     f"{thing}: {explanation}", severity))

    # ---- names -------------------------------------------------------------

    def _in_function(self) -> bool:
        return any(scope.kind == "function" for scope in self.scopes[1:])

    def lookup(self, name: str) -> frozenset[str]:
        innermost = self.scopes[-1]
        for scope in reversed(self.scopes[1:]):
            if scope.kind == "class" and scope is not innermost:
                continue
            if name in scope.globals:
                break
            if name in scope.nonlocals:
                continue
            if name in scope.names:
                return scope.names[name]
            if name in scope.locals:
                return frozenset()
        if self._in_function():
            if name in self.ever:
                return self.ever[name]
        elif name in self.scopes[0].names:
            return self.scopes[0].names[name]
        return self._preset(name)

    @staticmethod
    def _preset(name: str) -> frozenset[str]:
        if name in _PRESET:
            return frozenset({_PRESET[name]})
        if name in _BUILTINS:
            return frozenset({f"builtins.{name}"})
        return frozenset()

    def bind(self, name: str, meanings: Iterable[str] = frozenset(), walrus: bool = False) -> None:
        scope = self.scopes[-1]
        conditional = False
        if walrus:
            for candidate in reversed(self.scopes):
                if candidate.kind != "comprehension":
                    scope = candidate
                    break
            conditional = True
        if name in scope.globals:
            scope, conditional = self.scopes[0], True
        elif name in scope.nonlocals:
            for candidate in reversed(self.scopes[1:-1]):
                if candidate.kind == "function" and (name in candidate.locals or name in candidate.names):
                    scope = candidate
                    break
            conditional = True
        module = scope is self.scopes[0]
        meanings = frozenset(meanings)
        if conditional or scope.depth:
            before = scope.names.get(name, self._preset(name) if module else frozenset())
            meanings = meanings | before
        scope.names[name] = meanings
        if module:
            self.ever[name] = self.ever.get(name, self._preset(name)) | meanings

    def bind_target(self, target: ast.expr, meanings: frozenset[str] = frozenset()) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, meanings)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.bind_target(element.value if isinstance(element, ast.Starred) else element)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value)

    def resolve(self, node: ast.expr) -> frozenset[str]:
        """What ``node`` refers to: dotted names (``torch.nn.functional``) after imports and aliases."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return frozenset(f"{q}.{node.attr}" for q in self.resolve(node.value))
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        if isinstance(node, ast.Call):
            out: set[str] = set()
            args = node.args
            first = _literal(args[0]) if args else None
            second = _literal(args[1]) if len(args) > 1 else None
            for q in self.resolve(node.func):
                if q in _GET_IPYTHON or q.endswith("InteractiveShell.instance"):
                    out.add(_SHELL)
                elif q in ("builtins.globals", "builtins.locals") or (q == "builtins.vars" and not args):
                    out.add("globals()")
                elif q == "builtins.vars" and args:
                    out.update(f"{p}.__dict__" for p in self.resolve(args[0]))
                elif q == "builtins.getattr" and second is not None:
                    out.update(f"{p}.{second}" for p in self.resolve(args[0]))
                elif q == "importlib.import_module" and first is not None:
                    out.add(first)
                elif q == "builtins.__import__" and first is not None:
                    out.add(first if len(args) > 3 and args[3] else first.split(".")[0])
                elif q in ("sys.modules.get", "sys.modules.__getitem__") and first is not None:
                    out.add(first)
            return frozenset(out)
        if isinstance(node, ast.Subscript):
            key = _literal(node.slice)
            if key is None:
                return frozenset()
            out = set()
            for q in self.resolve(node.value):
                if q == "sys.modules":
                    out.add(key)
                elif q.endswith(".__dict__"):
                    out.add(f"{q[:-9]}.{key}")
                elif q == "builtins":
                    out.add(f"builtins.{key}")
                elif q == "globals()":
                    out.update(self.lookup(key))
            return frozenset(out)
        return frozenset()

    # ---- matching ----------------------------------------------------------

    def check_read(self, node: ast.AST, qualified: Iterable[str], thing: str | None = None) -> None:
        for q in qualified:
            row = _best(_READ, q)
            if row:
                shown = thing or _unparse(node)
                self._add(node, row, shown if shown == q else f"{shown} ({q})")

    def check_write(self, node: ast.AST, qualified: Iterable[str], thing: str) -> None:
        for q in qualified:
            row = _best(_WRITE, q)
            if row is None:
                row = _ROWS["<imported name>.x ="]
            self._add(node, row, f"{thing} (changes {q})")

    def check_chain(self, node: ast.Attribute, chain: list[str], store: bool) -> None:
        for table in ((_ATTR, _ATTR_STORE) if store else (_ATTR,)):
            for size in (1, 2):
                if len(chain) >= size and tuple(chain[-size:]) in table:
                    thing = _unparse(node)
                    resolved = sorted(q for q in self.resolve(node) if q != thing)
                    self._add(node, table[tuple(chain[-size:])],
                              f"{thing} ({resolved[0]})" if resolved else thing)

    def check_import(self, node: ast.AST, module: str, thing: str) -> None:
        if module == "builtins.__import__":
            return
        self.check_read(node, [module], thing)
        if _GRADING_STRING.search(module) is None and module.split(".")[-1] in _MACHINE_NAMES:
            self._add(node, _MACHINE_NAMES[module.split(".")[-1]], thing)

    # ---- statements --------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_import(node, alias.name, f"import {alias.name}")
            if alias.asname:
                self.bind(alias.asname, {alias.name})
            else:
                top = alias.name.split(".")[0]
                self.bind(top, {top})

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            for alias in node.names:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name)
            return
        for alias in node.names:
            if alias.name == "*":
                if node.module not in ("course.grading", "course.grading.checks"):
                    self.check_import(node, node.module, f"from {node.module} import *")
                continue
            qualified = f"{node.module}.{alias.name}"
            self.check_import(node, qualified, f"from {node.module} import {alias.name}")
            self.bind(alias.asname or alias.name, {qualified})

    def _assign(self, targets: list[ast.expr], value: ast.expr | None) -> None:
        if value is not None:
            self.visit(value)
        meanings = self.resolve(value) if value is not None else frozenset()
        for target in targets:
            self.visit(target)
            if isinstance(target, ast.Name):
                self.bind(target.id, meanings)
            elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                    and len(target.elts) == len(value.elts) \
                    and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts):
                for element, part in zip(target.elts, value.elts, strict=False):
                    self.bind_target(element, self.resolve(part))
            else:
                self.bind_target(target)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assign(node.targets, node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self._assign([node.target], node.value)
        else:
            self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        self.visit(node.target)
        if isinstance(node.target, ast.Name):
            self.bind(node.target.id, self.lookup(node.target.id))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.bind(node.target.id, self.resolve(node.value), walrus=True)

    def _conditional(self, *bodies: list[ast.stmt]) -> None:
        scope = self.scopes[-1]
        scope.depth += 1
        try:
            for body in bodies:
                for statement in body:
                    self.visit(statement)
        finally:
            scope.depth -= 1

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        self._conditional(node.body, node.orelse)

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        self._conditional(node.body, node.orelse)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        scope = self.scopes[-1]
        scope.depth += 1
        try:
            self.visit(node.target)
            self.bind_target(node.target)
        finally:
            scope.depth -= 1
        self._conditional(node.body, node.orelse)

    visit_AsyncFor = visit_For

    def visit_Try(self, node: ast.Try) -> None:
        self._conditional(node.body, node.orelse)
        for handler in node.handlers:
            if handler.type is not None:
                self.visit(handler.type)
            scope = self.scopes[-1]
            scope.depth += 1
            try:
                if handler.name:
                    self.bind(handler.name)
            finally:
                scope.depth -= 1
            self._conditional(handler.body)
        for statement in node.finalbody:
            self.visit(statement)

    visit_TryStar = visit_Try

    def visit_Match(self, node: ast.Match) -> None:
        self.visit(node.subject)
        for case in node.cases:
            if case.guard is not None:
                self.visit(case.guard)
            self._conditional(case.body)

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
                self.bind_target(item.optional_vars)
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With

    def _function(self, node: _FunctionNode, body: list[ast.stmt] | ast.expr) -> None:
        """Keep a function's body for the end.

        A function's body runs when it is called, after any later import: it is walked at the
        end (:meth:`finish`), where a global name means everything it was ever bound to.
        """
        args = node.args
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        context = (self.cell, self.grade_id, self.lines, self.base, self.report, self.docstrings, self.depth)
        self.deferred.append((node, body, list(self.scopes), context))

    def finish(self) -> None:
        """Walk the bodies of the functions met so far (and of those they define)."""
        while self.deferred:
            node, body, scopes, context = self.deferred.popleft()
            self.cell, self.grade_id, self.lines, self.base, self.report, self.docstrings, self.depth = context
            local, global_, nonlocal_ = _function_names(node)
            scope = _Scope("function", local, global_, nonlocal_)
            args = node.args
            for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                if arg is not None and arg.arg in local:
                    scope.names[arg.arg] = frozenset()
            saved, self.scopes = self.scopes, scopes + [scope]
            try:
                for statement in body if isinstance(body, list) else [body]:
                    self.visit(statement)
            except RecursionError:
                self._add_line(self._line(node), R, "a function",
                               "the scan could not read this function (too deeply nested)")
            finally:
                self.scopes = saved

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        if node.name in _DEF:
            self._add(node, _DEF[node.name], f"def {node.name}")
        self._function(node, node.body)
        self.bind(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node, node.body)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expression in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(expression)
        self.scopes.append(_Scope("class"))
        try:
            for statement in node.body:
                self.visit(statement)
        finally:
            self.scopes.pop()
        self.bind(node.name)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       elements: list[ast.expr]) -> None:
        self.scopes.append(_Scope("comprehension"))
        try:
            for generator in node.generators:
                self.visit(generator.iter)
                self.visit(generator.target)
                self.bind_target(generator.target)
                for condition in generator.ifs:
                    self.visit(condition)
            for element in elements:
                self.visit(element)
        finally:
            self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    # ---- expressions -------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            meanings = self.lookup(node.id)
            self.check_read(node, meanings)
            for q in meanings:      # from inspect import currentframe as here; here()
                name = q.rsplit(".", 1)[-1]
                if name in _MACHINE_NAMES and not q.startswith("builtins."):
                    self._add(node, _MACHINE_NAMES[name], f"{node.id} ({q})")
            if node.id.startswith("__") and node.id in _MACHINE_NAMES:
                self._add(node, _MACHINE_NAMES[node.id], node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        inner: ast.expr = node
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        chain.reverse()
        store = isinstance(node.ctx, (ast.Store, ast.Del))
        self.check_chain(node, chain, store)
        self.check_read(node, self.resolve(node))
        if store:
            self.check_write(node, [f"{q}.{node.attr}" for q in self.resolve(node.value)], _unparse(node))
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.check_write(node, self.resolve(node.value), _unparse(node))
        self.visit(node.value)
        self.visit(node.slice)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.docstrings:
            return
        if _GRADING_STRING.search(node.value):
            self._add(node, '"course.grading"', repr(_short(node.value, 40)))
        name = node.value.rsplit(".", 1)[-1]
        if name in _MACHINE_NAMES and _MACHINE_NAMES[name].severity is T:
            self._add(node, _MACHINE_NAMES[name], repr(_short(node.value, 40)))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and self._magic_call(node, func):
            return
        called = self.resolve(func)
        args = node.args
        first = args[0] if args else None
        thing = _unparse(node)
        for q in called:
            if q in ("builtins.exec", "builtins.eval", "builtins.compile") and first is not None:
                text = _literal(first)
                if text is None:
                    self._add(node, "exec(<not a literal>)", thing)
                else:
                    self._add(node, 'exec("...")', thing)
                    self.embedded(text, self._line(first), ipython=False)
            elif q in ("timeit.timeit", "timeit.repeat", "timeit.Timer"):
                for text in map(_literal, list(args[:2]) + [k.value for k in node.keywords]):
                    if text is not None:
                        self.embedded(text, self._line(node), ipython=False)
            elif q in ("importlib.import_module", "builtins.__import__") and first is not None:
                text = _literal(first)
                if text is None:
                    if q == "importlib.import_module":
                        self._add(node, "importlib.import_module(<not a literal>)", thing)
                else:
                    self.check_import(node, text, thing)
            elif q in ("builtins.getattr", "builtins.setattr", "builtins.delattr") and first is not None:
                self._attribute_call(node, q, thing)
            elif q in _OPENERS or _PATH_FUNCTIONS.match(q):
                if any(_COURSE_PATH.search(text) for text in _strings(*args, *(k.value for k in node.keywords))):
                    self._add(node, "open(<course file>)", thing)
                elif q in _OPENERS:
                    self._add(node, "open(<other file>)", thing)
        if isinstance(func, ast.Attribute):
            if func.attr in ("__setattr__", "__delattr__") and first is not None:
                if isinstance(func.value, ast.Name) and func.value.id in ("object", "type"):
                    # object.__setattr__(torch, "name", value)
                    targets, name = self.resolve(first), _literal(args[1]) if len(args) > 1 else None
                else:
                    targets, name = self.resolve(func.value), _literal(first)
                self.check_write(node, [f"{q}.{name}" if name else q for q in targets], thing)
            elif func.attr in _MUTATORS:
                tables = [q for q in self.resolve(func.value) if q in _TABLES or q.endswith(".__dict__")]
                self.check_write(node, tables, thing)
            elif func.attr in _PATH_METHODS:
                if any(_COURSE_PATH.search(text) for text in _strings(func.value, *args)):
                    self._add(node, "open(<course file>)", thing)
        for keyword in node.keywords:
            if keyword.arg == "co_filename":
                self._add(node, "co_filename=", thing)
        self.generic_visit(node)

    def _attribute_call(self, node: ast.Call, q: str, thing: str) -> None:
        """getattr, setattr, delattr."""
        target, args = node.args[0], node.args
        name = _literal(args[1]) if len(args) > 1 else None
        receivers = self.resolve(target)
        if q == "builtins.getattr":
            if name is None and receivers:
                self._add(node, "getattr(<imported name>, <not a literal>)", thing)
            return
        if name is not None and (name,) in _ATTR_STORE:
            self._add(node, _ATTR_STORE[(name,)], thing)
        self.check_write(node, [f"{r}.{name}" if name else r for r in receivers], thing)

    # ---- IPython magics ----------------------------------------------------

    def _magic_call(self, node: ast.Call, func: ast.Attribute) -> bool:
        """Judge a magic or a shell command; False when ``node`` is not one.

        A magic is ``get_ipython().run_line_magic(...)``, what IPython turns ``%magic`` into.
        """
        method = func.attr
        direct = isinstance(func.value, ast.Call) and (self.resolve(func.value.func) & _GET_IPYTHON)
        shell = direct or _SHELL in self.resolve(func.value)
        if method not in ("run_line_magic", "run_cell_magic", "magic") and not (
                shell and method in ("system", "getoutput", "system_piped", "system_raw")):
            return False
        texts = [_literal(arg) for arg in node.args]
        if not direct:
            self.visit(func.value)
        read = texts[:3 if method == "run_cell_magic" else 2]  # the arguments used below
        words = [text for text in read if text is not None]
        if not texts or len(words) < len(read):
            self._add(node, "%<other magic>", _unparse(node))
            for arg in node.args:
                self.visit(arg)
            return True
        if method == "run_line_magic":
            self._magic(node, words[0], words[1] if len(words) > 1 else "", None)
        elif method == "run_cell_magic":
            self._magic(node, words[0], words[1] if len(words) > 1 else "", words[2] if len(words) > 2 else "")
        elif method == "magic":
            name, _, line = words[0].lstrip("%").partition(" ")
            self._magic(node, name, line, None)
        else:
            self._magic(node, "!", words[0], None)
        return True

    def _magic(self, node: ast.AST, name: str, line: str, body: str | None) -> None:
        where = self._line(node)
        if name == "!":
            thing = _short(f"!{line}", 60)
        else:
            thing = _short(f"{'%%' if body is not None else '%'}{name} {line}".strip(), 60)
        if name in _PY_MAGICS:
            self._magic_code(line, where)
            if body is not None:
                self.embedded(body, where + 1, ipython=True)
            return
        for expression in _braces(line):
            self.embedded(expression, where, ipython=False)
        text = f"{line}\n{body or ''}"
        if name in _HARMLESS_MAGICS:
            return
        if name == "config":
            if "InteractiveShell" in line or re.match(r"\s*\w*Shell\b", line):
                self._add(node, "%config InteractiveShell", thing)
            elif not line.strip().startswith("InlineBackend"):
                self._add(node, "%<other magic>", thing)
        elif name in ("load_ext", "reload_ext"):
            if line.split() != ["autoreload"]:
                self._add(node, "%load_ext", thing)
        elif name in _FILE_MAGICS or name in _SHELL_MAGICS:
            if _COURSE_PATH.search(text):
                self._add(node, "%magic <course file>", thing)
            else:
                self._add(node, "!command" if name in _SHELL_MAGICS else "%run", thing)
        elif name == "cd":
            self._add(node, "%cd", thing)
        else:
            self._add(node, "%<other magic>", thing)

    def _magic_code(self, line: str, where: int) -> None:
        """The statements of ``%time``, ``%timeit -n 3 ...``.

        The longest part after the options that parses, every quoted option
        (``-s "setup"``) and every ``{expression}``.
        """
        for match in re.finditer(r"(?:^|\s)(?=\S)", line):
            if self.embedded(line[match.end():], where, ipython=False):
                break
        for quoted in re.findall(r'"([^"]*)"|\'([^\']*)\'', line):
            self.embedded(quoted[0] or quoted[1], where, ipython=False)
        for expression in _braces(line):
            self.embedded(expression, where, ipython=False)


# --------------------------------------------------------------------------
# The entry points
# --------------------------------------------------------------------------

def _cells(nb: object) -> list[object]:
    cells = nb.get("cells", []) if isinstance(nb, dict) else getattr(nb, "cells", [])
    return cells if isinstance(cells, list) else []


def _source(cell: dict[str, object]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _grade_id(cell: dict[str, object]) -> str | None:
    metadata = cell.get("metadata") or {}
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def scan_notebook(nb: object, instructor_ids: Iterable[str] = frozenset()) -> list[Finding]:
    """Findings in the code cells of ``nb`` (a notebook node or its JSON as a dict), in cell and line order.

    Cells whose grade_id is in ``instructor_ids`` (the locked instructor cells, restored from the
    gradebook) are not reported, but their imports are followed (``F`` comes from the setup
    cell). On a line with a TAMPERED finding, the NEEDS_REVIEW ones are left out.
    """
    scanner = _Scanner()
    instructor_ids = frozenset(instructor_ids)
    for index, cell in enumerate(_cells(nb)):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        grade_id = _grade_id(cell)
        scanner.scan_cell(index, grade_id, _source(cell), report=grade_id not in instructor_ids)
    scanner.finish()
    by_line: dict[tuple[int, int], list[Finding]] = {}
    for finding in scanner.findings:
        by_line.setdefault((finding.cell, finding.line), []).append(finding)
    result: list[Finding] = []
    for key in sorted(by_line):
        # the general "changes an imported module" last: a line's specific findings say more
        found = sorted(by_line[key], key=lambda f: f.what.endswith(_ROWS["<imported name>.x ="].explanation))
        worst = T if any(f.severity is T for f in found) else R
        explanations: set[str] = set()
        for finding in found:
            explanation = finding.what.split(": ", 1)[-1]
            if finding.severity is worst and explanation not in explanations:
                explanations.add(explanation)
                result.append(finding)
    return result


def describe(findings: Iterable[Finding], limit: int = 600) -> str:
    """One reason sentence naming the cells, lines and what was found ("" for no finding).

    At most ``limit`` characters. TAMPERED findings come first, one entry per line.
    """
    findings = sorted(findings, key=lambda f: (f.severity is not T, f.cell, f.line))
    if not findings:
        return ""
    limit = max(limit, 120)
    head = ("The notebook has code that changes how it is graded: " if findings[0].severity is T
            else "The notebook has code the grader cannot judge on its own: ")
    entries: list[str] = []
    seen: set[tuple[int, int]] = set()
    for finding in findings:
        if (finding.cell, finding.line) in seen:
            continue
        seen.add((finding.cell, finding.line))
        label = f"cell {finding.cell + 1}" + (f" ({finding.grade_id})" if finding.grade_id else "")
        code = _short(finding.source.replace("`", "'"), 60)
        entries.append(f"{label}, line {finding.line} `{code}`: {finding.what}")
    text = head
    for i, entry in enumerate(entries):
        left = len(entries) - i - 1
        ending = f"; and {left} more." if left else "."
        separator = "; " if i else ""
        if len(text) + len(separator) + len(entry) + len(ending) <= limit:
            text += separator + entry
        elif i == 0:
            text += _short(entry, limit - len(text) - len(ending))
        else:
            return text + f"; and {left + 1} more."
    return text + "."
