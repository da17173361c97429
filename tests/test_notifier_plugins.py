"""The builtin notifiers (DESIGN §15): ``webhook`` posts to a real loopback receiver, ``command``
runs a real program that reads the alert from its stdin."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_http import LoopbackServer, refusing_port, serving

from builtin_plugins.command import CommandError
from builtin_plugins.webhook import WebhookError, slack_message
from waypoint_hooks import Alert, ConfigError
from waypoint_hooks.testing import PluginHarness, sample_alert

SECRET = "Bearer s3cr3t"


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with serving() as server:
        yield server


# --- webhook ---------------------------------------------------------------------------------


def test_webhook_posts_the_alert_s_json_form_with_its_headers(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    alert = sample_alert()
    config = {"url": receiver.url("/hook"), "headers": {"Authorization": SECRET}}
    plugins.notifier_send("webhook", config, alert=alert)
    ((path, headers, body),) = receiver.posts
    assert path == "/hook"
    assert headers["authorization"] == SECRET
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["user-agent"].startswith("waypoint-hooks/")
    assert Alert.from_wire(json.loads(body)) == alert


def test_webhook_posts_a_slack_message_with_format_slack(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    alert = sample_alert("resolved")
    plugins.notifier_send("webhook", {"url": receiver.url("/hook"), "format": "slack"}, alert=alert)
    ((_, _, body),) = receiver.posts
    message = json.loads(body)
    assert message == slack_message(alert)
    assert message["text"] == f"✅ [resolved] {alert.message}"
    (attachment,) = message["attachments"]
    assert attachment["color"] == "#2eb886"
    fields = {field["title"]: field["value"] for field in attachment["fields"]}
    assert (fields["App"], fields["Health"], fields["Notify"]) == ("web", "READY", "oncall")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/error", "the webhook answered 500 Internal Server Error"),
        ("/nowhere", "the webhook answered 404 Not Found"),
    ],
)
def test_webhook_fails_the_attempt_on_an_answer_other_than_2xx(
    plugins: PluginHarness, receiver: LoopbackServer, url: str, message: str
) -> None:
    with pytest.raises(WebhookError, match=f"^{message}$"):
        plugins.notifier_send("webhook", {"url": receiver.url(url)}, alert=sample_alert())


def test_webhook_says_a_refused_connection_without_the_url(plugins: PluginHarness) -> None:
    with refusing_port() as port:
        config = {"url": f"http://127.0.0.1:{port}/services/T0/B0/s3cr3t"}
        with pytest.raises(WebhookError) as info:
            plugins.notifier_send("webhook", config, alert=sample_alert())
    assert str(info.value) == "connection refused"


def test_webhook_gives_up_waiting_at_its_timeout(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    config = {"url": receiver.url("/hang"), "timeout": "100ms"}
    with pytest.raises(WebhookError, match=r"^no answer within 100ms$"):
        plugins.notifier_send("webhook", config, alert=sample_alert())


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"url": "ftp://x/"}, "url: 'ftp://x/' is not an http:// or https:// URL with a host"),
        (
            {"url": "http://x/", "format": "teams"},
            "format: must be one of json, slack; got 'teams'",
        ),
        (
            {"url": "http://x/", "headers": {"Authorization": "s3cr3t\nX: y"}},
            "headers[Authorization]: must not hold line breaks",
        ),
        ({"url": "http://x/", "timeout": "0s"}, "timeout: must be longer than 0s, got '0s'"),
    ],
)
def test_webhook_settings_are_checked_and_no_header_value_is_quoted(
    plugins: PluginHarness, config: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        plugins.notifier_send("webhook", config, alert=sample_alert())
    assert str(info.value).endswith(problem)
    assert "s3cr3t" not in str(info.value)


# --- command ---------------------------------------------------------------------------------


def program(source: str) -> list[str]:
    return [sys.executable, "-c", source]


def test_command_runs_a_program_with_the_alert_on_its_stdin(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    read = tmp_path / "read.json"
    source = (
        "import os, sys, pathlib\n"
        f"pathlib.Path({str(read)!r}).write_text(sys.stdin.read() + os.environ['CHANNEL'])"
    )
    alert = sample_alert()
    plugins.notifier_send(
        "command", {"command": program(source), "env": {"CHANNEL": "#ops"}}, alert=alert
    )
    text = read.read_text()
    assert text.endswith("#ops")
    assert Alert.from_wire(json.loads(text.removesuffix("#ops"))) == alert


def test_command_fails_the_attempt_with_the_end_of_what_the_program_said(
    plugins: PluginHarness,
) -> None:
    source = (
        "import sys; sys.stdin.read(); print('no route to the pager', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(CommandError) as info:
        plugins.notifier_send("command", {"command": program(source)}, alert=sample_alert())
    assert str(info.value) == f"{sys.executable} exited with code 3: no route to the pager"


def test_command_kills_a_program_that_runs_past_its_timeout(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    config = {"command": program("import time; time.sleep(600)"), "timeout": "200ms"}
    with pytest.raises(CommandError, match=r"did not finish within 200ms$"):
        plugins.notifier_send("command", config, alert=sample_alert())


def test_command_says_when_the_program_cannot_run(plugins: PluginHarness) -> None:
    with pytest.raises(CommandError, match=r"^cannot run no-such-program-here: No such file"):
        plugins.notifier_send(
            "command", {"command": ["no-such-program-here"]}, alert=sample_alert()
        )


def test_command_needs_a_program(plugins: PluginHarness) -> None:
    with pytest.raises(ConfigError, match=r"command: names no program to run"):
        plugins.notifier_send("command", {"command": []}, alert=sample_alert())
