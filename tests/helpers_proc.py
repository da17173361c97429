"""What ``/proc`` says about the processes a test started, read here on its own rather than
through the ``process`` plugin's code that the tests check."""

from __future__ import annotations

import contextlib
from pathlib import Path

from builtin_plugins.process import MARKER

#: A process gone, exiting while read, or another user's.
_GONE = (FileNotFoundError, ProcessLookupError, PermissionError)


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except _GONE:
        return False
    return stat[stat.rindex(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _running() -> list[Path]:
    """The /proc directories of the processes that have not exited."""
    return [
        entry
        for entry in Path("/proc").iterdir()
        if entry.name.isdecimal() and running(int(entry.name))
    ]


def marked(marker: str) -> list[int]:
    """The running processes whose environment has ``WAYPOINT_HOOKS_DEPLOYMENT`` set to
    ``marker``, or to a value that starts with ``marker.`` (a deployment's id)."""
    pids = []
    for entry in _running():
        with contextlib.suppress(*_GONE):
            for variable in (entry / "environ").read_bytes().split(b"\0"):
                name, _, value = variable.decode(errors="replace").partition("=")
                if name == MARKER and (value == marker or value.startswith(f"{marker}.")):
                    pids.append(int(entry.name))
    return pids


def running_with_argument(text: str) -> list[int]:
    """The running processes with an argument that contains ``text``."""
    pids = []
    for entry in _running():
        with contextlib.suppress(*_GONE):
            if any(text in word for word in (entry / "cmdline").read_text().split("\0")):
                pids.append(int(entry.name))
    return pids
