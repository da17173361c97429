"""The alert blocks of the config file (DESIGN §15): ``notify``, ``maintenance`` and an app's
``depends_on``, in HCL and its JSON form, every mistake reported at its line."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from waypoint_hooks import Duration, Health
from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.project import FIRING_HEALTHS, Project
from waypoint_hooks.config.uses import check_plugins
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.host import PluginManager

CONFIG = """\
project = "shop"

notify "oncall" {
  use "pager" {
    channel = "#ops"
  }
  apps              = ["web", "db"]
  on                = ["DOWN", "MISSING"]
  failure_threshold = 3
  success_threshold = 2
  send_on_resolved  = true
  remind            = "1h"
}

notify "everyone" {
  use "pager" {}
}

maintenance "nightly" {
  apps     = ["web"]
  every    = ["sat", "sun"]
  start    = "02:00"
  duration = "1h"
  timezone = "Europe/Paris"
}

app "web" {
  depends_on = ["db"]

  deploy {
    use "filepath" {}
  }
}

app "db" {
  deploy {
    use "filepath" {}
  }
}
"""

TWIN = {
    "project": "shop",
    "notify": {
        "oncall": {
            "use": {"pager": {"channel": "#ops"}},
            "apps": ["web", "db"],
            "on": ["DOWN", "MISSING"],
            "failure_threshold": 3,
            "success_threshold": 2,
            "send_on_resolved": True,
            "remind": "1h",
        },
        "everyone": {"use": {"pager": {}}},
    },
    "maintenance": {
        "nightly": {
            "apps": ["web"],
            "every": ["sat", "sun"],
            "start": "02:00",
            "duration": "1h",
            "timezone": "Europe/Paris",
        }
    },
    "app": {
        "web": {"depends_on": ["db"], "deploy": {"use": {"filepath": {}}}},
        "db": {"deploy": {"use": {"filepath": {}}}},
    },
}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(text: str, name: str = "waypoint.hcl") -> Project:
    Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(Path(name))


def error(text: str) -> str:
    with pytest.raises(ConfigFileError) as info:
        load(text)
    return str(info.value)


def test_notify_and_maintenance_blocks_are_read_in_file_order() -> None:
    project = load(CONFIG)
    assert list(project.notify) == ["oncall", "everyone"]
    oncall = project.notify["oncall"]
    assert (oncall.name, oncall.line, oncall.use.plugin, oncall.use.config) == (
        "oncall",
        3,
        "pager",
        {"channel": "#ops"},
    )
    assert oncall.apps == ("web", "db")
    assert oncall.on == {Health.DOWN, Health.MISSING}
    assert (oncall.failure_threshold, oncall.success_threshold) == (3, 2)
    assert (oncall.send_on_resolved, oncall.remind) == (True, Duration("1h"))
    assert oncall.start_grace is None
    (nightly,) = project.maintenance.values()
    assert (nightly.apps, nightly.every, nightly.start) == (("web",), ("sat", "sun"), "02:00")
    assert (nightly.duration, nightly.timezone) == (Duration("1h"), "Europe/Paris")
    assert project.apps["web"].depends_on == ("db",)


def test_a_notify_block_s_defaults_watch_every_app_and_fire_at_once_on_all_but_ready() -> None:
    everyone = load(CONFIG).notify["everyone"]
    assert everyone.apps is None
    assert everyone.watches("anything")
    assert everyone.on == FIRING_HEALTHS == frozenset(Health) - {Health.READY}
    assert (everyone.failure_threshold, everyone.success_threshold) == (1, 1)
    assert (everyone.send_on_resolved, everyone.remind) == (False, None)


def test_a_start_grace_is_a_duration_of_a_notify_block() -> None:
    oncall = load(CONFIG.replace('remind            = "1h"', 'start_grace = "2m"')).notify["oncall"]
    assert (oncall.start_grace, oncall.remind) == (Duration("2m"), None)


def test_the_json_form_reads_the_same() -> None:
    twin = load(json.dumps(TWIN), "waypoint.hcl.json")
    assert attrs.evolve(twin, path=Path("waypoint.hcl").resolve()) == load(CONFIG)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('"web", "db"]', '"web", "dbb"]'),
            'waypoint.hcl:7: notify "oncall": apps: no app "dbb" in this file; did you mean '
            '"db"? Allowed: web, db',
        ),
        (
            ('apps     = ["web"]', 'apps     = ["api"]'),
            'waypoint.hcl:20: maintenance "nightly": apps: no app "api" in this file; '
            "allowed: web, db",
        ),
        (
            ('depends_on = ["db"]', 'depends_on = ["dv"]'),
            'waypoint.hcl:28: app "web": depends_on: no app "dv" in this file; allowed: web, db',
        ),
        (
            ('"Europe/Paris"', '"Europe/Parsi"'),
            'waypoint.hcl:24: maintenance "nightly": timezone "Europe/Parsi" is not a time '
            'zone; write an IANA name such as "UTC" or "Europe/Paris"',
        ),
        (
            ('"02:00"', '"2am"'),
            'waypoint.hcl:22: maintenance "nightly": start is the time of day the window '
            "begins, as \"HH:MM\" (00:00 to 23:59); got '2am'",
        ),
        (
            ('duration = "1h"', 'duration = "169h"'),
            'waypoint.hcl:23: maintenance "nightly": duration must be at most 168h, a week; '
            "got '169h'",
        ),
        (
            ('["sat", "sun"]', '["saturday"]'),
            'waypoint.hcl:21: maintenance "nightly": every: must be one of mon, tue, wed, thu, '
            "fri, sat, sun; got 'saturday'",
        ),
        (
            ('["DOWN", "MISSING"]', '["DOWN", "READY"]'),
            'waypoint.hcl:8: notify "oncall": on must not hold READY: READY is what resolves an '
            "alert",
        ),
        (
            ("failure_threshold = 3", "failure_threshold = 0"),
            'waypoint.hcl:9: notify "oncall": failure_threshold is how many failing reports in '
            "a row it takes: a whole number, 1 or more; got 0",
        ),
        (
            ('remind            = "1h"', 'remind            = "0s"'),
            "waypoint.hcl:12: notify \"oncall\": remind must be longer than 0s, got '0s'",
        ),
        (
            ('remind            = "1h"', 'start_grace       = "0s"'),
            "waypoint.hcl:12: notify \"oncall\": start_grace must be longer than 0s, got '0s'",
        ),
        (
            ('notify "oncall"', 'notify "on call"'),
            'waypoint.hcl:3: notify "on call": the notify block\'s name must be 1 to 63 letters, '
            "digits, '_', '.' or '-', starting with a letter or digit ([A-Za-z0-9][A-Za-z0-9_.-]"
            "{0,62}), as it is used in file names and URLs; got 'on call'",
        ),
        (
            ('notify "everyone"', 'notify "oncall"'),
            'waypoint.hcl:15: notify "oncall" is defined twice (first on line 3); rename one, '
            "or merge them",
        ),
        (
            ('  use "pager" {}\n', ""),
            'waypoint.hcl:15: notify "everyone": the notify block uses no plugin; add use '
            '"PLUGIN" { ... } inside it',
        ),
        (
            ("  remind ", "  remnd "),
            'waypoint.hcl:12: notify "oncall": unknown key "remnd" in the notify block; did you '
            'mean "remind"? Allowed: apps, on, failure_threshold, success_threshold, '
            "send_on_resolved, remind, start_grace, use",
        ),
        (
            ('  duration = "1h"\n', ""),
            'waypoint.hcl:19: maintenance "nightly": duration: required field missing',
        ),
    ],
)
def test_a_mistake_in_an_alert_block_is_reported_at_its_line(
    change: tuple[str, str], message: str
) -> None:
    assert change[0] in CONFIG
    assert error(CONFIG.replace(*change)) == message


def test_a_dependency_cycle_is_reported_from_the_app_written_first() -> None:
    text = (
        CONFIG.replace('app "db" {\n', 'app "db" {\n  depends_on = ["cache"]\n\n')
        + 'app "cache" {\n  depends_on = ["web"]\n\n  deploy {\n    use "filepath" {}\n  }\n}\n'
    )
    assert error(text) == (
        'waypoint.hcl:28: app "web": depends_on makes a cycle: web → db → cache → web; an app '
        "cannot wait for itself, so remove one of these dependencies"
    )


def test_an_app_that_depends_on_itself_is_a_cycle() -> None:
    assert error(CONFIG.replace('depends_on = ["db"]', 'depends_on = ["web"]')) == (
        'waypoint.hcl:28: app "web": depends_on makes a cycle: web → web; an app cannot wait '
        "for itself, so remove one of these dependencies"
    )


# --- the notifier a notify block uses --------------------------------------------------------


@pytest.fixture
def with_pager(
    plugin_module: Callable[[str, str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> PluginManager:
    monkeypatch.setenv("WAYPOINT_HOOKS_DISABLE_PLUGIN_AUTOLOAD", "1")
    plugins = PluginManager.load(autoload=False)
    pager = """
        import attrs
        from waypoint_hooks import hookimpl

        @attrs.define
        class Config:
            channel: str = "#general"

        @hookimpl
        def notifier_send(config: Config, alert):
            pass
    """
    plugins.register(plugin_module("pager", pager))
    return plugins


def checked(text: str, plugins: PluginManager) -> str:
    with pytest.raises(ConfigFileError) as info:
        check_plugins(load(text), plugins)
    return str(info.value)


def test_a_notify_block_s_plugin_is_checked_like_an_app_s(with_pager: PluginManager) -> None:
    check_plugins(load(CONFIG), with_pager)
    assert checked(CONFIG.replace('channel = "#ops"', "channel = 5"), with_pager) == (
        'waypoint.hcl:5: notify "oncall": use "pager": channel: expected str, got int; '
        "change this use block to fit the plugin"
    )


def test_a_notify_block_must_use_a_notifier(with_pager: PluginManager) -> None:
    assert checked(CONFIG.replace('use "pager" {}', 'use "filepath" {}'), with_pager) == (
        'waypoint.hcl:16: notify "everyone": use "filepath": the plugin is not a notifier (it '
        "does not implement notifier_send); use a plugin that is one"
    )


def test_notify_blocks_are_checked_whichever_apps_are_named(with_pager: PluginManager) -> None:
    assert "no such plugin" in checked(
        CONFIG.replace('use "pager" {}', 'use "pagr" {}'), with_pager
    )
    with pytest.raises(ConfigFileError, match="no such plugin"):
        check_plugins(load(CONFIG.replace('use "pager" {}', 'use "pagr" {}')), with_pager, ["db"])
