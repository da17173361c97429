"""Names of apps and workspaces (DESIGN §13): they become parts of file names and URLs."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["NAME_RULE", "check_name"]

#: What a name may be: 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.
NAME_RULE: Final = "[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
_NAME: Final = re.compile(NAME_RULE)


def check_name(what: str, value: object) -> None:
    """Refuse ``value`` as ``what`` ("the app's name") unless it follows the rule."""
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise ValueError(
            f"{what} must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit ({NAME_RULE}), as it is used in file names and URLs; got {value!r}"
        )
