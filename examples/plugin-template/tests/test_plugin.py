"""The example plugin, tested with the fixtures waypoint-hooks brings to pytest.

``waypoint_plugins`` runs each hook as the waypoint-hooks launcher does (typed config and
values, the status policy, the final report); ``waypoint_project`` runs the real command on a
waypoint.hcl, finding this plugin through its entry point, as a user's installation does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from waypoint_hooks import ConfigError, Health
from waypoint_hooks.testing import PluginHarness, TemporaryProject

import waypoint_hooks_example


@pytest.fixture
def plugins(waypoint_plugins: Callable[..., PluginHarness]) -> PluginHarness:
    # Named as its entry point names it, "example": the package is installed to be tested.
    return waypoint_plugins(waypoint_hooks_example)


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return {"directory": str(tmp_path / "deployments")}


def made(deployment: dict[str, Any]) -> tuple[str, str]:
    """The paths of a deployment's directory and instance, from the states its resources keep."""
    states = waypoint_hooks_example.PLATFORM.load(deployment)
    return states["directory"].path, states["instance"].path


def test_deploy_starts_the_instance_in_a_directory_of_its_own(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    directory, instance = made(plugins.platform_deploy("example", config))
    assert os.path.dirname(directory) == config["directory"]
    assert os.listdir(directory) == [os.path.basename(instance)]
    plugins.ui.assert_step("Instance started", status="ok")


def test_status_reports_the_instance_under_its_directory(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    plugins.ui.clear()
    report = plugins.platform_status("example", config, deployment=deployment)
    assert report.health is Health.READY
    assert report.health_message == "All 2 resources are reporting READY"
    directory, instance = report.resources
    assert (directory.id, instance.id) == made(deployment)
    assert instance.parent_resource_id == directory.id
    assert {resource.platform for resource in report.resources} == {"example"}
    plugins.ui.assert_step("2 of 2 resources are ready", status="ok")
    plugins.ui.assert_no_errors()


def test_a_lost_instance_makes_the_deployment_partial(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    os.remove(made(deployment)[1])
    report = plugins.platform_status("example", config, deployment=deployment)
    assert report.health is Health.PARTIAL
    assert report.health_message == "1 directory READY, 1 instance MISSING"
    plugins.ui.assert_step("1 of 2 resources are ready", status="warning")


def test_the_worst_policy_names_the_lost_instance(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    os.remove(made(deployment)[1])
    report = plugins.platform_status("example", config, deployment=deployment, policy="worst")
    assert report.health is Health.MISSING
    assert report.health_message == "MISSING: instance (the instance's file is gone)"


def test_a_config_that_does_not_fit_is_refused_before_anything_runs(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="directory: expected str"):
        plugins.platform_deploy("example", {"directory": 3})
    assert list(tmp_path.iterdir()) == []


def test_a_release_points_at_its_deployment_until_destroyed(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    release = plugins.release_manager_release("example", deployment=deployment)
    report = plugins.release_manager_status("example", release=release, deployment=deployment)
    assert report.health is Health.READY
    plugins.release_manager_destroy("example", release=release)
    plugins.platform_destroy("example", config, deployment=deployment)
    assert not os.path.exists(release["pointer"])
    assert os.listdir(config["directory"]) == []


def test_a_release_whose_deployment_is_gone_is_down(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    release = plugins.release_manager_release("example", deployment=deployment)
    plugins.platform_destroy("example", config, deployment=deployment)
    report = plugins.release_manager_status("example", release=release, deployment=deployment)
    assert report.health is Health.DOWN
    assert re.search("the deployment it points at, .*, is gone", report.health_message)


def test_the_command_finds_the_installed_plugin_and_runs_an_app_on_it(
    waypoint_project: Callable[..., TemporaryProject],
) -> None:
    project = waypoint_project(
        """
        project = "shop"

        app "web" {
          deploy {
            use "example" {
              directory = "deployments"
            }
          }

          release {
            use "example" {}
          }
        }
        """,
        autoload=True,
    )
    up = project.run("up")
    assert up.exit_code == 0, up.output
    (web,) = project.json("status")["apps"]
    assert web["deployment"]["report"]["health"] == "READY"
    assert web["release"]["report"]["health"] == "READY"
    destroy = project.run("destroy")
    assert destroy.exit_code == 0, destroy.output
    assert os.listdir(project.directory / "deployments") == []
