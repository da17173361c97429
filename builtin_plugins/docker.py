"""``docker``: a container that a Docker daemon runs, as a platform (DESIGN §17).

Deploy finds the image among the daemon's own (it never pulls), creates and starts a container
labelled with the project, app and deployment, and waits up to ``start_timeout`` for it to be
started. Status reports the image and the container as resources, as the daemon sees them: the
container's HEALTHCHECK where it has one (the report is then external: the platform ran the
check), else its state; the report's health is the container's. Destroy stops and removes the
container; the image is the user's, and stays. The daemon is the one ``DOCKER_HOST`` names, as
for the docker CLI. Both resources are run by the resource manager, which checkpoints each as
soon as its create returns (DESIGN §12, §18); a container whose id a dying deploy never
checkpointed is found by its labels.
One module, over 400 lines, because a plugin is one entry point: its config, its resources and
its hooks ship together.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Duration,
    Health,
    JobInfo,
    Resource,
    StatusReport,
    StructureError,
    hookimpl,
)
from waypoint_hooks.resources import ResourceManager, resource
from waypoint_hooks.terminal import STATUS_ERROR, STATUS_OK, STATUS_WARN, UI

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

__all__ = ["LABELS", "ContainerState", "Healthcheck", "ImageState", "PlatformConfig"]

_T = TypeVar("_T")

#: The labels of every container this platform creates: its project, app and deployment id.
#: Destroy finds a container by them when the deploy that created it died before its id was
#: checkpointed.
LABELS: Final = ("waypoint-hooks.project", "waypoint-hooks.app", "waypoint-hooks.deployment")
#: How often deploy looks whether the container has started.
_POLL_INTERVAL: Final = 0.1
#: How much of the end of a container's output a DOWN report carries: its last 20 lines, and
#: no more than 4 KiB of them (DESIGN §13).
_TAIL_LINES: Final = 20
_TAIL_BYTES: Final = 4096
#: Seconds one call to the daemon may take when the hook has no deadline (the launcher gives
#: deploy and destroy none): the Docker SDK's own default.
_NO_DEADLINE_TIMEOUT: Final = 60
#: Where the Docker SDK, as the docker CLI, looks for the daemon when DOCKER_HOST is not set.
_DEFAULT_HOST: Final = "unix:///var/run/docker.sock"
_NANOSECONDS: Final = 1_000_000_000

# --- config --------------------------------------------------------------------------------

#: The first word of a HEALTHCHECK test, as Docker takes it.
_TEST_KINDS: Final = ("CMD", "CMD-SHELL", "NONE")
# A container port: "80", or "80/tcp" (udp, sctp).
_PORT: Final = re.compile(r"([1-9][0-9]{0,4})(?:/(?:tcp|udp|sctp))?")
#: Network modes in which a container publishes no port of its own.
_NO_PORTS: Final = re.compile(r"host|none|container:.*")


def _check_test(_: object, field: attrs.Attribute[list[str]], value: list[str]) -> None:
    if not value or value[0] not in _TEST_KINDS:
        raise ValueError(
            'must start with "CMD" (the rest is a program and its arguments), "CMD-SHELL" (the '
            'rest is one command line for the container\'s shell) or "NONE" (no healthcheck), '
            'as Docker\'s HEALTHCHECK: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]'
        )
    if value[0] != "NONE" and len(value) < 2:
        raise ValueError(f'names nothing to run after "{value[0]}"')


def _check_ports(_: object, field: attrs.Attribute[dict[str, int]], value: dict[str, int]) -> None:
    for port, host in value.items():
        path = f"{field.name}[{port}]"  # as cattrs names a mapping's keys
        match = _PORT.fullmatch(port)
        if match is None or int(match[1]) > 65535:
            raise StructureError.at(
                path, 'is not a container port: write "PORT" or "PORT/PROTOCOL" (tcp, udp, sctp)'
            )
        if not 0 < host < 65536:
            raise StructureError.at(path, f"host port {host} is not a port number (1-65535)")


def _check_image(_: object, field: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError("names no image; write its name as docker images shows it")


_AT_LEAST_1MS: Final = attrs.validators.ge(Duration("1ms"))


@attrs.define
class Healthcheck:
    """Docker's HEALTHCHECK, set for the container (Docker's defaults)."""

    #: ``["CMD", PROGRAM, ARGS...]``, ``["CMD-SHELL", "COMMAND LINE"]``, or ``["NONE"]`` to
    #: turn off the image's own.
    test: list[str] = attrs.field(validator=_check_test)
    interval: Duration = attrs.field(default=Duration("30s"), validator=_AT_LEAST_1MS)
    timeout: Duration = attrs.field(default=Duration("30s"), validator=_AT_LEAST_1MS)
    #: Failures in a row that make the container unhealthy.
    retries: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    #: How long failures do not count after the start ("0s": the image's start period).
    start_period: Duration = Duration("0s")

    def for_docker(self) -> dict[str, Any]:
        """As the Docker SDK takes it: durations in nanoseconds."""
        return {
            "test": self.test,
            "interval": _nanoseconds(self.interval),
            "timeout": _nanoseconds(self.timeout),
            "retries": self.retries,
            "start_period": _nanoseconds(self.start_period),
        }


def _nanoseconds(duration: Duration) -> int:
    return round(duration * _NANOSECONDS)


@attrs.define
class PlatformConfig:
    #: An image the daemon has (``docker images``): it is never pulled.
    image: str = attrs.field(validator=_check_image)
    #: The program and its arguments; the image's CMD without one.
    command: list[str] | None = None
    #: The container's environment, beside the image's.
    env: dict[str, str] = attrs.field(factory=dict)
    #: Container ports ("80/tcp") published on host ports.
    ports: dict[str, int] = attrs.field(factory=dict, validator=_check_ports)
    #: Docker's network mode ("bridge", "host", "none", "container:NAME", a network's name);
    #: Docker's default without one.
    network_mode: str | None = None
    healthcheck: Healthcheck | None = None
    #: How long deploy waits for the container to be started: running, and healthy if it has a
    #: healthcheck ("0s": it does not wait).
    start_timeout: Duration = Duration("30s")
    #: How long it has between SIGTERM and SIGKILL when it is destroyed.
    grace: Duration = Duration("10s")

    def __attrs_post_init__(self) -> None:
        if self.ports and self.network_mode is not None and _NO_PORTS.fullmatch(self.network_mode):
            raise StructureError.at(
                "ports",
                f'a container whose network_mode is "{self.network_mode}" publishes no port; '
                "remove ports, or change the network mode",
            )


# --- the resources' states -----------------------------------------------------------------


@attrs.define
class ImageState:
    """The image as the config names it, and the id it named when the deployment was made."""

    name: str = ""
    id: str = ""


@attrs.define
class ContainerState:
    """The container the deployment created; empty until it is created."""

    id: str = ""
    name: str = ""


# --- the daemon ----------------------------------------------------------------------------


def _client(ctx: Context) -> DockerClient:
    """A client of the daemon that DOCKER_HOST names, whose every call ends by ``ctx``'s
    deadline; a ConnectionError naming the daemon when it does not answer."""
    try:
        import docker
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the docker platform needs the Docker SDK for Python: "
            "pip install 'waypoint-hooks[docker]' (in a checkout of waypoint-hooks, which no "
            "package index has yet: pip install '.[docker]')"
        ) from None
    remaining = ctx.remaining()
    timeout = _NO_DEADLINE_TIMEOUT if remaining is None else max(1, math.ceil(remaining))
    try:
        # It asks the daemon for its API version at once: an unreachable one fails here.
        return docker.from_env(timeout=timeout)
    except docker.errors.DockerException as exc:
        host = os.environ.get("DOCKER_HOST")
        where = f"{host} (DOCKER_HOST)" if host else f"{_DEFAULT_HOST} (DOCKER_HOST is not set)"
        raise ConnectionError(
            f"cannot reach the Docker daemon at {where}: {_reason(exc)}; start it, or set "
            "DOCKER_HOST to the address it listens on"
        ) from None


def _reason(error: BaseException) -> str:
    """What the operating system said, deep in the SDK's chain of errors, if it said anything."""
    pending, seen = [error], set()
    while pending:
        each = pending.pop(0)
        if id(each) in seen:
            continue
        seen.add(id(each))
        if isinstance(each, OSError) and each.strerror:
            return each.strerror
        pending += [
            e
            for e in (each.__cause__, each.__context__, *each.args)
            if isinstance(e, BaseException)
        ]
    return str(error)


def _look_up(
    resource: Resource, get: Callable[[str], _T], what: str, name: str, id: str
) -> _T | None:
    """What ``get`` finds by ``id``, and ``resource`` named after it; ``None`` when it was
    never recorded (its deploy died first) or is gone, and then ``resource`` is MISSING."""
    from docker.errors import NotFound

    if not id:
        resource.health = Health.MISSING
        resource.health_message = "never recorded: the deploy that made it was interrupted"
        return None
    resource.name, resource.id = name, id
    try:
        return get(id)
    except NotFound:
        resource.health = Health.MISSING
        resource.health_message = f"{what} {name} ({_short(id)}) is gone"
        return None


def _short(id: str) -> str:
    """An image or container id as docker's CLI shows it."""
    return id.removeprefix("sha256:")[:12]


def _time(text: str) -> datetime | None:
    """A time as Docker writes it (RFC 3339 in UTC, to the nanosecond), to the microsecond;
    ``None`` for anything else."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    if match is None:
        return None
    fraction = (match[2] or "").ljust(6, "0")[:6]
    return datetime.fromisoformat(match[1]).replace(microsecond=int(fraction), tzinfo=timezone.utc)


# --- the image -----------------------------------------------------------------------------


def _find_image(client: DockerClient, config: PlatformConfig, ui: UI, state: ImageState) -> None:
    from docker.errors import ImageNotFound

    with ui.step_group() as steps:
        step = steps.add("Looking up image %s...", config.image)
        try:
            image = client.images.get(config.image)
        except ImageNotFound:
            raise LookupError(
                f"the Docker daemon has no image {config.image!r}: build, load or import it "
                "there first (docker images lists those it has); this platform never pulls"
            ) from None
        state.name, state.id = config.image, image.attrs["Id"]
        step.update("Image %s is %s", config.image, _short(state.id))
        step.done()


def _image_status(client: DockerClient, state: ImageState, resource: Resource) -> None:
    image = _look_up(resource, client.images.get, "image", state.name, state.id)
    if image is None:
        return
    resource.health, resource.health_message = Health.READY, "present"
    resource.created_time = _time(image.attrs.get("Created", ""))


# --- the container -------------------------------------------------------------------------


def _labels(job_info: JobInfo) -> dict[str, str]:
    return dict(zip(LABELS, (job_info.project, job_info.app, job_info.id), strict=True))


def _start_container(
    client: DockerClient,
    config: PlatformConfig,
    job_info: JobInfo,
    ui: UI,
    image: ImageState,
    state: ContainerState,
) -> None:
    with ui.step_group() as steps:
        step = steps.add("Creating a container of %s...", image.name)
        container = client.containers.create(
            image.id,
            config.command,
            environment=config.env,
            ports=config.ports,
            network_mode=config.network_mode,
            healthcheck=config.healthcheck.for_docker() if config.healthcheck else None,
            labels=_labels(job_info),
        )
        # Before it starts: if starting fails, the manager destroys it by this id.
        state.id, state.name = container.attrs["Id"], container.attrs["Name"].removeprefix("/")
        step.update("Starting container %s...", state.name)
        container.start()
        step.update("Started container %s (%s)", state.name, _short(state.id))
        step.done()


def _await_start(
    ctx: Context, client: DockerClient, ui: UI, state: ContainerState, seconds: float
) -> None:
    """Wait up to ``seconds`` for the container to leave its start; whatever the outcome, the
    deployment stands, and status tells the rest."""
    with ui.step_group() as steps:
        step = steps.add("Waiting for container %s to start...", state.name)
        deadline = time.monotonic() + seconds
        while True:
            health, message = _judged(client.containers.get(state.id))[:2]
            left = deadline - time.monotonic()
            if health is not Health.ALIVE:
                step.update("Container %s: %s", state.name, message)
                step.status(STATUS_OK if health is Health.READY else STATUS_ERROR)
                break
            if left <= 0 or ctx.wait(min(_POLL_INTERVAL, left)):
                step.update(
                    "Container %s is not started after %s: %s",
                    state.name,
                    Duration(seconds),
                    message,
                )
                step.status(STATUS_WARN)
                break
        step.done()


#: The states of a container whose process has ended: DOWN, with its exit code and output.
_ENDED: Final = ("exited", "dead")
#: What the state of a container that did not exit means (a running one's HEALTHCHECK, if it
#: has one, says more); any other state is UNKNOWN.
_STATES: Final = {
    "running": Health.READY,
    "created": Health.ALIVE,
    "restarting": Health.ALIVE,
    "paused": Health.ALIVE,
    "removing": Health.DOWN,
}
#: What a running container's HEALTHCHECK status means, and says.
_HEALTHCHECK: Final = {
    "healthy": (Health.READY, "running, and its healthcheck passes"),
    "starting": (Health.ALIVE, "running; its healthcheck has not passed yet"),
    "unhealthy": (Health.DOWN, "running, but its healthcheck fails"),
}


def _judged(container: Container) -> tuple[Health, str, str | None]:
    """The container's health, why, and its HEALTHCHECK's status if that decided it."""
    state: Mapping[str, Any] = container.attrs["State"]
    status = state["Status"]
    checked = state.get("Health")
    if status == "running" and checked is not None:
        said = checked["Status"]
        health, message = _HEALTHCHECK.get(said, (Health.UNKNOWN, f"its healthcheck says {said}"))
        if health is Health.DOWN:
            message += _last_check(checked)
        return health, message, said
    if status in _ENDED:
        killed = ", killed for want of memory" if state["OOMKilled"] else ""
        return Health.DOWN, f"{status} with code {state['ExitCode']}{killed}", None
    return _STATES.get(status, Health.UNKNOWN), status, None


def _last_check(checked: Mapping[str, Any]) -> str:
    """How an unhealthy container's last check ended, and how many failed in a row."""
    last = checked["Log"][-1]
    lines = str(last["Output"]).strip().splitlines()
    said = f", {lines[-1]}" if lines else ""
    streak = checked["FailingStreak"]
    return (
        f": exit {last['ExitCode']}{said} ({streak} failure{'' if streak == 1 else 's'} in a row)"
    )


def _log_tail(container: Container) -> list[str]:
    """The last lines the container wrote, within the last 4 KiB of them."""
    data: bytes = container.logs(tail=_TAIL_LINES)
    lines = data[-_TAIL_BYTES:].decode("utf-8", "replace").splitlines()
    if len(data) > _TAIL_BYTES and len(lines) > 1:
        lines = lines[1:]  # cut in the middle of a line
    return lines


def _container_status(client: DockerClient, state: ContainerState, resource: Resource) -> None:
    container = _look_up(resource, client.containers.get, "container", state.name, state.id)
    if container is None:
        return
    health, message, checked = _judged(container)
    info: dict[str, Any] = {
        "status": container.attrs["State"]["Status"],
        "healthcheck": checked,
        "image": container.attrs["Image"],
        "started_at": container.attrs["State"]["StartedAt"],
    }
    if info["status"] in _ENDED:
        info["log_tail"] = tail = _log_tail(container)
        if tail:
            message += f"; its last output: {tail[-1]}"
    resource.health, resource.health_message = health, message
    resource.created_time = _time(container.attrs["Created"])
    resource.state_json = json.dumps(info)


def _remove_container(
    client: DockerClient, config: PlatformConfig, job_info: JobInfo, ui: UI, state: ContainerState
) -> None:
    from docker.errors import NotFound

    # Without an id, its deploy died before it was checkpointed: it is found by its labels.
    labels = [f"{name}={value}" for name, value in _labels(job_info).items()]
    filters: dict[str, str | list[str] | bool] = {"id": state.id} if state.id else {"label": labels}
    with ui.step_group() as steps:
        # One that the daemon lists but then cannot show is gone already.
        for container in client.containers.list(all=True, filters=filters, ignore_removed=True):
            step = steps.add("Stopping container %s...", container.name)
            # Gone meanwhile is as good as removed.
            with contextlib.suppress(NotFound):
                container.stop(timeout=math.ceil(config.grace))
                container.remove(force=True)
            step.update("Removed container %s", container.name)
            step.done()


RESOURCES: Final = ResourceManager(
    resource(
        "image",
        create=_find_image,
        status=_image_status,
        state=ImageState,
        category_display_hint=CategoryDisplayHint.OTHER,
    ),
    resource(
        "container",
        create=_start_container,
        destroy=_remove_container,
        status=_container_status,
        state=ContainerState,
        after=["image"],
        category_display_hint=CategoryDisplayHint.INSTANCE,
    ),
)


# --- hooks ---------------------------------------------------------------------------------


@hookimpl
def platform_deploy_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: PlatformConfig
) -> dict[str, Any]:
    with contextlib.closing(_client(ctx)) as client:
        deployment = RESOURCES.create_all(
            ctx, client=client, config=config, job_info=job_info, ui=ui
        )
        if config.start_timeout > 0:
            container = RESOURCES.load(deployment)["container"]
            _await_start(ctx, client, ui, container, config.start_timeout)
    return deployment


@hookimpl
def platform_status_func(ctx: Context, deployment: dict[str, Any]) -> StatusReport:
    try:
        client = _client(ctx)
    except ConnectionError as exc:
        return StatusReport(health=Health.UNKNOWN, health_message=str(exc))
    with contextlib.closing(client):
        report = RESOURCES.status_report(ctx, deployment, client=client)
    for container in (each for each in report.resources if each.type == "container"):
        # The deployment is its container: the image, still there when the container is
        # gone or exited, informs and never dilutes that into PARTIAL (DESIGN §17).
        report.health, report.health_message = container.health, container.health_message
        # External when Docker's own HEALTHCHECK judged the container.
        checked = (
            json.loads(container.state_json).get("healthcheck") if container.state_json else None
        )
        report.external = checked is not None
    return report


@hookimpl
def platform_destroy_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: PlatformConfig, deployment: dict[str, Any]
) -> None:
    with contextlib.closing(_client(ctx)) as client:
        RESOURCES.destroy_all(
            ctx, deployment, client=client, config=config, job_info=job_info, ui=ui
        )
