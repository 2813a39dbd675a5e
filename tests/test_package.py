"""The package itself: cheap to import, submodules load on first use, nothing heavy at import."""
from __future__ import annotations

import importlib
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


def _installed_by(distribution: str) -> set[str]:
    """The distributions ``pip install distribution`` brings in (no extras), normalised names."""
    import re
    from importlib import metadata

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen, todo = set(), [norm(distribution)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            if "extra ==" in requirement:
                continue                      # only what a plain install brings
            todo.append(norm(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]))
    return seen


def test_every_package_a_lecture_imports_comes_with_a_plain_install():
    """A student who installs the course as documented (no dev extra) can run every lecture."""
    import json
    import re
    from importlib import metadata
    from pathlib import Path

    lectures = Path(__file__).resolve().parent.parent / "lectures"
    imported = set()
    for path in lectures.glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                imported |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", code, flags=re.M))
    providers = metadata.packages_distributions()
    installed = _installed_by("convseg-course")
    missing = {}
    for module in sorted(imported - set(sys.stdlib_module_names) - {"course"}):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
        if not dists & installed:
            missing[module] = sorted(dists)
    assert not missing, f"lectures import packages only the dev extra (or nothing) installs: {missing}"


def test_every_teaching_module_has_a_docstring_example_that_pytest_runs():
    """pytest runs the examples (--doctest-modules); each module students read keeps at least one.

    Left out: packages' __init__ files (they re-export) and course.grading (the
    grader's machinery, tested by its own test files).
    """
    import doctest
    import importlib
    import pkgutil

    without = []
    for info in pkgutil.walk_packages(course.__path__, "course."):
        name = info.name
        if info.ispkg or name.startswith("course.grading") or any(p.startswith("_") for p in name.split(".")[1:]):
            continue
        module = importlib.import_module(name)
        if not sum(len(test.examples) for test in doctest.DocTestFinder().find(module)):
            without.append(name)
    assert not without, f"modules with no >>> example: {without}"


def test_a_private_name_is_used_only_in_its_own_module():
    """Shared helpers are public (course._checks holds the argument checks); `_names` stay home."""
    import ast
    from pathlib import Path

    root = Path(course.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("course")):
                module = node.module or ""
                if module.split(".")[-1] in ("_checks", "_course") or module.endswith("._checks"):
                    continue                          # the shared checks and the grader's own package data
                if node.level and not module:
                    continue                          # `from . import _worker`: a package's own private module
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(root)}: from {'.' * node.level}{module} import {alias.name}")
    assert not found, "private names imported from another module:\n" + "\n".join(found)


@pytest.mark.parametrize("package", ["course.models", "course.metrics", "course.data", "course.viz",
                                     "course.grading"])
def test_every_name_a_package_exports_is_importable_from_it(package):
    """``from course.X import *`` works: each name of ``__all__`` is there (a re-export was not forgotten)."""
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names {missing}, which {package} does not import"
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ repeats a name"
