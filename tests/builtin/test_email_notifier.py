"""The builtin ``email`` notifier (DESIGN §15) against a real SMTP server on loopback
(aiosmtpd): plain, STARTTLS and TLS from the first byte, AUTH, refusals, a server that is down
or silent; and a real ``waypoint-hooks status`` that mails its alert."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_http import refusing_port
from helpers_smtp import PASSWORD, REFUSED, USER, Security, SMTPServer, smtp_server

from builtin_plugins.email import EmailConfig, EmailError, notifier_send
from waypoint_hooks import ConfigError, Context, Duration
from waypoint_hooks.host import AUTOLOAD_ENV
from waypoint_hooks.testing import PluginHarness, sample_alert

SENDER = "Alerts <alerts@example.com>"


@pytest.fixture
def trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the servers' CA will be: the client trusts it (and only it) from the start."""
    ca_file = tmp_path / "smtp-ca.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    return ca_file


@pytest.fixture(params=["starttls", "tls"])
def secure(request: pytest.FixtureRequest, tmp_path: Path, trusted: Path) -> Iterator[SMTPServer]:
    """A server that logs in, over STARTTLS or TLS from the first byte."""
    with smtp_server(tmp_path, request.param, auth=True) as server:
        yield server


def settings(server: SMTPServer | int, security: Security = "plain", **more: Any) -> dict[str, Any]:
    port = server if isinstance(server, int) else server.port
    way = {"plain": {"starttls": False}, "starttls": {}, "tls": {"tls": True}}[security]
    return {
        "host": "127.0.0.1",
        "port": port,
        "from": SENDER,
        "to": "ops@example.com",
        **way,
        **more,
    }


def send(plugins: PluginHarness, config: dict[str, Any], state: str = "firing") -> None:
    plugins.notifier_send("email", config, alert=sample_alert(state))  # type: ignore[arg-type]


# --- what is sent ----------------------------------------------------------------------------


def test_an_alert_is_mailed_as_plain_text_with_its_title_as_subject(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    with smtp_server(tmp_path) as server:
        send(plugins, settings(server, to=["ops@example.com", "Web Team <web@example.com>"]))
    (mail,) = server.mails
    assert mail.sender == "alerts@example.com"
    assert mail.recipients == ["ops@example.com", "web@example.com"]
    message = mail.message
    assert message["Subject"] == "[firing] web deployment is DOWN: connection refused"
    assert message["From"] == SENDER
    assert message["To"] == "ops@example.com, Web Team <web@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "text/plain"
    assert mail.text == textwrap.dedent(
        """\
        web deployment is DOWN: connection refused

        App:        web
        Workspace:  default
        Deployment: d3adb33f
        Health:     DOWN
        Since:      2024-05-01 12:00:00 UTC
        Notify:     oncall
        Before:     READY
        """
    )


def test_the_subject_and_text_are_what_the_templates_make(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    templates = {
        # A line break in a subject would end the header: it is one line.
        "title": "{{ alert.app }} is {{ alert.health }}\nsince {{ alert.since }}",
        "body": "{{ title }}\n{% for r in alert.report.resources %}- {{ r.name }}\n{% endfor %}"
        "Héllo, {{ alert.report.health_message }}.",
    }
    with smtp_server(tmp_path) as server:
        send(plugins, settings(server, **templates))
    (mail,) = server.mails
    assert mail.message["Subject"] == "web is DOWN since 2024-05-01T12:00:00Z"
    # The body's title is as rendered: a text may hold line breaks.
    assert mail.text == "web is DOWN\nsince 2024-05-01T12:00:00Z\nHéllo, connection refused.\n"


def test_a_template_that_fails_sends_nothing(plugins: PluginHarness, tmp_path: Path) -> None:
    from builtin_plugins._messages import TemplateError

    failed = pytest.raises(TemplateError, match=r"^the title template, line 1: 'dict object'")
    with smtp_server(tmp_path) as server, failed:
        send(plugins, settings(server, title="{{ alert.nope }}"))
    assert server.mails == []


# --- TLS and AUTH ----------------------------------------------------------------------------


def test_it_logs_in_over_tls_and_sends(
    plugins: PluginHarness, secure: SMTPServer, request: pytest.FixtureRequest
) -> None:
    security = request.node.callspec.params["secure"]
    send(plugins, settings(secure, security, username=USER, password=PASSWORD))
    (mail,) = secure.mails
    assert mail.recipients == ["ops@example.com"]


def test_a_wrong_password_is_refused_and_never_shown(
    plugins: PluginHarness, secure: SMTPServer, request: pytest.FixtureRequest
) -> None:
    security = request.node.callspec.params["secure"]
    wrong = "wr0ng-pa55word"
    with pytest.raises(EmailError) as info:
        send(plugins, settings(secure, security, username=USER, password=wrong))
    assert str(info.value) == (
        f"127.0.0.1:{secure.port}: authentication refused (535 5.7.8 Authentication "
        "credentials invalid)"
    )
    assert secure.mails == []
    assert wrong not in repr(
        EmailConfig("h", SENDER, "a@example.com", username=USER, password=wrong)
    )


def test_a_certificate_the_client_does_not_trust_fails_tls(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    for security in ("starttls", "tls"):
        with smtp_server(tmp_path, security) as server:  # type: ignore[arg-type]
            with pytest.raises(EmailError) as info:
                send(plugins, settings(server, security))  # type: ignore[arg-type]
            assert str(info.value) == (
                f"127.0.0.1:{server.port}: TLS failed (unable to get local issuer certificate)"
            )
            send(plugins, settings(server, security, verify_tls=False))  # type: ignore[arg-type]
            assert len(server.mails) == 1


def test_starttls_is_the_default_and_a_server_without_it_is_refused(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    with smtp_server(tmp_path) as server, pytest.raises(EmailError) as info:
        send(plugins, settings(server, "starttls"))
    assert str(info.value) == f"127.0.0.1:{server.port}: the server does not offer STARTTLS"
    assert server.mails == []


# --- refusals and failures -------------------------------------------------------------------


def test_a_refused_recipient_fails_the_attempt_naming_it(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    nobody = f"nobody@{REFUSED}"
    with smtp_server(tmp_path) as server:
        with pytest.raises(EmailError) as info:
            send(plugins, settings(server, to=["ops@example.com", nobody]))
        refused = (
            f"127.0.0.1:{server.port}: recipient refused: {nobody} (550 5.1.1 no such mailbox here)"
        )
        assert str(info.value) == refused
        # The others were told: the attempt is tried again all the same.
        assert [mail.recipients for mail in server.mails] == [["ops@example.com"]]
        with pytest.raises(EmailError) as info:
            send(plugins, settings(server, to=nobody))
        assert str(info.value) == refused
    assert len(server.mails) == 1


def test_a_server_that_is_down_is_a_refused_connection(plugins: PluginHarness) -> None:
    with refusing_port() as port, pytest.raises(EmailError) as info:
        send(plugins, settings(port))
    assert str(info.value) == f"127.0.0.1:{port}: connection refused"


def test_a_server_that_never_answers_is_given_up_at_the_timeout(plugins: PluginHarness) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never greets
        port = silent.getsockname()[1]
        with pytest.raises(EmailError) as info:
            send(plugins, settings(port, timeout="200ms"))
    assert str(info.value) == f"127.0.0.1:{port}: no answer within 200ms"


def test_the_attempt_s_deadline_bounds_the_whole_conversation() -> None:
    # The hook itself, given a context whose deadline is nearer than its timeout: the
    # runner's own wait ends at the same moment, and would race the plugin's error.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        config = EmailConfig(
            "127.0.0.1", SENDER, "ops@example.com", port=port, timeout=Duration("1h")
        )
        alert = sample_alert()
        started = time.monotonic()
        with pytest.raises(EmailError, match=r"no answer within 300ms$"):
            notifier_send(Context(timeout=0.3), config, alert)
    assert time.monotonic() - started < 5


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("more", "problem"),
    [
        ({"tls": True, "starttls": True}, "starttls: tls is TLS from the first byte (port 465), "),
        ({"username": USER}, "password: required with username and password: set both"),
        ({"password": PASSWORD}, "username: required with username and password: set both"),
        (
            {"starttls": False, "username": USER, "password": PASSWORD},
            "username: logging in without TLS would send the password in the clear; set "
            "starttls = true or tls = true",
        ),
        ({"password": 1234, "username": USER}, "password: expected str, got int"),
        ({"password": [PASSWORD], "username": USER}, "password: expected str, got list"),
        ({"to": []}, "to: names no recipient"),
        ({"to": "ops"}, "to: 'ops' is not an email address (name@example.com, or Name <name@...>)"),
        ({"to": ["ops@example.com", "x\r\nBcc: y@z"]}, "to[1]: must not hold line breaks"),
        ({"from": "alerts"}, "from: 'alerts' is not an email address"),
        ({"host": "smtp example"}, "host: 'smtp example' is not a host name or address"),
        ({"port": 0}, "port: must be at least 1, got 0"),
        ({"body": "{% for %}"}, "body: line 1 of the template: "),
    ],
)
def test_settings_are_checked_and_the_password_is_not_quoted(
    plugins: PluginHarness, more: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        send(plugins, {"host": "smtp.example.com", "from": SENDER, "to": "ops@example.com", **more})
    assert problem in str(info.value)
    assert PASSWORD not in str(info.value)
    assert "1234" not in str(info.value)


@pytest.mark.parametrize(
    ("more", "server"),
    [
        ({}, "smtp.example.com:587"),
        ({"tls": True}, "smtp.example.com:465"),
        ({"starttls": False}, "smtp.example.com:25"),
        ({"port": 2525}, "smtp.example.com:2525"),
    ],
)
def test_the_port_follows_the_way_to_connect(more: dict[str, Any], server: str) -> None:
    assert EmailConfig("smtp.example.com", SENDER, "ops@example.com", **more).server == server


# --- end to end ------------------------------------------------------------------------------


def test_a_real_status_mails_its_alert_and_shows_the_password_nowhere(
    tmp_path: Path, trusted: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with smtp_server(tmp_path, "starttls", auth=True) as server:
        (project / "waypoint.hcl").write_text(
            textwrap.dedent(
                f"""\
                project = "shop"

                notify "oncall" {{
                  use "email" {{
                    host     = "127.0.0.1"
                    port     = {server.port}
                    username = "{USER}"
                    password = "{PASSWORD}"
                    from     = "{SENDER}"
                    to       = ["ops@example.com"]
                    title    = "{{{{ alert.app }}}}: {{{{ alert.health }}}}"
                  }}
                }}

                app "web" {{
                  deploy {{
                    use "filepath" {{
                      directory = "out"
                    }}
                  }}
                }}
                """
            )
        )
        env = {**os.environ, AUTOLOAD_ENV: "1", "SSL_CERT_FILE": str(trusted)}

        def waypoint_hooks(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "waypoint_hooks", *args]
            return subprocess.run(
                command, cwd=project, env=env, capture_output=True, text=True, timeout=120
            )

        outputs = [waypoint_hooks("up")]
        assert outputs[0].returncode == 0, outputs[0].stderr
        (deployed,) = (project / "out").iterdir()
        deployed.unlink()
        outputs.append(waypoint_hooks("-v", "status"))
        assert outputs[-1].returncode == 1, outputs[-1].stderr
        outputs.append(waypoint_hooks("alerts", "--json"))
    (mail,) = server.mails
    assert mail.message["Subject"] == "web: MISSING"
    assert mail.text.startswith("web deployment is MISSING")
    (alert,) = json.loads(outputs[-1].stdout)["alerts"]
    assert alert["delivery"]["delivered"] is not None
    for output in outputs:
        assert PASSWORD not in output.stdout + output.stderr
    # Every file the commands wrote, but the config's parse cache: the config file again.
    for file in (project / ".waypoint-hooks").rglob("*"):
        if file.is_file() and not file.name.startswith("config-"):
            assert PASSWORD.encode() not in file.read_bytes(), file
