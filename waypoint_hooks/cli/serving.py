"""``waypoint-hooks serve``: the status service, in a module of its own: only ``serve``
imports it."""

from __future__ import annotations

import functools
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from .params import DURATION, Command, apps_argument
from .session import READY, USAGE, Session, fail, handle_errors, pass_session, read_project

if TYPE_CHECKING:
    from ..config.project import Project

__all__ = ["serve"]


@click.command(cls=Command)
@apps_argument
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="The address to listen on; POST needs --token unless it is a loopback one.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8470,
    show_default=True,
    metavar="PORT",
    help="The port to listen on (0: any free one, printed at the start).",
)
@click.option(
    "--token",
    envvar="WAYPOINT_HOOKS_TOKEN",
    metavar="TOKEN",
    help="Require Authorization: Bearer TOKEN on POST [env WAYPOINT_HOOKS_TOKEN].",
)
@click.option(
    "--read-token",
    envvar="WAYPOINT_HOOKS_READ_TOKEN",
    metavar="TOKEN",
    help="Require this token (or --token) to read anything but /healthz: a Bearer header, or "
    "the page's sign-in form [env WAYPOINT_HOOKS_READ_TOKEN].",
)
@click.option(
    "--public-badges",
    is_flag=True,
    help="Serve /badges/ without the read token (a README can show them).",
)
@click.option(
    "--lease",
    type=DURATION,
    default="30s",
    show_default=True,
    metavar="DURATION",
    help="How long the checks this instance holds stay its own unless it renews its lease "
    "(every third of it): other instances on the state take over those of one that died "
    "within it.",
)
@click.option(
    "--location",
    default="",
    metavar="NAME",
    help="Where this instance checks from, on a PostgreSQL state: it checks the apps whose "
    "status block lists NAME in its locations, and those with none.",
)
@click.option(
    "--header-timeout",
    type=DURATION,
    default="10s",
    show_default=True,
    metavar="DURATION",
    help="How long a client has to send a request's headers; a slower connection is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    metavar="N",
    help="Connections open at once; one more closes the one that waited longest for a request.",
)
@pass_session
@functools.partial(handle_errors, stopped=lambda _: _served())
def serve(
    session: Session,
    apps: tuple[str, ...],
    host: str,
    port: int,
    token: str | None,
    read_token: str | None,
    public_badges: bool,
    lease: float,
    location: str,
    header_timeout: float,
    max_connections: int,
) -> None:
    """Check each APP (all when none is named) on its interval and serve a status page,
    a JSON API and Prometheus metrics, until stopped (Ctrl-C or SIGTERM: the checks that run
    end and are stored, then it exits 0). The config file is read again when it changes.

    \b
    Example:
      waypoint-hooks -c examples/demo/waypoint.hcl serve --port 8470
    """
    try:
        from ..serve.access import Access
        from ..serve.service import ConnectionLimits, StatusService
        from ..serve.web import Listener
        from ..serve.web import serve as run
    except ModuleNotFoundError as exc:
        fail(
            f"serve needs {exc.name}: pip install 'waypoint-hooks[serve]' (in a checkout of "
            "waypoint-hooks, which no package index has yet: pip install '.[serve]')",
            USAGE,
        )
    from ..config.uses import check_plugins
    from ..model.names import check_name

    with session.checker(json_output=True, apps=apps) as checker:

        def reread(path: Path) -> Project:
            project = read_project(path)
            check_plugins(project, checker.plugins, apps)
            return project

        if location:
            try:
                check_name("--location", location)
            except ValueError as exc:
                fail(str(exc), USAGE)
        limits = ConnectionLimits(header_timeout, max_connections)
        service = StatusService(
            checker, apps, reread, lease=lease, location=location, limits=limits
        )
        try:
            listener = Listener(host, port)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", USAGE)
        served = len(service.apps())
        click.echo(
            f"Serving the status of {served} app{'' if served == 1 else 's'} of "
            f"{checker.project.name} on "
            f"{listener.url} (Ctrl-C stops)",
            err=True,
        )
        access = Access(
            token=token,
            read_token=read_token,
            loopback=listener.loopback,
            public_badges=public_badges,
        )
        run(service, listener, access)


def _served() -> NoReturn:
    from ..plugins.signals import STOP

    assert STOP.signum is not None
    name = signal.Signals(STOP.signum).name
    click.echo(f"Stopped by {name}: the checks that were running ended and are stored", err=True)
    sys.exit(READY)
