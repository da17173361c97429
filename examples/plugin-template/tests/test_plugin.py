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
    return {"directory": str(tmp_path / "deployments"), "instances": 3}


def test_deploy_starts_each_instance(plugins: PluginHarness, config: dict[str, Any]) -> None:
    deployment = plugins.platform_deploy("example", config)
    assert deployment["instances"] == ["instance-1", "instance-2", "instance-3"]
    assert sorted(os.listdir(deployment["directory"])) == deployment["instances"]
    plugins.ui.assert_step("Instance 3 started", status="ok")


def test_status_reports_the_instances_under_their_directory(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    plugins.ui.clear()
    report = plugins.platform_status("example", config, deployment=deployment)
    assert report.health is Health.READY
    assert report.health_message == "All 4 resources are reporting READY"
    directory, *instances = report.resources
    assert [instance.parent_resource_id for instance in instances] == [directory.id] * 3
    assert {resource.platform for resource in report.resources} == {"example"}
    plugins.ui.assert_step("3 of 3 instances are ready", status="ok")
    plugins.ui.assert_no_errors()


def test_a_lost_instance_makes_the_deployment_partial(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    os.remove(os.path.join(deployment["directory"], "instance-2"))
    report = plugins.platform_status("example", config, deployment=deployment)
    assert report.health is Health.PARTIAL
    assert report.health_message == "1 directory READY, 2 instance READY, 1 instance MISSING"
    plugins.ui.assert_step("2 of 3 instances are ready", status="warning")


def test_the_worst_policy_names_the_lost_instance(
    plugins: PluginHarness, config: dict[str, Any]
) -> None:
    deployment = plugins.platform_deploy("example", config)
    os.remove(os.path.join(deployment["directory"], "instance-2"))
    report = plugins.platform_status("example", config, deployment=deployment, policy="worst")
    assert report.health is Health.MISSING
    assert report.health_message == "MISSING: instance-2 (the instance's file is gone)"


def test_a_config_that_does_not_fit_is_refused_before_anything_runs(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="instances"):
        plugins.platform_deploy("example", {"directory": str(tmp_path), "instances": 0})
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
    assert not os.path.exists(deployment["directory"])


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
