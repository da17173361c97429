"""Reading guarded (DESIGN §14): the read token as a Bearer header or the sign-in form's
cookie, the write token implying read, public badges, and no token where it would leak; and
the badges, parsed as SVG. Against a real ``serve`` over HTTP and in a real browser."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from helpers_browser import Visit
from hostile.serving import Served, Service
from playwright.sync_api import expect

from waypoint_hooks.serve.access import SIGN_IN_BURST, SIGN_IN_EVERY
from waypoint_hooks.serve.svg import badge
from waypoint_hooks.serve.web import BADGES

pytestmark = pytest.mark.usefixtures("hostile_plugins")

READ = "read-s3cret"
WRITE = "write-s3cret"
SVG = "{http://www.w3.org/2000/svg}"


def _guarded(served: Served, *args: str) -> Service:
    served.configure({"web": {}})
    served.up()
    service = served.serve("--token", WRITE, *args, env={"WAYPOINT_HOOKS_READ_TOKEN": READ})
    service.wait_for(lambda: service.get("/healthz").json()["checking"] == 0, "the first checks")
    return service


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reading_needs_the_read_or_the_write_token(served: Served) -> None:
    service = _guarded(served)
    for path in ("/api/status", "/api/alerts", "/metrics", "/badges/web/health.svg"):
        refused = service.get(path)
        assert (refused.status, refused.json()) == (401, {"error": "reading needs the read token"})
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert service.request("GET", path, _bearer("wrong")).status == 401
        assert service.request("GET", path, _bearer(READ)).status == 200
        assert service.request("GET", path, _bearer(WRITE)).status == 200
    page = service.get("/apps/web")
    assert page.status == 401
    assert 'action="/sign-in"' in page.text
    assert service.get("/healthz").status == 200
    # The read token does not write; the write token does.
    assert service.post("/api/apps/web/check", _bearer(READ)).status == 401
    assert service.post("/api/apps/web/check", _bearer(WRITE)).status == 200
    shown = [
        service.request("GET", path, _bearer(WRITE)).text for path in ("/", "/apps/web", "/metrics")
    ]
    for text in [*shown, service.stop().stderr]:
        assert READ not in text
        assert WRITE not in text


def test_the_sign_in_form_sets_a_session_cookie(served: Served, visit: Visit) -> None:
    service = _guarded(served)
    visit.page.goto(service.url + "apps/web")
    visit.page.get_by_label("Token").fill("wrong")
    visit.page.get_by_role("button", name="Sign in").click()
    expect(visit.page.locator(".problem")).to_contain_text("not one this service takes")
    visit.page.get_by_label("Token").fill(READ)
    visit.page.get_by_role("button", name="Sign in").click()
    expect(visit.page).to_have_url(service.url + "apps/web")
    expect(visit.page.locator("#row-web")).to_contain_text("✔ READY")
    (cookie,) = visit.context.cookies()
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert READ not in cookie["value"]
    # A reader signed in sees no check-now button; the API answers its cookie too.
    assert visit.page.get_by_role("button", name="Check now").count() == 0
    answer = visit.page.request.get(service.url + "api/status")
    assert answer.status == 200
    # Another site's form is refused.
    foreign = service.post("/sign-in", {"Origin": "http://evil.example"})
    assert foreign.status == 403


def test_wrong_tokens_are_limited_by_client_address(served: Served) -> None:
    service = _guarded(served)

    def sign_in(token: str) -> int:
        # Back to /healthz, which needs no token: 200 once signed in (the redirect followed).
        form = f"token={token}&next=/healthz".encode()
        kind = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = service.post("/sign-in", kind, form)
        if answer.status == 429:
            assert 1 <= int(answer.headers["Retry-After"]) <= SIGN_IN_EVERY
            assert "Too many wrong tokens" in answer.text
        return answer.status

    assert sign_in(READ) == 200
    # A burst of wrong tokens is answered, then refused (more than a burst if tries came back
    # meanwhile, on a slow machine: each wrong one takes one).
    wrong = list(itertools.takewhile(lambda status: status == 401, iter(lambda: sign_in("x"), 0)))
    assert len(wrong) >= SIGN_IN_BURST
    # Limited: the right token too, until a try comes back.
    assert sign_in(READ) == 429
    service.wait_for(lambda: sign_in(READ) == 200, "a try to come back")
    assert service.get("/healthz").status == 200


def test_public_badges_need_no_token_and_parse_as_svg(served: Served) -> None:
    service = _guarded(served, "--public-badges")
    assert service.get("/api/status").status == 401
    for name in BADGES:
        answer = service.get(f"/badges/web/{name}.svg")
        assert answer.status == 200, name
        assert answer.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(answer.body)
        assert root.tag == f"{SVG}svg"
        assert root.get("role") == "img"
        title = root.find(f"{SVG}title")
        assert title is not None
        assert title.text == root.get("aria-label")
    health = ET.fromstring(service.get("/badges/web/health.svg").body)
    assert health.get("aria-label") == "health: ✔ READY"
    assert service.get("/badges/web/nope.svg").status == 404
    assert service.get("/badges/nope/health.svg").status == 404


def test_a_badge_escapes_its_text() -> None:
    root = ET.fromstring(badge('<a href="x">&', "</svg><script>", "#000"))
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert texts == ['<a href="x">&', "</svg><script>"]
    assert root.get("aria-label") == '<a href="x">&: </svg><script>'
