"""B10: CPU time per HTTP probe of a loopback server, 1,000 probes per client, each on a new
connection as a check's are: the builtins' own clients against a minimal asyncio-streams
client written here, and the HTTP libraries weighed against them (httpx, aiohttp; the
``bench`` extra), each at its cheapest: one client for all its probes.

The server runs in another process, so that only the client's CPU time is counted; the clients
take turns in blocks, so that drift hits all alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from builtin_plugins.http import _TLS, _get

from ._measure import Row

PROBES = 1_000
BLOCKS = 10
#: A library is taken only if a probe of it costs at most this much CPU against our client.
BOUND = 1.2

_SERVER = """
import asyncio

async def answer(reader, writer):
    await reader.readuntil(b"\\r\\n\\r\\n")
    writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

_AIOHTTP_EACH = "aiohttp, an event loop and a session per probe"
#: One probe of an async client: the status code it got.
_Probe = Callable[[], Awaitable[int]]
#: A client at work: ``probes(count)`` makes ``count`` probes, each of which must answer 200.
_Probes = Callable[[int], None]
#: An async client at work: the probes are made on the benchmark's one event loop, with a
#: client the context manager opens once.
_Session = Callable[[str], contextlib.AbstractAsyncContextManager[_Probe]]


@contextlib.contextmanager
def _loopback() -> Iterator[str]:
    """The URL of an HTTP server on 127.0.0.1, in a process of its own, answering 200."""
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{int(server.stdout.readline())}/health"
    finally:
        server.kill()
        server.wait()


async def _minimal(url: str) -> int:
    """The least a probe over asyncio streams does: connect, ask and read the status line,
    within a timeout (a probe without one is not a probe)."""
    return await asyncio.wait_for(_status_line(url), 5)


async def _status_line(url: str) -> int:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        await writer.drain()
        return int((await reader.readline()).split()[1])
    finally:
        writer.transport.abort()


@contextlib.asynccontextmanager
async def _plain(probe: _Probe) -> AsyncIterator[_Probe]:
    yield probe


def _on_loop(loop: asyncio.AbstractEventLoop, session: _Session, url: str) -> _Probes:
    async def probes(count: int) -> None:
        async with session(url) as probe:
            for _ in range(count):
                assert await probe() == 200, "a probe of the loopback server failed"

    return lambda count: loop.run_until_complete(probes(count))


def _stdlib(url: str) -> _Probes:
    """The standard library's client, as the webhook, process and supervisor plugins use it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)

    def probes(count: int) -> None:
        for _ in range(count):
            connection = http.client.HTTPConnection(parts.netloc, timeout=5)
            try:
                connection.request("GET", parts.path)
                assert connection.getresponse().status == 200, "a probe failed"
            finally:
                connection.close()

    return probes


def _today(url: str) -> contextlib.AbstractAsyncContextManager[_Probe]:
    async def probe() -> int:
        # As the http plugin calls it: within its timeout.
        return (await asyncio.wait_for(_get(url, {}, _TLS(True)), 5)).status

    return _plain(probe)


@contextlib.asynccontextmanager
async def _httpx(url: str) -> AsyncIterator[_Probe]:
    import httpx

    async with httpx.AsyncClient(timeout=5) as client:

        async def probe() -> int:
            return (await client.get(url)).status_code

        yield probe


def _httpx_sync(url: str) -> _Probes:
    import httpx

    client = httpx.Client(timeout=5)

    def probes(count: int) -> None:
        for _ in range(count):
            assert client.get(url).status_code == 200, "a probe failed"

    return probes


@contextlib.asynccontextmanager
async def _aiohttp(url: str) -> AsyncIterator[_Probe]:
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def probe() -> int:
            async with session.get(url) as response:
                return response.status

        yield probe


def _aiohttp_each(url: str) -> _Probes:
    """aiohttp as a sync hook would have to call it: a session, on an event loop, per probe."""
    import aiohttp

    async def probe() -> int:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status

    def probes(count: int) -> None:
        for _ in range(count):
            assert asyncio.run(probe()) == 200, "a probe failed"

    return probes


def _installed(name: str) -> bool:
    import importlib.util

    if importlib.util.find_spec(name) is not None:
        return True
    print(f"B10: {name} is not installed (pip install -e '.[bench]'): its rows are left out")
    return False


def _cpu_per_probe(clients: dict[str, _Probes]) -> dict[str, float]:
    """CPU seconds per probe of each client, over ``PROBES`` probes made in turns."""
    spent = dict.fromkeys(clients, 0.0)
    for probes in clients.values():
        probes(BLOCKS)  # connections, imports and caches warmed up before counting
    for _ in range(BLOCKS):
        for name, probes in clients.items():
            start = time.process_time()
            probes(PROBES // BLOCKS)
            spent[name] += time.process_time() - start
    return {name: seconds / PROBES for name, seconds in spent.items()}


def b10_http_probes() -> list[Row]:
    loop = asyncio.new_event_loop()
    with _loopback() as url:
        sessions: dict[str, _Session] = {
            "minimal": lambda url: _plain(lambda: _minimal(url)),
            "today": _today,
        }
        clients = {name: _on_loop(loop, session, url) for name, session in sessions.items()}
        clients["http.client"] = _stdlib(url)
        if _installed("httpx"):
            clients["httpx"] = _on_loop(loop, _httpx, url)
            clients["httpx sync"] = _httpx_sync(url)
        if _installed("aiohttp"):
            clients["aiohttp"] = _on_loop(loop, _aiohttp, url)
            clients[_AIOHTTP_EACH] = _aiohttp_each(url)
        cpu = _cpu_per_probe(clients)
    loop.close()
    minimal = "minimal asyncio-streams client"
    rows = [
        Row(
            "B10",
            "CPU per probe: today's client (http plugin, asyncio streams)",
            cpu["today"],
            minimal,
            cpu["minimal"],
            BOUND,
        ),
        Row(
            "B10",
            "CPU per probe: http.client (webhook, process, supervisor)",
            cpu["http.client"],
            minimal,
            cpu["minimal"],
            BOUND,
        ),
    ]
    # Each library against the client of ours that it would replace: async or sync.
    against = {
        "httpx": "today",
        "httpx sync": "http.client",
        "aiohttp": "today",
        _AIOHTTP_EACH: "http.client",
    }
    names = {"today": "today's client", "http.client": "http.client"}
    for library in (name for name in against if name in cpu):
        measures = f"CPU per probe: {library}"
        baseline = against[library]
        rows.append(Row("B10", measures, cpu[library], names[baseline], cpu[baseline], BOUND))
        rows.append(Row("B10", measures, cpu[library], minimal, cpu["minimal"], BOUND))
    return rows


BENCHMARKS = (b10_http_probes,)
