"""JupyterHub for the course on one machine: ``jupyterhub -f deploy/hub/jupyterhub_config.py``.

Run as root (the hub starts each user's server as that system user). Every user gets
JupyterLab with the course's Python environment, the lectures copied into their home
on first start, and nbgrader's Assignments tab wired to a shared exchange; roles come
from the hub's groups (deploy/hub/course_hub.py holds the course settings, which the
Kubernetes deployment shares).

Environment variables (defaults in brackets), besides those of course_hub.py:

- ``COURSE_HUB_IP`` [all interfaces], ``COURSE_HUB_PORT`` [8000]: where users connect
  (configurable-http-proxy listens there).
- ``COURSE_HUB_INTERNAL_PORT`` [8081], ``COURSE_HUB_PROXY_API_PORT`` [8001]: the hub's
  and the proxy's API, always on 127.0.0.1.
- ``COURSE_HUB_STATE_DIR`` [``/srv/jupyterhub``]: the hub's database, cookie secret, proxy token.
- ``COURSE_HUB_PYTHON`` [the hub's own interpreter]: the Python every server runs
  (it must be readable and executable by every user).
- ``COURSE_HUB_SHARED_PASSWORD`` [unset: PAM, the users' system passwords]: one password
  for every allowed user (a workshop, a test), with JupyterHub's SharedPasswordAuthenticator.
- ``COURSE_HUB_SERVICE_TOKEN`` [unset]: an API token for a service ``course-admin`` with
  the hub's admin role, for automation (creating users' tokens, starting servers).
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from course_hub import apply_hub_settings, instructors, prepare_home, students

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

state_dir = Path(os.environ.get("COURSE_HUB_STATE_DIR") or "/srv/jupyterhub")
python = os.environ.get("COURSE_HUB_PYTHON") or sys.executable

# --- network: users reach the proxy; the hub and the proxy's API stay on loopback ----------
c.JupyterHub.bind_url = f"http://{os.environ.get('COURSE_HUB_IP', '')}:{os.environ.get('COURSE_HUB_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('COURSE_HUB_INTERNAL_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('COURSE_HUB_PROXY_API_PORT', '8001')}"
# the proxy outlives a hub restart unless the hub started it and is told to stop it
c.ConfigurableHTTPProxy.should_start = True

# --- the hub's state --------------------------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state_dir / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(state_dir / "jupyterhub-proxy.pid")

# --- who may log in ---------------------------------------------------------------------
if os.environ.get("COURSE_HUB_SHARED_PASSWORD"):
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ["COURSE_HUB_SHARED_PASSWORD"]
else:
    c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(instructors()) | set(students())

if os.environ.get("COURSE_HUB_SERVICE_TOKEN"):
    c.JupyterHub.services = [{"name": "course-admin", "api_token": os.environ["COURSE_HUB_SERVICE_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["course-admin"]}]

# --- each user's server: JupyterLab as their own system user, in their home ----------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [python, "-m", "jupyterhub.singleuser"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
# the environment's bin/ first: `python` of the kernelspec, `nbgrader` and `course-admin`
c.Spawner.environment = {"PATH": f"{os.path.dirname(python)}:/usr/local/bin:/usr/bin:/bin"}
c.Spawner.pre_spawn_hook = prepare_home

# --- the course: groups (roles), exchange, nbgrader config of every server -----------------
apply_hub_settings(c)
