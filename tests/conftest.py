"""Test-suite settings.

Hypothesis runs derandomized by default so `make test` is reproducible (the same
examples on every machine); set HYPOTHESIS_PROFILE=explore to search new ones.
"""
import os

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Two cores on the reference machine: keep torch from oversubscribing them when
# pytest-xdist runs several workers.
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
