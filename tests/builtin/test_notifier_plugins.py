"""The builtin notifiers (DESIGN §15): ``webhook`` posts to a real loopback receiver, ``command``
runs a real program that reads the alert from its stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_http import LoopbackServer, refusing_port, serving

from builtin_plugins._messages import TemplateError
from builtin_plugins.command import TITLE_ENV, CommandError
from builtin_plugins.webhook import WebhookError, slack_message
from waypoint_hooks import Alert, ConfigError
from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.uses import check_plugins
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.host import PluginManager
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


# --- webhook templates -----------------------------------------------------------------------


def test_webhook_posts_what_the_body_template_makes_with_its_content_type(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    body = (
        '{"summary": {{ title|tojson }}, "app": "{{ alert.app }}",\n'
        ' "change": "{{ alert.previous_health }} -> {{ alert.health }}",'
        ' "said": {{ alert.report.health_message|tojson }}, "since": "{{ alert.since }}"}'
    )
    config = {
        "url": receiver.url("/hook"),
        "title": "{{ alert.app }} is {{ alert.health }}",
        "body": body,
        "content_type": "application/vnd.pager+json",
    }
    plugins.notifier_send("webhook", config, alert=sample_alert())
    ((_, headers, sent),) = receiver.posts
    assert headers["content-type"] == "application/vnd.pager+json"
    assert json.loads(sent) == {
        "summary": "web is DOWN",
        "app": "web",
        "change": "READY -> DOWN",
        "said": "connection refused",
        "since": "2024-05-01T12:00:00Z",
    }


def test_webhook_s_title_template_is_the_slack_message_s_text(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    alert = sample_alert("reminder")
    config = {"url": receiver.url("/hook"), "format": "slack", "title": "still {{ alert.health }}"}
    plugins.notifier_send("webhook", config, alert=alert)
    ((_, _, sent),) = receiver.posts
    assert json.loads(sent) == slack_message(alert, "still DOWN")
    assert json.loads(sent)["text"] == "still DOWN"


def test_webhook_sends_what_the_body_template_makes_as_json_unless_told_otherwise(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    config = {"url": receiver.url("/hook"), "body": "{{ title }}"}
    plugins.notifier_send("webhook", config, alert=sample_alert())
    ((_, headers, sent),) = receiver.posts
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert sent.decode() == "[firing] web deployment is DOWN: connection refused"


def test_a_template_that_fails_while_rendering_fails_the_attempt_naming_setting_and_line(
    plugins: PluginHarness, receiver: LoopbackServer
) -> None:
    config = {"url": receiver.url("/hook"), "body": "{{ alert.app }}\n{{ alert.helth }}"}
    with pytest.raises(TemplateError) as info:
        plugins.notifier_send("webhook", config, alert=sample_alert())
    assert str(info.value) == "the body template, line 2: 'dict object' has no attribute 'helth'"
    assert receiver.posts == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ alert.__class__.__mro__ }}", "access to attribute '__class__' of 'dict' object"),
        (
            "{{ alert.app.format.__globals__ }}",
            "access to attribute '__globals__' of 'function' object",
        ),
        ("{{ 1 // 0 }}", "ZeroDivisionError: integer division or modulo by zero"),
    ],
)
def test_a_template_runs_in_the_sandbox_and_its_errors_fail_the_attempt(
    plugins: PluginHarness, receiver: LoopbackServer, template: str, problem: str
) -> None:
    config = {"url": receiver.url("/hook"), "format": "slack", "title": template}
    with pytest.raises(TemplateError, match=f"^the title template, line 1: {problem}"):
        plugins.notifier_send("webhook", config, alert=sample_alert())
    assert receiver.posts == []


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            {"body": '{"token": "s3cr3t", {{ alert.app }'},
            "body: line 1 of the template: unexpected '}'",
        ),
        (
            {"body": "{{ alert.app|shout }}"},
            "body: line 1 of the template: No filter named 'shout'",
        ),
        (
            {"title": "{{ alert.app }}"},
            "title: the JSON body has no title; use it in a body template ({{ title }}), or set "
            'format = "slack"',
        ),
        ({"content_type": "text/plain\r\nX: s3cr3t"}, "content_type: must not hold line breaks"),
    ],
)
def test_webhook_template_settings_are_checked_when_the_config_is(
    plugins: PluginHarness, config: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        plugins.notifier_send("webhook", {"url": "http://x/", **config}, alert=sample_alert())
    assert str(info.value).endswith(problem)
    assert "s3cr3t" not in str(info.value)


def test_a_template_that_does_not_parse_is_a_config_error_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "waypoint.hcl"
    config.write_text(
        'project = "demo"\n'
        'app "web" {\n  deploy {\n    use "filepath" {\n      directory = "out"\n    }\n  }\n}\n'
        'notify "oncall" {\n  use "command" {\n    command = ["true"]\n'
        '    body    = "{{ alert.app }"\n  }\n}\n'
    )
    with pytest.raises(ConfigFileError) as info:
        check_plugins(load_config(config), PluginManager.load(autoload=False))
    assert str(info.value) == (
        'waypoint.hcl:12: notify "oncall": use "command": body: line 1 of the template: '
        "unexpected '}'; change this use block to fit the plugin"
    )


def test_a_notifier_without_templates_does_not_import_jinja2() -> None:
    source = (
        "import sys, tempfile\n"
        "from waypoint_hooks.testing import PluginHarness, sample_alert\n"
        "plugins = PluginHarness.load(builtins=True, directory=tempfile.mkdtemp())\n"
        f"plugins.notifier_send('command', {{'command': [{sys.executable!r}, '-c', '']}},"
        " alert=sample_alert())\n"
        "print('jinja2' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "False"


# --- command ---------------------------------------------------------------------------------


def program(source: str) -> list[str]:
    return [sys.executable, "-c", source]


def recording(path: Path, expression: str) -> list[str]:
    """A program that writes ``expression`` (Python, with ``os`` and ``sys``) to ``path``."""
    return program(f"import os, sys, pathlib\npathlib.Path({str(path)!r}).write_text({expression})")


def test_command_runs_a_program_with_the_alert_on_its_stdin(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    read = tmp_path / "read.json"
    command = recording(read, "sys.stdin.read() + os.environ['CHANNEL']")
    alert = sample_alert()
    plugins.notifier_send("command", {"command": command, "env": {"CHANNEL": "#ops"}}, alert=alert)
    text = read.read_text()
    assert text.endswith("#ops")
    assert Alert.from_wire(json.loads(text.removesuffix("#ops"))) == alert


def test_command_gives_the_program_what_the_templates_make(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    read = tmp_path / "read.txt"
    config = {
        "command": recording(read, f"os.environ[{TITLE_ENV!r}] + '|' + sys.stdin.read()"),
        "title": "{{ alert.app }}: {{ alert.health }}",
        "body": (
            "{{ alert.message }}\n"
            "{% if alert.previous_health %}was {{ alert.previous_health }}\n{% endif %}"
        ),
    }
    plugins.notifier_send("command", config, alert=sample_alert())
    assert read.read_text() == "web: DOWN|web deployment is DOWN: connection refused\nwas READY\n"


def test_command_s_title_is_the_alert_s_state_and_message_by_default(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    read = tmp_path / "title.txt"
    source = (
        f"import os, pathlib; pathlib.Path({str(read)!r}).write_text(os.environ[{TITLE_ENV!r}])"
    )
    plugins.notifier_send("command", {"command": program(source)}, alert=sample_alert("resolved"))
    assert read.read_text() == "[resolved] web deployment is READY again: All 1 resources are READY"


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
