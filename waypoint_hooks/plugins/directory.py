"""Where hooks run: a module of its own, so that a command that runs none (``status
--cached``) does not import the hooks' contexts to keep its working directory as others do."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["working_directory"]


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run hooks in ``path``, the directory of the project's config file, as Waypoint ran them
    in the project's: ``directory = "out"`` means beside waypoint.hcl, wherever the command
    was typed."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
