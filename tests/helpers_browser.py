"""A real browser for the status page's tests: Playwright driving Debian's Chromium
(Playwright's own browser download is not used), and what a page of it said."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from hostile.harness import GUARD
from hostile.serving import Served, Service
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Playwright's waits, in milliseconds: the hang guard, never a timing assertion.
WAIT = GUARD * 1000
#: A directory to save screenshots of the pages in, when set (they are for people).
SCREENS_ENV = "WAYPOINT_HOOKS_SCREENS"


class Visit:
    """A page of the browser, and everything it said or tried to show."""

    def __init__(self, browser: Browser, **options: Any) -> None:
        self.context = browser.new_context(**options)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(message.text)

    def close(self) -> None:
        self.context.close()

    def screenshot(self, name: str) -> None:
        """A screenshot of the whole page into ``$WAYPOINT_HOOKS_SCREENS/NAME.png``, if set."""
        directory = os.environ.get(SCREENS_ENV)
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def serving(served: Served, apps: dict[str, dict[str, Any]], interval: str = "1h") -> Service:
    """``serve`` of ``apps``, deployed, once its first round of checks is stored."""
    served.configure(apps, interval=interval)
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    return service
