"""Following the config file: read again when it changes (DESIGN §14); a bad edit keeps the
config that runs, and says why until the file is fixed."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, final

from ..config.project import Project
from ..errors import UsageError

__all__ = ["ConfigFollower"]

logger = logging.getLogger("waypoint_hooks.serve")

#: How often the file is looked at, in seconds.
_POLL: Final = 1.0


@final
class ConfigFollower:
    """Reads the file at ``path`` again with ``read`` (in a thread: it parses and checks the
    plugins) whenever it is written or replaced, and hands what it read to ``use``; what the
    file as it is now cannot be (a :class:`UsageError`) is kept in :attr:`error` instead."""

    def __init__(
        self,
        path: Path,
        read: Callable[[Path], Project],
        use: Callable[[Project], Awaitable[None]],
    ) -> None:
        self._path = path
        self._read = read
        self._use = use
        self._seen = _signature(path)
        #: Why the file, as it is now, is not the config that runs; ``None`` while it is.
        self.error: str | None = None

    async def follow(self) -> None:
        """Look at the file every second until cancelled."""
        while True:
            await asyncio.sleep(_POLL)
            now = _signature(self._path)
            if now != self._seen:
                self._seen = now
                await self._reload()

    async def _reload(self) -> None:
        try:
            project = await asyncio.to_thread(self._read, self._path)
        except UsageError as exc:  # the file as it is now cannot be served: the user fixes it
            self.error = str(exc)
            logger.warning("%s; the config read before goes on running", exc)
            return
        self.error = None
        await self._use(project)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is written or replaced."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
