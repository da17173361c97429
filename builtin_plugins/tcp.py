"""``tcp``: a TCP port, checked by connecting to it, and with ``tls`` by a TLS handshake whose
certificate may be checked too (DESIGN §19); a release manager and a platform, as ``http`` is.

As a platform, deploy adopts a port that is open already (nothing is started); as a release
manager, release records the address to check: the config's, or the one the deployment offers
(``process``'s ``ready_tcp``). The connection is closed as soon as it is made: nothing is sent.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from typing import Any, Final

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Duration,
    Health,
    Resource,
    StatusReport,
    StructureError,
    hookimpl,
)
from waypoint_hooks.terminal import UI

from ._certs import certificate_resource, check_ca_file
from ._http import describe, tls_context
from .http import resource_states

#: The keys of a deployment value (or of one of its resources' states) that name an address,
#: in order of preference.
_DEPLOYMENT_KEYS: Final = ("address", "ready_tcp")


def _check_address(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    from ._urls import tcp_address

    if value is not None:
        tcp_address(value)


@attrs.define
class CheckConfig:
    """How to check: the release manager's config, and what status reads on either side."""

    #: ``host:port`` (``[::1]:port`` for IPv6). A release manager without one checks what the
    #: deployment offers.
    address: str | None = attrs.field(default=None, validator=_check_address)
    #: How long the connection (and the TLS handshake) may take.
    timeout: Duration = attrs.field(
        default=Duration("5s"), validator=attrs.validators.gt(Duration(0))
    )
    #: Make a TLS handshake once connected, its certificate verified.
    tls: bool = False
    #: With ``tls``: a certificate that expires within this is ALIVE.
    certificate_expiry: Duration | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(Duration(0)))
    )
    #: With ``tls``: trust only the CA certificates in this PEM file, not the system's.
    ca_file: str | None = attrs.field(default=None, validator=check_ca_file)

    def __attrs_post_init__(self) -> None:
        for name in ("certificate_expiry", "ca_file"):
            if getattr(self, name) is not None and not self.tls:
                raise StructureError.at(name, "takes tls = true: without it no certificate is seen")


@attrs.define
class PlatformConfig(CheckConfig):
    """The platform's config: the address to adopt is required."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.address is None:
            raise StructureError.at("address", "set address: the host:port to check")


@attrs.define
class Port:
    """What a deploy adopts and a release records: the address that status checks."""

    address: str


@hookimpl
def platform_deploy_func(ui: UI, config: PlatformConfig) -> Port:
    assert config.address is not None, "PlatformConfig requires one"
    ui.output("Adopted %s (nothing is started: it is checked as it is)", config.address)
    return Port(config.address)


@hookimpl
async def platform_status_func(ctx: Context, config: CheckConfig, deployment: Port) -> StatusReport:
    return await _check(ctx, config, deployment.address)


@hookimpl
def platform_destroy_func(ui: UI, deployment: Port) -> None:
    # Adopted, not deployed: the port is someone else's to close.
    ui.output("No longer watching %s", deployment.address)


@hookimpl
def release_manager_release_func(
    ui: UI, config: CheckConfig, deployment: Mapping[str, Any] | None
) -> Port:
    address = config.address or _offered_by(deployment or {})
    ui.output("Releasing through %s", address)
    return Port(address)


@hookimpl
async def release_manager_status_func(
    ctx: Context, config: CheckConfig, release: Port
) -> StatusReport:
    return await _check(ctx, config, release.address)


@hookimpl
def release_manager_destroy_func(ui: UI, release: Port) -> None:
    ui.output("No longer checking %s", release.address)


def _offered_by(deployment: Mapping[str, Any]) -> str:
    """The address a deployment value names, at its top or in one of its resources' states."""
    from ._urls import tcp_address

    for offering in (deployment, *resource_states(deployment)):
        for key in _DEPLOYMENT_KEYS:
            if isinstance(offering.get(key), str):
                address: str = offering[key]
                tcp_address(address)
                return address
    keys = ", ".join(sorted(deployment)) or "none"
    raise ValueError(
        'no address to check: set address in the release\'s `use "tcp"` block, or deploy with '
        f"a platform whose deployment names {' or '.join(_DEPLOYMENT_KEYS)} (this "
        f"deployment's keys: {keys})"
    )


async def _check(ctx: Context, config: CheckConfig, address: str) -> StatusReport:
    limit: float = config.timeout
    remaining = ctx.remaining()
    if remaining is not None:
        # Ends by the check's deadline: a DOWN port says more than a check that timed out.
        limit = min(limit, remaining)
    context = tls_context(verify=True, ca_file=config.ca_file) if config.tls else None
    started = time.monotonic()
    certificate: Mapping[str, Any] | None = None
    failure: OSError | None = None
    try:
        certificate = await asyncio.wait_for(_connect(address, context), limit)
    except (OSError, asyncio.TimeoutError) as exc:
        # asyncio's TimeoutError is not the builtin one before Python 3.11.
        failure = exc if isinstance(exc, OSError) else TimeoutError("timed out")
    elapsed = round((time.monotonic() - started) * 1000)
    if failure is None:
        done = "connected over TLS" if config.tls else "connected"
        health, message = Health.READY, f"{done} in {elapsed} ms"
    else:
        missing = isinstance(failure, socket.gaierror)
        health = Health.MISSING if missing else Health.DOWN
        message = f"{describe(failure)} after {elapsed} ms"
    resources = [_port(address, health, message, elapsed)]
    if config.certificate_expiry is not None:
        checked = certificate_resource(address, certificate, failure, config.certificate_expiry)
        resources += [checked] if checked is not None else []
    return StatusReport(resources=resources, health_message=message)


async def _connect(address: str, context: Any) -> Mapping[str, Any] | None:
    """Connect to ``address`` (and shake hands over TLS with ``context``); the server's
    verified certificate, if any."""
    from ._urls import tcp_address

    host, port = tcp_address(address)
    _, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        certificate: Mapping[str, Any] | None = writer.get_extra_info("peercert")
        return certificate
    finally:
        # Nothing is to be said: no orderly close (nor TLS close_notify) to wait on.
        writer.transport.abort()


def _port(address: str, health: Health, message: str, elapsed: int) -> Resource:
    import json

    return Resource(
        address,
        health=health,
        health_message=message,
        id=address,
        type="port",
        category_display_hint=CategoryDisplayHint.ROUTER,
        state_json=json.dumps({"response_time_ms": elapsed}),
    )
