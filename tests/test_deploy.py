"""The Zero to JupyterHub deployment (deploy/kubernetes/) against the repository and deploy/hub/.

No cluster and no Docker engine here: these tests check what can be checked on
paper. The Helm values use only keys of the chart's schema, carry the course id,
exchange and groups of ``deploy/hub/course_hub.py`` (imported, not repeated), and
their ``hub.extraConfig`` runs against a traitlets config; the Dockerfile installs
the pins of ``constraints.txt``, copies files that exist (and never the hidden
tests), and starts a single-user server; the pods' memory is not below what
``benchmarks/class_sizing.py`` measured.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
HUB = ROOT / "deploy" / "hub"

#: Key paths of the jupyterhub chart's values.schema.yaml (chart 4.x, schema read from
#: github.com/jupyterhub/zero-to-jupyterhub-k8s at 48ea50e, July 2026) that values.yaml uses.
SCHEMA_KEY_PATHS = {
    "hub", "hub.config", "hub.config.JupyterHub", "hub.extraEnv", "hub.extraFiles", "hub.loadRoles",
    "hub.extraConfig",
    "singleuser", "singleuser.image", "singleuser.image.name", "singleuser.image.tag", "singleuser.cmd",
    "singleuser.defaultUrl", "singleuser.startTimeout", "singleuser.memory", "singleuser.memory.guarantee",
    "singleuser.memory.limit", "singleuser.cpu", "singleuser.cpu.guarantee", "singleuser.cpu.limit",
    "singleuser.storage", "singleuser.storage.capacity", "singleuser.storage.extraVolumes",
    "singleuser.storage.extraVolumeMounts",
    "cull", "cull.enabled", "cull.timeout", "cull.every", "cull.users",
    "scheduling", "scheduling.userScheduler", "scheduling.userScheduler.enabled", "scheduling.podPriority",
    "scheduling.podPriority.enabled", "scheduling.userPlaceholder", "scheduling.userPlaceholder.enabled",
    "scheduling.userPlaceholder.replicas",
}
#: schema keys whose content is free-form (additionalProperties, lists, traitlets pass-through)
FREE_FORM = {"hub.extraEnv", "hub.extraFiles", "hub.loadRoles", "hub.extraConfig",
             "singleuser.storage.extraVolumes", "singleuser.storage.extraVolumeMounts"}
#: hub.config: only class names (capitalised) are allowed below it
TRAITLETS_SECTION = re.compile(r"^[A-Z]")


def load_module(name: str, path: Path) -> ModuleType:
    """Import a file as a module (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def course_hub() -> ModuleType:
    """deploy/hub/course_hub.py: the course's hub and nbgrader settings."""
    return load_module("course_hub", HUB / "course_hub.py")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    """deploy/kubernetes/values.yaml, parsed."""
    return yaml.safe_load((KUBERNETES / "values.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str, str]]:
    """The Dockerfile's instructions: (INSTRUCTION, arguments, heredoc body or "")."""
    return parse_dockerfile((KUBERNETES / "Dockerfile").read_text())


def parse_dockerfile(text: str) -> list[tuple[str, str, str]]:
    """Split a Dockerfile into instructions, joining ``\\`` continuations and reading ``<<"EOF"`` heredocs."""
    lines = text.splitlines()
    instructions, index = [], 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        while line.endswith("\\") and index < len(lines):
            line = line[:-1] + " " + lines[index].strip()
            index += 1
        keyword, _, arguments = line.partition(" ")
        body = ""
        heredoc = re.search(r"<<-?[\"']?(\w+)[\"']?", arguments)
        if heredoc:
            end = lines.index(heredoc.group(1), index)
            body, index = "\n".join(lines[index:end]) + "\n", end + 1
        instructions.append((keyword.upper(), arguments.strip(), body))
    return instructions


def key_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Every key path of a nested mapping, not descending below free-form keys or hub.config's sections."""
    paths = []
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.append(path)
        if isinstance(value, dict) and path not in FREE_FORM and prefix != "hub.config":
            paths.extend(key_paths(value, path))
    return paths


#: KubeSpawner's memory suffixes (jupyterhub's ByteSpecification: powers of 1024), in MiB
MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}


def mebibytes(quantity: str | int | float) -> float:
    """A KubeSpawner memory figure in MiB: ``"896M"`` is 896, ``"2G"`` 2048; a bare number is bytes."""
    if isinstance(quantity, (int, float)):
        return quantity / 2**20
    match = re.fullmatch(r"([0-9.]+)([KMGT])", quantity)
    if match is None:
        raise ValueError(f"quantity: expected a number and one of K, M, G, T, got {quantity!r}")
    return float(match[1]) * MEMORY_UNITS[match[2]]


# --- Helm values ------------------------------------------------------------------------------------------------

def test_values_use_only_keys_of_the_chart_schema(values: dict[str, Any]) -> None:
    unknown = [path for path in key_paths(values) if path not in SCHEMA_KEY_PATHS
               and not (path.startswith("hub.config.") and TRAITLETS_SECTION.match(path.split(".")[2]))]
    assert not unknown, f"keys not in the chart's values schema: {unknown}"


def test_values_carry_the_hub_modules_course_and_exchange(values: dict[str, Any], course_hub: ModuleType) -> None:
    environment = values["hub"]["extraEnv"]
    assert environment["COURSE_ID"] == course_hub.DEFAULT_COURSE_ID
    assert environment["COURSE_EXCHANGE"] == course_hub.DEFAULT_EXCHANGE
    mounts = {mount["name"]: mount["mountPath"] for mount in values["singleuser"]["storage"]["extraVolumeMounts"]}
    volumes = {volume["name"]: volume for volume in values["singleuser"]["storage"]["extraVolumes"]}
    exchange = [name for name, path in mounts.items() if path == course_hub.DEFAULT_EXCHANGE]
    assert exchange, f"no volume mounted at the exchange {course_hub.DEFAULT_EXCHANGE}: {mounts}"
    assert "persistentVolumeClaim" in volumes[exchange[0]], "the exchange must be one shared claim, the same for all"


def test_instructor_role_names_the_hub_modules_grader_group(values: dict[str, Any], course_hub: ModuleType) -> None:
    groups = [group for role in values["hub"]["loadRoles"].values() for group in role.get("groups", [])]
    assert groups == [f"formgrade-{course_hub.DEFAULT_COURSE_ID}"]
    instructors = values["hub"]["extraEnv"]["COURSE_INSTRUCTORS"].split(",")
    assert instructors and all(name.strip() for name in instructors), "values.yaml names no instructor account"


def test_hub_module_is_mounted_where_extra_config_imports_it(values: dict[str, Any]) -> None:
    mount = Path(values["hub"]["extraFiles"]["course-hub"]["mountPath"])
    # the chart's jupyterhub_config.py lives in /usr/local/etc/jupyterhub and puts its folder on sys.path
    assert mount.parent == Path("/usr/local/etc/jupyterhub") and mount.name == (HUB / "course_hub.py").name
    assert "import course_hub" in values["hub"]["extraConfig"]["10-course"]


def test_extra_config_sets_groups_environment_and_instructor_resources(
        values: dict[str, Any], course_hub: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from traitlets.config import Config

    monkeypatch.setitem(sys.modules, "course_hub", course_hub)
    for name, value in values["hub"]["extraEnv"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COURSE_STUDENTS", "ada,grace")
    config = Config()
    config.KubeSpawner.environment = {"FROM_SINGLEUSER_EXTRA_ENV": "1"}  # what the chart sets first
    exec(compile(values["hub"]["extraConfig"]["10-course"], "hub.extraConfig", "exec"), {"c": config})

    course = course_hub.DEFAULT_COURSE_ID
    assert config.JupyterHub.load_groups == {f"formgrade-{course}": {"users": ["instructor"]},
                                             f"nbgrader-{course}": {"users": ["ada", "grace"]}}
    assert config.Authenticator.allowed_users == {"instructor", "ada", "grace"}
    environment = config.KubeSpawner.environment
    assert environment["COURSE_ID"] == course and environment["FROM_SINGLEUSER_EXTRA_ENV"] == "1"
    assert "JUPYTER_CONFIG_PATH" not in environment, "a folder of the hub's pod means nothing in a user's pod"
    assert "uid" not in config.KubeSpawner, "per-user uids are opt-in (COURSE_PER_USER_UID)"

    def spawner(name: str) -> SimpleNamespace:
        return SimpleNamespace(user=SimpleNamespace(name=name), mem_limit=None, mem_guarantee=None,
                               cpu_limit=None, cpu_guarantee=None)

    teacher, student = spawner("instructor"), spawner("ada")
    for each in (teacher, student):
        asyncio.run(config.KubeSpawner.pre_spawn_hook(each))
    assert mebibytes(teacher.mem_limit) > mebibytes(values["singleuser"]["memory"]["limit"])
    assert student.mem_limit is None, "students keep singleuser.memory"


# --- the single-user image ---------------------------------------------------------------------------------------

def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            pins[name.lower()] = version
    return pins


def test_dockerfile_installs_the_pins_of_constraints_txt(dockerfile: list[tuple[str, str, str]]) -> None:
    pins = constraint_pins()
    named: dict[str, str] = {}
    for keyword, arguments, _ in dockerfile:
        if keyword == "RUN" and "pip install" in arguments:
            assert "--constraint /opt/convseg/constraints.txt" in arguments, arguments
            named.update(re.findall(r"\b([A-Za-z0-9_.-]+)==([0-9][^\s&]*)", arguments))
    assert named, "the Dockerfile pins nothing"
    assert {name.lower(): version for name, version in named.items()} == {name.lower(): pins[name.lower()]
                                                                          for name in named}
    assert {"torch", "torchvision", "nbgrader"} <= set(named)


def test_dockerfile_copies_files_that_exist_and_never_hidden_tests(dockerfile: list[tuple[str, str, str]]) -> None:
    copied = []
    for keyword, arguments, body in dockerfile:
        if keyword == "COPY" and not body:
            words = [word for word in shlex.split(arguments) if not word.startswith("--")]
            copied.extend(words[:-1])
    assert copied
    missing = [source for source in copied if not (ROOT / source).exists()]
    assert not missing, f"COPY of files not in the repository: {missing}"
    secret = [source for source in copied if source.rstrip("/") in ("assignments", "assignments/source", "solutions")
              or source.startswith(("assignments/source", "solutions"))]
    assert not secret, f"students' image would hold solutions or hidden tests: {secret}"


def test_dockerfile_starts_a_single_user_server(dockerfile: list[tuple[str, str, str]],
                                                values: dict[str, Any]) -> None:
    commands = [json.loads(arguments) for keyword, arguments, _ in dockerfile if keyword == "CMD"]
    assert commands and commands[-1] == ["jupyterhub-singleuser"]
    assert not [arguments for keyword, arguments, _ in dockerfile if keyword == "ENTRYPOINT"], \
        "keep the base image's entrypoint: it runs before-notebook.d/ (lectures into the home)"
    assert values["singleuser"]["cmd"] == commands[-1][0]
    base = [arguments for keyword, arguments, _ in dockerfile if keyword == "FROM"]
    assert base[0].startswith("quay.io/jupyter/") and "python-3.11" in base[0]


def test_dockerfile_nbgrader_config_imports_the_copied_hub_module(dockerfile: list[tuple[str, str, str]],
                                                                  course_hub: ModuleType) -> None:
    heredocs = {arguments.split()[-1]: body for keyword, arguments, body in dockerfile if body}
    config = heredocs["/etc/jupyter/nbgrader_config.py"]
    compile(config, "nbgrader_config.py", "exec")
    folder = re.search(r'sys\.path\.insert\(0, "([^"]+)"\)', config).group(1)  # type: ignore[union-attr]
    destinations = [shlex.split(arguments)[-1] for keyword, arguments, body in dockerfile
                    if keyword == "COPY" and not body and "deploy/hub/course_hub.py" in arguments]
    assert destinations == [f"{folder}/course_hub.py"]
    # run it, with the module where this checkout has it
    from traitlets.config import Config

    settings = Config()
    local = config.replace(folder, str(HUB))
    saved_path, saved_module = list(sys.path), sys.modules.pop("course_hub", None)
    try:
        exec(compile(local, "nbgrader_config.py", "exec"), {"get_config": lambda: settings})
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("course_hub", None)
        if saved_module is not None:
            sys.modules["course_hub"] = saved_module
    assert settings.CourseDirectory.course_id == course_hub.DEFAULT_COURSE_ID
    assert settings.Exchange.root == course_hub.DEFAULT_EXCHANGE
    assert settings.Authenticator.plugin_class.__name__ == "JupyterHubAuthPlugin"
    environment = " ".join(arguments for keyword, arguments, _ in dockerfile if keyword == "ENV")
    assert f"COURSE_ID={course_hub.DEFAULT_COURSE_ID}" in environment
    assert f"COURSE_EXCHANGE={course_hub.DEFAULT_EXCHANGE}" in environment
    runs = " ".join(arguments for keyword, arguments, _ in dockerfile if keyword == "RUN")
    assert "import matplotlib.font_manager" in runs, "the font cache is built in the image"
    assert "enable --sys-prefix nbgrader.server_extensions.assignment_list" in runs


# --- sizing -----------------------------------------------------------------------------------------------------

def test_memory_figures_cover_what_was_measured(values: dict[str, Any]) -> None:
    measured = json.loads((KUBERNETES / "class_sizing.json").read_text())
    memory = values["singleuser"]["memory"]
    worst_kernel = max(lecture["peak_mib"] for lecture in measured["lectures"])
    assert len(measured["lectures"]) == len(list((ROOT / "lectures").glob("*.ipynb"))), "sizing misses lectures"
    assert mebibytes(memory["guarantee"]) >= measured["idle"]["total_mib"]
    # room for the heaviest lecture and an assignment's kernel beside it
    assert mebibytes(memory["limit"]) >= measured["idle"]["total_mib"] + worst_kernel
    assert values["singleuser"]["cpu"]["limit"] >= 1, "a kernel runs one thread: give it a core"


@pytest.mark.parametrize(("quantity", "expected"), [("896M", 896), ("2G", 2048), ("1.5G", 1536), ("512K", 0.5)])
def test_mebibytes_reads_kubespawner_quantities(quantity: str, expected: float) -> None:
    assert mebibytes(quantity) == expected
