"""The "your turn" exercises inside the lectures: their shape, their stored state, their worked answers.

Every lecture 01-10 has at least three exercises where its topic is taught.
An exercise is four consecutive cells:

1. markdown starting ``**Your turn N.k: title.**`` (N the lecture, k = 1, 2, ...);
2. a code cell tagged ``exercise``: the stub (``answer = ...`` or a function
   raising ``NotImplementedError()``), with no stored output;
3. a code cell tagged ``self-check``: one call of ``self_check`` /
   ``self_check_function`` (from ``course.grading.checks``, imported by name:
   the grader's scan accepts that in a submission too), whose stored output
   is the "not attempted yet" line (strict nbval compares it);
4. markdown ``<details><summary>Worked answer</summary> ... </details>``
   holding exactly one fenced python block: the exercise cell, answered.

The last test runs each lecture with its worked answers pasted into the
exercise cells and requires every self-check to say "correct": a worked
answer that is wrong, or a self-check that cannot say "correct", fails here.
One test class per lecture, so ``--dist loadscope`` spreads the lectures over
the workers.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
NUMBERED = sorted(p for p in LECTURES.glob("[0-9][0-9]_*.ipynb") if p.name[:2] != "00")
MIN_EXERCISES = 3
CORRECT = "\u2714"
NOT_ATTEMPTED = "not attempted yet"
WORKED_ANSWER = re.compile(r"```python\n(.*?)```", flags=re.S)


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def stored_text(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) if isinstance(o.get("text", ""), list) else o.get("text", "")
                   for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def exercises(notebook: dict) -> list[dict]:
    """Each exercise as {"number", "prompt", "exercise", "check", "answer"} (cell indexes), in order."""
    cells = notebook["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and "exercise" in tags(cell):
            found.append({"index": i, "prompt": cells[i - 1] if i > 0 else None,
                          "check": cells[i + 1] if i + 1 < len(cells) else None,
                          "answer": cells[i + 2] if i + 2 < len(cells) else None})
    return found


def worked_answer(cell: dict) -> str:
    return WORKED_ANSWER.findall(source(cell))[0]


@pytest.fixture
def notebook(request) -> dict:
    return json.loads(request.cls.PATH.read_text())


def test_at_least_three_exercises_numbered_in_order(notebook, request):
    number = int(request.cls.PATH.name[:2])
    found = exercises(notebook)
    assert len(found) >= MIN_EXERCISES, f"{request.cls.PATH.name}: {len(found)} exercises, want {MIN_EXERCISES}"
    for k, exercise in enumerate(found, start=1):
        prompt = exercise["prompt"]
        assert prompt is not None and prompt["cell_type"] == "markdown", f"exercise {k}: no markdown prompt before it"
        assert source(prompt).startswith(f"**Your turn {number}.{k}:"), \
            f"exercise {k}: the prompt should start '**Your turn {number}.{k}: ...', got {source(prompt)[:60]!r}"


def test_each_exercise_is_a_stub_then_a_self_check_then_a_collapsed_worked_answer(notebook, request):
    name = request.cls.PATH.name
    for k, exercise in enumerate(exercises(notebook), start=1):
        stub = notebook["cells"][exercise["index"]]
        assert not stub.get("outputs"), f"{name} exercise {k}: the stub cell has stored output"
        assert re.search(r"=\s*\.\.\.|raise NotImplementedError\(\)", source(stub)), \
            f"{name} exercise {k}: the stub should hold `= ...` or `raise NotImplementedError()`:\n{source(stub)}"
        check = exercise["check"]
        assert check is not None and check["cell_type"] == "code" and "self-check" in tags(check), \
            f"{name} exercise {k}: the next cell should be a code cell tagged self-check"
        assert re.search(r"^self_check(_function)?\(", source(check), flags=re.M), source(check)
        assert "nbval-ignore-output" not in tags(check), f"{name} exercise {k}: nbval must compare the self-check"
        stored = stored_text(check)
        assert NOT_ATTEMPTED in stored and stored.count("\n") == 1, \
            f"{name} exercise {k}: the stored self-check output should be the one not-attempted line, got {stored!r}"
        answer = exercise["answer"]
        assert answer is not None and answer["cell_type"] == "markdown", f"{name} exercise {k}: no worked answer"
        text = source(answer)
        assert text.startswith("<details><summary>Worked answer</summary>") and text.rstrip().endswith("</details>"), \
            f"{name} exercise {k}: the worked answer should be one collapsed <details> block"
        assert len(WORKED_ANSWER.findall(text)) == 1, f"{name} exercise {k}: want exactly one ```python block"


def test_later_cells_do_not_depend_on_an_exercise(notebook, request):
    """Unanswered exercises must not break Run All: no later cell reads a name only an exercise defines."""
    cells = notebook["cells"]
    for exercise in exercises(notebook):
        stub = source(cells[exercise["index"]])
        names = set(re.findall(r"^(\w+)\s*=", stub, flags=re.M)) | set(re.findall(r"^def (\w+)", stub, flags=re.M))
        defined_elsewhere = "\n".join(source(c) for i, c in enumerate(cells)
                                      if c["cell_type"] == "code" and i != exercise["index"]
                                      and "exercise" not in tags(c))
        for name in names:
            if re.search(rf"^(def {name}\b|{name}\s*=)", defined_elsewhere, flags=re.M):
                continue    # the lecture defines it too (for example a common name such as `x`)
            later = [source(c) for c in cells[exercise["index"] + 2:]
                     if c["cell_type"] == "code" and "self-check" not in tags(c)]
            users = [code for code in later if re.search(rf"\b{name}\b", code)]
            assert not users, f"a later cell uses the exercise's {name!r}:\n{users[0]}"


def test_every_worked_answer_passes_its_self_check(request):
    """Run the lecture with the worked answers pasted in: every self-check prints its correct line."""
    import nbformat
    from nbclient import NotebookClient

    path = request.cls.PATH
    notebook = nbformat.read(path, as_version=4)
    found = exercises(json.loads(path.read_text()))
    assert found, f"{path.name} has no exercises"
    for exercise in found:
        notebook.cells[exercise["index"]].source = worked_answer(exercise["answer"])
    last_check = max(exercise["index"] + 1 for exercise in found)
    notebook.cells = notebook.cells[:last_check + 1]      # nothing after the last self-check matters here
    NotebookClient(notebook, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for k, exercise in enumerate(found, start=1):
        printed = "".join(o.get("text", "") for o in notebook.cells[exercise["index"] + 1].outputs
                          if o.get("output_type") == "stream")
        assert printed.startswith(CORRECT) and "correct" in printed, \
            f"{path.name} exercise {k}: its worked answer gives {printed!r}"


_TESTS = {name: fn for name, fn in list(globals().items()) if name.startswith("test_") and callable(fn)}
for _path in NUMBERED:
    _name = f"TestExercises_{_path.stem}"
    globals()[_name] = type(_name, (), {"PATH": _path,
                                        **{test: staticmethod(fn) for test, fn in _TESTS.items()}})
for _test in _TESTS:
    del globals()[_test]
del _path, _name, _test
