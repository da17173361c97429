"""Reports from outside (DESIGN §20) as a user sends them: a real ``waypoint-hooks serve`` on
loopback taking reports over HTTP, in JSON and as protobuf bytes (encoded by the protobuf
runtime), shown by ``status --cached`` and ``history``; its refusals; and its heartbeat,
whose MISSING report reaches a real loopback webhook receiver as an alert. Waits are on
conditions with deadlines, never on time."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from helpers_http import LoopbackServer, serving
from hostile.serving import Served, Service

from waypoint_hooks import Health, Resource, StatusReport
from waypoint_hooks.proto import report_to_proto

pytestmark = pytest.mark.usefixtures("hostile_plugins")

TOKEN = "s3cret-push-token"
DOWN = {
    "health": "DOWN",
    "health_message": "disk full",
    "resources": [{"name": "disk", "type": "volume", "health": "DOWN"}],
}


def _cli_json(served: Served, *args: str) -> Any:
    result = served.project.invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


def _started(served: Served, *args: str, **status: Any) -> Service:
    served.configure({"web": {}}, **status)
    served.up()
    service = served.serve(*args)
    service.wait_for(service.checked, "the first round of checks")
    return service


def _push(service: Service, body: bytes, query: str = "", **headers: str) -> Any:
    return service.post(f"/api/apps/web/reports{query}", headers, body)


def test_a_pushed_json_report_is_stored_external_for_the_latest_deployment(
    served: Served,
) -> None:
    service = _started(served)
    before = served.project.report_count()
    answer = _push(service, json.dumps(DOWN).encode(), "?kind=deployment")
    assert answer.status == 201, answer.text
    document = answer.json()
    assert (document["app"], document["kind"], document["sequence"]) == ("web", "deployment", 1)
    stored = document["report"]
    assert (stored["health"], stored["health_message"], stored["external"]) == (
        "DOWN",
        "disk full",
        True,
    )
    # A resource's platform left empty is the deployment's plugin's, as for a plugin's report.
    assert stored["resources"][0]["platform"] == "wh_served"
    assert served.project.report_count() == before + 1
    status = _cli_json(served, "status", "--cached", "--json")["apps"][0]
    assert status["deployment"]["report"] == stored
    assert service.get("/api/status").json()["apps"][0]["deployment"]["report"] == stored
    newest = _cli_json(served, "history", "web", "--json", "--limit", "1")["reports"][0]
    assert newest == {key: document[key] for key in ("kind", "id", "sequence", "plugin", "report")}


def test_a_pushed_report_made_before_the_latest_check_is_history_not_the_status(
    served: Served,
) -> None:
    service = _started(served)
    old = {**DOWN, "generated_time": "2020-01-01T00:00:00Z"}
    assert _push(service, json.dumps(old).encode()).status == 201
    shown = service.get("/api/status").json()
    assert shown == _cli_json(served, "status", "--cached", "--json")
    assert shown["apps"][0]["deployment"]["report"]["health"] == "READY"
    reports = _cli_json(served, "history", "web", "--json")["reports"]
    assert reports[-1]["report"]["generated_time"] == "2020-01-01T00:00:00Z"


def test_a_pushed_protobuf_report_is_stored_for_the_latest_release(served: Served) -> None:
    service = _started(served)
    report = StatusReport(
        resources=[Resource(name="lb", health=Health.ALIVE, health_message="warming up")],
        health=Health.ALIVE,
        health_message="1 of 2 backends",
    )
    answer = _push(
        service,
        report_to_proto(report),
        "?kind=release",
        **{"Content-Type": "application/x-protobuf"},
    )
    assert answer.status == 201, answer.text
    assert answer.json()["kind"] == "release"
    release = _cli_json(served, "status", "--cached", "--json")["apps"][0]["release"]
    assert release["report"]["health"] == "ALIVE"
    assert release["report"]["health_message"] == "1 of 2 backends"
    assert release["report"]["external"] is True
    assert release["report"]["resources"][0]["health_message"] == "warming up"


def test_what_cannot_be_stored_is_refused_and_nothing_is_stored(served: Served) -> None:
    service = _started(served, max_report_bytes=2048, max_resources=2)
    before = served.project.report_count()
    unknown = service.post("/api/apps/nope/reports", body=json.dumps(DOWN).encode())
    assert (unknown.status, unknown.json()) == (404, {"error": "no app 'nope' is served"})
    kind = _push(service, json.dumps(DOWN).encode(), "?kind=pod")
    assert kind.status == 400
    assert "kind must be deployment or release" in kind.json()["error"]
    bad = _push(service, b'{"health": "SICK"}')
    assert bad.status == 400
    assert "health: 'SICK' is not a Health" in bad.json()["error"]
    nested = _push(service, b'{"resources": [{"name": "a", "created_time": 5}]}')
    assert nested.status == 400
    assert "resources[0].created_time" in nested.json()["error"]
    garbage = _push(service, b"\xff\x00\x01", **{"Content-Type": "application/x-protobuf"})
    assert garbage.status == 400
    assert "protobuf" in garbage.json()["error"]
    many = {"resources": [{"name": str(n)} for n in range(3)]}
    over = _push(service, json.dumps(many).encode())
    assert over.status == 413
    assert "max_resources" in over.json()["error"]
    big = _push(service, json.dumps({**DOWN, "health_message": "x" * 3000}).encode())
    assert big.status == 413
    assert "max_report_bytes" in big.json()["error"]
    assert served.project.report_count() == before


def _raw(service: Service, headers: str, body: bytes = b"") -> bytes:
    """The status line of the answer to a POST of ``body`` (what of it is sent before the
    answer) to the reports route, over a socket of its own: the answer comes before the whole
    body is sent, which an HTTP client would take for a broken connection."""
    host, port = service.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    head = f"POST /api/apps/web/reports HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n"
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(head.encode() + body)
        return connection.makefile("rb").readline()


def test_an_oversized_body_is_refused_before_it_is_read(served: Served) -> None:
    service = _started(served, max_report_bytes=2048)
    # A gigabyte announced, none of it sent: the answer comes without it.
    announced = _raw(service, "Content-Length: 1000000000\r\n")
    assert announced.startswith(b"HTTP/1.1 413"), announced
    # Of a length not announced: refused once more than the limit came.
    chunk = b'{"health_message": "' + b"x" * 3000
    unannounced = _raw(
        service, "Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n" % (len(chunk), chunk)
    )
    assert unannounced.startswith(b"HTTP/1.1 413"), unannounced


def test_an_app_with_nothing_live_is_404_and_nothing_is_stored(served: Served) -> None:
    served.configure({"web": {}})  # never deployed
    service = served.serve()
    answer = _push(service, json.dumps(DOWN).encode())
    assert answer.status == 404
    assert "no live deployment" in answer.json()["error"]
    assert "deploy it first" in answer.json()["error"]
    assert served.project.report_count() == 0


def test_pushing_needs_the_write_token(served: Served) -> None:
    service = _started(served, "--token", TOKEN)
    body = json.dumps(DOWN).encode()
    assert _push(service, body).status == 401
    assert _push(service, body, Authorization="Bearer guess").status == 401
    assert _push(service, body, Origin="http://evil.example").status == 403
    assert _push(service, body, Authorization=f"Bearer {TOKEN}").status == 201


def test_a_sender_in_a_loop_is_told_to_wait(served: Served) -> None:
    service = _started(served)
    before = served.project.report_count()
    body = json.dumps(DOWN).encode()
    statuses = []
    for _ in range(100):
        answer = _push(service, body)
        statuses.append(answer.status)
        if answer.status == 429:
            assert int(answer.headers["retry-after"]) >= 1
            assert "too many reports of app 'web'" in answer.json()["error"]
            break
    assert statuses[-1] == 429
    assert set(statuses[:-1]) == {201}
    assert len(statuses) > 10  # the burst went through first
    assert served.project.report_count() == before + len(statuses) - 1


# --- the heartbeat --------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with serving() as server:
        yield server


def _history(served: Served, kind: str) -> list[dict[str, Any]]:
    reports = _cli_json(served, "history", "web", "--json", "--all")["reports"]
    return [item["report"] for item in reports if item["kind"] == kind]


def _no_missing_twice(healths: list[tuple[str, bool]]) -> bool:
    return all(not (a[0] == b[0] == "MISSING") for a, b in itertools.pairwise(healths))


def test_the_heartbeat_stores_a_missing_report_once_and_it_raises_an_alert(
    served: Served, receiver: LoopbackServer
) -> None:
    served.configure({"web": {}}, heartbeat="1s")
    with served.project.config.open("a", encoding="utf-8") as file:
        file.write(
            'notify "oncall" {\n'
            f'  use "webhook" {{\n    url = "{receiver.url("/hook")}"\n  }}\n'
            '  on = ["MISSING"]\n}\n'
        )
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")

    def newest_missing() -> dict[str, Any] | None:
        newest = _history(served, "deployment")[0]
        return newest if newest["health"] == "MISSING" else None

    first = service.wait_for(newest_missing, "the heartbeat's MISSING report")
    assert (first["health_message"], first["external"], first["resources"]) == (
        "no report for 1s",
        False,
        [],
    )

    def fired() -> list[dict[str, Any]]:
        alerts = [json.loads(body) for _, _, body in receiver.posts]
        return [a for a in alerts if a["kind"] == "deployment" and a["state"] == "firing"]

    alert = service.wait_for(fired, "the MISSING alert at the receiver")[-1]
    assert (alert["app"], alert["health"]) == ("web", "MISSING")
    assert alert["message"] == "web deployment is MISSING: no report for 1s"
    # A pushed report sets it going again: one more MISSING report when none follows it.
    assert _push(service, json.dumps({"health": "READY"}).encode()).status == 201

    def missing_after_the_push() -> list[tuple[str, bool]] | None:
        healths = [(r["health"], r["external"]) for r in _history(served, "deployment")]
        return healths if healths[:2] == [("MISSING", False), ("READY", True)] else None

    healths = service.wait_for(missing_after_the_push, "the MISSING report after the push")
    # Once each time: never a MISSING report after another, however long none came.
    assert _no_missing_twice(healths), healths
