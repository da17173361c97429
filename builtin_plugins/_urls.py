"""Checking the URLs that builtin plugins probe (``http``'s endpoints, ``process``'s
``ready_http``), so that both refuse the same ones with the same words."""

from __future__ import annotations

from typing import Final

#: The schemes a probe speaks, and the only ones a redirect is followed to.
SCHEMES: Final = ("http", "https")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be probed, or ``None`` when it can."""
    from urllib.parse import urlsplit

    if any(char.isspace() or not char.isprintable() for char in url):
        return f"{url!r} holds spaces or control characters; percent-encode them"
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host"
    if not parts.hostname.isascii():
        return f"{url!r}: write the host name in its ASCII (xn--) form"
    if parts.username is not None:
        # The URL names the resource and is shown and stored: a secret has no place in it.
        return f"{url!r} holds credentials; send them in headers (Authorization) instead"
    try:
        _ = parts.port  # the property raises for a port that is not a number in range
    except ValueError:
        return f"{url!r} has an invalid port"
    return None
