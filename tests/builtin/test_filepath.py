"""The builtin ``filepath`` plugin: the seed's example, loaded through its entry point."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from helpers_checkpoints import make_checkpointing

from waypoint_hooks import CategoryDisplayHint, Health
from waypoint_hooks.testing import PluginHarness


def deploy(plugins: PluginHarness, directory: Path) -> dict[str, Any]:
    config = {"directory": str(directory), "content": "hello"}
    return plugins.platform_deploy("filepath", config)


def release(plugins: PluginHarness, deployment: dict[str, Any]) -> dict[str, Any]:
    return plugins.release_manager_release("filepath", deployment=deployment)


def test_deploy_writes_the_file_and_returns_its_path(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    deployment = deploy(plugins, tmp_path / "out")
    assert deployment == {"path": str(tmp_path / "out" / "web-job1.txt")}
    assert Path(deployment["path"]).read_text() == "hello"


def test_deploy_and_release_checkpoint_what_they_make_as_they_start_making_it(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    deployed: list[dict[str, Any]] = []
    config = {"directory": str(tmp_path), "content": "hello"}
    deployment = make_checkpointing(plugins, "platform_deploy_func", "filepath", config, deployed)
    assert deployed == [deployment]
    released: list[dict[str, Any]] = []
    release = make_checkpointing(
        plugins, "release_manager_release_func", "filepath", {}, released, deployment=deployment
    )
    assert released == [release]


def test_status_of_a_present_file_is_ready_with_the_seeds_steps(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    deployment = deploy(plugins, tmp_path)
    plugins.ui.clear()
    report = plugins.platform_status("filepath", deployment=deployment)
    assert (report.health, report.external, report.resources) == (Health.READY, False, [])
    assert plugins.ui.lines() == ["ok: File is ready"]


def test_status_of_a_missing_file_is_missing_with_an_error_step(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    deployment = deploy(plugins, tmp_path)
    os.remove(deployment["path"])
    plugins.ui.clear()
    report = plugins.platform_status("filepath", deployment=deployment)
    assert report.health is Health.MISSING
    assert plugins.ui.lines() == [
        "error: Checking the status of the file...",
        "error: File is missing",
    ]


def test_a_bad_platform_config_is_a_config_error(plugins: PluginHarness) -> None:
    with pytest.raises(ValueError, match=r"'web'.*'filepath'.*directory: expected str"):
        plugins.platform_deploy("filepath", {"directory": 3})


def test_release_links_the_deployment_and_reports_ready(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    deployment = deploy(plugins, tmp_path)
    released = release(plugins, deployment)
    link = tmp_path / "web"
    assert released == {"link": str(link), "target": deployment["path"]}
    assert os.readlink(link) == deployment["path"]
    report = plugins.release_manager_status("filepath", release=released, deployment=deployment)
    assert report.health is Health.READY
    (resource,) = report.resources
    assert (resource.name, resource.type, resource.platform) == (str(link), "symlink", "filepath")
    assert resource.category_display_hint is CategoryDisplayHint.ROUTER


def test_a_link_repointed_elsewhere_is_down_and_a_removed_one_missing(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    first = deploy(plugins, tmp_path)
    released = release(plugins, first)
    other = tmp_path / "other.txt"
    other.write_text("")
    os.remove(released["link"])
    os.symlink(other, released["link"])
    down = plugins.release_manager_status("filepath", release=released, deployment=first)
    assert down.health is Health.DOWN
    assert str(other) in down.resources[0].health_message
    os.remove(released["link"])
    missing = plugins.release_manager_status("filepath", release=released, deployment=first)
    assert missing.health is Health.MISSING


def test_destroy_removes_the_link_and_the_file_and_tolerates_their_absence(
    plugins: PluginHarness, tmp_path: Path
) -> None:
    deployment = deploy(plugins, tmp_path / "out")
    plugins.release_manager_destroy("filepath", release=release(plugins, deployment))
    plugins.platform_destroy("filepath", deployment=deployment)
    assert list(tmp_path.iterdir()) == []  # the directory too, empty once they are gone
    plugins.ui.clear()
    plugins.platform_destroy("filepath", deployment=deployment)
    assert plugins.ui.lines() == [f"{deployment['path']} was already gone"]
