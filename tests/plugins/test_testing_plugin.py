"""The pytest plugin for plugin authors, ``waypoint_hooks.testing``: the harness runs hooks as
the launcher does, the recorded UI asserts on what a plugin showed, the temporary project runs
the real command, and pytest gets all three as fixtures (issue 5, deliverable 3)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from waypoint_hooks import ConfigError, Health, JobInfo, PluginError, Policy, hookimpl
from waypoint_hooks.terminal import ERROR_STYLE, STATUS_ERROR, STATUS_WARN
from waypoint_hooks.testing import PluginHarness, RecordedUI, TemporaryProject

pytest_plugins = ["pytester"]

PluginModule = Callable[[str, str], ModuleType]

# A platform whose status reports the resources its deployment lists, without a health.
FLEET = """
    import attrs
    from waypoint_hooks import Health, Resource, StatusReport, hookimpl

    @attrs.define
    class Config:
        size: int

    @attrs.define
    class Deployment:
        healths: tuple[str, ...]

    @hookimpl
    def platform_deploy_func(config: Config, job_info, ui):
        ui.output("deploying %d for %s", config.size, job_info.app)
        return Deployment(healths=("READY",) * config.size)

    @hookimpl
    def platform_status_func(deployment: Deployment, ui):
        step = ui.step_group().add("Counting...")
        step.update("%d counted", len(deployment.healths))
        step.done()
        return StatusReport(resources=[
            Resource(f"pod-{i}", health=Health[health], type="pod")
            for i, health in enumerate(deployment.healths)
        ])

    @hookimpl
    def platform_destroy_func(deployment: Deployment, ui):
        ui.output("destroyed %d", len(deployment.healths))

    @hookimpl
    def release_manager_release_func(deployment: Deployment):
        return {"pods": len(deployment.healths)}

    @hookimpl
    def release_manager_status_func(release, deployment: Deployment):
        same = release["pods"] == len(deployment.healths)
        return StatusReport(health=Health.READY if same else Health.DOWN)

    @hookimpl
    def release_manager_destroy_func(release, ui):
        ui.output("unreleased %d", release["pods"])
"""


@pytest.fixture
def fleet(plugin_module: PluginModule) -> PluginHarness:
    return PluginHarness.load(fleet=plugin_module("fleet", FLEET))


def shown(*calls: Callable[[RecordedUI], object]) -> RecordedUI:
    """A recorded UI on which each of ``calls`` showed something."""
    recorded = RecordedUI()
    for call in calls:
        call(recorded)
    return recorded


def seed_steps(recorded: RecordedUI) -> None:
    # The seed's status check of a missing file: a step that ends in error, and a status line.
    step = recorded.ui.step_group().add("Checking the status of the file...")
    with recorded.ui.status() as status:
        status.step(STATUS_ERROR, "File is missing")
    step.status(STATUS_ERROR)
    step.done()


# --- the recorded UI ---------------------------------------------------------------------


def test_assert_step_finds_a_step_by_its_final_message_and_status() -> None:
    def ready(recorded: RecordedUI) -> None:
        step = recorded.ui.step_group().add("Checking...")
        step.update("File is ready")
        step.done()

    recorded = shown(ready)
    event = recorded.assert_step("File is ready", status="ok")
    assert (event.kind, event.done) == ("step", True)
    with pytest.raises(AssertionError, match=r"no step 'Checking\.\.\.' was shown"):
        recorded.assert_step("Checking...")


def test_assert_step_also_finds_the_lines_of_a_status_display() -> None:
    recorded = shown(seed_steps)
    assert recorded.assert_step("File is missing", status=STATUS_ERROR).kind == "status"


def test_assert_step_with_a_pattern_searches_the_message() -> None:
    recorded = shown(lambda r: r.ui.step_group().add("Wrote /tmp/x/web-1.txt").done())
    recorded.assert_step(re.compile(r"Wrote .*/web-\d+\.txt"), status="ok")


def test_a_failed_assert_step_says_what_was_wanted_and_lists_what_was_shown() -> None:
    recorded = shown(seed_steps)
    message = (
        "no step 'File is missing' with status 'ok' was shown; the plugin showed:\n"
        "  error: Checking the status of the file...\n"
        "  error: File is missing"
    )
    with pytest.raises(AssertionError, match=re.escape(message)):
        recorded.assert_step("File is missing", status="ok")
    with pytest.raises(AssertionError, match="matching 'ready' was shown; the plugin showed"):
        recorded.assert_step(re.compile("ready"))


def test_assert_output_finds_output_lines_and_their_style() -> None:
    recorded = shown(lambda r: r.ui.output("Removed %s", "/tmp/x", style=ERROR_STYLE))
    assert recorded.assert_output("Removed /tmp/x").style == ERROR_STYLE
    with pytest.raises(AssertionError, match="in style 'info' was shown"):
        recorded.assert_output("Removed /tmp/x", style="info")
    with pytest.raises(AssertionError, match="no step 'Removed /tmp/x' was shown"):
        recorded.assert_step("Removed /tmp/x")


def test_assert_no_errors_lists_error_steps_and_error_output() -> None:
    RecordedUI().assert_no_errors()
    shown(lambda r: r.ui.step_group().add("Slow").status(STATUS_WARN)).assert_no_errors()
    recorded = shown(seed_steps, lambda r: r.ui.output("boom", style=ERROR_STYLE))
    message = (
        "the plugin showed errors:\n"
        "  error: Checking the status of the file...\n"
        "  error: File is missing\n"
        "  boom"
    )
    with pytest.raises(AssertionError, match=re.escape(message)):
        recorded.assert_no_errors()


def test_an_assertion_on_a_ui_that_showed_nothing_says_so() -> None:
    with pytest.raises(AssertionError, match="the plugin showed nothing"):
        RecordedUI().assert_output("anything")


def test_clear_forgets_what_was_shown() -> None:
    recorded = shown(seed_steps)
    recorded.clear()
    assert (recorded.lines(), recorded.events) == ([], [])


# --- loading plugins ---------------------------------------------------------------------


def test_only_the_plugins_given_are_loaded(
    plugin_module: PluginModule, install_distribution: Callable[..., None]
) -> None:
    install_distribution("waypoint-hooks-other", "1.0", {"other": "builtin_plugins.filepath"})
    harness = PluginHarness.load(plugin_module("fleet", FLEET))
    assert [(p.name, p.source) for p in harness.manager.plugins] == [("fleet", "cli")]


def test_builtins_true_adds_the_builtin_plugins(plugin_module: PluginModule) -> None:
    harness = PluginHarness.load(plugin_module("fleet", FLEET), builtins=True)
    sources = {plugin.name: plugin.source for plugin in harness.manager.plugins}
    assert (sources["filepath"], sources["fleet"]) == ("builtin", "cli")


def test_a_plugin_is_named_by_its_installed_entry_point_else_by_its_last_dotted_part(
    write_module: Callable[[str, str], str],
    install_distribution: Callable[..., None],
    plugin_module: PluginModule,
) -> None:
    write_module("waypoint_hooks_cloud", FLEET)
    write_module("waypoint_hooks_local", FLEET)
    install_distribution("waypoint-hooks-cloud", "1.0", {"my-cloud": "waypoint_hooks_cloud"})
    harness = PluginHarness.load(
        importlib.import_module("waypoint_hooks_cloud"),
        "waypoint_hooks_local",
        renamed=plugin_module("anything", FLEET),
    )
    names = [plugin.name for plugin in harness.manager.plugins]
    assert names == ["my-cloud", "waypoint_hooks_local", "renamed"]


def test_a_plugin_that_fails_to_load_raises_naming_it(plugin_module: PluginModule) -> None:
    broken = plugin_module(
        "broken", "from waypoint_hooks import hookimpl\n@hookimpl\ndef nope(): pass\n"
    )
    with pytest.raises(PluginError, match=r"plugin 'broken': unknown hook 'nope'"):
        PluginHarness.load(broken)
    with pytest.raises(PluginError, match=r"plugin 'missing': cannot import 'no\.such\.missing'"):
        PluginHarness.load("no.such.missing")


def test_plugins_can_be_objects_with_hook_methods_as_in_pluggy() -> None:
    class Constant:
        @hookimpl
        def platform_deploy_func(self) -> dict[str, int]:
            return {"n": 1}

    harness = PluginHarness.load(constant=Constant())
    assert harness.platform_deploy("constant") == {"n": 1}


# --- deploy, release, destroy ------------------------------------------------------------


def test_deploy_returns_the_value_as_the_state_stores_it(fleet: PluginHarness) -> None:
    # An attrs instance holding a tuple comes back a mapping holding a list: through JSON.
    assert fleet.platform_deploy("fleet", {"size": 2}) == {"healths": ["READY", "READY"]}
    fleet.ui.assert_output("deploying 2 for app")


def test_config_and_values_may_be_attrs_instances(fleet: PluginHarness) -> None:
    module = fleet.manager.get("fleet").module
    deployment = fleet.platform_deploy("fleet", module.Config(size=1))
    release = fleet.release_manager_release("fleet", deployment=module.Deployment(("READY",)))
    assert (deployment, release) == ({"healths": ["READY"]}, {"pods": 1})


def test_a_config_that_does_not_fit_raises_before_any_hook_runs(fleet: PluginHarness) -> None:
    with pytest.raises(ConfigError, match=r"app 'app', plugin 'fleet': size: expected int"):
        fleet.platform_deploy("fleet", {"size": "two"})
    with pytest.raises(ConfigError, match=r"colour: unknown field"):
        fleet.platform_status("fleet", {"size": 1, "colour": "red"}, deployment={"healths": []})
    assert fleet.ui.lines() == []


def test_a_hook_that_raises_raises_its_own_exception(plugin_module: PluginModule) -> None:
    harness = PluginHarness.load(
        plugin_module(
            "faulty",
            """
            from waypoint_hooks import hookimpl

            @hookimpl
            def platform_deploy_func():
                raise LookupError("no such region")
            """,
        )
    )
    with pytest.raises(LookupError, match="no such region"):
        harness.platform_deploy("faulty")


def test_a_deploy_that_returns_nothing_is_an_error_as_in_the_launcher(
    plugin_module: PluginModule,
) -> None:
    harness = PluginHarness.load(
        plugin_module(
            "silent",
            "from waypoint_hooks import hookimpl\n@hookimpl\ndef platform_deploy_func(): pass\n",
        )
    )
    with pytest.raises(TypeError, match="returned None; it must return the value to record"):
        harness.platform_deploy("silent")


def test_a_plugin_that_is_not_loaded_or_lacks_the_hook_is_a_plugin_error(
    fleet: PluginHarness, plugin_module: PluginModule
) -> None:
    with pytest.raises(PluginError, match="no such plugin is installed"):
        fleet.platform_deploy("elsewhere")
    observer = PluginHarness.load(
        plugin_module(
            "observer",
            "from waypoint_hooks import hookimpl\n"
            "@hookimpl\ndef status_report_generated(report): pass\n",
        )
    )
    with pytest.raises(PluginError, match="does not implement platform_deploy_func"):
        observer.platform_deploy("observer")


def test_destroy_hooks_get_their_values(fleet: PluginHarness) -> None:
    deployment = fleet.platform_deploy("fleet", {"size": 3})
    release = fleet.release_manager_release("fleet", deployment=deployment)
    fleet.release_manager_destroy("fleet", release=release)
    fleet.platform_destroy("fleet", {"size": 3}, deployment=deployment)
    assert fleet.ui.lines()[-2:] == ["unreleased 3", "destroyed 3"]


def test_hooks_are_told_the_harness_job(fleet: PluginHarness) -> None:
    fleet.job_info = JobInfo("shop", "web", id="42")
    fleet.platform_deploy("fleet", {"size": 1})
    fleet.ui.assert_output("deploying 1 for web")


def test_the_job_can_be_given_when_loading(plugin_module: PluginModule) -> None:
    harness = PluginHarness.load(
        fleet=plugin_module("fleet", FLEET), job_info=JobInfo("shop", "api", id="7")
    )
    harness.platform_deploy("fleet", {"size": 1})
    harness.ui.assert_output("deploying 1 for api")


def test_async_hooks_are_awaited(plugin_module: PluginModule) -> None:
    harness = PluginHarness.load(
        plugin_module(
            "later",
            """
            import asyncio
            from waypoint_hooks import Health, StatusReport, hookimpl

            @hookimpl
            async def platform_deploy_func():
                await asyncio.sleep(0)
                return {"ok": True}

            @hookimpl
            async def platform_status_func():
                await asyncio.sleep(0)
                return StatusReport(health=Health.READY)
            """,
        )
    )
    deployment = harness.platform_deploy("later")
    assert harness.platform_status("later", deployment=deployment).health is Health.READY


# --- status checks -----------------------------------------------------------------------


def test_status_returns_the_finalized_report(fleet: PluginHarness) -> None:
    deployment = {"healths": ["READY", "ALIVE"]}
    report = fleet.platform_status("fleet", {"size": 2}, deployment=deployment)
    assert (report.health, report.health_message) == (Health.PARTIAL, "1 pod ALIVE, 1 pod READY")
    assert report.generated_time is not None
    assert {resource.platform for resource in report.resources} == {"fleet"}
    fleet.ui.assert_step("2 counted", status="ok")


def test_status_applies_the_policy_given(fleet: PluginHarness) -> None:
    deployment = {"healths": ["READY", "DOWN", "READY"]}
    worst = fleet.platform_status("fleet", {"size": 3}, deployment=deployment, policy="worst")
    assert (worst.health, worst.health_message) == (Health.DOWN, "DOWN: pod-1")
    lenient = Policy.from_options("threshold", min_ready=2)
    assert (
        fleet.platform_status("fleet", {"size": 3}, deployment=deployment, policy=lenient).health
        is Health.READY
    )


def test_release_status_gets_the_release_and_its_deployment(fleet: PluginHarness) -> None:
    deployment = fleet.platform_deploy("fleet", {"size": 2})
    release = fleet.release_manager_release("fleet", deployment=deployment)
    ready = fleet.release_manager_status("fleet", release=release, deployment=deployment)
    assert ready.health is Health.READY
    moved = fleet.release_manager_status("fleet", release={"pods": 5}, deployment=deployment)
    assert moved.health is Health.DOWN


def test_a_status_check_that_raises_or_hangs_is_unknown_as_in_the_launcher(
    plugin_module: PluginModule,
) -> None:
    harness = PluginHarness.load(
        plugin_module(
            "flaky",
            """
            from waypoint_hooks import hookimpl

            @hookimpl
            def platform_status_func(ctx, deployment):
                if deployment["hang"]:
                    ctx.wait(30)
                else:
                    raise ConnectionError("api down")
            """,
        )
    )
    failed = harness.platform_status("flaky", deployment={"hang": False})
    assert failed.health is Health.UNKNOWN
    assert (
        failed.health_message
        == "plugin 'flaky' platform_status_func raised ConnectionError: api down"
    )
    hung = harness.platform_status("flaky", deployment={"hang": True}, timeout=0.2)
    assert hung.health_message == "plugin 'flaky' platform_status_func timed out after 200ms"


def test_status_runs_inside_other_plugins_wrappers_and_reaches_observers(
    plugin_module: PluginModule,
) -> None:
    spy = plugin_module(
        "spy",
        """
        from waypoint_hooks import hookimpl

        SEEN = []

        @hookimpl(wrapper=True)
        def platform_status_func():
            report = yield
            report.health_message = "wrapped"
            return report

        @hookimpl
        def status_report_generated(target, report, previous):
            SEEN.append((target.kind, report.health, previous))
        """,
    )
    harness = PluginHarness.load(plugin_module("fleet", FLEET), spy)
    last = harness.platform_status("fleet", {"size": 1}, deployment={"healths": ["READY"]})
    report = harness.platform_status(
        "fleet", {"size": 1}, deployment={"healths": ["READY"]}, last_report=last
    )
    assert report.health_message == "wrapped"
    assert [("deployment", Health.READY, None), ("deployment", Health.READY, last)] == spy.SEEN


# --- the project directory ---------------------------------------------------------------

# A platform whose deployment is a file in the directory its config names, relative or not.
WRITER = """
    import os
    from waypoint_hooks import Health, StatusReport, hookimpl

    @hookimpl
    def platform_deploy_func(config):
        os.makedirs(config["directory"], exist_ok=True)
        path = os.path.join(config["directory"], "deployed.txt")
        open(path, "w").close()
        return {"path": path}

    @hookimpl
    def platform_status_func(deployment):
        there = os.path.exists(deployment["path"])
        return StatusReport(health=Health.READY if there else Health.MISSING)

    @hookimpl
    def platform_destroy_func(deployment):
        os.remove(deployment["path"])
"""


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's working directory: an empty one of its own."""
    directory = tmp_path / "cwd"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def test_hooks_run_in_a_fresh_project_directory_never_in_the_tests_own(
    waypoint_plugins: Callable[..., PluginHarness],
    plugin_module: PluginModule,
    tmp_path: Path,
    cwd: Path,
) -> None:
    # As the launcher runs them beside waypoint.hcl: `directory = "out"` is the project's.
    plugins = waypoint_plugins(writer=plugin_module("writer", WRITER))
    # Beside tmp_path, which stays the test's own.
    assert plugins.directory.parent == tmp_path.parent
    assert list(plugins.directory.iterdir()) == []
    deployment = plugins.platform_deploy("writer", {"directory": "out"})
    assert deployment == {"path": "out/deployed.txt"}
    assert (plugins.directory / "out" / "deployed.txt").is_file()
    assert plugins.platform_status("writer", deployment=deployment).health is Health.READY
    plugins.platform_destroy("writer", deployment=deployment)
    assert list((plugins.directory / "out").iterdir()) == []
    assert (Path.cwd(), list(cwd.iterdir()), list(tmp_path.iterdir())) == (cwd, [], [cwd])


def test_a_test_may_choose_the_project_directory(
    waypoint_plugins: Callable[..., PluginHarness],
    plugin_module: PluginModule,
    tmp_path: Path,
    cwd: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    plugins = waypoint_plugins(writer=plugin_module("writer", WRITER), directory=site)
    assert plugins.directory == site
    plugins.platform_deploy("writer", {"directory": "out"})
    assert (site / "out" / "deployed.txt").is_file()
    assert list(cwd.iterdir()) == []


def test_outside_pytest_hooks_run_in_the_directory_that_was_current_when_loaded(
    plugin_module: PluginModule, tmp_path: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = PluginHarness.load(writer=plugin_module("writer", WRITER))
    monkeypatch.chdir(tmp_path)
    plugins.platform_deploy("writer", {"directory": "out"})
    assert (cwd / "out" / "deployed.txt").is_file()
    assert not (tmp_path / "out").exists()


# --- the temporary project ---------------------------------------------------------------

HCL = """
    project = "shop"

    app "web" {
      deploy {
        use "fleet" {
          size = 2
        }
      }

      release {
        use "fleet" {}
      }
    }
"""


@pytest.fixture
def fleet_module(write_module: Callable[[str, str], str]) -> str:
    return write_module("fleet", FLEET)


def test_a_project_from_hcl_text_runs_up_status_and_destroy(
    tmp_path: Path, fleet_module: str
) -> None:
    project = TemporaryProject(tmp_path, HCL, plugins=[fleet_module])
    assert project.config == tmp_path / "waypoint.hcl"
    assert project.config.read_text().startswith('project = "shop"\n')
    up = project.run("up")
    assert up.exit_code == 0, up.output
    assert "deploying 2 for web" in up.output
    (web,) = project.json("status")["apps"]
    assert web["deployment"]["report"]["health_message"] == "All 2 resources are reporting READY"
    assert web["release"]["report"]["health"] == "READY"
    assert project.run("destroy").exit_code == 0
    assert project.json("status")["apps"] == [{"app": "web", "deployment": None, "release": None}]


def test_a_project_from_a_mapping_is_written_as_hcl_json(tmp_path: Path, fleet_module: str) -> None:
    config = {"project": "shop", "app": {"web": {"deploy": {"use": {"fleet": {"size": 1}}}}}}
    project = TemporaryProject(tmp_path, config, plugins=[fleet_module])
    assert project.config == tmp_path / "waypoint.hcl.json"
    assert project.run("deploy").exit_code == 0
    (web,) = project.json("status")["apps"]
    assert web["deployment"]["platform"] == "fleet"


def test_a_project_keeps_its_state_beside_its_config(
    tmp_path: Path, fleet_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYPOINT_HOOKS_STATE", str(tmp_path / "elsewhere.db"))
    (tmp_path / "project").mkdir()
    project = TemporaryProject(tmp_path / "project", HCL, plugins=[fleet_module])
    assert project.run("up").exit_code == 0
    assert (tmp_path / "project" / ".waypoint-hooks" / "state.db").exists()
    assert not (tmp_path / "elsewhere.db").exists()


def test_installed_plugins_are_loaded_only_with_autoload(
    tmp_path: Path, fleet_module: str, install_distribution: Callable[..., None]
) -> None:
    install_distribution("waypoint-hooks-fleet", "2.0", {"fleet": "fleet"})
    isolated = TemporaryProject(tmp_path, HCL)
    assert "fleet" not in [entry["name"] for entry in isolated.json("plugins")]
    assert isolated.run("up").exit_code == 2
    installed = TemporaryProject(tmp_path, HCL, autoload=True)
    (entry,) = [entry for entry in installed.json("plugins") if entry["name"] == "fleet"]
    assert (entry["source"], entry["version"]) == ("entry-point", "2.0")
    assert installed.run("up").exit_code == 0


def test_json_of_a_command_that_printed_no_json_fails_with_its_output(tmp_path: Path) -> None:
    project = TemporaryProject(tmp_path, HCL)
    with pytest.raises(AssertionError, match=r"`waypoint-hooks status --json` exited 2 without"):
        project.json("status")


# --- as a pytest plugin ------------------------------------------------------------------


def test_importing_the_plugin_imports_nothing_of_the_framework() -> None:
    # pytest imports it in every run of every project that has waypoint-hooks installed.
    code = (
        "import sys, pytest, waypoint_hooks.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('waypoint_hooks', 'attr', 'attrs', 'cattrs', 'click', 'hcl2')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = ["waypoint_hooks", "waypoint_hooks._exports", "waypoint_hooks.testing"]
    assert done.stdout.strip() == str(expected)


def test_the_fixtures_work_in_a_plugin_authors_test_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_author="""
        from waypoint_hooks import Health

        def test_harness_and_ui_are_one(waypoint_plugins, waypoint_ui):
            plugins = waypoint_plugins(builtins=True)
            deployment = plugins.platform_deploy("filepath", {"directory": "out"})
            report = plugins.platform_status("filepath", deployment=deployment)
            assert report.health is Health.READY
            assert plugins.ui is waypoint_ui
            waypoint_ui.assert_step("File is ready", status="ok")

        def test_project(waypoint_project):
            project = waypoint_project('''
                project = "p"
                app "web" {
                  deploy {
                    use "filepath" {}
                  }
                }
            ''')
            assert project.run("up").exit_code == 0
            assert project.directory.name.startswith("project-")

        def test_a_failing_assertion_reads_well(waypoint_ui):
            waypoint_ui.ui.output("hello")
            waypoint_ui.assert_step("File is ready")
        """
    )
    # Enabled by name, with autoload off: the way that works whatever else is installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "waypoint_hooks.testing")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: no step 'File is ready' was shown; the plugin showed:",
            "E *  hello",
        ]
    )
    # The helper's own frame is hidden: the failure points at the test.
    assert "testing.py" not in result.stdout.str()
