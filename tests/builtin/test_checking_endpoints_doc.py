"""The config files of docs/checking-endpoints.md load, and the builtins they use take their
settings: what the chapter shows works as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from waypoint_hooks.config.project import load_config
from waypoint_hooks.config.uses import check_plugins
from waypoint_hooks.host import PluginManager

CHAPTER = Path(__file__).resolve().parents[2] / "docs" / "checking-endpoints.md"
EXAMPLES = re.findall(r"^```hcl\n(.*?)^```$", CHAPTER.read_text(encoding="utf-8"), re.M | re.S)


def test_the_chapter_has_its_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_example_loads_with_its_settings_checked(example: str, tmp_path: Path) -> None:
    config = tmp_path / "waypoint.hcl"
    config.write_text(example, encoding="utf-8")
    check_plugins(load_config(config), PluginManager.load(autoload=False))
