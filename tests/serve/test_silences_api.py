"""Silences over HTTP (DESIGN §14, §15): ``GET``/``POST /api/silences`` and ``DELETE
/api/silences/{id}`` on a real ``serve``, behind the write rules; a bad body is a 400 that
says why, never a 500; the page shows each app's silences in force, escaped."""

from __future__ import annotations

import json
from typing import Any

from hostile.serving import Served

TOKEN = "s3cret-token"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


def _cli_json(served: Served, *args: str) -> Any:
    result = served.project.invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


def test_a_silence_is_made_listed_and_lifted_with_the_write_token(served: Served) -> None:
    served.configure({"web": {}, "db": {}})
    served.up()
    service = served.serve("--token", TOKEN)
    wanted = _body({"app": "web", "kind": "deployment", "for": "2h", "comment": "db move"})
    assert service.post("/api/silences", body=wanted).status == 401
    assert service.get("/api/silences").json()["silences"] == []
    made = service.post("/api/silences", AUTHORIZED, wanted)
    assert made.status == 201, made.text
    silence = made.json()
    assert (silence["app"], silence["kind"], silence["comment"]) == ("web", "deployment", "db move")
    assert silence["lifted"] is None
    assert silence["made_by"] == "http client 127.0.0.1"
    listed = service.get("/api/silences").json()
    assert listed["silences"] == [silence]
    assert listed == _cli_json(served, "silences", "--json")
    path = f"/api/silences/{silence['id']}"
    assert service.request("DELETE", path).status == 401
    lifted = service.request("DELETE", path, AUTHORIZED)
    assert lifted.status == 200
    assert lifted.json()["lifted"] is not None
    assert service.get("/api/silences").json()["silences"] == []
    # Lifted once: a second DELETE changes nothing.
    assert service.request("DELETE", path, AUTHORIZED).json() == lifted.json()
    for missing in ("/api/silences/999", "/api/silences/x", "/api/silences/" + "9" * 40):
        answer = service.request("DELETE", missing, AUTHORIZED)
        assert answer.status == 404, missing
        assert "no silence" in answer.json()["error"]


def test_a_silence_needs_no_token_on_loopback_without_one_and_shows_on_the_page(
    served: Served,
) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    comment = "<script>alert(1)</script> moving the db"
    made = service.post("/api/silences", body=_body({"app": "web", "for": 600, "comment": comment}))
    assert made.status == 201, made.text
    assert made.json()["kind"] is None
    page = service.get("/").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; moving the db" in page
    assert "<script>alert" not in page
    assert f"silence {made.json()['id']}" in service.get("/apps/web").text
    assert service.request("DELETE", f"/api/silences/{made.json()['id']}").status == 200
    assert "moving the db" not in service.get("/").text


def test_a_bad_silence_is_a_400_that_says_why(served: Served) -> None:
    served.configure({"web": {}, "db": {}})
    served.up()
    service = served.serve()
    bad: list[tuple[bytes, str]] = [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 5000, "not JSON"),
        (_body(["web"]), "JSON object"),
        (_body({"app": "web"}), '"for" is missing'),
        (_body({"app": "web", "for": "2x"}), "not a duration"),
        (_body({"app": "web", "for": "-1h"}), "negative"),
        (_body({"app": "web", "for": True}), "expected a duration"),
        (b'{"app": "web", "for": 1e400}', "292 years"),
        (_body({"app": "web", "for": "9999h"}), "at most 366 days"),
        (_body({"app": "web", "for": "0s"}), "longer than 0s"),
        (_body({"app": 5, "for": "2h"}), '"app"'),
        (_body({"app": "web", "for": "2h", "kind": "both"}), '"kind"'),
        (_body({"app": "web", "for": "2h", "comment": 7}), '"comment"'),
        (_body({"app": "web", "for": "2h", "comment": "x" * 501}), "at most 500"),
        (_body({"app": "web", "for": "2h", "until": "x"}), "unknown field 'until'"),
        (_body({"app": "nope", "for": "2h"}), "no app 'nope' is served"),
    ]
    for body, says in bad:
        answer = service.post("/api/silences", body=body)
        assert answer.status == 400, (body[:40], answer.text)
        error = answer.json()["error"]
        assert says in error, (body[:40], error)
        assert "db" not in error  # the apps served are not listed to whoever asks
    too_long = service.post("/api/silences", body=_body({"app": "web", "for": "2h" + " " * 9000}))
    assert too_long.status == 413
    assert service.get("/api/silences").json()["silences"] == []
