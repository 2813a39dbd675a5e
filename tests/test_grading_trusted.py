"""Test cells run in the grader, the student's functions in a kernel (course.grading.trusted).

A real kernel (the virtualenv's ``python3``) holds "student" code; the test
code runs here through :class:`TrustedRunner`. Checked: values and output come
back; exceptions keep their type and the student's traceback; tensors, dtypes
and containers cross exactly; other objects (a module) are used by reference;
the anti-reference guard runs in the kernel on request; an endless call is
interrupted at the cell's limit, a kernel that ignores the interrupt is
reported unresponsive, a dead kernel is reported dead, a half-sent answer does
not hold the grader, and a kernel whose code stops answering fails the test
instead of the grader. Also :mod:`course.grading.wire` on malformed replies.
"""
from __future__ import annotations

import time

import pytest
import torch
from jupyter_client.manager import KernelManager

from course.grading import trusted, wire
from course.grading.checks import NotYourOwnCode

pytestmark = pytest.mark.slow

STUDENT_CODE = '''
import torch, torch.nn as nn, torch.nn.functional as F

def add(a, b=1):
    print("adding", a, b)
    return a + b

def same(x):
    return x

def boom(x):
    return [1, 2][x]

class Mistake(Exception):
    pass

def custom():
    raise Mistake("mine")

def uses_conv(x, w):
    return F.conv2d(x, w)

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
    def forward(self, x):
        return torch.relu(self.conv(x))

def loop():
    while True:
        pass

def deaf():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass

def die():
    import os
    os._exit(3)

answer = 42
'''


class Kernel:
    """A kernel holding the student's code, and a runner for test cells."""

    def __init__(self, tmp_path, code=STUDENT_CODE):
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel()
        kc = self.km.blocking_client()
        kc.start_channels()
        kc.wait_for_ready(60)
        reply = kc.execute_interactive(code, timeout=60)
        kc.stop_channels()
        assert reply["content"]["status"] == "ok", reply["content"]
        channel = trusted.KernelChannel(self.km.get_connection_info(), alive=self.km.is_alive,
                                        interrupt=self.km.interrupt_kernel, socket_dir=str(tmp_path))
        self.runner = trusted.TrustedRunner(channel)
        self.runner.run_setup("import torch\nfrom course.grading import check_equal, check_tensor_close")

    def run(self, source, timeout=20):
        return self.runner.run_test(source, timeout, 1)

    def close(self):
        self.runner.channel.close_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(tmp_path_factory.mktemp("kernel"))
    yield k
    k.close()


@pytest.fixture
def own_kernel(tmp_path):
    k = Kernel(tmp_path)
    yield k
    k.close()


def errors(result):
    return [(o.ename, o.evalue) for o in result.outputs if o.output_type == "error"]


def printed(result):
    return "".join(o.text for o in result.outputs if o.output_type == "stream")


def test_values_and_output_come_back(kernel):
    result = kernel.run("check_equal('add(1, 2)', add(1, 2), 3)\nassert answer == 42\nadd(2)")
    assert errors(result) == []
    assert "adding 1 2" in printed(result) and "adding 2 1" in printed(result)
    assert result.outputs[-1].output_type == "execute_result" and result.outputs[-1].data["text/plain"] == "3"


def test_a_failing_check_fails_the_cell_with_its_message(kernel):
    result = kernel.run("check_equal('add(1, 2)', add(1, 2), 4)")
    assert errors(result) == [("CheckFailure", "add(1, 2): expected 4, got 3")]


def test_the_students_exception_keeps_its_type_and_traceback(kernel):
    result = kernel.run("try:\n    boom(5)\nexcept IndexError:\n    print('caught')")
    assert errors(result) == [] and "caught" in printed(result)
    result = kernel.run("boom(5)")
    assert errors(result)[0][0] == "IndexError"
    assert any("return [1, 2][x]" in line for line in result.outputs[-1].traceback)
    assert errors(kernel.run("custom()")) == [("Mistake", "mine")]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.uint8,
                                   torch.bool])
def test_tensors_cross_exactly(kernel, dtype):
    kernel.runner.namespace["_x"] = (torch.randn(3, 4, 5) * 10).to(dtype)
    result = kernel.run("_y = same(_x)\nassert _y.dtype == _x.dtype and _y.shape == _x.shape\n"
                        "assert torch.equal(_y, _x)\nassert same(_x[0, 0, 0]).shape == ()\n"
                        "assert same(_x[:0]).shape == (0, 4, 5)")
    assert errors(result) == []


def test_containers_dtypes_and_special_floats_cross(kernel):
    result = kernel.run("_v = same({'a': (1, [2.5, float('nan')], None), 'd': torch.float64, 's': 'x'})\n"
                        "assert _v['a'][0] == 1 and _v['a'][1][0] == 2.5 and _v['a'][1][1] != _v['a'][1][1]\n"
                        "assert _v['d'] is torch.float64 and _v['s'] == 'x' and isinstance(_v['a'], tuple)")
    assert errors(result) == []


def test_other_objects_are_used_by_reference(kernel):
    result = kernel.run(
        "_b = Block(2)\n"
        "_n = sum(p.numel() for p in _b.parameters())\n"
        "assert _n == 2 * 2 * 9 + 2, _n\n"
        "_state = {'conv.weight': torch.ones(2, 2, 3, 3), 'conv.bias': torch.zeros(2)}\n"
        "_b.load_state_dict(_state)\n"
        "_out = _b(torch.ones(1, 2, 4, 4))\n"
        "assert _out.shape == (1, 2, 4, 4) and _out[0, 0, 1, 1].item() == 18.0\n")
    assert errors(result) == []


def test_the_guard_runs_in_the_kernel_when_the_test_asks(kernel):
    result = kernel.run("from course.grading import guard as _g\n"
                        "_f = _g.student_function('uses_conv', uses_conv, _g.CONVOLUTION)\n"
                        "_f(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))")
    assert errors(result)[0][0] == "NotYourOwnCode"
    assert issubclass(NotYourOwnCode, AssertionError)


def test_an_endless_call_is_interrupted_at_the_limit_and_the_kernel_still_answers(kernel):
    start = time.monotonic()
    result = kernel.run("loop()", timeout=2)
    assert result.timed_out and errors(result)[0][0] == "CallTimeout"
    assert time.monotonic() - start < 10
    assert errors(kernel.run("check_equal('add(1)', add(1), 2)")) == []


def test_a_kernel_that_ignores_the_interrupt_is_unresponsive(own_kernel):
    with pytest.raises(trusted.KernelUnresponsive):
        own_kernel.run("deaf()", timeout=2)


def test_a_dead_kernel_is_reported(own_kernel):
    with pytest.raises(trusted.KernelDied):
        own_kernel.run("die()")


def test_half_an_answer_does_not_hold_the_grader(tmp_path):
    stall = ("import course.grading.kernel_server as _ks, time\n"
             "def _stall(sock, data):\n"
             "    sock.sendall((1000).to_bytes(8, 'big') + b'{\"ok\"')\n"
             "    time.sleep(60)\n"
             "_ks.send_message = _stall\n")
    k = Kernel(tmp_path, STUDENT_CODE + stall)
    try:
        start = time.monotonic()
        result = k.run("add(1)", timeout=2)
        assert result.timed_out and time.monotonic() - start < 10
    finally:
        k.close()


def test_a_kernel_that_stops_answering_fails_the_test_not_the_grader(tmp_path):
    k = Kernel(tmp_path, STUDENT_CODE + "import course.grading.kernel_server as _ks\n_ks.serve = lambda path: None\n")
    try:
        result = k.run("check_equal('add(1, 2)', add(1, 2), 3)", timeout=5)
        assert errors(result)[0][0] == "KernelStopped"
    finally:
        k.close()


# ----------------------------------------------------------------------------- wire

@pytest.mark.parametrize("data, message", [
    ({"__tensor__": {"dtype": "float32", "shape": [2], "data": "AAAA"}}, "bytes"),
    ({"__tensor__": {"dtype": "object", "shape": [1], "data": ""}}, "malformed tensor"),
    ({"__dtype__": "complex256"}, "unknown dtype"),
    ({"__tensor__": {"dtype": ["float32"], "shape": [1], "data": ""}}, "malformed tensor"),
    ({"__tensor__": {"dtype": "float32", "shape": [1], "data": 5}}, "malformed tensor"),
    ({"__tensor__": {"dtype": "float32", "shape": [1], "data": "abc"}}, "malformed tensor data"),
    ({"__dtype__": ["float32"]}, "unknown dtype"),
    ({"__ref__": 1}, "malformed"),
    ({"__float__": "1" * 100}, "malformed float"),
    ({"a": 1, "b": 2, "c": 3}, "malformed"),
])
def test_wire_refuses_malformed_replies(data, message):
    with pytest.raises(wire.WireError, match=message):
        wire.decode(data)


def test_wire_refuses_deep_nesting_and_huge_replies():
    deep = []
    for _ in range(wire.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(wire.WireError, match="deep"):
        wire.decode(deep)
    with pytest.raises(wire.WireError, match="larger"):
        wire.loads("x" * (wire.MAX_REPLY_BYTES + 1))


def test_wire_sends_only_data_without_a_way_to_refer():
    with pytest.raises(wire.WireError, match="cannot be sent"):
        wire.encode(object())
