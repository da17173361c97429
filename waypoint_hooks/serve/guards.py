"""The guards around the service's routes: who may read (:class:`Readers`, the read token),
who may write (:class:`Writers`, the write token or a loopback listener, never another site's
page), which ``Host`` a loopback listener answers (:class:`LoopbackHosts`, DNS rebinding), and
the security headers on every response (:func:`secure`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Final, final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .access import Access, sign_in_page

__all__ = ["LoopbackHosts", "Readers", "Writers", "error", "foreign", "secure"]


#: The page and everything else: no script but the page's own, nothing from elsewhere.
_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    # Not no-referrer: with it a browser sends a form's POST with "Origin: null", which the
    # write guard must refuse as another site's.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


@final
class LoopbackHosts:
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
                answer = error(421, f"this service answers to localhost only, not {host!r}")
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
class Readers:
    """The guard of reading: with a read token, every request but ``GET /healthz``, the
    sign-in form and the page's static files (and the badges, when they are public) must
    show a token (:class:`Access`). Refused, the API answers 401 in JSON, a page the sign-in
    form."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self._app = app
        self._access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._open(scope["path"]):
            request = Request(scope)
            if not self._access.may_read(request):
                await self._refusal(request)(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _open(self, path: str) -> bool:
        if not self._access.guards_reading or path in ("/healthz", "/sign-in"):
            return True
        if path.startswith("/static/"):
            return True
        return self._access.public_badges and path.startswith("/badges/")

    @staticmethod
    def _refusal(request: Request) -> Response:
        path = request.url.path
        if path.startswith(("/api/", "/metrics", "/badges/")) or request.method != "GET":
            return error(401, "reading needs the read token", {"WWW-Authenticate": "Bearer"})
        query = request.url.query
        return sign_in_page(f"{path}?{query}" if query else path)


def foreign(request: Request) -> Response | None:
    """A refusal of a write whose ``Origin`` is another site (a page in a browser)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return error(403, f"a {request.method} from another site ({origin}) is refused")
    return None


@final
class Writers:
    """The guard of the routes that write: who may. The write token (a Bearer header, or the
    session of a sign-in with it) when there is one; without one, anyone on this machine,
    when the service listens on a loopback address only. A write whose ``Origin`` is another
    site is refused either way."""

    def __init__(self, app: ASGIApp, *, access: Access) -> None:
        self._app = app
        self._access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(Request(scope))
        if refusal is None:
            await self._app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        refusal = foreign(request)
        if refusal is not None or self._access.may_write(request):
            return refusal
        if not self._access.guards_writing:
            return error(
                403,
                f"{request.method} is refused on a service that listens beyond this machine "
                "without a token: start it with --token",
            )
        return error(
            401,
            f"{request.method} needs Authorization: Bearer TOKEN",
            {"WWW-Authenticate": "Bearer"},
        )


def secure(app: ASGIApp) -> ASGIApp:
    """``app``, with the security headers on every response."""

    async def secured(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await app(scope, receive, send_secured)

    return secured
