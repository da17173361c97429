"""A real HTTP server on 127.0.0.1 for the plugins' tests, answering each way a probe meets.

Every request's path and headers are kept in ``requests``.

| path             | answer                                                                |
|------------------|-----------------------------------------------------------------------|
| `/ok`            | 200                                                                   |
| `/unavailable`   | 503                                                                   |
| `/slow`          | 200, once the server stops (far beyond any probe's timeout)           |
| `/gate`          | 200 once `gate` requests are in flight together (or after 20 s)       |
| `/redirect-file` | 302 to `file:///etc/passwd`                                           |
| `/redirect-ok`   | 302 to `/ok`                                                          |
| `/close`         | the connection closed without an answer                               |
| `/reset`         | the connection reset (or closed) without an answer                    |
| `/token`         | 200 with `?access_token=` the server's `token`, else 401              |

POSTs (a notifier's) are kept in ``posts`` as they arrive, with their headers and body:

| path             | answer                                                                |
|------------------|-----------------------------------------------------------------------|
| `/hook`          | 200                                                                   |
| `/error`         | 500                                                                   |
| `/flaky`         | 500 while `failures` is above 0 (each one counts it down), then 200   |
| `/hang`          | 200 once the server stops (or `released` is set)                      |

With ``serving(tls=True)`` it speaks HTTPS, as ``localhost`` and ``127.0.0.1``, with the
certificate in ``tests/tls/localhost.pem``, which the test CA ``tests/tls/ca.pem`` signed
(both good until 2126; made with ``openssl req -x509`` and ``openssl x509 -req``, P-256 keys).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

#: How long /gate waits for company before it answers alone.
GATE_WAIT: Final = 20.0
#: The CA that signed the certificate of ``serving(tls=True)``.
TEST_CA: Final = Path(__file__).with_name("tls") / "ca.pem"


class LoopbackServer(ThreadingHTTPServer):
    """The server; ``url(path)`` is where to reach ``path`` on it."""

    daemon_threads = True
    # Requests held by /slow end when the server stops; nothing else needs waiting for.
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stopping = threading.Event()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        #: How many POSTs to /flaky fail before one succeeds.
        self.failures = 0
        #: Lets the POSTs /hang holds be answered.
        self.released = threading.Event()
        #: How many requests /gate lets through together.
        self.gate = 2
        #: What /token wants as its access_token.
        self.token = "s3cr3t-query-token"
        self.in_flight = 0
        self.most_in_flight = 0
        self.changed = threading.Condition()
        self.scheme = "http"

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        self.server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
        answer = _ANSWERS.get(path)
        if answer is None:
            self._answer(404)
        else:
            answer(self)

    def do_POST(self) -> None:
        path = self.path.partition("?")[0]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.changed:
            self.server.posts.append((path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.server.changed.notify_all()
        if path == "/hang":
            while not (self.server.stopping.is_set() or self.server.released.wait(0.05)):
                pass
        elif path == "/error" or (path == "/flaky" and self._fail_once()):
            self._answer(500)
            return
        self._answer(200 if path in ("/hook", "/flaky", "/hang") else 404)

    def _fail_once(self) -> bool:
        with self.server.changed:
            failing = self.server.failures > 0
            self.server.failures -= failing
            return failing

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean

    def _answer(self, status: int, location: str = "") -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def ok(self) -> None:
        self._answer(200)

    def unavailable(self) -> None:
        self._answer(503)

    def slow(self) -> None:
        self.server.stopping.wait()
        self._answer(200)

    def gate(self) -> None:
        server = self.server
        with server.changed:
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
            server.changed.notify_all()
            server.changed.wait_for(lambda: server.most_in_flight >= server.gate, GATE_WAIT)
            server.in_flight -= 1
        self._answer(200)

    def token(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        given = parse_qs(urlsplit(self.path).query).get("access_token")
        self._answer(200 if given == [self.server.token] else 401)

    def redirect_file(self) -> None:
        self._answer(302, "file:///etc/passwd")

    def redirect_ok(self) -> None:
        self._answer(302, "/ok")

    def close(self) -> None:
        self.close_connection = True

    def reset(self) -> None:
        # Linger on, for no time: close() sends a reset instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


_ANSWERS: Final[dict[str, Callable[[_Handler], None]]] = {
    "/ok": _Handler.ok,
    "/unavailable": _Handler.unavailable,
    "/slow": _Handler.slow,
    "/gate": _Handler.gate,
    "/redirect-file": _Handler.redirect_file,
    "/redirect-ok": _Handler.redirect_ok,
    "/close": _Handler.close,
    "/reset": _Handler.reset,
    "/token": _Handler.token,
}


@contextlib.contextmanager
def serving(tls: bool = False) -> Iterator[LoopbackServer]:
    """A running server, stopped (with every request it holds released) on exit; over HTTPS
    with ``tls``."""
    server = LoopbackServer()
    if tls:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(Path(__file__).with_name("tls") / "localhost.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.scheme = "https"
    # A short poll interval: shutdown() waits for the serving loop's next look.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="loopback-http", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connections are refused: bound, so that nothing else takes
    it while the test runs, but not listening."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
