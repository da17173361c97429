"""Lifecycle truth (DESIGN §12): intent-first records, checkpoints, every live version,
pruning, and commands at once — with real processes, the real CLI, and a real SQLite file or
PostgreSQL server (each test runs on both).

Two commands are ordered by a gate in the plugin (``tests/hostile/wh_lifecycle.py``), never
by timing: a hook held at the gate says so with a file, and waits until the test opens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers_lifecycle import Lifecycle
from hostile.harness import GUARD, App, Processes, Project, kill_group

from waypoint_hooks import JobInfo, hookimpl
from waypoint_hooks.config.document import load_config
from waypoint_hooks.host import PluginManager
from waypoint_hooks.lifecycle import phases
from waypoint_hooks.state.store import State

pytestmark = pytest.mark.usefixtures("hostile_plugins")


@pytest.fixture
def lifecycle(tmp_path: Path, location: Path | str) -> Lifecycle:
    return Lifecycle(tmp_path, location)


def test_a_deploy_that_fails_is_recorded_failed_and_destroyed_from_its_checkpoint(
    lifecycle: Lifecycle,
) -> None:
    lifecycle.configure(fail=True)
    assert lifecycle.run("deploy").exit_code == 1
    ((sequence, status, alive, _, checkpoint),) = lifecycle.targets("deployment")
    assert (sequence, status, alive) == (1, "failed", 1)
    ((made, _),) = lifecycle.done("deploy")
    assert json.loads(checkpoint) == {"made": made, "partial": True}
    shown = lifecycle.run("status", "web").output
    assert re.search(r"deployment +v1 +failed .*failed after it started something", shown)
    history = lifecycle.run("history", "web").output
    assert re.search(r"deployment +v1 +- +failed +.*failed after it started something", history)

    lifecycle.run("destroy")
    assert lifecycle.done("destroy") == [(made, lifecycle.done("deploy")[0][1])]
    assert lifecycle.alive("deployment") == []


def test_status_json_of_the_app_shows_a_failed_version_and_that_it_checkpointed(
    lifecycle: Lifecycle,
) -> None:
    lifecycle.configure(fail=True)
    lifecycle.run("deploy")
    lifecycle.configure()
    lifecycle.run("deploy")
    document = json.loads(lifecycle.run("status", "web", "--json").stdout)
    versions = document["apps"][0]["versions"]
    assert [(v["sequence"], v["state"], v["checkpointed"]) for v in versions] == [
        (2, "live", True),
        (1, "failed", True),
    ]


def test_an_app_whose_only_deployment_failed_is_told_to_destroy_not_that_nothing_is_deployed(
    lifecycle: Lifecycle,
) -> None:
    lifecycle.configure(fail=True)
    lifecycle.run("deploy")
    lifecycle.configure()
    shown = lifecycle.run("status")
    assert shown.exit_code == 1
    assert "nothing deployed" not in shown.output
    assert re.search(
        r"^web: deployment v1 failed \(plugin 'wh_lifecycle' platform_deploy_func raised "
        r"RuntimeError: failed after it started something\); run `waypoint-hooks .*destroy web` "
        r"to clean it up, then `waypoint-hooks .*up web`$",
        shown.output,
        re.MULTILINE,
    ), shown.output


def test_the_destroy_hook_of_an_app_not_in_the_config_gets_no_settings_and_says_why(
    lifecycle: Lifecycle,
) -> None:
    lifecycle.run("deploy")
    lifecycle.project.apps = [App("api", "wh_steady")]
    lifecycle.project.write()
    destroyed = lifecycle.run("destroy", "web")
    # The ledger plugin needs its settings to destroy: they went with the app's use block.
    assert destroyed.exit_code == 1
    assert (
        "Error: app 'web' (not in waypoint.hcl: its plugin was given no settings): plugin "
        "'wh_lifecycle' platform_destroy_func raised KeyError"
    ) in destroyed.output
    assert lifecycle.alive("deployment") == [1]


def test_the_hook_is_told_the_id_of_its_record(lifecycle: Lifecycle) -> None:
    lifecycle.run("up")
    ((made, _),) = lifecycle.done("deploy")
    with State.open(lifecycle.project.location) as state:
        deployment = state.records.latest("deployment", "web", "default")
    assert deployment is not None
    assert deployment.id == made


def test_five_ups_keep_the_released_deployment_and_two_more(lifecycle: Lifecycle) -> None:
    for _ in range(5):
        assert lifecycle.run("up").exit_code == 0
    assert lifecycle.alive("deployment") == [3, 4, 5]
    assert lifecycle.alive("release") == [5]
    deployed = [made for made, _ in lifecycle.done("deploy")]
    # The two oldest deployments were pruned through their destroy hook; the superseded
    # releases were replaced by the newer ones, not undone.
    assert [made for made, _ in lifecycle.done("destroy")] == deployed[:2]
    assert lifecycle.done("unrelease") == []


def test_release_deployment_n_rolls_back_to_a_live_deployment_that_pruning_keeps(
    lifecycle: Lifecycle,
) -> None:
    for _ in range(3):
        lifecycle.run("up")
    deployed = [made for made, _ in lifecycle.done("deploy")]
    rolled_back = lifecycle.run("release", "web", "--deployment", "1")
    assert rolled_back.exit_code == 0, rolled_back.output
    assert lifecycle.done("release")[-1][0] == deployed[0]
    assert lifecycle.alive("release") == [4]
    # v1 is the released one; v2 and v3 are the newest two others.
    assert lifecycle.alive("deployment") == [1, 2, 3]
    assert (
        lifecycle.run("release", "web", "--deployment", "1", "--prune-retain", "0").exit_code == 0
    )
    assert lifecycle.alive("deployment") == [1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["web", "--deployment", "7"], "app 'web' has no live deployment v7 (live: v1, v2)"),
        (["--deployment", "1"], "a rollback releases one app's deployment: name the app"),
    ],
    ids=["not-live", "no-app"],
)
def test_release_deployment_n_of_no_such_live_deployment_is_a_usage_error(
    lifecycle: Lifecycle, args: list[str], says: str
) -> None:
    lifecycle.run("up")
    lifecycle.run("deploy")
    refused = lifecycle.run("release", *args)
    assert refused.exit_code == 2
    assert refused.stderr == f"Error: {says}\n"
    assert lifecycle.alive("release") == [1]


def test_no_prune_keeps_every_deployment(lifecycle: Lifecycle) -> None:
    for _ in range(5):
        assert lifecycle.run("up", "--no-prune").exit_code == 0
    assert lifecycle.alive("deployment") == [1, 2, 3, 4, 5]
    assert lifecycle.done("destroy") == []


def test_prune_retain_sets_how_many_superseded_deployments_stay(lifecycle: Lifecycle) -> None:
    for _ in range(4):
        assert lifecycle.run("up", "--prune-retain", "0").exit_code == 0
    assert lifecycle.alive("deployment") == [4]


def test_up_up_destroy_leaves_nothing_live(lifecycle: Lifecycle) -> None:
    lifecycle.run("up")
    lifecycle.run("up")
    destroyed = lifecycle.run("destroy")
    assert lifecycle.alive("deployment") == []
    assert lifecycle.alive("release") == []
    deployed = {made for made, _ in lifecycle.done("deploy")}
    assert {made for made, _ in lifecycle.done("destroy")} == deployed
    assert len(lifecycle.done("unrelease")) == 1
    assert "Destroyed web deployment v2" in destroyed.output
    assert "Destroyed web deployment v1" in destroyed.output


def test_two_ups_at_once_each_release_their_own_deployment(
    lifecycle: Lifecycle, processes: Processes
) -> None:
    # Both deploy, and only then both release: "the latest deployment" is the other's for one
    # of them.
    lifecycle.configure(hold=["deploy"])
    project = lifecycle.project
    started = [processes.start(project.args("up"), cwd=project.root) for _ in range(2)]
    lifecycle.held("deploy", count=2)
    lifecycle.open()
    for process in started:
        out, err = process.communicate(timeout=GUARD)
        assert process.returncode == 0, out + err
    deployed = {pid: made for made, pid in lifecycle.done("deploy")}
    released = {pid: made for made, pid in lifecycle.done("release")}
    assert len(deployed) == 2
    assert released == deployed


def test_two_destroys_at_once_run_each_destroy_hook_once(
    lifecycle: Lifecycle, processes: Processes
) -> None:
    lifecycle.run("up")
    lifecycle.configure(hold=["destroy"])
    project = lifecycle.project
    first = processes.start(project.args("destroy"), cwd=project.root)
    lifecycle.held("destroy")
    second = lifecycle.run("destroy")
    assert "web deployment v1 is being destroyed by another command" in second.output
    lifecycle.open()
    out, err = first.communicate(timeout=GUARD)
    assert "Destroyed web deployment v1" in out, out + err
    assert len(lifecycle.done("destroy")) == 1
    assert len(lifecycle.done("unrelease")) == 1
    assert lifecycle.alive("deployment") == []


def test_a_check_running_while_its_target_is_destroyed_stores_no_report(
    lifecycle: Lifecycle, processes: Processes
) -> None:
    lifecycle.run("up")
    before = lifecycle.project.report_count()
    assert before == 2
    lifecycle.configure(hold=["status"])
    project = lifecycle.project
    checking = processes.start(project.args("status"), cwd=project.root)
    lifecycle.held("status")
    lifecycle.configure()  # the destroy is not held
    lifecycle.run("destroy")
    lifecycle.open()
    checking.communicate(timeout=GUARD)
    # The release's check (not held) may have stored its report before the destroy; the
    # deployment's, held until after the destroy committed, did not.
    reports = dict(
        project.query(
            "SELECT kind, count(*) FROM reports JOIN targets ON targets.key = reports.target"
            " GROUP BY kind ORDER BY kind"
        )
    )
    assert reports["deployment"] == 1


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "isolated"])
def test_a_deploy_killed_midway_is_interrupted_and_destroyed_from_its_checkpoint(
    lifecycle: Lifecycle, processes: Processes, isolate: bool
) -> None:
    lifecycle.configure(isolate=isolate, hold=["deploy"])
    project = lifecycle.project
    deploying = processes.start(project.args("deploy"), cwd=project.root)
    lifecycle.held("deploy")
    # ctx.checkpoint returns once the checkpoint is stored — isolated too, where the worker
    # waits for the launcher's word — and the hook reached the gate after it: killed now,
    # nothing that was started is unrecorded.
    kill_group(deploying)
    deploying.communicate(timeout=GUARD)
    with State.open(project.location) as state:
        (record,) = state.records.versions("deployment", "web", "default")
    assert record.status == "interrupted"
    ((made, _),) = lifecycle.done("deploy")
    assert record.checkpoint == {"made": made, "partial": True}
    lifecycle.configure(isolate=isolate)
    shown = lifecycle.run("status", "web").output
    assert re.search(r"deployment +v1 +interrupted .*destroy cleans up what it checkpointed", shown)
    assert "nothing deployed" not in shown
    assert re.search(
        r"^web: deployment v1 was interrupted before its hook returned; "
        r"run `waypoint-hooks .*destroy web` to clean it up",
        shown,
        re.MULTILINE,
    ), shown

    lifecycle.configure(isolate=isolate)
    destroyed = lifecycle.run("destroy")
    assert "Destroyed web deployment v1" in destroyed.output
    assert [id for id, _ in lifecycle.done("destroy")] == [made]
    assert lifecycle.alive("deployment") == []


def test_a_pending_record_of_a_running_command_is_not_destroyed(
    lifecycle: Lifecycle, processes: Processes
) -> None:
    lifecycle.configure(hold=["deploy"])
    project = lifecycle.project
    deploying = processes.start(project.args("deploy"), cwd=project.root)
    lifecycle.held("deploy")
    lifecycle.configure()
    lifecycle.run("destroy")
    assert lifecycle.done("destroy") == []
    lifecycle.open()
    out, err = deploying.communicate(timeout=GUARD)
    assert deploying.returncode == 0, out + err
    assert lifecycle.targets("deployment")[0][:3] == (1, "live", 1)


def test_a_checkpoint_an_isolated_hook_made_is_stored_before_it_goes_on(
    tmp_path: Path, processes: Processes
) -> None:
    # The hook kills the launcher the moment its ctx.checkpoint returns: only a checkpoint
    # the launcher stored before it answered can survive that.
    project = Project(
        tmp_path / "project",
        [App("web", "wh_kills_launcher", isolate=True)],
        plugins=("wh_kills_launcher",),
    )
    done = processes.run(project.args("deploy"), cwd=project.root)
    assert done.returncode == -9, done.stderr
    with State.open(project.state) as state:
        (record,) = state.records.versions("deployment", "web", "default")
    assert record.status == "interrupted"
    assert record.checkpoint == {"made": record.id}
    processes.run(project.args("destroy"), cwd=project.root)
    assert (project.root / "destroyed").read_text() == f"{record.id}\n"


def test_a_deployment_is_live_on_disk_before_the_next_apps_deploy_hook_runs(
    tmp_path: Path,
) -> None:
    # Its outcome shares the next app's intent's transaction: committed before that hook runs.
    state_path = tmp_path / "state.db"
    seen: dict[str, list[tuple[str, str]]] = {}

    @hookimpl
    def platform_deploy_func(job_info: JobInfo) -> dict[str, str]:
        with contextlib.closing(sqlite3.connect(state_path)) as db:
            rows = db.execute("SELECT app, status FROM targets ORDER BY app").fetchall()
        seen[job_info.app] = rows
        return {"app": job_info.app}

    plugins = PluginManager()
    plugins.register(SimpleNamespace(platform_deploy_func=platform_deploy_func), "seer")
    config = tmp_path / "waypoint.hcl"
    apps = "".join(
        f'app "{name}" {{\n  deploy {{\n    use "seer" {{}}\n  }}\n}}\n' for name in "ab"
    )
    config.write_text(f'project = "p"\n{apps}')
    with State.open(state_path) as state:
        asyncio.run(phases.Lifecycle(load_config(config), state, plugins).deploy(()))
        assert seen == {"a": [("a", "pending")], "b": [("a", "live"), ("b", "pending")]}
        assert [r.status for r in state.records.versions("deployment", "b", "default")] == ["live"]
