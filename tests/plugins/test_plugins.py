"""Plugin discovery, loading, validation, kinds and dispatch (DESIGN §4, §5)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from types import ModuleType

import pytest

import waypoint_hooks
import waypoint_hooks.host
from waypoint_hooks import PluginError
from waypoint_hooks.host import AUTOLOAD_ENV, PluginManager, PluginSpecs, discover

PLATFORM = """
    from waypoint_hooks import Health, StatusReport, hookimpl

    @hookimpl
    def platform_deploy_func():
        return {"where": __name__}

    @hookimpl
    def platform_status_func():
        return StatusReport(health=Health.READY, health_message=__name__)
"""


def names(plugins: list) -> list[str]:
    return sorted(p.name for p in plugins)


# --- discovery -------------------------------------------------------------------------


def test_builtin_filepath_is_discovered_through_the_projects_own_entry_point() -> None:
    (filepath,) = [p for p in discover(autoload=False) if p.name == "filepath"]
    assert filepath.source == "builtin"
    assert filepath.distribution == "waypoint-hooks"
    assert filepath.value == "builtin_plugins.filepath"


def test_discovery_lists_entry_points_without_importing_them(
    write_module: Callable[[str, str], str], install_distribution: Callable[..., None]
) -> None:
    write_module("lazy_plugin", "raise RuntimeError('imported too early')\n")
    install_distribution("lazy-dist", "1.2.3", {"lazy": "lazy_plugin"})
    (lazy,) = [p for p in discover(autoload=True) if p.name == "lazy"]
    assert (lazy.source, lazy.distribution, lazy.version) == ("entry-point", "lazy-dist", "1.2.3")
    assert "lazy_plugin" not in sys.modules


def test_autoload_off_keeps_builtins_and_drops_third_party_entry_points(
    write_module: Callable[[str, str], str],
    install_distribution: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_module("third", PLATFORM)
    install_distribution("third-dist", "1.0", {"third": "third"})
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    found = names(discover())
    assert "filepath" in found
    assert "third" not in found


def test_blocked_plugins_are_neither_loaded_nor_listed(
    write_module: Callable[[str, str], str], install_distribution: Callable[..., None]
) -> None:
    write_module("third", PLATFORM)
    install_distribution("third-dist", "1.0", {"third": "third"})
    manager = PluginManager.load(PluginSpecs.parse(["no:third", "no:filepath"]), autoload=True)
    assert "third" not in names(manager.plugins)
    assert "filepath" not in names(manager.plugins)
    assert "third" not in sys.modules


def test_dash_p_loads_a_module_under_its_last_dotted_name(
    site, write_module: Callable[[str, str], str]
) -> None:
    (site / "pkg").mkdir()
    (site / "pkg" / "__init__.py").write_text("")
    (site / "pkg" / "extra.py").write_text(PLATFORM.replace("\n    ", "\n"))
    manager = PluginManager.load(PluginSpecs.parse(["pkg.extra"]), autoload=False)
    extra = manager.get("extra")
    assert (extra.source, extra.distribution, extra.version) == ("cli", None, None)
    assert extra.kinds == ("platform",)


def test_two_distributions_claiming_one_name_are_both_reported(
    write_module: Callable[[str, str], str], install_distribution: Callable[..., None]
) -> None:
    write_module("one", PLATFORM)
    write_module("two", PLATFORM)
    install_distribution("dist-one", "1.0", {"same": "one"})
    install_distribution("dist-two", "1.0", {"same": "two"})
    (same,) = [p for p in discover(autoload=True) if p.name == "same"]
    assert "dist-one" in same.error
    assert "dist-two" in same.error


# --- loading and validation ------------------------------------------------------------


def test_a_plugin_that_fails_to_import_is_recorded_and_the_others_load(
    write_module: Callable[[str, str], str], install_distribution: Callable[..., None]
) -> None:
    write_module("broken", "import no_such_module_anywhere\n")
    write_module("good", PLATFORM)
    install_distribution("broken-dist", "0.1", {"broken": "broken"})
    install_distribution("good-dist", "0.1", {"good": "good"})
    manager = PluginManager.load(autoload=True)
    broken = next(p for p in manager.plugins if p.name == "broken")
    assert "ModuleNotFoundError" in broken.error
    assert "no_such_module_anywhere" in broken.error
    assert broken.to_json()["distribution"] == "broken-dist"
    assert manager.get("good").error is None
    with pytest.raises(PluginError, match=r"broken.*no_such_module_anywhere"):
        manager.get("broken")


def test_a_plugin_that_exits_while_importing_does_not_exit_the_loader(
    write_module: Callable[[str, str], str], install_distribution: Callable[..., None]
) -> None:
    write_module("quitter", "raise SystemExit(3)\n")
    install_distribution("quitter-dist", "0.1", {"quitter": "quitter"})
    manager = PluginManager.load(autoload=True)
    assert "SystemExit" in next(p for p in manager.plugins if p.name == "quitter").error


@pytest.mark.parametrize("hook", ["builder_status_func", "status_func", "registry_status_func"])
def test_status_outside_platform_and_release_manager_is_rejected(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType], hook: str
) -> None:
    module = plugin_module(
        "wrongkind",
        f"""
        from waypoint_hooks import hookimpl

        @hookimpl
        def {hook}():
            pass
        """,
    )
    plugin = manager.register(module)
    assert plugin.error is not None
    for part in (hook, "<wrongkind>:4", "platform_status_func", "release_manager_status_func"):
        assert part in plugin.error
    with pytest.raises(PluginError, match="wrongkind"):
        manager.get("wrongkind")


def test_an_unknown_hook_is_rejected_with_its_location_and_a_suggestion(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module(
        "typo",
        """
        from waypoint_hooks import hookimpl


        @hookimpl
        def platform_deploy_fun():
            pass
        """,
    )
    error = manager.register(module).error
    assert "unknown hook 'platform_deploy_fun'" in error
    assert "<typo>:5" in error
    assert "did you mean 'platform_deploy_func'" in error


def test_an_argument_the_hook_does_not_have_is_rejected(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module(
        "badarg",
        """
        from waypoint_hooks import hookimpl

        @hookimpl
        def platform_status_func(deployment, release):
            pass
        """,
    )
    error = manager.register(module).error
    assert "release" in error
    assert "platform_status_func" in error


def test_old_style_hookwrappers_are_rejected_with_the_replacement(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module(
        "oldstyle",
        """
        from waypoint_hooks import hookimpl

        @hookimpl(hookwrapper=True)
        def platform_status_func():
            yield
        """,
    )
    assert "wrapper=True" in manager.register(module).error


def test_an_unresolvable_annotation_is_a_load_error(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module(
        "badnote",
        """
        from __future__ import annotations
        from waypoint_hooks import hookimpl

        @hookimpl
        def platform_status_func(config: NoSuchType):
            pass
        """,
    )
    plugin = manager.register(module)
    assert "NoSuchType" in plugin.error
    assert not manager.implements("badnote", "platform_status_func")


# --- kinds and hooks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kinds"),
    [
        ("@hookimpl\ndef platform_status_func(): pass", ("platform",)),
        ("@hookimpl\ndef release_manager_release_func(): pass", ("release_manager",)),
        (
            "@hookimpl\ndef platform_deploy_func(): pass\n"
            "@hookimpl\ndef release_manager_status_func(): pass",
            ("platform", "release_manager"),
        ),
        ("@hookimpl\ndef status_report_generated(): pass", ()),
        ("@hookimpl(wrapper=True)\ndef platform_status_func():\n    return (yield)", ()),
    ],
)
def test_kinds_follow_from_the_hooks_implemented(
    manager: PluginManager,
    plugin_module: Callable[[str, str], ModuleType],
    source: str,
    kinds: tuple[str, ...],
) -> None:
    plugin = manager.register(
        plugin_module("kinded", "from waypoint_hooks import hookimpl\n" + source)
    )
    assert plugin.error is None
    assert plugin.kinds == kinds


def test_plugins_json_has_exactly_the_documented_keys() -> None:
    manager = PluginManager.load(autoload=False)
    entry = manager.get("filepath").to_json()
    assert set(entry) == {
        "name",
        "version",
        "distribution",
        "kinds",
        "hooks",
        "source",
        "requires",
        "error",
    }
    assert entry["kinds"] == ["platform", "release_manager"]
    assert "platform_status_func" in entry["hooks"]


# --- dispatch --------------------------------------------------------------------------


def test_dispatch_calls_only_the_plugin_the_app_names(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    manager.register(plugin_module("alpha", PLATFORM))
    manager.register(plugin_module("beta", PLATFORM))
    call = manager.call("platform_status_func", "beta")
    assert call.impl.hookimpl.function().health_message == "beta"
    assert call.wrappers == ()


def test_every_plugins_wrappers_wrap_the_named_plugin_outermost_by_tryfirst(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    manager.register(plugin_module("alpha", PLATFORM))
    wrapper = """
        from waypoint_hooks import hookimpl

        @hookimpl(wrapper=True, specname="platform_status_func", {opts})
        def wrap():
            return (yield)

        @hookimpl
        def platform_status_func():
            pass
    """
    manager.register(plugin_module("inner", wrapper.format(opts="trylast=True")))
    manager.register(plugin_module("outer", wrapper.format(opts="tryfirst=True")))
    call = manager.call("platform_status_func", "alpha")
    assert [w.hookimpl.plugin_name for w in call.wrappers] == ["outer", "inner"]
    assert call.impl.hookimpl.plugin_name == "alpha"


def test_asking_for_a_plugin_that_is_not_installed_names_what_is(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    manager.register(plugin_module("alpha", PLATFORM))
    with pytest.raises(PluginError, match=r"'nope'.*installed: alpha.*pip install"):
        manager.call("platform_status_func", "nope")


def test_asking_for_a_hook_the_plugin_lacks_names_the_hook(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    manager.register(plugin_module("alpha", PLATFORM))
    with pytest.raises(PluginError, match="does not implement release_manager_status_func"):
        manager.call("release_manager_status_func", "alpha")


def test_observers_are_every_plugins_implementation(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    observer = """
        from waypoint_hooks import hookimpl

        @hookimpl
        def status_report_generated(report):
            pass
    """
    manager.register(plugin_module("one", observer))
    manager.register(plugin_module("two", observer))
    manager.register(plugin_module("alpha", PLATFORM))
    calls = manager.observers("status_report_generated")
    assert sorted(c.plugin for c in calls) == ["one", "two"]


# --- the public API: the plugin author's, and the embedding API in host -----------------


@pytest.mark.parametrize("module", [waypoint_hooks, waypoint_hooks.host], ids=lambda m: m.__name__)
def test_every_public_name_is_listed_and_importable(module: ModuleType) -> None:
    table = [name for names in module._EXPORTS.values() for name in names]
    assert sorted(module.__all__) == sorted(table)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_importing_the_host_imports_none_of_what_its_names_need() -> None:
    code = (
        "import sys, waypoint_hooks.host\n"
        "print(sorted({'attr', 'attrs', 'cattrs', 'pluggy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


#: The embedding API that moved from waypoint_hooks to waypoint_hooks.host.
MOVED_TO_HOST = [
    "AUTOLOAD_ENV",
    "HookFailed",
    "HookRequest",
    "HookTimeout",
    "Plugin",
    "PluginManager",
    "PluginSpecs",
    "Runner",
    "StatusCheck",
    "discover",
]


def _importing(statement: str) -> tuple[dict[str, object], list[warnings.WarningMessage]]:
    """What ``statement`` binds, and the warnings it raised (every one, even if seen before)."""
    namespace: dict[str, object] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(statement, namespace)
    return namespace, caught


@pytest.mark.parametrize("name", MOVED_TO_HOST)
def test_a_name_of_the_embedding_api_imports_from_the_host_silently(name: str) -> None:
    namespace, caught = _importing(f"from waypoint_hooks.host import {name}")
    assert caught == []
    assert namespace[name] is getattr(waypoint_hooks.host, name)


@pytest.mark.parametrize("name", MOVED_TO_HOST)
def test_a_moved_name_still_imports_from_waypoint_hooks_with_one_deprecation_warning(
    name: str,
) -> None:
    namespace, caught = _importing(f"from waypoint_hooks import {name}")
    assert [(w.category, str(w.message)) for w in caught] == [
        (
            DeprecationWarning,
            f"import {name} from waypoint_hooks.host; waypoint_hooks.{name} goes in 1.0",
        )
    ]
    assert namespace[name] is getattr(waypoint_hooks.host, name)
    assert name not in waypoint_hooks.__all__


def test_each_use_of_a_moved_name_is_told_at_its_own_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = waypoint_hooks.Runner
        second = waypoint_hooks.Runner
    assert first is second is waypoint_hooks.host.Runner
    assert [w.filename for w in caught] == [__file__, __file__]
    assert caught[1].lineno == caught[0].lineno + 1


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'waypoint_hooks' has no attribute 'Nope'"):
        _ = waypoint_hooks.Nope
