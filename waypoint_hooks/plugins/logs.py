"""What plugins log with the standard ``logging`` module, shown by the CLI on stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from ..terminal import sanitize

__all__ = ["log_to_stderr"]


class _Formatter(logging.Formatter):
    """``LEVEL logger: message``; a record carries a plugin's words, so it is sanitized."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return sanitize(super().format(record))


def log_to_stderr(verbose: bool) -> Callable[[], None]:
    """Show log records on stderr (never on stdout, which ``--json`` keeps for JSON):
    warnings and worse, and info too when ``verbose``. Returns what undoes it."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(level)

    return undo
