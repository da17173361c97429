"""Tests that drive a system package (chromium, postgresql, docker) skip on a machine without
it, saying which, but fail under .ci/run: CI never passes by skipping."""

from __future__ import annotations

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
