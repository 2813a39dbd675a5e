"""Re-run lecture notebooks in place so their stored outputs are current.

    .venv/bin/python scripts/execute_lectures.py                 # every lectures/*.ipynb
    .venv/bin/python scripts/execute_lectures.py lectures/06_upsampling.ipynb

Lectures are committed with their outputs (students read them before running),
and ``make test`` runs them with strict nbval, which fails when a stored text
output no longer reproduces. After editing a lecture, run this script and
commit the result. It executes each notebook top to bottom in its own folder
with the ``python3`` kernel, records no timings, and stores the state of the
widgets still on screen at the end (so an explorer shows its first figure in
a notebook that has not been run). Widgets the kernel closed, such as the
per-epoch progress bars of ``course.train.fit``, are dropped with their
outputs, as JupyterLab drops them from the screen.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


class LectureClient(NotebookClient):
    """A NotebookClient that remembers which widgets the kernel closed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.closed_widgets: set[str] = set()

    def handle_comm_msg(self, outs, msg, cell_index):
        if msg["msg_type"] == "comm_close":
            self.closed_widgets.add(msg["content"]["comm_id"])
        super().handle_comm_msg(outs, msg, cell_index)


def execute(path: Path, timeout: int = 300) -> float:
    """Execute ``path`` in place; return the seconds it took."""
    import nbformat

    from course.grading.release import merge_streams

    notebook = nbformat.read(path, as_version=4)
    client = LectureClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                           store_widget_state=True, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)      # one print is one output, however it arrived
    drop_closed_widgets(notebook, client.closed_widgets)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return seconds


def drop_closed_widgets(notebook, closed: set[str]) -> None:
    """Remove the outputs of closed widgets, and keep only the widget state still shown."""
    roots = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            model_id = output.get("data", {}).get(WIDGET_VIEW, {}).get("model_id")
            if model_id in closed:
                continue
            if model_id:
                roots.append(model_id)
            kept.append(output)
        cell.outputs = kept
    widgets = notebook.metadata.get("widgets", {}).get(WIDGET_STATE)
    if not widgets:
        notebook.metadata.pop("widgets", None)
        return
    state = widgets["state"]
    reachable, todo = set(), list(roots)
    while todo:  # models refer to each other (children, layout, style) as "IPY_MODEL_<id>"
        model_id = todo.pop()
        if model_id in reachable or model_id not in state:
            continue
        reachable.add(model_id)
        todo.extend(re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model_id])))
    widgets["state"] = {key: value for key, value in state.items() if key in reachable}
    if not widgets["state"]:
        notebook.metadata.pop("widgets")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lectures/*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "lectures").glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            parser.error(f"notebooks: no such notebook {str(path)!r}")
        seconds = execute(path.resolve())
        print(f"{path.name}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
