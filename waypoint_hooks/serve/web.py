"""The status service over HTTP (DESIGN §14): a Starlette application on uvicorn.

The routes are a table of small endpoints (:func:`routes`), each asking the service through
its one view of it, :class:`StatusView`; who may write is the guard on the routes that write,
and query values are read by one parser each. Routes: ``GET /`` and ``GET /apps/{app}`` (the
page), ``GET /api/status``, ``GET /api/apps/{app}/history``, ``GET /api/apps/{app}/uptime``
(uptime per hour or day over a long history), ``POST /api/apps/{app}/check``,
``POST /api/apps/{app}/reports`` (a report from outside, DESIGN §20), ``GET /metrics``,
``GET /healthz``, ``GET /api/alerts`` (the document of ``alerts --json``),
``GET /api/cluster`` (the instances on the state, DESIGN §16), ``GET`` and ``POST
/api/silences`` and ``DELETE /api/silences/{id}`` (DESIGN §15), the badges under ``/badges``,
``POST /apps/{app}/check`` (the page's check-now button), ``POST /sign-in`` (the read token's
form, :mod:`.access`), and the page's stylesheet and script under ``/static``. Who may read is
the guard around them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import html
import ipaddress
import json
import logging
import math
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Final, Protocol, final

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from ..checking.uptime import read_span
from ..errors import (
    NoLiveVersionError,
    ReportDecodeError,
    ReportRefusedError,
    StateError,
    UnknownAppError,
    UsageError,
)
from ..model.durations import Duration, longer_than_zero
from ..plugins.components import TargetKind
from ..plugins.signals import STOP, Interrupted
from ..plugins.workers import run_abandoning
from .access import Access
from .connections import guarded
from .guards import LoopbackHosts, Readers, Writers, error, foreign, secure
from .metrics import CONTENT_TYPE
from .readings import Readings
from .service import KINDS, StatusService
from .silences import Silences

__all__ = [
    "BADGES",
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
#: The badges of ``/badges/{app}/NAME.svg`` (Gatus' set).
BADGES: Final = ("health", "uptime-24h", "uptime-7d", "uptime-30d", "response-time")
#: The most reports or alerts one answer holds: an answer is one JSON document, made in memory.
LIMIT_CAP: Final = 1000
#: Reports pushed about one app: at most this many at once, then :data:`PUSH_RATE` a second
#: (a token bucket). A platform reports on an interval; a sender in a loop is told 429.
PUSH_BURST: Final = 10
PUSH_RATE: Final = 1.0
#: The media types of a report pushed as the SDK's protobuf message; any other is JSON (what
#: ``curl --data-binary`` sends unless told otherwise is not JSON's type).
_PROTOBUF_TYPES: Final = frozenset({"application/x-protobuf", "application/protobuf"})


class StatusView(Protocol):
    """What the routes ask of the status service (:class:`StatusService`), and all they may:
    never its scheduler, its checker or the state."""

    @property
    def running(self) -> bool: ...

    def health(self) -> dict[str, Any]: ...

    async def page(self, name: str | None = None, *, writer: bool = False) -> str: ...

    async def badge(self, name: str, which: str) -> str: ...

    async def status_document(self) -> dict[str, Any]: ...

    async def check_now(self, name: str) -> dict[str, Any]: ...

    @property
    def silences(self) -> Silences: ...

    @property
    def readings(self) -> Readings: ...

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


def application(view: StatusView, access: Access) -> ASGIApp:
    """The service's routes over ``view``, with the security headers on every answer; who
    may read and write is ``access``'s to say."""
    app = Starlette(
        routes=routes(access),
        exception_handlers={
            UnknownAppError: _unknown_app,
            _Refused: _refused,
            StateError: _unreachable,
            404: _not_found,
        },
    )
    app.state.view = view
    app.state.access = access
    app.state.pushes = _Bucket(PUSH_BURST, PUSH_RATE)
    guarded = Readers(app, access)
    return secure(LoopbackHosts(guarded) if access.loopback else guarded)


def routes(access: Access) -> list[BaseRoute]:
    """The routes table; each route that writes is behind :class:`Writers` (but the
    sign-in form, which is how a token is given)."""
    writes = [Middleware(Writers, access=access)]
    return [
        Route("/", index),
        Route("/apps/{app}", app_page),
        Route("/apps/{app}/check", check_from_page, methods=["POST"], middleware=writes),
        Route("/badges/{app}/{badge}.svg", badge),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/api/status", status),
        Route("/api/apps/{app}/history", history),
        Route("/api/apps/{app}/uptime", uptime),
        Route("/api/alerts", alerts),
        Route("/api/cluster", cluster),
        Route("/api/apps/{app}/check", check, methods=["POST"], middleware=writes),
        Route("/api/silences", silences),
        Route("/api/silences", silence, methods=["POST"], middleware=writes),
        Route("/api/silences/{id}", unsilence, methods=["DELETE"], middleware=writes),
        Route("/api/apps/{app}/reports", push, methods=["POST"], middleware=writes),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(packages=[("waypoint_hooks.serve", "status_page/static")])),
    ]


# --- the endpoints ------------------------------------------------------------------------


async def index(request: Request) -> Response:
    return HTMLResponse(await _view(request).page(writer=_access(request).may_write(request)))


async def app_page(request: Request) -> Response:
    writer = _access(request).may_write(request)
    return HTMLResponse(await _view(request).page(request.path_params["app"], writer=writer))


async def check_from_page(request: Request) -> Response:
    """The page's check-now button: check, then back to the app's page (a form's POST
    answered with a redirect, so that reloading the page does not check again)."""
    await check(request)
    return RedirectResponse(f"/apps/{request.path_params['app']}", status_code=303)


async def badge(request: Request) -> Response:
    which = request.path_params["badge"]
    if which not in BADGES:
        raise _Refused(404, f"no badge {which!r}; badges: {', '.join(BADGES)}")
    svg = await _view(request).badge(request.path_params["app"], which)
    return Response(svg, media_type="image/svg+xml")


async def sign_in(request: Request) -> Response:
    refusal = foreign(request)
    return refusal if refusal is not None else await _access(request).sign_in(request)


async def status(request: Request) -> Response:
    return JSONResponse(await _view(request).status_document())


async def history(request: Request) -> Response:
    name = request.path_params["app"]
    return JSONResponse(await _view(request).readings.history(name, _limit(request)))


async def uptime(request: Request) -> Response:
    query = request.query_params
    try:
        span = read_span(
            query.get("step"), query.get("from"), query.get("to"), datetime.now(timezone.utc)
        )
    except ValueError as exc:
        raise _Refused(400, str(exc)) from None
    return JSONResponse(await _view(request).readings.uptime(request.path_params["app"], span))


async def alerts(request: Request) -> Response:
    return JSONResponse(await _view(request).readings.alerts(_limit(request)))


async def cluster(request: Request) -> Response:
    return JSONResponse(await _view(request).readings.cluster())


async def check(request: Request) -> Response:
    view = _view(request)
    if not view.running:
        raise _Refused(503, "the service is stopping")
    return JSONResponse(await view.check_now(request.path_params["app"]))


async def silences(request: Request) -> Response:
    return JSONResponse(await _view(request).silences.document())


async def silence(request: Request) -> Response:
    app, kind, duration, comment = _silence_body(await _json_body(request))
    made_by = f"http client {request.client.host}" if request.client else "http client"
    try:
        made = await _view(request).silences.silence(app, kind, duration, comment, made_by)
    except UnknownAppError:
        # The app asked for, alone, as the other routes' 404 says it.
        raise _Refused(400, f"no app {app!r} is served") from None
    except UsageError as exc:
        raise _Refused(400, str(exc)) from None
    return JSONResponse(made, status_code=201)


async def unsilence(request: Request) -> Response:
    text = request.path_params["id"]
    # Digits only, and few enough for a database's integer.
    id = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    lifted = None if id is None else await _view(request).silences.unsilence(id)
    if lifted is None:
        return error(404, f"no silence {text!r}")
    return JSONResponse(lifted)


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
        return error(429, message, {"Retry-After": retry})
    data = await _body(
        request,
        limit,
        f"the report is over {limit} bytes, the limit of a report of this app "
        "(max_report_bytes in its status block); nothing stored",
    )
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


def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


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


#: The most a request's body may hold (bytes): a silence is a few short fields.
BODY_CAP: Final = 8192
_SILENCE_FIELDS: Final = ("app", "kind", "for", "comment")


async def _json_body(request: Request) -> object:
    """The request's body: a JSON document of at most :data:`BODY_CAP` bytes."""
    body = await _body(request, BODY_CAP, f"the body is longer than {BODY_CAP} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # not UTF-8 either; nested past counting
        raise _Refused(400, f"the body is not JSON: {exc}") from None


def _silence_body(body: object) -> tuple[str, TargetKind | None, float, str]:
    """``{"app": …, "kind": …, "for": "2h", "comment": …}``: ``kind`` and ``comment`` may
    be left out; ``for`` is a duration as the config file writes them."""
    if not isinstance(body, dict):
        raise _Refused(400, 'the body must be a JSON object such as {"app": "web", "for": "2h"}')
    unknown = [key for key in body if key not in _SILENCE_FIELDS]
    if unknown:
        fields = ", ".join(_SILENCE_FIELDS)
        raise _Refused(400, f"unknown field {unknown[0]!r}; a silence has {fields}")
    app, kind, comment = body.get("app"), body.get("kind"), body.get("comment", "")
    if not isinstance(app, str):
        raise _Refused(400, '"app" must be the name of an app served, as a string')
    if kind not in (None, "deployment", "release"):
        raise _Refused(400, '"kind" must be "deployment", "release" or null (both)')
    if not isinstance(comment, str):
        raise _Refused(400, '"comment" must be a string')
    if "for" not in body:
        raise _Refused(400, '"for" is missing: how long, such as "2h"')
    try:
        duration = Duration(body["for"])
        longer_than_zero('"for"', duration)
    except (TypeError, ValueError) as exc:
        raise _Refused(400, str(exc)) from None
    return app, kind, float(duration), comment


def _kind(request: Request) -> TargetKind:
    """``?kind=deployment|release``; ``deployment`` when not given."""
    kind = request.query_params.get("kind", "deployment")
    for known in KINDS:
        if kind == known:
            return known
    raise _Refused(400, f"kind must be deployment or release; got {kind!r}")


async def _body(request: Request, limit: int, too_long: str) -> bytes:
    """The request's body, up to ``limit`` bytes: a longer one is refused with 413, saying
    ``too_long``, as soon as that shows (by its ``Content-Length``, before any is read)."""
    refusal = _Refused(413, too_long)
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


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Refused)
    return error(exc.status, exc.message)


async def _unknown_app(request: Request, exc: Exception) -> Response:
    # The app asked for, alone: a 404 anyone may ask for must not list the apps served.
    return _missing(request, f"no app {request.path_params.get('app', '')!r} is served")


async def _unreachable(request: Request, exc: Exception) -> Response:
    return error(503, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _missing(request, f"no page {request.url.path!r}")


def _missing(request: Request, message: str) -> Response:
    """A 404: JSON for the API, a page for a person."""
    if request.url.path.startswith("/api/"):
        return error(404, message)
    shown = html.escape(message)
    return HTMLResponse(
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Not found</title>'
        f'<h1>Not found</h1><p>{shown}.</p><p><a href="/">All apps</a></p></html>',
        status_code=404,
    )


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


def serve(service: StatusService, listener: Listener, access: Access) -> None:
    """Serve until a stop signal, then let the running checks end and store their reports."""
    logging.getLogger("uvicorn.error").addFilter(_quiet_about_interrupted)
    config = uvicorn.Config(
        application(service, access),
        log_config=None,  # uvicorn's records go where the command sends every log record
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        http=guarded(service.limits),
    )
    # What start-up made (modules, the config, every app's row) lives as long as the process:
    # out of the collector's sight, a full collection, which holds the GIL and with it the
    # event loop, goes over what the checks made since, not over all of it. Start-up's
    # garbage is collected first, or it would be kept for good.
    gc.collect()
    gc.freeze()
    try:
        run_abandoning(_run(service, _Server(config), listener))
    finally:
        service.close()


async def _run(service: StatusService, server: uvicorn.Server, listener: Listener) -> None:
    serving = asyncio.ensure_future(server.serve(sockets=[listener.socket]))
    # On an error, or a second signal, the server is left behind with the loop.
    await service.run(lambda: STOP.requested or serving.done())
    server.should_exit = True
    await serving
