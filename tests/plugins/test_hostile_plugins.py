"""Hostile plugins (issue 6, area 1): a status hook that raises anything, hangs, returns junk,
floods, prints at every level or kills its process, run through the real CLI.

Each project has the hostile app between two well-behaved ones (``first`` with a release,
``last``). What must hold: the launcher survives whatever it can survive in-process (exit 1,
no traceback, the hostile app ``UNKNOWN`` with a message naming the plugin and what happened,
the others ``READY``); ``status --json`` stdout is one JSON document whatever a plugin
writes; with ``isolate = true`` even a crash of the plugin's process becomes an ``UNKNOWN``
report naming the exit code or signal. The hostile plugins are real modules in
``tests/hostile/`` (modes in ``wh_behaviours.py``); a mode takes effect once the test arms it,
after ``deploy``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hostile import harness
from hostile.harness import App, Processes, Project, assert_survived, parse, report_of

STEADY = ("first", "last")


# The hostile plugin modules on the path, only builtins besides them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("hostile_plugins")


def hostile_project(
    tmp_path: Path,
    mode: str,
    *,
    plugin: str = "wh_hostile",
    isolate: bool | None = None,
    timeout: str | None = None,
    limits: Mapping[str, int] | None = None,
) -> Project:
    """The hostile app between two steady ones. In-process a hang is cut after 1s; an
    isolated check also starts a Python process, which a loaded machine may take seconds to
    do, so it gets 60s unless the test is about a hang."""
    if timeout is None:
        timeout = "60s" if isolate else "1s"
    root = tmp_path / "project"
    config = {"mode": mode, "armed": str(root / "armed")}
    return Project(
        root,
        [
            App("first", release="wh_steady"),
            App("hostile", plugin, config, isolate=isolate),
            App("last"),
        ],
        status={"timeout": timeout, **(limits or {})},
        plugins=("wh_steady", plugin),
    )


def table_line(output: str, app: str) -> str:
    for line in output.splitlines():
        if line.split(" ", 1)[0] == app and "default" in line:
            return line
    raise AssertionError(f"no status table row for {app!r} in:\n{output}")


def assert_others_ready(document: dict[str, Any]) -> None:
    for app in STEADY:
        assert report_of(document, app)["health"] == "READY", document
    assert report_of(document, "first", "release")["health"] == "READY", document


def assert_unknown(document: dict[str, Any], plugin: str, *fragments: str) -> str:
    report = report_of(document, "hostile")
    message: str = report["health_message"]
    assert report["health"] == "UNKNOWN", report
    assert plugin in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def up_in_process(project: Project) -> None:
    deployed = project.invoke("up")
    assert deployed.exit_code == 0, deployed.output
    project.arm()


def check_survives_in_process(project: Project, plugin: str, *fragments: str) -> None:
    """``up`` (unarmed), arm, then ``status --json``, ``status`` and ``status --cached``."""
    up_in_process(project)
    result = project.invoke("status", "--json")
    assert_survived(result)
    assert result.exit_code == 1, result.output
    document = parse(result.stdout)
    assert_unknown(document, plugin, *fragments)
    assert_others_ready(document)

    human = project.invoke("status")
    assert_survived(human)
    assert human.exit_code == 1, human.output
    assert "? UNKNOWN" in table_line(human.output, "hostile"), human.output
    for app in STEADY:
        assert "✔ READY" in table_line(human.output, app), human.output
    assert f"hostile deployment: plugin '{plugin}'" in human.output

    # What was stored reads back: the hostile report did not poison the state.
    cached = project.invoke("status", "--cached", "--json")
    assert_survived(cached)
    assert cached.exit_code == 1, cached.output
    assert_unknown(parse(cached.stdout), plugin, *fragments)
    history = project.invoke("history", "hostile", "--json")
    assert_survived(history)
    assert history.exit_code == 0, history.output
    assert [item["report"]["health"] for item in parse(history.stdout)["reports"]][:2] == [
        "UNKNOWN",
        "UNKNOWN",
    ]


# --- in-process: the launcher must survive these ------------------------------------------

RAISED = {
    # mode argument: what the message must name
    "ValueError": "ValueError",
    "RuntimeError": "RuntimeError",
    "SystemExit": "SystemExit",
    "SystemExit0": "SystemExit",
    "KeyboardInterrupt": "KeyboardInterrupt",
    "GeneratorExit": "GeneratorExit",
    "MemoryError": "MemoryError",
    "StopIteration": "StopIteration",
    "Doom": "Doom",
    "Unprintable": "Unprintable",
    "HugeMessage": "ValueError",
}


@pytest.mark.parametrize("exception", RAISED)
def test_a_sync_hook_raising_anything_becomes_unknown(tmp_path: Path, exception: str) -> None:
    project = hostile_project(tmp_path, f"raise:{exception}")
    check_survives_in_process(project, "wh_hostile", RAISED[exception])


@pytest.mark.parametrize("exception", [*RAISED, "CancelledError"])
def test_an_async_hook_raising_anything_becomes_unknown(tmp_path: Path, exception: str) -> None:
    project = hostile_project(tmp_path, f"raise:{exception}", plugin="wh_hostile_async")
    check_survives_in_process(project, "wh_hostile_async", RAISED.get(exception, exception))


def test_unbounded_recursion_becomes_unknown(tmp_path: Path) -> None:
    check_survives_in_process(hostile_project(tmp_path, "recurse"), "wh_hostile", "RecursionError")


@pytest.mark.parametrize(
    ("plugin", "mode"),
    [
        ("wh_hostile", "hang"),
        ("wh_hostile_async", "hang"),
        ("wh_hostile_async", "swallow"),  # ignores every CancelledError
    ],
    ids=["sync-sleep", "async-sleep", "async-swallows-cancellation"],
)
def test_a_hook_that_hangs_times_out_as_unknown(tmp_path: Path, plugin: str, mode: str) -> None:
    check_survives_in_process(hostile_project(tmp_path, mode, plugin=plugin), plugin, "timed out")


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("none", "None"),
        ("wrong:dict", "dict"),
        ("wrong:str", "str"),
        ("wrong:health", "Health"),
        ("wrong:resource", "Resource"),
        ("wrong:list", "list"),
        ("coroutine", "awaitable"),
    ],
)
def test_a_hook_returning_the_wrong_thing_becomes_unknown(
    tmp_path: Path, mode: str, fragment: str
) -> None:
    check_survives_in_process(hostile_project(tmp_path, mode), "wh_hostile", fragment)


def test_an_async_hook_returning_none_becomes_unknown(tmp_path: Path) -> None:
    project = hostile_project(tmp_path, "none", plugin="wh_hostile_async")
    check_survives_in_process(project, "wh_hostile_async", "None")


# Reports made valid, then broken behind the validators' back with object.__setattr__.
INVALID = {
    "invalid:health=42": "health",
    "invalid:health=-1": "health",
    "invalid:health='READY'": "health",
    "invalid:health_message=42": "health_message",
    "invalid:resources='abc'": "resources",
    "invalid:resources=['not a resource']": "resources",
    "invalid:generated_time='yesterday'": "generated_time",
    "invalid:external='yes'": "external",
    "invalid_resource:health=42": "health",
    "invalid_resource:name=None": "name",
}


@pytest.mark.parametrize("mode", INVALID)
def test_a_report_broken_behind_the_validators_back_becomes_unknown(
    tmp_path: Path, mode: str
) -> None:
    check_survives_in_process(hostile_project(tmp_path, mode), "wh_hostile", INVALID[mode])


# What a report of 200,000 resources needs (DESIGN §13): the limits raised for it.
HUGE_LIMITS = {"max_resources": 200_000, "max_report_bytes": 128 * 1024 * 1024}


def test_a_report_with_200000_resources_is_checked_stored_and_shown(tmp_path: Path) -> None:
    project = hostile_project(tmp_path, "huge:200000", timeout="120s", limits=HUGE_LIMITS)
    up_in_process(project)
    result = project.invoke("status", "--json")
    assert_survived(result)
    assert result.exit_code == 0, result.output[-2000:]
    document = parse(result.stdout)
    report = report_of(document, "hostile")
    assert (report["health"], len(report["resources"])) == ("READY", 200_000)
    assert report["health_message"] == "All 200000 resources are reporting READY"
    assert_others_ready(document)


def test_python_prints_do_not_reach_json_stdout_in_process(tmp_path: Path) -> None:
    project = hostile_project(tmp_path, "print")
    up_in_process(project)
    result = project.invoke("status", "--json")
    assert_survived(result)
    assert result.exit_code == 0, result.output
    document = parse(result.stdout)
    assert report_of(document, "hostile")["health"] == "READY"
    assert "PRINTED on stdout" in result.stderr


# --- the console script: output at the OS level, signals, crashes -------------------------


def up_script(project: Project, processes: Processes) -> None:
    deployed = processes.run(project.args("up"), cwd=project.root)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    project.arm()


@pytest.mark.parametrize("isolate", [None, True], ids=["in-process", "isolated"])
@pytest.mark.parametrize(
    ("mode", "marker"),
    [
        ("print", "PRINTED on stdout"),
        ("fdwrite", "FDWRITE on fd 1"),
        ("echo", "ECHOED by a child"),
        ("closefd1", ""),
    ],
)
def test_json_stdout_stays_one_document_whatever_a_plugin_writes(
    tmp_path: Path, processes: Processes, mode: str, marker: str, isolate: bool | None
) -> None:
    project = hostile_project(tmp_path, mode, isolate=isolate)
    up_script(project, processes)
    done = processes.run(project.args("status", "--json"), cwd=project.root)
    assert done.returncode == 0, done.stdout + done.stderr
    document = parse(done.stdout)
    assert report_of(document, "hostile")["health"] == "READY"
    assert_others_ready(document)
    assert "Traceback" not in done.stderr
    if marker and not isolate:
        assert marker in done.stderr  # moved aside, not lost


def json_documents(stream: str) -> list[Any]:
    """Every JSON document of a ``--watch --json`` stream, which must hold nothing else."""
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while True:
        while index < len(stream) and stream[index].isspace():
            index += 1
        if index == len(stream):
            return documents
        try:
            document, index = decoder.raw_decode(stream, index)
        except ValueError as exc:
            pytest.fail(f"not JSON at offset {index} ({exc}): {stream[index : index + 200]!r}")
        documents.append(document)


def test_watch_json_stays_json_when_an_abandoned_plugin_writes_between_rounds(
    tmp_path: Path, processes: Processes
) -> None:
    # The check times out after 1s; the plugin writes at 1.5s, while the launcher sleeps
    # between two --watch rounds, and nothing runs a plugin.
    project = hostile_project(tmp_path, "late:1.5")
    up_in_process(project)
    before = project.report_count()
    process = processes.start(project.args("status", "--json", "--watch", "2"), cwd=project.root)
    deadline = time.monotonic() + harness.GUARD
    while project.report_count() < before + 3 * 4 and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=harness.GUARD)
    assert process.returncode == 130, err
    documents = json_documents(out)
    assert len(documents) >= 2
    assert "LATE" not in out
    for document in documents:
        assert_unknown(document, "wh_hostile", "timed out")


def test_a_plugin_interrupting_the_launcher_never_yields_exit_0(
    tmp_path: Path, processes: Processes
) -> None:
    # SIGINT to its own process: the KeyboardInterrupt lands in the launcher's main thread,
    # in the middle of the first check. No report was shown, so "all READY" would be a lie.
    project = hostile_project(tmp_path, "sigint")
    up_in_process(project)
    done = processes.run(project.args("status"), cwd=project.root)
    assert done.returncode != 0, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


def test_a_busy_looping_hook_times_out(tmp_path: Path, processes: Processes) -> None:
    project = hostile_project(tmp_path, "busy")
    up_in_process(project)
    done = processes.run(project.args("status", "--json"), cwd=project.root)
    assert done.returncode == 1, done.stderr
    document = parse(done.stdout)
    assert_unknown(document, "wh_hostile", "timed out")
    assert_others_ready(document)


CRASHES = {
    # mode: what the UNKNOWN report must name
    "exit:3": "code 3",
    "segv": "SIGSEGV",
    "sigkill": "SIGKILL",
}


@pytest.mark.parametrize("mode", CRASHES)
def test_a_crash_in_process_takes_the_launcher_down_but_not_the_state(
    tmp_path: Path, processes: Processes, mode: str
) -> None:
    # No in-process design survives these: this is why `isolate` exists. What must hold
    # anyway: the state is intact, and the next run (plugin fixed) works.
    project = hostile_project(tmp_path, mode)
    up_script(project, processes)
    before = project.report_count()
    crashed = processes.run(project.args("status", "--json"), cwd=project.root)
    assert crashed.returncode not in (0, 1), crashed
    assert project.integrity() == "ok"
    assert project.report_count() == before
    project.disarm()
    after = processes.run(project.args("status"), cwd=project.root)
    assert after.returncode == 0, after.stdout + after.stderr


@pytest.mark.parametrize("mode", CRASHES)
def test_an_isolated_app_survives_its_plugin_crashing(
    tmp_path: Path, processes: Processes, mode: str
) -> None:
    project = hostile_project(tmp_path, mode, isolate=True)
    up_script(project, processes)
    done = processes.run(project.args("status", "--json"), cwd=project.root)
    assert done.returncode == 1, done.stdout + done.stderr
    document = parse(done.stdout)
    assert_unknown(document, "wh_hostile", CRASHES[mode])
    assert_others_ready(document)
    assert "Traceback" not in done.stderr

    human = processes.run(project.args("status"), cwd=project.root)
    assert human.returncode == 1, human.stdout + human.stderr
    assert "? UNKNOWN" in table_line(human.stdout, "hostile")
    assert CRASHES[mode] in human.stdout

    project.disarm()  # the plugin is fixed: the next check of the app works again
    again = processes.run(project.args("status", "--json"), cwd=project.root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert report_of(parse(again.stdout), "hostile")["health"] == "READY"


@pytest.mark.parametrize(
    ("plugin", "mode", "fragment"),
    [
        ("wh_hostile", "raise:ValueError", "ValueError"),
        ("wh_hostile", "raise:Unprintable", "Unprintable"),
        ("wh_hostile", "hang", "timed out after 2s"),
        ("wh_hostile_async", "block", "timed out after 2s"),  # blocks the child's event loop
        ("wh_hostile_async", "swallow", "timed out after 2s"),
        ("wh_hostile", "none", "None"),
        ("wh_hostile", "invalid:health=42", "health"),
    ],
)
def test_an_isolated_app_reports_what_its_plugin_did(
    tmp_path: Path, processes: Processes, plugin: str, mode: str, fragment: str
) -> None:
    project = hostile_project(tmp_path, mode, plugin=plugin, isolate=True)
    up_script(project, processes)
    # A hang is cut by --timeout; the config's generous one lets `up` start its process.
    cut = ["--timeout", "2s"] if "timed out" in fragment else []
    done = processes.run(project.args("status", "--json", *cut), cwd=project.root)
    assert done.returncode == 1, done.stdout + done.stderr
    document = parse(done.stdout)
    assert_unknown(document, plugin, fragment)
    assert_others_ready(document)
    assert "Traceback" not in done.stderr


def test_an_isolated_app_passes_200000_resources_back(tmp_path: Path, processes: Processes) -> None:
    project = hostile_project(
        tmp_path, "huge:200000", isolate=True, timeout="120s", limits=HUGE_LIMITS
    )
    up_script(project, processes)
    done = processes.run(project.args("status", "--json"), cwd=project.root)
    assert done.returncode == 0, done.stderr[-3000:]
    report = report_of(parse(done.stdout), "hostile")
    assert (report["health"], len(report["resources"])) == ("READY", 200_000)


def test_an_isolated_report_left_to_derive_gets_its_health_from_the_policy(tmp_path: Path) -> None:
    # wh_steady leaves health to the policy when it reports resources: the worker sends the
    # report before finalization, so its health must cross as "derive it", not as UNKNOWN.
    project = Project(tmp_path / "project", [App("web", config={"resources": 2}, isolate=True)])
    assert project.invoke("deploy").exit_code == 0
    result = project.invoke("status", "--json")
    assert result.exit_code == 0, result.output
    assert report_of(parse(result.output), "web")["health"] == "READY"


def test_an_isolated_app_runs_every_plugin_call_in_another_process(
    tmp_path: Path, processes: Processes
) -> None:
    pids = {"local": tmp_path / "local.pids", "isolated": tmp_path / "isolated.pids"}
    project = Project(
        tmp_path / "project",
        [
            App(
                name,
                config={"pidfile": str(pids[name])},
                release="wh_steady",
                release_config={"pidfile": str(pids[name])},
                isolate=name == "isolated" or None,
            )
            for name in pids
        ],
    )
    launchers = set()
    for command in ("deploy", "release", "status", "destroy"):
        process = processes.start(project.args(command), cwd=project.root)
        out, err = process.communicate(timeout=harness.GUARD)
        assert process.returncode == 0, out + err
        launchers.add(process.pid)

    def calls(name: str) -> list[tuple[str, int]]:
        lines = pids[name].read_text().split()
        return [(hook, int(pid)) for hook, pid in zip(lines[::2], lines[1::2], strict=True)]

    hooks = {
        "platform_deploy_func",
        "release_manager_release_func",
        "platform_status_func",
        "release_manager_status_func",
        "platform_destroy_func",
        "release_manager_destroy_func",
    }
    local, isolated = calls("local"), calls("isolated")
    assert {hook for hook, _ in local} == {hook for hook, _ in isolated} == hooks
    assert {pid for _, pid in local} <= launchers
    assert not {pid for _, pid in isolated} & launchers, isolated
    assert os.getpid() not in {pid for _, pid in isolated}


def test_isolate_must_be_true_or_false(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", [App("web", isolate=False)])
    assert "web: nothing deployed" in project.invoke("status").output  # accepted
    project.config.write_text(project.config.read_text().replace("false", '"yes"'))
    result = project.invoke("status")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ")
    assert "waypoint.hcl:" in result.output
    assert "isolate" in result.output


def isolated_workers(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are still isolated workers, alive (not zombies)."""
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                command = file.read()
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
                state = file.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"waypoint_hooks.plugins.isolation" in command and state != "Z":
            alive.append(pid)
    return alive


def test_killing_the_launcher_leaves_no_isolated_process_behind(
    tmp_path: Path, processes: Processes
) -> None:
    # kill -9 (or the OOM killer) of the launcher while an isolated check runs: its worker,
    # in a session of its own, must not live on holding what the plugin holds.
    project = hostile_project(tmp_path, "hang", isolate=True)
    up_script(project, processes)
    launcher = processes.start(project.args("status"), cwd=project.root)
    deadline = time.monotonic() + harness.GUARD
    workers: list[int] = []
    while not workers:
        assert launcher.poll() is None, launcher.communicate()
        assert time.monotonic() < deadline, "no isolated process was started"
        time.sleep(0.05)
        workers = isolated_workers(harness.children(launcher.pid))
    try:
        os.kill(launcher.pid, signal.SIGKILL)  # the launcher alone, as kill -9 PID does
        launcher.wait(timeout=harness.GUARD)  # its pipes stay open while the worker lives
        deadline = time.monotonic() + 15
        while isolated_workers(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not isolated_workers(workers), "the isolated process outlived its launcher"
    finally:
        for pid in isolated_workers(workers):
            os.kill(pid, signal.SIGKILL)
