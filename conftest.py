"""Settings for every test run, library tests (tests/) and lecture notebooks (lectures/) alike.

`make test` runs two pytest-xdist workers on the two cores of the reference
machine. Each worker is limited to one thread, and so is every notebook kernel
that nbval starts from it (the kernel inherits this environment): two workers
with two threads each would oversubscribe the cores, and PyTorch's thread pool
then runs several times slower, not just twice.
"""
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"


def pytest_collection_modifyitems(config, items):
    """Schedule by file (``--dist loadgroup``): a notebook's cells, and a module's fixtures, stay on
    one worker. The hostile-submission suite and the assignment tests are the exception: one group
    per assignment, so the batches of different assignments (minutes each) run on both workers."""
    import pytest

    split = {"test_hostile_submissions.py": "graded", "test_assignments.py": None}
    for item in items:
        group = item.nodeid.split("::")[0]
        callspec = getattr(item, "callspec", None)
        name = group.rsplit("/", 1)[-1]
        if name in split and callspec is not None:
            param = split[name]
            if param is None:  # the assignment is the test's only parameter: its id
                group += f"[{callspec.id}]"
            elif param in callspec.params:
                group += f"[{callspec.params[param]}]"
        item.add_marker(pytest.mark.xdist_group(group))
