"""Test-suite settings.

Hypothesis runs derandomized by default so `make test` is reproducible (the same
examples on every machine); set HYPOTHESIS_PROFILE=explore to search new ones.
"""
import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Two cores on the reference machine: under pytest-xdist each worker gets one
# thread, so the workers do not oversubscribe the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture
def no_figure_left_open():
    """The figures a call creates are closed in pyplot afterwards (course.viz returns closed figures).

    Used by the figure tests: ``pytestmark = pytest.mark.usefixtures("no_figure_left_open")``.
    """
    import matplotlib.pyplot as plt  # here, not at import: the test modules choose the Agg backend first

    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a course.viz call left a figure open in pyplot"
