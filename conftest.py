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

