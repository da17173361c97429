"""Public names that load on first use (PEP 562), for ``waypoint_hooks`` and its ``host``.

The launcher's ``--help`` and ``--version`` import the package: they must not pay for attrs,
cattrs and pluggy, which the modules behind these names import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(
    namespace: dict[str, Any], exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the module whose globals are ``namespace``.

    ``exports`` maps each module, relative to the package, to the names it gives: a name is
    imported when first looked up, then kept as an ordinary global.
    """
    module_of = {name: module for module, names in exports.items() for name in names}
    here = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {here!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, namespace["__package__"]), name)
        namespace[name] = value  # the next look-up is an ordinary global
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__
