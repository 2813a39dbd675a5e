"""`make lab` is the product's main job: start its entry point on a free loopback
port, check that the server answers and serves the course, then shut it down."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course.lab import INDEX_NOTEBOOK, ROOT_VARIABLE, course_root, lab_arguments, lab_root
from jupyter_env import free_port, isolated_environment

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "course-test-token"


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_makefile_lab_target_uses_this_entry_point():
    makefile = (ROOT / "Makefile").read_text()
    assert "-m course.lab" in makefile


def test_course_root_is_the_repository():
    assert course_root() == ROOT
    assert (course_root() / "course" / "lab.py").exists()


def test_lab_arguments_open_the_index_when_it_exists(tmp_path):
    assert "--LabApp.default_url=/lab" in lab_arguments([], root=tmp_path)
    (tmp_path / "lectures").mkdir()
    (tmp_path / INDEX_NOTEBOOK).write_text("{}")
    args = lab_arguments(["--no-browser"], root=tmp_path)
    assert f"--LabApp.default_url=/lab/tree/{INDEX_NOTEBOOK}" in args
    assert f"--ServerApp.root_dir={tmp_path}" in args
    assert args[-1] == "--no-browser"


def test_lab_serves_the_repository_unless_course_root_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    assert lab_root() == ROOT
    assert f"--ServerApp.root_dir={ROOT}" in lab_arguments([])
    monkeypatch.setenv(ROOT_VARIABLE, "")
    assert lab_root() == ROOT
    monkeypatch.setenv(ROOT_VARIABLE, str(tmp_path))
    assert lab_root() == tmp_path
    (tmp_path / "lectures").mkdir()
    (tmp_path / INDEX_NOTEBOOK).write_text("{}")
    args = lab_arguments(["--no-browser"])
    assert f"--ServerApp.root_dir={tmp_path}" in args
    assert f"--LabApp.default_url=/lab/tree/{INDEX_NOTEBOOK}" in args
    # An explicit root still wins over the variable.
    other = tmp_path / "lectures"
    assert f"--ServerApp.root_dir={other}" in lab_arguments([], root=other)


def test_lab_arguments_reject_a_missing_course_root(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="root must be an existing folder.*nowhere"):
        lab_arguments([])


def test_lab_arguments_reject_a_missing_root(tmp_path):
    with pytest.raises(ValueError, match="root must be an existing folder.*nowhere"):
        lab_arguments([], root=tmp_path / "nowhere")


@pytest.mark.slow
def test_make_lab_entry_point_serves_the_course(tmp_path):
    port = free_port()
    env = isolated_environment(tmp_path)
    env.pop(ROOT_VARIABLE, None)  # serve the repository itself
    command = [sys.executable, "-m", "course.lab", "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={TOKEN}"]
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read()}")
            try:
                status = get_json(f"{base}/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"JupyterLab did not answer on port {port} within 60 s:\n{log.read()}")
                time.sleep(0.5)
        assert "started" in status

        # The server's root is the repository: the library and README are there.
        root_listing = {item["name"] for item in get_json(f"{base}/api/contents")["content"]}
        assert {"course", "README.md"} <= root_listing

        # Every lecture notebook in the repository is served, and one opens as a notebook.
        lectures = sorted(p.name for p in (ROOT / "lectures").glob("*.ipynb"))
        if lectures:
            served = {item["name"] for item in get_json(f"{base}/api/contents/lectures")["content"]}
            assert set(lectures) <= served
            notebook = get_json(f"{base}/api/contents/lectures/{lectures[0]}")
            assert notebook["type"] == "notebook"

        # The JupyterLab page itself is served (with the token).
        with urllib.request.urlopen(f"{base}/lab?token={TOKEN}", timeout=10) as response:
            assert response.status == 200
            assert b"JupyterLab" in response.read()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    assert server.returncode is not None


def test_environment_report_lists_versions_device_and_data():
    from importlib import metadata

    from course.lab import REPORTED_PACKAGES, environment_report

    report = environment_report()
    assert report["torch"] == metadata.version("torch")
    assert set(REPORTED_PACKAGES) <= set(report)
    assert report["device"] == "cpu" or report["device"].startswith("cuda (")
    assert report["threads"] >= 1
    assert report["offline data"] == "ok"


def test_trust_lectures_signs_each_lecture_once(tmp_path, monkeypatch):
    import nbformat
    from nbformat.sign import NotebookNotary

    from course.lab import trust_lectures

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))  # a fresh trust database
    (tmp_path / "lectures").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/html": "<b>2</b>"},
                                                        execution_count=1)]
    nbformat.write(notebook, tmp_path / "lectures" / "01_x.ipynb")
    notary = NotebookNotary()
    assert not notary.check_signature(nbformat.read(tmp_path / "lectures" / "01_x.ipynb", 4))
    assert trust_lectures(tmp_path) == [tmp_path / "lectures" / "01_x.ipynb"]
    assert NotebookNotary().check_signature(nbformat.read(tmp_path / "lectures" / "01_x.ipynb", 4))
    assert trust_lectures(tmp_path) == []      # already trusted: nothing to do
    assert nbformat.read(tmp_path / "lectures" / "01_x.ipynb", 4) == notebook   # the file is unchanged
