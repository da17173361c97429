"""Who may read and who may write (DESIGN §14): the write token (``--token``), the read token
(``--read-token``), and the session cookie the sign-in form sets for a browser.

A request shows a token as ``Authorization: Bearer TOKEN`` or through the cookie. The cookie
is never the token: it is an HMAC of it under a key this process made at its start, so a
cookie says nothing of the token, and every cookie ends when the service does. Tokens are
compared in constant time. The write token may read too.

The sign-in form is where a token could be guessed, so wrong tokens are limited by client
address: a bucket of :data:`SIGN_IN_BURST` tries each, one more every :data:`SIGN_IN_EVERY`
seconds; an empty bucket is answered 429 with ``Retry-After``, whatever the token, until a try
comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Literal, final
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

__all__ = ["COOKIE", "READ_TOKEN_ENV", "SIGN_IN_BURST", "SIGN_IN_EVERY", "Access", "Attempts"]

#: Where the read token may be given instead of ``--read-token``.
READ_TOKEN_ENV: Final = "WAYPOINT_HOOKS_READ_TOKEN"
#: The session cookie's name.
COOKIE: Final = "waypoint_hooks_session"
#: The most a sign-in form's body may hold: a token and where to go next.
_FORM_BYTES: Final = 4096
#: Wrong tokens a client address may give the sign-in form in a row, and how many seconds
#: until it may give one more.
SIGN_IN_BURST: Final = 10
SIGN_IN_EVERY: Final = 6.0
#: The most client addresses whose wrong tries are remembered: the least recent are forgotten
#: first (given their whole bucket back), so that many addresses cannot fill the memory.
_CLIENTS: Final = 10_000

Role = Literal["read", "write"]


@final
class Attempts:
    """The wrong sign-ins of each client address, as a token bucket: :data:`SIGN_IN_BURST`
    tries, each wrong token takes one, and one comes back every :data:`SIGN_IN_EVERY`
    seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # By address: the tries left, and when that was so.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _left(self, address: str) -> float:
        left, at = self._buckets.get(address, (SIGN_IN_BURST, self._clock()))
        return min(float(SIGN_IN_BURST), left + (self._clock() - at) / SIGN_IN_EVERY)

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try a token again; 0 when it may now."""
        return max(0.0, (1 - self._left(address)) * SIGN_IN_EVERY)

    def failed(self, address: str) -> None:
        """``address`` gave a wrong token."""
        self._buckets[address] = (self._left(address) - 1, self._clock())
        self._buckets.move_to_end(address)
        while len(self._buckets) > _CLIENTS:
            self._buckets.popitem(last=False)


@final
class Access:
    """The tokens of a service, and what a request may do with what it shows."""

    def __init__(
        self,
        *,
        token: str | None = None,
        read_token: str | None = None,
        loopback: bool = True,
        public_badges: bool = False,
    ) -> None:
        self.loopback = loopback
        self.public_badges = public_badges
        self._tokens: dict[Role, bytes] = {}
        if token is not None:
            self._tokens["write"] = token.encode()
        if read_token is not None:
            self._tokens["read"] = read_token.encode()
        self._key = secrets.token_bytes(32)
        self._attempts = Attempts()

    @property
    def guards_reading(self) -> bool:
        return "read" in self._tokens

    @property
    def guards_writing(self) -> bool:
        return "write" in self._tokens

    def _session(self, role: Role) -> str:
        return hmac.new(
            self._key, role.encode() + b"\0" + self._tokens[role], hashlib.sha256
        ).hexdigest()

    def _shown(self, request: Request) -> set[Role]:
        """The roles whose token (or session) ``request`` shows."""
        bearer = request.headers.get("authorization", "").encode("utf-8")
        cookie = request.cookies.get(COOKIE, "").encode("utf-8")
        shown: set[Role] = set()
        for role, token in self._tokens.items():
            # Every role compared, in constant time: how much of a guess matched must not
            # show in how long the answer took.
            by_header = hmac.compare_digest(bearer, b"Bearer " + token)
            by_cookie = hmac.compare_digest(cookie, self._session(role).encode())
            if by_header or by_cookie:
                shown.add(role)
        return shown

    def may_read(self, request: Request) -> bool:
        return not self.guards_reading or bool(self._shown(request))

    def may_write(self, request: Request) -> bool:
        """Whether ``request`` may write (its ``Origin`` is the write guard's to judge)."""
        if not self.guards_writing:
            return self.loopback
        return "write" in self._shown(request)

    def role_of(self, token: str) -> Role | None:
        """The role of a token given in the sign-in form, or ``None`` for a wrong one."""
        found: Role | None = None
        for role, expected in self._tokens.items():
            if hmac.compare_digest(token.encode("utf-8"), expected):
                found = role
        return found

    async def sign_in(self, request: Request) -> Response:
        """``POST /sign-in``: the form's token; a session cookie and back where the reader
        was, or the form again."""
        body = await request.body()
        fields = parse_qs(body[:_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=4)
        given = fields.get("token", [""])[0]
        after = _local(fields.get("next", ["/"])[0])
        address = request.client.host if request.client is not None else ""
        wait = self._attempts.wait(address)
        if wait > 0:
            # Not even compared: a guess made while limited says nothing.
            retry = math.ceil(wait)
            problem = f"Too many wrong tokens from your address: try again in {retry} s."
            return sign_in_page(after, problem, 429, retry_after=retry)
        role = self.role_of(given)
        if role is None:
            self._attempts.failed(address)
            return sign_in_page(after, "That token is not one this service takes.", 401)
        answer = RedirectResponse(after, status_code=303)
        answer.set_cookie(
            COOKIE,
            self._session(role),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer


def _local(path: str) -> str:
    """A path on this service to go back to after signing in; ``/`` for anything else (an
    address elsewhere would make the form a redirector)."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def sign_in_page(
    after: str, problem: str | None = None, status: int = 401, *, retry_after: int | None = None
) -> Response:
    """The sign-in form, which returns to ``after``; ``retry_after``: the seconds a client
    limited must wait (``Retry-After``)."""
    headers = {"WWW-Authenticate": "Bearer"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    said = "" if problem is None else f'<p class="problem" role="alert">{html.escape(problem)}</p>'
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Sign in · waypoint-hooks</title>"
        '<link rel="stylesheet" href="/static/status.css"></head><body><main>'
        "<h1>Sign in</h1><p>This status service needs its read token (or its write token) "
        "to be read.</p>"
        f'{said}<form method="post" action="/sign-in" class="sign-in">'
        f'<input type="hidden" name="next" value="{html.escape(after)}">'
        '<label for="token">Token</label> '
        '<input id="token" name="token" type="password" autocomplete="current-password" '
        "required> "
        '<button type="submit">Sign in</button></form></main></body></html>',
        status_code=status,
        headers=headers,
    )
