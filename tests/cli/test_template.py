"""The plugin package template: ``new_plugin`` renders it, ``examples/plugin-template`` is a
fresh rendering, and a rendered package and the committed one, pip-installed with this project
into a fresh virtualenv, are found through their entry points and run by the installed
``waypoint-hooks`` command; their own tests pass there (issue 5, deliverables 1 and 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from waypoint_hooks.cli.scaffold import new_plugin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugin-template"
REGENERATE = (
    "regenerate it: cd examples && rm -r plugin-template && "
    "waypoint-hooks new-plugin example && mv waypoint-hooks-example plugin-template"
)
# What building, testing and linting leave in a package: never part of what it is.
LITTER = (
    "__pycache__",
    "build",
    "dist",
    "*.egg-info",
    ".*cache",
    ".hypothesis",
    ".venv",
    ".waypoint-hooks",
    ".git",
)
ignore_litter = shutil.ignore_patterns(*LITTER)
HOOKS = [
    "platform_deploy_func",
    "platform_destroy_func",
    "platform_status_func",
    "release_manager_destroy_func",
    "release_manager_release_func",
    "release_manager_status_func",
]
# Each plugin installed: one made by `waypoint-hooks new-plugin`, the committed example, a
# notifier made by `new-plugin --kind notifier`; and the directory of its package.
PACKAGES = {
    "markers": "waypoint-hooks-markers",
    "example": "example",
    "pager": "waypoint-hooks-pager",
}
PLUGINS = ["markers", "example"]


def files(root: Path) -> dict[str, str]:
    """Every file of a package, by relative path, with its text; litter left out."""
    found = {}
    for directory, subdirectories, names in os.walk(root):
        kept = set(subdirectories) - set(ignore_litter(directory, subdirectories))
        subdirectories[:] = sorted(kept)
        for name in set(names) - set(ignore_litter(directory, names)):
            path = Path(directory, name)
            found[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return found


# --- rendering ---------------------------------------------------------------------------


def test_new_plugin_renders_a_package_named_after_the_plugin(tmp_path: Path) -> None:
    target = new_plugin("my-cloud", tmp_path / "plugins")
    assert target == tmp_path / "plugins" / "waypoint-hooks-my-cloud"
    rendered = files(target)
    assert sorted(rendered) == [
        "README.md",
        "pyproject.toml",
        "setup.cfg",
        "tests/test_plugin.py",
        "waypoint_hooks_my_cloud/__init__.py",
    ]
    assert "name = waypoint-hooks-my-cloud\n" in rendered["setup.cfg"]
    assert "waypoint_hooks =\n    my-cloud = waypoint_hooks_my_cloud\n" in rendered["setup.cfg"]
    assert not [path for path, text in rendered.items() if "{{" in text or "}}" in text]
    for path, text in rendered.items():
        if path.endswith(".py"):
            compile(text, path, "exec")


def test_the_committed_example_is_a_fresh_rendering(tmp_path: Path) -> None:
    fresh = files(new_plugin("example", tmp_path))
    committed = files(EXAMPLE)
    assert sorted(committed) == sorted(fresh), f"examples/plugin-template drifted: {REGENERATE}"
    drifted = [path for path in fresh if committed[path] != fresh[path]]
    assert not drifted, f"{drifted} drifted from the template: {REGENERATE}"


def test_new_plugin_renders_a_notifier_with_kind_notifier(tmp_path: Path) -> None:
    rendered = files(new_plugin("pager", tmp_path, "notifier"))
    assert sorted(rendered) == sorted(files(new_plugin("pager", tmp_path / "platform")))
    assert (
        "description = The pager plugin for waypoint-hooks: a notifier\n" in rendered["setup.cfg"]
    )
    assert "def notifier_send(" in rendered["waypoint_hooks_pager/__init__.py"]
    assert "platform" not in rendered["waypoint_hooks_pager/__init__.py"]
    for path, text in rendered.items():
        if path.endswith(".py"):
            compile(text, path, "exec")


def test_new_plugin_refuses_a_kind_it_has_no_template_for(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'builder' is not a kind of plugin; choose one of"):
        new_plugin("x", tmp_path, "builder")
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_an_existing_directory_and_leaves_it_alone(tmp_path: Path) -> None:
    target = new_plugin("markers", tmp_path)
    (target / "setup.cfg").write_text("mine")
    with pytest.raises(ValueError, match=r"waypoint-hooks-markers already exists; remove it"):
        new_plugin("markers", tmp_path)
    assert (target / "setup.cfg").read_text() == "mine"


@pytest.mark.parametrize(
    "name", ["", "Cloud", "1cloud", "my cloud", "my--cloud", "cloud-", "-cloud", "my.cloud", "a=b"]
)
def test_new_plugin_rejects_a_name_a_plugin_cannot_have(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"cannot be a plugin's name: use lowercase letters"):
        new_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_rejects_the_name_of_a_builtin_plugin(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'filepath' is the name of a builtin plugin"):
        new_plugin("filepath", tmp_path)


# --- installed for real: a fresh virtualenv, pip, the console script ----------------------


def clean_environment() -> dict[str, str]:
    # Nothing of this test run may reach the virtualenv's commands: its plugin switches, its
    # state file, or a PYTHONPATH that would import this checkout instead of the installation.
    leaks = (
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "WAYPOINT_HOOKS_DISABLE_PLUGIN_AUTOLOAD",
        "WAYPOINT_HOOKS_STATE",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
    )
    return {name: value for name, value in os.environ.items() if name not in leaks}


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the packages to install, with copies of this project and of the example:
    pip builds in the source tree, and must not in this checkout (its build/ and .egg-info
    would also show as drift of the example)."""
    root = tmp_path_factory.mktemp("sources")
    shutil.copytree(ROOT, root / "waypoint-hooks", ignore=ignore_litter)
    shutil.copytree(EXAMPLE, root / PACKAGES["example"], ignore=ignore_litter)
    return root


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory, sources: Path) -> Path:
    """The bin directory of a fresh virtualenv (no system site-packages) where pip installed
    this project, then the package its `new-plugin` command made and the committed example,
    with their test extra: what a plugin author does."""
    directory = tmp_path_factory.mktemp("venv")
    made = run(sys.executable, "-m", "venv", directory)
    assert made.returncode == 0, made.stderr
    bin_directory = directory / ("Scripts" if os.name == "nt" else "bin")
    # Without the network pip fails, and so does every test here: none is skipped.
    pip = (bin_directory / "python", "-m", "pip", "install", "--quiet")
    framework = run(*pip, sources / "waypoint-hooks")
    assert framework.returncode == 0, framework.stdout + framework.stderr
    # Made by the installed command: the template must have been installed with it. Its
    # "Next:" steps install the package into this virtualenv and run its tests: they work
    # with waypoint-hooks from a checkout, not from the package index.
    for plugin, kind in (("markers", "platform"), ("pager", "notifier")):
        created = run(
            bin_directory / "waypoint-hooks", "new-plugin", plugin, "--kind", kind, cwd=sources
        )
        assert created.returncode == 0, created.stdout + created.stderr
        steps = [line.strip() for line in created.stdout.split("Next")[1].splitlines()[1:]]
        followed = run("bash", "-c", " && ".join(filter(None, steps)), cwd=sources)
        assert followed.returncode == 0, f"{steps}\n{followed.stdout}{followed.stderr}"
        assert " passed" in followed.stdout.splitlines()[-1]
    # waypoint-hooks>=0.1, which it requires, is met by the installation above.
    example = run(*pip, f"{sources / PACKAGES['example']}[test]")
    assert example.returncode == 0, example.stdout + example.stderr
    return bin_directory


def waypoint_hooks(
    venv: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run(venv / "waypoint-hooks", *args, cwd=cwd)


@pytest.mark.parametrize(
    ("plugin", "kinds", "hooks"),
    [
        *((plugin, ["platform", "release_manager"], HOOKS) for plugin in PLUGINS),
        ("pager", ["notifier"], ["notifier_send"]),
    ],
)
def test_the_installed_plugin_is_found_through_its_entry_point(
    venv: Path, plugin: str, kinds: list[str], hooks: list[str]
) -> None:
    listed = waypoint_hooks(venv, "plugins", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    by_name = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert by_name[plugin] == {
        "name": plugin,
        "version": "0.1.0",
        "distribution": f"waypoint-hooks-{plugin}",
        "kinds": kinds,
        "hooks": hooks,
        "source": "entry-point",
        "requires": "waypoint-hooks>=0.1",
        "error": None,
    }
    assert by_name["filepath"]["source"] == "builtin"


CONFIG = """\
project = "shop"

app "web" {{
  deploy {{
    use "{plugin}" {{
      directory = "deployments"
    }}
  }}

  release {{
    use "{plugin}" {{}}
  }}
}}
"""


@pytest.mark.parametrize("plugin", PLUGINS)
def test_up_status_and_destroy_run_the_installed_plugin(
    venv: Path, plugin: str, tmp_path: Path
) -> None:
    (tmp_path / "waypoint.hcl").write_text(CONFIG.format(plugin=plugin))
    up = waypoint_hooks(venv, "up", cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "v1 ✔ READY" in up.stdout

    status = waypoint_hooks(venv, "status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    (web,) = json.loads(status.stdout)["apps"]
    deployment, release = web["deployment"], web["release"]
    assert (deployment["platform"], release["release_manager"]) == (plugin, plugin)
    report = deployment["report"]
    assert (report["health"], report["health_message"]) == (
        "READY",
        "All 2 resources are reporting READY",
    )
    directory, instance = report["resources"]
    assert (directory["name"], instance["name"]) == ("directory", "instance")
    assert instance["parent_resource_id"] == directory["id"]
    assert {r["platform"] for r in report["resources"]} == {plugin}
    assert release["report"]["health"] == "READY"

    destroy = waypoint_hooks(venv, "destroy", cwd=tmp_path)
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    assert os.listdir(tmp_path / "deployments") == []
    after = json.loads(waypoint_hooks(venv, "status", "--json", cwd=tmp_path).stdout)
    assert (after["apps"][0]["deployment"], after["apps"][0]["release"]) == (None, None)


@pytest.mark.parametrize("plugin", list(PACKAGES))
def test_the_package_s_own_tests_pass_in_the_virtualenv(
    venv: Path, sources: Path, plugin: str
) -> None:
    # The console script, not `python -m pytest`: the package must be imported from the
    # installation, not from the source directory the tests run in.
    tested = run(venv / "pytest", "-p", "no:cacheprovider", cwd=sources / PACKAGES[plugin])
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " passed" in tested.stdout.splitlines()[-1]
