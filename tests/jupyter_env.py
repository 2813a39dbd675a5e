"""What the tests that start JupyterLab share (imported as `jupyter_env`).

A server under test gets a free loopback port and its own Jupyter folders, so it
reads no user configuration and writes nothing outside the test's tmp folder:
not the user's workspaces, settings, kernels' history, nor the notebook trust
database that `python -m course.lab` signs the lectures into.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

FOLDERS = [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
           ("IPYTHONDIR", "ipython"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
           ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_environment(home: Path) -> dict:
    """``os.environ`` with every Jupyter folder under ``home`` and the "Jupyter news?" toast off."""
    env = dict(os.environ)
    for variable, sub in FOLDERS:
        env[variable] = str(home / sub)
        (home / sub).mkdir(parents=True, exist_ok=True)
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env
