"""The one HTTP/1.1 client of the builtins that speak HTTP: ``http``'s probes, ``process``'s
``ready_http``, ``webhook``'s POSTs and ``supervisor``'s XML-RPC.

:class:`AsyncClient` speaks on asyncio streams, for hooks that run on the event loop: a request
that times out, or whose check is cancelled, stops there, with no thread blocked in a socket.
:class:`Client` speaks on blocking sockets, for sync hooks, which run in worker threads: a
quarter of the CPU of an event loop made for each call (docs/reliability.md: B10). Both write
the request and read the answer through the same code, and each request ends by its deadline
as a whole, not only each read: a server that answers a byte at a time holds no probe, nor
any thread, past it. (Looking a host name up is the system resolver's, within its own
timeouts: a sync request waits for it.)

Every failure to get an answer is an ``OSError``, as the socket module's own are: a
``TimeoutError("timed out")`` at the deadline, :class:`ProtocolError` for an answer that is not
HTTP. No message quotes a header or the URL asked (only where a redirect would have led): the
callers say which request failed, redacted, or, as ``webhook``, whose URL is itself a secret,
not at all. One module, over 400 lines, because it is one protocol: the two clients are thin
drivers of the request writer and answer reader they share.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import attrs

from waypoint_hooks import __version__

from ._urls import url_problem

if TYPE_CHECKING:
    import ssl
    from urllib.parse import SplitResult

__all__ = [
    "AsyncClient",
    "Client",
    "ProtocolError",
    "Request",
    "Response",
    "describe",
    "tls_context",
]

_T = TypeVar("_T")

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
#: Bytes asked of the socket at a time.
_CHUNK: Final = 65536
#: The longest line of an answer's head, as asyncio's streams take by default.
_MAX_LINE: Final = 65536
_MAX_HEADER_LINES: Final = 100
#: The most of a body that is read: supervisord's process list for thousands of processes
#: fits many times over.
_MAX_BODY: Final = 16 * 1024 * 1024
#: How much of a text from the server (a reason, a line, a redirect's target) is quoted.
_QUOTED: Final = 200
# A chunk's size, in hexadecimal (up to 2**64, as nobody sends more).
_CHUNK_SIZE: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
# "HTTP/1.1 200 OK": the version, a three-digit code and the (optional) reason phrase.
_STATUS_LINE: Final = re.compile(rb"HTTP/\d(?:\.\d)? ([1-5]\d\d)(?: ([^\r\n]*))?\r?\n?")
# Characters left as they are when a URL's path and query are quoted for the request line:
# the reserved ones, and "%" so that what is escaped already stays so.
_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"


class ProtocolError(ConnectionError):
    """The server took the connection but did not answer with HTTP this client reads: an
    ``OSError`` like every other failure, as ``http.client``'s ``RemoteDisconnected`` is."""


@attrs.frozen
class Request:
    """What to ask: ``method url``, with ``headers`` (beside the client's own: Host,
    User-Agent, Accept, Connection, Content-Length) and ``body``."""

    method: str
    #: An http:// or https:// URL with a host.
    url: str
    #: Each replaces the client's header of the same name, whatever its case.
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    #: Whether the answer's body is read (up to 16 MiB); its status line and headers are.
    read_body: bool = False
    #: The most of the body kept: one longer is cut there (``Response.truncated``) and the
    #: rest of it left unread, instead of refused past 16 MiB.
    body_limit: int | None = None
    #: Connect to this unix socket instead of the URL's host, which then only names the host
    #: in the Host header (supervisord's socket).
    unix_socket: str | None = None


@attrs.frozen
class Response:
    """An answer: its status line and headers, and its body when it was asked for."""

    #: The URL that answered: the one asked, or where its redirects led.
    url: str
    status: int
    #: The reason phrase, cut to a length a message can carry.
    reason: str
    #: By lower-cased name; repeated headers joined with ", ".
    headers: Mapping[str, str]
    body: bytes
    #: The address of the socket that answered (host, port); ``None`` over a unix socket.
    peer: tuple[str, int] | None
    #: Why the redirect this answer gives was not followed; empty when none was to be.
    not_followed: str = ""
    #: Whether the body was cut at the request's ``body_limit``.
    truncated: bool = False
    #: The server's certificate, as ``ssl.SSLSocket.getpeercert()`` gives it: over verified
    #: TLS only (unverified, its fields are not read).
    certificate: Mapping[str, Any] | None = None


def describe(error: OSError) -> str:
    """What went wrong, in the words of a health message: "connection refused", "no answer"…"""
    import ssl

    if isinstance(error, TimeoutError):
        return "no answer"
    if isinstance(error, socket.gaierror):
        return f"the host name does not resolve ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ProtocolError):
        return str(error)
    if isinstance(error, ConnectionError):
        return "connection reset"
    if isinstance(error, ssl.SSLCertVerificationError):
        # "certificate has expired", "unable to get local issuer certificate"…
        return f"TLS failed ({error.verify_message or error.reason})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or type(error).__name__})"
    return error.strerror or str(error) or type(error).__name__


def _quoted(text: str) -> str:
    """``text`` from the server, cut to a length a message can carry."""
    return text if len(text) <= _QUOTED else f"{text[:_QUOTED]}..."


class _Base:
    """What both clients share: the TLS context of their requests, made on first use, since
    loading the CA certificates is slow and most requests are plain HTTP."""

    def __init__(self, *, verify_tls: bool = True, ca_file: str | None = None) -> None:
        self._verify = verify_tls
        self._ca_file = ca_file
        self._context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            # Read anew for each client, as each check makes one.
            self._context = tls_context(verify=self._verify, ca_file=self._ca_file)
        return self._context


def tls_context(*, verify: bool, ca_file: str | None = None) -> ssl.SSLContext:
    """A client's TLS context: the system's CA certificates (and those SSL_CERT_FILE and
    SSL_CERT_DIR name), or only those of ``ca_file`` (PEM), or, without ``verify``, no check
    of the certificate at all.

    A ``ca_file`` that cannot be read is a ``ValueError`` naming it: a setting to correct, not
    a failure of the server the request was for (which an ``OSError`` would say).
    """
    import ssl

    try:
        context = ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        raise ValueError(f"ca_file {ca_file!r} holds no PEM certificate ({exc.reason})") from None
    except OSError as exc:
        raise ValueError(f"ca_file {ca_file!r} cannot be read ({exc.strerror})") from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@final
class AsyncClient(_Base):
    """Requests on asyncio streams, several at once on one event loop."""

    async def fetch(self, request: Request, *, timeout: float, redirects: int = 0) -> Response:
        """The answer to ``request`` within ``timeout`` seconds, its redirects included.

        Up to ``redirects`` redirects are followed, each with the same request, and only to
        an http(s) URL with a host: any other target is reported in ``not_followed``. The
        request's headers go to its URL's own origin only: they may carry credentials.
        """
        try:
            return await asyncio.wait_for(self._follow(request, redirects), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("timed out") from None

    async def _follow(self, request: Request, redirects: int) -> Response:
        origin = _origin(request.url)
        answer = await self._exchange(request)
        for _ in range(redirects):
            target = _redirect(answer)
            if target is None:
                return answer
            if url_problem(target) is not None:
                # A file:// target, or one with credentials, is never fetched: the redirect
                # is the answer.
                return attrs.evolve(
                    answer, not_followed=f"redirect to {_quoted(target)} not followed"
                )
            headers = request.headers if _origin(target) == origin else {}
            answer = await self._exchange(attrs.evolve(request, url=target, headers=headers))
        if redirects and _redirect(answer) is not None:
            return attrs.evolve(answer, not_followed=f"stopped after {redirects} redirects")
        return answer

    async def _exchange(self, request: Request) -> Response:
        parts = _split(request.url)
        if request.unix_socket is not None:
            reader, writer = await asyncio.open_unix_connection(request.unix_socket)
        else:
            https = parts.scheme == "https"
            reader, writer = await asyncio.open_connection(
                parts.hostname, _port(parts), ssl=self._tls() if https else None
            )
        try:
            peer = writer.get_extra_info("peername")
            certificate = writer.get_extra_info("peercert")
            writer.write(_head(request, parts))
            await writer.drain()
            answer = _answer(request)
            try:
                next(answer)  # to its first read
                while True:
                    answer.send(await reader.read(_CHUNK))
            except StopIteration as done:
                return _response(request, done.value, peer, certificate)
        finally:
            # The answer is all that is wanted: no orderly close (nor TLS close_notify) to
            # wait on.
            writer.transport.abort()


@final
class Client(_Base):
    """Requests on blocking sockets, one at a time, for a sync hook's worker thread."""

    def fetch(self, request: Request, *, timeout: float) -> Response:
        """The answer to ``request`` within ``timeout`` seconds; a redirect is an answer."""
        deadline = time.monotonic() + timeout
        parts = _split(request.url)
        with self._connect(request, parts, deadline) as connection:
            peer = connection.getpeername()
            # Only a TLS socket has a certificate to give.
            certificate = getattr(connection, "getpeercert", lambda: None)()
            connection.settimeout(_left(deadline))
            connection.sendall(_head(request, parts))
            answer = _answer(request)
            try:
                next(answer)  # to its first read
                while True:
                    # Each wait ends by the deadline: the request's, not the read's.
                    connection.settimeout(_left(deadline))
                    answer.send(connection.recv(_CHUNK))
            except StopIteration as done:
                return _response(request, done.value, peer, certificate)

    def _connect(self, request: Request, parts: SplitResult, deadline: float) -> socket.socket:
        if request.unix_socket is not None:
            return _connected(socket.AF_UNIX, request.unix_socket, deadline)
        host = parts.hostname or ""
        connection = _tcp(host, _port(parts), deadline)
        if parts.scheme != "https":
            return connection
        try:
            connection.settimeout(_left(deadline))
            return self._tls().wrap_socket(connection, server_hostname=host)
        except BaseException:
            connection.close()
            raise


def _tcp(host: str, port: int, deadline: float) -> socket.socket:
    """A connection to the first address of ``host`` that takes one, all by ``deadline``
    (``socket.create_connection`` would give each address the whole time again)."""
    failure: OSError | None = None
    for family, _, _, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        try:
            return _connected(family, address, deadline)
        except OSError as exc:
            failure = exc
    raise failure or OSError(f"{host} has no address")


def _connected(family: int, address: str | tuple[object, ...], deadline: float) -> socket.socket:
    connection = socket.socket(family, socket.SOCK_STREAM)
    try:
        connection.settimeout(_left(deadline))
        connection.connect(address)
    except BaseException:
        connection.close()
        raise
    return connection


def _left(deadline: float) -> float:
    """Seconds until ``deadline``; a ``TimeoutError`` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _split(url: str) -> SplitResult:
    from urllib.parse import urlsplit

    return urlsplit(url)


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _origin(url: str) -> tuple[str, str | None, int]:
    parts = _split(url)
    return parts.scheme, parts.hostname, _port(parts)


def _redirect(answer: Response) -> str | None:
    """Where ``answer`` redirects to, made absolute; ``None`` when it is no redirect."""
    from urllib.parse import urljoin

    location = answer.headers.get("location")
    if answer.status not in _REDIRECTS or not location:
        return None
    return urljoin(answer.url, location)


def _head(request: Request, parts: SplitResult) -> bytes:
    """The request line and headers: the caller's replace the defaults of the same name
    (header names are case-insensitive: a configured "host" replaces "Host")."""
    from urllib.parse import quote

    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += f"?{quote(parts.query, safe=_SAFE)}"
    fields = {
        # The URL's host and port as written, without the userinfo a redirect may carry.
        "host": ("Host", parts.netloc.rpartition("@")[2]),
        "user-agent": ("User-Agent", f"waypoint-hooks/{__version__}"),
        "accept": ("Accept", "*/*"),
        "connection": ("Connection", "close"),
    }
    if request.body or request.method == "POST":
        fields["content-length"] = ("Content-Length", str(len(request.body)))
    fields.update({name.lower(): (name, value) for name, value in request.headers.items()})
    lines = [
        f"{request.method} {target} HTTP/1.1",
        *(f"{name}: {value}" for name, value in fields.values()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


# --- reading an answer ----------------------------------------------------------------------
#
# A reader is a generator that each client drives with what its socket gives: it yields when
# it needs more bytes and is sent them, b"" once the server has closed; its value is the
# answer. The two clients share it whole: only how bytes arrive differs between them.

_Reading = Generator[None, bytes, _T]
#: The status code, reason phrase, headers and body of an answer.
_Answer = tuple[int, str, dict[str, str], bytes]


def _response(
    request: Request, answer: _Answer, peer: object, certificate: Mapping[str, Any] | None
) -> Response:
    status, reason, headers, body = answer
    # IPv6 peers are (host, port, flowinfo, scope_id): the host and port say who answered;
    # a unix socket's peer is a path, not an address.
    address = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
    # A body read to its limit is one byte over it when there was more.
    limit = request.body_limit
    truncated = limit is not None and len(body) > limit
    return Response(
        request.url,
        status,
        reason,
        headers,
        body[:limit] if truncated else body,
        address,
        truncated=truncated,
        # Unverified, the certificate is an empty mapping: nothing of it was checked.
        certificate=certificate or None,
    )


def _answer(request: Request) -> _Reading[_Answer]:
    buffer = _Buffer()
    status, reason = _status_line((yield from buffer.line()))
    headers = yield from _headers(buffer)
    # Interim answers (100 Continue, 103 Early Hints) come before the one that counts.
    while 100 <= status < 200:
        status, reason = _status_line((yield from buffer.line()))
        headers = yield from _headers(buffer)
    if not request.read_body or status in (204, 304) or request.method == "HEAD":
        return status, reason, headers, b""
    # With a limit, one byte more than it is read, to tell a body cut there from one that
    # ends there; the rest is never read, the connection closed instead.
    most = None if request.body_limit is None else request.body_limit + 1
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return status, reason, headers, (yield from _chunked(buffer, most))
    length = headers.get("content-length")
    if length is None:
        return status, reason, headers, (yield from buffer.rest(most))
    if not (length.isascii() and length.isdigit()):
        raise ProtocolError(f"an invalid Content-Length: {_quoted(length)!r}")
    size = _bounded(int(length)) if most is None else min(int(length), most)
    return status, reason, headers, (yield from buffer.exactly(size))


def _status_line(line: bytes) -> tuple[int, str]:
    if not line:
        raise ProtocolError("connection closed without an answer")
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise ProtocolError(f"not an HTTP answer: {_quoted(line.decode('latin-1'))!r}")
    return int(match[1]), _quoted((match[2] or b"").decode("latin-1").strip())


def _headers(buffer: _Buffer) -> _Reading[dict[str, str]]:
    """The headers up to the blank line that ends them (or the end of the connection)."""
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = yield from buffer.line()
        if line.strip() == b"":
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise ProtocolError(f"more than {_MAX_HEADER_LINES} header lines")


def _chunked(buffer: _Buffer, most: int | None) -> _Reading[bytes]:
    """A chunked body, whole, or its first ``most`` bytes."""
    body = bytearray()
    while True:
        found = _CHUNK_SIZE.fullmatch((yield from buffer.line()).partition(b";")[0].strip())
        if found is None:
            raise ProtocolError("a chunked answer without its chunk size")
        size = int(found[0], 16)
        if size == 0:
            # Trailers, if any, are left unread: the connection is closed next.
            return bytes(body)
        if most is not None and len(body) + size >= most:
            body += yield from buffer.exactly(most - len(body))
            return bytes(body)
        body += yield from buffer.exactly(_bounded(len(body) + size) - len(body))
        yield from buffer.line()  # the CRLF that ends the chunk


def _bounded(size: int) -> int:
    """``size``, the length of a body, if it may be read."""
    if size > _MAX_BODY:
        raise ProtocolError(f"an answer longer than {_MAX_BODY} bytes")
    return size


@final
class _Buffer:
    """The bytes of an answer received and not yet read."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._closed = False

    def line(self) -> _Reading[bytes]:
        """The next line with its end; what is left (maybe nothing) once the server closed."""
        while (end := self._data.find(b"\n")) < 0 and not self._closed:
            if len(self._data) > _MAX_LINE:
                raise ProtocolError("an answer line too long to be HTTP")
            yield from self._more()
        taken = len(self._data) if end < 0 else end + 1
        return self._take(taken)

    def exactly(self, size: int) -> _Reading[bytes]:
        while len(self._data) < size:
            if self._closed:
                raise ProtocolError("the answer ended before its length")
            yield from self._more()
        return self._take(size)

    def rest(self, most: int | None) -> _Reading[bytes]:
        """Everything up to the end of the connection, or its first ``most`` bytes."""
        while not self._closed and (most is None or len(self._data) < most):
            if most is None:
                _bounded(len(self._data))
            yield from self._more()
        return self._take(len(self._data) if most is None else min(len(self._data), most))

    def _more(self) -> _Reading[None]:
        received = yield
        self._closed = not received
        self._data += received

    def _take(self, size: int) -> bytes:
        taken = bytes(self._data[:size])
        del self._data[:size]
        return taken
