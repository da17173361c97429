"""The status page in a real browser: Playwright driving Debian's Chromium (Playwright's own
browser download is not used), against a real ``serve`` process on a loopback port."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from helpers_browser import Visit, serving
from hostile.serving import Served
from playwright.sync_api import expect

pytestmark = pytest.mark.usefixtures("hostile_plugins")


def test_every_app_is_shown_with_its_health_label(served: Served, visit: Visit) -> None:
    health = served.root / "down"
    health.write_text("DOWN")
    missing = served.root / "missing"
    missing.write_text("MISSING")
    service = serving(
        served,
        {"web": {}, "db": {"health_file": str(health)}, "cache": {"health_file": str(missing)}},
    )
    visit.page.goto(service.url)
    expect(visit.page.locator("h1")).to_have_text("reliability")
    rows = visit.page.locator("table.status tbody tr")
    expect(rows).to_have_count(3)
    expect(visit.page.locator("#row-web")).to_contain_text("v1 ✔ READY")
    expect(visit.page.locator("#row-db")).to_contain_text("v1 ✖ DOWN")
    expect(visit.page.locator("#row-cache")).to_contain_text("v1 ✖ MISSING")
    expect(visit.page.locator("#row-web td.uptime").first).to_have_text("100.00%")
    assert visit.errors == []


def test_an_app_page_shows_its_resources(served: Served, visit: Visit) -> None:
    service = serving(served, {"web": {"resources": True, "message": "3 replicas"}, "db": {}})
    visit.page.goto(service.url + "apps/web")
    expect(visit.page.locator("table.status tbody tr")).to_have_count(1)
    section = visit.page.locator("#app-web")
    expect(section.locator("section.target h2").first).to_have_text("deployment v1 (wh_served)")
    resources = section.locator("table.resources").first
    expect(resources).to_contain_text("web-service")
    expect(resources.locator("tr", has_text="web-pod")).to_contain_text("└─ pod")
    expect(resources.locator("tr", has_text="web-pod")).to_contain_text("3 replicas")
    expect(section.locator("svg.timeline rect.span.READY").first).to_be_visible()
    assert visit.errors == []


def test_a_health_change_appears_after_the_next_check_without_a_reload(
    served: Served, visit: Visit
) -> None:
    health = served.root / "health"
    health.write_text("READY")
    service = serving(served, {"web": {"health_file": str(health)}}, interval="1s")
    visit.page.goto(service.url)
    row = visit.page.locator("#row-web")
    expect(row).to_contain_text("✔ READY")
    loads: list[str] = []
    visit.page.on("load", lambda page: loads.append(page.url))
    health.write_text("DOWN")
    expect(row).to_contain_text("✖ DOWN")
    assert loads == []  # the page fetched itself; it was not reloaded
    assert visit.errors == []


def test_a_plugin_message_with_markup_is_shown_as_text_and_runs_nothing(
    served: Served, visit: Visit
) -> None:
    message = "<script>window.pwned = 1; alert('script')</script><img src=x onerror=alert('img')>"
    service = serving(served, {"web": {"message": message, "resources": True}})
    visit.page.goto(service.url + "apps/web")
    pod = visit.page.locator("#app-web table.resources tr", has_text="web-pod").first
    expect(pod.locator("td.message")).to_have_text(message)
    assert visit.page.locator("main img").count() == 0
    assert visit.page.locator("main script").count() == 0
    assert visit.page.evaluate("window.pwned") is None
    assert visit.dialogs == []
    assert visit.errors == []


def test_a_screenshot_of_the_page_is_not_blank(
    served: Served, visit: Visit, tmp_path: Path
) -> None:
    service = serving(served, {"web": {"resources": True}, "db": {}})
    visit.page.set_viewport_size({"width": 1200, "height": 800})
    blank = tmp_path / "blank.png"
    visit.page.screenshot(path=str(blank))  # about:blank, the same size
    visit.page.goto(service.url)
    expect(visit.page.locator("#row-db")).to_contain_text("✔ READY")
    shot = tmp_path / "status-page.png"
    visit.page.screenshot(path=str(shot))
    # A page of one colour compresses to almost nothing; text and colours do not.
    assert shot.stat().st_size > 5 * blank.stat().st_size
    assert len(set(_png_data(shot.read_bytes()))) > len(set(_png_data(blank.read_bytes()))) + 100


def _png_data(png: bytes) -> bytes:
    """The decompressed image data of a PNG file (its filtered scanlines)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data, position = b"", 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        if png[position + 4 : position + 8] == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    return zlib.decompress(data)
