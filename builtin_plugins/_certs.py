"""The ``certificate`` resource of a TLS endpoint (DESIGN §19), for ``http`` and ``tcp``: when
the server's certificate expires, who issued it, and whether it is trusted.

Only a verified certificate's fields are read (the standard library gives none of an unverified
one): one that fails verification is told by the reason, "certificate has expired" among them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

import attrs

from waypoint_hooks import CategoryDisplayHint, Health, Resource

__all__ = ["certificate_resource", "check_ca_file"]

_DAY: Final = 86400
#: OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED.
_EXPIRED: Final = 10
#: The short names of a distinguished name's usual attributes, as OpenSSL writes them.
_SHORT: Final = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def check_ca_file(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    """A validator of ``ca_file``: a path (which is read when a check uses it, in the
    project's directory, where a relative one is found)."""
    if value is not None and not value.strip():
        raise ValueError("names no file; write the path of a PEM file of CA certificates")


def certificate_resource(
    endpoint: str,
    certificate: Mapping[str, Any] | None,
    failure: OSError | None,
    window: float,
    now: float | None = None,
) -> Resource | None:
    """The ``certificate`` resource of ``endpoint`` (the id of the endpoint's resource, its
    parent): from the ``certificate`` its server gave, or the ``failure`` that verifying it
    was; ``None`` when neither tells anything of it (no TLS handshake was made).

    READY; ALIVE when it expires within ``window`` seconds; DOWN expired or not trusted.
    """
    import ssl

    if certificate is not None:
        return _seen(endpoint, certificate, window, time.time() if now is None else now)
    if not isinstance(failure, ssl.SSLCertVerificationError):
        return None
    expired = failure.verify_code == _EXPIRED
    message = "expired" if expired else f"not trusted: {failure.verify_message}"
    return _resource(endpoint, Health.DOWN, message, {})


def _seen(endpoint: str, certificate: Mapping[str, Any], window: float, now: float) -> Resource:
    import ssl

    not_after = ssl.cert_time_to_seconds(certificate["notAfter"])
    state = {
        "not_after": _iso(not_after),
        "issuer": _distinguished(certificate.get("issuer", ())),
        "subject": _distinguished(certificate.get("subject", ())),
    }
    left = not_after - now
    if left <= 0:
        # Verified a moment ago, expired since.
        return _resource(endpoint, Health.DOWN, f"expired on {state['not_after']}", state)
    if left <= window:
        return _resource(endpoint, Health.ALIVE, f"expires in {_span(left)}", state)
    message = f"valid until {state['not_after']} ({_span(left)})"
    return _resource(endpoint, Health.READY, message, state)


def _resource(
    endpoint: str, health: Health, message: str, state: Mapping[str, str | None]
) -> Resource:
    import json

    return Resource(
        "certificate",
        health=health,
        health_message=message,
        id=f"{endpoint}#certificate",
        parent_resource_id=endpoint,
        type="certificate",
        category_display_hint=CategoryDisplayHint.CONFIG,
        state_json=json.dumps({key: state.get(key) for key in ("not_after", "issuer", "subject")}),
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    """``seconds`` from now in whole days ("9 days"), or hours within the last day."""
    count, unit = (
        (int(seconds // _DAY), "day") if seconds >= _DAY else (int(seconds // 3600), "hour")
    )
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _distinguished(name: Sequence[Sequence[tuple[str, str]]]) -> str:
    """A name as ``getpeercert()`` gives it, written as OpenSSL writes one: ``CN=…, O=…``."""
    return ", ".join(f"{_SHORT.get(key, key)}={value}" for part in name for key, value in part)
