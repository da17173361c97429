"""The builtin ``process`` plugin, deploying real processes and probing them on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers_checkpoints import make_checkpointing
from helpers_http import free_port, refusing_port, serving
from helpers_proc import marked, running, running_with_argument

from builtin_plugins.process import MARKER, PlatformConfig, ProcessExited
from waypoint_hooks import CategoryDisplayHint, ConfigError, Duration, Health, StatusReport
from waypoint_hooks.model.codec import structure
from waypoint_hooks.testing import PluginHarness

PYTHON = sys.executable
#: Generous: a loaded machine may take seconds to start a Python process.
PATIENCE = 60.0
#: What /proc calls a process that runs ``PYTHON``.
NAME = os.path.basename(PYTHON)[:15]
SLEEPER = [PYTHON, "-c", "import time; print('sleeping', flush=True); time.sleep(600)"]
#: Sleeps; ignores SIGTERM when its first argument is "stubborn", before it says so.
NAPPER = (
    "import signal, sys, time\n"
    "if sys.argv[1:2] == ['stubborn']:\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('sleeping', flush=True)\n"
    "time.sleep(600)\n"
)

Deploy = Callable[..., dict[str, Any]]
Decoy = Callable[[list[str]], subprocess.Popen[bytes]]


#: A config of the app: status and destroy read the deployment, but the launcher gives them
#: the app's config too, which must fit the platform.
APP_CONFIG = {"command": SLEEPER}


def made(deployment: dict[str, Any]) -> dict[str, Any]:
    """What the deployment's process resource recorded, and its log's path as ``log``: the
    value a deployment had before the platform used the resource manager."""
    states = {each["name"]: each["state"] for each in deployment["created"]}
    return {**states["process"], "log": states["log"]["path"]}


def with_process(deployment: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``deployment`` with ``changes`` to what its process resource recorded."""
    return {
        "created": [
            {**each, "state": {**each["state"], **changes}} if each["name"] == "process" else each
            for each in deployment["created"]
        ]
    }


def destroy(plugins: PluginHarness, deployment: dict[str, Any]) -> list[str]:
    """Destroy ``deployment``; the lines its destroy showed."""
    plugins.ui.clear()
    plugins.platform_destroy("process", APP_CONFIG, deployment=deployment)
    return plugins.ui.lines()


def ours(deployment: dict[str, Any]) -> bool:
    """Whether the deployed process is still there, pid and start time alike (or a zombie)."""
    try:
        stat = Path(f"/proc/{made(deployment)['pid']}/stat").read_bytes()
    except FileNotFoundError:
        return False
    start_time: int = made(deployment)["start_time"]
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

    def run(
        command: list[str] | str, kept: list[dict[str, Any]] | None = None, **config: Any
    ) -> dict[str, Any]:
        """Deploy; with ``kept``, as the launcher does, keeping its checkpoints there."""
        config = {"command": command, "cwd": str(tmp_path), "log_dir": str(tmp_path), **config}
        if kept is None:
            deployment = plugins.platform_deploy("process", config)
        else:
            deployment = make_checkpointing(
                plugins, "platform_deploy_func", "process", config, kept
            )
        deployments.append(deployment)
        return deployment

    yield run
    for deployment in deployments:
        with contextlib.suppress(Exception):
            destroy(plugins, deployment)
        if ours(deployment):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(made(deployment)["pid"], signal.SIGKILL)


@pytest.fixture
def decoy() -> Iterator[Decoy]:
    """Start a process that no deployment started (no marker), in a session of its own;
    every one is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str]) -> subprocess.Popen[bytes]:
        environment = {name: value for name, value in os.environ.items() if name != MARKER}
        started.append(subprocess.Popen(command, env=environment, start_new_session=True))
        return started[-1]

    yield start
    for process in started:
        process.kill()
        process.wait()


def daemonizing(*arguments: str) -> list[str]:
    """A command that starts ``NAPPER ARGUMENTS`` as a daemon (fork, setsid, fork, exec),
    waits for the middle process and exits."""
    script = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.execv(sys.executable, [sys.executable, '-c', *sys.argv[1:]])\n"
        "    os._exit(0)\n"
        "os.wait()\n"
    )
    return [PYTHON, "-c", script, NAPPER, *arguments]


def starting(children: int, then: str = "exit") -> list[str]:
    """A command that starts ``children`` NAPPERs, then exits or (``then="sleep"``) sleeps."""
    script = (
        "import subprocess, sys, time\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
        "if sys.argv[3] == 'sleep':\n"
        "    time.sleep(600)\n"
    )
    return [PYTHON, "-c", script, NAPPER, str(children), then]


def status(plugins: PluginHarness, deployment: dict[str, Any]) -> StatusReport:
    return plugins.platform_status("process", APP_CONFIG, deployment=deployment)


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
    assert made(deployment)["log"] == str(log)
    assert (made(deployment)["command"], made(deployment)["cwd"]) == (
        [PYTHON, "-c", script],
        str(work),
    )
    assert ours(deployment)
    assert eventually(lambda: log.read_text().strip() == f"{work} hello True ''")


def test_a_string_command_is_split_as_a_shell_would(deploy: Deploy) -> None:
    command = f"{shlex.quote(PYTHON)} -c 'import time; time.sleep(600)'"
    deployment = deploy(command)
    assert made(deployment)["command"] == [PYTHON, "-c", "import time; time.sleep(600)"]


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
    assert resource.name == f"{os.path.basename(PYTHON)}[{made(deployment)['pid']}]"
    assert (resource.type, resource.platform) == ("process", "process")
    assert resource.category_display_hint is CategoryDisplayHint.INSTANCE
    assert resource.health_message == f"running, and {address} answers"
    # Boot time has whole seconds only: the start time is known to within one.
    assert resource.created_time is not None
    slack = timedelta(seconds=2)
    assert before - slack <= resource.created_time <= datetime.now(timezone.utc) + slack


def test_ready_http_answers_as_its_expect_block_says(
    plugins: PluginHarness, deploy: Deploy, tmp_path: Path
) -> None:
    # http.server serves its cwd, tmp_path: this file is its health page.
    (tmp_path / "health.json").write_text('{"status": "up", "checks": [{"state": "ok"}]}')
    port = free_port()
    url = f"http://127.0.0.1:{port}/health.json"
    expect = {"json": {"$.checks[0].state": "ok"}, "body_contains": "up"}
    deployment = deploy(http_server(port), ready_http=url, expect=expect)
    config = {**APP_CONFIG, "ready_http": url, "expect": expect}
    report = plugins.platform_status("process", config, deployment=deployment)
    assert (report.health, report.health_message) == (Health.READY, f"running, and {url} answers")
    config["expect"] = {"status": 201, "json": {"$.status": "down"}}
    report = plugins.platform_status("process", config, deployment=deployment)
    assert (report.health, report.health_message) == (
        Health.ALIVE,
        f'running, but {url} answers 200: status 200, expected 201; $.status is "up", '
        'expected "down"',
    )


def test_deploy_waits_for_ready_http_to_meet_its_expect_block(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    # Without its expect block, a 404 would never be ready: the wait would end in a warning.
    port = free_port()
    url = f"http://127.0.0.1:{port}/missing"
    deployment = deploy(http_server(port), ready_http=url, expect={"status": 404})
    assert (
        plugins.ui.lines()[1]
        == f"ok: {os.path.basename(PYTHON)}[{made(deployment)['pid']}] is ready"
    )


def test_deploy_waits_until_the_probe_passes(plugins: PluginHarness, deploy: Deploy) -> None:
    port = free_port()
    deployment = deploy(http_server(port), ready_tcp=f"127.0.0.1:{port}")
    name = f"{os.path.basename(PYTHON)}[{made(deployment)['pid']}]"
    assert plugins.ui.lines() == [
        f"ok: Started {name}, its output goes to {made(deployment)['log']}",
        f"ok: {name} is ready",
    ]


def test_a_second_deployment_on_a_taken_port_fails_with_why_and_its_output(
    plugins: PluginHarness, deploy: Deploy, tmp_path: Path
) -> None:
    port = free_port()
    probe = f"http://127.0.0.1:{port}/"
    first = deploy(http_server(port), ready_http=probe)
    plugins.ui.clear()
    # The first deployment answers the probe; the second's server cannot even listen. (Its
    # log apart: the harness gives both the same job id, which names the log.)
    with pytest.raises(ProcessExited) as raised:
        deploy(http_server(port), ready_http=probe, log_dir=str(tmp_path / "second"))
    started, waited = plugins.ui.lines()
    found = re.fullmatch(
        rf"ok: Started ({re.escape(NAME)}\[\d+\]), its output goes to (.+)", started
    )
    assert found is not None, started
    name, log = found.groups()
    assert waited == f"error: Not ready: {name} exited with status 1; its output is in {log}"
    message = str(raised.value)
    assert message.startswith(f"{name} exited with status 1 before it was ready; ")
    assert message.partition(f"the end of its output ({log}):\n")[2].endswith(
        "OSError: [Errno 98] Address already in use"
    )
    assert status(plugins, first).health is Health.READY


def test_a_deploy_whose_process_a_signal_killed_before_it_was_ready_says_which(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    command = [PYTHON, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    config = {"command": command, "log_dir": str(tmp_path)}
    with refusing_port() as port, pytest.raises(ProcessExited) as raised:
        plugins.platform_deploy("process", {**config, "ready_tcp": f"127.0.0.1:{port}"})
    assert re.fullmatch(
        rf"{re.escape(NAME)}\[\d+\] was killed by SIGKILL before it was ready; its log .+ is empty",
        str(raised.value),
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
    log = Path(made(deployment)["log"])
    assert eventually(lambda: log.read_text() == "sleeping\n")
    os.kill(made(deployment)["pid"], signal.SIGKILL)
    report = status_until(plugins, deployment, Health.DOWN)
    assert report.health is Health.DOWN, report
    (resource,) = report.resources
    assert resource.health_message in (
        f"process {made(deployment)['pid']} has exited",  # a zombie until destroy reaps it
        f"process {made(deployment)['pid']} is not running",
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


@pytest.mark.parametrize("start_time", ["another", "the same"])
def test_a_recorded_pid_now_held_by_another_process_is_down_and_never_signalled(
    plugins: PluginHarness,
    deploy: Deploy,
    decoy: Decoy,
    start_time: str,
) -> None:
    deployment = deploy(SLEEPER)
    destroy(plugins, deployment)
    other = decoy(SLEEPER)
    # As if the pid had been given to another process; with "the same" start time, as if
    # within one clock tick: only the marker tells them apart then.
    reused = with_process(deployment, pid=other.pid)
    if start_time == "the same":
        stat = Path(f"/proc/{other.pid}/stat").read_bytes()
        reused = with_process(reused, start_time=int(stat[stat.rindex(b")") + 2 :].split()[19]))
    why = {
        "another": f"pid {other.pid} now belongs to another process, not the one deployed",
        "the same": f"process {other.pid} runs without {MARKER} in its environment",
    }[start_time]
    report = status(plugins, reused)
    assert (report.health, report.health_message) == (Health.DOWN, why)
    assert destroy(plugins, reused) == [f"{why}; nothing to stop"]
    assert running(other.pid)


def test_destroy_stops_the_whole_process_group(plugins: PluginHarness, deploy: Deploy) -> None:
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        "time.sleep(600)"
    )
    deployment = deploy([PYTHON, "-c", script])
    group = made(deployment)["pid"]
    assert eventually(lambda: len(running_in_group(group)) == 2)
    (child,) = set(running_in_group(group)) - {group}
    assert destroy(plugins, deployment) == [f"Stopped {NAME}[{group}], {NAME}[{child}]"]
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
    assert eventually(lambda: Path(made(deployment)["log"]).read_text() == "ignoring\n")
    name = f"{os.path.basename(PYTHON)}[{made(deployment)['pid']}]"
    assert destroy(plugins, deployment) == [
        f"{name} did not stop within 0.5s of SIGTERM; killed it"
    ]
    assert running_in_group(made(deployment)["pid"]) == []


def test_destroying_a_process_that_is_gone_already_is_fine(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(SLEEPER)
    pid = made(deployment)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert eventually(lambda: not running_in_group(pid))
    # The first destroy reaps the zombie.
    assert destroy(plugins, deployment) == [f"process {pid} has exited; nothing to stop"]
    assert destroy(plugins, deployment) == [f"process {pid} is not running; nothing to stop"]


def test_every_process_of_a_deployment_carries_its_own_marker(deploy: Deploy) -> None:
    # Not even the config's env can forge it.
    deployment = deploy(starting(1, then="sleep"), env={MARKER: "forged"})
    marker = made(deployment)["marker"]
    assert marker.startswith("job1.")  # the deployment's id, and a random suffix
    assert eventually(lambda: len(marked(marker)) == 2)
    assert made(deployment)["pid"] in marked(marker)
    assert marked("forged") == []
    # Deployed again under the same id (by hand, as here), it is another deployment.
    assert made(deploy(SLEEPER))["marker"] != marker


def test_status_reports_each_process_of_the_deployment_in_a_tree(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(starting(2, then="sleep"))
    leader = str(made(deployment)["pid"])
    assert eventually(lambda: len(marked(made(deployment)["marker"])) == 3)
    report = status(plugins, deployment)
    assert (report.health, report.health_message) == (
        Health.READY,
        "All 3 resources are reporting READY",
    )
    first, *children = report.resources
    assert (first.id, first.parent_resource_id) == (leader, "")
    assert [child.parent_resource_id for child in children] == [leader, leader]
    for resource in report.resources:
        assert resource.name == f"{NAME}[{resource.id}]"
        assert (resource.type, resource.health_message) == ("process", "running")
    assert json.loads(children[0].state_json) == {
        "pid": int(children[0].id),
        "command": [PYTHON, "-c", NAPPER],
        "log": made(deployment)["log"],
    }


def test_a_leader_that_exited_leaving_its_children_is_not_down(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(starting(1))
    marker = made(deployment)["marker"]
    assert eventually(lambda: not running(made(deployment)["pid"]) and len(marked(marker)) == 1)
    (child,) = marked(marker)
    report = status(plugins, deployment)
    assert (report.health, report.health_message) == (Health.READY, "running")
    assert [resource.id for resource in report.resources] == [str(child)]
    assert destroy(plugins, deployment) == [f"Stopped {NAME}[{child}]"]
    assert not running(child)


def test_destroy_stops_a_double_forked_daemon_and_spares_a_decoy_with_its_command_line(
    plugins: PluginHarness,
    deploy: Deploy,
    decoy: Decoy,
    tmp_path: Path,
) -> None:
    tag = str(tmp_path)
    deployment = deploy(daemonizing(tag))
    marker = made(deployment)["marker"]
    assert eventually(lambda: not running(made(deployment)["pid"]) and len(marked(marker)) == 1)
    (daemon,) = marked(marker)
    twin = decoy([PYTHON, "-c", NAPPER, tag])
    # Just started, it may not show its command line yet.
    assert eventually(lambda: sorted(running_with_argument(tag)) == sorted([daemon, twin.pid]))
    report = status(plugins, deployment)
    assert report.health is Health.READY
    assert [resource.id for resource in report.resources] == [str(daemon)]
    assert destroy(plugins, deployment) == [f"Stopped {NAME}[{daemon}]"]
    assert running_with_argument(tag) == [twin.pid]


def test_destroy_kills_a_daemon_that_ignores_sigterm_once_the_grace_period_is_over(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(daemonizing("stubborn"), grace=0.5)
    marker, log = made(deployment)["marker"], Path(made(deployment)["log"])
    assert eventually(lambda: log.read_text() == "sleeping\n" and len(marked(marker)) == 1)
    (daemon,) = marked(marker)
    assert destroy(plugins, deployment) == [
        f"{NAME}[{daemon}] did not stop within 0.5s of SIGTERM; killed it"
    ]
    assert marked(marker) == []


@pytest.mark.parametrize("probe", ["ready_http", "ready_tcp"])
def test_a_deployment_whose_probe_another_process_answers_is_not_ready(
    plugins: PluginHarness, deploy: Deploy, probe: str
) -> None:
    with serving() as server:
        address = server.url("/ok") if probe == "ready_http" else f"127.0.0.1:{server.server_port}"
        deployment = deploy(SLEEPER, **{probe: address, "start_timeout": 0.3})
        why = f"{address} is answered by another process, not by this deployment"
        assert plugins.ui.lines()[1] == f"warning: Not ready after 0.3s: {why}"
        report = status(plugins, deployment)
    assert (report.health, report.health_message) == (Health.ALIVE, f"running, but {why}")


def test_log_tails_in_errors_and_reports_are_cut_to_4_kib(
    plugins: PluginHarness, deploy: Deploy, tmp_path: Path
) -> None:
    lines = [f"{n:04} " + "x" * 995 for n in range(30)]
    command = [PYTHON, "-c", "for n in range(30): print(f'{n:04} ' + 'x' * 995)"]
    # Of its last 4 KiB, 4 whole lines of 1,000 bytes and a newline each; the cut one is left out.
    tail = lines[-4:]
    with refusing_port() as port, pytest.raises(ProcessExited) as raised:
        plugins.platform_deploy(
            "process",
            {"command": command, "log_dir": str(tmp_path), "ready_tcp": f"127.0.0.1:{port}"},
        )
    assert str(raised.value).partition("):\n")[2].splitlines() == tail
    report = status_until(plugins, deploy(command), Health.DOWN)
    assert json.loads(report.resources[0].state_json)["log_tail"] == tail


def test_deploy_checkpoints_before_it_starts_the_process_and_again_once_it_runs(
    deploy: Deploy,
) -> None:
    kept: list[dict[str, Any]] = []
    deployment = deploy(SLEEPER, kept=kept)
    # The manager's: the log, the process before its create runs, the process just before
    # it starts the command, and all of it at the end.
    assert [[each["name"] for each in value["created"]] for value in kept] == [
        ["log"],
        *[["log", "process"]] * 3,
    ]
    _, blank, before, after = kept
    assert made(blank)["marker"] == ""
    assert made(before) == {**made(deployment), "pid": 0, "start_time": made(before)["start_time"]}
    assert made(before)["start_time"] <= made(deployment)["start_time"]
    assert after == deployment


def test_destroying_the_checkpoint_taken_before_the_start_stops_what_it_started(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    kept: list[dict[str, Any]] = []
    deployment = deploy(starting(1, then="sleep"), kept=kept)
    before = kept[-2]
    leader, marker = made(deployment)["pid"], made(deployment)["marker"]
    assert eventually(lambda: len(marked(marker)) == 2)
    (child,) = set(marked(marker)) - {leader}
    assert destroy(plugins, before) == [f"Stopped {NAME}[{leader}], {NAME}[{child}]"]
    assert marked(marker) == []
    assert destroy(plugins, before) == ["no process of it is running; nothing to stop"]


def test_a_checkpoint_taken_before_the_process_was_filled_in_is_down_and_destroyed_quietly(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    # The command died after the manager's checkpoint, before the create's own.
    kept: list[dict[str, Any]] = []
    deploy(SLEEPER, kept=kept)
    blank = kept[1]
    report = status(plugins, blank)
    assert [(r.name, r.health) for r in report.resources] == [("process", Health.DOWN)]
    assert report.health_message == "its command was never started"
    assert destroy(plugins, blank) == ["its command was never started; nothing to stop"]


def test_a_deployment_recorded_before_the_resource_manager_is_checked_and_all_of_it_stopped(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(starting(1, then="sleep"))
    leader, marker = made(deployment)["pid"], made(deployment)["marker"]
    assert eventually(lambda: len(marked(marker)) == 2)
    (child,) = set(marked(marker)) - {leader}
    recorded = made(deployment)  # the process's fields and its log's path, in one mapping
    report = status(plugins, recorded)
    assert (report.health, [r.id for r in report.resources]) == (
        Health.READY,
        [str(leader), str(child)],
    )
    assert destroy(plugins, recorded) == [f"Stopped {NAME}[{leader}], {NAME}[{child}]"]
    assert marked(marker) == []
    assert not Path(recorded["log"]).exists()


def test_a_deployment_recorded_before_markers_still_has_its_process_stopped(
    plugins: PluginHarness, deploy: Deploy
) -> None:
    deployment = deploy(SLEEPER)
    # Of the shape of its time, too: made before the resource manager.
    recorded = {name: value for name, value in made(deployment).items() if name != "marker"}
    assert status(plugins, recorded).health is Health.READY
    assert destroy(plugins, recorded) == [f"Stopped {NAME}[{recorded['pid']}]"]
    assert not running(recorded["pid"])


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
        ({"command": "x", "expect": {"status": 200}}, "expect", "set ready_http"),
        (
            {"command": "x", "ready_http": "http://h/", "expect": {"body_regex": "("}},
            "expect.body_regex",
            "not a regular expression",
        ),
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
