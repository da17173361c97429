"""Compatibility (issue 28): a project pins its plugins' versions with ``plugin`` blocks, and a
plugin whose distribution requires another waypoint-hooks than the installed one is not loaded.

The plugins are real distributions, built from source and installed by pip into a directory
of their own (``--target``), then found by the installed console script through PYTHONPATH.
pip is told ``--no-deps``, as a user who bypassed it would: it then installs a plugin that
requires another waypoint-hooks without a word, and the launcher must say it.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers_packages import pip_install, plugin_package
from hostile.harness import Processes, script_env

from waypoint_hooks import __version__
from waypoint_hooks.host import AUTOLOAD_ENV

PLUGIN = """
from waypoint_hooks import Health, StatusReport, hookimpl


@hookimpl
def platform_deploy_func() -> dict[str, str]:
    return {"id": "1"}


@hookimpl
def platform_status_func() -> StatusReport:
    return StatusReport(health=Health.READY, health_message="fine")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pip installed ``acme`` 1.5.0, made for this waypoint-hooks, and ``oldie``
    0.3.0, made for the ones before it."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    for name, version, requires in (
        ("acme", "1.5.0", f"waypoint-hooks>={__version__}"),
        ("oldie", "0.3.0", f"waypoint-hooks<{__version__}; python_version >= '3'"),
    ):
        pip_install(target, plugin_package(root, name, version, PLUGIN, requires))
    return target


def _run(site: Path, directory: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "waypoint.hcl").write_text(textwrap.dedent(config))
    env = script_env()
    env[AUTOLOAD_ENV] = "0"
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    processes = Processes()
    try:
        return processes.run(args, cwd=directory, env=env)
    finally:
        processes.close()


def _project(plugin: str, pin: str = "") -> str:
    return f"""\
        project = "p"
        app "web" {{
          deploy {{
            use "{plugin}" {{
            }}
          }}
        }}
        {pin}"""


def test_plugins_lists_the_requirement_and_why_an_incompatible_plugin_is_not_loaded(
    site: Path, tmp_path: Path
) -> None:
    done = _run(site, tmp_path, _project("acme"), "plugins", "--json")
    by_name = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert by_name["acme"]["requires"] == f"waypoint-hooks>={__version__}"
    assert by_name["acme"]["error"] is None
    assert by_name["acme"]["kinds"] == ["platform"]
    assert by_name["oldie"]["requires"] == f"waypoint-hooks<{__version__}"
    assert by_name["oldie"]["hooks"] == []
    assert by_name["oldie"]["error"] == (
        f"waypoint-hooks-oldie 0.3.0 requires waypoint-hooks<{__version__}, but waypoint-hooks "
        f"{__version__} is installed (pip was bypassed, or told not to check); install a "
        f"version of waypoint-hooks-oldie made for waypoint-hooks {__version__}"
    )
    assert by_name["filepath"]["requires"] is None
    assert done.returncode == 1  # a plugin failed to load


def test_an_app_that_uses_an_incompatible_plugin_is_a_config_error(
    site: Path, tmp_path: Path
) -> None:
    done = _run(site, tmp_path, _project("oldie"), "deploy")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        'Error: waypoint.hcl:4: app "web": deploy: use "oldie": waypoint-hooks-oldie 0.3.0 '
        f"requires waypoint-hooks<{__version__}, but waypoint-hooks {__version__} is installed"
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".waypoint-hooks" / "state.db").exists()  # nothing written


def test_a_plugin_whose_version_the_project_pins_runs(site: Path, tmp_path: Path) -> None:
    pinned = _project("acme", 'plugin "acme" {\n  version = ">=1.2,<2"\n}\n')
    done = _run(site, tmp_path, pinned, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("pin", [">=2", "<1.5", "==1.4.*"])
def test_a_plugin_whose_version_the_pin_excludes_is_a_config_error(
    site: Path, tmp_path: Path, pin: str
) -> None:
    pinned = _project("acme", f'plugin "acme" {{\n  version = "{pin}"\n}}\n')
    done = _run(site, tmp_path, pinned, "deploy")
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f'Error: waypoint.hcl:8: plugin "acme": this project works with versions "{pin}" of it, '
        'but waypoint-hooks-acme 1.5.0 is installed (app "web": deploy: use "acme"); '
        f"pip install 'waypoint-hooks-acme{pin}', or change the pin\n"
    )
    assert not (tmp_path / ".waypoint-hooks" / "state.db").exists()
