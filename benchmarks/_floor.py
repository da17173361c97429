"""The floor of B10: the least a service that probes ``N`` HTTP targets every ``INTERVAL``
seconds and keeps what it saw can do, run as ``python -m benchmarks._floor N INTERVAL URL DB``.

Bare asyncio: each target's probe opens a connection of its own, asks, reads the status line
and closes, within a timeout, as the ``http`` builtin does; every result is stored in SQLite
(in WAL mode, as the state is), those that ended meanwhile in one transaction, as serve's
writer stores its checks' reports. The targets start spread over the first interval, each
then due every interval. Nothing else: no plugins, no reports, no
alerts, no schedule shared with other instances. It imports nothing of waypoint_hooks, so
that its process holds only what the work needs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from urllib.parse import urlsplit

#: Seconds a probe may take, and how long results gather before they are stored.
TIMEOUT = 5.0
BATCH = 0.1


async def _status(host: str, port: int, request: bytes) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        return (await reader.readline()).split()[1] == b"200"
    finally:
        writer.transport.abort()


async def _target(
    index: int, url: str, count: int, interval: float, results: list[tuple[int, float, int]]
) -> None:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    request = f"GET {parts.path}/{index} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    due = time.monotonic() + interval * index / count
    while True:
        await asyncio.sleep(due - time.monotonic())
        started = time.time()
        try:
            ok = await asyncio.wait_for(_status(parts.hostname, parts.port, request), TIMEOUT)
        except (OSError, asyncio.TimeoutError, IndexError):
            ok = False
        results.append((index, started, int(ok)))
        due += interval


async def _store(db: sqlite3.Connection, results: list[tuple[int, float, int]]) -> None:
    while True:
        await asyncio.sleep(BATCH)
        if results:
            batch = results[:]
            del results[:]
            with db:
                db.executemany("INSERT INTO probes VALUES (?, ?, ?)", batch)


async def main(count: int, interval: float, url: str, path: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE IF NOT EXISTS probes (target INTEGER, started REAL, ok INTEGER)")
    db.isolation_level = "DEFERRED"  # transactions again: one a batch
    results: list[tuple[int, float, int]] = []
    await asyncio.gather(
        _store(db, results),
        *(_target(index, url, count, interval, results) for index in range(count)),
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]))
