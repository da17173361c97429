"""A ``waypoint-hooks serve`` process for the benchmarks of the status service (B8, B9): started
on a free port, asked over HTTP, stopped with SIGTERM."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from waypoint_hooks.state.store import State, default_state_path

from .startup import _ENV
from .store import deployed


def filepath_project(root: Path, apps: int, interval: float, state: str | None = None) -> Path:
    """A project of ``apps`` filepath apps checked every ``interval`` seconds, deployed
    straight into its state (the deploys are not what is measured): the file beside the
    config, or the PostgreSQL database ``state`` names. Its config file."""
    out = root / "out"
    out.mkdir()
    blocks = "".join(
        f'app "app{index}" {{\n  deploy {{\n    use "filepath" {{}}\n  }}\n}}\n'
        for index in range(apps)
    )
    config = root / "waypoint.hcl"
    config.write_text(
        f'project = "bench"\n\nstatus {{\n  interval = "{interval:g}s"\n}}\n\n{blocks}'
    )
    with State.open(state or default_state_path(config)) as opened:
        for index in range(apps):
            path = out / f"app{index}.txt"
            path.write_text("x")
            deployed(opened, f"app{index}", {"path": str(path)})
    return config


def get(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body


def until(
    condition: Callable[[], object], what: str, guard: float = 900.0, poll: float = 0.05
) -> None:
    """Wait until ``condition()`` is true, asking every ``poll`` seconds; an error naming
    ``what`` after ``guard`` seconds."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"still waiting for {what} after {guard:g}s")
        time.sleep(poll)


@contextlib.contextmanager
def serving(command: list[str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``command`` (a ``serve --port 0``); the process and the address it listens on."""
    process = subprocess.Popen(
        command, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    assert process.stderr is not None
    stream = process.stderr
    threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()

    def address() -> str | None:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {''.join(lines)}")
        found = [re.search(r"on (http://\S+/) ", line) for line in lines]
        return next((match.group(1) for match in found if match), None)

    until(address, "serve to listen")
    try:
        yield process, str(address())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=300)
