"""B9: two ``waypoint-hooks serve`` instances sharing one PostgreSQL state (DESIGN §16), with
10,000 apps of the trivial ``filepath`` plugin checked every 60 s: the scheduling lag, the
database round trips per check, and how evenly the two share the checks.

The server is the tests' own (Debian's postgresql, started in a temporary directory). Each
instance runs the real command line; a small driver counts the round trips of every
connection it opens (``PostgresDatabase.round_trips``: each statement, BEGIN and COMMIT; a
pipelined ``executemany`` is one) and writes the sum when the process exits.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from waypoint_hooks._state import State

from ._measure import Row
from .startup import _ENV

# The tests' PostgreSQL server: the benchmark starts one the same way.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers_postgres import installed, running_cluster

APPS = 10_000
INTERVAL = 60.0
INSTANCES = 2
#: The bounds the issue sets: lag p99 (seconds), round trips per check, and how far either
#: instance's share of the checks may be from an even one.
LAG_BOUND = 2.0
TRIPS_BOUND = 3.0
SHARE_BOUND = 0.1

_DRIVER = """
import atexit, json, sys
from waypoint_hooks import _postgres

opened = []
original = _postgres.PostgresDatabase.__init__

def counting(self, *args, **kwargs):
    original(self, *args, **kwargs)
    opened.append(self)

_postgres.PostgresDatabase.__init__ = counting

def report():
    with open(sys.argv[1], "w") as out:
        json.dump(sum(database.round_trips for database in opened), out)

atexit.register(report)
from waypoint_hooks.cli import main

main(sys.argv[2:], prog_name="waypoint-hooks")
"""


def _project(root: Path, url: str) -> Path:
    """``APPS`` filepath apps, deployed straight into the state (the deploys are not what is
    measured)."""
    out = root / "out"
    out.mkdir()
    blocks = "".join(
        f'app "app{index}" {{\n  deploy {{\n    use "filepath" {{}}\n  }}\n}}\n'
        for index in range(APPS)
    )
    config = root / "waypoint.hcl"
    config.write_text(
        f'project = "bench"\n\nstatus {{\n  interval = "{INTERVAL:g}s"\n}}\n\n{blocks}'
    )
    with State.open(url) as state:
        for index in range(APPS):
            path = out / f"app{index}.txt"
            path.write_text("x")
            state.add_deployment(f"app{index}", "default", "filepath", {"path": str(path)})
    return config


def _until(condition: Callable[[], object], what: str, guard: float = 900.0) -> None:
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"B9: still waiting for {what} after {guard:g}s")
        time.sleep(0.5)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        body: bytes = response.read()
    return body


def _checks(url: str) -> int:
    """How many checks the instance at ``url`` made, by its metrics."""
    text = _get(url + "metrics").decode()
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == "waypoint_hooks_check_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    )


@contextlib.contextmanager
def _serving(config: Path, url: str, trips: Path) -> Iterator[str]:
    command = ["-c", str(config), "--state", url, "serve", "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(trips), *command],
        env=_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert process.stderr is not None
    stream = process.stderr
    threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()

    def address() -> str | None:
        if process.poll() is not None:
            raise RuntimeError(f"B9: serve exited: {''.join(lines)}")
        found = [re.search(r"on (http://\S+/) ", line) for line in lines]
        return next((match.group(1) for match in found if match), None)

    _until(address, "serve to listen")
    try:
        yield str(address())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=300)


def b9_cluster() -> list[Row]:
    if not installed():
        raise RuntimeError("B9 needs Debian's postgresql (apt-get install postgresql)")
    with tempfile.TemporaryDirectory() as directory, running_cluster() as server:
        root = Path(directory)
        url = server.database()
        config = _project(root, url)
        trips = [root / f"trips{number}.json" for number in range(INSTANCES)]
        with contextlib.ExitStack() as stack:
            urls = [stack.enter_context(_serving(config, url, path)) for path in trips]
            # The first round starts every check at once, mostly in the instance that
            # started first; the second comes due over the jittered interval, as a service's
            # checks do from then on: what is measured.
            _until(lambda: sum(map(_checks, urls)) >= APPS, "the first round of checks")
            first = [_checks(address) for address in urls]
            _until(lambda: sum(map(_checks, urls)) >= sum(first) + APPS, "a second round")
            all_checks = [_checks(address) for address in urls]
            counts = [now - before for now, before in zip(all_checks, first, strict=True)]
            lags = [json.loads(_get(address + "healthz"))["lag_seconds"]["p99"] for address in urls]
        total_trips = sum(json.loads(path.read_text()) for path in trips)
    checks = sum(counts)
    share = max(counts) / checks
    load = f"{APPS} apps every {INTERVAL:g}s, {INSTANCES} instances, a round of {checks} checks"
    return [
        Row(
            "B9 lag",
            f"serve on PostgreSQL: scheduling lag p99, the worse instance ({load})",
            max(lags),
            "the bound, 2 s",
            LAG_BOUND,
            1.0,
        ),
        Row(
            "B9 trips",
            "serve on PostgreSQL: database round trips per check (start-up included)",
            total_trips / sum(all_checks),
            "the bound, 3",
            TRIPS_BOUND,
            1.0,
        ),
        Row(
            "B9 share",
            "the larger instance's share of the checks of the second round",
            share,
            "an even share",
            1 / INSTANCES,
            1 + SHARE_BOUND,
        ),
    ]


BENCHMARKS = (b9_cluster,)
