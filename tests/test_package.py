"""The package itself: cheap to import, submodules load on first use, nothing heavy at import."""
from __future__ import annotations

import subprocess
import sys

import pytest

import course

HEAVY = ("matplotlib", "ipywidgets", "torchvision", "sklearn", "nbgrader", "jupyterlab")
CORE = ("conv", "upsample", "receptive", "complexity")


def modules_loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_import_course_loads_no_submodule_and_nothing_heavy():
    loaded = modules_loaded_after("import course")
    assert not {f"course.{name}" for name in CORE} & loaded
    assert not set(HEAVY) & loaded


def test_core_modules_load_nothing_heavy():
    loaded = modules_loaded_after("import course\n" + "\n".join(f"course.{m}" for m in CORE))
    assert {f"course.{name}" for name in CORE} <= loaded
    assert not set(HEAVY) & loaded, f"heavy modules imported: {set(HEAVY) & loaded}"


def test_submodules_are_reachable_as_attributes():
    for name in CORE:
        assert getattr(course, name).__name__ == f"course.{name}"
    assert "conv" in dir(course)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'convolution'"):
        _ = course.convolution
