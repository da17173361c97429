"""Secrets (DESIGN §13): nothing stored or shown carries a URL's userinfo or query values,
and no error echoes a value from ``headers``, ``env`` or a URL.

The secrets are planted in a real project's config and searched for, as bytes, in everything
the installed console script prints (tables, ``--json``, ``-v``, ``history``) and in every file
it writes under ``.waypoint-hooks/`` (the state, the process logs). The loopback server's
``/token`` answers 200 only to the right token: READY proves the probes still carried it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_http import LoopbackServer, free_port, serving
from hostile.harness import Processes, parse, report_of

from waypoint_hooks import Resource, StatusReport, finalize, redact_urls
from waypoint_hooks.model.report import redact_report

PASSWORD = "pa55-in-the-userinfo"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serving() as running:
        yield running


def run(processes: Processes, config: Path, *args: str) -> tuple[int, str]:
    done = processes.run(["-c", str(config), *args], cwd=config.parent)
    return done.returncode, done.stdout + done.stderr


# --- where a URL's secrets are redacted ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://h/health?token=abc", "http://h/health?token=REDACTED"),
        (
            "https://u:p@h:8443/x?a=1&b=&c#frag",
            "https://REDACTED@h:8443/x?a=REDACTED&b=REDACTED&c#frag",
        ),
        (
            "GET http://u@h/ failed; see ftp://h/?k=v.",
            "GET http://REDACTED@h/ failed; see ftp://h/?k=REDACTED",
        ),
        ('{"url": "http://h/?t=1"}', '{"url": "http://h/?t=REDACTED"}'),
        ("'http://h/?t=1' is down", "'http://h/?t=REDACTED' is down"),
        ("no url here: a=b?c=d", "no url here: a=b?c=d"),
        ("http://h/path", "http://h/path"),
    ],
)
def test_redact_urls_takes_out_userinfo_and_query_values(text: str, shown: str) -> None:
    assert redact_urls(text) == shown
    assert redact_urls(shown) == shown


def test_a_report_is_redacted_in_every_text_field_and_in_its_state_json() -> None:
    url = "http://user:pw@h/health?token=abc"
    resource = Resource(
        url,
        health_message=f"{url} answered",
        id=url,
        parent_resource_id=url,
        platform_url=url,
        state_json=json.dumps({"url": url, "nested": [url]}),
    )
    report = redact_report(finalize(StatusReport([resource], health_message=url), "http"))
    shown = "http://REDACTED@h/health?token=REDACTED"
    assert report.health_message == shown
    assert (resource.name, resource.id, resource.parent_resource_id) == (shown, shown, shown)
    assert resource.health_message == f"{shown} answered"
    assert json.loads(resource.state_json) == {"url": shown, "nested": [shown]}


# --- the planted secrets, searched for everywhere ----------------------------------------------


#: The worker's own server: 200 only for a request that carries the token (in its env ``T``),
#: so READY proves the real URL was probed, not the redacted one the state keeps.
SERVE = (
    "import http.server as h, os, sys; t = os.environ['T']; "
    "H = type('H', (h.BaseHTTPRequestHandler,), {'do_GET': lambda s: "
    "(s.send_response(200 if t in s.path else 401), s.end_headers()), "
    "'log_message': lambda *a: None}); "
    "h.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()"
)


def secret_project(root: Path, server: LoopbackServer) -> Path:
    token_url = f"{server.url('/token')}?access_token={server.token}"
    port = free_port()
    config = root / "waypoint.hcl"
    root.mkdir()
    config.write_text(
        f"""project = "secrets"

app "web" {{
  deploy {{
    use "http" {{
      url = "{token_url}"
    }}
  }}

  release {{
    use "http" {{
      url = "{token_url}"
    }}
  }}
}}

app "worker" {{
  deploy {{
    use "process" {{
      command       = ["{sys.executable}", "-c", "{SERVE}", "{port}", "http://me:{PASSWORD}@h/"]
      env           = {{ T = "{server.token}" }}
      ready_http    = "http://127.0.0.1:{port}/?access_token={server.token}"
      start_timeout = "60s"
    }}
  }}
}}
"""
    )
    return config


def written_files(root: Path) -> dict[str, bytes]:
    """Every file the command wrote under ``.waypoint-hooks/`` but the config's parse cache,
    which is the config file again."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in (root / ".waypoint-hooks").rglob("*")
        if path.is_file() and not path.name.startswith("config-")
    }


def test_a_planted_token_and_password_appear_in_no_output_and_no_file(
    tmp_path: Path, processes: Processes, server: LoopbackServer
) -> None:
    config = secret_project(tmp_path / "project", server)
    commands = [
        ["up"],
        ["status"],
        ["status", "--json"],
        ["status", "web"],
        ["status", "worker"],
        ["-v", "status"],
        ["status", "--cached"],
        ["status", "--cached", "--json"],
        ["history", "web"],
        ["history", "worker", "--json"],
    ]
    outputs = {}
    try:
        for command in commands:
            code, outputs[" ".join(command)] = run(processes, config, *command)
            assert code == 0, outputs[" ".join(command)]
        document = parse(run(processes, config, "status", "--json")[1])
    finally:
        run(processes, config, "destroy", "worker")
    for secret in (server.token, PASSWORD):
        leaks = [name for name, text in outputs.items() if secret in text]
        leaks += [
            name for name, data in written_files(config.parent).items() if secret.encode() in data
        ]
        assert leaks == [], f"{secret} in {leaks}"
    # Shown redacted, and probed with the real token: /token answers 401 to any other.
    assert "?access_token=REDACTED" in outputs["status web"]
    assert report_of(document, "web")["health"] == "READY"
    assert report_of(document, "web", "release")["health"] == "READY"
    assert report_of(document, "worker")["health"] == "READY"


@pytest.mark.parametrize(
    ("use", "setting"),
    [
        ("http", 'headers = { Authorization = ["Bearer SECRET-VALUE"] }'),
        ("http", 'url = "http://user:SECRET-VALUE@127.0.0.1:1/health"'),
        ("http", 'urls = ["http://127.0.0.1:1/", "http://user:SECRET-VALUE@127.0.0.1:1/"]'),
        ("process", 'command = ["true"]\n      env = { TOKEN = ["SECRET-VALUE"] }'),
        ("process", 'command = ["true"]\n      env = { TOKEN = { value = "SECRET-VALUE" } }'),
        ("process", 'command = ["true"]\n      ready_http = "http://me:SECRET-VALUE@127.0.0.1:1/"'),
        (
            "supervisor",
            'server_url = "http://me:SECRET-VALUE@127.0.0.1:9001"\n      program = "p"\n'
            '      command = "true"\n      conf_dir = "/tmp"',
        ),
    ],
    ids=[
        "header-list",
        "url-userinfo",
        "urls-userinfo",
        "env-list",
        "env-object",
        "ready-http",
        "supervisor",
    ],
)
def test_a_config_error_does_not_echo_the_secret_it_refuses(
    tmp_path: Path, processes: Processes, use: str, setting: str
) -> None:
    config = tmp_path / "waypoint.hcl"
    config.write_text(
        f'project = "p"\n\napp "web" {{\n  deploy {{\n    use "{use}" {{\n      {setting}\n'
        "    }\n  }\n}\n"
    )
    code, output = run(processes, config, "status")
    assert code == 2, output
    assert "Error: waypoint.hcl:" in output
    assert "SECRET-VALUE" not in output
