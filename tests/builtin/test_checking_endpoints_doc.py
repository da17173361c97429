"""The config files of docs/checking-endpoints.md load, and the builtins they use take their
settings: what the chapter shows works as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from waypoint_hooks.cli.commands import main

CHAPTER = Path(__file__).resolve().parents[2] / "docs" / "checking-endpoints.md"
EXAMPLES = re.findall(r"^```hcl\n(.*?)^```$", CHAPTER.read_text(encoding="utf-8"), re.M | re.S)


def test_the_chapter_has_its_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_example_loads_with_its_settings_checked(example: str, tmp_path: Path) -> None:
    config = tmp_path / "waypoint.hcl"
    config.write_text(example, encoding="utf-8")
    # status checks the config and each plugin's settings (exit 2 when one does not fit),
    # then finds nothing deployed: exit 1, and nothing probed.
    result = CliRunner().invoke(main, ["-c", str(config), "status"], catch_exceptions=False)
    assert (result.exit_code, "Error:" in result.output) == (1, False), result.output
    assert "nothing deployed" in result.output
