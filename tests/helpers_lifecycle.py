"""A one-app project on the ledger plugin (``tests/hostile/wh_lifecycle.py``), whose hooks
write what they did to a ledger and wait at a gate that the test opens: commands ordered by
the test, never by timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostile.harness import App, Project, wait_until

__all__ = ["Lifecycle"]


class Lifecycle:
    """A one-app project on the ledger plugin, and what its hooks did."""

    def __init__(self, root: Path, location: Path | str | None = None) -> None:
        """``location``: a PostgreSQL state's URL; else the default state file."""
        self.ledger = root / "ledger"
        self.gate = root / "gate"
        self.gate.mkdir(parents=True)
        url = location if isinstance(location, str) else None
        self.project = Project(root / "project", [], plugins=("wh_lifecycle",), state_url=url)
        self.configure()

    def configure(self, isolate: bool | None = None, **config: Any) -> None:
        settings = {"ledger": str(self.ledger), "gate": str(self.gate), **config}
        app = App("web", "wh_lifecycle", settings, "wh_lifecycle", settings, isolate)
        self.project.apps = [app]
        self.project.write()

    def done(self, hook: str) -> list[tuple[str, int]]:
        """``(id, pid)`` of each call of ``hook``, in order."""
        if not self.ledger.exists():
            return []
        lines = self.ledger.read_text(encoding="utf-8").splitlines()
        return [(id, int(pid)) for name, id, pid in map(str.split, lines) if name == hook]

    def held(self, hook: str, count: int = 1) -> None:
        """Wait until ``count`` calls of ``hook`` wait at the gate."""
        wait_until(
            lambda: len(list(self.gate.glob(f"{hook}.*.waiting"))) >= count,
            f"{count} {hook} hook(s) at the gate",
        )

    def open(self) -> None:
        (self.gate / "open").touch()

    def run(self, *args: str) -> Any:
        result = self.project.invoke(*args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def targets(self, kind: str) -> list[tuple[Any, ...]]:
        """``(sequence, status, destroyed is null, value, checkpoint)``, by sequence."""
        return self.project.query(
            "SELECT sequence, status, destroyed IS NULL, value, checkpoint FROM targets"
            " WHERE kind = ? ORDER BY sequence",
            (kind,),
        )

    def alive(self, kind: str) -> list[int]:
        return [row[0] for row in self.targets(kind) if row[2]]
