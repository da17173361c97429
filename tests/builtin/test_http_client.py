"""The builtins' one HTTP client (``builtin_plugins._http``), both ways of it: ``AsyncClient``
on asyncio streams and ``Client`` on blocking sockets, against real servers on 127.0.0.1 (and
on a unix socket): what it sends, what it reads, and how each failure is told."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from helpers_http import TEST_CA, LoopbackServer, refusing_port, serving

from builtin_plugins._http import AsyncClient, Client, ProtocolError, Request, Response, describe

#: Generous: the suite must pass on a loaded two-core machine.
PATIENCE = 30.0


class Fetch(Protocol):
    """``Request(method, url, **fields)`` through a client, within ``timeout`` seconds."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        verify_tls: bool = True,
        timeout: float = PATIENCE,
        **fields: Any,
    ) -> Response: ...


@pytest.fixture(params=["AsyncClient", "Client"])
def fetch(request: pytest.FixtureRequest) -> Fetch:
    """A request through one client or the other."""

    def through_async(
        method: str, url: str, *, verify_tls: bool = True, timeout: float = PATIENCE, **fields: Any
    ) -> Response:
        client = AsyncClient(verify_tls=verify_tls)
        return asyncio.run(client.fetch(Request(method, url, **fields), timeout=timeout))

    def through_sync(
        method: str, url: str, *, verify_tls: bool = True, timeout: float = PATIENCE, **fields: Any
    ) -> Response:
        client = Client(verify_tls=verify_tls)
        return client.fetch(Request(method, url, **fields), timeout=timeout)

    return through_async if request.param == "AsyncClient" else through_sync


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serving() as running:
        yield running


#: What a scripted server does with a connection once it has read the request's head.
Script = Callable[[socket.socket], None]


def sends(answer: bytes) -> Script:
    return lambda connection: connection.sendall(answer)


@contextlib.contextmanager
def answering(script: Script, unix_socket: Path | None = None) -> Iterator[str]:
    """A server that answers every connection with ``script``, on 127.0.0.1 or on
    ``unix_socket``; its URL."""
    listener = socket.socket(socket.AF_UNIX if unix_socket else socket.AF_INET)
    listener.bind(str(unix_socket) if unix_socket else ("127.0.0.1", 0))
    listener.listen()

    def answer(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(65536)
            script(connection)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener closed: the test is over
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, name="scripted-http", daemon=True)
    thread.start()
    try:
        yield (
            "http://localhost/" if unix_socket else f"http://127.0.0.1:{listener.getsockname()[1]}/"
        )
    finally:
        # shutdown() wakes the accept() that close() alone would leave waiting.
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join()


def failure(fetch: Fetch, url: str, **options: Any) -> OSError:
    """The error of a GET of ``url``: every failure to get an answer is an ``OSError``."""
    try:
        fetch("GET", url, **options)
    except OSError as error:
        return error
    pytest.fail(f"{url} answered")


# --- the request --------------------------------------------------------------------------


def test_a_get_sends_host_agent_and_the_callers_headers(
    fetch: Fetch, server: LoopbackServer
) -> None:
    answer = fetch("GET", server.url("/ok?a=b"), headers={"Authorization": "Bearer t0ken"})
    assert (answer.status, answer.reason, answer.body) == (200, "OK", b"")
    ((path, headers),) = server.requests
    assert path == "/ok"
    assert headers["host"] == f"127.0.0.1:{server.server_port}"
    assert headers["user-agent"].startswith("waypoint-hooks/")
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["connection"] == "close"


def test_a_callers_header_replaces_a_default_of_any_case(
    fetch: Fetch, server: LoopbackServer
) -> None:
    fetch("GET", server.url("/ok"), headers={"host": "example.test", "USER-AGENT": "probe/1"})
    ((_, headers),) = server.requests
    assert (headers["host"], headers["user-agent"]) == ("example.test", "probe/1")


def test_a_post_sends_its_body_with_its_length(fetch: Fetch, server: LoopbackServer) -> None:
    answer = fetch("POST", server.url("/hook"), body=b'{"a": 1}')
    assert answer.status == 200
    ((path, headers, body),) = server.posts
    assert (path, headers["content-length"], body) == ("/hook", "8", b'{"a": 1}')


def test_the_answer_tells_the_address_that_gave_it(fetch: Fetch, server: LoopbackServer) -> None:
    assert fetch("GET", server.url("/ok")).peer == ("127.0.0.1", server.server_port)


def test_a_unix_socket_is_asked_for_the_urls_path(fetch: Fetch, tmp_path: Path) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with answering(sends(answer), tmp_path / "s.sock") as url:
        got = fetch("POST", f"{url}RPC2", unix_socket=str(tmp_path / "s.sock"), read_body=True)
    assert (got.status, got.body, got.peer) == (200, b"hello", None)


# --- the answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nhello world",
    ],
    ids=["content-length", "chunked", "until-closed"],
)
def test_a_body_asked_for_is_read_whole_however_it_is_sent(fetch: Fetch, answer: bytes) -> None:
    with answering(sends(answer)) as url:
        assert fetch("GET", url, read_body=True).body == b"hello world"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nhel\r\n3\r\nlo \r\n5\r\nworld\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nhello world",
    ],
    ids=["content-length", "chunked", "until-closed"],
)
@pytest.mark.parametrize(
    ("limit", "body", "truncated"),
    [
        (5, b"hello", True),
        (6, b"hello ", True),
        (11, b"hello world", False),
        (20, b"hello world", False),
    ],
)
def test_a_body_is_cut_at_its_limit_however_it_is_sent(
    fetch: Fetch, answer: bytes, limit: int, body: bytes, truncated: bool
) -> None:
    with answering(sends(answer)) as url:
        got = fetch("GET", url, read_body=True, body_limit=limit)
    assert (got.body, got.truncated) == (body, truncated)


@pytest.mark.parametrize(
    "head",
    [b"Content-Length: 1000000000000", b"Transfer-Encoding: chunked"],
    ids=["content-length", "chunked"],
)
def test_past_its_limit_a_body_is_never_read(fetch: Fetch, head: bytes) -> None:
    # The server sends the limit and one byte more, then waits for ever: read past
    # that, the request would end in a timeout.
    start = b"5\r\nhello\r\n" if b"chunked" in head else b"hello"
    answer = b"HTTP/1.1 200 OK\r\n" + head + b"\r\n\r\n" + start
    with answering(lambda connection: (connection.sendall(answer), connection.recv(1))) as url:
        got = fetch("GET", url, read_body=True, body_limit=4)
    assert (got.body, got.truncated) == (b"hell", True)


def test_a_body_not_asked_for_is_left_unread(fetch: Fetch) -> None:
    with answering(sends(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")) as url:
        assert fetch("GET", url).body == b""


def test_interim_answers_come_before_the_one_that_counts(fetch: Fetch) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    answer += b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    with answering(sends(answer)) as url:
        assert fetch("GET", url).status == 201


def test_headers_are_read_by_lower_cased_name_and_repeats_joined(fetch: Fetch) -> None:
    answer = b"HTTP/1.1 204 No Content\r\nX-Tag: a\r\nx-tag: b\r\nServer:  test \r\n\r\n"
    with answering(sends(answer)) as url:
        got = fetch("GET", url)
    assert (got.status, got.reason) == (204, "No Content")
    assert (got.headers["x-tag"], got.headers["server"]) == ("a, b", "test")


def test_a_long_reason_is_cut_to_what_a_message_carries(fetch: Fetch) -> None:
    with answering(sends(b"HTTP/1.1 500 " + b"x" * 1000 + b"\r\n\r\n")) as url:
        assert fetch("GET", url).reason == "x" * 200 + "..."


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "connection closed without an answer"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", r"not an HTTP answer: 'SSH-2.0-OpenSSH_9.2\r\n'"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101, "more than 100 header lines"),
        (b"HTTP/1.1 200 OK" + b"!" * 70_000, "an answer line too long to be HTTP"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "an invalid Content-Length: '12x'"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello",
            "the answer ended before its length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            "an answer longer than 16777216 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "a chunked answer without its chunk size",
        ),
    ],
    ids=["closed", "not-http", "headers", "long-line", "length", "short", "huge", "chunk"],
)
def test_an_answer_that_is_not_http_is_a_protocol_error(
    fetch: Fetch, answer: bytes, message: str
) -> None:
    with answering(sends(answer)) as url:
        error = failure(fetch, url, read_body=True)
    assert isinstance(error, ProtocolError)
    assert describe(error) == message


# --- failures and deadlines ---------------------------------------------------------------


def test_a_refused_connection(fetch: Fetch) -> None:
    with refusing_port() as port:
        error = failure(fetch, f"http://127.0.0.1:{port}/")
    assert isinstance(error, ConnectionRefusedError)
    assert describe(error) == "connection refused"


def test_a_host_name_that_does_not_resolve(fetch: Fetch) -> None:
    error = failure(fetch, "http://nonexistent.invalid/")
    assert isinstance(error, socket.gaierror)
    assert describe(error).startswith("the host name does not resolve (")


def test_a_server_that_never_answers_is_given_up_at_the_timeout(
    fetch: Fetch, server: LoopbackServer
) -> None:
    error = failure(fetch, server.url("/slow"), timeout=0.2)
    assert (type(error), str(error), describe(error)) == (TimeoutError, "timed out", "no answer")


def test_a_server_that_answers_a_byte_at_a_time_is_given_up_at_the_deadline(
    fetch: Fetch,
) -> None:
    # Every read gets a byte well within the timeout: only a deadline for the whole request
    # ends it (http.client's timeout, per read, would wait for as long as the bytes come).
    def drip(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(int(PATIENCE / 0.02)):
            connection.sendall(b"X")
            time.sleep(0.02)

    with answering(drip) as url:
        started = time.monotonic()
        error = failure(fetch, url, timeout=0.5)
        took = time.monotonic() - started
    assert isinstance(error, TimeoutError)
    assert took < 0.5 + 5.0  # the deadline, and room for a loaded machine


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture
def tls_server() -> Iterator[LoopbackServer]:
    with serving(tls=True) as running:
        yield running


def test_tls_is_verified_against_the_systems_cas(fetch: Fetch, tls_server: LoopbackServer) -> None:
    error = failure(fetch, tls_server.url("/ok"))
    assert describe(error) == "TLS failed (unable to get local issuer certificate)"


def test_tls_takes_the_cas_that_ssl_cert_file_names(
    fetch: Fetch, tls_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(TEST_CA))
    assert fetch("GET", tls_server.url("/ok")).status == 200


def test_tls_without_verification_takes_any_certificate(
    fetch: Fetch, tls_server: LoopbackServer
) -> None:
    assert fetch("GET", tls_server.url("/ok"), verify_tls=False).status == 200


def test_tls_to_a_server_that_speaks_plain_http_fails(fetch: Fetch, server: LoopbackServer) -> None:
    error = failure(fetch, server.url("/ok").replace("http:", "https:"), verify_tls=False)
    assert describe(error).startswith("TLS failed (")


# --- redirects (AsyncClient: the http plugin follows them) --------------------------------


def follow(url: str, **fields: Any) -> Response:
    client = AsyncClient()
    return asyncio.run(client.fetch(Request("GET", url, **fields), timeout=PATIENCE, redirects=5))


def redirect(location: str) -> Script:
    return sends(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n".encode())


def test_a_redirect_within_the_origin_keeps_the_callers_headers(server: LoopbackServer) -> None:
    answer = follow(server.url("/redirect-ok"), headers={"Authorization": "Bearer t0ken"})
    assert (answer.status, answer.url, answer.not_followed) == (200, server.url("/ok"), "")
    assert [headers.get("authorization") for _, headers in server.requests] == ["Bearer t0ken"] * 2


def test_a_redirect_to_another_origin_drops_the_callers_headers(server: LoopbackServer) -> None:
    with answering(redirect(server.url("/ok"))) as url:
        answer = follow(url, headers={"Authorization": "Bearer t0ken"})
    assert (answer.status, answer.url) == (200, server.url("/ok"))
    ((_, headers),) = server.requests
    assert "authorization" not in headers


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "http://user:pw@127.0.0.1:1/", "http://h:port/"]
)
def test_a_redirect_to_a_url_the_client_would_not_take_is_the_answer(location: str) -> None:
    with answering(redirect(location)) as url:
        answer = follow(url)
    assert (answer.status, answer.not_followed) == (302, f"redirect to {location} not followed")


def test_redirects_stop_after_the_number_asked(server: LoopbackServer) -> None:
    with answering(redirect("/again")) as url:
        answer = follow(url)
    assert (answer.status, answer.url) == (302, f"{url}again")
    assert answer.not_followed == "stopped after 5 redirects"


def test_redirects_are_answers_unless_asked_to_follow(fetch: Fetch) -> None:
    with answering(redirect("/elsewhere")) as url:
        answer = fetch("GET", url)
    assert (answer.status, answer.headers["location"], answer.not_followed) == (
        302,
        "/elsewhere",
        "",
    )
