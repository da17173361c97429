"""``waypoint-hooks docs PLUGIN`` (issue 28): a plugin's kinds, hooks and every setting, with
type, default and documentation, read from its attrs config classes. Through the console
script, with a plugin module loaded with ``-p``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hostile.harness import Processes, script_env

import waypoint_hooks.cli

PLUGIN = '''
import attrs
from waypoint_hooks import Duration, StatusReport, hookimpl


@attrs.frozen
class Probe:
    path: str = attrs.field(default="/health", metadata={"doc": "Where to probe."})
    every: Duration = Duration("30s")


@attrs.frozen
class Config:
    """The bucket to watch."""

    bucket: str = attrs.field(metadata={"doc": "The bucket's name."})
    regions: list[str] = attrs.field(factory=lambda: ["eu"], metadata={"doc": "Where it is."})
    probe: Probe = attrs.field(factory=Probe)
    retries: int | None = None


@hookimpl
def platform_deploy_func(config: Config) -> dict[str, str]:
    return {"bucket": config.bucket}


@hookimpl
def platform_status_func(config: Config) -> StatusReport:
    return StatusReport()


@hookimpl
def notifier_send(config) -> None:
    pass
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("documented")
    (directory / "wh_documented.py").write_text(PLUGIN)
    return directory


def _docs(plugin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = script_env()
    env["PYTHONPATH"] = f"{plugin_dir}:{env['PYTHONPATH']}"
    processes = Processes()
    try:
        return processes.run(["-p", "wh_documented", "docs", *args], cwd=plugin_dir, env=env)
    finally:
        processes.close()


def test_the_json_document_lists_every_setting_of_each_kind(plugin_dir: Path) -> None:
    done = _docs(plugin_dir, "wh_documented", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["kinds"] == ["platform", "notifier"]
    assert document["hooks"] == ["notifier_send", "platform_deploy_func", "platform_status_func"]
    assert document["error"] is None
    assert document["settings"] == {
        "platform": [
            {
                "name": "bucket",
                "type": "str",
                "required": True,
                "default": None,
                "doc": "The bucket's name.",
            },
            {
                "name": "regions",
                "type": "list[str]",
                "required": False,
                "default": ["eu"],
                "doc": "Where it is.",
            },
            {
                "name": "probe.path",
                "type": "str",
                "required": False,
                "default": "/health",
                "doc": "Where to probe.",
            },
            {
                "name": "probe.every",
                "type": "Duration",
                "required": False,
                "default": "30s",
                "doc": "",
            },
            {
                "name": "retries",
                "type": "int | None",
                "required": False,
                "default": None,
                "doc": "",
            },
        ],
        "notifier": [],  # its config is a plain mapping
    }


def test_the_text_shows_each_setting_with_its_documentation(plugin_dir: Path) -> None:
    done = _docs(plugin_dir, "wh_documented")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "wh_documented"
    assert "  Kinds: platform, notifier" in lines
    start = lines.index('Settings as a platform (use "wh_documented" { ... }):')
    assert lines[start + 1 : start + 5] == [
        "  bucket  str  required",
        "      The bucket's name.",
        '  regions  list[str]  default ["eu"]',
        "      Where it is.",
    ]
    assert "  none declared (its hooks take config as a plain mapping)" in lines


def test_a_plugin_that_is_not_installed_is_a_usage_error(plugin_dir: Path) -> None:
    done = _docs(plugin_dir, "wh_documentd")
    assert done.returncode == 2
    assert done.stderr.startswith("Error: plugin 'wh_documentd': no such plugin is installed")
    assert done.stdout == ""


def test_the_new_plugin_readme_points_to_the_docs_command() -> None:
    for kind in ("platform", "notifier"):
        templates = Path(waypoint_hooks.cli.__file__).parent / "templates"
        readme = (templates / kind / "README.md.tmpl").read_text()
        assert "waypoint-hooks docs {{name}}" in readme
