"""``http``: HTTP(S) endpoints, probed; a release manager and a platform.

As a platform, deploy adopts endpoints that exist already (nothing is started), so services
deployed by other means can be watched. As a release manager, release records the endpoints to
probe: the config's, or those the deployment offers. Status probes every endpoint at once.

Requests are written on asyncio streams: a probe that times out or whose check is cancelled
stops there, with no thread left blocked in a socket. One module, over 400 lines, because a
plugin is one entry point: its config, its hooks and its small HTTP client ship together.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Duration,
    Health,
    Resource,
    StatusReport,
    StructureError,
    __version__,
    hookimpl,
    redact_urls,
    terminal,
)
from waypoint_hooks.terminal import UI

from ._urls import SCHEMES, check_headers, check_url, url_problem

if TYPE_CHECKING:
    import ssl
    from urllib.parse import SplitResult

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS: Final = 5
_MAX_HEADER_LINES: Final = 100
#: How much of a text from the server (a reason, a redirect's target) a message quotes.
_QUOTED: Final = 200
# "HTTP/1.1 200 OK": the version, a three-digit code and the (optional) reason phrase.
_STATUS_LINE: Final = re.compile(rb"HTTP/\d(?:\.\d)? ([1-5]\d\d)(?: ([^\r\n]*))?\r?\n?")
# Characters left as they are when a URL's path and query are quoted for the request line:
# the reserved ones, and "%" so that what is escaped already stays so.
_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"


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
    tls = _TLS(config.verify_tls)
    steps = ui.step_group()
    resources = await asyncio.gather(*(_endpoint(url, config, limit, tls, steps) for url in urls))
    report = StatusReport(resources=list(resources))
    if len(resources) == 1:
        # The health is left to the app's status policy; the message of the only endpoint
        # says more than a count of one would.
        report.health_message = resources[0].health_message
    return report


@final
class _TLS:
    """The TLS context of one check, made on first use: loading CA certificates is slow, and
    most checks probe only plain HTTP."""

    def __init__(self, verify: bool) -> None:
        self._verify = verify
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        if self._context is None:
            import ssl

            context = ssl.create_default_context()
            if not self._verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context


@attrs.frozen
class _Answer:
    """A response's status line, from ``url``, and where it redirects if it does."""

    url: str
    status: int
    reason: str
    location: str | None = None
    #: Why a redirect was not followed.
    note: str = ""

    def describe(self, probed: str) -> str:
        text = f"{self.status} {_quoted(self.reason)}".rstrip()
        if self.url != probed:
            text += f" from {self.url}"
        return f"{text} ({self.note})" if self.note else text


class _NoResponse(Exception):
    """The server accepted the connection but did not answer with an HTTP response."""


@attrs.frozen
class _Probe:
    health: Health
    message: str
    status: int | None
    elapsed_ms: int


async def _endpoint(
    url: str, config: ProbeConfig, limit: float, tls: _TLS, steps: terminal.StepGroup
) -> Resource:
    step = steps.add("Probing %s...", url)
    probe = await _probe(url, config, limit, tls)
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


async def _probe(url: str, config: ProbeConfig, limit: float, tls: _TLS) -> _Probe:
    import socket
    import ssl

    started = time.monotonic()

    def down(health: Health, what: str) -> _Probe:
        elapsed = round((time.monotonic() - started) * 1000)
        return _Probe(health, f"{what} after {elapsed} ms", None, elapsed)

    try:
        answer = await asyncio.wait_for(_get(url, config.headers, tls), limit)
    except asyncio.TimeoutError:
        return down(Health.DOWN, "no answer")
    except socket.gaierror as exc:
        return down(Health.MISSING, f"the host name does not resolve ({exc.strerror})")
    except ConnectionRefusedError:
        return down(Health.DOWN, "connection refused")
    except ConnectionError:
        return down(Health.DOWN, "connection reset")
    except ssl.SSLError as exc:
        return down(Health.DOWN, f"TLS failed ({exc.reason or exc})")
    except OSError as exc:
        return down(Health.DOWN, exc.strerror or str(exc) or type(exc).__name__)
    except _NoResponse as exc:
        return down(Health.DOWN, str(exc))
    elapsed = round((time.monotonic() - started) * 1000)
    message = f"{answer.describe(url)} in {elapsed} ms"
    if answer.status in config.expect_status:
        return _Probe(Health.READY, message, answer.status, elapsed)
    message += f", expected {config.expect_status}"
    return _Probe(Health.ALIVE, message, answer.status, elapsed)


async def _get(url: str, headers: Mapping[str, str], tls: _TLS) -> _Answer:
    """The answer to a GET of ``url``, after following redirects to HTTP(S) URLs."""
    from urllib.parse import urljoin, urlsplit

    origin = _origin(url)
    answer = await _request(url, headers, tls)
    for _ in range(_MAX_REDIRECTS):
        if answer.status not in _REDIRECTS or not answer.location:
            return answer
        target = urljoin(answer.url, answer.location)
        if urlsplit(target).scheme not in SCHEMES:
            # A file:// or ftp:// target is never fetched: the redirect is the answer.
            return attrs.evolve(answer, note=f"redirect to {_quoted(target)} not followed")
        # Configured headers may carry credentials: only the configured host gets them.
        answer = await _request(target, headers if _origin(target) == origin else {}, tls)
    if answer.status in _REDIRECTS and answer.location:
        return attrs.evolve(answer, note=f"stopped after {_MAX_REDIRECTS} redirects")
    return answer


def _origin(url: str) -> tuple[str, str | None, int | None]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


async def _request(url: str, headers: Mapping[str, str], tls: _TLS) -> _Answer:
    """One GET of ``url``: its status line and its ``Location``, if any; the body is not read."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    https = parts.scheme == "https"
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port or (443 if https else 80), ssl=tls.context() if https else None
    )
    try:
        writer.write(_request_head(parts, headers))
        await writer.drain()
        try:
            status, reason = _status_line(await reader.readline())
            location = await _location(reader)
        except ValueError:  # a line longer than the stream's limit
            raise _NoResponse("an answer line too long to be HTTP") from None
    finally:
        # The answer is all that is wanted: no orderly close (nor TLS close_notify) to wait on.
        writer.transport.abort()
    return _Answer(url, status, reason, location)


def _request_head(parts: SplitResult, headers: Mapping[str, str]) -> bytes:
    from urllib.parse import quote

    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += f"?{quote(parts.query, safe=_SAFE)}"
    fields = {
        "host": ("Host", parts.netloc),
        "user-agent": ("User-Agent", f"waypoint-hooks/{__version__}"),
        "accept": ("Accept", "*/*"),
        "connection": ("Connection", "close"),
    }
    # Header names are case-insensitive: a configured "host" replaces the default "Host".
    fields.update({name.lower(): (name, value) for name, value in headers.items()})
    lines = [f"GET {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.values())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status_line(line: bytes) -> tuple[int, str]:
    if not line:
        raise _NoResponse("connection closed without an answer")
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise _NoResponse(f"not an HTTP answer: {_quoted(line.decode('latin-1'))!r}")
    return int(match[1]), (match[2] or b"").decode("latin-1").strip()


async def _location(reader: asyncio.StreamReader) -> str | None:
    """The ``Location`` header of the response whose headers ``reader`` is at."""
    location = None
    for _ in range(_MAX_HEADER_LINES):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return location
        name, colon, value = line.decode("latin-1").partition(":")
        if colon and name.strip().lower() == "location":
            location = value.strip()
    raise _NoResponse(f"more than {_MAX_HEADER_LINES} header lines")


def _quoted(text: str) -> str:
    """``text`` from the server, cut to a length a message can carry."""
    return text if len(text) <= _QUOTED else f"{text[:_QUOTED]}..."
