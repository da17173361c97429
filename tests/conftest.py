"""Shared fixtures: plugin modules and installed distributions made on the fly."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from waypoint_hooks import JobInfo
from waypoint_hooks.host import AUTOLOAD_ENV, PluginManager

# By default hypothesis fails an example that takes over 200 ms, and a test whose inputs are slow
# to generate: timing assertions, which a loaded CI machine breaks at random. The suite's
# properties assert outcomes only; a test's own settings still override these.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

#: Set by .ci/run: there, a test whose system package is missing fails instead of skipping.
REQUIRE_SYSTEM_PACKAGES_ENV = "WAYPOINT_HOOKS_REQUIRE_SYSTEM_PACKAGES"


def require_system_package(package: str, found: bool, what: str) -> None:
    """Skip a test whose Debian ``package`` is missing (``found`` false) on a developer's
    machine, saying why; under ``.ci/run`` fail it instead: CI never passes by skipping."""
    if not found:
        cannot_run(f"needs Debian's {package} ({what}): apt-get install {package}")


def cannot_run(reason: str) -> None:
    """Skip a test that this machine cannot run (a system package missing, or a service that
    does not start), saying why; under ``.ci/run`` fail it instead."""
    if os.environ.get(REQUIRE_SYSTEM_PACKAGES_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_SYSTEM_PACKAGES_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


if TYPE_CHECKING:
    # Not imported here for real: pytest must import the plugin first, to rewrite its asserts.
    from helpers_browser import Visit
    from helpers_postgres import Cluster
    from playwright.sync_api import Browser

    from waypoint_hooks.state.store import State
    from waypoint_hooks.testing import PluginHarness

#: The fixtures that drive a system package, by the Debian package each needs.
SYSTEM_FIXTURES = {"browser": "chromium", "dockerd": "docker.io", "postgres": "postgresql"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that drives a system package with ``system_package(NAME)``, by the
    fixtures it uses (a state test of the PostgreSQL ``location`` among them), so that a
    developer without them can deselect those tests: ``-m "not system_package"``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("location") == "postgresql":
            names.add("postgres")
        for fixture, package in SYSTEM_FIXTURES.items():
            if fixture in names:
                item.add_marker(pytest.mark.system_package(package))


# The project's own pytest plugin, which its builtin plugins' tests use as any plugin author
# does; named here so that it is on whether or not pytest autoloads plugins.
pytest_plugins = ["waypoint_hooks.testing"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` standing in for site-packages; its modules are forgotten
    afterwards so that tests cannot see each other's plugins."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    yield directory
    # Forget only the modules that came from here: the framework's own must stay as they
    # are, or classes imported earlier would no longer be the ones in sys.modules.
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(directory)):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def write_module(site: Path) -> Callable[[str, str], str]:
    """Write a module into ``site``; returns its name."""

    def write(name: str, source: str) -> str:
        (site / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    return write


@pytest.fixture
def install_distribution(site: Path) -> Callable[..., None]:
    """Install a distribution's metadata into ``site`` as pip would: a ``.dist-info``
    directory with ``METADATA`` and the ``waypoint_hooks`` entry points given."""

    def install(dist: str, version: str, entry_points: dict[str, str]) -> None:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[waypoint_hooks]\n{lines}")
        importlib.invalidate_caches()

    return install


@pytest.fixture
def plugin_module() -> Callable[[str, str], ModuleType]:
    """Build a plugin module from source without touching ``sys.path``."""

    def build(name: str, source: str) -> ModuleType:
        module = ModuleType(name)
        module.__file__ = f"<{name}>"
        exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), module.__dict__)
        return module

    return build


@pytest.fixture
def plugins(waypoint_plugins: Callable[..., PluginHarness]) -> PluginHarness:
    """The builtin plugins in the pytest plugin's harness: loaded through this project's own
    entry points, as the launcher loads them with autoload off, and told that they run the
    job "job1" of the app "web" of the project "demo"."""
    harness = waypoint_plugins(builtins=True, job_info=JobInfo("demo", "web", id="job1"))
    loaded = {(plugin.source, plugin.error) for plugin in harness.manager.plugins}
    assert loaded == {("builtin", None)}
    return harness


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> PluginManager:
    """A plugin manager with no plugin at all: tests register exactly what they need."""
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    return PluginManager()


@pytest.fixture
def hostile_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The modules of tests/hostile/ importable (also by the processes tests start), and
    only builtin plugins besides them."""
    from hostile import harness

    harness.prepare(monkeypatch)


@pytest.fixture
def processes() -> Iterator[Any]:
    """Launcher processes started by a test, killed with their groups at its end."""
    from hostile.harness import Processes

    started = Processes()
    yield started
    started.close()


@pytest.fixture
def served(tmp_path: Path, processes: Any) -> Any:
    """A project of ``wh_served`` apps (tests/hostile/) to run ``serve`` on."""
    from hostile.serving import Served

    return Served(tmp_path, processes)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL server of the tests' own (Debian's postgresql), for the whole session."""
    from helpers_postgres import installed, running_cluster

    require_system_package("postgresql", installed(), "the PostgreSQL state is tested on one")
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new state is to be: a file, or an empty PostgreSQL database (its URL). The
    state's behaviour is the same on both (DESIGN §16): its tests take this."""
    if request.param == "sqlite":
        return tmp_path / "project" / ".waypoint-hooks" / "state.db"
    cluster: Cluster = request.getfixturevalue("postgres")
    return cluster.database()


@pytest.fixture
def state(location: Path | str) -> Iterator[State]:
    """A new state at ``location``, on each database, open for the test."""
    from waypoint_hooks.state.store import State

    with State.open(location) as opened:
        yield opened


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright, for a module's tests."""
    from helpers_browser import CHROMIUM
    from playwright.sync_api import sync_playwright

    require_system_package("chromium", Path(CHROMIUM).exists(), "the status page's tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    """A page of its own in ``browser``."""
    from helpers_browser import Visit

    opened = Visit(browser)
    yield opened
    opened.close()
