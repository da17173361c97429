"""``http``: HTTP(S) endpoints, probed; a release manager and a platform.

As a platform, deploy adopts endpoints that exist already (nothing is started), so services
deployed by other means can be watched. As a release manager, release records the endpoints to
probe: the config's, or those the deployment offers. Status probes every endpoint at once.

Requests go through the builtins' one HTTP client (``_http``), on asyncio streams: a probe
that times out or whose check is cancelled stops there, with no thread left blocked in a socket.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from typing import Any, Final, final

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
    redact_urls,
    terminal,
)
from waypoint_hooks.terminal import UI

from ._http import AsyncClient, Request, Response, describe
from ._urls import check_headers, check_url, url_problem

_MAX_REDIRECTS: Final = 5


def _check_urls(
    _: object, field: attrs.Attribute[list[str] | None], value: list[str] | None
) -> None:
    if value is None:
        return
    if not value:
        raise ValueError("lists no URL")
    for index, url in enumerate(value):
        problem = url_problem(url)
        if problem is not None:
            raise StructureError.at(f"{field.name}[{index}]", problem)


@final
class ExpectedStatus:
    """The response codes that count as healthy: ``200``, ``[200, 204]`` or ``"200-299"``.

    A plain class, not attrs: cattrs then has no hook for it and hands the value as written to
    the field's converter, :meth:`parse`.
    """

    __slots__ = ("_ranges",)

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self._ranges = tuple(ranges)

    @classmethod
    def parse(cls, value: object) -> ExpectedStatus:
        """An int, a list of ints, or a ``"LOW-HIGH"`` string (one code alone is fine too)."""
        if isinstance(value, ExpectedStatus):
            return value
        if isinstance(value, str):
            low, dash, high = value.partition("-")
            try:
                first, last = int(low), int(high if dash else low)
            except ValueError:
                raise ValueError(
                    f'{value!r} is neither a status code nor a range such as "200-299"'
                ) from None
            if _code(first) > _code(last):
                raise ValueError(f"{value!r} is an empty range: write the lower code first")
            return cls([(first, last)])
        if isinstance(value, list) and value:
            return cls([(code, code) for code in map(_code, value)])
        code = _code(value)
        return cls([(code, code)])

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and any(low <= code <= high for low, high in self._ranges)

    def __str__(self) -> str:
        return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in self._ranges)

    def __repr__(self) -> str:
        return f"ExpectedStatus({str(self)!r})"


def _code(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    raise ValueError(f"{value!r} is not an HTTP status code (100-599)")


def _expect_status(value: object) -> ExpectedStatus:
    try:
        return ExpectedStatus.parse(value)
    except ValueError as exc:
        raise StructureError.at("expect_status", str(exc)) from None


@attrs.define
class ProbeConfig:
    """How to probe: the release manager's config, and what status reads on either side."""

    #: The endpoint to probe; or ``urls`` for several. A release manager without either
    #: probes what the deployment offers.
    url: str | None = attrs.field(default=None, validator=check_url)
    urls: list[str] | None = attrs.field(default=None, validator=_check_urls)
    #: The response codes that count as READY; any other answer is ALIVE.
    expect_status: ExpectedStatus = attrs.field(
        default=ExpectedStatus([(200, 399)]), converter=_expect_status
    )
    #: How long each endpoint has to answer: a duration ("2s", "500ms") or seconds.
    timeout: Duration = attrs.field(
        default=Duration("5s"), validator=attrs.validators.gt(Duration(0))
    )
    #: Sent with every request (to the endpoint's own host only, not to where it redirects).
    headers: dict[str, str] = attrs.field(factory=dict, validator=check_headers)
    verify_tls: bool = True

    def __attrs_post_init__(self) -> None:
        if self.url is not None and self.urls is not None:
            raise StructureError.at("urls", "set url or urls, not both")

    @property
    def endpoints(self) -> list[str]:
        """The URLs the config names (none when it leaves them to the deployment)."""
        return [self.url] if self.url is not None else list(self.urls or ())


@attrs.define
class PlatformConfig(ProbeConfig):
    """The platform's config: the endpoints to adopt are required."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.endpoints:
            raise StructureError.at("url", "set url (or urls): the endpoints to adopt")


@attrs.define
class Endpoints:
    """What a deploy adopts and a release records: the URLs that status probes."""

    urls: list[str]


@hookimpl
def platform_deploy_func(ui: UI, config: PlatformConfig) -> Endpoints:
    for url in config.endpoints:
        ui.output("Adopted %s (nothing is started: it is probed as it is)", url)
    return Endpoints(config.endpoints)


@hookimpl
async def platform_status_func(
    ctx: Context, ui: UI, config: ProbeConfig, deployment: Endpoints
) -> StatusReport:
    return await _probe_all(ctx, ui, config, deployment.urls)


@hookimpl
def platform_destroy_func(ui: UI, deployment: Endpoints) -> None:
    # Adopted, not deployed: the endpoints are someone else's to remove.
    ui.output("No longer watching %s", ", ".join(deployment.urls))


@hookimpl
def release_manager_release_func(
    ui: UI, config: ProbeConfig, deployment: Mapping[str, Any] | None
) -> Endpoints:
    urls = config.endpoints or _offered_by(deployment or {})
    ui.output("Releasing through %s", ", ".join(urls))
    return Endpoints(urls)


#: The keys of a deployment value (of any platform), or of one of its resources' states, that
#: name endpoints, in order of preference; ``ready_http`` is the ``process`` platform's
#: readiness URL.
_DEPLOYMENT_KEYS: Final = ("urls", "url", "ready_http")


def _offered_by(deployment: Mapping[str, Any]) -> list[str]:
    """The endpoints a deployment value names: at its top, else in the state of one of its
    resources, in the order they were created (a value of the resource manager, as the
    ``process`` platform's)."""
    for offering in (deployment, *_resource_states(deployment)):
        for key in _DEPLOYMENT_KEYS:
            if offering.get(key):
                return _offered_urls(key, offering[key])
    keys = ", ".join(sorted(deployment)) or "none"
    raise ValueError(
        'no endpoint to probe: set url or urls in the release\'s `use "http"` block, or '
        f"deploy with a platform whose deployment names {', '.join(_DEPLOYMENT_KEYS)} "
        f"(this deployment's keys: {keys})"
    )


def _resource_states(deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The state of each resource of a value of the resource manager, ``{"created": [{"name":
    …, "state": {…}}, …]}``; none for another value."""
    created = deployment.get("created")
    if not isinstance(created, list):
        return []
    entries = [entry for entry in created if isinstance(entry, Mapping)]
    return [entry["state"] for entry in entries if isinstance(entry.get("state"), Mapping)]


def _offered_urls(key: str, value: object) -> list[str]:
    """The URLs a deployment offers under ``key``, checked."""
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise ValueError(
            f"the deployment's {key!r} is not a URL or a list of URLs "
            f"(it is a {type(value).__name__})"
        )
    for url in urls:
        problem = url_problem(url) or _query_problem(url)
        if problem is not None:
            raise ValueError(f"the deployment's {key!r}: {problem}")
    return urls


def _query_problem(url: str) -> str | None:
    """Why a URL a deployment offers cannot be probed as it is: the state keeps no query
    values (DESIGN §13), so only the config can give them."""
    from urllib.parse import urlsplit

    if "=" not in urlsplit(url).query:
        return None
    return (
        f"{redact_urls(url)!r} holds query values, which are not stored (they may be "
        'secrets); name the URL in url or urls of the release\'s use "http" block'
    )


@hookimpl
async def release_manager_status_func(
    ctx: Context, ui: UI, config: ProbeConfig, release: Endpoints
) -> StatusReport:
    return await _probe_all(ctx, ui, config, release.urls)


@hookimpl
def release_manager_destroy_func(ui: UI, release: Endpoints) -> None:
    ui.output("No longer probing %s", ", ".join(release.urls))


async def _probe_all(ctx: Context, ui: UI, config: ProbeConfig, urls: list[str]) -> StatusReport:
    # Recorded URLs are stored redacted (DESIGN §13): each one the config names is probed
    # as the config writes it, with its userinfo and query values.
    configured = {redact_urls(url): url for url in config.endpoints}
    urls = [configured.get(url, url) for url in urls]
    limit: float = config.timeout
    remaining = ctx.remaining()
    if remaining is not None:
        # Each probe ends by the check's deadline: a DOWN endpoint says more than a check
        # that timed out.
        limit = min(limit, remaining)
    # One client for the check: its endpoints share a TLS context.
    client = AsyncClient(verify_tls=config.verify_tls)
    steps = ui.step_group()
    resources = await asyncio.gather(
        *(_endpoint(url, config, limit, client, steps) for url in urls)
    )
    report = StatusReport(resources=list(resources))
    if len(resources) == 1:
        # The health is left to the app's status policy; the message of the only endpoint
        # says more than a count of one would.
        report.health_message = resources[0].health_message
    return report


@attrs.frozen
class _Probe:
    health: Health
    message: str
    status: int | None
    elapsed_ms: int


async def _endpoint(
    url: str, config: ProbeConfig, limit: float, client: AsyncClient, steps: terminal.StepGroup
) -> Resource:
    step = steps.add("Probing %s...", url)
    probe = await _probe(url, config, limit, client)
    step.update("%s: %s", url, probe.message)
    if probe.health is not Health.READY:
        step.status(terminal.STATUS_WARN if probe.health is Health.ALIVE else terminal.STATUS_ERROR)
    step.done()
    return Resource(
        url,
        health=probe.health,
        health_message=probe.message,
        id=url,
        type="endpoint",
        platform_url=url,
        category_display_hint=CategoryDisplayHint.ROUTER,
        state_json=_state_json(probe),
    )


def _state_json(probe: _Probe) -> str:
    import json

    return json.dumps({"status": probe.status, "elapsed_ms": probe.elapsed_ms})


async def _probe(url: str, config: ProbeConfig, limit: float, client: AsyncClient) -> _Probe:
    started = time.monotonic()
    try:
        request = Request("GET", url, config.headers)
        answer = await client.fetch(request, timeout=limit, redirects=_MAX_REDIRECTS)
    except OSError as exc:
        elapsed = _ms_since(started)
        health = Health.MISSING if isinstance(exc, socket.gaierror) else Health.DOWN
        return _Probe(health, f"{describe(exc)} after {elapsed} ms", None, elapsed)
    elapsed = _ms_since(started)
    message = f"{_answered(answer, url)} in {elapsed} ms"
    if answer.status in config.expect_status:
        return _Probe(Health.READY, message, answer.status, elapsed)
    message += f", expected {config.expect_status}"
    return _Probe(Health.ALIVE, message, answer.status, elapsed)


def _answered(answer: Response, probed: str) -> str:
    """``answer``'s status line, where it came from when a redirect led elsewhere, and why
    a redirect was not followed."""
    text = f"{answer.status} {answer.reason}".rstrip()
    if answer.url != probed:
        text += f" from {answer.url}"
    return f"{text} ({answer.not_followed})" if answer.not_followed else text


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
