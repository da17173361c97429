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
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import GUARD, Processes, Project, script_env

_ADDRESS = re.compile(r"on (http://\S+/) \(")


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

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        request = urllib.request.Request(
            self.url.rstrip("/") + path, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=GUARD) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Answer(exc.code, exc.headers, exc.read())

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        return self.request("POST", path, headers)

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
        return bool(counts) and sum(counts) >= count * targets

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
