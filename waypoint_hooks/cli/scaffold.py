"""``new-plugin``: a ready-to-install plugin package, rendered from the templates in
``templates``: the files every package has (``common``), and those of its kind (``platform``:
a platform and a release manager; ``notifier``).

The templates are package data: every file ends in ``.tmpl`` (so that no tool takes it for the
Python module or project file it becomes) and holds ``{{name}}``, ``{{module}}``, ``{{dist}}``
and ``{{what}}`` placeholders, in its text and in its paths.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..plugins.manager import discover

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["KINDS", "new_plugin"]

#: The kinds of plugin a package can be made for, and what each is, in a sentence.
KINDS: Final = {"platform": "a platform and a release manager", "notifier": "a notifier"}

# Lowercase words joined by single dashes or underscores: a valid entry-point name, a name
# that needs no quoting anywhere, and a Python identifier once dashes become underscores.
_NAME: Final = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*\Z")
_PLACEHOLDER: Final = re.compile(r"\{\{(\w+)\}\}")
_SUFFIX: Final = ".tmpl"


def new_plugin(name: str, directory: Path, kind: str = "platform") -> Path:
    """Create the package of a new plugin called ``name`` in ``directory``; returns its path.

    The package is ``directory/waypoint-hooks-NAME``: distribution ``waypoint-hooks-NAME``,
    module ``waypoint_hooks_NAME``, and an entry point that makes ``use "NAME"`` select it; a
    ``kind`` of :data:`KINDS` to start from. Raises :class:`ValueError` for a name a plugin
    cannot have, or when the package's directory exists already.
    """
    if kind not in KINDS:
        raise ValueError(f"{kind!r} is not a kind of plugin; choose one of {', '.join(KINDS)}")
    names = {**_names(name), "what": KINDS[kind]}
    target = directory / names["dist"]
    try:
        target.mkdir(parents=True)
    except FileExistsError:
        raise ValueError(
            f"{target} already exists; remove it or create the plugin in another directory"
        ) from None
    templates = importlib.resources.files("waypoint_hooks.cli") / "templates"
    for part in ("common", kind):
        _render(templates / part, target, names)
    return target


def _names(name: str) -> dict[str, str]:
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} cannot be a plugin's name: use lowercase letters and digits, starting "
            "with a letter, with single '-' or '_' between words (e.g. 'my-cloud'); it is what "
            '`use "NAME"` selects in waypoint.hcl'
        )
    builtins = [plugin.name for plugin in discover(autoload=False) if plugin.source == "builtin"]
    if name in builtins:
        raise ValueError(
            f'{name!r} is the name of a builtin plugin, so `use "{name}"` would be ambiguous; '
            f"choose another (builtins: {', '.join(sorted(builtins))})"
        )
    words = name.replace("-", "_")
    return {
        "name": name,
        "module": f"waypoint_hooks_{words}",
        "dist": f"waypoint-hooks-{words.replace('_', '-')}",
    }


def _render(source: Traversable, target: Path, names: Mapping[str, str]) -> None:
    for item in sorted(source.iterdir(), key=lambda item: item.name):
        path = target / _fill(item.name, names).removesuffix(_SUFFIX)
        if item.is_dir():
            path.mkdir(exist_ok=True)
            _render(item, path, names)
        else:
            path.write_text(_fill(item.read_text(encoding="utf-8"), names), encoding="utf-8")


def _fill(text: str, names: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: names[match.group(1)], text)
