"""The status service under clients that hold connections without finishing a request
(slowloris, issue 29 item 7): a real ``serve``, real sockets. What is asserted is what the
server did — closed them, answered the others, held no more than its bound — never how fast."""

from __future__ import annotations

import contextlib
import os
import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from hostile.serving import Served, Service

from waypoint_hooks.serve.service import ConnectionLimits

pytestmark = pytest.mark.usefixtures("hostile_plugins")

LIMITS = ConnectionLimits()
#: The start of a request whose headers never end.
HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class Slow:
    """Client connections that send a request's headers and never end them."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.closed: set[socket.socket] = set()

    def connect(self, service: Service, count: int) -> None:
        address = urlsplit(service.url)
        for _ in range(count):
            connection = socket.create_connection((address.hostname, address.port or 0))
            self.sockets.append(connection)
            connection.sendall(HALF_SENT)

    def close(self) -> None:
        for connection in self.sockets:
            connection.close()

    def trickle(self) -> None:
        """One more byte of a header on each connection the server has not closed."""
        for connection in self.open():
            try:
                connection.send(b"x")
            except OSError:  # the server closed it, and said so
                self.closed.add(connection)

    def open(self) -> list[socket.socket]:
        """The connections the server has not closed (as far as has reached this side)."""
        pending = [c for c in self.sockets if c not in self.closed]
        readable, _, _ = select.select(pending, [], [], 0)
        for connection in readable:
            try:
                if not connection.recv(4096):  # EOF: closed with nothing answered
                    self.closed.add(connection)
            except OSError:
                self.closed.add(connection)
        return [c for c in self.sockets if c not in self.closed]


@contextlib.contextmanager
def slow_clients(service: Service, count: int) -> Iterator[Slow]:
    slow = Slow()
    try:
        slow.connect(service, count)
        yield slow
    finally:
        slow.close()


def _sockets(pid: int) -> int:
    """How many sockets the process ``pid`` has open."""
    fds = f"/proc/{pid}/fd"
    count = 0
    for fd in os.listdir(fds):
        with contextlib.suppress(FileNotFoundError):  # closed while listed
            count += os.readlink(f"{fds}/{fd}").startswith("socket:")
    return count


def test_connections_that_never_finish_their_headers_are_closed(served: Served) -> None:
    served.configure({"web": {}})
    service = served.serve("--header-timeout", "2s")
    with slow_clients(service, 20) as slow:
        answered = 0

        def all_closed() -> bool:
            nonlocal answered
            slow.trickle()  # sending more does not put the deadline off
            # Meanwhile an honest client is answered.
            assert service.get("/healthz").status == 200
            answered += 1
            return not slow.open()

        service.wait_for(all_closed, "the server to close the connections that never end")
        assert answered


def test_connections_beyond_the_bound_are_closed_and_an_honest_client_is_answered(
    served: Served,
) -> None:
    served.configure({"web": {}})
    service = served.serve(
        "--max-connections", str(LIMITS.max_connections), "--header-timeout", "2s"
    )
    assert service.get("/healthz").status == 200
    pid = service.process.pid
    before = _sockets(pid)
    beyond = 64
    with slow_clients(service, LIMITS.max_connections + beyond) as slow:
        # Its connection comes after every slow one: by its answer, all were taken in.
        assert service.get("/healthz").status == 200
        # The bound, and the one the answer came on, which may still be closing.
        assert _sockets(pid) <= before + LIMITS.max_connections + 1
        service.wait_for(lambda: not slow.open(), "the header deadline to close the rest")
