"""The ``waypoint-hooks`` command, driven as a user drives it: real config files, a real
SQLite state, plugins loaded with ``-p``, and the installed console script (DESIGN §6-§8)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from waypoint_hooks import AUTOLOAD_ENV
from waypoint_hooks.cli import main

# A plugin whose health a test sets by writing a JSON file: {"deployment": "READY", ...}.
SWITCHBOARD = """
    import json
    import attrs
    from waypoint_hooks import Health, Resource, StatusReport, hookimpl

    @attrs.define
    class Config:
        file: str

    def _read(path):
        with open(path) as f:
            return json.load(f)

    def _report(path, kind):
        data = _read(path)
        resources = [Resource(**r) for r in data.get(kind + "_resources", [])]
        health = data.get(kind)
        return StatusReport(resources=resources,
                            health=None if health is None else Health[health],
                            health_message=data.get(kind + "_message", ""))

    @hookimpl
    def platform_deploy_func(config: Config, ui):
        ui.output("deploying with %s", config.file)
        return {"file": config.file}

    @hookimpl
    def platform_status_func(deployment):
        return _report(deployment["file"], "deployment")

    @hookimpl
    def platform_destroy_func(deployment):
        data = _read(deployment["file"])
        data["destroyed"] = data.get("destroyed", []) + ["deployment"]
        with open(deployment["file"], "w") as f:
            json.dump(data, f)

    @hookimpl
    def release_manager_release_func(deployment):
        return {"file": deployment["file"]}

    @hookimpl
    def release_manager_status_func(release):
        return _report(release["file"], "release")

    @hookimpl
    def release_manager_destroy_func(release):
        data = _read(release["file"])
        data["destroyed"] = data.get("destroyed", []) + ["release"]
        with open(release["file"], "w") as f:
            json.dump(data, f)
"""

CONFIG = """
    project = "shop"

    status {{
      timeout = "5s"
    }}

    app "web" {{
      deploy {{
        use "switchboard" {{
          file = "{file}"
        }}
      }}

      release {{
        use "switchboard" {{}}
      }}
    }}

    app "worker" {{
      deploy {{
        use "switchboard" {{
          file = "{file}"
        }}
      }}
    }}
"""


class Project:
    """A project directory with a config, a switchboard file and its own state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.board = root / "board.json"
        self.config = root / "waypoint.hcl"
        self.state = root / ".waypoint-hooks" / "state.db"
        self.set(deployment="READY", release="READY")
        self.config.write_text(textwrap.dedent(CONFIG.format(file=self.board)))

    def set(self, **values: Any) -> None:
        current = json.loads(self.board.read_text()) if self.board.exists() else {}
        current.update(values)
        self.board.write_text(json.dumps(current))

    def board_data(self) -> dict[str, Any]:
        return json.loads(self.board.read_text())

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(
            main, ["-c", str(self.config), "-p", "switchboard", *args], catch_exceptions=False
        )

    def json(self, *args: str) -> tuple[int, Any]:
        result = self.run(*args, "--json")
        return result.exit_code, json.loads(result.stdout)

    def report_count(self) -> int:
        with sqlite3.connect(self.state) as db:
            return sum(
                db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for (table,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%report%'"
                )
            )


@pytest.fixture
def project(
    tmp_path: Path, write_module: Callable[[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> Project:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    monkeypatch.delenv("WAYPOINT_HOOKS_STATE", raising=False)
    write_module("switchboard", SWITCHBOARD)
    root = tmp_path / "project"
    root.mkdir()
    return Project(root)


# --- help and version --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["plugins", "deploy", "release", "up", "status", "destroy", "history", "new-plugin"],
)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "waypoint-hooks" in result.output


def test_version_prints_the_package_version() -> None:
    from waypoint_hooks import __version__

    result = CliRunner().invoke(main, ["--version"])
    assert (result.exit_code, result.output.strip()) == (
        0,
        f"waypoint-hooks, version {__version__}",
    )


# --- deploy, release, up, status ---------------------------------------------------------


def test_up_deploys_releases_checks_and_exits_0_when_all_ready(project: Project) -> None:
    result = project.run("up")
    assert result.exit_code == 0, result.output
    assert "deploying with" in result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("App"))
    assert header.split() == ["App", "Workspace", "Deployment", "Checked", "Release", "Checked"]
    web = next(line for line in lines if line.startswith("web "))
    assert "v1 ✔ READY" in web
    worker = next(line for line in lines if line.startswith("worker "))
    assert "v1 ✔ READY" in worker


def test_status_exits_1_when_a_report_is_not_ready_and_says_why(project: Project) -> None:
    project.run("up")
    project.set(release="DOWN", release_message="503 from the load balancer")
    result = project.run("status")
    assert result.exit_code == 1
    assert "✖ DOWN" in result.output
    assert "web release: 503 from the load balancer" in result.output


def test_status_json_has_the_documented_shape(project: Project) -> None:
    project.run("up")
    code, document = project.json("status")
    assert code == 0
    assert set(document) == {"project", "workspace", "apps"}
    assert (document["project"], document["workspace"]) == ("shop", "default")
    web, worker = document["apps"]
    assert set(web) == {"app", "deployment", "release"}
    assert set(web["deployment"]) == {"id", "sequence", "platform", "report"}
    assert set(web["release"]) == {"id", "sequence", "release_manager", "report"}
    assert web["deployment"]["platform"] == "switchboard"
    report = web["deployment"]["report"]
    assert set(report) == {"resources", "health", "health_message", "generated_time", "external"}
    assert report["health"] == "READY"
    assert report["generated_time"].endswith("Z")
    assert worker["release"] is None


def test_json_stdout_stays_json_when_a_plugin_prints(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    project.run("up")
    write_module(
        "noisy",
        """
        from waypoint_hooks import hookimpl

        @hookimpl(wrapper=True)
        def platform_status_func():
            print("chatter on stdout")
            return (yield)
    """,
    )
    result = CliRunner().invoke(
        main, ["-c", str(project.config), "-p", "switchboard", "-p", "noisy", "status", "--json"]
    )
    assert json.loads(result.stdout)["apps"][0]["deployment"]["report"]["health"] == "READY"


def test_a_never_deployed_app_shows_no_report(project: Project) -> None:
    code, document = project.json("status")
    assert code == 0
    assert [app["deployment"] for app in document["apps"]] == [None, None]


def test_naming_one_app_shows_its_resource_tree(project: Project) -> None:
    project.set(
        deployment=None,
        deployment_resources=[
            {"name": "web-rs", "id": "rs", "type": "replicaset", "health": 2},
            {
                "name": "web-pod-1",
                "id": "p1",
                "parent_resource_id": "rs",
                "type": "pod",
                "health": 2,
                "health_message": "serving",
            },
        ],
    )
    project.run("deploy", "web")
    result = project.run("status", "web")
    assert result.exit_code == 0, result.output
    assert "web deployment v1 (switchboard) resources:" in result.output
    assert any(
        line.strip().startswith("└ pod") and "serving" in line
        for line in result.output.splitlines()
    )


def test_an_unknown_app_name_is_a_usage_error(project: Project) -> None:
    result = project.run("status", "nope")
    assert result.exit_code == 2
    assert "no app 'nope'" in result.output
    assert "web, worker" in result.output


def test_release_without_a_deployment_fails_and_says_to_deploy_first(project: Project) -> None:
    result = project.run("release", "web")
    assert result.exit_code == 1
    assert "run `deploy` first" in result.output


def test_each_deploy_gets_the_next_sequence(project: Project) -> None:
    project.run("deploy", "web")
    project.run("deploy", "web")
    _, document = project.json("status", "web")
    assert document["apps"][0]["deployment"]["sequence"] == 2


def test_status_watch_checks_again_until_interrupted(project: Project) -> None:
    project.run("up")
    before = project.report_count()
    process = subprocess.Popen(
        [
            *_console_script(),
            "-c",
            str(project.config),
            "-p",
            "switchboard",
            "status",
            "--watch",
            "0.2",
        ],
        env=_subprocess_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while project.report_count() < before + 3 * 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert project.report_count() >= before + 3 * 2
    assert out.count("App  ") >= 2
    assert process.returncode == 0
    assert "Traceback" not in err


def test_cached_status_shows_stored_reports_without_checking(project: Project) -> None:
    project.run("up")
    before = project.report_count()
    project.set(deployment="DOWN")
    result = project.run("status", "--cached")
    assert result.exit_code == 0
    assert "✔ READY" in result.output
    assert "DOWN" not in result.output
    assert project.report_count() == before


def test_cached_status_marks_reports_older_than_the_interval_stale(project: Project) -> None:
    project.config.write_text(
        project.config.read_text().replace('timeout = "5s"', 'timeout = "5s"\n  interval = "1s"')
    )
    project.run("up")
    time.sleep(1.2)
    assert "(stale)" in project.run("status", "--cached").output


# --- destroy and history -----------------------------------------------------------------


def test_destroy_destroys_release_then_deployment_and_they_are_not_checked_again(
    project: Project,
) -> None:
    project.run("up")
    result = project.run("destroy", "web")
    assert result.exit_code == 0, result.output
    assert project.board_data()["destroyed"] == ["release", "deployment"]
    before = project.report_count()
    _code, document = project.json("status")
    web = document["apps"][0]
    assert (web["deployment"], web["release"]) == (None, None)
    assert project.report_count() == before + 1  # only the worker was checked


def test_history_is_newest_first_with_transitions(project: Project) -> None:
    project.run("deploy", "worker")
    project.set(deployment="DOWN")
    project.run("status", "worker")
    project.set(deployment="READY")
    project.run("status", "worker")
    code, document = project.json("history", "worker")
    assert code == 0
    assert set(document) == {"project", "workspace", "app", "reports"}
    healths = [item["report"]["health"] for item in document["reports"]]
    assert healths == ["READY", "DOWN", "READY"]
    times = [item["report"]["generated_time"] for item in document["reports"]]
    assert times == sorted(times, reverse=True)
    assert set(document["reports"][0]) == {"kind", "id", "sequence", "plugin", "report"}
    table = project.run("history", "worker").output
    assert "DOWN → READY" in table
    assert "READY → DOWN" in table


def test_history_limit(project: Project) -> None:
    project.run("deploy", "worker")
    project.run("status", "worker")
    _, document = project.json("history", "worker", "--limit", "1")
    assert len(document["reports"]) == 1


def test_workspaces_keep_separate_deployments(project: Project) -> None:
    project.run("deploy", "worker")
    result = CliRunner().invoke(
        main, ["-c", str(project.config), "-p", "switchboard", "-w", "staging", "status", "--json"]
    )
    document = json.loads(result.stdout)
    assert document["workspace"] == "staging"
    assert document["apps"][1]["deployment"] is None


# --- plugins -----------------------------------------------------------------------------


def test_plugins_json_lists_builtins_and_cli_plugins(project: Project) -> None:
    result = CliRunner().invoke(main, ["-p", "switchboard", "plugins", "--json"])
    assert result.exit_code == 0
    by_name = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert by_name["filepath"]["source"] == "builtin"
    assert by_name["switchboard"]["source"] == "cli"
    assert by_name["switchboard"]["kinds"] == ["platform", "release_manager"]


def test_plugins_exits_1_and_shows_the_error_of_a_broken_plugin(
    write_module: Callable[[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    write_module("broken_plugin", "raise ImportError('needs libfoo')\n")
    result = CliRunner().invoke(main, ["-p", "broken_plugin", "plugins"])
    assert result.exit_code == 1
    assert "needs libfoo" in result.output


# --- bad input: exit 2, a message naming file and line, nothing written -----------------

BAD_CONFIGS = {
    "syntax error": ('project = "x"\napp "web" {\n  deploy {\n    use = = 1\n}\n', ":4"),
    "unknown top-level block": ('project = "x"\nwidget "w" {\n  a = 1\n}\n', "widget"),
    "missing deploy": (
        'project = "x"\n\napp "web" {\n  release {\n    use "filepath" {}\n  }\n}\n',
        "deploy",
    ),
    "duplicate app": (
        'project = "x"\napp "web" {\n  deploy {\n    use "filepath" {}\n  }\n}\n'
        'app "web" {\n  deploy {\n    use "filepath" {}\n  }\n}\n',
        "web",
    ),
    "unknown plugin": (
        'project = "x"\napp "web" {\n  deploy {\n    use "nosuch" {}\n  }\n}\n',
        "nosuch",
    ),
    "config that does not fit": (
        'project = "x"\napp "web" {\n  deploy {\n    use "filepath" {\n      directory = 3\n'
        "    }\n  }\n}\n",
        "directory",
    ),
    "bad duration": (
        'project = "x"\nstatus {\n  timeout = "soon"\n}\napp "web" {\n  deploy {\n'
        '    use "filepath" {}\n  }\n}\n',
        "timeout",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_exits_2_naming_the_file_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    text, expected = BAD_CONFIGS[case]
    config = tmp_path / "waypoint.hcl"
    config.write_text(text)
    result = CliRunner().invoke(main, ["-c", str(config), "up"])
    assert result.exit_code == 2, result.output
    assert str(config) in result.output or "waypoint.hcl" in result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / ".waypoint-hooks" / "state.db").exists()


# --- durations on the command line: the config file's syntax and its messages ---------------


@pytest.mark.parametrize("option", ["--watch", "--timeout"])
@pytest.mark.parametrize("value", ["30s", "1m30s", "250ms", "30", "0.5"])
def test_duration_options_take_durations_and_bare_seconds(
    tmp_path: Path, option: str, value: str
) -> None:
    # The missing config file is what stops the command: the option itself was accepted.
    result = CliRunner().invoke(main, ["-c", str(tmp_path / "none.hcl"), "status", option, value])
    assert result.exit_code == 2
    assert "cannot read the config file" in result.output


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--timeout", "0s", "timeout must be longer than 0s, got '0s'"),
        ("--timeout", "0", "timeout must be longer than 0s, got '0s'"),
        ("--watch", "0s", "watch must be longer than 0s, got '0s'"),
        ("--timeout", "soon", "'soon' is not a duration; write a number and a unit"),
        ("--watch", "-1s", "duration '-1s' is negative; write a number and a unit"),
    ],
)
def test_a_bad_duration_option_is_a_usage_error(option: str, value: str, problem: str) -> None:
    result = CliRunner().invoke(main, ["status", option, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {problem}" in result.output


def test_a_bad_duration_reads_the_same_on_the_command_line_and_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    config = tmp_path / "waypoint.hcl"
    config.write_text(BAD_CONFIGS["bad duration"][0])
    in_file = CliRunner().invoke(main, ["-c", str(config), "status"]).output
    on_line = CliRunner().invoke(main, ["-c", str(config), "status", "--timeout", "soon"]).output
    assert in_file.split("timeout: ", 1)[1] == on_line.split("'--timeout': ", 1)[1]


@pytest.mark.parametrize("workspace", ["../x", "/abs", "a b", ""])
def test_a_workspace_that_is_not_a_name_is_a_usage_error(project: Project, workspace: str) -> None:
    result = project.run("-w", workspace, "status")
    assert result.exit_code == 2
    assert "Invalid value for '-w' / '--workspace': the workspace's name must be 1 to 63" in (
        result.output
    )
    assert "[A-Za-z0-9][A-Za-z0-9_.-]{0,62}" in result.output
    assert not project.state.exists()


def test_a_missing_config_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2
    assert "waypoint.hcl" in result.output


def test_a_state_that_is_not_a_database_is_a_usage_error(project: Project) -> None:
    project.state.parent.mkdir(parents=True, exist_ok=True)
    project.state.write_text("not sqlite at all")
    result = project.run("status")
    assert result.exit_code == 2
    assert str(project.state) in result.output


# --- the installed console script, for real ----------------------------------------------


def _console_script() -> list[str]:
    script = shutil.which("waypoint-hooks", path=str(Path(sys.executable).parent))
    assert script, "the console script is not installed beside this Python"
    return [script]


def _subprocess_env(project: Project) -> dict[str, str]:
    site = (
        str(Path(sys.modules["switchboard"].__file__).parent)
        if "switchboard" in sys.modules
        else os.environ.get("PYTHONPATH", "")
    )
    return {**os.environ, "PYTHONPATH": site, AUTOLOAD_ENV: "1"}


def test_the_installed_console_script_runs_the_demo_and_destroys_it(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "demo", demo)
    env = {**os.environ, AUTOLOAD_ENV: "1"}
    env.pop("WAYPOINT_HOOKS_STATE", None)
    up = subprocess.run(
        [*_console_script(), "-c", str(demo / "waypoint.hcl"), "up"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert "✔ READY" in up.stdout
    assert "✖" not in up.stdout
    assert (demo / "out" / "notes").is_symlink()
    down = subprocess.run(
        [*_console_script(), "-c", str(demo / "waypoint.hcl"), "destroy"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    assert not (demo / "out" / "notes").exists()
    assert "Stopped python3[" in down.stdout


def test_two_status_commands_at_once_on_one_state_both_succeed(project: Project) -> None:
    project.run("up")
    before = project.report_count()
    command = [*_console_script(), "-c", str(project.config), "-p", "switchboard", "status"]
    processes = [
        subprocess.Popen(
            command,
            env=_subprocess_env(project),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.communicate(timeout=120)[1], p.returncode) for p in processes]
    assert [code for _, code in results] == [0, 0], results
    assert not any("locked" in err for err, _ in results)
    assert project.report_count() == before + 2 * 3


def test_a_broken_plugin_fails_only_the_app_that_uses_it(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    write_module("halfbroken", "raise ImportError('needs libfoo')\n")
    project.config.write_text(
        project.config.read_text().replace(
            'app "worker" {\n  deploy {\n    use "switchboard"',
            'app "worker" {\n  deploy {\n    use "halfbroken"',
        )
    )
    args = ["-c", str(project.config), "-p", "switchboard", "-p", "halfbroken"]
    deployed = CliRunner().invoke(main, [*args, "deploy"])
    assert deployed.exit_code == 1
    assert "needs libfoo" in deployed.output
    result = CliRunner().invoke(main, [*args, "status", "--json"])
    web, worker = json.loads(result.stdout)["apps"]
    assert web["deployment"]["report"]["health"] == "READY"
    assert worker["deployment"] is None
    assert result.exit_code == 0


def test_verbose_shows_where_a_plugin_failed_and_only_then(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    write_module(
        "failing_wrapper",
        """
        from waypoint_hooks import hookimpl

        @hookimpl(wrapper=True)
        def platform_status_func():
            yield
            raise RuntimeError("probe broke")
    """,
    )
    project.run("up")
    args = ["-c", str(project.config), "-p", "switchboard", "-p", "failing_wrapper", "status"]
    quiet = CliRunner().invoke(main, args)
    assert quiet.exit_code == 1
    assert "probe broke" in quiet.output
    assert "Traceback" not in quiet.output
    loud = CliRunner().invoke(main, ["-v", *args])
    assert "Traceback" in loud.stderr
    assert "failing_wrapper" in loud.stderr
    assert 'raise RuntimeError("probe broke")' in loud.stderr


def test_an_app_level_concurrency_is_refused_with_where_to_put_it(project: Project) -> None:
    text = project.config.read_text()
    worker = 'app "worker" {\n'
    project.config.write_text(
        text.replace(worker, f"{worker}  status {{\n    concurrency = 2\n  }}\n")
    )
    result = project.run("status")
    assert result.exit_code == 2
    assert "concurrency applies to the whole run" in result.output
