"""The errors a user of the framework meets, each naming what to fix."""

from __future__ import annotations

__all__ = ["ConfigError", "PluginError"]


class ConfigError(ValueError):
    """The configuration of an app does not fit: names the app, the plugin and the field.

    ``problems`` holds ``(path, message)`` pairs, the path relative to the plugin's config
    (``directory``, ``headers.accept``); an empty path is about the config as a whole.
    """

    def __init__(self, app: str, plugin: str, problems: list[tuple[str, str]]) -> None:
        self.app = app
        self.plugin = plugin
        self.problems = problems
        details = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(f"app {app!r}, plugin {plugin!r}: {details}")


class PluginError(RuntimeError):
    """A plugin cannot be used: it failed to load or validate, or lacks the hook asked for."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")
