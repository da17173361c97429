"""B10: CPU time per HTTP probe of a loopback server, 1,000 probes per client, each on a new
connection as a check's are: the builtins' one client (``builtin_plugins._http``), async and
sync, against a minimal asyncio-streams client written here and the standard library's
``http.client`` (what the webhook, process and supervisor plugins used before); and the HTTP
libraries weighed against it (httpx, aiohttp; the ``bench`` extra), each at its cheapest: one
client for all its probes. And what the ``http`` builtin's conditions cost (DESIGN §19): its
probe with an ``expect`` block of every kind (the body read, searched, matched and parsed as
JSON) against the same probe checking the status code alone.

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

from builtin_plugins import http as http_plugin
from builtin_plugins._http import AsyncClient, Client, Request
from waypoint_hooks.model.codec import structure

from ._measure import Row, sized

PROBES = sized(1_000, 20)
BLOCKS = sized(10, 2)
#: A client may cost this much CPU per probe against the least that does the work; and a
#: library was taken only within this much of our client.
BOUND = 1.2
#: What a probe with every kind of condition may cost against one of the status alone.
CONDITIONS_BOUND = 1.5
#: The conditions of that probe: one of each kind, as DESIGN §19's example has them.
CONDITIONS = {
    "status": [200, 204],
    "body_contains": '"up"',
    "body_regex": 'version": "[0-9]+',
    "json": {"$.status": "up", "$.checks[0].state": "ok"},
}

_SERVER = """
import asyncio

async def answer(reader, writer):
    await reader.readuntil(b"\\r\\n\\r\\n")
    body = b'{"status": "up", "version": "1.4.2", "checks": [{"state": "ok"}]}'
    writer.write(
        b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s"
        % (len(body), body)
    )
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

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


def _repeated(probe: Callable[[], int]) -> _Probes:
    def probes(count: int) -> None:
        for _ in range(count):
            assert probe() == 200, "a probe of the loopback server failed"

    return probes


def _ours(url: str) -> contextlib.AbstractAsyncContextManager[_Probe]:
    client = AsyncClient()

    async def probe() -> int:
        return (await client.fetch(Request("GET", url), timeout=5)).status

    return _plain(probe)


def _plugin_probe(conditions: dict[str, object] | None) -> _Session:
    """The ``http`` builtin's probe of one endpoint, with ``conditions`` as its expect block."""

    @contextlib.asynccontextmanager
    async def session(url: str) -> AsyncIterator[_Probe]:
        settings = {"url": url} if conditions is None else {"url": url, "expect": conditions}
        config = structure(settings, http_plugin.ProbeConfig)
        client = AsyncClient()

        async def probe() -> int:
            probed = await http_plugin._probe(url, config, 5, client)
            assert probed.health.name == "READY", probed.message
            return probed.status or 0

        yield probe

    return session


def _ours_sync(url: str) -> Callable[[], int]:
    client = Client()
    return lambda: client.fetch(Request("GET", url), timeout=5).status


def _ours_loop_each(url: str) -> Callable[[], int]:
    """AsyncClient as a sync hook would have to call it: on an event loop of its own."""
    client = AsyncClient()
    return lambda: asyncio.run(client.fetch(Request("GET", url), timeout=5)).status


def _stdlib(url: str) -> Callable[[], int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)

    def probe() -> int:
        connection = http.client.HTTPConnection(parts.netloc, timeout=5)
        try:
            connection.request("GET", parts.path)
            return connection.getresponse().status
        finally:
            connection.close()

    return probe


@contextlib.asynccontextmanager
async def _httpx(url: str) -> AsyncIterator[_Probe]:
    import httpx

    async with httpx.AsyncClient(timeout=5) as client:

        async def probe() -> int:
            return (await client.get(url)).status_code

        yield probe


def _httpx_sync(url: str) -> Callable[[], int]:
    import httpx

    client = httpx.Client(timeout=5)
    return lambda: client.get(url).status_code


@contextlib.asynccontextmanager
async def _aiohttp(url: str) -> AsyncIterator[_Probe]:
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def probe() -> int:
            async with session.get(url) as response:
                return response.status

        yield probe


async def _aiohttp_alone(url: str) -> int:
    """A probe with an aiohttp session of its own, as a check would make one: a session
    cannot outlive the event loop, and a plugin is not told when that ends."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


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


def _clients(loop: asyncio.AbstractEventLoop, url: str) -> dict[str, _Probes]:
    clients = {
        "minimal asyncio-streams client": _on_loop(
            loop, lambda url: _plain(lambda: _minimal(url)), url
        ),
        "AsyncClient": _on_loop(loop, _ours, url),
        "Client": _repeated(_ours_sync(url)),
        "AsyncClient, an event loop per probe": _repeated(_ours_loop_each(url)),
        "http.client": _repeated(_stdlib(url)),
        "http probe, status only": _on_loop(loop, _plugin_probe(None), url),
        "http probe, every kind of condition": _on_loop(loop, _plugin_probe(CONDITIONS), url),
    }
    if _installed("httpx"):
        clients["httpx.AsyncClient"] = _on_loop(loop, _httpx, url)
        clients["httpx.Client"] = _repeated(_httpx_sync(url))
    if _installed("aiohttp"):
        clients["aiohttp"] = _on_loop(loop, _aiohttp, url)
        clients["aiohttp, a session per probe"] = _on_loop(
            loop, lambda url: _plain(lambda: _aiohttp_alone(url)), url
        )
        # As a sync hook would have to call it: on an event loop of its own, too.
        clients["aiohttp, an event loop and a session per probe"] = _repeated(
            lambda: asyncio.run(_aiohttp_alone(url))
        )
    return clients


def b10_http_probes() -> list[Row]:
    loop = asyncio.new_event_loop()
    try:
        with _loopback() as url:
            cpu = _cpu_per_probe(_clients(loop, url))
    finally:
        loop.close()
    minimal = "minimal asyncio-streams client"
    # What each client is held to: ours to the least that does the work, to what it replaced
    # and to calling AsyncClient from a sync hook; each library to the client of ours it
    # would replace, async or sync, and to the least.
    against = [
        ("AsyncClient", minimal, BOUND),
        ("Client", "http.client", 1.0),
        ("Client", "AsyncClient, an event loop per probe", 1.0),
        ("Client", minimal, BOUND),
        ("httpx.AsyncClient", "AsyncClient", BOUND),
        ("httpx.AsyncClient", minimal, BOUND),
        ("httpx.Client", "Client", BOUND),
        ("httpx.Client", minimal, BOUND),
        ("aiohttp", "AsyncClient", BOUND),
        ("aiohttp", minimal, BOUND),
        ("aiohttp, a session per probe", "AsyncClient", BOUND),
        ("aiohttp, an event loop and a session per probe", "Client", BOUND),
        ("http probe, every kind of condition", "http probe, status only", CONDITIONS_BOUND),
    ]
    return [
        Row("B10", f"CPU per probe: {client}", cpu[client], baseline, cpu[baseline], target)
        for client, baseline, target in against
        if client in cpu
    ]


BENCHMARKS = (b10_http_probes,)
