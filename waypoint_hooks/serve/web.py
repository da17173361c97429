"""The status service over HTTP (DESIGN §14): a Starlette application on uvicorn.

Routes: ``GET /`` and ``GET /apps/{app}`` (the page), ``GET /api/status``,
``GET /api/apps/{app}/history``, ``POST /api/apps/{app}/check``, ``GET /metrics``,
``GET /healthz``, ``GET /api/alerts`` (the document of ``alerts --json``), ``GET /api/cluster``
(the instances on the state, DESIGN §16), and the page's
stylesheet and script under ``/static``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import Final, final

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import UnknownAppError
from ..lifecycle.launcher import AppStatus
from ..plugins.signals import STOP, Interrupted
from ..plugins.workers import run_abandoning
from .metrics import CONTENT_TYPE
from .page import Page
from .service import StatusService

__all__ = ["TOKEN_ENV", "Listener", "application", "serve"]

#: Where the token for ``POST`` may be given instead of ``--token``.
TOKEN_ENV: Final = "WAYPOINT_HOOKS_TOKEN"
#: Reports ``GET /api/apps/{app}/history`` gives without ``?limit`` (as ``history`` does).
HISTORY_LIMIT: Final = 100
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
# How long the page waits before it fetches itself again, at most and at least (seconds).
_REFRESH: Final = (1.0, 10.0)


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


def _secure(app: ASGIApp) -> ASGIApp:
    """``app``, with the security headers on every response."""

    async def secured(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await app(scope, receive, send_secured)

    return secured


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def application(
    service: StatusService, page: Page, listener: Listener, token: str | None
) -> ASGIApp:
    """The service's routes. ``POST`` needs ``Authorization: Bearer TOKEN`` when there is a
    token; without one it is refused unless the listener is on a loopback address. A
    ``POST`` whose ``Origin`` is another site (a page in a browser) is always refused."""

    def refusal(request: Request) -> Response | None:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return _error(403, f"a POST from another site ({origin}) is refused")
        if token is None:
            if listener.loopback:
                return None
            return _error(
                403,
                "POST is refused on a service that listens beyond this machine without a "
                "token: start it with --token",
            )
        given = request.headers.get("authorization", "").encode("utf-8")
        if hmac.compare_digest(given, f"Bearer {token}".encode()):
            return None
        return _error(401, "POST needs Authorization: Bearer TOKEN", {"WWW-Authenticate": "Bearer"})

    async def index(request: Request) -> Response:
        await service.refresh()
        return await render(service.rows())

    async def app_page(request: Request) -> Response:
        name = request.path_params["app"]
        service.served(name)
        await service.refresh()
        return await render([row for row in service.rows() if row.app == name])

    async def render(rows: Sequence[AppStatus]) -> Response:
        intervals = [float(app.status.interval) for app in service.apps()]
        refresh = min([*intervals, _REFRESH[1]])
        # Off the event loop: uptime is counted over weeks of stored reports.
        text = await asyncio.to_thread(
            page.render,
            service.project.name,
            rows,
            refresh=max(refresh, _REFRESH[0]),
            config_error=service.config_error,
        )
        return HTMLResponse(text)

    async def status(request: Request) -> Response:
        await service.refresh()
        return JSONResponse(service.status_document())

    def limit(request: Request) -> int | Response:
        text = request.query_params.get("limit", str(HISTORY_LIMIT))
        if not text.isdigit() or int(text) < 1:
            return _error(400, f"limit must be a whole number, 1 or more; got {text!r}")
        return int(text)

    async def history(request: Request) -> Response:
        count = limit(request)
        if isinstance(count, Response):
            return count
        name = request.path_params["app"]
        return JSONResponse(await asyncio.to_thread(service.history_document, name, count))

    async def alerts(request: Request) -> Response:
        count = limit(request)
        if isinstance(count, Response):
            return count
        return JSONResponse(await asyncio.to_thread(service.alerts_document, count))

    async def cluster(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(service.cluster_document))

    async def check(request: Request) -> Response:
        refused = refusal(request)
        if refused is not None:
            return refused
        if not service.scheduler.running:
            return _error(503, "the service is stopping")
        return JSONResponse(await service.check_now(request.path_params["app"]))

    async def unknown_app(request: Request, exc: Exception) -> Response:
        return _error(404, str(exc))

    async def metrics(request: Request) -> Response:
        # Off the event loop: the alerts' counts are read from the state.
        text = await asyncio.to_thread(service.metrics.exposition)
        return Response(text, media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        running = service.scheduler.running
        lags = sorted(service.scheduler.lags)
        return JSONResponse(
            {
                "scheduler": "running" if running else "stopped",
                "apps": len(service.apps()),
                "checking": service.scheduler.checking,
                "lag_seconds": {
                    "p50": _quantile(lags, 0.5),
                    "p99": _quantile(lags, 0.99),
                    "max": lags[-1] if lags else None,
                },
                "config_error": service.config_error,
            },
            status_code=200 if running else 503,
        )

    routes = [
        Route("/", index),
        Route("/apps/{app}", app_page),
        Route("/api/status", status),
        Route("/api/apps/{app}/history", history),
        Route("/api/alerts", alerts),
        Route("/api/cluster", cluster),
        Route("/api/apps/{app}/check", check, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(packages=[("waypoint_hooks.serve", "status_page/static")])),
    ]
    return _secure(Starlette(routes=routes, exception_handlers={UnknownAppError: unknown_app}))


def _quiet_about_interrupted(record: logging.LogRecord) -> bool:
    """uvicorn logs what a request's handler raised; a second stop signal that landed there
    is no error of the request's (the service stops at once, saying so in one line)."""
    return not (record.exc_info and isinstance(record.exc_info[1], Interrupted))


def _quantile(ordered: Sequence[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the stop signals to the command (DESIGN §12): the first
    stops the checks and then this server, a second stops at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(service: StatusService, listener: Listener, token: str | None) -> None:
    """Serve until a stop signal, then let the running checks end and store their reports."""
    page = Page(service.launcher.state, service.workspace)
    logging.getLogger("uvicorn.error").addFilter(_quiet_about_interrupted)
    config = uvicorn.Config(
        application(service, page, listener, token),
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
