"""Several instances on one state (DESIGN §16): leases that say who runs, checks claimed by one
instance at a time and taken over from one whose lease ran out, alerts sent by one instance
each, and owners on other machines judged by their leases; on both databases, and by real
processes."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers_postgres import Cluster, query
from helpers_state import add_deployment, store_reports, written
from hostile.harness import GUARD, Processes
from hostile.serving import Served, fewest_apart

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.machine import Alerting
from waypoint_hooks.config.project import Notify, Use
from waypoint_hooks.state import postgres as _postgres
from waypoint_hooks.state.cluster import UNPLANNED
from waypoint_hooks.state.owners import this_command
from waypoint_hooks.state.store import State

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LEASE = 30.0
#: A process of another machine (its boot is not this one's).
ELSEWHERE = "0f0f0f0f-other-boot:4242:777"


#: Rules that fire on the first report that is not READY.
RULES = Alerting([Notify("oncall", None, Use("pager", {}, None))])


def down() -> StatusReport:
    return finalize(StatusReport(health=Health.DOWN), "p")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


#: The checks of the tests: an app's deployment or release.
KEYS = [("a", "deployment"), ("b", "deployment"), ("b", "release")]


@pytest.fixture
def state(location: Path | str) -> Iterator[State]:
    """A state whose leases the tests write alone, at the times they choose: without the
    heartbeat that a state machines share keeps (it would renew at the clock's time)."""
    with State.open(location, leased=False) as opened:
        yield opened


@pytest.fixture
def planned(state: State) -> list[tuple[str, str]]:
    written(state, state.cluster.plan_checks, "default", KEYS, T0)
    written(state, state.cluster.renew, T0, LEASE, serving=True)
    return KEYS


def taken(state: State, now: datetime, **options: Any) -> list[tuple[str, str]]:
    return [
        (app, kind) for app, kind, _ in state.cluster.take_checks("default", now, **options).checks
    ]


def back(keys: list[tuple[str, str]], due: datetime) -> list[tuple[str, str, datetime]]:
    return [(app, kind, due) for app, kind in keys]


def lease_elsewhere(
    location: Path | str,
    until: datetime,
    owner: str = ELSEWHERE,
    serving: bool = True,
    renewed: datetime = datetime(1970, 1, 1, tzinfo=timezone.utc),
) -> None:
    """A lease of a process on another machine (a serve instance, unless not ``serving``),
    as its own heartbeat writes it."""
    micros = (until - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    since = (renewed - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    query(
        location,
        "INSERT INTO instances (owner, host, pid, started, renewed, lease_until, serving)"
        " VALUES (?, 'elsewhere', 4242, 0, ?, ?, ?)",
        (owner, since, micros, int(serving)),
    )


def test_due_checks_are_held_by_the_instance_that_takes_them_until_given_back(
    state: State, planned: list[tuple[str, str]]
) -> None:
    assert taken(state, T0) == planned
    assert taken(state, at(1)) == []
    assert taken(state, at(1), released=back(planned, at(60))) == []
    assert taken(state, at(59)) == []
    assert taken(state, at(60)) == planned


def test_a_turn_says_when_the_next_check_is_due_and_how_many_instances_share(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    state.cluster.take_checks("default", T0)
    lease_elsewhere(location, at(LEASE))
    turn = state.cluster.take_checks("default", at(1), released=back(planned[:1], at(60)))
    assert (turn.checks, turn.next_due, turn.instances) == ([], at(60), 2)


def test_each_instance_takes_its_share_of_what_is_due_the_longest_due_first(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    state.cluster.take_checks("default", T0)
    dues = {key: at(10 + n) for n, key in enumerate(reversed(planned))}
    state.cluster.take_checks("default", at(1), released=[(*key, due) for key, due in dues.items()])
    lease_elsewhere(location, at(LEASE))
    # Three due, two instances: this one takes two, the longest due first; the other the rest.
    assert taken(state, at(20)) == [planned[2], planned[1]]
    query(location, "UPDATE instances SET lease_until = 0 WHERE owner = ?", (ELSEWHERE,))
    assert taken(state, at(20)) == [planned[0]]


def test_what_another_instance_holds_counts_in_the_shares(
    state: State, location: Path | str
) -> None:
    four = [(app, "deployment") for app in "abcd"]
    written(state, state.cluster.plan_checks, "default", four, T0)
    written(state, state.cluster.renew, T0, LEASE, serving=True)
    lease_elsewhere(location, at(LEASE))
    # The other instance took two a moment ago: of the two left, this one takes both.
    query(location, "UPDATE checks SET holder = ? WHERE app IN ('a', 'b')", (ELSEWHERE,))
    assert taken(state, T0) == four[2:]
    # Still busy with those two, it takes none of two more that came due.
    query(location, "UPDATE checks SET holder = NULL WHERE app IN ('a', 'b')")
    assert taken(state, T0) == []


def test_a_command_that_is_not_a_serve_instance_counts_in_no_share_and_is_not_listed(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    lease_elsewhere(location, at(LEASE), serving=False)
    assert taken(state, T0) == planned
    assert [item.owner for item in state.cluster.instances(T0, "default")] == [this_command()]


def test_a_check_this_instance_declined_is_left_to_the_others(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    state.cluster.take_checks("default", T0)
    state.cluster.take_checks("default", at(1), declined=back(planned[:1], T0))
    # Due since T0, and free: but for the others.
    assert taken(state, at(2)) == []
    assert query(location, "SELECT declined FROM checks WHERE app = 'a'") == [(this_command(),)]
    # Given back by one that checked it, it is anyone's again.
    query(
        location, "UPDATE checks SET holder = ?, declined = NULL WHERE app = 'a'", (this_command(),)
    )
    assert taken(state, at(3), released=back(planned[:1], at(3))) == planned[:1]


@contextlib.contextmanager
def written_elsewhere(location: Path | str) -> Iterator[None]:
    """Another writer holds the checks for as long as this lasts: a write transaction that
    takes checks waits for it; reading does not."""
    if isinstance(location, Path):
        with contextlib.closing(sqlite3.connect(location, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            yield
            db.execute("ROLLBACK")
        return
    with psycopg.connect(location) as db:
        db.execute("LOCK TABLE checks IN EXCLUSIVE MODE")
        yield
        db.rollback()


def test_a_turn_with_nothing_due_nor_to_give_back_writes_nothing(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    state.cluster.take_checks("default", T0)
    state.cluster.take_checks("default", at(1), released=back(planned, at(60)))
    turns: list[Any] = []
    with written_elsewhere(location):

        def take() -> None:
            state.adopt()  # the connection is this thread's now: the one that uses it
            turns.append(state.cluster.take_checks("default", at(2)))

        turn = threading.Thread(target=take)
        turn.start()
        turn.join(20)  # a guard: the turn waits for nobody
        assert [(taken.checks, taken.next_due) for taken in turns] == [([], at(60))]
    turn.join()


def test_only_the_named_apps_are_taken(state: State, planned: list[tuple[str, str]]) -> None:
    assert taken(state, T0, apps=["b"]) == planned[1:]
    assert taken(state, T0) == planned[:1]


def test_the_checks_of_an_instance_whose_lease_ran_out_are_taken_over(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    lease_elsewhere(location, at(LEASE))
    query(location, "UPDATE checks SET holder = ?", (ELSEWHERE,))
    written(state, state.cluster.renew, T0, 3600)
    assert taken(state, at(LEASE - 1)) == []
    assert taken(state, at(LEASE)) == planned


def test_after_an_outage_longer_than_every_lease_a_held_check_waits_for_its_holder(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    """Both instances were cut off from the state longer than their leases: coming back,
    this one neither takes the other's checks before it renewed its own lease, nor after,
    until the other has had a whole lease to renew its own (DESIGN §16)."""
    lease_elsewhere(location, at(LEASE), renewed=T0)
    query(location, "UPDATE checks SET holder = ?", (ELSEWHERE,))
    # The outage: nobody renews from T0 to at(100).
    assert taken(state, at(100)) == []  # its own lease ran out: it takes nothing held
    written(state, state.cluster.renew, at(100), 3600, serving=True)
    assert taken(state, at(101)) == []
    assert taken(state, at(100 + LEASE - 1)) == []
    assert taken(state, at(100 + LEASE)) == planned  # the other had a lease to renew: gone


def test_after_an_outage_a_holder_that_renews_keeps_its_checks(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    lease_elsewhere(location, at(LEASE), renewed=T0)
    query(location, "UPDATE checks SET holder = ?", (ELSEWHERE,))
    written(state, state.cluster.renew, at(100), 3600, serving=True)
    # The other comes back too, and renews its lease.
    query(location, "DELETE FROM instances WHERE owner = ?", (ELSEWHERE,))
    lease_elsewhere(location, at(105 + LEASE), renewed=at(105))
    assert taken(state, at(100 + LEASE)) == []
    assert taken(state, at(104 + LEASE)) == []


def test_a_check_taken_over_meanwhile_is_left_to_its_new_holder(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    state.cluster.take_checks("default", T0)
    lease_elsewhere(location, at(LEASE))
    query(location, "UPDATE checks SET holder = ?", (ELSEWHERE,))
    state.cluster.take_checks("default", at(1), released=back(planned, at(60)))
    assert query(location, "SELECT DISTINCT holder, due FROM checks") == [
        (ELSEWHERE, query(location, "SELECT min(due) FROM checks")[0][0])
    ]


def test_a_check_asked_for_now_is_taken_due_or_not_unless_a_live_instance_holds_it(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    state.cluster.take_checks("default", T0, released=[])
    state.cluster.take_checks("default", at(1), released=back(planned, at(3600)))
    lease_elsewhere(location, at(LEASE))
    query(location, "UPDATE checks SET holder = ? WHERE app = 'a'", (ELSEWHERE,))
    assert taken(state, at(2), keys=[("a", "deployment"), ("b", "release")]) == [planned[2]]


def test_planning_again_keeps_each_checks_due_time_and_drops_what_none_planned_for_long(
    state: State, planned: list[tuple[str, str]]
) -> None:
    state.cluster.take_checks("default", T0)
    state.cluster.take_checks("default", at(1), released=back(planned, at(60)))
    written(state, state.cluster.plan_checks, "default", [*planned, ("c", "deployment")], at(2))
    assert taken(state, at(30)) == [("c", "deployment")]
    # Planned by some instance within UNPLANNED: kept; for longer by none: dropped.
    written(state, state.cluster.plan_checks, "default", planned[:1], at(UNPLANNED))
    assert len(query(state.location, "SELECT 1 FROM checks")) == 4
    written(state, state.cluster.plan_checks, "default", planned[:1], at(UNPLANNED + 3))
    assert query(state.location, "SELECT app, kind FROM checks") == [planned[0]]


def test_workspaces_have_checks_of_their_own(state: State, planned: list[tuple[str, str]]) -> None:
    written(state, state.cluster.plan_checks, "staging", planned[:1], T0)
    assert taken(state, T0) == planned
    assert [key for *key, _ in state.cluster.take_checks("staging", T0).checks] == [
        list(planned[0])
    ]


def test_the_instances_are_listed_with_what_each_holds(
    state: State, planned: list[tuple[str, str]], location: Path | str
) -> None:
    lease_elsewhere(location, at(LEASE))
    held = taken(state, T0)  # its share: two of three
    query(location, "UPDATE instances SET lease_until = 0 WHERE owner = ?", (ELSEWHERE,))
    listed = {item.owner: item for item in state.cluster.instances(T0, "default")}
    assert set(listed) == {this_command(), ELSEWHERE}
    mine = listed[this_command()]
    assert (mine.pid, mine.alive, list(mine.holding)) == (os.getpid(), True, sorted(held))
    assert (listed[ELSEWHERE].alive, listed[ELSEWHERE].holding) == (False, ())
    assert state.cluster.instances(T0, "staging")[0].holding == ()


def renewed(location: Path | str) -> int:
    ((when,),) = query(location, "SELECT renewed FROM instances WHERE owner = ?", (this_command(),))
    return int(when)


def test_the_lease_is_renewed_while_a_reading_holds_the_state(location: Path | str) -> None:
    with State.open(location) as state:
        record = add_deployment(state, "web", "default", "p", {})
        store_reports(state, [(record, down()) for _ in range(3)])
        state.keep_alive(0.3, serving=True)  # renewed every 0.1 s
        reading = state.reports.history("web", "default")
        next(reading)  # the state's connection is its until it is read to the end
        first = renewed(location)
        deadline = time.monotonic() + GUARD
        while renewed(location) == first:
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.05)
        reading.close()


def test_a_state_closed_while_postgresql_is_away_does_not_wait_for_it(
    postgres: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any wait for the server would be this long: the guard below would see it.
    monkeypatch.setattr(_postgres, "RECONNECT", 3600.0)
    state = State.open(postgres.database())
    postgres.stop()
    try:
        closing = threading.Thread(target=state.close)
        closing.start()
        closing.join(GUARD)
        assert not closing.is_alive(), "closing the state waited for the server"
    finally:
        postgres.start()


def test_an_instance_dead_for_a_day_is_forgotten(state: State, location: Path | str) -> None:
    lease_elsewhere(location, at(-24 * 3600 + 1), "0f0f0f0f-other-boot:1:1")
    lease_elsewhere(location, at(-24 * 3600 - 1))
    written(state, state.cluster.renew, T0, LEASE, serving=True)
    listed = [(item.owner, item.alive) for item in state.cluster.instances(T0, "default")]
    assert sorted(listed) == sorted([(this_command(), True), ("0f0f0f0f-other-boot:1:1", False)])


def test_an_instance_that_leaves_holds_nothing_and_is_not_listed(
    state: State, planned: list[tuple[str, str]]
) -> None:
    state.cluster.take_checks("default", T0)
    written(state, state.cluster.leave)
    assert state.cluster.instances(T0, "default") == []
    written(state, state.cluster.renew, T0, LEASE, serving=True)
    assert taken(state, T0) == planned


def test_a_pending_record_of_another_machine_is_interrupted_once_its_lease_ran_out(
    state: State, location: Path | str
) -> None:
    record = written(state, state.records.begin, "deployment", "web", "default", "p")
    query(location, "UPDATE targets SET owner = ?", (ELSEWHERE,))
    lease_elsewhere(location, datetime.now(timezone.utc) + timedelta(hours=1))
    assert state.records.get("deployment", record.id) == record
    query(location, "UPDATE instances SET lease_until = 0")
    assert [r.status for r in state.records.versions("deployment", "web", "default")] == [
        "interrupted"
    ]


def test_a_destroy_claimed_on_another_machine_is_claimed_again_once_its_lease_ran_out(
    state: State, location: Path | str
) -> None:
    record = add_deployment(state, "web", "default", "p", {})
    query(location, "UPDATE targets SET claimed = ?", (ELSEWHERE,))
    lease_elsewhere(location, datetime.now(timezone.utc) + timedelta(hours=1))
    assert not written(state, state.records.claim, record)
    query(location, "UPDATE instances SET lease_until = 0")
    assert written(state, state.records.claim, record)


def test_the_state_keeps_a_lease_while_open_where_machines_share_it(
    location: Path | str,
) -> None:
    with State.open(location):
        listed = query(location, "SELECT owner, serving FROM instances")
        assert listed == ([] if isinstance(location, Path) else [(this_command(), 0)])
    assert query(location, "SELECT count(*) FROM instances") == [(0,)]


# Real processes: each instance claims what is due, "checks" it (a line in its log with when
# it started and ended), and releases it due one interval later; its lease renewed by
# keep_alive. One of them is killed on the way.

INSTANCE = """
import json, sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from waypoint_hooks.state.store import State

location = sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])
log, interval, lease = Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
with State.open(location) as state, log.open("a") as out:
    state.keep_alive(lease, serving=True)
    ended = []
    while True:
        now = datetime.now(timezone.utc)
        turn = state.cluster.take_checks("default", now, ended)
        started = time.time()
        time.sleep(0.05)
        for app, kind, _ in turn.checks:
            print(json.dumps([app, started, time.time()]), file=out, flush=True)
        due = now + timedelta(seconds=interval)
        ended = [(app, kind, due) for app, kind, _ in turn.checks]
        time.sleep(0.02)
"""


def checks(logs: list[Path]) -> list[tuple[str, float, float, int]]:
    """Every check the instances logged: ``(app, start, end, instance)``."""
    found = []
    for number, log in enumerate(logs):
        for line in log.read_text().splitlines() if log.exists() else []:
            id, start, end = json.loads(line)
            found.append((id, start, end, number))
    return found


def test_instances_share_the_checks_and_take_over_those_of_one_killed(
    location: Path | str, tmp_path: Path
) -> None:
    interval, lease, count = 1.0, 2.0, 12
    apps = [f"app{n}" for n in range(count)]
    with State.open(location) as state:
        written(
            state,
            state.cluster.plan_checks,
            "default",
            [(app, "deployment") for app in apps],
            datetime.now(timezone.utc),
        )
    logs = [tmp_path / f"instance{n}.log" for n in range(3)]
    started = [
        subprocess.Popen(
            [sys.executable, "-c", INSTANCE, str(location), str(log), str(interval), str(lease)]
        )
        for log in logs
    ]
    try:
        deadline = time.monotonic() + GUARD

        def rounds() -> int:
            done = Counter(id for id, *_ in checks(logs))
            return min((done[app] for app in apps), default=0)

        while rounds() < 3 or len({number for *_, number in checks(logs)}) < 3:
            assert time.monotonic() < deadline, "the instances did not check every target"
            time.sleep(0.1)
        killed = started[0]
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        killed_at = time.time()
        before = Counter(id for id, *_ in checks(logs))
        while min(Counter(id for id, *_ in checks(logs)).values()) < max(before.values()) + 3:
            assert time.monotonic() < deadline, "the others did not take over"
            time.sleep(0.1)
    finally:
        for process in started:
            process.kill()
            process.wait()
    found = checks(logs)
    # Never two checks of one target at once, whichever instances made them.
    for app in apps:
        spans = sorted((start, end) for id, start, end, _ in found if id == app)
        assert all(end <= later for (_, end), (later, _) in itertools.pairwise(spans))
    # Every target was checked by the survivors after the kill: none was lost with it.
    after = {id for id, start, _, number in found if number > 0 and start > killed_at}
    assert after == set(apps)
    # All three shared the work before the kill.
    assert {number for *_, number in found} == {0, 1, 2}


# Three couriers at once on one outbox: each alert is sent by one of them, once.

COURIER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from waypoint_hooks.state.store import State

location = sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])
with State.open(location) as state, open(sys.argv[2], "a") as out:
    while state.outbox.next_delivery(datetime.now(timezone.utc)) is not None:
        now = datetime.now(timezone.utc)
        for delivery in state.write(lambda tx: state.outbox.claim(tx, now, 60.0)):
            print(delivery.id, file=out, flush=True)
            now = datetime.now(timezone.utc)
            state.write(lambda tx: state.outbox.record_attempt(tx, delivery, now, now))
"""


def test_each_alert_is_delivered_by_one_instance_once(location: Path | str, tmp_path: Path) -> None:
    with State.open(location) as state:
        records = [add_deployment(state, f"app{n}", "default", "p", {}) for n in range(100)]
        for record in records:
            store_reports(state, [(record, down())], alerting=RULES)
        raised = {item.id for item in state.outbox.alerts("default")}
    assert len(raised) == 100
    logs = [tmp_path / f"courier{n}.log" for n in range(3)]
    couriers = [
        subprocess.Popen([sys.executable, "-c", COURIER, str(location), str(log)]) for log in logs
    ]
    for courier in couriers:
        assert courier.wait(GUARD) == 0
    sent = [int(line) for log in logs if log.exists() for line in log.read_text().split()]
    assert sorted(sent) == sorted(raised)
    with State.open(location) as state:
        assert all(item.delivered is not None for item in state.outbox.alerts("default"))


# Three `serve` processes on one state: every target checked once per interval by one of them
# at a time; one SIGKILLed, its checks taken over within its lease; on PostgreSQL, the server
# restarted under them, and each check's report stored once.

#: The ledger's clocks are two processes' readings, and the plugin's own bookkeeping.
EPSILON = 0.05


def spans(served: Served, app: str) -> list[tuple[float, float, int]]:
    """``(start, end, pid)`` of each check of ``app``'s deployment, by start (the ledger has
    them as they ended, in whichever process)."""
    return sorted(served.checks(app))


def test_three_serve_instances_share_the_checks_and_survive_a_kill_and_a_restart(
    location: Path | str, tmp_path: Path, processes: Processes, request: pytest.FixtureRequest
) -> None:
    served = Served(tmp_path, processes)
    served.project.state_url = str(location)
    served.project.location = location
    apps = [f"app{n}" for n in range(6)]
    interval = 1.0
    served.configure({app: {"sleep": 0.05} for app in apps}, interval=f"{interval:g}s")
    served.up()
    since = time.time()
    services = [served.serve("--lease", "2s") for _ in range(3)]
    first, *survivors = services

    def checked_by(pids: set[int], after: float, rounds: int) -> bool:
        return all(
            sum(pid in pids and start > after for start, _, pid in spans(served, app)) >= rounds
            for app in apps
        )

    every = {service.process.pid for service in services}
    first.wait_for(
        lambda: (
            checked_by(every, 0.0, 3)
            and {pid for app in apps for *_, pid in spans(served, app)} == every
        ),
        "every target checked three times, by all three instances",
    )
    listed = first.get("/api/cluster").json()["instances"]
    assert sorted(item["pid"] for item in listed if item["alive"]) == sorted(every)
    assert [item["pid"] for item in listed if item["this"]] == [first.process.pid]

    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    killed, killed_wall = time.monotonic(), datetime.now(timezone.utc)
    left = {service.process.pid for service in survivors}
    survivors[0].wait_for(lambda: checked_by(left, killed, 3), "the survivors to take over")
    if not isinstance(location, Path):
        cluster = request.getfixturevalue("postgres")
        cluster.stop()
        cluster.start()
        restarted = time.monotonic()
        survivors[0].wait_for(
            lambda: checked_by(left, restarted, 3), "the checks to go on after the restart"
        )
    # Each shows every target's latest report, whichever instance made it.
    for service in survivors:
        for row in service.get("/api/status").json()["apps"]:
            generated = row["deployment"]["report"]["generated_time"]
            assert datetime.fromisoformat(generated.replace("Z", "+00:00")) > killed_wall, row
    listed = survivors[0].get("/api/cluster").json()["instances"]
    assert {item["pid"]: item["alive"] for item in listed}[first.process.pid] is False
    for service in survivors:
        assert service.stop().returncode == 0, service.stderr
        assert "Traceback" not in service.stderr

    for app in apps:
        found = spans(served, app)
        # Never two checks of one target at once, whichever instances made them...
        for (_, ended, _), (started, _, _) in itertools.pairwise(found):
            assert started >= ended - EPSILON, (app, found)
        # ...nor two in one interval.
        gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(found)]
        assert min(gaps) >= fewest_apart(interval), (app, gaps)
        # Each check's report stored once (a write whose answer a restart lost is not made
        # again); those the killed instance made may have gone with it.
        generated = [
            row[0]
            for row in served.project.query(
                "SELECT generated FROM reports JOIN targets ON targets.key = reports.target"
                " WHERE targets.app = ? AND kind = 'deployment'"
                " AND generated > ?",
                (app, round(since * 1e6)),
            )
        ]
        assert len(set(generated)) == len(generated)
        by_survivors = sum(pid in left for *_, pid in found)
        assert by_survivors <= len(generated) <= len(found), (app, len(generated), len(found))


def test_a_serve_instance_says_the_database_is_away_and_stops_at_once_while_it_is(
    postgres: Cluster, tmp_path: Path, processes: Processes
) -> None:
    """While PostgreSQL is away, /healthz is 503 and a check asked for fails at once; a stop
    then ends the service with its own exit code, not after 60 s of reconnecting with exit 2
    (issue 29)."""
    location = postgres.database()
    served = Served(tmp_path, processes)
    served.project.state_url = location
    served.project.location = location
    served.configure({"web": {}}, interval="1s")
    served.up()
    service = served.serve("--lease", "3s")
    service.wait_for(service.checked, "the first check")
    assert service.get("/healthz").json()["state"] == "reachable"
    postgres.stop()
    try:
        service.wait_for(lambda: service.get("/healthz").status == 503, "healthz to say so")
        assert service.get("/healthz").json()["state"].startswith("unreachable: ")
        refused = service.post("/api/apps/web/check")
        assert refused.status == 503
        assert "cannot be reached" in refused.json()["error"]
        done = service.stop(signal.SIGTERM)
    finally:
        postgres.start()
    assert done.returncode == 0, done.stderr
    assert "Stopped by SIGTERM" in done.stderr
    assert "Traceback" not in done.stderr
