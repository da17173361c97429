"""The ``waypoint-hooks`` command, driven as a user drives it: real config files, a real
SQLite state, plugins loaded with ``-p``, and the installed console script (DESIGN §6-§8)."""

from __future__ import annotations

import json
import os
import re
import shlex
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

import click
import pytest
from click.testing import CliRunner, Result
from helpers_http import free_port
from hostile import harness

from waypoint_hooks.cli.commands import main
from waypoint_hooks.cli.session import handle_errors
from waypoint_hooks.errors import (
    ConfigError,
    ConfigFileError,
    PluginError,
    StateError,
    UnknownAppError,
    UsageError,
)
from waypoint_hooks.host import AUTOLOAD_ENV

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

    def __init__(self, root: Path, site: Path) -> None:
        self.root = root
        #: Where the switchboard module is, for the processes a test starts.
        self.site = site
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
    tmp_path: Path,
    site: Path,
    write_module: Callable[[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Project:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    monkeypatch.delenv("WAYPOINT_HOOKS_STATE", raising=False)
    write_module("switchboard", SWITCHBOARD)
    root = tmp_path / "project"
    root.mkdir()
    return Project(root, site)


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


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_neither_attrs_cattrs_nor_pluggy(args: list[str]) -> None:
    program = (
        "import sys; from waypoint_hooks.cli.commands import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted({'attr', 'attrs', 'cattrs', 'pluggy'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


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


def test_status_of_one_app_as_json_lists_every_version_not_destroyed(project: Project) -> None:
    project.run("up", "web")
    project.run("deploy", "web")
    _, document = project.json("status", "web")
    (web,) = document["apps"]
    versions = web["versions"]
    assert [(v["kind"], v["sequence"], v["state"]) for v in versions] == [
        ("release", 1, "live"),
        ("deployment", 2, "live"),
        ("deployment", 1, "live"),
    ]
    assert set(versions[0]) == {
        "kind",
        "id",
        "sequence",
        "plugin",
        "state",
        "created",
        "checkpointed",
    }
    assert versions[0]["id"] == web["release"]["id"]
    assert versions[1]["plugin"] == "switchboard"
    assert versions[1]["created"].endswith("Z")
    assert versions[1]["checkpointed"] is False
    _, both = project.json("status")
    assert all("versions" not in app for app in both["apps"])  # one app named, as the tree


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


def test_a_never_deployed_app_shows_no_report_and_is_not_ready(project: Project) -> None:
    code, document = project.json("status")
    assert code == 1
    assert [app["deployment"] for app in document["apps"]] == [None, None]


def test_status_of_a_project_with_nothing_deployed_exits_1_and_says_why(
    project: Project,
) -> None:
    assert not project.state.parent.exists()
    result = project.run("status")
    assert result.exit_code == 1
    command = f"waypoint-hooks -c {project.config} -p switchboard"
    assert f"web: nothing deployed; run `{command} up web`" in result.output
    assert project.state.is_file()  # the default state's directory is made
    assert f"worker: nothing deployed; run `{command} up worker`" in result.output


def test_status_exits_1_while_one_app_shown_has_nothing_deployed(project: Project) -> None:
    project.run("up", "web")
    assert project.run("status", "web").exit_code == 0
    result = project.run("status")
    assert result.exit_code == 1
    assert "worker: nothing deployed" in result.output
    assert "web:" not in result.output


def test_a_workspace_with_nothing_in_it_says_so_and_exits_1(project: Project) -> None:
    project.run("up")
    result = project.run("-w", "stagign", "status")  # a mistyped workspace
    assert result.exit_code == 1
    command = f"waypoint-hooks -c {project.config} -w stagign -p switchboard"
    assert f"web: nothing deployed; run `{command} up web`" in result.output


def test_a_hint_that_names_a_command_repeats_the_global_options_given(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As given: a relative config path (run from its directory's parent), a state in a
    # directory with a space, quoted as a shell needs it; each pasted hint runs.
    (project.root / "my state").mkdir()
    monkeypatch.chdir(project.root.parent)
    given = [
        "-c",
        "project/waypoint.hcl",
        "-w",
        "staging",
        "--state",
        "project/my state/s.db",
        "-p",
        "switchboard",
    ]
    options = "-c project/waypoint.hcl -w staging --state 'project/my state/s.db' -p switchboard"
    released = CliRunner().invoke(main, [*given, "release", "web"])
    assert f"run `waypoint-hooks {options} deploy web` first" in released.output
    shown = CliRunner().invoke(main, [*given, "status"])
    hint = f"web: nothing deployed; run `waypoint-hooks {options} up web`"
    assert hint in shown.output, shown.output
    pasted = CliRunner().invoke(main, shlex.split(hint.split("`")[1])[1:])
    assert pasted.exit_code == 0, pasted.output


def test_a_hint_shows_no_secret_of_a_state_url(project: Project) -> None:
    from waypoint_hooks.cli.session import Session

    session = Session(None, "postgresql://me:s3cret@db/shop", "default", (), False, False)
    assert session.invocation() == "waypoint-hooks --state postgresql://REDACTED@db/shop"


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
        line.strip().startswith("└─ pod") and "serving" in line
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
    assert f"run `waypoint-hooks -c {project.config} -p switchboard deploy web` first" in (
        result.output
    )


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
    assert process.returncode == 130  # DESIGN §12: interrupted by SIGINT
    assert "Interrupted by SIGINT" in err
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
    # Polled, not slept: stale once the interval has gone by, however slow the machine.
    harness.wait_until(
        lambda: "(stale)" in project.run("status", "--cached").output, "the report to go stale"
    )


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


def test_an_app_renamed_in_the_config_is_listed_by_status_until_destroy_names_it(
    project: Project,
) -> None:
    project.run("up")
    project.config.write_text(project.config.read_text().replace('app "web"', 'app "web.v2"'))
    assert project.run("up").exit_code == 1  # web's versions are still live
    shown = project.run("status")
    assert shown.exit_code == 1
    command = f"waypoint-hooks -c {project.config} -p switchboard"
    assert (
        "web: not in waypoint.hcl, but the state has its release v1 (switchboard, live) and "
        f"deployment v1 (switchboard, live); run `{command} destroy web` to destroy them"
    ) in shown.output, shown.output
    code, document = project.json("status")
    assert code == 1
    ((gone, versions),) = [(app["app"], app["versions"]) for app in document["removed"]]
    assert gone == "web"
    assert [(v["kind"], v["sequence"], v["state"]) for v in versions] == [
        ("release", 1, "live"),
        ("deployment", 1, "live"),
    ]
    assert "removed" not in project.json("status", "web.v2")[1]  # only with every app

    destroyed = project.run("destroy", "web")
    assert destroyed.exit_code == 0, destroyed.output
    assert project.board_data()["destroyed"] == ["release", "deployment"]
    again = project.run("status")
    assert again.exit_code == 0, again.output
    assert "not in waypoint.hcl" not in again.output
    assert "removed" not in project.json("status")[1]


def test_destroy_removed_destroys_every_app_the_config_no_longer_names(project: Project) -> None:
    project.run("up")
    project.config.write_text(
        project.config.read_text().replace('app "web"', 'app "api"').replace('"worker"', '"jobs"')
    )
    project.run("deploy", "api")
    listed = project.run("status").output
    assert "web: not in waypoint.hcl" in listed
    assert "worker: not in waypoint.hcl" in listed
    assert "destroy --removed` to destroy every one" in listed
    destroyed = project.run("destroy", "--removed")
    assert destroyed.exit_code == 0, destroyed.output
    assert sorted(project.board_data()["destroyed"]) == ["deployment", "deployment", "release"]
    _, document = project.json("status", "api")
    assert document["apps"][0]["deployment"] is not None  # an app of the config is left alone
    assert "not in waypoint.hcl" not in project.run("status").output


def test_destroy_of_only_apps_gone_from_the_config_shows_no_empty_table(
    project: Project,
) -> None:
    project.run("up", "worker")
    project.config.write_text(project.config.read_text().replace('"worker"', '"jobs"'))
    destroyed = project.run("destroy", "worker")
    assert destroyed.exit_code == 0, destroyed.output
    assert "Destroyed worker deployment v1" in destroyed.output
    assert "Workspace" not in destroyed.output


def test_destroy_of_an_app_neither_in_the_config_nor_in_the_state_is_a_usage_error(
    project: Project,
) -> None:
    result = project.run("destroy", "nope")
    assert result.exit_code == 2
    assert "no app 'nope' in waypoint.hcl" in result.output


def test_destroy_removes_the_filepath_directory_once_nothing_else_is_in_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "waypoint.hcl"
    apps = "".join(
        f'app "{name}" {{\n  deploy {{\n    use "filepath" {{\n      directory = "out"\n'
        "    }\n  }\n}\n\n"
        for name in ("notes", "todo")
    )
    config.write_text(f'project = "files"\n\n{apps}')
    args = ["-c", str(config)]
    assert CliRunner().invoke(main, [*args, "up"]).exit_code == 0
    assert CliRunner().invoke(main, [*args, "destroy", "notes"]).exit_code == 0
    assert [path.name.split("-")[0] for path in (tmp_path / "out").iterdir()] == ["todo"]
    destroyed = CliRunner().invoke(main, [*args, "destroy", "todo"])
    assert destroyed.exit_code == 0
    assert f"Removed {tmp_path / 'out'}" in destroyed.output
    assert not (tmp_path / "out").exists()


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


def test_history_limit_keeps_the_transition_from_a_report_it_does_not_show(
    project: Project,
) -> None:
    project.run("up", "web")  # deployment and release reports, interleaved
    project.set(deployment="DOWN")
    project.run("status", "web")
    project.set(deployment="READY")
    project.run("status", "web")

    def changes(*args: str) -> list[str]:
        rows = project.run("history", "web", *args).output.splitlines()[1:]
        return [" ".join(re.findall(r"\w+ → \w+", row)) for row in rows]

    whole = changes()
    assert sorted(filter(None, whole)) == ["DOWN → READY", "READY → DOWN"]
    for limit in range(1, len(whole) + 1):
        assert changes("--limit", str(limit)) == whole[:limit]


def test_history_shows_the_newest_100_unless_told_otherwise(project: Project) -> None:
    project.run("deploy", "worker")
    harness.copy_report(project.state, 149)

    def rows(*args: str) -> int:
        result = project.run("history", "worker", *args)
        assert result.exit_code == 0, result.output
        return len(result.output.splitlines()) - 1  # the header

    assert (rows(), rows("--limit", "3"), rows("--all")) == (100, 3, 150)
    result = project.run("history", "worker", "--all", "--json")
    document = json.loads(result.stdout)
    assert len(document["reports"]) == 150
    # Written one report at a time, and the same text as one json.dumps of it all.
    assert result.stdout == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    both = project.run("history", "worker", "--all", "--limit", "3")
    assert both.exit_code == 2
    assert "--all shows every report; give it or --limit N, not both" in both.output


def test_history_and_alerts_with_nothing_yet_say_so_instead_of_a_bare_header(
    project: Project,
) -> None:
    history = project.run("history", "web")
    assert (history.exit_code, history.output) == (
        0,
        "no reports of web in workspace default yet\n",
    )
    alerts = project.run("-w", "staging", "alerts")
    assert (alerts.exit_code, alerts.output) == (
        0,
        "no alerts in workspace staging yet; the config has no notify block to raise them\n",
    )


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


@pytest.mark.parametrize("name", ["waypoint.hcl", "waypoint.hcl.json"])
def test_config_may_name_the_project_directory(project: Project, name: str) -> None:
    if name.endswith(".json"):
        project.config.unlink()
        worker = {"deploy": {"use": {"switchboard": {"file": str(project.board)}}}}
        (project.root / name).write_text(json.dumps({"project": "shop", "app": {"worker": worker}}))
    result = CliRunner().invoke(main, ["-c", str(project.root), "-p", "switchboard", "up"])
    assert result.exit_code == 0, result.output
    assert "worker  default    v1 ✔ READY" in result.output


@pytest.mark.parametrize(
    ("given", "usage"),
    [
        (["-c", "x.hcl"], "waypoint-hooks -c PATH status"),
        (["--config=x.hcl"], "waypoint-hooks --config PATH status"),
        (["-w", "staging"], "waypoint-hooks -w NAME status"),
        (["--no-color"], "waypoint-hooks --no-color status"),
    ],
)
def test_a_global_option_after_the_command_is_refused_with_where_it_goes(
    given: list[str], usage: str
) -> None:
    result = CliRunner().invoke(main, ["status", *given], prog_name="waypoint-hooks")
    assert result.exit_code == 2
    option = given[0].split("=")[0]
    assert f"No such option '{option}'" in result.stderr
    assert f"{option} is a global option: it goes before the command, as in `{usage}" in (
        result.stderr
    )


def test_an_unknown_option_gets_no_global_option_hint() -> None:
    result = CliRunner().invoke(main, ["status", "--jsn"])
    assert result.exit_code == 2
    assert "No such option '--jsn'" in result.stderr
    assert "global" not in result.stderr


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


@pytest.mark.parametrize("how", ["--state", "WAYPOINT_HOOKS_STATE"])
def test_a_state_path_in_a_directory_that_does_not_exist_is_a_usage_error(
    project: Project, how: str
) -> None:
    missing = project.root / "mistyped" / "state.db"
    args = ["-c", str(project.config), "-p", "switchboard"]
    if how == "--state":
        result = CliRunner().invoke(main, [*args, "--state", str(missing), "status"])
    else:
        result = CliRunner(env={how: str(missing)}).invoke(main, [*args, "status"])
    assert result.exit_code == 2
    assert f"state {missing}: the directory {missing.parent} does not exist" in result.stderr
    assert not missing.parent.exists()


def test_a_p_module_that_cannot_be_imported_is_a_usage_error_naming_it(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    """Not a silent "nothing deployed", nor listed as installed: the user named it."""
    write_module("broken_plugin", "raise ImportError('needs libfoo')\n")
    for command in (["status"], ["up"], ["plugins"]):
        result = CliRunner().invoke(
            main, ["-c", str(project.config), "-p", "switchboard", "-p", "broken_plugin", *command]
        )
        if command == ["plugins"]:  # the listing shows what broke each plugin
            assert result.exit_code == 1
            continue
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("Error: -p broken_plugin: cannot import 'broken_plugin'")
        assert "needs libfoo" in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url", ["mysql://x@y/z", "sqlite:///tmp/state.db", "http://u:secret@example.org/state"]
)
def test_a_state_url_of_another_scheme_is_a_usage_error_naming_it(
    project: Project, url: str
) -> None:
    result = CliRunner().invoke(
        main, ["-c", str(project.config), "-p", "switchboard", "--state", url, "status"]
    )
    assert result.exit_code == 2
    scheme = url.partition("://")[0]
    assert f"a {scheme}:// state is not one waypoint-hooks keeps" in result.stderr
    assert "secret" not in result.stderr
    assert "does not exist" not in result.stderr


def test_a_postgresql_state_without_the_extra_is_a_usage_error_in_a_sentence(
    project: Project, tmp_path: Path
) -> None:
    """psycopg missing (a package that cannot be imported stands in for it): exit 2, one
    line saying what to install, no exception class name."""
    blocked = tmp_path / "blocked"
    (blocked / "psycopg").mkdir(parents=True)
    (blocked / "psycopg" / "__init__.py").write_text("raise ImportError('no psycopg here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), *sys.path])}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "waypoint_hooks",
            "-c",
            str(project.config),
            "-p",
            "switchboard",
            "--state",
            "postgresql://u:secret@127.0.0.1:1/db",
            "status",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "needs psycopg: pip install 'waypoint-hooks[postgresql]'" in done.stderr
    assert "ImportError" not in done.stderr
    assert "secret" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_state_that_is_not_a_database_is_a_usage_error(project: Project) -> None:
    project.state.parent.mkdir(parents=True, exist_ok=True)
    project.state.write_text("not sqlite at all")
    result = project.run("status")
    assert result.exit_code == 2
    assert str(project.state) in result.output


def _failing_command(error: Exception) -> click.Command:
    @click.command()
    @handle_errors
    def command() -> None:
        raise error

    return command


@pytest.mark.parametrize(
    "error",
    [
        UsageError("the serve extra is not installed"),
        ConfigError("web", "http", [("url", "expected str")]),
        ConfigFileError(Path("waypoint.hcl"), 3, "unknown block"),
        StateError("state x.db: not a database"),
        UnknownAppError("no app 'web'"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_usage_error_exits_2_with_its_message_alone(error: UsageError) -> None:
    result = CliRunner().invoke(_failing_command(error))
    assert (result.exit_code, result.stderr) == (2, f"Error: {error}\n")


def test_any_other_error_exits_1_naming_its_class() -> None:
    error = PluginError("web", "does not implement platform_status_func")
    result = CliRunner().invoke(_failing_command(error))
    assert result.exit_code == 1
    assert result.stderr == f"Error: PluginError: {error} (-v shows the traceback)\n"


def test_serve_without_its_extra_says_how_to_install_it_from_a_checkout_too(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in sys.modules if name.startswith("waypoint_hooks.serve")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    result = project.run("serve")
    assert result.exit_code == 2
    assert (
        "Error: serve needs uvicorn: pip install 'waypoint-hooks[serve]' (in a checkout of "
        "waypoint-hooks, which no package index has yet: pip install '.[serve]')"
    ) in result.stderr


# --- the installed console script, for real ----------------------------------------------


def _console_script() -> list[str]:
    script = shutil.which("waypoint-hooks", path=str(Path(sys.executable).parent))
    assert script, "the console script is not installed beside this Python"
    return [script]


def _subprocess_env(project: Project) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(project.site), AUTOLOAD_ENV: "1"}


def test_the_installed_console_script_runs_the_demo_and_destroys_it(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "demo", demo)
    # The demo's server on a free port: 8765 may be another run's (a second suite beside this).
    config = demo / "waypoint.hcl"
    config.write_text(config.read_text().replace("8765", str(free_port())))
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
    assert "Stopped python3[" in down.stdout
    # Nothing of what it made is left: not the files' directory, not the server's log.
    assert not (demo / "out").exists()
    assert list((demo / ".waypoint-hooks" / "logs").iterdir()) == []


#: What a shell reports for a program that SIGPIPE ended (git's code when its reader is gone).
READER_GONE = 128 + signal.SIGPIPE


def _run_until_reader_gone(
    project: Project, *args: str, lines: int
) -> subprocess.CompletedProcess[str]:
    """Run the console script with stdout a real pipe whose reader stops after ``lines``
    lines and closes it, as ``| head -n LINES`` does (0: closed before anything is written)."""
    process = subprocess.Popen(
        [*_console_script(), "-c", str(project.config), "-p", "switchboard", *args],
        env=_subprocess_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    read = [process.stdout.readline() for _ in range(lines)]
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(read), err)


def test_history_into_a_pipe_closed_early_ends_quietly(project: Project) -> None:
    # Far more than a pipe holds: the reader is gone while the command still writes. (One
    # big write that the reader leaves halfway, as JSON's, CPython ends as if it were whole.)
    project.set(deployment_message="x" * 3000, release_message="y" * 3000)
    project.run("up", "web")
    for _ in range(30):
        project.run("status", "web")
    for _ in range(10):
        done = _run_until_reader_gone(project, "history", "web", lines=1)
        assert (done.returncode, done.stderr) == (READER_GONE, "")
        assert done.stdout.startswith("Checked")
        done = _run_until_reader_gone(project, "history", "web", "--json", lines=0)
        assert (done.returncode, done.stderr) == (READER_GONE, "")


def test_status_into_a_closed_pipe_ends_quietly_and_still_stores_its_reports(
    project: Project,
) -> None:
    project.run("up")
    before = project.report_count()
    for round, json_output in enumerate(([], ["--json"]) * 3, start=1):
        done = _run_until_reader_gone(project, "status", *json_output, lines=0)
        assert (done.returncode, done.stderr) == (READER_GONE, "")
        assert project.report_count() == before + 3 * round


def test_up_into_a_closed_pipe_still_deploys_and_releases(project: Project) -> None:
    done = _run_until_reader_gone(project, "up", "web", lines=1)
    assert (done.returncode, done.stderr) == (READER_GONE, "")
    assert project.run("status", "web").exit_code == 0


# --- on a terminal ----------------------------------------------------------------------

ESC = "\x1b"


def _on_terminal(
    project: Project, *args: str, term: str = "xterm-256color", columns: int = 80
) -> subprocess.CompletedProcess[str]:
    return harness.run_on_terminal(
        ["-c", str(project.config), "-p", "switchboard", *args],
        cwd=project.root,
        env={**_subprocess_env(project), "TERM": term},
        columns=columns,
    )


def _visible(screen: str) -> list[str]:
    """The lines a terminal shows: without colours, spinner frames or carriage returns."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", screen)
    return [line.rsplit("\r", 1)[-1] for line in text.split("\r\n")]


def test_alive_is_yellow_like_every_health_that_fails_the_exit_code(project: Project) -> None:
    project.set(deployment="ALIVE", release="READY")
    project.run("up")
    done = _on_terminal(project, "status")
    assert done.returncode == 1
    assert "\x1b[33m✔ ALIVE" in done.stdout
    assert "\x1b[32m✔ READY" in done.stdout


def test_headers_are_bold_in_the_terminal_s_own_colour(project: Project) -> None:
    done = _on_terminal(project, "up")
    assert done.returncode == 0, done.stdout
    assert "\x1b[1m» Deploying web with switchboard" in done.stdout
    assert "\x1b[97m" not in done.stdout  # bright white: unreadable on a light background


def test_a_dumb_terminal_gets_no_colour_and_no_spinner(project: Project) -> None:
    project.set(release="DOWN", release_message="503")
    for command in (["up"], ["status"], ["history", "web"]):
        done = _on_terminal(project, *command, term="dumb")
        assert ESC not in done.stdout, done.stdout
        assert "✖ DOWN" in done.stdout


def test_a_long_message_is_cut_to_the_terminal_s_width_not_in_a_pipe(project: Project) -> None:
    message = "the load balancer answered 503 " * 10
    resources = [{"name": "lb", "type": "ingress", "health": 4, "health_message": message}]
    project.set(release="DOWN", release_message=message, release_resources=resources)
    project.run("up")
    for command in (["status", "web"], ["history", "web"]):
        lines = _visible(_on_terminal(project, *command, columns=80).stdout)
        table = [line for line in lines if "503" in line and not line.startswith("web release:")]
        assert table, lines
        assert all(len(line) == 80 and line.endswith("…") for line in table), table
        assert f"web release: {message.strip()}" in lines or command[0] == "history"
        piped = project.run(*command).output
        assert piped.count(message.strip()) >= 2


def test_the_resource_tree_is_drawn_with_branches(project: Project) -> None:
    project.set(
        deployment=None,
        deployment_resources=[
            {"name": "web", "id": "svc", "type": "service", "health": 2},
            {"name": "web-rs", "id": "rs", "parent_resource_id": "svc", "type": "replicaset"},
            {"name": "web-1", "id": "p1", "parent_resource_id": "rs", "type": "pod"},
            {"name": "web-2", "id": "p2", "parent_resource_id": "rs", "type": "pod"},
            {"name": "web-in", "id": "in", "parent_resource_id": "svc", "type": "ingress"},
        ],
    )
    project.run("deploy", "web")
    lines = project.run("status", "web").output.splitlines()
    header = lines.index("web deployment v1 (switchboard) resources:") + 1
    name_column = lines[header].index("Name")
    types = [line[2:name_column].rstrip() for line in lines[header + 1 : header + 6]]
    assert types == [
        "service",
        "├─ replicaset",
        "│  ├─ pod",
        "│  └─ pod",
        "└─ ingress",
    ]


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
    project: Project,
    write_module: Callable[[str, str], str],
    install_distribution: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Installed (an entry point), not named with -p: a -p module that cannot be imported is
    # the user's mistake, and a usage error of its own.
    monkeypatch.delenv(AUTOLOAD_ENV)
    write_module("halfbroken", "raise ImportError('needs libfoo')\n")
    install_distribution("halfbroken-dist", "1.0", {"halfbroken": "halfbroken"})
    project.config.write_text(
        project.config.read_text().replace(
            'app "worker" {\n  deploy {\n    use "switchboard"',
            'app "worker" {\n  deploy {\n    use "halfbroken"',
        )
    )
    args = ["-c", str(project.config), "-p", "switchboard"]
    deployed = CliRunner().invoke(main, [*args, "deploy"])
    assert deployed.exit_code == 1
    assert "needs libfoo" in deployed.output
    result = CliRunner().invoke(main, [*args, "status", "--json"])
    web, worker = json.loads(result.stdout)["apps"]
    assert web["deployment"]["report"]["health"] == "READY"
    assert worker["deployment"] is None
    assert result.exit_code == 1  # the worker has nothing deployed
    assert CliRunner().invoke(main, [*args, "status", "web"]).exit_code == 0


def test_a_deploy_failure_of_many_lines_is_printed_once(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    # As the process platform's, when the child it started died: the end of its output.
    write_module(
        "dying",
        """
        from waypoint_hooks import hookimpl

        @hookimpl
        def platform_deploy_func():
            raise RuntimeError(
                "python3[7] exited with code 1 before it was ready; the end of its output:\\n"
                "Traceback (most recent call last):\\nKeyboardInterrupt"
            )

        @hookimpl
        def platform_status_func():
            pass
    """,
    )
    project.config.write_text(
        'project = "shop"\n\napp "slow" {\n  deploy {\n    use "dying" {}\n  }\n}\n'
    )
    result = CliRunner().invoke(main, ["-c", str(project.config), "-p", "dying", "up"])
    assert result.exit_code == 1
    assert result.output.count("Traceback (most recent call last):") == 1, result.output
    assert "Error: app 'slow': plugin 'dying' platform_deploy_func raised RuntimeError" in (
        result.stderr
    )
    assert "KeyboardInterrupt" in result.stderr


def test_a_release_manager_given_another_platform_s_deployment_says_why(tmp_path: Path) -> None:
    config = tmp_path / "waypoint.hcl"
    config.write_text(
        'project = "p"\n\napp "web" {\n  deploy {\n    use "http" {\n'
        '      url = "http://127.0.0.1:9/"\n    }\n  }\n\n'
        '  release {\n    use "filepath" {}\n  }\n}\n'
    )
    result = CliRunner().invoke(main, ["-c", str(config), "up"])
    assert result.exit_code == 1
    assert (
        "Error: app 'web': plugin 'filepath' release_manager_release_func cannot take its "
        "arguments: deployment.path: required field missing; deployment.urls: unknown field "
        "(known fields: path); the deployment is not of the shape this release manager takes: "
        "a release manager works on the deployments of the platform it goes with, and the "
        "app's deploy block may use another"
    ) in result.stderr


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


CHATTY = """
    import logging
    from waypoint_hooks import hookimpl

    log = logging.getLogger("chatty")

    @hookimpl(wrapper=True)
    def platform_status_func():
        log.info("checking the \\x1b[2Jdeployment")
        log.warning("the API answered \\x1b]0;pwned\\x07slowly")
        return (yield)
"""


def test_plugins_log_warnings_to_stderr_and_info_only_with_verbose(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    write_module("chatty", CHATTY)
    project.run("up", "web")
    args = ["-c", str(project.config), "-p", "switchboard", "-p", "chatty"]
    quiet = CliRunner().invoke(main, [*args, "status", "web"])
    assert quiet.exit_code == 0, quiet.output
    assert "WARNING chatty: the API answered slowly\n" in quiet.stderr  # sanitized
    assert "checking" not in quiet.stderr
    assert "API" not in quiet.stdout
    loud = CliRunner().invoke(main, ["-v", *args, "status", "web"])
    assert "INFO chatty: checking the deployment\n" in loud.stderr
    assert "WARNING chatty: the API answered slowly\n" in loud.stderr
    as_json = CliRunner().invoke(main, ["-v", *args, "status", "web", "--json"])
    assert json.loads(as_json.stdout)["apps"][0]["deployment"]["report"]["health"] == "READY"
    assert "INFO chatty: checking the deployment\n" in as_json.stderr


def test_an_app_level_concurrency_is_refused_with_where_to_put_it(project: Project) -> None:
    text = project.config.read_text()
    worker = 'app "worker" {\n'
    project.config.write_text(
        text.replace(worker, f"{worker}  status {{\n    concurrency = 2\n  }}\n")
    )
    result = project.run("status")
    assert result.exit_code == 2
    assert "concurrency applies to the whole run" in result.output


CHATTY_PLATFORM = """
    import logging
    from waypoint_hooks import Health, StatusReport, hookimpl

    @hookimpl
    def platform_deploy_func():
        return {}

    @hookimpl
    def platform_status_func():
        logging.getLogger("chatty").warning("the API answered \\x1b]0;pwned\\x07slowly")
        return StatusReport(health=Health.READY)
"""


def test_an_isolated_plugin_logs_as_an_in_process_one(
    project: Project, write_module: Callable[[str, str], str]
) -> None:
    write_module("chatty_platform", CHATTY_PLATFORM)
    project.config.write_text(
        'project = "shop"\n\napp "web" {\n  isolate = true\n\n  deploy {\n'
        '    use "chatty_platform" {}\n  }\n}\n'
    )
    args = [*_console_script(), "-c", str(project.config), "-p", "chatty_platform"]
    env = _subprocess_env(project)
    subprocess.run([*args, "deploy"], env=env, capture_output=True, check=False)
    done = subprocess.run([*args, "status"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING chatty: the API answered slowly\n" in done.stderr  # sanitized, formatted
