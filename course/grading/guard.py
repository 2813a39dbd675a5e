"""The anti-reference guard: no points for answering with the reference.

An assignment asks students to write operations that already exist in the
``course`` library (the reference the hidden tests compare with) and in
PyTorch. An answer that calls them instead is correct but earns nothing. The
guard has two halves, both used by :func:`student_function`:

1. **Static** (:func:`static_problem`, behind ``checks.check_is_student_code``),
   before the function runs: the answer must be a Python function defined in
   the notebook (``__module__ == "__main__"``), not the reference itself (by
   identity, by module, or a copy of its ``__code__``). Then its bytecode is
   read: every global or closure name it loads, followed through attribute
   chains (``F.conv2d``, ``torch.nn.functional.conv2d``, ``course.conv.conv2d``),
   its default arguments, the student's own helper functions and classes it
   reaches, and the contents of containers it loads, are matched against the
   forbidden rules. This catches a forbidden function bound before the test
   runs under another name (``from torch.nn.functional import conv2d as c``).

2. **Run time** (:func:`forbidden_calls`), while the answer runs inside a
   hidden test: every forbidden function is replaced *in its module* (for
   example ``torch.nn.functional.conv2d``, ``torch.conv2d``,
   ``torch.ops.aten.conv2d`` and every function of ``course.conv``) by a
   stand-in that records the call and raises :class:`NotYourOwnCode`
   ("this part asks you to write X yourself, not to call Y"). The originals
   are restored afterwards, also when the answer raises or is interrupted.
   A recorded call fails the test even if the answer caught the exception.
   The hidden test computes the expected values outside this context.

A rule (:class:`Rule`) names what a part forbids. The course library is always
forbidden (every function or class defined in ``course`` except
``course.grading`` and ``course._checks``); the others are chosen per part:

    CONVOLUTION             every convolution op (F.conv2d, torch.convolution,
                            nn.Conv2d, torch.ops.aten.conv2d, scipy.signal.correlate2d...)
    TRANSPOSED_CONVOLUTION  conv_transpose*, torch.convolution (it has a
                            ``transposed`` flag), torch.nn.grad.conv2d_input
    UNFOLD                  F.unfold / im2col (allowed where im2col is the lesson)
    MAX_POOL, MAX_UNPOOL    F.max_pool2d (with indices), F.max_unpool2d, ...
    LAYERS                  nn.Conv2d, nn.Linear (for counting parameters by hand)
    NORMALIZATION           F.batch_norm, nn.BatchNorm2d, torch.batch_norm, ... (batch norm by hand)
    TORCHVISION_MODELS      anything of torchvision.models and torchvision.ops (blocks and counts by hand)

An answer may be a class defined in the notebook (an ``nn.Module``): its
bases and its methods are checked as a function's body is, and the class is
instantiated inside :func:`forbidden_calls`.

Typical hidden test::

    import sys; [sys.modules.pop(m) for m in list(sys.modules) if m.startswith("course.grading")]
    from course.grading import guard as _g, checks as _c    # re-read from disk
    _ref = _g.fresh_reference()                              # untouched course.conv, ...
    _f = _g.student_function("conv2d_naive", conv2d_naive, _g.CONVOLUTION + _g.UNFOLD)
    _c.check_tensor_close("conv2d_naive(x, w)", _f(x, w), _ref.conv.conv2d(x, w))

Tampering: a notebook can monkeypatch the checks (``checks.check_tensor_close
= lambda *a: None``) or the reference (``course.conv.conv2d = my_conv2d``).
Hidden tests therefore drop ``course.grading`` from ``sys.modules`` and import
it again (the modules are executed again from their files), and compare with
:func:`fresh_reference`, private copies of the course modules executed from
their files and never registered in ``sys.modules``.

What it cannot catch (it is a deterrent, not a sandbox): code that runs in
the grading kernel can do anything the kernel can. A determined student can
patch ``torch`` itself (``torch.isclose``), the import system
(``sys.meta_path``, ``builtins.__import__``), IPython's cell execution, or the
files of the installed library (grade in a container with a read-only
library); fetch a forbidden function dynamically from an object the run-time
half cannot patch (``getattr(torch._C._VariableFunctions, "conv" + "2d")``,
a read-only C type); or reimplement the op through an unlisted path
(autograd of a convolution, ``torch.fft``, ``Tensor.unfold``, ``as_strided``).
Those are visible in the submitted code: read it.
"""
from __future__ import annotations

import builtins
import contextlib
import dis
import functools
import importlib
import inspect
import itertools
import os
import re
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn, TypeAlias, TypeVar

from course.grading.failures import NotYourOwnCode, short_repr

__all__ = [
    "Rule",
    "COURSE",
    "CONVOLUTION",
    "TRANSPOSED_CONVOLUTION",
    "UNFOLD",
    "MAX_POOL",
    "MAX_UNPOOL",
    "LAYERS",
    "NORMALIZATION",
    "TORCHVISION_MODELS",
    "static_problem",
    "forbidden_calls",
    "student_function",
    "fresh_reference",
]

_COURSE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_GRADING_DIR = os.path.dirname(os.path.abspath(__file__))
# Parts of the course library that answers may use.
_ALLOWED_COURSE_MODULES = ("course.grading", "course._checks")

_MISSING = object()
_T = TypeVar("_T")


# --------------------------------------------------------------------------
# Naming objects
# --------------------------------------------------------------------------

def _attr(obj: object, name: str, default: object = None) -> Any:
    """``getattr`` that never raises (objects may define odd ``__getattr__``)."""
    try:
        return getattr(obj, name, default)
    except Exception:
        return default


def _module_of(obj: object) -> str:
    module = _attr(obj, "__module__")
    return module if isinstance(module, str) else ""


def _name_of(obj: object) -> str:
    name = _attr(obj, "__name__")
    return name if isinstance(name, str) else ""


# Where a forbidden object is looked for to name it as students write it.
_CANONICAL_OWNERS = ("torch.nn.functional", "torch", "torch.nn", "torch.ops.aten", "torch._C._nn",
                     "torch.nn.grad", "scipy.signal", "scipy.ndimage")


def _course_module_of_file(filename: str) -> str:
    """``.../course/conv.py`` -> ``course.conv``."""
    relative = os.path.relpath(os.path.abspath(filename), os.path.dirname(_COURSE_DIR))
    return os.path.splitext(relative)[0].replace(os.sep, ".")


def _label(obj: object) -> str:
    """A dotted name for ``obj``, as students would write it.

    For example ``torch.nn.functional.conv2d``, ``torch.ops.aten.conv2d``, ``course.conv.conv2d``.
    """
    module, name = _module_of(obj), _name_of(obj)
    if isinstance(obj, types.FunctionType) and _is_course_file(obj.__code__.co_filename) \
            and not _is_course_module(module):
        return f"a copy of {_course_module_of_file(obj.__code__.co_filename)}.{obj.__code__.co_name}"
    if name:
        for path in _CANONICAL_OWNERS + ((module,) if module else ()):
            owner = _resolve(path, import_missing=False)
            if owner is not None and _static_attr(owner, name) is obj:
                return f"{path}.{name}"
    qualname = _attr(obj, "__qualname__")
    if isinstance(qualname, str) and "<locals>" not in qualname and module:
        return f"{module}.{qualname}"
    if module and name:
        return f"{module}.{name}"
    return name or short_repr(obj)


def _is_course_module(name: str) -> bool:
    if name != "course" and not name.startswith("course."):
        return False
    return not any(name == allowed or name.startswith(allowed + ".")
                   for allowed in _ALLOWED_COURSE_MODULES)


def _is_course_file(filename: object) -> bool:
    """Is ``filename`` a source file of the course library (outside the allowed modules)?"""
    if not isinstance(filename, str):
        return False
    path = os.path.abspath(filename)
    return path.startswith(_COURSE_DIR + os.sep) and _is_course_module(_course_module_of_file(path))


def _resolve(path: str, import_missing: bool) -> object | None:
    """The object at a dotted path (``torch.ops.aten``), or None if unavailable."""
    parts = path.split(".")
    if parts[0] not in sys.modules and not import_missing:
        return None
    try:
        obj: object = importlib.import_module(parts[0])
        for part in parts[1:]:
            obj = getattr(obj, part)
    except Exception:
        return None
    return obj


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------

class Rule:
    """What a part may not use.

    ``matches(obj)`` recognises a forbidden object wherever it is found (the
    static half); ``targets()`` lists ``(owner, attribute, label)`` places
    to patch while the answer runs (the run-time half). Rules add up with
    ``+`` into a tuple.
    """

    description = "a forbidden function"

    def matches(self, obj: object) -> bool:
        """Whether ``obj`` is one of the forbidden objects."""
        raise NotImplementedError

    def targets(self) -> Iterator[tuple[object, str, str]]:
        """The ``(owner, attribute name, label)`` places to patch while the student's code runs."""
        raise NotImplementedError

    def __add__(self, other: Forbidden) -> tuple[Rule, ...]:
        return _as_rules(self) + _as_rules(other)

    def __radd__(self, other: Forbidden) -> tuple[Rule, ...]:
        return _as_rules(other) + _as_rules(self)

    def __repr__(self) -> str:
        return f"<Rule: {self.description}>"


#: what ``forbidden`` arguments accept: one rule, rules (``CONVOLUTION + UNFOLD``) or None
Forbidden: TypeAlias = "Rule | Iterable[Rule] | None"


class _CourseRule(Rule):
    """Every function and class defined in the course library (but ``course.grading``)."""

    description = "the course library's reference implementation"

    def matches(self, obj: object) -> bool:
        if isinstance(obj, types.ModuleType):
            return False
        if isinstance(obj, (types.FunctionType, type, types.BuiltinFunctionType)):
            if _is_course_module(_module_of(obj)):
                return True
        if isinstance(obj, types.FunctionType) and _is_course_file(obj.__code__.co_filename):
            return True  # a copy: types.FunctionType(course.conv.conv2d.__code__, globals())
        return False

    def targets(self) -> Iterator[tuple[object, str, str]]:
        for module_name, module in list(sys.modules.items()):
            if module is None or not _is_course_module(module_name):
                continue
            for attr, value in list(vars(module).items()):
                if attr.startswith("__") or isinstance(value, types.ModuleType):
                    continue
                if isinstance(value, (types.FunctionType, type)) and self.matches(value):
                    yield module, attr, _label(value)


# Where PyTorch keeps its operations, as Python sees them.
_TORCH_OWNERS = (
    "torch",
    "torch.nn.functional",
    "torch._C._nn",
    "torch._C._VariableFunctions",   # read-only: matched statically only
    "torch.nn",
    "torch.nn.modules",
    "torch.nn.modules.conv",
    "torch.nn.modules.linear",
    "torch.nn.modules.pooling",
    "torch.nn.modules.fold",
    "torch.nn.grad",
    "torch.ops.aten",
)
_SCIPY_OWNERS = ("scipy.signal", "scipy.ndimage")
# torch.ops.aten creates its entries on first access, so vars() shows only
# those already used: these are created (by getattr) to be patched.
_ATEN_NAMES = (
    "conv1d", "conv2d", "conv3d", "convolution", "_convolution", "_convolution_mode",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolution_backward",
    "_conv_depthwise2d", "conv_depthwise3d", "slow_conv_transpose2d", "slow_conv_dilated2d",
    "thnn_conv2d", "_slow_conv2d_forward", "mkldnn_convolution", "conv_tbc",
    "im2col", "max_pool2d", "max_pool2d_with_indices", "adaptive_max_pool2d",
    "fractional_max_pool2d", "max_unpool2d", "linear",
    "batch_norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "instance_norm", "group_norm", "native_group_norm", "layer_norm", "native_layer_norm",
)


class _PatternRule(Rule):
    """Functions and classes of PyTorch (or SciPy) whose name matches a pattern."""

    def __init__(self, description: str, torch_pattern: str, scipy_pattern: str | None = None,
                 owners: Iterable[str] = _TORCH_OWNERS) -> None:
        self.description = description
        self.patterns = {"torch": re.compile(torch_pattern, re.IGNORECASE)}
        self.owners = tuple(owners)
        if scipy_pattern is not None:
            self.patterns["scipy"] = re.compile(scipy_pattern, re.IGNORECASE)
            self.owners += _SCIPY_OWNERS

    def matches(self, obj: object) -> bool:
        if isinstance(obj, types.ModuleType) or not callable(obj):
            return False
        package = _module_of(obj).split(".")[0]
        pattern = self.patterns.get(package)
        if pattern is None and isinstance(obj, types.FunctionType):
            # a copy of a torch function made with types.FunctionType(f.__code__, ...)
            filename = obj.__code__.co_filename
            pattern = next((p for pkg, p in self.patterns.items()
                            if f"{os.sep}{pkg}{os.sep}" in filename), None)
        return bool(pattern and pattern.search(_name_of(obj)))

    def targets(self) -> Iterator[tuple[object, str, str]]:
        for path in self.owners:
            package = path.split(".")[0]
            owner = _resolve(path, import_missing=(package == "torch"))
            if owner is None:
                continue
            pattern = self.patterns[package]
            if path == "torch.ops.aten":
                names = [n for n in _ATEN_NAMES if pattern.search(n)]
            else:
                try:
                    names = [n for n in vars(owner) if pattern.search(n)]
                except TypeError:  # no __dict__ (torch._C._VariableFunctions)
                    continue
            for name in names:
                if name.startswith("__"):
                    continue
                value = _attr(owner, name, _MISSING)
                if value is _MISSING or isinstance(value, types.ModuleType) or not callable(value):
                    continue
                yield owner, name, f"{path}.{name}"


COURSE = _CourseRule()
CONVOLUTION = _PatternRule("a convolution operation", r"conv(?!ert)",
                           scipy_pattern=r"correlate|convolve")
TRANSPOSED_CONVOLUTION = _PatternRule("a transposed convolution",
                                      r"conv_?transpose|convolution|conv[123]d_input|conv_tbc")
UNFOLD = _PatternRule("im2col (unfold)", r"unfold|im2col")
MAX_POOL = _PatternRule("a max pooling operation", r"max_?pool")
MAX_UNPOOL = _PatternRule("max unpooling", r"max_?unpool")
LAYERS = _PatternRule("a torch.nn layer", r"^_?(lazy)?(conv|linear|bilinear)")


def _rule_over(description: str, patterns: dict[str, str], owners: tuple[str, ...]) -> _PatternRule:
    """A :class:`_PatternRule` over other packages than torch and scipy.

    ``patterns`` maps a package (``"torchvision"``) to the pattern of its forbidden names;
    ``owners`` are the modules to patch. A package not imported yet is not imported (as scipy):
    the static half still sees it.
    """
    rule = _PatternRule(description, r"(?!)", owners=owners)
    rule.patterns = {package: re.compile(pattern, re.IGNORECASE) for package, pattern in patterns.items()}
    return rule


# Assignment 3 (detection): torchvision's box operations (box_convert, box_iou and its variants,
# nms, batched_nms, BoxCoder and its encode/decode).
TORCHVISION_BOXES = _rule_over(
    "a torchvision box operation",
    {"torchvision": r"box_convert|^_box_(xyxy|xywh|cxcywh)_to_|box_iou|^_box_inter_union$|^_box_diou_iou$"
                    r"|^(batched_)?nms$|^_batched_nms|^boxcoder$|^(en|de)code_(boxes|single)$"},
    ("torchvision.ops", "torchvision.ops.boxes", "torchvision.ops._box_convert",
     "torchvision.models.detection._utils"))
# scikit-learn's precision-recall curve and average precision, pycocotools' evaluation.
DETECTION_METRICS = _rule_over(
    "a library's precision-recall curve, average precision or COCO evaluation",
    {"sklearn": r"^(average_precision_score|precision_recall_curve|auc|label_ranking_average_precision_score)$",
     "pycocotools": r"^(cocoeval|coco)$"},
    ("sklearn.metrics", "sklearn.metrics._ranking", "pycocotools.cocoeval", "pycocotools.coco"))
# Assignment 4 (architectures): batch norm written by hand (F.batch_norm, nn.BatchNorm2d,
# torch.batch_norm, torch.native_batch_norm and the other normalisation layers).
NORMALIZATION = _PatternRule(
    "a normalisation layer or function", r"batch_?norm|instance_?norm|group_?norm|layer_?norm",
    owners=_TORCH_OWNERS + ("torch.nn.modules.batchnorm", "torch.nn.modules.normalization",
                            "torch.nn.modules.instancenorm"))
# Anything from torchvision (its models, blocks and layers): a block or a count asked for by hand
# cannot be taken from torchvision.models (ResNet's Bottleneck, SqueezeNet's Fire, vgg16()...).
TORCHVISION_MODELS = _rule_over(
    "a torchvision model or block",
    {"torchvision": r"."},
    ("torchvision.models", "torchvision.models.resnet", "torchvision.models.vgg", "torchvision.models.squeezenet",
     "torchvision.models.googlenet", "torchvision.models.inception", "torchvision.models.mobilenetv2",
     "torchvision.models.mobilenetv3", "torchvision.ops", "torchvision.ops.misc"))


def _as_rules(forbidden: Forbidden) -> tuple[Rule, ...]:
    if isinstance(forbidden, Rule):
        return (forbidden,)
    if forbidden is None:
        return ()
    rules = tuple(forbidden)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise TypeError(f"forbidden must hold guard rules (e.g. guard.CONVOLUTION), got {rule!r}")
    return rules


def _with_course(forbidden: Forbidden) -> tuple[Rule, ...]:
    rules = _as_rules(forbidden)
    return rules if COURSE in rules else (COURSE,) + rules


# --------------------------------------------------------------------------
# The static half
# --------------------------------------------------------------------------

_LOAD_GLOBAL = {"LOAD_GLOBAL", "LOAD_NAME"}
_LOAD_DEREF = {"LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF"}
_LOAD_ATTR = {"LOAD_ATTR", "LOAD_METHOD"}
_SCALARS = (str, bytes, int, float, complex, bool, type(None))


def _static_attr(obj: object, name: str) -> Any:
    """``obj.name`` without running properties or ``__getattr__``."""
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        if isinstance(obj, types.ModuleType):
            return sys.modules.get(f"{obj.__name__}.{name}", _MISSING)
        return _MISSING
    except Exception:
        return _MISSING


class _Scan:
    """Walks what a function can reach by name, looking for forbidden objects."""

    MAX_ITEMS = 1000   # per container
    MAX_DEPTH = 8

    def __init__(self, rules: tuple[Rule, ...], student_module: str) -> None:
        self.rules = rules
        self.student_module = student_module
        self.seen: dict[int, object] = {}  # id -> object (kept alive so ids stay unique)
        self.finding: tuple[str, str, str] | None = None  # (path, label, description)

    def match(self, obj: object) -> Rule | None:
        for rule in self.rules:
            try:
                if rule.matches(obj):
                    return rule
            except Exception:
                continue
        return None

    def _is_student(self, obj: object) -> bool:
        return _module_of(obj) == self.student_module

    def visit(self, obj: object, path: str, depth: int) -> None:
        if self.finding is not None or isinstance(obj, _SCALARS):
            return
        if id(obj) in self.seen:
            return
        self.seen[id(obj)] = obj
        rule = self.match(obj)
        if rule is not None:
            self.finding = (path, _label(obj), rule.description)
            return
        if depth >= self.MAX_DEPTH or isinstance(obj, types.ModuleType):
            return
        if type(obj).__module__ == "torch" and type(obj).__name__ in ("Tensor", "Parameter"):
            return
        if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
            self.visit(obj.__func__, path, depth + 1)
        elif isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                self.visit(accessor, path, depth + 1)
        elif isinstance(obj, functools.partial):
            self.visit(obj.func, f"{path}.func", depth + 1)
            for i, arg in enumerate(obj.args):
                self.visit(arg, f"{path}.args[{i}]", depth + 1)
            for key, arg in obj.keywords.items():
                self.visit(arg, f"{path}.keywords[{key!r}]", depth + 1)
        elif isinstance(obj, types.FunctionType):
            if self._is_student(obj):
                self.function(obj, path, depth)
            wrapped = obj.__dict__.get("__wrapped__", _MISSING)
            if wrapped is not _MISSING:
                self.visit(wrapped, f"{path}.__wrapped__", depth + 1)
        elif isinstance(obj, type):
            if self._is_student(obj):
                for key, value in list(itertools.islice(vars(obj).items(), self.MAX_ITEMS)):
                    if not (key.startswith("__") and key.endswith("__")) or key in ("__call__", "__init__"):
                        self.visit(value, f"{path}.{key}", depth + 1)
        elif isinstance(obj, dict):
            for key, value in list(itertools.islice(obj.items(), self.MAX_ITEMS)):
                self.visit(value, f"{path}[{short_repr(key, 30)}]", depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for i, value in enumerate(list(itertools.islice(obj, self.MAX_ITEMS))):
                self.visit(value, f"{path}[{i}]", depth + 1)
        elif self._is_student(type(obj)):
            # An instance of a class defined in the notebook: its attributes and class.
            try:
                attributes = object.__getattribute__(obj, "__dict__")
            except Exception:
                attributes = {}
            for key, value in list(itertools.islice(attributes.items(), self.MAX_ITEMS)):
                self.visit(value, f"{path}.{key}", depth + 1)
            self.visit(type(obj), f"type({path})", depth + 1)
            call = _static_attr(type(obj), "__call__")
            if call is not _MISSING:
                self.visit(call, f"{path}.__call__", depth + 1)

    def function(self, fn: types.FunctionType, path: str, depth: int) -> None:
        code = fn.__code__
        closure: dict[str, object] = {}
        for var, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
            try:
                closure[var] = cell.cell_contents
            except ValueError:  # an empty cell
                pass
        for i, default in enumerate(fn.__defaults__ or ()):
            self.visit(default, f"{path} (default argument {i + 1})", depth + 1)
        for key, default in (fn.__kwdefaults__ or {}).items():
            self.visit(default, f"{path} (default of {key})", depth + 1)
        for var, value in closure.items():
            self.visit(value, f"{path} -> {var}", depth + 1)
        self.code(code, fn.__globals__, closure, path, depth)

    def code(self, code: types.CodeType, globals_: dict[str, Any], closure: dict[str, object], path: str,
             depth: int) -> None:
        builtin_names = globals_.get("__builtins__", builtins)
        if isinstance(builtin_names, types.ModuleType):
            builtin_names = vars(builtin_names)
        current, where = _MISSING, ""
        for instruction in dis.get_instructions(code):
            op, name = instruction.opname, instruction.argval
            if op in _LOAD_GLOBAL:
                current = globals_.get(name, builtin_names.get(name, _MISSING))
                where = name
            elif op in _LOAD_DEREF:
                current, where = closure.get(name, _MISSING), name
            elif op in _LOAD_ATTR and current is not _MISSING:
                current = _static_attr(current, name)
                where = f"{where}.{name}"
            else:
                current = _MISSING
                continue
            if current is not _MISSING:
                self.visit(current, f"{path} -> {where}", depth + 1)
            if self.finding is not None:
                return
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, globals_, {}, path, depth + 1)


def _unwrap(fn: object) -> object:
    """The function behind decorators (``functools.wraps``), partials and bound methods."""
    seen: set[int] = set()
    while id(fn) not in seen:
        seen.add(id(fn))
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, types.FunctionType) and "__wrapped__" in fn.__dict__:
            fn = fn.__dict__["__wrapped__"]
        elif not isinstance(fn, types.FunctionType) and _attr(fn, "__wrapped__") is not None \
                and not _module_of(fn).startswith(("torch", "course")):
            fn = _attr(fn, "__wrapped__")  # functools.lru_cache and friends
        else:
            break
    return fn


def static_problem(name: str, fn: object, forbidden: Forbidden = (), student_module: str = "__main__") -> str | None:
    """Why ``fn`` is not the student's own code, or None if nothing was found.

    See the module docstring for what is looked at. The course library is
    always forbidden; ``forbidden`` adds rules (``CONVOLUTION``, ...).
    """
    rules = _with_course(forbidden)
    scan = _Scan(rules, student_module)
    ask = f"this part asks you to write {name} yourself"

    for candidate in (fn, _unwrap(fn)):
        rule = scan.match(candidate)
        if rule is not None:
            return (f"{name}: this is {_label(candidate)} ({rule.description}), not your own "
                    f"code: {ask}, with def in the notebook.")
    target = _unwrap(fn)
    if not callable(fn):
        return f"{name}: expected a function you define with def, got {type(fn).__name__} {short_repr(fn)}"
    if isinstance(target, type) and _module_of(target) == student_module:
        # a class defined in the notebook (an nn.Module to write): its bases must not be forbidden
        # (class Bottleneck(torchvision.models.resnet.Bottleneck)), and its own methods are read
        # as a function's body is
        for base in target.__mro__[1:]:
            rule = scan.match(base)
            if rule is not None:
                return (f"{name}: {ask}, but it derives from {_label(base)} ({rule.description}). "
                        f"Write it without {_label(base)}: no points for this part otherwise.")
        for cls in target.__mro__:
            if _module_of(cls) == student_module:
                scan.visit(cls, name if cls is target else f"{name} (base {cls.__name__})", 0)
        if scan.finding is not None:
            path, label, description = scan.finding
            return (f"{name}: {ask}, but it uses {label} ({description}), reached as {path}. "
                    f"Write it without {label}: no points for this part otherwise.")
        return None
    if not isinstance(target, types.FunctionType):
        return (f"{name}: expected a function you define with def in the notebook, "
                f"got {type(target).__name__} {short_repr(target)}")
    if target.__module__ != student_module:
        return (f"{name}: expected a function defined in the notebook, got {_label(target)} "
                f"from the module {target.__module__}: {ask}")

    scan.function(target, name, 0)
    if scan.finding is not None:
        path, label, description = scan.finding
        return (f"{name}: {ask}, but it uses {label} ({description}), reached as {path}. "
                f"Write it without {label}: no points for this part otherwise.")
    return None


# --------------------------------------------------------------------------
# The run-time half
# --------------------------------------------------------------------------

#: ``(owner, attribute, label, description)``: a place to patch while an answer runs
_Target: TypeAlias = "tuple[object, str, str, str]"


class _StandIn:
    """Takes the place of a forbidden function while an answer runs."""

    def __init__(self, part: str, label: str, description: str, calls: list[str]) -> None:
        self._part, self._label, self._description, self._calls = part, label, description, calls

    def _stop(self) -> NoReturn:
        self._calls.append(self._label)
        raise NotYourOwnCode(
            f"{self._part}: this part asks you to write {self._part} yourself, not to call "
            f"{self._label} ({self._description}). No points for this part while it does."
        )

    def __call__(self, *args: object, **kwargs: object) -> NoReturn:
        self._stop()

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        self._stop()

    def __repr__(self) -> str:
        return f"<forbidden in {self._part}: {self._label}>"


def _collect_targets(rules: Iterable[Rule]) -> list[_Target]:
    """``(owner, attribute, label, description)`` for every place to patch, once each."""
    targets: list[_Target] = []
    done: set[tuple[int, str]] = set()
    for rule in rules:
        for owner, attr, label in rule.targets():
            if (id(owner), attr) not in done:
                done.add((id(owner), attr))
                targets.append((owner, attr, label, rule.description))
    return targets


@contextlib.contextmanager
def _patched(part: str, targets: list[_Target]) -> Iterator[list[str]]:
    calls: list[str] = []
    patched: list[tuple[object, str, object]] = []  # (owner, attribute, original)
    try:
        for owner, attr, label, description in targets:
            try:
                original = getattr(owner, attr)
                setattr(owner, attr, _StandIn(part, label, description, calls))
            except Exception:  # read-only (a C type): the static half covers it
                continue
            patched.append((owner, attr, original))
        yield calls
    finally:
        for owner, attr, original in reversed(patched):
            try:
                setattr(owner, attr, original)
            except Exception:  # never leave the others patched
                pass
    if calls:
        raise NotYourOwnCode(
            f"{part}: this part asks you to write {part} yourself, but your code called "
            f"{', '.join(dict.fromkeys(calls))}. No points for this part while it does."
        )


def forbidden_calls(part: str, forbidden: Forbidden = ()) -> contextlib.AbstractContextManager[list[str]]:
    """Context manager: within it, calling anything the rules forbid raises NotYourOwnCode.

    The forbidden functions are replaced in their modules and put back when
    the block ends, however it ends. If an answer called one and caught the
    exception, the block still raises at its end. The course library is
    always included.

    >>> with forbidden_calls("conv2d_naive", CONVOLUTION):   # doctest: +SKIP
    ...     got = conv2d_naive(x, w)
    """
    return _patched(part, _collect_targets(_with_course(forbidden)))


def student_function(name: str, fn: Callable[..., _T], forbidden: Forbidden = (),
                     student_module: str = "__main__") -> Callable[..., _T]:
    """The student's ``fn``, checked and wrapped for a hidden test.

    Raises :class:`NotYourOwnCode` now if the static half finds a forbidden
    object. Returns a function that calls ``fn`` inside
    :func:`forbidden_calls`, with warnings silenced (nbgrader gives no points
    to a test cell that writes to stderr, and a warning goes there). The
    places to patch are listed once, here, so each call costs little.
    """
    if getattr(type(fn), "__course_remote__", None) is not None:
        # a test cell running in the grader: the function lives in the student's kernel,
        # and is checked and guarded there (course.grading.trusted)
        # (a trusted.RemoteFunction, which the kernel side cannot import to narrow to)
        return fn.__course_remote__(name, forbidden)  # type: ignore[attr-defined]
    problem = static_problem(name, fn, forbidden, student_module=student_module)
    if problem is not None:
        raise NotYourOwnCode(problem)
    targets = _collect_targets(_with_course(forbidden))

    def run(*args: Any, **kwargs: Any) -> _T:
        with _patched(name, targets), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)

    run.__name__ = run.__qualname__ = name
    return run


# --------------------------------------------------------------------------
# Untouched copies of the reference
# --------------------------------------------------------------------------

def fresh_reference(*names: str) -> types.SimpleNamespace:
    """Private copies of course modules, executed again from their files.

    Returns a namespace with one attribute per module, named by its last
    component: ``fresh_reference()`` gives ``.conv``, ``.upsample`` and
    ``.complexity``. The copies are never registered in ``sys.modules``, so
    whatever a notebook did to ``course.conv`` does not reach them; the
    notebook's modules are left as they were.
    """
    names = names or ("course.conv", "course.upsample", "course.complexity")
    for name in names:
        if not _is_course_module(name):
            raise ValueError(f"fresh_reference loads course modules, got {name!r}")
    ours = lambda module_name: module_name == "course" or module_name.startswith("course.")  # noqa: E731
    saved = {key: module for key, module in sys.modules.items() if ours(key)}
    for key in saved:
        del sys.modules[key]
    try:
        modules = [importlib.import_module(name) for name in names]
    finally:
        for key in [key for key in sys.modules if ours(key)]:
            del sys.modules[key]
        sys.modules.update(saved)
    pairs = zip(names, modules, strict=True)
    return types.SimpleNamespace(**{name.rsplit(".", 1)[-1]: module for name, module in pairs})
