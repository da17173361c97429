"""Public names that load on first use (PEP 562), for ``waypoint_hooks`` and its ``host``.

The launcher's ``--help`` and ``--version`` import the package: they must not pay for attrs,
cattrs and pluggy, which the modules behind these names import.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def lazy(
    namespace: dict[str, Any],
    exports: Mapping[str, tuple[str, ...]],
    moved: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the module whose globals are ``namespace``.

    ``exports`` maps each module, relative to the package, to the names it gives: a name is
    imported when first looked up, then kept as an ordinary global. ``moved`` maps a name that
    moved to the module it moved to: it still resolves, with a ``DeprecationWarning`` at each
    use, so that every place that uses it is told.
    """
    module_of = {name: module for module, names in exports.items() for name in names}
    moved = moved or {}
    here = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module, namespace["__package__"]), name)
            namespace[name] = value  # the next look-up is an ordinary global
            return value
        home = moved.get(name)
        if home is None:
            raise AttributeError(f"module {here!r} has no attribute {name!r}")
        if not _asked_by_the_import_system():
            warnings.warn(
                f"import {name} from {home}; {here}.{name} goes in 1.0",
                DeprecationWarning,
                stacklevel=2,
            )
        return getattr(importlib.import_module(home), name)

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__


def _asked_by_the_import_system() -> bool:
    # `from waypoint_hooks import X` is one use, but importlib first asks hasattr(module, "X")
    # (its _handle_fromlist) and only then takes X. Its frames are told apart as the warnings
    # module tells them apart, to blame the importing line.
    filename = sys._getframe(2).f_code.co_filename
    return "importlib" in filename and "_bootstrap" in filename
