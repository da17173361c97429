"""Checking the URLs that builtin plugins probe or post to (``http``'s endpoints, ``process``'s
``ready_http``, ``webhook``'s url), the headers they send, and the ``host:port`` addresses they
connect to (``tcp``, ``process``'s ``ready_tcp``), so that all refuse the same ones with the
same words. No message quotes a header's value: it may be a credential."""

from __future__ import annotations

import re
from typing import Any, Final

import attrs

from waypoint_hooks import StructureError, redact_urls

# The schemes the builtins' client speaks: the only ones a redirect is followed to, too.
_SCHEMES: Final = ("http", "https")
# RFC 9110's token: what a header name may be made of.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def tcp_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) as a host and a port number."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not a host:port address such as 127.0.0.1:8000")
    return host, int(port)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be probed, or ``None`` when it can. The message quotes the URL with
    its userinfo and query values redacted: they may be the very secret refused."""
    from urllib.parse import urlsplit

    shown = repr(redact_urls(url))
    if any(char.isspace() or not char.isprintable() for char in url):
        return f"{shown} holds spaces or control characters; percent-encode them"
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
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


def check_url(_: object, field: attrs.Attribute[Any], value: str | None) -> None:
    """An attrs validator: ``value`` is a URL a plugin can send requests to (or ``None``)."""
    problem = None if value is None else url_problem(value)
    if problem is not None:
        raise ValueError(problem)


def check_headers(_: object, field: attrs.Attribute[dict[str, str]], value: dict[str, str]) -> None:
    """An attrs validator: every header of ``value`` can be sent as HTTP/1.1 writes it."""
    for name, text in value.items():
        path = f"{field.name}[{name}]"  # as cattrs names a mapping's keys
        if not _TOKEN.fullmatch(name):
            raise StructureError.at(path, "is not a valid header name")
        problem = _value_problem(text)
        if problem is not None:
            raise StructureError.at(path, problem)


def check_header_value(_: object, field: attrs.Attribute[Any], value: str | None) -> None:
    """An attrs validator: ``value`` (when set) can be sent as one header's value."""
    problem = None if value is None else _value_problem(value)
    if problem is not None:
        raise ValueError(problem)


def _value_problem(text: str) -> str | None:
    if "\r" in text or "\n" in text or "\0" in text:
        return "must not hold line breaks"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "must be Latin-1 text, as HTTP/1.1 headers are"
    return None
