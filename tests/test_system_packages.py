"""Tests that drive a system package (chromium, postgresql, docker) skip on a machine without
it, saying which, but fail under .ci/run: CI never passes by skipping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REQUIRE_SYSTEM_PACKAGES_ENV, require_system_package


def test_a_missing_package_skips_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_SYSTEM_PACKAGES_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs Debian's chromium \(the page\)"):
        require_system_package("chromium", False, "the page")


def test_a_missing_package_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_SYSTEM_PACKAGES_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        require_system_package("chromium", False, "the page")


def test_a_present_package_neither_skips_nor_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_SYSTEM_PACKAGES_ENV, "1")
    require_system_package("chromium", True, "the page")


def _collected(*arguments: str) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *arguments,
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_tests_that_drive_a_system_package_are_marked_so_a_laptop_can_deselect_them() -> None:
    marked = _collected(
        "-m", "system_package", "tests/state/test_outbox.py", "tests/serve/test_status_page.py"
    )
    unmarked = _collected(
        "-m", "not system_package", "tests/state/test_outbox.py", "tests/serve/test_status_page.py"
    )
    assert marked
    assert unmarked
    assert all("postgresql" in test or "test_status_page" in test for test in marked)
    assert all("postgresql" not in test and "test_status_page" not in test for test in unmarked)
