"""The builtin ``docker`` platform against a real Docker daemon that the session starts
(``helpers_docker``), whose images are a busybox root filesystem imported without a registry.

Every mapping of DESIGN §17 is reached for real. Nothing here waits on a clock: the deploy
waits for its container to be started (its ``start_timeout`` a guard), and a test that must
see a container in a state waits on that condition, with a deadline.
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import cannot_run, require_system_package
from helpers_docker import BUSYBOX, DOCKER, DOCKERD, Daemon, running_daemon
from helpers_http import free_port
from hostile.harness import Processes, kill_group, script_env

from builtin_plugins.docker import LABELS
from waypoint_hooks import ConfigError, Health, JobInfo, Resource, StatusReport
from waypoint_hooks.testing import PluginHarness

#: The image most tests run, built once for the session.
IMAGE = "waypoint-hooks-test/busybox:1"
#: A container's first process gets no signal it does not handle: this one exits on SIGTERM.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
#: Guards against hanging the suite, never timing assertions.
GUARD = 120.0
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docker-demo"


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    require_system_package(
        "docker.io",
        DOCKERD is not None and DOCKER is not None,
        "the docker platform's tests run a Docker daemon",
    )
    require_system_package(
        "busybox-static", BUSYBOX.is_file(), "the docker platform's test images are busybox"
    )
    with running_daemon(tmp_path_factory.mktemp("dockerd")) as daemon:
        if isinstance(daemon, str):
            cannot_run(f"no Docker daemon could be started: {daemon}")
            return
        daemon.build_image(IMAGE)
        yield daemon


@pytest.fixture
def daemon(dockerd: Daemon, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """The session's daemon, as DOCKER_HOST names it."""
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    return dockerd


@pytest.fixture
def job() -> JobInfo:
    """A deployment of its own: the labels of its container are no other test's."""
    return JobInfo("docker-tests", "web", id=uuid.uuid4().hex)


@pytest.fixture
def plugins(waypoint_plugins: Callable[..., PluginHarness], job: JobInfo) -> PluginHarness:
    return waypoint_plugins(builtins=True, job_info=job)


@pytest.fixture
def mine(daemon: Daemon, job: JobInfo) -> Iterator[Callable[[], list[Any]]]:
    """The containers labelled as this test's deployment; any left are removed afterwards."""

    def containers() -> list[Any]:
        return daemon.containers(**dict(zip(LABELS, (job.project, job.app, job.id), strict=True)))

    yield containers
    for container in containers():
        container.remove(force=True)


def config(**settings: Any) -> dict[str, Any]:
    # Deploy waits for the container to be started for as long as the guard allows.
    return {
        "image": IMAGE,
        "command": SLEEPER,
        "network_mode": "none",
        "start_timeout": GUARD,
        **settings,
    }


def checking(test: list[str], **settings: Any) -> dict[str, Any]:
    """A config whose container has a healthcheck running ``test`` often."""
    return config(healthcheck={"test": test, "interval": "100ms", "retries": 1}, **settings)


def container_of(report: StatusReport) -> Resource:
    (container,) = (each for each in report.resources if each.type == "container")
    return container


def image_of(report: StatusReport) -> Resource:
    (image,) = (each for each in report.resources if each.type == "image")
    return image


def state_of(resource: Resource) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(resource.state_json)
    return state


def deployed(plugins: PluginHarness, settings: dict[str, Any]) -> StatusReport:
    """The report of a deployment of ``settings``, once its deploy has returned."""
    deployment = plugins.platform_deploy("docker", settings)
    return plugins.platform_status("docker", settings, deployment=deployment)


def exited(
    plugins: PluginHarness, mine: Callable[[], list[Any]], settings: dict[str, Any]
) -> StatusReport:
    """The report of a deployment of ``settings`` once its container has exited (until then,
    it runs: READY, without a healthcheck)."""
    deployment = plugins.platform_deploy("docker", settings)
    (made,) = mine()
    made.wait(timeout=GUARD)
    return plugins.platform_status("docker", settings, deployment=deployment)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {GUARD:g}s"
        time.sleep(0.05)


# --- with a healthcheck: Docker judges, and the report is external ---------------------------


def test_a_container_whose_healthcheck_passes_is_ready(
    plugins: PluginHarness, mine: Callable[[], list[Any]], job: JobInfo
) -> None:
    report = deployed(plugins, checking(["CMD", "true"]))
    container = container_of(report)
    assert (container.health, container.health_message) == (
        Health.READY,
        "running, and its healthcheck passes",
    )
    assert report.health is Health.READY
    assert report.external
    (made,) = mine()
    assert (container.id, container.name) == (made.id, made.name)
    assert made.labels == {
        "waypoint-hooks.project": job.project,
        "waypoint-hooks.app": job.app,
        "waypoint-hooks.deployment": job.id,
    }


def test_a_container_whose_healthcheck_fails_is_down_with_what_it_printed(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    report = deployed(plugins, checking(["CMD-SHELL", "echo not yet; exit 1"]))
    container = container_of(report)
    assert container.health is Health.DOWN
    assert container.health_message.startswith(
        "running, but its healthcheck fails: exit 1, not yet ("
    )
    assert report.external


def test_a_container_whose_healthcheck_has_not_passed_yet_is_alive(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    # Failures do not count for an hour, and deploy does not wait.
    settings = config(
        healthcheck={"test": ["CMD", "false"], "interval": "100ms", "start_period": "1h"},
        start_timeout="0s",
    )
    report = deployed(plugins, settings)
    container = container_of(report)
    assert (container.health, container.health_message) == (
        Health.ALIVE,
        "running; its healthcheck has not passed yet",
    )
    assert report.external


# --- without one: the container's state ---------------------------------------------------


def test_a_running_container_without_a_healthcheck_is_ready(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    report = deployed(plugins, config())
    container = container_of(report)
    assert (container.health, container.health_message) == (Health.READY, "running")
    assert state_of(container)["status"] == "running"
    assert not report.external
    assert image_of(report).health is Health.READY
    assert (report.health, report.health_message) == (Health.READY, "running")


def test_an_exited_container_is_down_with_its_exit_code_and_last_output(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    # Both on stderr: Docker keeps no order between two streams.
    script = "echo first >&2; echo last >&2; exit 3"
    report = exited(plugins, mine, config(command=["sh", "-c", script]))
    container = container_of(report)
    assert (container.health, container.health_message) == (
        Health.DOWN,
        "exited with code 3; its last output: last",
    )
    assert state_of(container)["log_tail"] == ["first", "last"]
    assert not report.external
    # The report's health is the container's: the image, still there, does not dilute it.
    assert (report.health, report.health_message) == (Health.DOWN, container.health_message)


def test_a_down_report_carries_at_most_4_KiB_of_output(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    # 20 lines of 301 bytes: more than 4 KiB, cut at a line's start.
    script = 'for i in $(seq 1 40); do printf "%0300d\\n" $i; done; exit 1'
    report = exited(plugins, mine, config(command=["sh", "-c", script]))
    tail = state_of(container_of(report))["log_tail"]
    assert len("\n".join(tail).encode()) <= 4096
    assert tail == [f"{i:0300d}" for i in range(41 - len(tail), 41)]


def test_a_paused_container_is_alive(plugins: PluginHarness, mine: Callable[[], list[Any]]) -> None:
    settings = config()
    deployment = plugins.platform_deploy("docker", settings)
    (made,) = mine()
    made.pause()
    report = plugins.platform_status("docker", settings, deployment=deployment)
    assert (container_of(report).health, container_of(report).health_message) == (
        Health.ALIVE,
        "paused",
    )


def test_a_created_container_is_alive(
    plugins: PluginHarness, daemon: Daemon, mine: Callable[[], list[Any]]
) -> None:
    # A deployment whose container was created but never started, as a deploy that died
    # between the two leaves it.
    deployment = plugins.platform_deploy("docker", config(start_timeout="0s"))
    (made,) = mine()
    made.remove(force=True)
    never_started = daemon.client.containers.create(IMAGE, SLEEPER, network_mode="none")
    try:
        created = deployment["created"][1]["state"]
        created["id"], created["name"] = never_started.id, never_started.name
        report = plugins.platform_status("docker", config(), deployment=deployment)
    finally:
        never_started.remove()
    assert (container_of(report).health, container_of(report).health_message) == (
        Health.ALIVE,
        "created",
    )


# --- gone behind its back ------------------------------------------------------------------


def test_a_container_removed_behind_its_back_is_missing(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    settings = config()
    deployment = plugins.platform_deploy("docker", settings)
    (made,) = mine()
    made.remove(force=True)
    report = plugins.platform_status("docker", settings, deployment=deployment)
    container = container_of(report)
    assert container.health is Health.MISSING
    assert container.health_message == f"container {made.name} ({made.id[:12]}) is gone"
    assert image_of(report).health is Health.READY
    assert (report.health, report.health_message) == (Health.MISSING, container.health_message)


def test_an_image_removed_behind_its_back_is_missing(
    plugins: PluginHarness, daemon: Daemon, mine: Callable[[], list[Any]]
) -> None:
    image = f"waypoint-hooks-test/removed:{uuid.uuid4().hex[:8]}"
    daemon.unique_image(IMAGE, image)
    # Docker removes no image that a running container uses: this one has exited.
    settings = config(image=image, command=["true"])
    deployment = plugins.platform_deploy("docker", settings)
    (made,) = mine()
    made.wait(timeout=GUARD)
    image_id = daemon.client.images.get(image).id
    daemon.client.images.remove(image_id, force=True)
    report = plugins.platform_status("docker", settings, deployment=deployment)
    gone = image_of(report)
    assert (gone.name, gone.id) == (image, image_id)
    assert gone.health is Health.MISSING
    assert gone.health_message == f"image {image} ({image_id[7:19]}) is gone"
    assert container_of(report).health is Health.DOWN
    assert report.health is Health.DOWN


# --- destroy -------------------------------------------------------------------------------


def test_destroy_stops_and_removes_the_container(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    settings = config(grace="1s")
    deployment = plugins.platform_deploy("docker", settings)
    assert len(mine()) == 1
    plugins.platform_destroy("docker", settings, deployment=deployment)
    assert mine() == []
    plugins.ui.assert_step(f"Removed container {deployment['created'][1]['state']['name']}")


def test_destroy_of_a_container_already_gone_does_nothing(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    settings = config()
    deployment = plugins.platform_deploy("docker", settings)
    plugins.platform_destroy("docker", settings, deployment=deployment)
    plugins.platform_destroy("docker", settings, deployment=deployment)
    assert mine() == []


def test_destroy_finds_by_its_labels_a_container_whose_deploy_died_before_recording_it(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    settings = config()
    deployment = plugins.platform_deploy("docker", settings)
    # What the checkpoint holds while the container's create runs.
    deployment["created"][1]["state"] = {}
    plugins.platform_destroy("docker", settings, deployment=deployment)
    assert mine() == []


def test_a_container_its_deploy_died_before_recording_is_missing(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    settings = config()
    deployment = plugins.platform_deploy("docker", settings)
    deployment["created"][1]["state"] = {}
    report = plugins.platform_status("docker", settings, deployment=deployment)
    assert (container_of(report).health, container_of(report).health_message) == (
        Health.MISSING,
        "never recorded: the deploy that made it was interrupted",
    )


# --- errors --------------------------------------------------------------------------------


def test_without_the_docker_sdk_a_deploy_says_which_extra_to_install(
    plugins: PluginHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(
        ModuleNotFoundError,
        match=r"pip install 'waypoint-hooks\[docker\]' \(in a checkout of waypoint-hooks, "
        r"which no package index has yet: pip install '\.\[docker\]'\)",
    ):
        plugins.platform_deploy("docker", config())


def test_an_image_the_daemon_lacks_is_a_deploy_error_naming_it(
    plugins: PluginHarness, mine: Callable[[], list[Any]]
) -> None:
    with pytest.raises(LookupError, match="the Docker daemon has no image 'no/such:image'"):
        plugins.platform_deploy("docker", config(image="no/such:image"))
    assert mine() == []


# The Docker SDK does not close a socket that fails to connect (docker/docker-py#3356): the
# garbage collector does, with a ResourceWarning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_unreachable_daemon_is_an_error_naming_docker_host(
    plugins: PluginHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = f"unix://{tmp_path}/no.sock"
    monkeypatch.setenv("DOCKER_HOST", host)
    message = (
        f"cannot reach the Docker daemon at {host} (DOCKER_HOST): No such file or directory; "
        "start it, or set DOCKER_HOST to the address it listens on"
    )
    with pytest.raises(ConnectionError) as raised:
        plugins.platform_deploy("docker", config())
    assert str(raised.value) == message
    deployment = {"created": [{"name": "image", "state": {"name": IMAGE, "id": "sha256:0"}}]}
    report = plugins.platform_status("docker", config(), deployment=deployment)
    assert (report.health, report.health_message) == (Health.UNKNOWN, message)
    # While this test's warning filter holds.
    del raised
    gc.collect()


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"image": " "}, "image: names no image; write its name as docker images shows it"),
        ({"healthcheck": {"test": ["true"]}}, 'healthcheck.test: must start with "CMD"'),
        ({"healthcheck": {"test": ["CMD"]}}, 'healthcheck.test: names nothing to run after "CMD"'),
        (
            {"healthcheck": {"test": ["CMD", "true"], "interval": "0s"}},
            "healthcheck.interval: must be at least 1ms, got '0s'",
        ),
        ({"ports": {"http": 80}}, "ports[http]: is not a container port"),
        ({"ports": {"80/tcp": 70000}}, "ports[80/tcp]: host port 70000 is not a port number"),
        (
            {"ports": {"80": 8080}, "network_mode": "host"},
            'ports: a container whose network_mode is "host" publishes no port',
        ),
    ],
)
def test_a_config_that_cannot_work_is_refused_before_anything_runs(
    plugins: PluginHarness, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        plugins.platform_deploy("docker", {"image": IMAGE, **settings})
    assert problem in str(raised.value)


# --- through the installed console script --------------------------------------------------


KILLED_PROJECT = """\
project = "{project}"

app "web" {{
  deploy {{
    use "docker" {{
      image         = "{image}"
      command       = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      network_mode  = "none"
      start_timeout = "1h"

      healthcheck {{
        test         = ["CMD", "false"]
        interval     = "100ms"
        start_period = "1h"
      }}
    }}
  }}
}}
"""


@pytest.mark.parametrize("moment", ["created", "starting"])
def test_a_deploy_killed_midway_leaves_no_container_after_the_next_destroy(
    daemon: Daemon, processes: Processes, tmp_path: Path, moment: str
) -> None:
    # Its healthcheck never passes, so deploy waits for it until killed: once the container
    # exists (its create may not have returned), or once it runs.
    project = f"killed-{uuid.uuid4().hex[:8]}"
    (tmp_path / "waypoint.hcl").write_text(KILLED_PROJECT.format(project=project, image=IMAGE))
    deploy = processes.start(["deploy"], cwd=tmp_path, env=script_env())

    def reached() -> bool:
        found = daemon.containers(**{LABELS[0]: project})
        return bool(found) and (moment == "created" or found[0].status == "running")

    wait_for(reached, f"the deploy's container to be {moment}")
    kill_group(deploy)
    deploy.wait()
    destroyed = processes.run(["destroy"], cwd=tmp_path, env=script_env())
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert daemon.containers(**{LABELS[0]: project}) == []


def test_the_demo_runs_and_is_destroyed(
    daemon: Daemon, processes: Processes, tmp_path: Path
) -> None:
    demo = tmp_path / "docker-demo"
    shutil.copytree(EXAMPLE, demo)
    config_file = demo / "waypoint.hcl"
    # Its port, free on this machine now.
    config_file.write_text(config_file.read_text().replace("8766", str(free_port())))
    daemon.build_image("waypoint-hooks-demo/busybox:1")
    up = processes.run(["up"], cwd=demo, env=script_env())
    assert up.returncode == 0, up.stdout + up.stderr
    assert "✔ READY" in up.stdout
    assert len(daemon.containers(**{LABELS[0]: "docker-demo"})) == 1
    down = processes.run(["destroy"], cwd=demo, env=script_env())
    assert down.returncode == 0, down.stdout + down.stderr
    assert daemon.containers(**{LABELS[0]: "docker-demo"}) == []
