"""The builtin ``http`` plugin, probing a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers_http import LoopbackServer, refusing_port, serving

from builtin_plugins.http import ProbeConfig
from waypoint_hooks import CategoryDisplayHint, ConfigError, Context, Duration, Health, StatusReport
from waypoint_hooks.model.codec import structure
from waypoint_hooks.plugins.callers import invoke
from waypoint_hooks.testing import PluginHarness


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serving() as running:
        yield running


def status(plugins: PluginHarness, config: dict[str, Any]) -> StatusReport:
    """The platform's status report for the endpoints ``config`` adopts, through the runner;
    ``plugins.ui`` holds what the check showed."""
    deployment = plugins.platform_deploy("http", config)
    plugins.ui.clear()
    return plugins.platform_status("http", config, deployment=deployment)


def only(report: StatusReport) -> tuple[Health, str]:
    (resource,) = report.resources
    return resource.health, resource.health_message


def test_an_endpoint_answering_200_is_a_ready_router_resource(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    url = server.url("/ok")
    report = status(plugins, {"url": url})
    assert report.health is Health.READY
    (resource,) = report.resources
    assert (resource.name, resource.type, resource.platform) == (url, "endpoint", "http")
    assert resource.category_display_hint is CategoryDisplayHint.ROUTER
    assert resource.health_message.startswith("200 OK in ")
    assert resource.health_message.endswith(" ms")
    assert json.loads(resource.state_json)["status"] == 200
    assert report.health_message == resource.health_message
    assert plugins.ui.lines() == [f"ok: {url}: {resource.health_message}"]


def test_an_unexpected_status_is_alive_with_the_code(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    health, message = only(status(plugins, {"url": server.url("/unavailable")}))
    assert health is Health.ALIVE
    assert message.startswith("503 Service Unavailable in ")
    assert message.endswith("expected 200-399")


def test_an_endpoint_slower_than_the_timeout_is_down(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    health, message = only(status(plugins, {"url": server.url("/slow"), "timeout": "300ms"}))
    assert health is Health.DOWN
    assert message.startswith("no answer after ")


def test_a_closed_port_is_down(plugins: PluginHarness) -> None:
    with refusing_port() as port:
        health, message = only(status(plugins, {"url": f"http://127.0.0.1:{port}/"}))
    assert health is Health.DOWN
    assert message.startswith("connection refused after ")


@pytest.mark.parametrize("path", ["/close", "/reset"])
def test_a_connection_dropped_without_an_answer_is_down(
    plugins: PluginHarness, server: LoopbackServer, path: str
) -> None:
    health, message = only(status(plugins, {"url": server.url(path)}))
    assert health is Health.DOWN
    assert message.startswith(("connection closed without an answer", "connection reset"))


@pytest.mark.parametrize("verify_tls", [True, False])
def test_a_tls_handshake_that_fails_is_down(
    plugins: PluginHarness, server: LoopbackServer, verify_tls: bool
) -> None:
    # The loopback server speaks plain HTTP: TLS fails whether or not it would be verified.
    url = server.url("/ok").replace("http:", "https:")
    health, message = only(status(plugins, {"url": url, "verify_tls": verify_tls}))
    assert health is Health.DOWN
    assert message.startswith("TLS failed (")


def test_a_host_name_that_does_not_resolve_is_missing(plugins: PluginHarness) -> None:
    health, message = only(status(plugins, {"url": "http://nonexistent.invalid/"}))
    assert health is Health.MISSING
    assert message.startswith("the host name does not resolve")


def test_a_redirect_to_a_file_url_is_not_followed_but_reported(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    url = server.url("/redirect-file")
    health, message = only(status(plugins, {"url": url}))
    assert health is Health.READY  # 302 is within the default 200-399
    assert message.startswith("302 Found (redirect to file:///etc/passwd not followed) in ")
    health, message = only(status(plugins, {"url": url, "expect_status": 200}))
    assert health is Health.ALIVE
    assert [path for path, _ in server.requests] == ["/redirect-file", "/redirect-file"]


def test_a_redirect_to_http_is_followed(plugins: PluginHarness, server: LoopbackServer) -> None:
    health, message = only(
        status(plugins, {"url": server.url("/redirect-ok"), "expect_status": 200})
    )
    assert health is Health.READY
    assert message.startswith(f"200 OK from {server.url('/ok')} in ")


def test_configured_headers_are_sent(plugins: PluginHarness, server: LoopbackServer) -> None:
    config = {"url": server.url("/ok"), "headers": {"Authorization": "Bearer t0ken"}}
    assert status(plugins, config).health is Health.READY
    ((_, headers),) = server.requests
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["host"] == f"127.0.0.1:{server.server_port}"


@pytest.mark.parametrize(
    ("expect_status", "ready"),
    [(503, True), ([200, 503], True), ("500-599", True), ("503", True), ("200-299", False)],
    ids=["code", "list", "range", "code-as-text", "other-range"],
)
def test_expect_status_takes_a_code_a_list_or_a_range(
    plugins: PluginHarness, server: LoopbackServer, expect_status: object, ready: bool
) -> None:
    config = {"url": server.url("/unavailable"), "expect_status": expect_status}
    health, _ = only(status(plugins, config))
    assert health is (Health.READY if ready else Health.ALIVE)


def test_several_urls_are_probed_concurrently(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    # /gate answers only once two requests are in flight together (or after a long wait):
    # one probe after the other would leave the most in flight at 1.
    urls = [server.url("/gate?first"), server.url("/gate?second")]
    report = status(plugins, {"urls": urls, "timeout": "60s"})
    assert server.most_in_flight == 2
    assert [resource.name for resource in report.resources] == urls
    assert report.health is Health.READY


def test_probes_end_by_the_checks_deadline(plugins: PluginHarness, server: LoopbackServer) -> None:
    # The hook is awaited without the runner's timeout: only the ctx deadline limits it.
    # The harness gives the hook a deadline as long as its timeout, as the launcher does, and
    # the plugin's answer would race the runner's: this calls the hook itself.
    url = server.url("/slow")
    arguments = {
        "ctx": Context(timeout=0.3),
        "job_info": plugins.job_info,
        "ui": plugins.ui.ui,
        "config": {"url": url, "timeout": "1h"},
        "deployment": {"urls": [url]},
        "last_report": None,
    }
    call = plugins.manager.call("platform_status_func", "http")
    report = asyncio.run(invoke(call, arguments, None))
    health, message = only(report)
    assert health is Health.DOWN
    assert message.startswith("no answer after ")


def test_deploy_adopts_the_endpoints_and_destroy_leaves_them(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    urls = [server.url("/ok"), server.url("/unavailable")]
    deployment = plugins.platform_deploy("http", {"urls": urls})
    assert deployment == {"urls": urls}
    plugins.platform_destroy("http", {"urls": urls}, deployment=deployment)
    assert server.requests == []  # neither step touches the endpoints


#: Deployment values of other platforms that offer an endpoint, by the key that names it.
OFFERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "ready_http": lambda url: {"pid": 7, "ready_http": url, "ready_tcp": None},
    "url": lambda url: {"url": url},
    "urls": lambda url: {"urls": [url], "ready_http": "http://127.0.0.1:9/elsewhere"},
    # A value of the resource manager: in the state of one of its resources.
    "resource": lambda url: {
        "created": [
            {"name": "log", "state": {"path": "/tmp/web.log"}},
            {"name": "process", "state": {"pid": 7, "ready_http": url}},
        ]
    },
}


@pytest.mark.parametrize("key", OFFERS)
def test_release_probes_what_the_deployment_offers(
    plugins: PluginHarness, server: LoopbackServer, key: str
) -> None:
    url = server.url("/ok")
    offered = OFFERS[key](url)
    release = plugins.release_manager_release("http", deployment=offered)
    assert release == {"urls": [url]}
    report = plugins.release_manager_status("http", release=release, deployment=offered)
    assert report.health is Health.READY


def test_release_prefers_the_configs_urls(plugins: PluginHarness) -> None:
    config = {"url": "http://127.0.0.1:8000/health"}
    release = plugins.release_manager_release(
        "http", config, deployment={"ready_http": "http://127.0.0.1:9/"}
    )
    assert release == {"urls": ["http://127.0.0.1:8000/health"]}


def test_release_without_an_endpoint_anywhere_is_a_clear_error(plugins: PluginHarness) -> None:
    with pytest.raises(ValueError, match=r"no endpoint to probe: set url or urls.*keys: cwd, pid"):
        plugins.release_manager_release("http", deployment={"pid": 7, "cwd": "/"})


@pytest.mark.parametrize(
    ("config", "field", "problem"),
    [
        ({}, "url", "set url (or urls)"),
        ({"url": "http://a/", "urls": ["http://b/"]}, "urls", "not both"),
        ({"url": "ftp://example.org/"}, "url", "not an http:// or https:// URL"),
        ({"url": "http://user:pw@example.org/"}, "url", "holds credentials"),
        ({"urls": []}, "urls", "lists no URL"),
        ({"urls": ["http://a/", "file:///x"]}, "urls[1]", "not an http://"),
        ({"url": "http://a/", "expect_status": "2xx"}, "expect_status", "nor a range"),
        ({"url": "http://a/", "expect_status": "299-200"}, "expect_status", "empty range"),
        ({"url": "http://a/", "expect_status": 99}, "expect_status", "not an HTTP status code"),
        ({"url": "http://a/", "expect_status": True}, "expect_status", "not an HTTP status"),
        ({"url": "http://a/", "timeout": "fast"}, "timeout", "not a duration"),
        ({"url": "http://a/", "timeout": 0}, "timeout", "must be longer than 0s, got '0s'"),
        ({"url": "http://a/", "headers": {"X-A": "1\r\nX-B: 2"}}, "headers[X-A]", "line breaks"),
        ({"url": "http://a/", "headers": {"Bad Name": "1"}}, "headers[Bad Name]", "header name"),
    ],
)
def test_a_bad_platform_config_is_a_config_error_naming_the_field(
    plugins: PluginHarness, config: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        plugins.platform_deploy("http", config)
    ((path, message),) = raised.value.problems
    assert path == field
    assert problem in message


@pytest.mark.parametrize(("written", "seconds"), [("2s", 2.0), ("1m30s", 90.0), (2, 2.0)])
def test_the_timeout_is_a_duration_or_seconds(written: object, seconds: float) -> None:
    assert structure({"timeout": written}, ProbeConfig).timeout == Duration(seconds)


def test_a_release_config_may_leave_the_endpoints_to_the_deployment(
    plugins: PluginHarness,
) -> None:
    config = {"timeout": 2, "verify_tls": False}
    release = plugins.release_manager_release("http", config, deployment={"url": "http://a/"})
    assert release == {"urls": ["http://a/"]}


def test_a_stored_url_redacted_is_probed_as_the_config_writes_it(
    plugins: PluginHarness, server: LoopbackServer
) -> None:
    # The state keeps the URL without its query values (DESIGN §13); /token answers 401 to
    # anything but the token, which only the config still holds.
    config = {"url": f"{server.url('/token')}?access_token={server.token}"}
    stored = {"urls": [f"{server.url('/token')}?access_token=REDACTED"]}
    report = plugins.platform_status("http", config, deployment=stored)
    assert report.health is Health.READY
    release = plugins.release_manager_status("http", config, release=stored, deployment={})
    assert release.health is Health.READY


def test_release_refuses_an_offered_url_whose_query_values_were_not_stored(
    plugins: PluginHarness,
) -> None:
    offered = {"ready_http": "http://127.0.0.1:9/health?access_token=REDACTED"}
    with pytest.raises(ValueError, match=r"holds query values, which are not stored.*url or urls"):
        plugins.release_manager_release("http", deployment=offered)
