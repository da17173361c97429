"""Real endpoints on 127.0.0.1 for the probes' tests (``http``'s conditions, ``tcp``): an HTTP
server answering each path with what a test put in ``pages``, over TLS with a certificate made
by trustme as a test wants it (valid, about to expire, expired, from a CA nobody trusts).

| path       | answer                                                                       |
|------------|------------------------------------------------------------------------------|
| in `pages` | its status and body, with a Content-Length                                   |
| `/held`    | 200 once `released` is set, or after `HOLD` seconds: always slower than that |
| `/endless` | 200 and a chunked body that goes on until the client hangs up                |
| any other  | 404                                                                          |
"""

from __future__ import annotations

import contextlib
import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import attrs
import trustme

from waypoint_hooks import StatusReport
from waypoint_hooks.testing import PluginHarness

#: How long /held holds an answer unless released: far above any max_response_time a test
#: sets, so that the probe is slower than that on any machine.
HOLD: Final = 0.5


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        #: Each path's status and body.
        self.pages: dict[str, tuple[int, bytes]] = {}
        self.released = threading.Event()
        self.stopping = threading.Event()
        self.scheme = "http"

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_port}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refused the certificate hung up: what the test is about

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_port}"


class _Handler(BaseHTTPRequestHandler):
    server: EndpointServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/held":
            self.server.released.wait(HOLD)
            self._answer(200, b"held")
        elif self.path == "/endless":
            self._endless()
        else:
            self._answer(*self.server.pages.get(self.path, (404, b"")))

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"ok " * 1000
        with contextlib.suppress(OSError):
            while not self.server.stopping.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@attrs.frozen
class Certificates:
    """A CA of the tests' own, whose PEM is ``ca_file``, and one that nobody trusts."""

    ca: trustme.CA
    ca_file: Path
    stranger: trustme.CA

    def issue(self, *, days: float = 365, untrusted: bool = False) -> trustme.LeafCert:
        """A certificate for 127.0.0.1 that expires in ``days`` (expired, when below 0)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        issuer = self.stranger if untrusted else self.ca
        return issuer.issue_cert(
            "127.0.0.1",
            "localhost",
            common_name="probe.test",
            not_before=now - datetime.timedelta(days=30),
            not_after=now + datetime.timedelta(days=days),
        )


def adopted(plugins: PluginHarness, plugin: str, config: dict[str, Any]) -> StatusReport:
    """The status report of what ``plugin``, as a platform, adopts with ``config``."""
    deployment = plugins.platform_deploy(plugin, config)
    return plugins.platform_status(plugin, config, deployment=deployment)


def certificates(directory: Path) -> Certificates:
    """A CA of the test's own, its PEM written in ``directory``, and one nobody trusts."""
    ca = trustme.CA(organization_name="Probe Test CA")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(ca, ca_file, trustme.CA())


@contextlib.contextmanager
def endpoint(certificate: trustme.LeafCert | None = None) -> Iterator[EndpointServer]:
    """A running server, over TLS with ``certificate``; stopped on exit."""
    server = EndpointServer()
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certificate.configure_cert(context)
        # The handshake is made in the handler's thread, not in accept(): a client that
        # fails it does not stop the server.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        server.scheme = "https"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join()
