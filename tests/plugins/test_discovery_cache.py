"""The discovery cache (issue 31): a command imports only the plugins whose hooks it calls
(the config's platforms and release managers, and every plugin that wraps or observes), and
what pip installs, upgrades or changes is seen by the next command all the same.

The plugins are real distributions, built from source and installed by pip into a directory
of their own (``--target``), found by the installed console script through PYTHONPATH. Each
plugin's module touches a file named after it when it is imported: the files a command left
are the plugins it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers_packages import pip_install, plugin_package
from hostile.harness import Processes, script_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waypoint_hooks.host import AUTOLOAD_ENV
from waypoint_hooks.plugins.discovery import NO_SPECS, Cached, DiscoveryCache, Plugin, PluginSpecs

MARKED = """
import os
import pathlib

pathlib.Path(os.environ["WH_MARKERS"], "{name}").touch()
"""

PLATFORM = """
from waypoint_hooks import Health, StatusReport, hookimpl


@hookimpl
def platform_deploy_func() -> dict[str, str]:
    return {{"id": "1"}}


@hookimpl
def platform_status_func() -> StatusReport:
    return StatusReport(health=Health.READY, health_message="{message}")
"""

WRAPPER = """
from waypoint_hooks import hookimpl


@hookimpl(wrapper=True)
def platform_status_func():
    report = yield
    report.health_message += " (wrapped by {name})"
    return report
"""

OBSERVER = """
from waypoint_hooks import hookimpl


@hookimpl
def status_report_generated() -> None:
    pass
"""

BROKEN = """
raise RuntimeError("this plugin is broken")
"""

PROJECT = """
project = "p"

app "web" {
  deploy {
    use "used" {}
  }
}
"""


def _marked(root: Path, name: str, version: str, source: str) -> Path:
    """A plugin package whose module touches its marker, then runs ``source``."""
    return plugin_package(root, name, version, MARKED.format(name=name) + source)


class Launcher:
    """Runs the console script in a project directory with the plugins of ``site``, and
    tells which plugins each run imported."""

    def __init__(self, site: Path, project: Path) -> None:
        self.site = site
        self.project = project
        self.markers = project / "markers"
        self.markers.mkdir()
        (project / "waypoint.hcl").write_text(PROJECT)

    def run(self, *args: str, site: bool = True) -> subprocess.CompletedProcess[str]:
        for marker in self.markers.iterdir():
            marker.unlink()
        env = script_env(WH_MARKERS=str(self.markers))
        env[AUTOLOAD_ENV] = "0"
        if site:
            env["PYTHONPATH"] = f"{self.site}:{env['PYTHONPATH']}"
        processes = Processes()
        try:
            return processes.run(args, cwd=self.project, env=env)
        finally:
            processes.close()

    def imported(self) -> set[str]:
        return {marker.name for marker in self.markers.iterdir()}

    def message(self) -> str:
        done = self.run("status", "web", "--json")
        assert done.returncode == 0, done.stderr
        (app,) = json.loads(done.stdout)["apps"]
        message: str = app["deployment"]["report"]["health_message"]
        return message


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pip installed ``used`` (the platform the project uses), ``idle`` (a platform it
    does not use), ``wrapping`` (a wrapper of every status check), ``watching`` (an
    observer) and ``broken`` (which fails to import)."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    pip_install(
        target,
        _marked(root, "used", "1.0", PLATFORM.format(message="one")),
        _marked(root, "idle", "1.0", PLATFORM.format(message="idle")),
        _marked(root, "wrapping", "1.0", WRAPPER.format(name="wrapping")),
        _marked(root, "watching", "1.0", OBSERVER),
        _marked(root, "broken", "1.0", BROKEN),
    )
    return target


@pytest.fixture
def launcher(site: Path, tmp_path: Path) -> Launcher:
    launcher = Launcher(site, tmp_path)
    deployed = launcher.run("deploy")
    assert deployed.returncode == 0, deployed.stderr
    return launcher


EVERY = {"used", "idle", "wrapping", "watching", "broken"}


def test_a_command_imports_only_the_plugins_whose_hooks_it_calls(launcher: Launcher) -> None:
    # The deploy before found the cache empty: it imported them all, and kept what it found.
    assert (launcher.project / ".waypoint-hooks" / "plugins.json").is_file()
    for command in (("status",), ("deploy",)):
        done = launcher.run(*command)
        assert done.returncode == 0, done.stderr
        assert launcher.imported() == {"used", "wrapping", "watching"}, command
    assert launcher.message() == "one (wrapped by wrapping)"
    for command in (("status", "--cached"), ("history", "web"), ("alerts",)):
        done = launcher.run(*command)
        assert done.returncode == 0, done.stderr
        assert launcher.imported() == set(), command


def test_plugins_imports_every_plugin_and_lists_what_failed(launcher: Launcher) -> None:
    done = launcher.run("plugins", "--json")
    assert launcher.imported() == EVERY
    by_name = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert by_name["broken"]["error"] == (
        "cannot import 'wh_broken': RuntimeError: this plugin is broken"
    )
    assert by_name["idle"]["error"] is None
    assert done.returncode == 1  # a plugin failed to load


def test_a_plugin_that_failed_to_import_is_seen_at_once_when_mended(
    launcher: Launcher,
) -> None:
    # As an editable install's source is fixed: the file changes, and the plugin with it.
    launcher.run("status")
    assert launcher.imported() == {"used", "wrapping", "watching"}
    source = launcher.site / "wh_broken" / "__init__.py"
    broken = source.read_text()
    source.write_text(MARKED.format(name="broken") + OBSERVER)
    try:
        done = launcher.run("status")
        assert done.returncode == 0, done.stderr
        assert launcher.imported() == EVERY  # its file changed: discovered again
        done = launcher.run("status")
        assert launcher.imported() == {"used", "wrapping", "watching", "broken"}
        assert done.returncode == 0, done.stderr
    finally:
        source.write_text(broken)


def test_a_corrupt_or_unreadable_cache_is_rebuilt_never_an_error(launcher: Launcher) -> None:
    cache = launcher.project / ".waypoint-hooks" / "plugins.json"
    for corrupt in (b"\x00not json", b'{"key": 1}', b"[]", b'{"key": {}, "body": 5}'):
        cache.write_bytes(corrupt)
        done = launcher.run("status")
        assert done.returncode == 0, done.stderr
        assert launcher.imported() == EVERY  # discovered again: every plugin imported
        assert json.loads(cache.read_bytes())["body"]
    cache.unlink()
    cache.mkdir()  # unreadable as a file, and cannot be replaced
    try:
        done = launcher.run("status")
        assert done.returncode == 0, done.stderr
        assert launcher.imported() == EVERY
    finally:
        cache.rmdir()


def test_a_plugin_gone_from_sys_path_is_gone_for_the_next_command(launcher: Launcher) -> None:
    launcher.run("status")
    done = launcher.run("status", site=False)
    assert done.returncode == 2
    assert "plugin 'used': no such plugin is installed" in done.stderr


def test_what_pip_installs_or_upgrades_and_what_is_edited_is_seen_at_once(
    tmp_path: Path,
) -> None:
    root = tmp_path / "sources"
    site = tmp_path / "site"
    pip_install(
        site,
        _marked(root, "used", "1.0", PLATFORM.format(message="one")),
        _marked(root, "idle", "1.0", PLATFORM.format(message="idle")),
    )
    project = tmp_path / "project"
    project.mkdir()
    launcher = Launcher(site, project)
    assert launcher.run("deploy").returncode == 0
    assert launcher.message() == "one"
    assert launcher.imported() == {"used"}
    # An upgrade: another version, in other files.
    pip_install(site, _marked(root, "used", "2.0", PLATFORM.format(message="two")))
    assert launcher.message() == "two"
    # A new plugin that wraps every check: imported by the first command after its install.
    pip_install(site, _marked(root, "late", "1.0", WRAPPER.format(name="late")))
    assert launcher.message() == "two (wrapped by late)"
    assert launcher.imported() == {"used", "idle", "late"}  # discovered again
    assert launcher.message() == "two (wrapped by late)"
    assert launcher.imported() == {"used", "late"}
    # A plugin's file changed in place (an editable install edited): a plugin the project
    # does not use becomes a wrapper, and wraps the next check.
    idle = site / "wh_idle" / "__init__.py"
    idle.write_text(MARKED.format(name="idle") + WRAPPER.format(name="idle"))
    for _ in range(2):  # discovered again, then from the cache
        message = launcher.message()
        assert launcher.imported() == {"used", "late", "idle"}
        assert message.startswith("two (wrapped by ")
        assert sorted(message.split(" (wrapped by ")[1:]) == ["idle)", "late)"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_PLUGIN_FIELDS = st.fixed_dictionaries(
    {
        "plugin": st.fixed_dictionaries(
            {
                "name": st.text(max_size=3) | _JSON,
                "value": st.text(max_size=3) | _JSON,
                "source": st.sampled_from(["builtin", "entry-point"]) | _JSON,
                "distribution": st.none() | _JSON,
                "version": st.none() | _JSON,
                "hooks": st.lists(st.text(max_size=3)) | _JSON,
                "kinds": st.lists(st.text(max_size=3)) | _JSON,
                "error": st.none() | _JSON,
                "requires": st.none() | _JSON,
                "incompatible": st.booleans() | _JSON,
            }
        ),
        "eager": st.booleans() | _JSON,
        "files": st.dictionaries(st.text(max_size=3), st.none() | st.integers()) | _JSON,
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_JSON | st.fixed_dictionaries({"plugins": st.lists(_PLUGIN_FIELDS), "metadata": _JSON}))
def test_whatever_the_cache_holds_under_its_key_is_read_or_ignored_never_raised(
    tmp_path_factory: pytest.TempPathFactory, body: object
) -> None:
    directory = tmp_path_factory.mktemp("cache")
    cache = DiscoveryCache(directory, NO_SPECS, autoload=False)
    cache.store([])
    file = directory / "plugins.json"
    entry = json.loads(file.read_bytes())
    file.write_text(json.dumps({"key": entry["key"], "body": body}))
    for cached in cache.load() or ():  # none, or plugins as discovery makes them
        assert all(isinstance(hook, str) for hook in cached.plugin.hooks)
        assert isinstance(cached.plugin.value, str)
        assert cached.plugin.error is None or isinstance(cached.plugin.error, str)


def test_a_cache_entry_holds_while_nothing_changed_and_not_after(tmp_path: Path) -> None:
    cache = DiscoveryCache(tmp_path, NO_SPECS, autoload=False)
    module = tmp_path / "plugin.py"
    module.write_text("")
    plugin = Plugin("p", "plugin", "entry-point", "p-dist", "1.0", hooks=("platform_status_func",))
    cache.store([Cached(plugin, eager=False, files={str(module): module.stat().st_mtime_ns})])
    (kept,) = DiscoveryCache(tmp_path, NO_SPECS, autoload=False).load() or ()
    assert kept.plugin == plugin
    assert DiscoveryCache(tmp_path, NO_SPECS, autoload=True).load() is None
    assert DiscoveryCache(tmp_path, PluginSpecs.parse(["no:p"]), autoload=False).load() is None
    os.utime(module, ns=(0, 0))
    assert DiscoveryCache(tmp_path, NO_SPECS, autoload=False).load() is None
