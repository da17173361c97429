"""B10, the peer and the floor: ``waypoint-hooks serve`` probing ``N`` HTTP targets on loopback
every :data:`INTERVAL` seconds, beside what a user would run instead, Prometheus scraping
blackbox_exporter for the same targets at the same interval, and beside the least that does
the work (``benchmarks._floor``: bare asyncio, a connection a probe, each result stored in
SQLite in batches). CPU per probe and memory, as ratios.

The three run one after another, each over a steady-state window of its own after its first
probe of every target (together, with the servers of the targets beside them, they asked more
than a loaded 2-core machine gave: most probes timed out at 5,000 targets); each is counted by
what it made: serve's stored reports, the floor's stored rows, the scrapes of blackbox's
``/probe`` that Prometheus made, and how many of those failed is said beside. CPU is the
processes' own (user and system, from ``/proc``), memory their resident set at the window's
end. Prometheus and blackbox_exporter are the Debian packages' binaries (``apt-get install
prometheus prometheus-blackbox-exporter``), run here with config files and data of their own;
without them, their rows are left out, saying why.

``B10_N`` picks the numbers of targets (``1000,5000`` by default).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs

from waypoint_hooks.state.columns import micros
from waypoint_hooks.state.store import State, default_state_path

from ._measure import Row, sized
from ._serving import get, serving, until
from .serve import _cpu_seconds, _reports, _rss_mib
from .startup import _ENV, _launcher
from .store import deployed

#: Seconds between two probes of one target, for all three.
INTERVAL = sized(15.0, 1.0)
#: The steady-state window, after every target was probed once.
WINDOW = 4 * INTERVAL
#: The goals of issue 31: serve against Prometheus and blackbox_exporter, and the floor.
PEER_BOUND = 0.5
FLOOR_BOUND = 1.3
_BINARIES = ("prometheus", "prometheus-blackbox-exporter")
#: How long Prometheus may take to probe every target once (seconds): on a loaded machine, at
#: 5,000 targets, blackbox_exporter fell behind and every scrape of it timed out, for good.
_PEER_GUARD = 10 * INTERVAL
#: The processes that answer the targets, on one port: the three together probe thrice.
_SERVERS = 2
#: A server of the targets as cheap as asyncio makes one (a protocol, not streams): it
#: answers each request with a small health document and closes.
_SERVER = """
import asyncio, sys

BODY = b'{"status": "up"}'
ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s" % (
    len(BODY), BODY)

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.asked = transport, b""

    def data_received(self, data):
        self.asked += data
        if b"\\r\\n\\r\\n" in self.asked:
            self.transport.write(ANSWER)
            self.transport.close()

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        Answer, "127.0.0.1", int(sys.argv[1]), backlog=4096, reuse_port=True)
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


class _Behind(RuntimeError):
    """Prometheus and blackbox_exporter could not keep up with the targets asked."""


@attrs.frozen
class _Contender:
    """One of the three at work: its processes, how many probes it made so far, and how many
    of those in the latest :data:`WINDOW` seconds failed (a target that did not answer in
    time: the machine too loaded for the load asked)."""

    name: str
    pids: Callable[[], list[int]]
    probes: Callable[[], int]
    failed: Callable[[], int]

    def cpu(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.pids())

    def rss_mib(self) -> float:
        return sum(_rss_mib(pid) for pid in self.pids())


def _counts() -> list[int]:
    return [int(n) for n in os.environ.get("B10_N", sized("1000,5000", "4")).split(",")]


def _url(base: str, index: int) -> str:
    return f"{base}/{index}"


@contextlib.contextmanager
def _targets() -> Iterator[str]:
    """The base URL of the targets: ``/0``, ``/1``… under it each answer 200."""
    port = _port()
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(_SERVERS)
    ]
    try:
        for server in servers:
            assert server.stdout is not None
            if server.stdout.readline() != "ready\n":
                raise RuntimeError("a server of the targets did not start")
        yield f"http://127.0.0.1:{port}/health"
    finally:
        for server in servers:
            server.kill()
            server.wait()


@contextlib.contextmanager
def _serve(root: Path, count: int, base: str) -> Iterator[_Contender]:
    """serve, with an ``http`` app a target, each deployed straight into the state."""
    blocks = "".join(
        f'app "t{index}" {{\n  deploy {{\n    use "http" {{\n'
        f'      url = "{_url(base, index)}"\n    }}\n  }}\n}}\n'
        for index in range(count)
    )
    config = root / "waypoint.hcl"
    config.write_text(
        f'project = "peer"\n\nstatus {{\n  interval = "{INTERVAL:g}s"\n}}\n\n{blocks}'
    )
    with State.open(default_state_path(config)) as opened:
        for index in range(count):
            deployed(opened, f"t{index}", {"urls": [_url(base, index)]}, plugin="http")

    def failed() -> int:
        since = micros(datetime.now(timezone.utc) - timedelta(seconds=WINDOW))
        with contextlib.closing(sqlite3.connect(default_state_path(config), timeout=60)) as db:
            query = "SELECT count(*) FROM reports WHERE health <> 'READY' AND generated >= ?"
            return int(db.execute(query, (since,)).fetchone()[0])

    with serving([*_launcher(), "-c", str(config), "serve", "--port", "0"]) as (process, _):
        yield _Contender("serve", lambda: [process.pid], lambda: _reports(config), failed)


@contextlib.contextmanager
def _floor(root: Path, count: int, base: str) -> Iterator[_Contender]:
    path = root / "floor.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._floor", str(count), f"{INTERVAL:g}", base, str(path)],
        env=_ENV,
        cwd=Path(__file__).parent.parent,
    )

    def counted(query: str, *parameters: float) -> int:
        if process.poll() is not None:
            raise RuntimeError(f"the floor exited with {process.returncode}")
        if not path.exists():
            return 0
        with contextlib.closing(sqlite3.connect(path, timeout=60)) as db:
            try:
                return int(db.execute(query, parameters).fetchone()[0])
            except sqlite3.OperationalError:
                return 0  # its table is not made yet

    def failed() -> int:
        query = "SELECT count(*) FROM probes WHERE NOT ok AND started >= ?"
        return counted(query, time.time() - WINDOW)

    try:
        yield _Contender(
            "floor", lambda: [process.pid], lambda: counted("SELECT count(*) FROM probes"), failed
        )
    finally:
        process.kill()
        process.wait()


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _daemon(command: list[str], ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """``command``, once ``ready`` (a URL) answers."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

        def answers() -> bool:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{command[0]} exited: {log.read().decode()[-2000:]}")
            with contextlib.suppress(OSError):
                return bool(get(ready, timeout=5))
            return False

        try:
            until(answers, f"{command[0]} to answer", guard=120, poll=0.2)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=120)


@contextlib.contextmanager
def _prometheus(root: Path, count: int, base: str) -> Iterator[_Contender]:
    """Prometheus scraping blackbox_exporter's ``/probe`` of each target (its ``http``
    prober, the status code checked, as serve's ``http`` checks it without ``expect``)."""
    exporter, server = _port(), _port()
    blackbox = root / "blackbox.yml"
    # YAML is a superset of JSON.
    blackbox.write_text(
        json.dumps(
            {
                "modules": {
                    "http_2xx": {
                        "prober": "http",
                        "timeout": "5s",
                        "http": {"preferred_ip_protocol": "ip4"},
                    }
                }
            }
        )
    )
    config = root / "prometheus.yml"
    relabel = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": f"127.0.0.1:{exporter}"},
    ]
    job = {
        "job_name": "blackbox",
        "metrics_path": "/probe",
        "params": {"module": ["http_2xx"]},
        "static_configs": [{"targets": [_url(base, index) for index in range(count)]}],
        "relabel_configs": relabel,
    }
    # Prometheus refuses a scrape timeout longer than the interval (the smoke run's is 1 s).
    interval, timeout = f"{INTERVAL:g}s", f"{min(INTERVAL, 10.0):g}s"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": interval, "scrape_timeout": timeout},
                "scrape_configs": [job],
            }
        )
    )
    with (
        _daemon(
            [
                "prometheus-blackbox-exporter",
                f"--config.file={blackbox}",
                f"--web.listen-address=127.0.0.1:{exporter}",
            ],
            f"http://127.0.0.1:{exporter}/metrics",
        ) as exporting,
        _daemon(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{server}",
            ],
            f"http://127.0.0.1:{server}/-/ready",
        ) as scraping,
    ):
        # Each scrape after a target's first is one interval observed: one probe made.
        counted = re.compile(
            rf'^prometheus_target_interval_length_seconds_count{{interval="{interval}"}} (\S+)$',
            re.MULTILINE,
        )

        def probes() -> int:
            found = counted.search(get(f"http://127.0.0.1:{server}/metrics").decode())
            return 0 if found is None else int(float(found.group(1)))

        def asked(query: str) -> int:
            quoted = urllib.parse.quote(query)
            answer = json.loads(get(f"http://127.0.0.1:{server}/api/v1/query?query={quoted}"))
            result = answer["data"]["result"]
            return int(float(result[0]["value"][1])) if result else 0

        window = f"[{WINDOW:g}s]"
        try:
            until(
                lambda: asked("count(probe_success)") == count,
                f"Prometheus to have probed all {count} targets",
                guard=_PEER_GUARD,
            )
        except RuntimeError as exc:
            down = asked("count(up == 0)")
            raise _Behind(f"{exc} ({down} scrapes of blackbox failed: it fell behind)") from exc
        yield _Contender(
            "Prometheus + blackbox_exporter",
            lambda: [scraping.pid, exporting.pid],
            probes,
            lambda: asked(
                f"sum(count_over_time(probe_success{window}))"
                f" - sum(sum_over_time(probe_success{window}))"
            ),
        )


def _missing() -> str | None:
    absent = [name for name in _BINARIES if shutil.which(name) is None]
    if not absent:
        return None
    return (
        f"{', '.join(absent)} not installed (apt-get install prometheus "
        "prometheus-blackbox-exporter): the rows against them are left out"
    )


def _measure(contender: _Contender, count: int) -> tuple[float, float, str]:
    """CPU seconds per probe, resident MiB at the end, and how many probes were made (and
    failed), over :data:`WINDOW` after the first probe of every target."""
    until(lambda: contender.probes() >= count, f"{contender.name}'s first {count} probes", poll=0.5)
    cpu, probes = contender.cpu(), contender.probes()
    time.sleep(WINDOW)
    probes = contender.probes() - probes
    if probes <= 0:
        raise RuntimeError(f"{contender.name} made no probe in {WINDOW:g}s")
    cpu = contender.cpu() - cpu
    return cpu / probes, contender.rss_mib(), f"{probes} probes, {contender.failed()} failed"


def _round(count: int, missing: str | None) -> list[Row]:
    measured = {}
    with tempfile.TemporaryDirectory() as directory, _targets() as health:
        for name, start in (("serve", _serve), ("floor", _floor), ("peer", _prometheus)):
            if name == "peer" and missing is not None:
                continue
            (Path(directory) / name).mkdir()
            try:
                with start(Path(directory) / name, count, health) as contender:
                    measured[name] = _measure(contender, count)
            except _Behind as exc:
                print(f"B10: {exc}: the rows against it are left out")
    load = f"{count} targets every {INTERVAL:g}s, {WINDOW:g}s, load {os.getloadavg()[0]:.2f}"
    serve_cpu, serve_mib, serve_probes = measured["serve"]
    floor_cpu, _, floor_probes = measured["floor"]
    rows = [
        Row(
            "B10 floor",
            f"serve: CPU per probe ({load}; {serve_probes})",
            serve_cpu,
            f"the floor: bare asyncio + SQLite ({floor_probes})",
            floor_cpu,
            FLOOR_BOUND,
        )
    ]
    if "peer" in measured:
        peer_cpu, peer_mib, peer_probes = measured["peer"]
        peer = f"Prometheus + blackbox_exporter ({peer_probes})"
        rows += [
            Row(
                "B10 peer", f"serve: CPU per probe ({load})", serve_cpu, peer, peer_cpu, PEER_BOUND
            ),
            Row("B10 peer", f"serve: RSS MiB ({load})", serve_mib, peer, peer_mib, PEER_BOUND),
        ]
    return rows


def b10_peer() -> list[Row]:
    missing = _missing()
    if missing is not None:
        print(f"B10: {missing}")
    rows = []
    for count in _counts():
        measured = _round(count, missing)
        # As they come: a later round that fails does not take these with it.
        for row in measured:
            print(f"B10 {row.measures}: {row.seconds:.6f} against {row.baseline_seconds:.6f}")
        rows += measured
    return rows


BENCHMARKS = (b10_peer,)
