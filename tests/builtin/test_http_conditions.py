"""What the ``http`` builtin looks at beyond a status code (DESIGN §19): the ``expect`` block,
``max_response_time``, ``certificate_expiry`` and ``ca_file``, against real servers on
127.0.0.1 (HTTPS with trustme's certificates)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_endpoints import Certificates, EndpointServer, adopted, certificates, endpoint
from helpers_http import refusing_port

from waypoint_hooks import ConfigError, Health, Resource, StatusReport
from waypoint_hooks.testing import PluginHarness

HEALTH = json.dumps({"status": "up", "version": "1.4.2", "checks": [{"state": "ok"}, {}]})


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return certificates(tmp_path)


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    with endpoint() as running:
        running.pages.update(
            {
                "/health": (200, HEALTH.encode()),
                "/created": (201, b"made"),
                "/unavailable": (503, b"down for maintenance"),
                "/text": (200, b"version: 12 ok"),
                "/long": (200, b"a" * 4096 + b"needle"),
            }
        )
        yield running


def status(plugins: PluginHarness, config: dict[str, Any]) -> StatusReport:
    return adopted(plugins, "http", config)


def endpoint_of(report: StatusReport) -> Resource:
    (found,) = [resource for resource in report.resources if resource.type == "endpoint"]
    return found


def probed(plugins: PluginHarness, url: str, **settings: Any) -> tuple[Health, str]:
    resource = endpoint_of(status(plugins, {"url": url, **settings}))
    return resource.health, resource.health_message


# --- expect --------------------------------------------------------------------------------


def test_an_answer_that_meets_every_condition_is_ready(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    expect = {
        "status": [200, 204],
        "body_contains": '"up"',
        "body_regex": r'"version": "1\.[0-9]+',
        "json": {"$.status": "up", "$.checks[0].state": "ok"},
    }
    report = status(plugins, {"url": server.url("/health"), "expect": expect})
    resource = endpoint_of(report)
    assert resource.health is Health.READY
    assert re.fullmatch(r"200 OK in \d+ ms", resource.health_message)
    state = json.loads(resource.state_json)
    assert state["status"] == 200
    assert state["response_time_ms"] == int(resource.health_message.split()[3])


@pytest.mark.parametrize(
    ("path", "expect", "failure"),
    [
        ("/unavailable", {}, "status 503, expected 200-299"),
        ("/created", {"status": 200}, "status 201, expected 200"),
        ("/text", {"body_contains": "ready"}, 'body does not contain "ready"'),
        ("/text", {"body_regex": "version: [a-z]+"}, 'body does not match "version: [a-z]+"'),
        ("/health", {"json": {"$.status": "down"}}, '$.status is "up", expected "down"'),
        ("/health", {"json": {"$.checks[1].state": "ok"}}, "$.checks[1].state is missing"),
        ("/health", {"json": {"$.checks[0]": True}}, '$.checks[0] is {"state": "ok"}, expected'),
        ("/text", {"json": {"$.status": "up"}}, "body is not JSON"),
    ],
    ids=[
        "default-2xx",
        "status",
        "contains",
        "regex",
        "json-value",
        "json-missing",
        "json-type",
        "not-json",
    ],
)
def test_a_failed_expectation_is_down_naming_it(
    plugins: PluginHarness,
    server: EndpointServer,
    path: str,
    expect: dict[str, Any],
    failure: str,
) -> None:
    health, message = probed(plugins, server.url(path), expect=expect)
    assert health is Health.DOWN
    assert re.fullmatch(r"\d{3} [A-Za-z ]+ in \d+ ms: (.*)", message)
    assert failure in message.partition(": ")[2]


def test_every_failed_expectation_is_named_in_one_message(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    expect = {
        "status": 201,
        "body_contains": "nope",
        "json": {"$.status": "up", "$.version": "2.0", "$.gone": 1},
    }
    health, message = probed(plugins, server.url("/health"), expect=expect)
    assert health is Health.DOWN
    assert message.partition(": ")[2].split("; ") == [
        "status 200, expected 201",
        'body does not contain "nope"',
        '$.version is "1.4.2", expected "2.0"',
        "$.gone is missing, expected 1",
    ]


def test_a_json_flag_is_not_a_number(plugins: PluginHarness, server: EndpointServer) -> None:
    server.pages["/flags"] = (200, b'{"ok": true, "count": 1}')
    passing = {"json": {"$.ok": True, "$.count": 1.0}}
    assert probed(plugins, server.url("/flags"), expect=passing)[0] is Health.READY
    health, message = probed(plugins, server.url("/flags"), expect={"json": {"$.ok": 1}})
    assert (health, message.partition(": ")[2]) == (Health.DOWN, "$.ok is true, expected 1")


def test_only_the_first_4_kib_of_a_body_is_judged_and_a_failure_says_so(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    url = server.url("/long")
    assert probed(plugins, url, expect={"body_contains": "aaa"})[0] is Health.READY
    health, message = probed(plugins, url, expect={"body_contains": "needle"})
    assert health is Health.DOWN
    assert message.endswith(': body does not contain "needle" (in its first 4 KiB)')
    health, message = probed(plugins, url, expect={"json": {"$.a": 1}})
    assert message.endswith(": body is not JSON (in its first 4 KiB)")


def test_a_body_that_never_ends_is_judged_on_its_start(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    # Read whole, it would hold the probe to its timeout: "no answer", DOWN.
    health, message = probed(
        plugins, server.url("/endless"), expect={"body_regex": "^ok ok"}, timeout="60s"
    )
    assert (health, message.partition(" in ")[0]) == (Health.READY, "200 OK")


def test_without_an_expect_block_the_body_is_not_read(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    # expect_status keeps its meaning: a code outside it is ALIVE, not DOWN.
    health, message = probed(plugins, server.url("/endless"), timeout="60s")
    assert health is Health.READY
    health, message = probed(plugins, server.url("/unavailable"), expect_status=200)
    assert (health, message.endswith(", expected 200")) == (Health.ALIVE, True)


# --- max_response_time -------------------------------------------------------------------------


def test_an_answer_slower_than_max_response_time_is_alive_with_its_time(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    # /held answers only after HOLD (500 ms) at the soonest.
    health, message = probed(plugins, server.url("/held"), max_response_time="100ms")
    assert health is Health.ALIVE
    assert re.fullmatch(r"200 OK in \d+ ms \(over 100 ms\)", message)
    server.released.set()
    assert probed(plugins, server.url("/held"), max_response_time="1h")[0] is Health.READY


def test_a_slow_answer_that_fails_an_expectation_is_down(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    health, message = probed(
        plugins, server.url("/held"), max_response_time="100ms", expect={"body_contains": "x"}
    )
    assert health is Health.DOWN
    assert re.fullmatch(r'200 OK in \d+ ms \(over 100 ms\): body does not contain "x"', message)


# --- certificates --------------------------------------------------------------------------


def certificate_of(report: StatusReport) -> Resource:
    (found,) = [resource for resource in report.resources if resource.type == "certificate"]
    return found


def checked(
    plugins: PluginHarness, certs: Certificates, **issued: Any
) -> tuple[Resource, Resource]:
    """The endpoint and certificate resources of a probe of a server whose certificate was
    issued so; ``ca_file`` trusts the tests' CA."""
    with endpoint(certs.issue(**issued)) as server:
        server.pages["/"] = (200, b"ok")
        config = {
            "url": server.url("/"),
            "certificate_expiry": "14d",
            "ca_file": str(certs.ca_file),
        }
        report = status(plugins, config)
    return endpoint_of(report), certificate_of(report)


def test_a_certificate_far_from_expiry_is_ready_with_its_dates_and_names(
    plugins: PluginHarness, certs: Certificates
) -> None:
    probe, certificate = checked(plugins, certs, days=200)
    assert probe.health is Health.READY
    assert (certificate.name, certificate.health) == ("certificate", Health.READY)
    assert re.fullmatch(
        r"valid until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \((199|200) days\)",
        certificate.health_message,
    )
    assert certificate.parent_resource_id == probe.id
    state = json.loads(certificate.state_json)
    assert set(state) == {"not_after", "issuer", "subject"}
    assert state["not_after"] in certificate.health_message
    assert "O=Probe Test CA" in state["issuer"]
    assert "CN=probe.test" in state["subject"]


def test_a_certificate_within_the_window_is_alive(
    plugins: PluginHarness, certs: Certificates
) -> None:
    probe, certificate = checked(plugins, certs, days=9.5)
    assert probe.health is Health.READY
    assert (certificate.health, certificate.health_message) == (Health.ALIVE, "expires in 9 days")


def test_an_expired_certificate_is_down(plugins: PluginHarness, certs: Certificates) -> None:
    probe, certificate = checked(plugins, certs, days=-1)
    assert probe.health is Health.DOWN
    assert probe.health_message.startswith("TLS failed (certificate has expired) after ")
    assert (certificate.health, certificate.health_message) == (Health.DOWN, "expired")
    assert json.loads(certificate.state_json) == {
        "not_after": None,
        "issuer": None,
        "subject": None,
    }


def test_a_certificate_from_an_untrusted_ca_is_down(
    plugins: PluginHarness, certs: Certificates
) -> None:
    probe, certificate = checked(plugins, certs, untrusted=True)
    assert probe.health is Health.DOWN
    assert certificate.health is Health.DOWN
    assert certificate.health_message == "not trusted: unable to get local issuer certificate"


def test_without_ca_file_the_systems_cas_are_trusted_and_not_the_tests(
    plugins: PluginHarness, certs: Certificates
) -> None:
    with endpoint(certs.issue()) as server:
        health, message = probed(plugins, server.url("/"), expect={"status": 404})
    assert health is Health.DOWN
    assert message.startswith("TLS failed (unable to get local issuer certificate)")


def test_an_endpoint_that_is_not_reached_has_no_certificate_resource(
    plugins: PluginHarness,
) -> None:
    with refusing_port() as port:
        report = status(plugins, {"url": f"https://127.0.0.1:{port}/", "certificate_expiry": "24h"})
    assert [resource.type for resource in report.resources] == ["endpoint"]


def test_a_ca_file_that_cannot_be_read_fails_the_check_naming_it(
    plugins: PluginHarness, certs: Certificates, tmp_path: Path
) -> None:
    # Read when the check runs, in the project's directory, where a relative path is found.
    with endpoint(certs.issue()) as server:
        report = status(plugins, {"url": server.url("/"), "ca_file": str(tmp_path / "no.pem")})
    assert (report.health, report.resources) == (Health.UNKNOWN, [])
    assert report.health_message.endswith(
        f"ValueError: ca_file {str(tmp_path / 'no.pem')!r} cannot be read (No such file or "
        "directory)"
    )


# --- config errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field", "problem"),
    [
        ({"expect": {"status": "2xx"}}, "expect.status", "nor a range"),
        ({"expect": {"status": 700}}, "expect.status", "not an HTTP status code"),
        ({"expect": {"body_regex": "(unclosed"}}, "expect.body_regex", "not a regular expression"),
        ({"expect": {"json": {"status": "up"}}}, "expect.json[status]", "start it with $"),
        ({"expect": {"json": {"$.a[x]": 1}}}, "expect.json[$.a[x]]", "write .key or [index]"),
        ({"expect": {"json": ["$.a"]}}, "expect.json", "a map of JSON paths"),
        ({"expect": {"body": "ok"}}, "expect.body", "unknown field (known fields: status,"),
        ({"expect": {}, "expect_status": 200}, "expect_status", "in the expect block"),
        ({"max_response_time": "quick"}, "max_response_time", "not a duration"),
        ({"max_response_time": "0s"}, "max_response_time", "longer than 0s"),
        ({"certificate_expiry": "two weeks"}, "certificate_expiry", "not a duration"),
        ({"certificate_expiry": "336h", "verify_tls": False}, "certificate_expiry", "verify_tls"),
        ({"ca_file": "ca.pem", "verify_tls": False}, "ca_file", "verify_tls"),
        ({"ca_file": " "}, "ca_file", "names no file"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_the_field(
    plugins: PluginHarness, settings: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        plugins.platform_deploy("http", {"url": "https://example.test/", **settings})
    ((path, message),) = raised.value.problems
    assert path == field
    assert problem in message


def test_certificate_expiry_for_plain_http_urls_only_is_a_config_error(
    plugins: PluginHarness,
) -> None:
    with pytest.raises(ConfigError) as raised:
        plugins.platform_deploy("http", {"url": "http://a/", "certificate_expiry": "336h"})
    assert raised.value.problems == [
        ("certificate_expiry", "is for https:// URLs, and url or urls names none")
    ]
