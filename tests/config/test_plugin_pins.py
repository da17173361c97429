"""``plugin "NAME" { version = "..." }`` blocks (issue 28): read in HCL and its JSON form,
every mistake reported at its line, and checked against the installed plugin's version."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from waypoint_hooks import __version__
from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.project import PluginPin, Project
from waypoint_hooks.config.uses import check_plugins
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.host import PluginManager

CONFIG = """\
project = "shop"

app "web" {
  deploy {
    use "filepath" {}
  }
}

plugin "filepath" {
  version = ">=0.1"
}
"""


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def builtins() -> PluginManager:
    """The builtin plugins, found through their entry points: their version is this
    distribution's."""
    return PluginManager.load(autoload=False)


def load(text: str, name: str = "waypoint.hcl") -> Project:
    Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(Path(name))


def test_a_plugin_block_pins_the_plugin_s_versions_in_hcl_and_in_json() -> None:
    project = load(CONFIG)
    assert project.plugins == {"filepath": PluginPin("filepath", 9, ">=0.1")}
    twin = {
        "project": "shop",
        "app": {"web": {"deploy": {"use": {"filepath": {}}}}},
        "plugin": {"filepath": {"version": ">=0.1"}},
    }
    assert load(json.dumps(twin), "waypoint.hcl.json").plugins == project.plugins


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('">=0.1"', '"at least 2"'),
            'waypoint.hcl:10: plugin "filepath": version is the versions of the plugin\'s '
            'distribution that this project works with, as pip writes them: version = ">=1.2,<2"'
            "; got 'at least 2'",
        ),
        (
            ('  version = ">=0.1"\n', ""),
            'waypoint.hcl:9: plugin "filepath": version is the versions of the plugin\'s '
            'distribution that this project works with, as pip writes them: version = ">=1.2,<2"',
        ),
        (
            ("  version =", "  versions ="),
            'waypoint.hcl:10: plugin "filepath": unknown key "versions" in the plugin block; did '
            'you mean "version"? Allowed: version',
        ),
        (
            ('plugin "filepath"', "plugin"),
            'waypoint.hcl:9: plugin blocks take one label, the plugin\'s name: plugin "NAME" '
            "{ ... }",
        ),
        (
            ("}\n\nplugin", '}\n\nplugin "filepath" {\n  version = "1"\n}\n\nplugin'),
            'waypoint.hcl:13: plugin "filepath" is defined twice (first on line 9); rename '
            "one, or merge them",
        ),
    ],
)
def test_a_mistake_in_a_plugin_block_is_told_at_its_line(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigFileError) as info:
        load(CONFIG.replace(*change))
    assert str(info.value) == message


@pytest.mark.parametrize("pin", [">=0.1", f"=={__version__}", "<1000,!=0.0.1"])
def test_a_pin_the_installed_plugin_meets_passes(builtins: PluginManager, pin: str) -> None:
    check_plugins(load(CONFIG.replace('">=0.1"', f'"{pin}"')), builtins)


def test_a_pin_the_installed_plugin_does_not_meet_is_a_config_error_at_its_line(
    builtins: PluginManager,
) -> None:
    with pytest.raises(ConfigFileError) as info:
        check_plugins(load(CONFIG.replace(">=0.1", ">1000")), builtins)
    assert str(info.value) == (
        'waypoint.hcl:9: plugin "filepath": this project works with versions ">1000" of it, '
        f'but waypoint-hooks {__version__} is installed (app "web": deploy: use "filepath"); '
        "pip install 'waypoint-hooks>1000', or change the pin"
    )


def test_a_pin_of_a_plugin_loaded_from_a_module_is_a_config_error(
    manager: PluginManager,
) -> None:
    import builtin_plugins.filepath

    manager.register(builtin_plugins.filepath, "filepath")
    with pytest.raises(
        ConfigFileError,
        match=r"loaded from the module builtin_plugins\.filepath, which has no version",
    ):
        check_plugins(load(CONFIG), manager)
