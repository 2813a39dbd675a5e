"""The values that cross between the grader and a student's kernel, as JSON.

When a test cell runs in the grader (:mod:`course.grading.trusted`), every
call of a student's function travels to the kernel as a request and its
result comes back as a reply, both encoded here. Only data crosses: ``None``,
bools, ints, floats, strings, tuples, lists, dicts with string keys,
``torch.dtype`` and tensors (their raw bytes, base64). Anything else the
kernel returns stays in the kernel and comes back as a reference
(``{"__ref__": n}``) the grader can call or ask attributes of.

:func:`decode` is what the grader runs on a reply a hostile kernel wrote: it
never unpickles, never imports, checks every type and dtype, and refuses
replies over ``MAX_REPLY_BYTES`` or nested deeper than ``MAX_DEPTH``.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeAlias

import torch

#: largest reply the grader decodes (bytes of JSON)
MAX_REPLY_BYTES = 256 * 2**20
#: deepest nesting of lists, tuples and dicts in a value
MAX_DEPTH = 32

DTYPES = {name: getattr(torch, name) for name in (
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "uint8", "int8", "int16", "int32", "int64", "bool")}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class WireError(ValueError):
    """A value that cannot cross, or a reply that is not well formed."""


#: JSON data: what :func:`encode` gives and :func:`dumps` writes
JSON: TypeAlias = "None | bool | int | float | str | list[JSON] | dict[str, JSON]"
#: ``refer(obj) -> n``: keeps an object that cannot cross, returns its reference number
Refer: TypeAlias = Callable[[object], int]
#: ``resolve(n, type_name) -> obj``: the object a reference stands for
Resolve: TypeAlias = Callable[[int, str], Any]  # Any: the object is used as the test cell uses it


def encode(value: object, refer: Refer | None = None, depth: int = 0) -> JSON:
    """``value`` as JSON-ready data; ``refer(obj) -> int`` keeps anything else as a reference."""
    if depth > MAX_DEPTH:
        raise WireError(f"value nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return {"__float__": repr(value)}  # keeps nan, inf and every bit of the value
    if isinstance(value, torch.dtype) and value in _DTYPE_NAMES:
        return {"__dtype__": _DTYPE_NAMES[value]}
    if isinstance(value, torch.Tensor) and value.dtype in _DTYPE_NAMES and value.layout == torch.strided:
        flat = value.detach().to("cpu").contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        return {"__tensor__": {"dtype": _DTYPE_NAMES[value.dtype], "shape": list(value.shape),
                               "data": base64.b64encode(raw).decode("ascii")}}
    if isinstance(value, (tuple, torch.Size)):
        return {"__tuple__": [encode(v, refer, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, refer, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode(v, refer, depth + 1) for k, v in value.items()}}
    if refer is None:
        raise WireError(f"a {type(value).__name__} cannot be sent to the kernel (only numbers, strings, "
                        "tensors, dtypes and tuples, lists and dicts of them)")
    return {"__ref__": int(refer(value)), "type": type(value).__name__[:100]}


def decode(data: object, depth: int = 0, resolve: Resolve | None = None) -> Any:
    """The value ``data`` encodes. ``resolve(n)`` turns a reference into an object (default: refuse)."""
    if depth > MAX_DEPTH:
        raise WireError(f"value nested more than {MAX_DEPTH} levels deep")
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if isinstance(data, list):
        return [decode(v, depth + 1, resolve) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise WireError(f"malformed value: {str(data)[:100]}")
    if "__float__" in data:
        text = data["__float__"]
        if not isinstance(text, str) or len(text) > 40:
            raise WireError("malformed float")
        return float(text)
    if "__dtype__" in data:
        if not isinstance(data["__dtype__"], str) or data["__dtype__"] not in DTYPES:
            raise WireError(f"unknown dtype {str(data['__dtype__'])[:40]}")
        return DTYPES[data["__dtype__"]]
    if "__tuple__" in data and isinstance(data["__tuple__"], list):
        return tuple(decode(v, depth + 1, resolve) for v in data["__tuple__"])
    if "__dict__" in data and isinstance(data["__dict__"], dict):
        return {str(k): decode(v, depth + 1, resolve) for k, v in data["__dict__"].items()}
    if "__tensor__" in data and isinstance(data["__tensor__"], dict):
        return _tensor(data["__tensor__"])
    if "__ref__" in data and isinstance(data["__ref__"], int) and resolve is not None:
        return resolve(data["__ref__"], str(data.get("type", "object"))[:100])
    raise WireError(f"malformed value: {str(data)[:100]}")


def _tensor(spec: dict[Any, Any]) -> torch.Tensor:
    name, shape, text = spec.get("dtype"), spec.get("shape"), spec.get("data", "")
    dtype = DTYPES.get(name) if isinstance(name, str) else None
    if dtype is None or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape) \
            or not isinstance(text, str):
        raise WireError("malformed tensor")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error (not base64) is a ValueError, as is text that is not ASCII
        raise WireError("malformed tensor data") from None
    count = 1
    for n in shape:
        count *= n
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != count * itemsize:
        raise WireError(f"tensor of shape {tuple(shape)} with {len(raw)} bytes")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()


def dumps(data: object) -> str:
    """``data`` as compact JSON text."""
    return json.dumps(data, separators=(",", ":"))


def loads(text: str) -> Any:
    """The data of a JSON reply (what ``json.loads`` gives); a ``WireError`` when it is too large or not JSON."""
    if not isinstance(text, str) or len(text) > MAX_REPLY_BYTES:
        raise WireError(f"reply larger than {MAX_REPLY_BYTES // 2**20} MB")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"reply is not JSON: {exc.__class__.__name__}") from None
