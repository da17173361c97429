"""A ``waypoint-hooks serve`` process for the tests of the status service: started on a free
loopback port (``--port 0``; it prints the address it got), asked over real HTTP, stopped
with a signal."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import GUARD, App, Processes, Project, script_env

_ADDRESS = re.compile(r"on (http://\S+/) \(")


def fewest_apart(interval: float) -> float:
    """The least time between the starts of two checks of one target that a test of a real
    ``serve`` can hold a loaded machine to: half an interval. The scheduler's own bound, an
    interval less its jitter from the check's start, is tested in tests/serve/test_scheduler.py;
    here a start is the hook's own clock reading, late by however long the machine took to get
    to the hook, which no bound holds. Half an interval still tells one check an interval from
    two."""
    return interval / 2


class Answer:
    """An HTTP answer: its status, headers and body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class Service:
    """One running ``serve`` of ``project``, its stderr collected as it comes."""

    def __init__(
        self,
        processes: Processes,
        project: Project,
        *args: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.project = project
        self.process = processes.start(
            project.args("serve", "--port", "0", *args),
            cwd=project.root,
            env=script_env(**(env or {})),
        )
        self.lines: list[str] = []
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self._reader.start()
        self.url = self.wait_for(lambda: self._address(), "the address serve listens on")

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def _address(self) -> str | None:
        if self.process.poll() is not None:
            pytest.fail(f"serve exited with {self.process.returncode}: {self.stderr}")
        for line in self.lines:
            found = _ADDRESS.search(line)
            if found:
                return found.group(1)
        return None

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition: Callable[[], Any], what: str) -> Any:
        """``condition()``'s first true value, polled; a failure after the hang guard."""
        deadline = time.monotonic() + GUARD
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                waited = f"still waiting after {GUARD:g}s (hang guard) for {what}"
                pytest.fail(f"{waited}\n{self.stderr}")
            time.sleep(0.05)

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        request = urllib.request.Request(
            self.url.rstrip("/") + path, body, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=GUARD) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Answer(exc.code, exc.headers, exc.read())

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(
        self, path: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        return self.request("POST", path, headers, body)

    def metrics(self) -> dict[str, Any]:
        """The metric families of ``/metrics``, by name, read by prometheus-client's parser."""
        answer = self.get("/metrics")
        assert answer.status == 200, answer.text
        return {family.name: family for family in text_string_to_metric_families(answer.text)}

    def checked(self, count: int = 1) -> bool:
        """Whether every target of the project was checked by this service ``count`` times
        (by its metrics: the checks of ``up`` do not count)."""
        samples = self.metrics()["waypoint_hooks_check_duration_seconds"].samples
        counts = [s.value for s in samples if s.name.endswith("_count")]
        targets = len(self.project.query("SELECT 1 FROM targets WHERE destroyed IS NULL"))
        done = bool(counts) and sum(counts) >= count * targets
        # ...and stored: none of them still runs.
        return done and self.get("/healthz").json()["checking"] == 0

    def stop(self, sig: int = signal.SIGTERM) -> subprocess.CompletedProcess[str]:
        """Send ``sig``; wait for the process to end."""
        self.process.send_signal(sig)
        return self.ended()

    def ended(self) -> subprocess.CompletedProcess[str]:
        """Wait for the process to end (a signal was sent)."""
        try:
            code = self.process.wait(timeout=GUARD)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still ran {GUARD:g}s after it was told to stop")
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self._reader.join(GUARD)
        return subprocess.CompletedProcess(self.process.args, code, out, self.stderr)


class Served:
    """A project of wh_served apps, deployed and released, with a ledger of its checks."""

    def __init__(self, root: Path, processes: Processes) -> None:
        self.root = root
        self.processes = processes
        self.ledger = root / "ledger"
        self.gate = root / "gate"
        self.ledger.mkdir()
        self.gate.mkdir()
        self.project = Project(root / "project", [], plugins=("wh_served",))

    def configure(
        self,
        apps: Mapping[str, Mapping[str, Any]],
        interval: str = "1h",
        timeout: str = "10s",
        **status: Any,
    ) -> None:
        """One app per name, each with the plugin's settings given (and the ledger)."""
        self.project.apps = []
        for name, config in apps.items():
            settings = {"ledger": str(self.ledger), **config}
            isolate = settings.pop("isolate", None)
            app = App(name, "wh_served", settings, "wh_served", settings, isolate)
            self.project.apps.append(app)
        self.project.status = {"interval": interval, "timeout": timeout, **status}
        self.project.write()

    def up(self) -> None:
        """Deploy and release every app, in a process of its own (a test's browser runs an
        event loop in this one)."""
        result = self.processes.run(self.project.args("up"), cwd=self.project.root)
        assert result.returncode in (0, 1), result.stderr
        for entry in self.ledger.iterdir():
            entry.unlink()  # the checks of up are not the service's

    def serve(self, *args: str, env: Mapping[str, str] | None = None) -> Service:
        return Service(self.processes, self.project, *args, env=env)

    def checks(self, app: str, kind: str = "deployment") -> list[tuple[float, float, int]]:
        """``(start, end, pid)`` of each check of ``app``'s ``kind``, in order."""
        path = self.ledger / f"{app}.{kind}"
        if not path.exists():
            return []
        rows = [line.split() for line in path.read_text().splitlines()]
        return [(float(start), float(end), int(pid)) for start, end, pid in rows]
