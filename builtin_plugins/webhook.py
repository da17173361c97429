"""``webhook``: a notifier that POSTs each alert to a URL, as JSON or as a Slack message.

The JSON body is the alert's own form (``Alert.to_json``); ``format = "slack"`` posts what a
Slack incoming webhook takes (``text``, and an attachment coloured by the alert's state), which
Mattermost and Rocket.Chat take too. A ``body`` template replaces either, for a receiver that
takes its own shape (sent with ``content_type``); a ``title`` template is Slack's ``text``, and
the body template's ``title``. An answer from 200 to 299 means delivered; anything else fails
the attempt, and delivery tries again later.

A webhook's ``headers`` may carry credentials, its URL may be one (Slack's is), and so may its
body (PagerDuty's routing key): no message, error or log line of this plugin holds a header's
value, the URL's path and query, or the body.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

import attrs

from waypoint_hooks import Alert, Context, Duration, Health, StructureError, hookimpl

from ._http import Client, Request, Response, describe
from ._messages import alert_details, check_template, compose, default_title
from ._urls import check_header_value, check_headers, check_url

_SLACK_COLORS: Final = {"firing": "#d00000", "reminder": "#e09000", "resolved": "#2eb886"}
_JSON: Final = "application/json; charset=utf-8"


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
    #: A template for the title: Slack's ``text``, and ``title`` in the body template.
    title: str | None = attrs.field(default=None, validator=check_template)
    #: A template for the whole body, which replaces the one ``format`` makes; may hold a
    #: secret (a routing key), so it is never shown.
    body: str | None = attrs.field(default=None, validator=check_template, repr=False)
    #: The body's Content-Type.
    content_type: str = attrs.field(default=_JSON, validator=check_header_value)

    def __attrs_post_init__(self) -> None:
        if self.title is not None and self.format == "json" and self.body is None:
            raise StructureError.at(
                "title",
                "the JSON body has no title; use it in a body template ({{ title }}), or set "
                'format = "slack"',
            )


@hookimpl
def notifier_send(ctx: Context, config: WebhookConfig, alert: Alert) -> None:
    slack = config.format == "slack"
    title, body = compose(
        alert,
        config.title,
        config.body,
        default_title=_slack_text(alert) if slack else default_title(alert),
    )
    if body is None:
        body = _json(slack_message(alert, title) if slack else alert.to_wire())
    remaining = ctx.remaining()
    # Within the attempt's deadline: once that has passed, there is no time to wait at all.
    limit = max(0.0, min(float(config.timeout), math.inf if remaining is None else remaining))
    answer = _post(config, body.encode("utf-8"), limit)
    if not 200 <= answer.status <= 299:
        raise WebhookError(f"the webhook answered {answer.status} {answer.reason}".rstrip())


def slack_message(alert: Alert, text: str | None = None) -> dict[str, Any]:
    """What a Slack incoming webhook takes for ``alert``: a line of ``text`` (by default its
    state and message), and an attachment with the details, coloured by the alert's state."""
    details = [
        {"title": title, "value": value, "short": True} for title, value in alert_details(alert)
    ]
    return {
        "text": _slack_text(alert) if text is None else text,
        "attachments": [{"color": _SLACK_COLORS[alert.state], "fields": details}],
    }


def _slack_text(alert: Alert) -> str:
    symbol = "✅" if alert.health is Health.READY else "🔴"
    return f"{symbol} {default_title(alert)}"


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _post(config: WebhookConfig, data: bytes, limit: float) -> Response:
    """POST ``data``; the answer."""
    headers = {"Content-Type": config.content_type, **config.headers}
    client = Client(verify_tls=config.verify_tls)
    try:
        return client.fetch(Request("POST", config.url, headers, data), timeout=limit)
    except OSError as exc:
        # The words of the failure only: never the URL, which may itself be the secret.
        what = describe(exc)
        if isinstance(exc, TimeoutError):
            what += f" within {Duration(limit)}"
        raise WebhookError(what) from None
