"""The builtin ``process`` plugin, deploying real processes and probing them on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers_http import free_port, refusing_port

from builtin_plugins.process import PlatformConfig
from waypoint_hooks import CategoryDisplayHint, ConfigError, Duration, Health, StatusReport
from waypoint_hooks._codec import structure
from waypoint_hooks.testing import PluginHarness

PYTHON = sys.executable
#: Generous: a loaded machine may take seconds to start a Python process.
PATIENCE = 60.0
SLEEPER = [PYTHON, "-c", "import time; print('sleeping', flush=True); time.sleep(600)"]

Deploy = Callable[..., dict[str, Any]]


def app_config(deployment: dict[str, Any]) -> dict[str, Any]:
    """A config of the app that made ``deployment``: status and destroy read the deployment
    only, but the launcher gives them the app's config, which must fit the platform."""
    return {"command": deployment["command"]}


def destroy(plugins: PluginHarness, deployment: dict[str, Any]) -> list[str]:
    """Destroy ``deployment``; the lines its destroy showed."""
    plugins.ui.clear()
    plugins.platform_destroy("process", app_config(deployment), deployment=deployment)
    return plugins.ui.lines()


def ours(deployment: dict[str, Any]) -> bool:
    """Whether the deployed process is still there, pid and start time alike (or a zombie)."""
    try:
        stat = Path(f"/proc/{deployment['pid']}/stat").read_bytes()
    except FileNotFoundError:
        return False
    start_time: int = deployment["start_time"]
    return int(stat[stat.rindex(b")") + 2 :].split()[19]) == start_time


def running_in_group(group: int) -> list[int]:
    """The pids of the processes of ``group`` that have not exited."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            stat = (entry / "stat").read_bytes()
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[2]) == group and fields[0] not in (b"Z", b"X"):
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def deploy(plugins: PluginHarness, tmp_path: Path) -> Iterator[Deploy]:
    """Deploy a command (in ``tmp_path``, logging there); every process it starts is stopped
    afterwards, by the plugin's destroy and, should that fail, by SIGKILL."""
    deployments: list[dict[str, Any]] = []

    def run(command: list[str] | str, **config: Any) -> dict[str, Any]:
        config = {"command": command, "cwd": str(tmp_path), "log_dir": str(tmp_path), **config}
        deployment = plugins.platform_deploy("process", config)
        deployments.append(deployment)
        return deployment

    yield run
    for deployment in deployments:
        with contextlib.suppress(Exception):
            destroy(plugins, deployment)
        if ours(deployment):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(deployment["pid"], signal.SIGKILL)


def status(plugins: PluginHarness, deployment: dict[str, Any]) -> StatusReport:
    return plugins.platform_status("process", app_config(deployment), deployment=deployment)


def status_until(
    plugins: PluginHarness, deployment: dict[str, Any], health: Health
) -> StatusReport:
    """The first report with ``health``, checking again until patience runs out."""
    deadline = time.monotonic() + PATIENCE
    report = status(plugins, deployment)
    while report.health is not health and time.monotonic() < deadline:
        time.sleep(0.1)
        report = status(plugins, deployment)
    return report


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + PATIENCE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def http_server(port: int) -> list[str]:
    return [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_deploy_starts_the_command_detached_in_its_cwd_with_env_and_log(
    deploy: Deploy, tmp_path: Path
) -> None:
    script = (
        "import os, sys, time;"
        "print(os.getcwd(), os.environ['GREETING'], os.getsid(0) == os.getpid(),"
        " repr(sys.stdin.read()), flush=True);"
        "time.sleep(600)"
    )
    work = tmp_path / "work"
    work.mkdir()
    deployment = deploy([PYTHON, "-c", script], cwd=str(work), env={"GREETING": "hello"})
    log = tmp_path / "web-job1.log"
    assert deployment["log"] == str(log)
    assert (deployment["command"], deployment["cwd"]) == ([PYTHON, "-c", script], str(work))
    assert ours(deployment)
    assert eventually(lambda: log.read_text().strip() == f"{work} hello True ''")


def test_a_string_command_is_split_as_a_shell_would(deploy: Deploy) -> None:
    command = f"{shlex.quote(PYTHON)} -c 'import time; time.sleep(600)'"
    deployment = deploy(command)
    assert deployment["command"] == [PYTHON, "-c", "import time; time.sleep(600)"]


@pytest.mark.parametrize("probe", ["ready_http", "ready_tcp"])
def test_a_running_process_that_passes_its_probe_is_ready(
    plugins: PluginHarness, deploy: Deploy, probe: str
) -> None:
    port = free_port()
    address = f"http://127.0.0.1:{port}/" if probe == "ready_http" else f"127.0.0.1:{port}"
    before = datetime.now(timezone.utc)
    deployment = deploy(http_server(port), **{probe: address})
    report = status_until(plugins, deployment, Health.READY)
    assert report.health is Health.READY, report
    (resource,) = report.resources
    assert resource.name == f"{os.path.basename(PYTHON)}[{deployment['pid']}]"
    assert (resource.type, resource.platform) == ("process", "process")
    assert resource.category_display_hint is CategoryDisplayHint.INSTANCE
    assert resource.health_message == f"running, and {address} answers"
    # Boot time has whole seconds only: the start time is known to within one.
    assert resource.created_time is not None
    slack = timedelta(seconds=2)
    assert before - slack <= resource.created_time <= datetime.now(timezone.utc) + slack


def test_deploy_waits_until_the_probe_passes(plugins: PluginHarness, deploy: Deploy) -> None:
    port = free_port()
    deployment = deploy(http_server(port), ready_tcp=f"127.0.0.1:{port}")
    name = f"{os.path.basename(PYTHON)}[{deployment['pid']}]"
    assert plugins.ui.lines() == [
        f"ok: Started {name}, its output goes to {deployment['log']}",
        f"ok: {name} is ready",
    ]


def test_deploy_stops_waiting_when_the_process_exits(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    with refusing_port() as port:
        deployment = deploy([PYTHON, "-c", "pass"], ready_tcp=f"127.0.0.1:{port}")
    assert plugins.ui.lines()[1] == (
        f"error: Not ready: process {deployment['pid']} has exited; "
        f"its output is in {deployment['log']}"
    )


def test_deploy_stops_waiting_after_the_start_timeout(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    with refusing_port() as port:
        deploy(SLEEPER, ready_tcp=f"127.0.0.1:{port}", start_timeout=0.3)
    assert plugins.ui.lines()[1] == (
        f"warning: Not ready after 0.3s: 127.0.0.1:{port} does not accept connections: "
        "Connection refused"
    )


def test_a_process_without_a_probe_is_ready_while_it_runs(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    report = status(plugins, deploy(SLEEPER))
    assert (report.health, report.health_message) == (Health.READY, "running")


@pytest.mark.parametrize("probe", ["ready_http", "ready_tcp"])
def test_a_running_process_whose_probe_fails_is_alive(
    plugins: PluginHarness, deploy: Deploy, probe: str
) -> None:
    with refusing_port() as port:
        address = f"http://127.0.0.1:{port}/" if probe == "ready_http" else f"127.0.0.1:{port}"
        report = status(plugins, deploy(SLEEPER, **{probe: address, "start_timeout": 0}))
    assert report.health is Health.ALIVE
    assert report.health_message.startswith(f"running, but {address} does not ")
    assert report.health_message.endswith("Connection refused")


def test_a_process_killed_under_the_platform_is_down_with_its_log_tail(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(SLEEPER)
    log = Path(deployment["log"])
    assert eventually(lambda: log.read_text() == "sleeping\n")
    os.kill(deployment["pid"], signal.SIGKILL)
    report = status_until(plugins, deployment, Health.DOWN)
    assert report.health is Health.DOWN, report
    (resource,) = report.resources
    assert resource.health_message in (
        f"process {deployment['pid']} has exited",  # a zombie until destroy reaps it
        f"process {deployment['pid']} is not running",
    )
    assert json.loads(resource.state_json)["log_tail"] == ["sleeping"]


def test_a_process_that_exits_at_once_is_down_with_the_last_20_lines_of_its_log(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy([PYTHON, "-c", "for n in range(30): print('line', n)\nraise SystemExit(3)"])
    report = status_until(plugins, deployment, Health.DOWN)
    assert report.health is Health.DOWN, report
    state = json.loads(report.resources[0].state_json)
    assert state["log_tail"] == [f"line {n}" for n in range(10, 30)]


def test_a_pid_with_another_start_time_is_down_and_never_signalled(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(SLEEPER)
    reused = {**deployment, "start_time": deployment["start_time"] + 1}
    report = status(plugins, reused)
    assert report.health is Health.DOWN
    assert report.health_message == (
        f"pid {deployment['pid']} now belongs to another process, not the one deployed"
    )
    assert destroy(plugins, reused) == [f"{report.health_message}; nothing to stop"]
    assert status(plugins, deployment).health is Health.READY


def test_destroy_stops_the_whole_process_group(plugins: PluginHarness, deploy: Deploy) -> None:
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        "time.sleep(600)"
    )
    deployment = deploy([PYTHON, "-c", script])
    group = deployment["pid"]
    assert eventually(lambda: len(running_in_group(group)) == 2)
    assert destroy(plugins, deployment) == [f"Stopped {os.path.basename(PYTHON)}[{group}]"]
    assert running_in_group(group) == []
    assert not ours(deployment)  # reaped: not even a zombie is left


def test_destroy_kills_a_process_that_ignores_sigterm_after_the_grace_period(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    script = (
        "import signal, time;"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ignoring', flush=True);"
        "time.sleep(600)"
    )
    deployment = deploy([PYTHON, "-c", script], grace=0.5)
    assert eventually(lambda: Path(deployment["log"]).read_text() == "ignoring\n")
    name = f"{os.path.basename(PYTHON)}[{deployment['pid']}]"
    assert destroy(plugins, deployment) == [
        f"{name} did not stop within 0.5s of SIGTERM; killed it"
    ]
    assert running_in_group(deployment["pid"]) == []


def test_destroying_a_process_that_is_gone_already_is_fine(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(SLEEPER)
    pid = deployment["pid"]
    os.kill(pid, signal.SIGKILL)
    assert eventually(lambda: not running_in_group(pid))
    # The first destroy reaps the zombie.
    assert destroy(plugins, deployment) == [f"process {pid} has exited; nothing to stop"]
    assert destroy(plugins, deployment) == [f"process {pid} is not running; nothing to stop"]


def test_deploying_a_program_that_does_not_exist_fails_clearly(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    config = {"command": ["no-such-program-here"], "log_dir": str(tmp_path)}
    with pytest.raises(
        FileNotFoundError, match="No such file or directory: 'no-such-program-here'"
    ):
        plugins.platform_deploy("process", config)


@pytest.mark.parametrize(("written", "seconds"), [("30s", 30.0), ("1m", 60.0), (30, 30.0)])
def test_start_timeout_and_grace_are_durations_or_seconds(written: object, seconds: float) -> None:
    config = structure({"command": "x", "start_timeout": written, "grace": written}, PlatformConfig)
    assert (config.start_timeout, config.grace) == (Duration(seconds), Duration(seconds))


@pytest.mark.parametrize(
    ("config", "field", "problem"),
    [
        ({}, "command", "required field missing"),
        ({"command": []}, "command", "names no program"),
        ({"command": 3}, "command", "expected a list of strings or a string"),
        ({"command": "python -c 'unclosed"}, "command", "cannot split"),
        ({"command": "x", "ready_http": "localhost:8000"}, "ready_http", "not an http://"),
        ({"command": "x", "ready_http": "http://h:port/"}, "ready_http", "invalid port"),
        ({"command": "x", "ready_tcp": "8000"}, "ready_tcp", "not a host:port"),
        ({"command": "x", "ready_http": "http://h/", "ready_tcp": "h:1"}, "ready_tcp", "not both"),
        ({"command": "x", "grace": -1}, "grace", "duration -1 is negative"),
        ({"command": "x", "start_timeout": "soon"}, "start_timeout", "'soon' is not a duration"),
        ({"command": "x", "env": {"PORT": 8000}}, "env[PORT]", "expected str"),
    ],
)
def test_a_bad_config_is_a_config_error_naming_the_field(
    plugins: PluginHarness, config: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        plugins.platform_deploy("process", config)
    ((path, message),) = raised.value.problems
    assert path == field
    assert problem in message
