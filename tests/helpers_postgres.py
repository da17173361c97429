"""A PostgreSQL server of the tests' own: Debian's postgresql, a cluster made with ``initdb`` in a
temporary directory, listening on a unix socket there and on a free loopback port; each test
gets a database of its own.

As root, the server runs as the ``postgres`` user (it refuses to run as root), and its directory
is that user's. Clients reach it through the loopback port with a password, as a state URL does
on another machine.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from helpers_http import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
#: The role the tests' states log in as, and its password (which nothing may show).
USER = "waypoint"
PASSWORD = "pw-5150-secret"
#: Guards against hanging the suite, never timing assertions: a loaded machine may be slow.
START_GUARD = 120.0
STOP_GUARD = 60.0


def installed() -> bool:
    return (BIN / "initdb").is_file() and (BIN / "postgres").is_file()


class Cluster:
    """A server and its data directory; :meth:`stop` and :meth:`start` it again (on the same
    port) to restart it under its clients."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def _as_server(self) -> dict[str, Any]:
        """How a server program is run: as ``postgres`` when this is root."""
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": pwd.getpwnam("postgres").pw_gid, "extra_groups": []}

    def init(self) -> None:
        self.root.chmod(0o755)
        self.data.mkdir(mode=0o700)
        password = self.root / "password"
        password.write_text("postgres-unused\n")
        if os.geteuid() == 0:
            for path in (self.data, password):
                shutil.chown(path, "postgres")
        subprocess.run(
            [
                str(BIN / "initdb"),
                "--pgdata",
                str(self.data),
                "--username=postgres",
                f"--pwfile={password}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            **self._as_server(),
        )

    def start(self) -> None:
        with open(self.log, "ab") as output:
            self._process = subprocess.Popen(
                [
                    str(BIN / "postgres"),
                    "-D",
                    str(self.data),
                    "-k",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    # A test server: what a crash of the machine would need is not needed.
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_server(),
            )
        deadline = time.monotonic() + START_GUARD
        while True:
            with contextlib.suppress(Exception), self.admin():
                return
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace").splitlines()[-5:]
                raise RuntimeError("postgres did not start: " + " / ".join(tail))
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: every client is disconnected, open transactions are lost."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(STOP_GUARD)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def admin(self) -> Any:
        """A connection as the superuser, through the socket."""
        import psycopg

        return psycopg.connect(
            host=str(self.data), port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_role(self) -> None:
        with self.admin() as db:
            db.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")

    def database(self) -> str:
        """A new, empty database; its URL."""
        self._databases += 1
        name = f"state{self._databases}"
        with self.admin() as db:
            db.execute(f"CREATE DATABASE {name} OWNER {USER}")
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A started server with the tests' role; stopped and removed at the end. Its directory is
    not pytest's, which only its owner may enter."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="waypoint-hooks-postgres-")))
    try:
        cluster.init()
        cluster.start()
        cluster.create_role()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root)


def query(location: Path | str, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (with ``?`` parameters) on a state, a file or a PostgreSQL URL, as a plain
    client of its database: to look at what the state wrote, or change it behind its back."""
    if isinstance(location, Path):
        with contextlib.closing(sqlite3.connect(location, timeout=60)) as db, db:
            return db.execute(sql, parameters).fetchall()
    import psycopg

    with psycopg.connect(location, autocommit=True) as db:
        cursor = db.execute(sql.replace("?", "%s"), parameters)
        return [] if cursor.description is None else cursor.fetchall()
