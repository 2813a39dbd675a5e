# Two commands for a fresh machine (see README.md):
#   make lab    set everything up, then open the course in JupyterLab
#   make test   set everything up, then run every test
# Both create .venv with pip when it is missing and are safe to re-run:
# the install step only runs again when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Two workers for the two cores of the reference machine, scheduled by scope: a
# test module (or class) and a notebook's cells stay on one worker (nbval cells
# must not be split). The hostile-submission suite has one class per assignment.
# (--dist loadgroup does not group with pytest 9.2 and xdist 3.8: tests are split.)
PYTEST_ARGS ?= -n 2 --dist loadscope --durations=30

.PHONY: setup lab test benchmarks clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --constraint constraints.txt --editable '.[dev]'
	# Build matplotlib's font cache now: on a slow first run it warns on stderr,
	# which would fail a strict nbval cell or an nbgrader test cell.
	$(PY) -c "import matplotlib.font_manager"
	touch $(STAMP)

lab: setup
	$(PY) -m course.lab

# Lint and type-check first (ruff: pyflakes, pycodestyle, isort, bugbear, pydocstyle;
# mypy: every function of course/ annotated; see [tool.ruff] and [tool.mypy] in
# pyproject.toml), so such an error fails the run before the slow tests start.
test: setup
	$(PY) -m ruff check course tests benchmarks scripts deploy conftest.py
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

benchmarks: setup
	for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
