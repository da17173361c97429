"""A file that keeps what a run worked out, for the next run to use while its key still holds:
the config cache and the plugin discovery cache, side by side in a project's
``.waypoint-hooks`` directory.

Only a speed-up: a missing, unreadable or corrupt file is read as no entry, and a file that
cannot be written is left unwritten; neither is ever an error.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_entry", "write_entry"]


def read_entry(file: Path, key: object) -> Any | None:
    """What ``file`` keeps under ``key`` (JSON values), or ``None`` if it keeps nothing under
    that key or cannot be read."""
    try:
        entry = json.loads(file.read_bytes())
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry.get("body")
    except (OSError, ValueError):
        return None


def write_entry(file: Path, key: object, body: object) -> None:
    """Keep ``body`` in ``file`` under ``key``, replacing what it kept."""
    if file.parent.is_symlink():
        return  # nothing is written through a link, which could point anywhere (§13)
    try:
        # Private, as the state beside it (DESIGN §13); mkstemp makes the file 0600.
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Imported here: a run that finds its entry (the usual one) writes none.
        import tempfile

        fd, temp = tempfile.mkstemp(prefix=file.name, suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as opened:
                json.dump({"key": key, "body": body}, opened)
            # Atomic: a concurrent run reads the old entry or the new one, never half.
            os.replace(temp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError:
        # A read-only project directory must not fail the run.
        return
