"""The errors a user of the framework meets, each naming what to fix."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

__all__ = [
    "ConfigError",
    "ConfigFileError",
    "PluginError",
    "StructureError",
    "describe",
    "join_path",
    "prefixed",
]

_S = TypeVar("_S", bound="StructureError")


def join_path(path: str, inner: str) -> str:
    """``resources[3]`` + ``health`` → ``resources[3].health``; indexes join without a dot."""
    if not inner:
        return path
    if not path or inner.startswith("["):
        return f"{path}{inner}"
    return f"{path}.{inner}"


def describe(problems: Iterable[tuple[str, str]]) -> str:
    """``(path, message)`` pairs as one line: ``port: expected int, got str 'x'; …``."""
    return "; ".join(f"{path}: {message}" if path else message for path, message in problems)


class StructureError(ValueError):
    """A value does not fit the type asked for; ``problems`` lists ``(path, message)`` pairs.

    A plugin's validator or converter may raise one to name a path inside its field
    (``StructureError.at("urls[2]", "is not a URL")``); a plain ``ValueError`` from a validator
    is reported at the validator's field.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(describe(problems))

    @classmethod
    def at(cls: type[_S], path: str, message: str) -> _S:
        """One problem, at ``path``."""
        return cls([(path, message)])

    @property
    def path(self) -> str:
        """The path to the first bad field, e.g. ``resources[3].health``."""
        return self.problems[0][0]


def prefixed(error: _S, prefix: str) -> _S:
    """``error`` with ``prefix`` put before each of its paths (same error class)."""
    return type(error)([(join_path(prefix, path), message) for path, message in error.problems])


class ConfigError(ValueError):
    """The configuration of an app does not fit: names the app, the plugin and the field.

    ``problems`` holds ``(path, message)`` pairs, the path relative to the plugin's config
    (``directory``, ``headers.accept``); an empty path is about the config as a whole.
    """

    def __init__(self, app: str, plugin: str, problems: list[tuple[str, str]]) -> None:
        self.app = app
        self.plugin = plugin
        self.problems = problems
        super().__init__(f"app {app!r}, plugin {plugin!r}: {describe(problems)}")


class ConfigFileError(Exception):
    """The config file is wrong: ``str()`` is the whole message, ``FILE:LINE: what to fix``.

    ``path`` is absolute; the message shows it relative to the working directory when the file
    is inside it, as compilers do. ``line`` is ``None`` when no one line is to blame.
    """

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = Path(os.path.abspath(path))
        self.line = line
        self.message = message
        where = _shown(self.path) if line is None else f"{_shown(self.path)}:{line}"
        super().__init__(f"{where}: {message}")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):  # outside the working directory, or it was deleted
        return str(path)


class PluginError(RuntimeError):
    """A plugin cannot be used: it failed to load or validate, or lacks the hook asked for."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")
