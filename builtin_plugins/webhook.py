"""``webhook``: a notifier that POSTs each alert to a URL, as JSON or as a Slack message.

The JSON body is the alert's own form (``Alert.to_json``); ``format = "slack"`` posts what a
Slack incoming webhook takes (``text``, and an attachment coloured by the alert's state), which
Mattermost and Rocket.Chat take too. An answer from 200 to 299 means delivered; anything else
fails the attempt, and delivery tries again later.

A webhook's ``headers`` may carry credentials and its URL may be one (Slack's is): no message,
error or log line of this plugin holds a header's value or the URL's path and query.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from waypoint_hooks import Alert, Context, Duration, Health, __version__, hookimpl

from ._urls import check_headers, check_url

if TYPE_CHECKING:
    import http.client

#: How much of the receiver's reason phrase an error quotes.
_QUOTED: Final = 200
_SLACK_COLORS: Final = {"firing": "#d00000", "reminder": "#e09000", "resolved": "#2eb886"}


class WebhookError(Exception):
    """The receiver did not take the alert."""


@attrs.define
class WebhookConfig:
    """The ``use "webhook" { ... }`` block of a ``notify`` block."""

    #: Where to POST each alert: an http:// or https:// URL.
    url: str = attrs.field(validator=check_url)
    #: ``json`` (the alert as it is) or ``slack`` (a Slack-compatible message).
    format: Literal["json", "slack"] = "json"
    #: Sent with every request (``Authorization = "Bearer ..."``); never shown anywhere.
    headers: dict[str, str] = attrs.field(factory=dict, validator=check_headers, repr=False)
    #: How long the receiver has to answer (within the attempt's deadline).
    timeout: Duration = attrs.field(
        default=Duration("10s"), validator=attrs.validators.gt(Duration(0))
    )
    verify_tls: bool = True


@hookimpl
def notifier_send(ctx: Context, config: WebhookConfig, alert: Alert) -> None:
    body = slack_message(alert) if config.format == "slack" else alert.to_wire()
    remaining = ctx.remaining()
    # Within the attempt's deadline; never 0, which a socket takes for "do not wait at all".
    limit = max(0.001, min(float(config.timeout), math.inf if remaining is None else remaining))
    status, reason = _post(config, body, limit)
    if not 200 <= status <= 299:
        quoted = reason if len(reason) <= _QUOTED else f"{reason[:_QUOTED]}..."
        raise WebhookError(f"the webhook answered {status} {quoted}".rstrip())


def slack_message(alert: Alert) -> dict[str, Any]:
    """What a Slack incoming webhook takes for ``alert``: a line of text, and an attachment
    with the details, coloured by the alert's state."""
    symbol = "✅" if alert.health is Health.READY else "🔴"
    fields = [
        ("App", alert.app),
        ("Workspace", alert.workspace),
        (alert.kind.title(), alert.target_id),
        ("Health", alert.health.name),
        ("Since", alert.since.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Notify", alert.notify),
    ]
    details = [{"title": title, "value": text, "short": True} for title, text in fields]
    return {
        "text": f"{symbol} [{alert.state}] {alert.message}",
        "attachments": [{"color": _SLACK_COLORS[alert.state], "fields": details}],
    }


def _post(config: WebhookConfig, body: object, limit: float) -> tuple[int, str]:
    """POST ``body`` as JSON; the answer's status code and reason phrase."""
    import http.client
    import json
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(config.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"waypoint-hooks/{__version__}",
        **config.headers,
    }
    connection = _connection(config, parts.scheme, parts.hostname or "", parts.port, limit)
    try:
        connection.request("POST", target, data, headers)
        answer = connection.getresponse()
        return answer.status, answer.reason
    except TimeoutError:
        raise WebhookError(f"no answer within {Duration(limit)}") from None
    except ConnectionRefusedError:
        raise WebhookError("connection refused") from None
    except ssl.SSLError as exc:
        raise WebhookError(f"TLS failed ({exc.reason or type(exc).__name__})") from None
    except OSError as exc:
        raise WebhookError(exc.strerror or type(exc).__name__) from None
    except http.client.HTTPException as exc:  # an answer that is not HTTP
        raise WebhookError(f"no HTTP answer ({type(exc).__name__})") from None
    finally:
        connection.close()


def _connection(
    config: WebhookConfig, scheme: str, host: str, port: int | None, limit: float
) -> http.client.HTTPConnection:
    import http.client
    import ssl

    if scheme == "http":
        return http.client.HTTPConnection(host, port, timeout=limit)
    context = ssl.create_default_context()
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(host, port, timeout=limit, context=context)
