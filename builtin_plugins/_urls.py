"""Checking the URLs that builtin plugins probe (``http``'s endpoints, ``process``'s
``ready_http``), so that both refuse the same ones with the same words."""

from __future__ import annotations

from typing import Final

from waypoint_hooks import redact_urls

#: The schemes a probe speaks, and the only ones a redirect is followed to.
SCHEMES: Final = ("http", "https")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be probed, or ``None`` when it can. The message quotes the URL with
    its userinfo and query values redacted: they may be the very secret refused."""
    from urllib.parse import urlsplit

    shown = repr(redact_urls(url))
    if any(char.isspace() or not char.isprintable() for char in url):
        return f"{shown} holds spaces or control characters; percent-encode them"
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        return f"{shown} is not an http:// or https:// URL with a host"
    if not parts.hostname.isascii():
        return f"{shown}: write the host name in its ASCII (xn--) form"
    if parts.username is not None:
        # The URL names the resource and is shown and stored: a secret has no place in it.
        return f"{shown} holds credentials; send them in headers (Authorization) instead"
    try:
        _ = parts.port  # the property raises for a port that is not a number in range
    except ValueError:
        return f"{shown} has an invalid port"
    return None
