"""The builtin ``tcp`` plugin, against real listeners on 127.0.0.1: a port that takes
connections, one that refuses them, and TLS with trustme's certificates."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_endpoints import Certificates, EndpointServer, adopted, certificates, endpoint
from helpers_http import refusing_port

from waypoint_hooks import CategoryDisplayHint, ConfigError, Health, StatusReport
from waypoint_hooks.testing import PluginHarness


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    with endpoint() as running:
        yield running


def status(plugins: PluginHarness, config: dict[str, Any]) -> StatusReport:
    return adopted(plugins, "tcp", config)


def over_tls(server: EndpointServer, certs: Certificates) -> dict[str, Any]:
    """A config checking ``server``'s certificate, trusting the tests' CA."""
    return {
        "address": server.address,
        "tls": True,
        "ca_file": str(certs.ca_file),
        "certificate_expiry": "168h",
    }


def test_a_port_that_takes_connections_is_a_ready_port_resource(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    report = status(plugins, {"address": server.address})
    assert report.health is Health.READY
    (resource,) = report.resources
    assert (resource.name, resource.type, resource.platform) == (server.address, "port", "tcp")
    assert resource.category_display_hint is CategoryDisplayHint.ROUTER
    assert re.fullmatch(r"connected in \d+ ms", resource.health_message)
    elapsed = json.loads(resource.state_json)["response_time_ms"]
    assert resource.health_message == f"connected in {elapsed} ms"
    assert report.health_message == resource.health_message


def test_a_closed_port_is_down(plugins: PluginHarness) -> None:
    with refusing_port() as port:
        report = status(plugins, {"address": f"127.0.0.1:{port}", "tls": True})
    (resource,) = report.resources
    assert resource.health is Health.DOWN
    assert re.fullmatch(r"connection refused after \d+ ms", resource.health_message)


def test_a_host_name_that_does_not_resolve_is_missing(plugins: PluginHarness) -> None:
    (resource,) = status(plugins, {"address": "nonexistent.invalid:80"}).resources
    assert resource.health is Health.MISSING
    assert resource.health_message.startswith("the host name does not resolve")


def test_tls_to_a_port_that_speaks_plain_text_is_down(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    (resource,) = status(plugins, {"address": server.address, "tls": True}).resources
    assert resource.health is Health.DOWN
    assert resource.health_message.startswith("TLS failed (")


def test_tls_with_a_trusted_certificate_reports_it(plugins: PluginHarness, tmp_path: Path) -> None:
    certs = certificates(tmp_path)
    with endpoint(certs.issue(days=5)) as server:
        port, certificate = status(plugins, over_tls(server, certs)).resources
    assert (port.health, port.health_message.partition(" in ")[0]) == (
        Health.READY,
        "connected over TLS",
    )
    assert (certificate.type, certificate.parent_resource_id) == ("certificate", server.address)
    assert (certificate.health, certificate.health_message) == (Health.ALIVE, "expires in 4 days")
    assert "CN=probe.test" in json.loads(certificate.state_json)["subject"]


@pytest.mark.parametrize(
    ("issued", "message"),
    [
        ({"days": -2}, "expired"),
        ({"untrusted": True}, "not trusted: unable to get local issuer certificate"),
    ],
    ids=["expired", "untrusted"],
)
def test_tls_with_a_certificate_that_fails_verification_is_down(
    plugins: PluginHarness, tmp_path: Path, issued: dict[str, Any], message: str
) -> None:
    certs = certificates(tmp_path)
    with endpoint(certs.issue(**issued)) as server:
        port, certificate = status(plugins, over_tls(server, certs)).resources
    assert port.health is Health.DOWN
    assert (certificate.health, certificate.health_message) == (Health.DOWN, message)


def test_release_checks_the_address_the_deployment_offers(
    plugins: PluginHarness, server: EndpointServer
) -> None:
    offered = {"created": [{"name": "process", "state": {"ready_tcp": server.address}}]}
    release = plugins.release_manager_release("tcp", deployment=offered)
    assert release == {"address": server.address}
    report = plugins.release_manager_status("tcp", release=release, deployment=offered)
    assert report.health is Health.READY


def test_release_without_an_address_anywhere_is_a_clear_error(plugins: PluginHarness) -> None:
    with pytest.raises(ValueError, match=r"no address to check: set address.*keys: pid"):
        plugins.release_manager_release("tcp", deployment={"pid": 7})


@pytest.mark.parametrize(
    ("config", "field", "problem"),
    [
        ({}, "address", "set address"),
        ({"address": "localhost"}, "address", "not a host:port address"),
        ({"address": "localhost:99999"}, "address", "not a host:port address"),
        ({"address": "a:1", "certificate_expiry": "24h"}, "certificate_expiry", "tls = true"),
        ({"address": "a:1", "ca_file": "ca.pem"}, "ca_file", "tls = true"),
        (
            {"address": "a:1", "tls": True, "certificate_expiry": "soon"},
            "certificate_expiry",
            "not a duration",
        ),
        ({"address": "a:1", "timeout": "0s"}, "timeout", "longer than 0s"),
    ],
)
def test_a_bad_config_is_a_config_error_naming_the_field(
    plugins: PluginHarness, config: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        plugins.platform_deploy("tcp", config)
    ((path, message),) = raised.value.problems
    assert path == field
    assert problem in message
