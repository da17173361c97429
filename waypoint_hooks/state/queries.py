"""The stores' SQL, kept as named queries in ``sql/*.sql`` (procrastinate's way): each query
starts with a line ``-- name: NAME``; the comment lines before its text say what it is for.

The queries are written once, with ``?`` parameters, for both databases. Where a query takes
a list of keys or a lock clause, its text holds a ``{field}`` that the store fills in with
:meth:`str.format`: a row-value list (``{values}``), ``{for_update}``, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SQL", "load"]

#: The folder of the SQL files, installed beside this module (package data). Read as plain
#: files: importlib.resources would import tempfile and zipfile at every command's start.
SQL = Path(__file__).with_name("sql")

_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def load(group: str) -> Mapping[str, str]:
    """The named queries of ``sql/{group}.sql``, by name, without their comment lines."""
    text = (SQL / f"{group}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    # parts: the text before the first name, then name and query text, alternately.
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        queries[name] = " ".join(line.strip() for line in lines if line.strip())
    return queries
