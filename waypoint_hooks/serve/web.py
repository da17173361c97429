"""The status service over HTTP (DESIGN §14): a Starlette application on uvicorn.

The routes are a table of small endpoints (:func:`routes`), each asking the service through
its one view of it, :class:`StatusView`; who may write is the guard on the routes that write,
and query values are read by one parser each. Routes: ``GET /`` and ``GET /apps/{app}`` (the
page), ``GET /api/status``, ``GET /api/apps/{app}/history``, ``POST /api/apps/{app}/check``,
``POST /api/apps/{app}/reports`` (a report from outside, DESIGN §20), ``GET /metrics``,
``GET /healthz``, ``GET /api/alerts`` (the document of ``alerts --json``),
``GET /api/cluster`` (the instances on the state, DESIGN §16), and the page's stylesheet and
script under ``/static``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Protocol, final

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    NoLiveVersionError,
    ReportDecodeError,
    ReportRefusedError,
    StateError,
    UnknownAppError,
    UsageError,
)
from ..plugins.components import TargetKind
from ..plugins.signals import STOP, Interrupted
from ..plugins.workers import run_abandoning
from .metrics import CONTENT_TYPE
from .service import KINDS, StatusService

__all__ = [
    "LIMIT_CAP",
    "PUSH_BURST",
    "PUSH_RATE",
    "TOKEN_ENV",
    "Listener",
    "StatusView",
    "application",
    "routes",
    "serve",
]

#: Where the token for ``POST`` may be given instead of ``--token``.
TOKEN_ENV: Final = "WAYPOINT_HOOKS_TOKEN"
#: Reports ``GET /api/apps/{app}/history`` gives without ``?limit`` (as ``history`` does).
HISTORY_LIMIT: Final = 100
#: The most reports or alerts one answer holds: an answer is one JSON document, made in memory.
LIMIT_CAP: Final = 1000
#: Reports pushed about one app: at most this many at once, then :data:`PUSH_RATE` a second
#: (a token bucket). A platform reports on an interval; a sender in a loop is told 429.
PUSH_BURST: Final = 10
PUSH_RATE: Final = 1.0
#: The media types of a report pushed as the SDK's protobuf message; any other is JSON (what
#: ``curl --data-binary`` sends unless told otherwise is not JSON's type).
_PROTOBUF_TYPES: Final = frozenset({"application/x-protobuf", "application/protobuf"})
#: The page and everything else: no script but the page's own, nothing from elsewhere.
_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class StatusView(Protocol):
    """What the routes ask of the status service (:class:`StatusService`), and all they may:
    never its scheduler, its checker or the state."""

    @property
    def running(self) -> bool: ...

    def health(self) -> dict[str, Any]: ...

    async def page(self, name: str | None = None) -> str: ...

    async def status_document(self) -> dict[str, Any]: ...

    async def history_document(self, name: str, limit: int) -> dict[str, Any]: ...

    async def alerts_document(self, limit: int) -> dict[str, Any]: ...

    async def cluster_document(self) -> dict[str, Any]: ...

    async def check_now(self, name: str) -> dict[str, Any]: ...

    def report_limit(self, name: str) -> int: ...

    async def push_report(
        self, name: str, kind: TargetKind, data: bytes, protobuf: bool
    ) -> dict[str, Any]: ...

    async def metrics(self) -> bytes: ...


@final
class Listener:
    """The socket the service listens on, bound before anything else starts."""

    def __init__(self, host: str, port: int) -> None:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        self.socket = socket.create_server(address[:2], family=family)
        self.host, self.port = self.socket.getsockname()[:2]

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def application(view: StatusView, *, token: str | None, loopback: bool) -> ASGIApp:
    """The service's routes over ``view``, with the security headers on every answer. A
    write needs ``Authorization: Bearer TOKEN`` when there is a ``token``; without one, it is
    refused unless the service listens on a ``loopback`` address."""
    app = Starlette(
        routes=routes(token=token, loopback=loopback),
        exception_handlers={
            UnknownAppError: _unknown_app,
            _Refused: _refused,
            StateError: _unreachable,
            404: _not_found,
        },
    )
    app.state.view = view
    app.state.pushes = _Bucket(PUSH_BURST, PUSH_RATE)
    return _secure(_LoopbackHosts(app) if loopback else app)


def routes(*, token: str | None, loopback: bool) -> list[BaseRoute]:
    """The routes table; each route that writes is behind :class:`_Writers`."""
    writes = [Middleware(_Writers, token=token, loopback=loopback)]
    return [
        Route("/", index),
        Route("/apps/{app}", app_page),
        Route("/api/status", status),
        Route("/api/apps/{app}/history", history),
        Route("/api/alerts", alerts),
        Route("/api/cluster", cluster),
        Route("/api/apps/{app}/check", check, methods=["POST"], middleware=writes),
        Route("/api/apps/{app}/reports", push, methods=["POST"], middleware=writes),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(packages=[("waypoint_hooks.serve", "status_page/static")])),
    ]


# --- the endpoints ------------------------------------------------------------------------


async def index(request: Request) -> Response:
    return HTMLResponse(await _view(request).page())


async def app_page(request: Request) -> Response:
    return HTMLResponse(await _view(request).page(request.path_params["app"]))


async def status(request: Request) -> Response:
    return JSONResponse(await _view(request).status_document())


async def history(request: Request) -> Response:
    name = request.path_params["app"]
    return JSONResponse(await _view(request).history_document(name, _limit(request)))


async def alerts(request: Request) -> Response:
    return JSONResponse(await _view(request).alerts_document(_limit(request)))


async def cluster(request: Request) -> Response:
    return JSONResponse(await _view(request).cluster_document())


async def check(request: Request) -> Response:
    view = _view(request)
    if not view.running:
        raise _Refused(503, "the service is stopping")
    return JSONResponse(await view.check_now(request.path_params["app"]))


async def push(request: Request) -> Response:
    """A report from outside (DESIGN §20), stored for the app's latest live version of
    ``?kind`` (``deployment`` when not given); 201 with the report as stored."""
    view = _view(request)
    name = request.path_params["app"]
    kind = _kind(request)
    limit = view.report_limit(name)
    if not view.running:
        raise _Refused(503, "the service is stopping")
    wait = request.app.state.pushes.take(name)
    if wait is not None:
        retry = str(math.ceil(wait))
        message = f"too many reports of app {name!r}: at most {PUSH_BURST} at once, then "
        message += f"{PUSH_RATE:g} a second; try again in {retry}s"
        return _error(429, message, {"Retry-After": retry})
    data = await _body(request, limit)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    protobuf = media in _PROTOBUF_TYPES
    try:
        document = await view.push_report(name, kind, data, protobuf)
    except ReportDecodeError as exc:
        what = "a protobuf StatusReport" if protobuf else "a report in JSON"
        raise _Refused(400, f"the body is not {what}: {exc}; nothing stored") from None
    except NoLiveVersionError as exc:
        raise _Refused(404, str(exc)) from None
    except ReportRefusedError as exc:
        raise _Refused(413, str(exc)) from None
    except UsageError as exc:  # the protobuf runtime is not installed
        raise _Refused(415, f"{exc}; or send the report as JSON") from None
    return JSONResponse(document, status_code=201)


async def metrics(request: Request) -> Response:
    return Response(await _view(request).metrics(), media_type=CONTENT_TYPE)


async def healthz(request: Request) -> Response:
    view = _view(request)
    health = view.health()
    serving = view.running and health["state"] == "reachable"
    return JSONResponse(health, status_code=200 if serving else 503)


def _view(request: Request) -> StatusView:
    view: StatusView = request.app.state.view
    return view


# --- query values -------------------------------------------------------------------------


def _limit(request: Request) -> int:
    """``?limit=N``: ASCII digits, 1 to :data:`LIMIT_CAP`; :data:`HISTORY_LIMIT` when not
    given."""
    text = request.query_params.get("limit", str(HISTORY_LIMIT))
    # Measured before it is converted: int() of thousands of digits is slow, and of more than
    # 4,300 an error (leading zeros count).
    digits = text.lstrip("0")
    if text.isascii() and text.isdigit() and len(digits) <= len(str(LIMIT_CAP)):
        count = int(digits or "0")
        if 1 <= count <= LIMIT_CAP:
            return count
    raise _Refused(400, f"limit must be a whole number from 1 to {LIMIT_CAP}; got {text!r}")


def _kind(request: Request) -> TargetKind:
    """``?kind=deployment|release``; ``deployment`` when not given."""
    kind = request.query_params.get("kind", "deployment")
    for known in KINDS:
        if kind == known:
            return known
    raise _Refused(400, f"kind must be deployment or release; got {kind!r}")


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, up to ``limit`` bytes: a longer one is refused with 413 as soon as
    that shows (by its ``Content-Length``, before any of it is read)."""
    refusal = _Refused(
        413,
        f"the report is over {limit} bytes, the limit of a report of this app "
        "(max_report_bytes in its status block); nothing stored",
    )
    length = request.headers.get("content-length", "")
    # Measured before it is converted, as ?limit is.
    digits = length.lstrip("0")
    if (
        length.isascii()
        and length.isdigit()
        and (len(digits) > len(str(limit)) or int(digits or "0") > limit)
    ):
        raise refusal
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refusal
        chunks.append(chunk)
    return b"".join(chunks)


@final
class _Bucket:
    """A token bucket per key: ``burst`` takes at once, then ``rate`` a second."""

    def __init__(
        self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._rate = rate
        self._clock = clock
        #: Each key's tokens, as of when.
        self._tokens: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float | None:
        """Take one of ``key``'s tokens: ``None``, or how many seconds until one is there."""
        now = self._clock()
        tokens, then = self._tokens.get(key, (float(self._burst), now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1:
            self._tokens[key] = (tokens, now)
            return (1 - tokens) / self._rate
        self._tokens[key] = (tokens - 1, now)
        return None


# --- refusals -----------------------------------------------------------------------------


class _Refused(Exception):
    """A request answered with ``{"error": message}`` instead of what it asked for."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Refused)
    return _error(exc.status, exc.message)


async def _unknown_app(request: Request, exc: Exception) -> Response:
    # The app asked for, alone: a 404 anyone may ask for must not list the apps served.
    return _missing(request, f"no app {request.path_params.get('app', '')!r} is served")


async def _unreachable(request: Request, exc: Exception) -> Response:
    return _error(503, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _missing(request, f"no page {request.url.path!r}")


def _missing(request: Request, message: str) -> Response:
    """A 404: JSON for the API, a page for a person."""
    if request.url.path.startswith("/api/"):
        return _error(404, message)
    shown = html.escape(message)
    return HTMLResponse(
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Not found</title>'
        f'<h1>Not found</h1><p>{shown}.</p><p><a href="/">All apps</a></p></html>',
        status_code=404,
    )


@final
class _LoopbackHosts:
    """On a loopback listener, only ``Host`` values that name this machine (``localhost``,
    a loopback address) are served: a page elsewhere whose name an attacker points at
    127.0.0.1 (DNS rebinding) would otherwise pass "only from this machine" with an
    ``Origin`` to match its own ``Host``."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Request(scope).headers.get("host", "")
            if not _names_this_machine(host):
                answer = _error(421, f"this service answers to localhost only, not {host!r}")
                await answer(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _names_this_machine(host: str) -> bool:
    """Whether a ``Host`` value (``name[:port]``, ``[v6][:port]``) names a loopback address."""
    name = host[1 : host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    if name.lower() == "localhost" or name.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@final
class _Writers:
    """The guard of the routes that write: who may. ``Authorization: Bearer TOKEN`` when
    there is a ``token``; without one, anyone on this machine, when the service listens on a
    ``loopback`` address only. A write whose ``Origin`` is another site (a page in a browser)
    is refused either way."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback: bool) -> None:
        self._app = app
        self._expected = None if token is None else f"Bearer {token}".encode()
        self._loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(Request(scope))
        if refusal is None:
            await self._app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return _error(403, f"a POST from another site ({origin}) is refused")
        if self._expected is None:
            if self._loopback:
                return None
            return _error(
                403,
                "POST is refused on a service that listens beyond this machine without a "
                "token: start it with --token",
            )
        given = request.headers.get("authorization", "").encode("utf-8")
        # In constant time: how much of a guess matched must not show in how long it took.
        if hmac.compare_digest(given, self._expected):
            return None
        return _error(401, "POST needs Authorization: Bearer TOKEN", {"WWW-Authenticate": "Bearer"})


def _secure(app: ASGIApp) -> ASGIApp:
    """``app``, with the security headers on every response."""

    async def secured(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await app(scope, receive, send_secured)

    return secured


def _quiet_about_interrupted(record: logging.LogRecord) -> bool:
    """uvicorn logs what a request's handler raised; a second stop signal that landed there
    is no error of the request's (the service stops at once, saying so in one line)."""
    return not (record.exc_info and isinstance(record.exc_info[1], Interrupted))


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the stop signals to the command (DESIGN §12): the first
    stops the checks and then this server, a second stops at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(service: StatusService, listener: Listener, token: str | None) -> None:
    """Serve until a stop signal, then let the running checks end and store their reports."""
    logging.getLogger("uvicorn.error").addFilter(_quiet_about_interrupted)
    config = uvicorn.Config(
        application(service, token=token, loopback=listener.loopback),
        log_config=None,  # uvicorn's records go where the command sends every log record
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    run_abandoning(_run(service, _Server(config), listener))


async def _run(service: StatusService, server: uvicorn.Server, listener: Listener) -> None:
    serving = asyncio.ensure_future(server.serve(sockets=[listener.socket]))
    # On an error, or a second signal, the server is left behind with the loop.
    await service.run(lambda: STOP.requested or serving.done())
    server.should_exit = True
    await serving
