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
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import attrs
from prometheus_client.parser import text_string_to_metric_families

from waypoint_hooks.serve.scheduler import JITTER

from ._measure import Row, sized
from ._serving import filepath_project, get, serving, until

# The tests' PostgreSQL server: the benchmark starts one the same way.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers_postgres import installed, query, running_cluster

#: ``B9_APPS`` in the environment sets another number, for a quicker run.
APPS = int(os.environ.get("B9_APPS", sized("10000", "4")))
INTERVAL = sized(60.0, 3.0)
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


def _checked(url: str) -> int:
    """How many targets have been checked, from each location that checks them: by the
    reports stored (each check stores one; up stores none here), whose rows name their target
    by its key."""
    ((count,),) = query(
        url, "SELECT count(*) FROM (SELECT DISTINCT target, location FROM reports) AS t"
    )
    return int(count)


@attrs.frozen
class Measured:
    """What :func:`_rounds` measured."""

    #: Each instance's scheduling lag, median and 99th percentile (its latest 1,000 checks).
    p50: list[float]
    p99: list[float]
    #: Database round trips per check, start-up included.
    trips: float
    #: The checks whose reports were stored within one interval of the steady state, and how
    #: many were due in it: each target once from each of its locations.
    counted: int
    expected: int
    #: How many targets (from each location) were checked 0, 1, 2… times in that interval.
    spread: dict[int, int]
    #: The shortest time between two checks of one target from one location, from its second
    #: check on, in intervals: well below 1 - JITTER, a target was checked twice.
    closest: float
    #: How many checks each instance made about that interval, by its metrics (none counted
    #: with locations).
    shares: list[int]


def _rounds(locations: tuple[str, ...], sites: list[str]) -> Measured:
    """Serve the apps (from each of ``locations``, when named) by one instance in each of
    ``sites`` (``""``: none): once every target has been checked (from each location), let
    one interval go by (the second round, spread by the jitter, as a service's checks are
    from then on), then count the checks of the next interval from the reports stored, each
    with its time. Counting by the reports, not by the instances' metrics, keeps the window
    exact: a scrape of 10,000 targets' metrics under this load takes tens of seconds, and
    counting from one scrape to the next (as this did) counted three to four intervals."""
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
            until(lambda: _checked(url) >= per_round, "the first round of checks", poll=1.0)
            begin = time.time() + INTERVAL
            end = begin + INTERVAL
            until(lambda: time.time() >= begin, "the second round")
            # The instances' shares, by their metrics (only where they share the checks of no
            # location: each scrape of 10,000 targets' metrics under load takes tens of seconds).
            first = [] if locations else [_checks(address) for address in urls]
            # A check that started in the window is stored a moment after it.
            until(lambda: time.time() >= end + 2.0, "the window")
            # (With locations, none: zip stops at the shorter.)
            shares = [
                _checks(address) - before for address, before in zip(urls, first, strict=False)
            ]
            health = [json.loads(get(address + "healthz"))["lag_seconds"] for address in urls]
        counts = query(
            url,
            "SELECT count(*) FROM reports WHERE generated >= ? AND generated < ? "
            "GROUP BY target, location",
            (round(begin * 1e6), round(end * 1e6)),
        )
        # From the second check of each on: the first round is one batch of every target,
        # queued behind the runner's concurrency, so its reports are stored over its length.
        ((closest,),) = query(
            url,
            "SELECT min(generated - previous) FROM (SELECT generated, lag(generated) OVER "
            "(PARTITION BY target, location ORDER BY generated) AS previous, "
            "row_number() OVER (PARTITION BY target, location ORDER BY generated) "
            "AS nth FROM reports) AS t WHERE nth > 2",
        )
        ((made,),) = query(url, "SELECT count(*) FROM reports")
        total_trips = sum(json.loads(path.read_text()) for path in trips)
    spread = Counter(count for (count,) in counts)
    spread[0] = per_round - len(counts)
    return Measured(
        [lag["p50"] for lag in health],
        [lag["p99"] for lag in health],
        total_trips / made,
        sum(count for (count,) in counts),
        per_round,
        dict(sorted(spread.items())),
        closest / 1e6 / INTERVAL,
        shares,
    )


def _rows(name: str, load: str, measured: Measured) -> list[Row]:
    """The rows of a measure: the bounds' and, beside them, the window's figures."""
    return [
        Row(
            f"{name} lag",
            f"{load}: scheduling lag p99, the worst instance",
            max(measured.p99),
            "the bound, 2 s",
            LAG_BOUND,
            1.0,
        ),
        Row(
            f"{name} lag p50",
            f"{load}: scheduling lag p50, the worst instance",
            max(measured.p50),
            "the bound of p99, 2 s",
            LAG_BOUND,
            None,
        ),
        Row(
            f"{name} trips",
            f"{load}: database round trips per check (start-up included)",
            measured.trips,
            "the bound, 3",
            TRIPS_BOUND,
            1.0,
        ),
        Row(
            f"{name} counted",
            f"{load}: checks stored in one interval, against each target once from each "
            f"location (targets by checks in it: {measured.spread})",
            measured.counted,
            "the checks due",
            measured.expected,
            None,
        ),
        Row(
            f"{name} closest",
            f"{load}: the shortest time between two checks of one target from one location, "
            "in intervals",
            measured.closest,
            "the shortest jittered interval",
            1 - JITTER,
            None,
        ),
    ]


def b9_cluster() -> list[Row]:
    measured = _rounds((), [""] * INSTANCES)
    load = f"serve on PostgreSQL ({APPS} apps every {INTERVAL:g}s, {INSTANCES} instances)"
    return [
        *_rows("B9", load, measured),
        Row(
            "B9 share",
            "the larger instance's share of the checks of one interval",
            max(measured.shares) / sum(measured.shares),
            "an even share",
            1 / INSTANCES,
            1 + SHARE_BOUND,
        ),
    ]


def b9_locations() -> list[Row]:
    measured = _rounds(LOCATIONS, [site for site in LOCATIONS for _ in range(2)])
    load = (
        f"serve from several locations ({APPS} apps x {len(LOCATIONS)} locations every "
        f"{INTERVAL:g}s, 2 instances in each)"
    )
    return _rows("B9 locations", load, measured)


BENCHMARKS = (b9_cluster, b9_locations)
