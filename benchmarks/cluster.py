"""B9: two ``waypoint-hooks serve`` instances sharing one PostgreSQL state (DESIGN §16), with
10,000 apps of the trivial ``filepath`` plugin checked every 60 s: the scheduling lag, the
database round trips per check, and how evenly the two share the checks. Then the same apps
checked from two locations (DESIGN §21) by four instances, two in each: twice the checks, each
report stored with the combined health read for its alerts.

The server is the tests' own (Debian's postgresql, started in a temporary directory). Each
instance runs the real command line; a small driver counts the round trips of every
connection it opens (``PostgresDatabase.round_trips``: each statement, BEGIN and COMMIT; a
pipelined ``executemany`` is one) and writes the sum when the process exits.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ._measure import Row
from ._serving import filepath_project, get, serving, until

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
#: The locations of the second measure, each served by two instances.
LOCATIONS = ("eu", "us")

_DRIVER = """
import atexit, json, sys
from waypoint_hooks.state import postgres as _postgres

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
from waypoint_hooks.cli.commands import main

main(sys.argv[2:], prog_name="waypoint-hooks")
"""


def _checks(url: str) -> int:
    """How many checks the instance at ``url`` made, by its metrics."""
    text = get(url + "metrics").decode()
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == "waypoint_hooks_check_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    )


@contextlib.contextmanager
def _serving(config: Path, url: str, trips: Path, location: str = "") -> Iterator[str]:
    command = ["-c", str(config), "--state", url, "serve", "--port", "0"]
    if location:
        command += ["--location", location]
    with serving([sys.executable, "-c", _DRIVER, str(trips), *command]) as (_, address):
        yield address


def _rounds(locations: tuple[str, ...], sites: list[str]) -> tuple[list[float], float, list[int]]:
    """Serve the apps (from each of ``locations``, when named) by one instance in each of
    ``sites`` (``""``: none) until two rounds of checks are made: each instance's lag p99,
    the round trips per check, and how many checks each made in the second round."""
    if not installed():
        raise RuntimeError("B9 needs Debian's postgresql (apt-get install postgresql)")
    per_round = APPS * max(len(locations), 1)
    with tempfile.TemporaryDirectory() as directory, running_cluster() as server:
        root = Path(directory)
        url = server.database()
        config = filepath_project(root, APPS, INTERVAL, url)
        if locations:
            listed = ", ".join(f'"{name}"' for name in locations)
            text = config.read_text().replace(
                "status {\n", f"status {{\n  locations = [{listed}]\n", 1
            )
            config.write_text(text)
        trips = [root / f"trips{number}.json" for number in range(len(sites))]
        with contextlib.ExitStack() as stack:
            urls = [
                stack.enter_context(_serving(config, url, path, site))
                for path, site in zip(trips, sites, strict=True)
            ]
            # The first round starts every check at once, mostly in the instance that
            # started first; the second comes due over the jittered interval, as a service's
            # checks do from then on: what is measured.
            until(lambda: sum(map(_checks, urls)) >= per_round, "the first round of checks")
            first = [_checks(address) for address in urls]
            until(lambda: sum(map(_checks, urls)) >= sum(first) + per_round, "a second round")
            all_checks = [_checks(address) for address in urls]
            counts = [now - before for now, before in zip(all_checks, first, strict=True)]
            lags = [json.loads(get(address + "healthz"))["lag_seconds"]["p99"] for address in urls]
        total_trips = sum(json.loads(path.read_text()) for path in trips)
    return lags, total_trips / sum(all_checks), counts


def b9_cluster() -> list[Row]:
    lags, trips, counts = _rounds((), [""] * INSTANCES)
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
            trips,
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


def b9_locations() -> list[Row]:
    lags, trips, counts = _rounds(LOCATIONS, [site for site in LOCATIONS for _ in range(2)])
    load = (
        f"{APPS} apps x {len(LOCATIONS)} locations every {INTERVAL:g}s, 2 instances in each, "
        f"a round of {sum(counts)} checks"
    )
    return [
        Row(
            "B9 locations lag",
            f"serve from several locations: scheduling lag p99, the worst instance ({load})",
            max(lags),
            "the bound, 2 s",
            LAG_BOUND,
            1.0,
        ),
        Row(
            "B9 locations trips",
            "serve from several locations: database round trips per check (start-up included)",
            trips,
            "the bound, 3",
            TRIPS_BOUND,
            1.0,
        ),
    ]


BENCHMARKS = (b9_cluster, b9_locations)
