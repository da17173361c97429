"""Redacting the secrets a URL may carry (DESIGN §13): its userinfo and its query values.

A URL names what a plugin probes, and so is stored and shown; a token in its query or a
password before its host must be neither. :func:`redact_urls` finds URLs in any text, so it
also covers messages, exception texts and log lines that quote one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["redact_urls", "redact_value"]

#: What stands for a secret that was taken out.
REDACTED: Final = "REDACTED"

# A URL in running text: scheme://, its authority, path and query, up to a character that
# cannot be in one or that ends a quoted or JSON string (so that redacting keeps them intact).
_STOP: Final = r"\s\"'<>\\`"
_URL: Final = re.compile(
    rf"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^{_STOP}/?#]*)"
    rf"(?P<path>[^{_STOP}?#]*)(?:\?(?P<query>[^{_STOP}#]*))?"
)
# One parameter of a query: its name, and its value after the "=".
_PARAMETER: Final = re.compile(r"(?P<name>[^&;=]*)=[^&;]*")


def redact_urls(text: str) -> str:
    """``text`` with every URL's userinfo and query values replaced by ``REDACTED``.

    ``http://user:pass@host/health?token=abc&x=1`` becomes
    ``http://REDACTED@host/health?token=REDACTED&x=REDACTED``; parameter names, the host, the
    path and the fragment stay. Redacting redacted text changes nothing.
    """
    if "://" not in text:
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    authority = match["authority"]
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    url = match["scheme"] + authority + match["path"]
    query = match["query"]
    if query is None:
        return url
    return f"{url}?{_PARAMETER.sub(lambda p: p['name'] + '=' + REDACTED, query)}"


def redact_value(value: Any) -> Any:
    """A JSON-ready value (as a hook's deploy or release value) with :func:`redact_urls`
    applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, Mapping):
        return {redact_urls(str(key)): redact_value(item) for key, item in value.items()}
    return value
