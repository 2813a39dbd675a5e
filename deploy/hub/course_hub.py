"""The course's JupyterHub and nbgrader settings, in one place.

Both hubs load this module: the single-machine hub (``deploy/hub/jupyterhub_config.py``)
and Zero to JupyterHub on Kubernetes (its Helm values' ``hub.extraConfig`` puts this file
on ``sys.path`` and calls :func:`apply_hub_settings`). Every student's and instructor's
server reads :func:`apply_nbgrader_settings` through ``deploy/hub/singleuser/nbgrader_config.py``.

Settings come from environment variables (defaults in brackets):

- ``COURSE_ID`` [``convseg``]: nbgrader's course id; the groups are ``nbgrader-<id>``
  (students) and ``formgrade-<id>`` (instructors), the exchange's subfolder is ``<id>``.
- ``COURSE_EXCHANGE`` [``/srv/nbgrader/exchange``]: nbgrader's exchange root, shared by
  every user: owned by root, mode 1777.
- ``COURSE_INSTRUCTORS``, ``COURSE_STUDENTS`` [none]: comma-separated user names.
- ``COURSE_LECTURES`` [the repository's ``lectures/``; ``""``: none]: copied into each
  home when its server starts.

Roles come from the hub: nbgrader's ``JupyterHubAuthPlugin`` asks the hub which
``nbgrader-<id>`` / ``formgrade-<id>`` groups the user is in, so a student sees, fetches
and submits only the assignments of their courses.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: the repository's root (deploy/hub/ is two levels down)
REPO = HERE.parents[1]
#: the folder the single-user servers read ``nbgrader_config.py`` from (``JUPYTER_CONFIG_PATH``)
SINGLEUSER_CONFIG_DIR = HERE / "singleuser"

DEFAULT_COURSE_ID = "convseg"
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"

#: scopes of each server's own token ($JUPYTERHUB_API_TOKEN): JupyterHub's defaults, plus
#: reading the user's own groups, which nbgrader's JupyterHubAuthPlugin needs for roles
SERVER_TOKEN_SCOPES = ["users:activity!user", "access:servers!server", "read:users:name!user",
                       "read:users:groups!user"]


def course_id() -> str:
    """The course id: ``$COURSE_ID`` or ``convseg``."""
    return os.environ.get("COURSE_ID") or DEFAULT_COURSE_ID


def exchange_root() -> str:
    """The exchange root of nbgrader: ``$COURSE_EXCHANGE`` or ``/srv/nbgrader/exchange``."""
    return os.environ.get("COURSE_EXCHANGE") or DEFAULT_EXCHANGE


def _names(variable: str) -> list[str]:
    return [name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()]


def instructors() -> list[str]:
    """User names in ``$COURSE_INSTRUCTORS`` (comma-separated)."""
    return _names("COURSE_INSTRUCTORS")


def students() -> list[str]:
    """User names in ``$COURSE_STUDENTS`` (comma-separated)."""
    return _names("COURSE_STUDENTS")


def lectures_dir() -> Path | None:
    """The lectures copied into each home: ``$COURSE_LECTURES``, else the repository's ``lectures/``."""
    value = os.environ.get("COURSE_LECTURES")
    if value == "":
        return None
    return Path(value) if value else REPO / "lectures"


def apply_nbgrader_settings(c: Any) -> None:
    """Configure nbgrader's exchange on ``c`` (an nbgrader config object).

    Args:
        c: the ``get_config()`` object of an ``nbgrader_config.py``.

    The same settings serve students (Assignments tab: fetch, submit, fetch feedback)
    and instructors (``nbgrader release_assignment``, ``collect``, ``release_feedback``).
    """
    from nbgrader.auth import JupyterHubAuthPlugin

    c.CourseDirectory.course_id = course_id()
    c.Exchange.root = exchange_root()
    # one subfolder per course in each student's home: <course>/<assignment>/
    c.Exchange.path_includes_course = True
    c.Authenticator.plugin_class = JupyterHubAuthPlugin


def prepare_home(spawner: Any) -> None:
    """``Spawner.pre_spawn_hook``: make the user's home private and copy the lectures into it.

    Both steps run under the user's own uid: ``chmod go-rwx`` on the home (``useradd -m``
    makes homes world-readable where ``HOME_MODE`` is unset, as on Debian: every student
    could read every other's answers), then ``cp -R --no-clobber`` of the lectures, so a
    file the student already has (an edited lecture) is never overwritten and nothing
    lands where the user could not write themselves.

    Args:
        spawner: the hub's spawner of the server about to start.
    """
    import pwd

    try:
        account = pwd.getpwnam(spawner.user.name)
    except KeyError:
        return  # not a system user (a container spawner): the image and volume provide the home

    def as_user(*command: str) -> None:
        subprocess.run(command, user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd=account.pw_dir,
                       check=False, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    as_user("chmod", "go-rwx", account.pw_dir)
    source = lectures_dir()
    if source is not None and source.is_dir():
        as_user("cp", "-R", "--no-clobber", str(source), account.pw_dir)


def apply_hub_settings(c: Any) -> None:
    """Give the hub the course's groups, the servers' token scopes and nbgrader's config.

    Args:
        c: the ``get_config()`` object of ``jupyterhub_config.py`` (or Helm's ``hub.extraConfig``).

    Adds instructors to ``formgrade-<id>`` and students to ``nbgrader-<id>``
    (``load_groups`` only adds: removing someone is done in the hub's admin page or API),
    lets each server's token read its own user's groups, and points every server
    at ``deploy/hub/singleuser/`` for its ``nbgrader_config.py``.
    """
    course = course_id()
    c.JupyterHub.load_groups = {
        f"formgrade-{course}": {"users": instructors()},
        f"nbgrader-{course}": {"users": students()},
    }
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    environment = dict(c.Spawner.environment) if "environment" in c.Spawner else {}
    environment.update({
        "COURSE_ID": course,
        "COURSE_EXCHANGE": exchange_root(),
        "JUPYTER_CONFIG_PATH": str(SINGLEUSER_CONFIG_DIR),
    })
    c.Spawner.environment = environment
