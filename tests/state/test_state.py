"""The state: records, sequences, reports, history, migrations, bad databases and concurrent
processes (DESIGN §7), on real SQLite files and a real PostgreSQL server (DESIGN §16): each
test that is not about files runs on both."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import require_system_package
from helpers_postgres import query
from helpers_state import add_deployment, add_release, back_to_11, store_reports, written
from hostile import harness
from hostile.harness import App, Processes, Project

from waypoint_hooks import Health, Resource, StatusReport
from waypoint_hooks.errors import StateError
from waypoint_hooks.host import AUTOLOAD_ENV
from waypoint_hooks.model.redaction import redact_urls
from waypoint_hooks.state import columns, schema
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.reports import StoredReport
from waypoint_hooks.state.store import STATE_ENV, State, default_state_path

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
#: The checkout: what ``python -m waypoint_hooks`` imports for a user who cannot reach the
#: virtualenv.
ROOT = Path(__file__).resolve().parents[2]


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def report(message: str, when: datetime = T0, health: Health = Health.READY) -> StatusReport:
    """A finalized report, told apart from others by its message."""
    return StatusReport(
        resources=[Resource("pod", health, platform="filepath", type="pod")],
        health=health,
        health_message=message,
        generated_time=when,
    )


def messages(reports: Iterable[StoredReport]) -> list[str]:
    return [stored.report.health_message for stored in reports]


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection to the file, to look at what State wrote."""
    return sqlite3.connect(path, isolation_level=None)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "project" / ".waypoint-hooks" / "state.db"


def shown(location: Path | str) -> str:
    """How messages name a state: its file, or its URL without the password."""
    return str(location) if isinstance(location, Path) else redact_urls(location)


def version(location: Path | str) -> int:
    """The schema version the state's database holds."""
    if isinstance(location, Path):
        ((found,),) = query(location, "PRAGMA user_version")
    else:
        ((found,),) = query(location, "SELECT version FROM waypoint_hooks_schema")
    return int(found)


def tables(location: Path | str) -> set[str]:
    if isinstance(location, Path):
        return {name for (name,) in query(location, "SELECT name FROM sqlite_master")}
    found = query(location, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {name for (name,) in found}


def stored_text(location: Path | str) -> bytes:
    """Everything the state's database holds, as bytes: a file's, or a dump of every table."""
    if isinstance(location, Path):
        return location.read_bytes()
    rows = [query(location, f"SELECT * FROM {table}") for table in sorted(tables(location))]
    return repr(rows).encode()


def deploy(state: State, app: str = "web", workspace: str = "default") -> Record:
    return add_deployment(state, app, workspace, "filepath", {"path": f"/srv/{app}"})


# Paths


def test_the_default_state_is_beside_the_config() -> None:
    assert default_state_path(Path("proj/waypoint.hcl")) == Path("proj/.waypoint-hooks/state.db")


def test_the_environment_variable_is_named_after_the_project() -> None:
    assert STATE_ENV == "WAYPOINT_HOOKS_STATE"


def test_open_creates_the_directory_and_the_file(path: Path) -> None:
    with State.open(path):
        pass
    assert path.is_file()


# Deployments and releases


def test_sequences_count_per_kind_app_and_workspace(state: State) -> None:
    web = [deploy(state).sequence for _ in range(3)]
    api = deploy(state, "api").sequence
    staging = deploy(state, workspace="staging").sequence
    release = add_release(state, "web", "default", "filepath", deploy(state).id, {})
    assert (web, api, staging, release.sequence) == ([1, 2, 3], 1, 1, 1)


def test_sequences_are_not_reused_after_destroy(state: State) -> None:
    first, second = deploy(state), deploy(state)
    written(state, state.records.mark_destroyed, "deployment", second.id)
    written(state, state.records.mark_destroyed, "deployment", first.id)
    assert deploy(state).sequence == 3


def test_a_value_round_trips_through_the_database(location: Path | str) -> None:
    value = {"path": "/srv/wéb", "ports": [80, 443], "tls": {"on": True, "ca": None}}
    with State.open(location) as state:
        record = add_deployment(state, "web", "default", "filepath", value)
    with State.open(location) as state:
        assert state.records.get("deployment", record.id) == record
    assert record.value == value


def test_a_stored_value_is_given_back_as_json_would(state: State) -> None:
    record = add_deployment(state, "web", "default", "filepath", {"ports": (80, 443)})
    assert record.value == {"ports": [80, 443]}


def test_a_value_checkpoint_and_error_are_stored_without_url_secrets(
    location: Path | str,
) -> None:
    url = "http://user:pw-4417@h/health?token=tok-9921"
    shown = "http://REDACTED@h/health?token=REDACTED"
    with State.open(location) as state:
        record = written(state, state.records.begin, "deployment", "web", "default", "process")
        written(state, state.records.checkpoint, record, {"ready_http": url})
        written(state, state.records.fail, record, f"{url} did not answer")
        live = add_deployment(state, "web", "default", "http", {"urls": [url], url: 1})
    assert live.value == {"urls": [shown], shown: 1}
    with State.open(location) as state:
        failed = state.records.get("deployment", record.id)
        assert state.records.get("deployment", live.id) == live
    assert failed is not None
    assert (failed.checkpoint, failed.error) == ({"ready_http": shown}, f"{shown} did not answer")
    data = stored_text(location)
    assert (b"pw-4417" in data, b"tok-9921" in data) == (False, False)


def test_a_record_tells_when_it_was_created(state: State) -> None:
    before = datetime.now(timezone.utc)
    record = deploy(state)
    assert record.created.tzinfo is timezone.utc
    assert before <= record.created <= datetime.now(timezone.utc)
    assert record.destroyed is None


def test_ids_are_unique(state: State) -> None:
    assert len({deploy(state).id for _ in range(50)}) == 50


def test_get_tells_the_kinds_apart(state: State) -> None:
    record = deploy(state)
    assert state.records.get("release", record.id) is None
    assert state.records.get("deployment", "nope") is None


def test_a_release_names_its_deployment(state: State) -> None:
    deployment = deploy(state)
    release = add_release(state, "web", "default", "filepath", deployment.id, {"url": "x"})
    assert state.records.get("release", release.id) == release
    assert release.deployment_id == deployment.id


def test_a_release_of_another_apps_deployment_is_refused(state: State) -> None:
    other = deploy(state, "api")
    with pytest.raises(ValueError, match="no deployment"):
        add_release(state, "web", "default", "filepath", other.id, {})
    assert state.records.latest("release", "web", "default") is None


def test_latest_is_the_newest_alive(state: State) -> None:
    deploy(state)
    newest = deploy(state)
    assert state.records.latest("deployment", "web", "default") == newest


def test_latest_skips_destroyed_targets(state: State) -> None:
    older = deploy(state)
    written(state, state.records.mark_destroyed, "deployment", deploy(state).id)
    assert state.records.latest("deployment", "web", "default") == older
    written(state, state.records.mark_destroyed, "deployment", older.id)
    assert state.records.latest("deployment", "web", "default") is None


def test_latest_is_none_for_an_app_never_deployed(state: State) -> None:
    deploy(state)
    assert state.records.latest("deployment", "api", "default") is None
    assert state.records.latest("release", "web", "default") is None


def test_a_destroyed_target_keeps_its_record_and_first_destroy_time(state: State) -> None:
    record = deploy(state)
    written(state, state.records.mark_destroyed, "deployment", record.id)
    first = state.records.get("deployment", record.id)
    written(state, state.records.mark_destroyed, "deployment", record.id)
    again = state.records.get("deployment", record.id)
    assert first is not None
    assert first.destroyed is not None
    assert again == first


def test_destroying_an_unknown_target_is_an_error(state: State) -> None:
    with pytest.raises(ValueError, match="no release 'nope'"):
        written(state, state.records.mark_destroyed, "release", "nope")


# Reports


def test_last_report_is_the_newest_by_generated_time(state: State) -> None:
    record = deploy(state)
    store_reports(state, [(record, report("new", at(20))), (record, report("old", at(10)))])
    last = state.reports.last_report("deployment", record.id)
    assert last == report("new", at(20))


def test_last_report_breaks_ties_by_the_order_of_storing(state: State) -> None:
    record = deploy(state)
    store_reports(state, [(record, report("first"))])
    store_reports(state, [(record, report("second")), (record, report("third"))])
    last = state.reports.last_report("deployment", record.id)
    assert last is not None
    assert last.health_message == "third"


def test_last_report_is_none_before_any_check(state: State) -> None:
    assert state.reports.last_report("deployment", deploy(state).id) is None


def test_last_reports_gives_the_newest_of_each_target(state: State) -> None:
    web, api, unchecked = deploy(state), deploy(state, "api"), deploy(state, "db")
    release = add_release(state, "web", "default", "filepath", web.id, {})
    store_reports(
        state,
        [
            (web, report("web old", at(1))),
            (web, report("web new", at(2))),
            (api, report("api", at(1))),
            (release, report("release", at(3))),
        ],
    )
    last = state.reports.last_reports([web, api, unchecked, release])
    assert {key: value.health_message for key, value in last.items()} == {
        web.id: "web new",
        api.id: "api",
        release.id: "release",
    }


def test_last_reports_handles_more_targets_than_one_query_takes(state: State) -> None:
    records = [deploy(state, f"app{i}") for i in range(columns.BATCH * 2 + 1)]
    store_reports(state, [(record, report(record.app)) for record in records])
    last = state.reports.last_reports(records)
    assert {key: value.health_message for key, value in last.items()} == {
        record.id: record.app for record in records
    }


def test_a_report_is_stored_whole(state: State) -> None:
    record = deploy(state)
    full = StatusReport(
        resources=[
            Resource("svc", Health.READY, "up", id="s1", platform="k8s", created_time=at(1)),
            Resource("pod", Health.DOWN, parent_resource_id="s1", state_json='{"a": 1}'),
        ],
        health=Health.PARTIAL,
        health_message="1 pod DOWN, 1 svc READY",
        generated_time=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
        external=True,
    )
    store_reports(state, [(record, full)])
    assert state.reports.last_report("deployment", record.id) == full


def test_an_unfinalized_report_is_refused_and_nothing_is_stored(state: State) -> None:
    record = deploy(state)
    with pytest.raises(ValueError, match="not finalized"):
        store_reports(state, [(record, report("ok")), (record, StatusReport())])
    assert state.reports.last_report("deployment", record.id) is None


def test_a_report_of_a_target_not_in_the_state_stores_nothing(state: State) -> None:
    record = deploy(state)
    stranger = Record("deployment", "nope", "web", "default", "filepath", 9, {}, T0, None, None)
    with pytest.raises(ValueError, match="not in"):
        store_reports(state, [(record, report("ok")), (stranger, report("lost"))])
    assert list(state.reports.history("web", "default")) == []


# History


def test_history_is_newest_first_across_kinds_and_includes_destroyed(state: State) -> None:
    first = deploy(state)
    release = add_release(state, "web", "default", "filepath", first.id, {})
    second = deploy(state)
    store_reports(
        state,
        [
            (first, report("d1", at(1), Health.DOWN)),
            (release, report("r1", at(2))),
            (second, report("d2", at(4))),
            (first, report("d1 again", at(3))),
        ],
    )
    written(state, state.records.mark_destroyed, "deployment", first.id)
    history = list(state.reports.history("web", "default"))
    assert messages(history) == ["d2", "d1 again", "r1", "d1"]
    assert history[2] == StoredReport(
        "release", release.id, 1, "filepath", "web", "default", report("r1", at(2))
    )
    assert [(h.kind, h.sequence) for h in history] == [
        ("deployment", 2),
        ("deployment", 1),
        ("release", 1),
        ("deployment", 1),
    ]


def test_history_keeps_apps_and_workspaces_apart(state: State) -> None:
    web, api, staging = deploy(state), deploy(state, "api"), deploy(state, workspace="staging")
    store_reports(state, [(web, report("web")), (api, report("api")), (staging, report("staging"))])
    assert messages(state.reports.history("web", "default")) == ["web"]
    assert messages(state.reports.history("web", "staging")) == ["staging"]
    assert list(state.reports.history("db", "default")) == []


def test_history_limit_keeps_the_newest(state: State) -> None:
    record = deploy(state)
    store_reports(state, [(record, report(str(i), at(i))) for i in range(10)])
    assert messages(state.reports.history("web", "default", limit=3)) == ["9", "8", "7"]
    assert list(state.reports.history("web", "default", limit=0)) == []
    with pytest.raises(ValueError, match="limit"):
        state.reports.history("web", "default", limit=-1)


def test_a_history_left_unfinished_leaves_the_state_usable(state: State) -> None:
    # As `history | head` leaves it: the reader stops after a few, or fails while reading.
    record = deploy(state)
    store_reports(state, [(record, report(str(i), at(i))) for i in range(50)])
    reading = state.reports.history("web", "default")
    assert next(reading).report.health_message == "49"
    reading.close()
    unfinished = state.reports.history("web", "default")
    next(unfinished)
    try:
        unfinished.throw(RuntimeError("the reader failed"))
    except RuntimeError:
        # While the failure goes up, as `with State.open(...)` closes the state then.
        assert deploy(state).sequence == 2
    assert messages(state.reports.history("web", "default", limit=1)) == ["49"]


# The file


def test_the_file_is_in_wal_mode(path: Path) -> None:
    State.open(path).close()
    with raw(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_connection_waits_for_other_writers(path: Path) -> None:
    with State.open(path) as state:
        (milliseconds,) = state._db.execute("PRAGMA busy_timeout").fetchone()
    assert milliseconds >= 10_000


def test_foreign_keys_are_enforced(path: Path) -> None:
    with State.open(path) as state:
        (enabled,) = state._db.execute("PRAGMA foreign_keys").fetchone()
    assert enabled == 1


def test_an_older_schema_is_migrated_and_keeps_its_data(
    location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old state: what this version writes, with data in it. The new version appends a
    # migration, as every schema change must.
    with State.open(location) as state:
        record = deploy(state)
        store_reports(state, [(record, report("kept"))])
    upgrade = ("ALTER TABLE targets ADD COLUMN note TEXT NOT NULL DEFAULT ''",)
    newer = (*schema.MIGRATIONS, upgrade)
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    with State.open(location) as state:
        assert state.records.get("deployment", record.id) == record
        assert messages(state.reports.history("web", "default")) == ["kept"]
        assert deploy(state).sequence == 2
    assert version(location) == len(newer)
    assert query(location, "SELECT note FROM targets") == [("",), ("",)]


def test_a_failing_migration_changes_nothing(
    location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with State.open(location) as state:
        record = deploy(state)
    current = schema.MIGRATIONS
    broken = ("CREATE TABLE notes (text TEXT)", "ALTER TABLE nowhere ADD COLUMN x")
    monkeypatch.setattr(schema, "MIGRATIONS", (*current, broken))
    with pytest.raises(StateError, match="nowhere"):
        State.open(location)
    assert version(location) == len(current)
    assert "notes" not in tables(location)
    monkeypatch.setattr(schema, "MIGRATIONS", current)
    with State.open(location) as state:
        assert state.records.get("deployment", record.id) == record


def test_a_newer_schema_is_refused(location: Path | str) -> None:
    with State.open(location) as state:
        deploy(state)
    if isinstance(location, Path):
        query(location, "PRAGMA user_version = 99")
    else:
        query(location, "UPDATE waypoint_hooks_schema SET version = 99")
    with pytest.raises(StateError, match="newer waypoint-hooks") as info:
        State.open(location)
    assert shown(location) in str(info.value)
    assert "upgrade waypoint-hooks" in str(info.value)


def test_a_file_that_is_not_a_database_is_refused_naming_it(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("project = 'demo'\n" * 100)
    with pytest.raises(StateError, match="not a database") as info:
        State.open(path)
    assert str(path) in str(info.value)
    assert "move it aside" in str(info.value)


def test_another_programs_database_is_refused_and_left_alone(location: Path | str) -> None:
    if isinstance(location, Path):
        location.parent.mkdir(parents=True)
    query(location, "CREATE TABLE notes (text TEXT)")
    with pytest.raises(StateError, match="something else than waypoint-hooks") as info:
        State.open(location)
    assert shown(location) in str(info.value)
    assert tables(location) == {"notes"}
    if isinstance(location, Path):
        assert query(location, "PRAGMA journal_mode") == [("delete",)]


def test_a_truncated_state_is_refused(path: Path) -> None:
    with State.open(path) as state:
        record = deploy(state)
        store_reports(state, [(record, report("x" * 500, at(i))) for i in range(200)])
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.truncate(size // 3)
    with pytest.raises(StateError, match="malformed") as info, State.open(path) as state:
        list(state.reports.history("web", "default"))
    assert str(path) in str(info.value)


def test_a_closed_state_is_the_callers_error(location: Path | str) -> None:
    state = State.open(location)
    state.close()
    error = sqlite3.ProgrammingError if isinstance(location, Path) else psycopg.InterfaceError
    with pytest.raises(error):
        state.records.latest("deployment", "web", "default")


def test_storing_no_reports_does_nothing(state: State) -> None:
    store_reports(state, [])
    assert list(state.reports.history("web", "default")) == []


def test_a_state_that_cannot_be_created_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    path = tmp_path / "blocker" / "state.db"
    with pytest.raises(StateError, match="--state") as info:
        State.open(path)
    assert str(path) in str(info.value)


def test_a_directory_in_place_of_the_state_is_refused(path: Path) -> None:
    path.mkdir(parents=True)
    with pytest.raises(StateError, match="Is a directory"):
        State.open(path)


def test_a_stored_report_changed_by_hand_is_a_state_error(location: Path | str) -> None:
    with State.open(location) as state:
        record = deploy(state)
        store_reports(state, [(record, report("x"))])
    query(location, 'UPDATE reports SET report = \'{"health": "FINE"}\'')
    with State.open(location) as state, pytest.raises(StateError, match="cannot be read"):
        state.reports.last_report("deployment", record.id)


# Processes

# All workers start together and first race to create a series of new states, then take
# turns on one, opening it anew each round as each CLI command does.
WORKER = """
import json, sys, time
from datetime import datetime, timezone
from pathlib import Path
from waypoint_hooks import Health, StatusReport
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state.store import State

def location(text):
    return text if "://" in text else Path(text)

shared, fresh = location(sys.argv[1]), [location(item) for item in json.loads(sys.argv[5])]
go, name, rounds = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
Path(f"{go}.{name}").touch()
while not go.exists():
    time.sleep(0.001)
for new in fresh:
    State.open(new).close()
sequences = []
for round in range(rounds):
    with State.open(shared) as state:
        records = state.records
        record = state.write(lambda tx: records.begin(tx, "deployment", "web", "default", "p"))
        record = state.write(lambda tx: records.complete(tx, record, {"by": name}))
        reports = [
            StatusReport(
                health=Health.READY,
                health_message=f"{name}/{round}/{i}",
                generated_time=datetime.now(timezone.utc),
            )
            for i in range(3)
        ]
        store_reports(state, [(record, report) for report in reports])
        list(state.reports.history("web", "default", limit=5))
        sequences.append(record.sequence)
print(json.dumps(sequences))
"""


def started_together(
    go: Path, commands: list[list[str]], **options: Any
) -> list[subprocess.Popen[str]]:
    """Worker processes that start their work at once: each touches ``go.NAME`` when it is
    ready, then waits for ``go``, which is made once all are ready."""
    processes = [
        subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **options)
        for command in commands
    ]
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob(f"{go.name}.w*"))) < len(commands):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.01)
    go.touch()
    return processes


def test_concurrent_processes_never_lock_and_get_distinct_gapless_sequences(
    tmp_path: Path, location: Path | str, request: pytest.FixtureRequest
) -> None:
    go = tmp_path / "go"
    workers, rounds = 6, 40
    # New states for the workers to race to create, one after the other.
    if isinstance(location, Path):
        fresh = [str(location.with_name(f"new-{n}.db")) for n in range(20)]
    else:
        fresh = [request.getfixturevalue("postgres").database() for _ in range(3)]
    arguments = [str(location), str(go), str(rounds), json.dumps(fresh)]
    processes = started_together(
        go,
        [
            [sys.executable, "-c", WORKER, *arguments[:2], f"w{n}", *arguments[2:]]
            for n in range(workers)
        ],
        stdout=subprocess.PIPE,
    )
    sequences: list[int] = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        sequences += json.loads(out)
    assert sorted(sequences) == list(range(1, workers * rounds + 1))
    with State.open(location) as state:
        stored = set(messages(state.reports.history("web", "default")))
    assert stored == {
        f"w{n}/{r}/{i}" for n in range(workers) for r in range(rounds) for i in range(3)
    }
    if isinstance(location, Path):
        assert query(location, "PRAGMA integrity_check") == [("ok",)]


KILLED_WRITER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from waypoint_hooks import Health, StatusReport
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state.store import State

with State.open(sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])) as state:
    records = state.records
    while True:
        record = state.write(lambda tx: records.begin(tx, "deployment", "web", "default", "p"))
        record = state.write(lambda tx: records.complete(tx, record, {}))
        report = StatusReport(health=Health.READY, generated_time=datetime.now(timezone.utc))
        store_reports(state, [(record, report)] * 200)
        print(record.sequence, flush=True)
"""


def test_a_writer_killed_mid_write_leaves_a_consistent_state(location: Path | str) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(location)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    last = 0
    while last < 20:
        last = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    if isinstance(location, Path):
        assert query(location, "PRAGMA integrity_check") == [("ok",)]
    sequences = [s for (s,) in query(location, "SELECT sequence FROM targets ORDER BY sequence")]
    counts = query(location, "SELECT count(*) FROM reports GROUP BY target")
    assert sequences == list(range(1, len(sequences) + 1))
    assert len(sequences) >= last
    # A batch of reports is stored whole or not at all.
    assert set(counts) == {(200,)}
    with State.open(location) as state:
        assert deploy(state).sequence == len(sequences) + 1


def test_add_reports_with_keep_prunes_each_target_to_its_newest(location: Path | str) -> None:
    with State.open(location) as state:
        one = add_deployment(state, "web", "default", "p", {})
        two = add_deployment(state, "api", "default", "p", {})
        start = datetime(2024, 1, 1, tzinfo=timezone.utc)
        for i in range(10):
            reports = [
                (
                    record,
                    StatusReport(
                        health=Health.READY,
                        health_message=str(i),
                        generated_time=start + timedelta(minutes=i),
                    ),
                )
                for record in (one, two)
            ]
            store_reports(state, reports, keep=3 if i < 9 else 2)
        for app in ("web", "api"):
            kept = [item.report.health_message for item in state.reports.history(app, "default")]
            assert kept == ["9", "8"]
    assert counted(location) == {(one.id, 2), (two.id, 2)}


def counted(location: Path | str) -> set[tuple[str, int | None]]:
    """Each target's count of stored reports (None: not counted yet), after checking a
    count against the reports."""
    counts = query(
        location,
        "SELECT id, report_count, (SELECT count(*) FROM reports"
        " WHERE target = targets.key) FROM targets",
    )
    wrong = [(id, kept, stored) for id, kept, stored in counts if kept not in (None, stored)]
    assert wrong == []
    return {(id, kept) for id, kept, _ in counts}


def test_retention_keeps_the_newest_by_generated_time_whatever_order_they_came_in(
    state: State,
) -> None:
    record = deploy(state)
    store_reports(state, [(record, report(str(i), at(i))) for i in (5, 1, 9, 3)])
    store_reports(state, [(record, report(str(i), at(i))) for i in (0, 7)], keep=3)
    assert messages(state.reports.history("web", "default")) == ["9", "7", "5"]
    store_reports(state, [(record, report("2", at(2)))], keep=3)
    assert messages(state.reports.history("web", "default")) == ["9", "7", "5"]


def test_reports_stored_without_retention_are_counted_when_it_first_needs_them(
    state: State, location: Path | str
) -> None:
    record = deploy(state)
    store_reports(state, [(record, report(str(i), at(i))) for i in range(5)])
    assert counted(location) == {(record.id, None)}
    store_reports(state, [(record, report("5", at(5)))], keep=3)
    assert messages(state.reports.history("web", "default")) == ["5", "4", "3"]
    assert counted(location) == {(record.id, 3)}
    store_reports(state, [(record, report("6", at(6)))])
    assert counted(location) == {(record.id, 4)}


def test_an_upgraded_state_s_retention_keeps_the_newest(location: Path | str) -> None:
    with State.open(location) as state:
        record = deploy(state)
        store_reports(state, [(record, report(str(i), at(i))) for i in range(5)])
    # The state as the version before the count (migration 5) wrote it.
    back_to_11(location)
    query(location, "ALTER TABLE targets DROP COLUMN report_count")
    query(location, "ALTER TABLE instances DROP COLUMN resumed")
    query(location, "ALTER TABLE reports DROP COLUMN duration")
    query(location, "DROP TABLE rollups")
    query(location, "ALTER TABLE alerts DROP COLUMN silenced")
    query(location, "DROP TABLE silences")
    # Migration 9's columns, and the checks keyed without a location.
    query(location, "ALTER TABLE instances DROP COLUMN location")
    query(location, "ALTER TABLE reports DROP COLUMN location")
    query(location, "DROP TABLE checks")
    # Migration 11's runs.
    query(location, "ALTER TABLE reports DROP COLUMN body")
    query(location, "DROP TABLE bodies")
    for statement in schema.MIGRATIONS[3]:
        if "CREATE TABLE instances" not in statement:
            query(location, statement)
    older = 4
    if isinstance(location, Path):
        query(location, f"PRAGMA user_version = {older}")
    else:
        query(location, f"UPDATE waypoint_hooks_schema SET version = {older}")
    with State.open(location) as state:
        store_reports(state, [(record, report("5", at(5)))], keep=3)
        assert messages(state.reports.history("web", "default")) == ["5", "4", "3"]
    assert counted(location) == {(record.id, 3)}


KEEPING_WRITER = """
import sys, time
from datetime import datetime, timezone
from pathlib import Path
from waypoint_hooks import Health, StatusReport
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state.store import State

location = sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])
go, name = Path(sys.argv[2]), sys.argv[3]
Path(f"{go}.{name}").touch()
while not go.exists():
    time.sleep(0.001)
with State.open(location) as state:
    (record,) = state.records.versions("deployment", "web", "default")
    for round in range(40):
        report = StatusReport(health=Health.READY, generated_time=datetime.now(timezone.utc))
        store_reports(state, [(record, report)] * 3, keep=int(sys.argv[4]))
"""


def test_concurrent_writers_with_retention_keep_the_count_right(
    tmp_path: Path, location: Path | str
) -> None:
    with State.open(location) as state:
        record = deploy(state)
    go, workers, keep = tmp_path / "go", 4, 5
    processes = started_together(
        go,
        [
            [sys.executable, "-c", KEEPING_WRITER, str(location), str(go), f"w{n}", str(keep)]
            for n in range(workers)
        ],
    )
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert counted(location) == {(record.id, keep)}


# The directory and the file (DESIGN §13): private, never through a link, read-only for the
# commands that only read, and a long-running command stops when its file goes away.


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_wal_and_shm_files_are_as_private_as_the_state(path: Path) -> None:
    with State.open(path) as state:
        deploy(state)
        modes = {item.name: mode(item) for item in path.parent.iterdir()}
    assert modes == {"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}
    assert mode(path.parent) == 0o700


def test_a_read_only_open_does_not_upgrade_an_older_schema(
    location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    State.open(location).close()
    newer = (*schema.MIGRATIONS, ("CREATE TABLE later (x TEXT)",))
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    known = len(newer)
    with pytest.raises(
        StateError, match=f"older than this waypoint-hooks' {known}, and this command only"
    ):
        State.open(location, read_only=True)
    assert version(location) == len(newer) - 1


def test_a_read_only_open_of_no_state_reads_an_empty_one_and_makes_nothing(
    location: Path | str,
) -> None:
    with State.open(location, read_only=True) as state:
        assert state.records.versions("deployment", "web", "default") == []
        assert list(state.reports.history("web", "default")) == []
    if isinstance(location, Path):
        assert not location.parent.exists()
    else:
        assert tables(location) == set()


def test_a_read_only_open_writes_nothing(location: Path | str) -> None:
    with State.open(location) as state:
        deploy(state)
    with State.open(location, read_only=True) as state, pytest.raises(StateError):
        deploy(state)


def steady_project(root: Path, processes: Processes) -> Project:
    """A project deployed and released by the console script: one READY app."""
    project = Project(root, [App("web", release="wh_steady")])
    done = processes.run(project.args("up"), cwd=root)
    assert done.returncode == 0, done.stderr
    return project


def test_the_state_directory_is_0700_and_its_files_0600(
    tmp_path: Path, processes: Processes
) -> None:
    project = steady_project(tmp_path / "project", processes)
    directory = project.state.parent
    modes = {item.name.split("-")[0]: mode(item) for item in directory.iterdir()}
    # The state, the config's cache and the plugins' discovery cache: private, each of them.
    expected = {"state.db": 0o600, "config": 0o600, "plugins.json": 0o600}
    assert (mode(directory), modes) == (0o700, expected)


@pytest.mark.parametrize("link", ["dangling", "to-an-empty-file", "directory", "wal"])
def test_a_state_through_a_symbolic_link_is_refused_and_nothing_is_written(
    tmp_path: Path, processes: Processes, link: str
) -> None:
    project = Project(tmp_path / "project", [App("web")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    directory = project.state.parent
    if link == "directory":
        directory.symlink_to(elsewhere, target_is_directory=True)
    else:
        directory.mkdir()
        if link == "to-an-empty-file":
            (elsewhere / "state.db").touch()
        linked = Path(f"{project.state}-wal") if link == "wal" else project.state
        linked.symlink_to(elsewhere / "state.db")
    before = sorted((item.name, item.stat().st_size) for item in elsewhere.iterdir())
    for command in (["up"], ["status", "--cached"], ["history", "web"]):
        done = processes.run(project.args(*command), cwd=project.root)
        assert done.returncode == 2, done.stderr
        assert "is a symbolic link, and a state is never used through one" in done.stderr
    assert sorted((item.name, item.stat().st_size) for item in elsewhere.iterdir()) == before
    assert not project.state.is_file() or project.state.is_symlink()


def test_a_command_that_only_reads_makes_no_state(tmp_path: Path, processes: Processes) -> None:
    project = Project(tmp_path / "project", [App("web")])
    assert processes.run(project.args("status", "--cached"), cwd=project.root).returncode == 1
    done = processes.run(project.args("history", "web", "--json"), cwd=project.root)
    assert (done.returncode, json.loads(done.stdout)["reports"]) == (0, [])
    assert not project.state.parent.joinpath("state.db").exists()


@pytest.fixture
def shared_copy() -> Iterator[Path]:
    """A directory every user may enter (pytest's own are private to their owner)."""
    directory = Path(tempfile.mkdtemp(prefix="waypoint-hooks-reader-"))
    directory.chmod(0o755)
    yield directory
    for item in [directory, *directory.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)  # so that it can be removed
    shutil.rmtree(directory)


def _readable_install(lib: Path) -> Path:
    """waypoint-hooks and what it needs to run, copied into ``lib`` for a user who may not
    enter the checkout or the virtualenv (a clone in a private directory): the package, its
    builtin plugins, and every file of the distributions it requires (without extras), their
    metadata included, so that its entry points are found there."""
    if lib.exists():
        return lib
    wanted, seen = ["waypoint-hooks"], set()
    while wanted:
        name = wanted.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            if source.is_file() and "__pycache__" not in file.parts:
                (lib / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, lib / file)
        for requirement in dist.requires or ():
            if "extra ==" not in requirement and _applies(requirement):
                wanted.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    for package in ("waypoint_hooks", "builtin_plugins"):
        shutil.copytree(
            ROOT / package,
            lib / package,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    for item in [lib, *lib.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return lib


def _applies(requirement: str) -> bool:
    """Whether a requirement's environment marker (``; python_version < "3.11"``) holds."""
    from packaging.requirements import Requirement

    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate()


def as_reader(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command as a user who can read ``project`` but not write it.

    As root, that user is nobody, the files being root's; nobody may not reach this
    virtualenv's Python nor the checkout (a clone in a private directory), so the system's
    Python of the same version runs the same entry point (``python -m waypoint_hooks``) from
    a copy beside the project that nobody may read. Otherwise, the files are made read-only
    for this user.
    """
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        AUTOLOAD_ENV: "1",
        "PYTHONPATH": str(harness.PLUGIN_DIR),
    }
    if os.geteuid() != 0:
        command = [harness.script(), *args]
        return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = f"/usr/bin/python{version}"
    require_system_package(f"python{version}", os.path.exists(python), "a Python nobody may run")
    env["PYTHONPATH"] += os.pathsep + str(_readable_install(project.parent / "lib"))
    return subprocess.run(
        [python, "-m", "waypoint_hooks", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        user="nobody",
        group="nogroup",
        extra_groups=[],
    )


def test_a_user_who_can_only_read_the_state_reads_it(
    tmp_path: Path, processes: Processes, shared_copy: Path
) -> None:
    project = steady_project(tmp_path / "project", processes)
    copy = shared_copy / "project"
    (copy / ".waypoint-hooks").mkdir(parents=True)
    shutil.copy(project.config, copy)
    shutil.copy(project.state, copy / ".waypoint-hooks")  # closed: no -wal file to copy
    for item in [copy, *copy.rglob("*")]:
        item.chmod(0o555 if item.is_dir() else 0o444)
    listing = sorted(copy.rglob("*"))

    shown = as_reader(copy, "status", "--cached")
    assert shown.returncode == 0, shown.stderr
    assert "v1 ✔ READY" in shown.stdout
    history = as_reader(copy, "history", "web", "--json")
    assert history.returncode == 0, history.stderr
    assert len(json.loads(history.stdout)["reports"]) == 2
    refused = as_reader(copy, "-p", "wh_steady", "status")
    assert refused.returncode == 2
    assert refused.stderr.startswith("Error: state ")
    assert sorted(copy.rglob("*")) == listing  # not even a -wal or -shm file

    # Its owner writes to it again, and holds it open: what it committed is in the -wal
    # file, and the reader reads it there.
    for item in [copy, *copy.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    with State.open(copy / ".waypoint-hooks" / "state.db") as writer:
        (record,) = writer.records.versions("deployment", "web", "default")
        store_reports(writer, [(record, report("not yet in the file itself", at(10**8)))])
        assert Path(f"{writer.where}-wal").stat().st_size > 0
        history = as_reader(copy, "history", "web", "--json")
    assert history.returncode == 0, history.stderr
    newest = json.loads(history.stdout)["reports"][0]["report"]
    assert newest["health_message"] == "not yet in the file itself"


@pytest.mark.parametrize("how", ["moved", "deleted"])
def test_a_watch_whose_state_is_moved_or_deleted_stops_with_exit_2(
    tmp_path: Path, processes: Processes, how: str
) -> None:
    project = Project(tmp_path / "project", [App("web")])
    assert processes.run(project.args("up"), cwd=project.root).returncode == 0
    watch = processes.start(project.args("status", "--watch", "0.1"), cwd=project.root)
    deadline = time.monotonic() + harness.GUARD
    while project.report_count() < 4:
        assert watch.poll() is None, watch.communicate()
        assert time.monotonic() < deadline, "the watch stored no round"
        time.sleep(0.05)
    aside = project.root / "aside.db"
    if how == "moved":
        project.state.rename(aside)
    else:
        project.state.unlink()
    out, err = watch.communicate(timeout=harness.GUARD)
    assert watch.returncode == 2, err
    assert err == (
        f"Error: state {project.state} was moved or deleted while this command ran; it "
        "stopped rather than go on with a file that is no longer the state. Run it again to "
        "start a new state there, or put the file back\n"
    )
    if how == "moved":
        # Every round shown was committed first, into the file it had opened, and is in it.
        with raw(aside) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            (stored,) = db.execute("SELECT count(*) FROM reports").fetchone()
        assert stored == 1 + out.count("\nApp ")
    again = processes.run(project.args("status"), cwd=project.root)
    assert again.returncode == 1, again.stderr  # a new state, in which nothing is deployed
    assert "web: nothing deployed" in again.stdout
