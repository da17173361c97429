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
from typing import Any, Final, Literal

import attrs

from waypoint_hooks import Alert, Context, Duration, Health, hookimpl

from ._http import Client, Request, Response, describe
from ._urls import check_headers, check_url

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
    # Within the attempt's deadline: once that has passed, there is no time to wait at all.
    limit = max(0.0, min(float(config.timeout), math.inf if remaining is None else remaining))
    answer = _post(config, body, limit)
    if not 200 <= answer.status <= 299:
        raise WebhookError(f"the webhook answered {answer.status} {answer.reason}".rstrip())


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


def _post(config: WebhookConfig, body: object, limit: float) -> Response:
    """POST ``body`` as JSON; the answer."""
    import json

    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", **config.headers}
    client = Client(verify_tls=config.verify_tls)
    try:
        return client.fetch(Request("POST", config.url, headers, data), timeout=limit)
    except OSError as exc:
        # The words of the failure only: never the URL, which may itself be the secret.
        what = describe(exc)
        if isinstance(exc, TimeoutError):
            what += f" within {Duration(limit)}"
        raise WebhookError(what) from None
