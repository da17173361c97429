"""``http``: HTTP(S) endpoints, probed; a release manager and a platform.

As a platform, deploy adopts endpoints that exist already (nothing is started), so services
deployed by other means can be watched. As a release manager, release records the endpoints to
probe: the config's, or those the deployment offers. Status probes every endpoint at once,
each answer judged by the config's ``expect`` block (``_expect``) and its certificate, when
asked, by ``_certs`` (DESIGN §19).

Requests go through the builtins' one HTTP client (``_http``), on asyncio streams: a probe
that times out or whose check is cancelled stops there, with no thread left blocked in a socket.
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
    redact_urls,
    terminal,
)
from waypoint_hooks.terminal import UI

from ._certs import certificate_resource, check_ca_file
from ._expect import BODY_LIMIT, Expect, ExpectedStatus, expected_status
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


#: The codes that count as READY without an ``expect`` block: any success, or a redirect that
#: was not followed.
_ANSWERED: Final = ExpectedStatus([(200, 399)])
_LONGER_THAN_0: Final = attrs.validators.optional(attrs.validators.gt(Duration(0)))


def _expect_status(value: object) -> ExpectedStatus:
    return expected_status("expect_status", value)


@attrs.define
class ProbeConfig:
    """How to probe: the release manager's config, and what status reads on either side."""

    #: The endpoint to probe; or ``urls`` for several. A release manager without either
    #: probes what the deployment offers.
    url: str | None = attrs.field(default=None, validator=check_url)
    urls: list[str] | None = attrs.field(default=None, validator=_check_urls)
    #: Without an ``expect`` block, the response codes that count as READY; any other answer
    #: is ALIVE.
    expect_status: ExpectedStatus = attrs.field(default=_ANSWERED, converter=_expect_status)
    #: What the answer must be: each condition that fails makes the endpoint DOWN.
    expect: Expect | None = None
    #: An answer slower than this is ALIVE, naming the time it took.
    max_response_time: Duration | None = attrs.field(default=None, validator=_LONGER_THAN_0)
    #: For https: a certificate that expires within this is ALIVE.
    certificate_expiry: Duration | None = attrs.field(default=None, validator=_LONGER_THAN_0)
    #: Trust only the CA certificates in this PEM file, not the system's.
    ca_file: str | None = attrs.field(default=None, validator=check_ca_file)
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
        if self.expect is not None and self.expect_status is not _ANSWERED:
            raise StructureError.at(
                "expect_status", "set status in the expect block, not expect_status beside it"
            )
        for name in ("certificate_expiry", "ca_file"):
            if getattr(self, name) is not None and not self.verify_tls:
                raise StructureError.at(
                    name, "takes verify_tls = true: an unverified certificate is not read"
                )
        endpoints = self.endpoints
        if self.certificate_expiry is not None and endpoints and not any(map(_https, endpoints)):
            raise StructureError.at(
                "certificate_expiry", "is for https:// URLs, and url or urls names none"
            )

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
    for offering in (deployment, *resource_states(deployment)):
        for key in _DEPLOYMENT_KEYS:
            if offering.get(key):
                return _offered_urls(key, offering[key])
    keys = ", ".join(sorted(deployment)) or "none"
    raise ValueError(
        'no endpoint to probe: set url or urls in the release\'s `use "http"` block, or '
        f"deploy with a platform whose deployment names {', '.join(_DEPLOYMENT_KEYS)} "
        f"(this deployment's keys: {keys})"
    )


def resource_states(deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
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
    client = AsyncClient(verify_tls=config.verify_tls, ca_file=config.ca_file)
    steps = ui.step_group()
    if len(urls) == 1:  # most checks: no task made to wait for one endpoint
        probed = [await _endpoint(urls[0], config, limit, client, steps)]
    else:
        probed = await asyncio.gather(
            *(_endpoint(url, config, limit, client, steps) for url in urls)
        )
    report = StatusReport(resources=[resource for resources in probed for resource in resources])
    if len(urls) == 1:
        # The health is left to the app's status policy; the message of the only endpoint
        # says more than a count of one would.
        report.health_message = probed[0][0].health_message
    return report


@attrs.frozen
class _Probe:
    health: Health
    message: str
    status: int | None
    response_time_ms: int
    #: The answer's verified certificate, or the error that ended the request.
    certificate: Mapping[str, Any] | None = None
    failure: OSError | None = None


async def _endpoint(
    url: str, config: ProbeConfig, limit: float, client: AsyncClient, steps: terminal.StepGroup
) -> list[Resource]:
    """The endpoint's resource, and its certificate's when one is to be checked."""
    step = steps.add("Probing %s...", url)
    probe = await _probe(url, config, limit, client)
    step.update("%s: %s", url, probe.message)
    if probe.health is not Health.READY:
        step.status(terminal.STATUS_WARN if probe.health is Health.ALIVE else terminal.STATUS_ERROR)
    step.done()
    endpoint = Resource(
        url,
        health=probe.health,
        health_message=probe.message,
        id=url,
        type="endpoint",
        platform_url=url,
        category_display_hint=CategoryDisplayHint.ROUTER,
        state_json=_state_json(probe),
    )
    if config.certificate_expiry is None or not _https(url):
        return [endpoint]
    certificate = certificate_resource(
        url, probe.certificate, probe.failure, config.certificate_expiry
    )
    return [endpoint] if certificate is None else [endpoint, certificate]


def _https(url: str) -> bool:
    return url.lower().startswith("https:")


def _state_json(probe: _Probe) -> str:
    import json

    return json.dumps({"status": probe.status, "response_time_ms": probe.response_time_ms})


async def _probe(url: str, config: ProbeConfig, limit: float, client: AsyncClient) -> _Probe:
    expect = config.expect
    reads_body = expect is not None and expect.reads_body
    request = Request(
        "GET",
        url,
        config.headers,
        read_body=reads_body,
        body_limit=BODY_LIMIT if reads_body else None,
    )
    started = time.monotonic()
    try:
        answer = await client.fetch(request, timeout=limit, redirects=_MAX_REDIRECTS)
    except OSError as exc:
        elapsed = _ms_since(started)
        health = Health.MISSING if isinstance(exc, socket.gaierror) else Health.DOWN
        return _Probe(health, f"{describe(exc)} after {elapsed} ms", None, elapsed, failure=exc)
    elapsed = _ms_since(started)
    message = f"{_answered(answer, url)} in {elapsed} ms"
    health = Health.READY
    most = config.max_response_time
    if most is not None and elapsed > most * 1000:
        health = Health.ALIVE
        message += f" (over {round(most * 1000)} ms)"
    if expect is not None:
        failures = expect.failures(answer.status, answer.body, answer.truncated)
        if failures:
            health, message = Health.DOWN, f"{message}: {'; '.join(failures)}"
    elif answer.status not in config.expect_status:
        health, message = Health.ALIVE, f"{message}, expected {config.expect_status}"
    return _Probe(health, message, answer.status, elapsed, answer.certificate)


def _answered(answer: Response, probed: str) -> str:
    """``answer``'s status line, where it came from when a redirect led elsewhere, and why
    a redirect was not followed."""
    text = f"{answer.status} {answer.reason}".rstrip()
    if answer.url != probed:
        text += f" from {answer.url}"
    return f"{text} ({answer.not_followed})" if answer.not_followed else text


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
