"""What only a state in PostgreSQL meets (DESIGN §16): a server that restarts under it, a
connection lost before or after a COMMIT, and a URL whose password is never shown. The rest of
its behaviour is SQLite's, and tested on both (test_state, test_outbox, test_lifecycle)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from conftest import require_system_package
from helpers_http import free_port
from helpers_postgres import PASSWORD, Cluster, installed, query, running_cluster
from helpers_state import add_deployment, store_reports
from hostile.harness import App, Project

from waypoint_hooks import Health, StatusReport
from waypoint_hooks.errors import StateError
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.postgres import PostgresDatabase
from waypoint_hooks.state.store import State

#: Rounds of the writer that a restarting server interrupts.
ROUNDS = 150
REPORTS = 5


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A server of this test's own, which it may stop and start."""
    require_system_package("postgresql", installed(), "the PostgreSQL state is tested on one")
    with running_cluster() as cluster:
        yield cluster


def ready(message: str) -> StatusReport:
    return StatusReport(
        health=Health.READY, health_message=message, generated_time=datetime.now(timezone.utc)
    )


def test_a_restart_of_the_server_is_survived_and_nothing_is_stored_twice(
    own_cluster: Cluster,
) -> None:
    url = own_cluster.database()
    done: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with State.open(url) as state:
                for round in range(ROUNDS):
                    record = add_deployment(state, "web", "default", "p", {"round": round})
                    store_reports(state, [(record, ready(f"{round}/{i}")) for i in range(REPORTS)])
                    done.append(record.sequence)
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    restarts = 0
    while writer.is_alive() and restarts < 3:
        if len(done) >= (restarts + 1) * ROUNDS // 4:
            own_cluster.stop()
            own_cluster.start()
            restarts += 1
        time.sleep(0.01)
    writer.join()
    assert failures == []
    assert restarts == 3
    assert done == list(range(1, ROUNDS + 1))
    sequences = query(url, "SELECT sequence FROM targets ORDER BY sequence")
    assert [sequence for (sequence,) in sequences] == done
    counts = query(url, "SELECT count(*), count(DISTINCT report) FROM reports")
    assert counts == [(ROUNDS * REPORTS, ROUNDS * REPORTS)]


def database_of(state: State) -> PostgresDatabase:
    database = state._db
    assert isinstance(database, PostgresDatabase)
    return database


def lose_connection(state: State) -> None:
    """Close the state's connection as a network failure would: its next use fails."""
    database = database_of(state)
    assert database._connection is not None
    database._connection.pgconn.finish()


@pytest.mark.parametrize("answered", [False, True], ids=["before-commit", "commit-answer"])
def test_a_write_whose_connection_is_lost_is_stored_once(
    postgres: Cluster, monkeypatch: pytest.MonkeyPatch, answered: bool
) -> None:
    """Lost before its COMMIT, the write runs again; lost after the server committed but
    before its answer came, it is looked up and not run again. Either way: once."""
    location = postgres.database()
    with State.open(location) as state:
        database = database_of(state)
        commit = database._commit
        lost = []

        def lose_once() -> None:
            if lost:
                commit()
                return
            lost.append(True)
            if answered:
                commit()
            lose_connection(state)
            if answered:
                raise psycopg.OperationalError("the connection was lost")
            commit()

        monkeypatch.setattr(database, "_commit", lose_once)
        record = add_deployment(state, "web", "default", "p", {})
        monkeypatch.undo()
        assert lost == [True]
        assert state.records.versions("deployment", "web", "default") == [record]
    assert query(location, "SELECT sequence FROM targets") == [(1,)]


@pytest.mark.usefixtures("hostile_plugins")
def test_the_password_is_never_shown(postgres: Cluster, tmp_path: Path) -> None:
    url = postgres.database()
    wrong = url.replace(PASSWORD, "pw-not-this-one")
    with pytest.raises(StateError, match="check the user and password") as info:
        State.open(wrong)
    assert "pw-not-this-one" not in str(info.value)
    assert "postgresql://REDACTED@127.0.0.1" in str(info.value)
    with State.open(url) as state:
        assert PASSWORD not in repr(state) + state.where

    result = Project(tmp_path, [App("web")], state_url=wrong).invoke("status")
    assert result.exit_code == 2
    assert "REDACTED@127.0.0.1" in result.output
    assert "pw-not-this-one" not in result.output


@pytest.mark.usefixtures("hostile_plugins")
def test_a_state_url_over_the_server_s_socket_as_the_docs_write_it(
    postgres: Cluster, tmp_path: Path
) -> None:
    # postgresql:///DBNAME?host=SOCKET_DIRECTORY (docs/configuration.md); here with the port
    # and role of the tests' own server, which the docs' server has by default.
    name = postgres.database().rsplit("/", 1)[1]
    url = f"postgresql:///{name}?host={postgres.data}&port={postgres.port}&user=postgres"
    project = Project(tmp_path, [App("web")], state_url=url)
    up = project.invoke("up")
    assert up.exit_code == 0, up.output
    assert project.invoke("status").exit_code == 0


def test_a_server_that_cannot_be_reached_is_a_state_error_at_once() -> None:
    url = f"postgresql://u:secret@127.0.0.1:{free_port()}/none"
    with pytest.raises(StateError, match="check that the server runs") as info:
        State.open(url)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("option", ["bogus=1", "sslmode=sometimes"])
def test_a_url_option_libpq_does_not_know_is_named_with_what_to_fix(option: str) -> None:
    url = f"postgresql://u:secret@127.0.0.1:{free_port()}/none?{option}"
    with pytest.raises(StateError) as info:
        State.open(url)
    message = str(info.value)
    assert option.split("=")[0] in message
    assert "correct the URL" in message
    assert "not a waypoint-hooks state" not in message
    assert "secret" not in message


def test_a_write_that_fails_with_its_connection_in_doubt_is_run_again(postgres: Cluster) -> None:
    """A write whose transaction ends in an operational error that leaves the connection
    looking well (here a statement cancelled by the server; after a restart, a pipeline left
    busy) is run again on a new connection, not failed."""
    with State.open(postgres.database()) as state:
        tries: list[int] = []

        def write(tx: Database) -> int:
            tries.append(1)
            if len(tries) == 1:
                tx.execute("SET LOCAL statement_timeout = 1")
                tx.execute("SELECT pg_sleep(1)")
            record = state.records.begin(tx, "deployment", "web", "default", "p")
            return record.sequence

        assert state.write(write) == 1
        assert len(tries) == 2
        assert [r.sequence for r in state.records.versions("deployment", "web", "default")] == [1]
