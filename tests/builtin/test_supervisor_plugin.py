"""The builtin ``supervisor`` plugin, against a real supervisord started for these tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers_checkpoints import make_checkpointing

from builtin_plugins.supervisor import SupervisordError
from waypoint_hooks import CategoryDisplayHint, ConfigError, Context, Health, StatusReport
from waypoint_hooks.plugins.callers import invoke
from waypoint_hooks.testing import PluginHarness

SLEEPER = "sleep 600"
#: Generous: the suite must pass on a loaded two-core machine; nothing here asserts a timing.
PATIENCE = 60.0

_T = TypeVar("_T")


class Supervisord:
    """A real supervisord, its unix socket, logs and include directory in ``directory``."""

    def __init__(self, directory: Path, inet: tuple[int, str, str] | None = None) -> None:
        self.directory = directory
        self.conf_dir = directory / "conf.d"
        self.conf_dir.mkdir()
        self.url = f"unix://{directory / 's.sock'}"
        sections = [
            f"[unix_http_server]\nfile = {directory / 's.sock'}\n",
            f"[supervisord]\nlogfile = {directory / 'supervisord.log'}\n"
            f"pidfile = {directory / 'supervisord.pid'}\nchildlogdir = {directory}\n",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
            f"[include]\nfiles = {self.conf_dir}/*.conf\n",
        ]
        if inet is not None:
            port, username, password = inet
            sections.append(
                f"[inet_http_server]\nport = 127.0.0.1:{port}\n"
                f"username = {username}\npassword = {password}\n"
            )
        conf = directory / "supervisord.conf"
        conf.write_text("\n".join(sections))
        self._output = open(directory / "output.log", "wb")  # noqa: SIM115 closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)],
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        try:
            until(self._running, "supervisord to answer on its socket")
        except BaseException:
            self.stop()
            raise

    def rpc(self, method: str, *params: Any) -> Any:
        """Call supervisord through supervisor's own client, to check the plugin's work."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, self.url)
        try:
            proxy = xmlrpc.client.ServerProxy("http://localhost", transport=transport)
            return getattr(proxy.supervisor, method)(*params)
        finally:
            transport.close()

    def processes(self, program: str) -> list[dict[str, Any]]:
        return [info for info in self.rpc("getAllProcessInfo") if info["group"] == program]

    def _running(self) -> bool:
        if self.process.poll() is not None:
            log = (self.directory / "output.log").read_text(errors="replace")
            pytest.fail(f"supervisord exited with {self.process.returncode}:\n{log}")
        try:
            return bool(self.rpc("getState")["statename"] == "RUNNING")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop supervisord, which stops its programs first; kill all of them if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                # supervisord puts each child in a process group of its own.
                for child in _children(self.process.pid):
                    os.killpg(child, signal.SIGKILL)
                self.process.kill()
                self.process.wait()
        self._output.close()


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The fields after the command's ")" are state, then the parent's pid.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def until(probe: Callable[[], _T], what: str, accept: Callable[[_T], bool] = bool) -> _T:
    """Call ``probe`` until ``accept`` takes its value; fail after ``PATIENCE`` seconds."""
    deadline = time.monotonic() + PATIENCE
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {PATIENCE:g}s for {what}; last: {value!r}")
        time.sleep(0.2)


def short_directory() -> Path:
    # A unix socket's path must fit in about 107 bytes; pytest's tmp_path can be longer.
    return Path(tempfile.mkdtemp(prefix="wh-sv-", dir="/tmp"))


@pytest.fixture
def start_supervisord() -> Iterator[Callable[..., Supervisord]]:
    """Start supervisords of a test's own; each is stopped, and its directory removed, after."""
    started: list[tuple[Supervisord, Path]] = []

    def start(inet: tuple[int, str, str] | None = None) -> Supervisord:
        directory = short_directory()
        try:
            started.append((Supervisord(directory, inet), directory))
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return started[-1][0]

    yield start
    for server, directory in started:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def supervisord() -> Iterator[Supervisord]:
    """One supervisord for the tests that do not stop it; each uses programs of its own."""
    directory = short_directory()
    try:
        server = Supervisord(directory)
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def config(
    server: Supervisord, program: str, command: str = SLEEPER, **more: Any
) -> dict[str, Any]:
    return {
        "server_url": server.url,
        "program": program,
        "command": command,
        "conf_dir": str(server.conf_dir),
        **more,
    }


def deploy(plugins: PluginHarness, settings: dict[str, Any]) -> dict[str, Any]:
    return plugins.platform_deploy("supervisor", settings)


def destroy(
    plugins: PluginHarness, settings: dict[str, Any], deployment: dict[str, Any]
) -> list[str]:
    """Destroy ``deployment``; the lines its destroy showed."""
    plugins.ui.clear()
    plugins.platform_destroy("supervisor", settings, deployment=deployment)
    return plugins.ui.lines()


def status(
    plugins: PluginHarness, settings: dict[str, Any], deployment: dict[str, Any]
) -> StatusReport:
    return plugins.platform_status("supervisor", settings, deployment=deployment)


def status_until(
    plugins: PluginHarness,
    settings: dict[str, Any],
    deployment: dict[str, Any],
    accept: Callable[[StatusReport], bool],
    what: str,
) -> StatusReport:
    return until(lambda: status(plugins, settings, deployment), what, accept)


def states(report: StatusReport) -> list[str]:
    return [json.loads(resource.state_json)["statename"] for resource in report.resources]


def test_a_deployed_program_is_ready_once_supervisord_runs_it(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "sleeper")
    deployment = deploy(plugins, settings)
    conf_file = supervisord.conf_dir / "sleeper.conf"
    assert deployment == {
        "program": "sleeper",
        "server_url": supervisord.url,
        "conf_file": str(conf_file),
    }
    assert f"[program:sleeper]\ncommand = {SLEEPER}\nnumprocs = 1\n" in conf_file.read_text()
    report = status_until(
        plugins, settings, deployment, lambda r: r.health is Health.READY, "READY"
    )
    assert report.external is True
    (process,) = report.resources
    (info,) = supervisord.processes("sleeper")
    assert (process.name, process.id, process.type) == ("sleeper:sleeper",) * 2 + ("process",)
    assert (process.platform, process.category_display_hint) == (
        "supervisor",
        CategoryDisplayHint.INSTANCE,
    )
    assert process.health_message.startswith(f"RUNNING: pid {info['pid']}, uptime ")
    assert process.created_time is not None
    assert process.created_time.timestamp() == info["start"]
    assert json.loads(process.state_json)["pid"] == info["pid"]
    plugins.ui.clear()
    status(plugins, settings, deployment)
    assert plugins.ui.lines() == ["ok: sleeper: 1 RUNNING"]


def test_numprocs_gives_one_resource_per_process(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "pair", numprocs=2)
    deployment = deploy(plugins, settings)
    report = status_until(
        plugins, settings, deployment, lambda r: r.health is Health.READY, "READY"
    )
    assert [resource.name for resource in report.resources] == ["pair:pair_00", "pair:pair_01"]
    assert report.health_message == "All 2 resources are reporting READY"


def test_a_process_within_its_startsecs_is_alive(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "slowstart", startsecs=3600)
    deployment = deploy(plugins, settings)
    report = status_until(
        plugins, settings, deployment, lambda r: bool(r.resources), "the process to appear"
    )
    assert (report.health, states(report)) == (Health.ALIVE, ["STARTING"])


def test_a_program_that_exits_at_once_goes_fatal_and_is_down(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "quitter", "false", startretries=0)
    deployment = deploy(plugins, settings)
    report = status_until(plugins, settings, deployment, lambda r: r.health is Health.DOWN, "DOWN")
    assert states(report) == ["FATAL"]
    assert report.resources[0].health_message == (
        "FATAL: Exited too quickly (process log may have details)"
    )


def test_a_program_retrying_its_start_is_alive_in_backoff(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "retrier", "false", startretries=1000)
    deployment = deploy(plugins, settings)
    report = status_until(
        plugins, settings, deployment, lambda r: states(r) == ["BACKOFF"], "BACKOFF"
    )
    assert report.health is Health.ALIVE
    assert report.resources[0].health_message.startswith("BACKOFF: Exited too quickly")


def test_a_missing_command_is_down_with_supervisords_reason(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "nocommand", "/nonexistent/waypoint-hooks-test", startretries=0)
    deployment = deploy(plugins, settings)
    report = status_until(plugins, settings, deployment, lambda r: r.health is Health.DOWN, "DOWN")
    assert report.resources[0].health_message == (
        "FATAL: can't find command '/nonexistent/waypoint-hooks-test'"
    )


def test_a_killed_process_without_autorestart_is_down(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "onceonly", autorestart="false")
    deployment = deploy(plugins, settings)
    status_until(plugins, settings, deployment, lambda r: r.health is Health.READY, "READY")
    (info,) = supervisord.processes("onceonly")
    os.kill(info["pid"], signal.SIGKILL)
    report = status_until(plugins, settings, deployment, lambda r: r.health is Health.DOWN, "DOWN")
    assert report.resources[0].health_message.startswith("EXITED on a signal: ")


def test_a_killed_process_with_the_default_autorestart_is_restarted_and_ready_again(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "phoenix")
    deployment = deploy(plugins, settings)
    first = status_until(plugins, settings, deployment, lambda r: r.health is Health.READY, "READY")
    killed = json.loads(first.resources[0].state_json)["pid"]
    os.kill(killed, signal.SIGKILL)
    status_until(
        plugins,
        settings,
        deployment,
        lambda r: (
            r.health is Health.READY and json.loads(r.resources[0].state_json)["pid"] != killed
        ),
        "READY with a new pid",
    )


def test_a_program_supervisord_does_not_know_is_missing(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "ghost")
    deployment = {"program": "ghost", "server_url": supervisord.url, "conf_file": "/nonexistent"}
    report = status(plugins, settings, deployment)
    message = f"supervisord at {supervisord.url} has no program 'ghost'"
    assert (report.health, report.health_message, report.external) == (
        Health.MISSING,
        message,
        True,
    )
    (group,) = report.resources
    assert (group.name, group.health, group.health_message) == ("ghost", Health.MISSING, message)


def test_a_stopped_supervisord_is_unknown_and_said_to_be_unreachable(
    plugins: PluginHarness, start_supervisord: Callable[..., Supervisord]
) -> None:
    server = start_supervisord()
    settings = config(server, "orphan")
    deployment = deploy(plugins, settings)
    server.stop()
    report = status(plugins, settings, deployment)
    assert (report.health, report.resources, report.external) == (Health.UNKNOWN, [], True)
    assert report.health_message.startswith(f"supervisord at {server.url} is unreachable: ")
    assert "No such file or directory" in report.health_message


def test_a_refused_connection_is_unknown_and_said_to_be_unreachable(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = config(supervisord, "nowhere", server_url=url)
    report = status(plugins, settings, {"program": "nowhere", "server_url": url, "conf_file": ""})
    assert report.health is Health.UNKNOWN
    assert report.health_message.startswith(f"supervisord at {url} is unreachable: ")
    assert "Connection refused" in report.health_message


def test_a_supervisord_that_does_not_answer_is_unknown_by_the_checks_deadline(
    plugins: PluginHarness,
) -> None:
    directory = short_directory()
    try:
        with socket.socket(socket.AF_UNIX) as silent:
            silent.bind(str(directory / "s.sock"))
            silent.listen()
            url = f"unix://{directory / 's.sock'}"
            # The harness gives the hook a deadline as long as its timeout, as the launcher
            # does, and the plugin's answer would race the runner's: this calls the hook itself.
            arguments = {
                "ctx": Context(0.5),
                "job_info": plugins.job_info,
                "ui": plugins.ui.ui,
                "config": {
                    "server_url": url,
                    "program": "mute",
                    "command": SLEEPER,
                    "conf_dir": "/",
                },
                "deployment": {"program": "mute", "server_url": url, "conf_file": ""},
                "last_report": None,
            }
            # No timeout from the runner: the plugin itself must give up at the deadline.
            call = plugins.manager.call("platform_status_func", "supervisor")
            report = asyncio.run(invoke(call, arguments, PATIENCE))
    finally:
        shutil.rmtree(directory)
    assert report.health is Health.UNKNOWN
    assert report.health_message == f"supervisord at {url} is unreachable: timed out"


def test_over_http_with_credentials_and_refused_without_the_right_ones(
    plugins: PluginHarness, start_supervisord: Callable[..., Supervisord]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_supervisord(inet=(port, "admin", "s3cret"))
    url = f"http://127.0.0.1:{port}"
    settings = config(server, "overhttp", server_url=url, username="admin", password="s3cret")
    deployment = deploy(plugins, settings)
    assert deployment["server_url"] == url
    status_until(plugins, settings, deployment, lambda r: r.health is Health.READY, "READY")
    report = status(plugins, {**settings, "password": "wrong"}, deployment)
    assert report.health is Health.UNKNOWN
    assert report.health_message == (
        f"supervisord at {url} refused getAllProcessInfo: HTTP 401 Unauthorized"
    )


def test_destroy_leaves_nothing_behind_and_a_second_destroy_is_fine(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "doomed", numprocs=2)
    deployment = deploy(plugins, settings)
    status_until(plugins, settings, deployment, lambda r: r.health is Health.READY, "READY")
    pids = [info["pid"] for info in supervisord.processes("doomed")]
    assert destroy(plugins, settings, deployment) == [
        "Stopped doomed and removed it from supervisord",
        f"Removed {deployment['conf_file']}",
    ]
    assert supervisord.processes("doomed") == []
    assert not Path(deployment["conf_file"]).exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert status(plugins, settings, deployment).health is Health.MISSING
    assert destroy(plugins, settings, deployment) == ["supervisord had no program doomed any more"]


def test_deploying_again_replaces_the_running_group(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    settings = config(supervisord, "grower")
    deployment = deploy(plugins, settings)
    status_until(plugins, settings, deployment, lambda r: r.health is Health.READY, "READY")
    (old,) = supervisord.processes("grower")
    deployment = deploy(plugins, {**settings, "numprocs": 3})
    report = status_until(
        plugins, settings, deployment, lambda r: r.health is Health.READY, "READY"
    )
    assert [resource.name for resource in report.resources] == [
        "grower:grower_00",
        "grower:grower_01",
        "grower:grower_02",
    ]
    with pytest.raises(ProcessLookupError):
        os.kill(old["pid"], 0)


def test_a_conf_dir_supervisord_does_not_include_fails_the_deploy_and_leaves_no_file(
    plugins: PluginHarness, supervisord: Supervisord, tmp_path: Path
) -> None:
    settings = config(supervisord, "stray", conf_dir=str(tmp_path))
    with pytest.raises(SupervisordError, match=r"did not read .*stray\.conf.*\[include\]"):
        deploy(plugins, settings)
    assert list(tmp_path.iterdir()) == []


def test_deploy_checkpoints_the_program_before_it_writes_its_section(
    plugins: PluginHarness, supervisord: Supervisord
) -> None:
    kept: list[dict[str, Any]] = []
    settings = config(supervisord, "noted")
    deployment = make_checkpointing(plugins, "platform_deploy_func", "supervisor", settings, kept)
    assert kept == [deployment]
    destroy(plugins, settings, deployment)


def test_the_checkpoint_of_a_deploy_that_failed_is_destroyed_cleanly(
    plugins: PluginHarness, supervisord: Supervisord, tmp_path: Path
) -> None:
    kept: list[dict[str, Any]] = []
    settings = config(supervisord, "strayed", conf_dir=str(tmp_path))
    with pytest.raises(SupervisordError):
        make_checkpointing(plugins, "platform_deploy_func", "supervisor", settings, kept)
    (checkpoint,) = kept
    assert checkpoint == {
        "program": "strayed",
        "server_url": supervisord.url,
        "conf_file": str(tmp_path / "strayed.conf"),
    }
    assert destroy(plugins, settings, checkpoint) == ["supervisord had no program strayed any more"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"numprocs": 0}, "numprocs", "must be at least 1, got 0"),
        ({"program": None}, "program", "required field missing"),
        ({"program": "a:b"}, "program", "expected letters, digits, '_', '.' or '-'"),
        ({"server_url": "ftp://host"}, "server_url", "expected unix:///"),
        ({"command": "serve ; rm -rf /"}, "command", "supervisor reads ';' or '#' after a space"),
        ({"autorestart": "always"}, "autorestart", "expected one of 'true', 'false'"),
    ],
    ids=[
        "numprocs-0",
        "no-program",
        "program-colon",
        "server-url",
        "command-comment",
        "autorestart",
    ],
)
def test_a_bad_config_is_a_config_error_naming_the_field(
    plugins: PluginHarness, change: dict[str, Any], field: str, problem: str
) -> None:
    good = {
        "server_url": "unix:///tmp/s.sock",
        "program": "web",
        "command": SLEEPER,
        "conf_dir": "/",
    }
    # A change to None leaves the field out.
    settings = {key: value for key, value in {**good, **change}.items() if value is not None}
    with pytest.raises(ConfigError, match=rf"'web'.*'supervisor': {field}: ") as raised:
        plugins.platform_deploy("supervisor", settings)
    ((path, message),) = raised.value.problems
    assert path == field
    assert problem in message
