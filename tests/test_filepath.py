"""The builtin ``filepath`` plugin: the seed's example, loaded through its entry point."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from builtin_hooks import check_status, run_hook

from waypoint_hooks import (
    CategoryDisplayHint,
    Health,
    PluginManager,
    StatusReport,
    terminal,
)
from waypoint_hooks.terminal import RecordingUI


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    # Autoload off: the builtin comes through this project's own entry point all the same.
    loaded = PluginManager.load(autoload=False)
    assert loaded.get("filepath").source == "builtin"
    return loaded


def component(
    manager: PluginManager, hook: str, ui: terminal.UI | None = None, **values: Any
) -> Any:
    return run_hook(manager, "filepath", hook, ui, 10, **values)


def status(manager: PluginManager, kind: str, ui: RecordingUI, **values: Any) -> StatusReport:
    config = values.pop("config", {})
    return check_status(manager, "filepath", kind, config, values.pop("deployment"), ui, **values)


def deploy(manager: PluginManager, directory: Path) -> dict[str, Any]:
    config = {"directory": str(directory), "content": "hello"}
    return component(manager, "platform_deploy_func", config=config)


def test_deploy_writes_the_file_and_returns_its_path(
    manager: PluginManager, tmp_path: Path
) -> None:
    deployment = deploy(manager, tmp_path / "out")
    assert deployment == {"path": str(tmp_path / "out" / "web-job1.txt")}
    assert Path(deployment["path"]).read_text() == "hello"


def test_status_of_a_present_file_is_ready_with_the_seeds_steps(
    manager: PluginManager, tmp_path: Path
) -> None:
    ui = RecordingUI()
    report = status(manager, "deployment", ui, deployment=deploy(manager, tmp_path))
    assert (report.health, report.external, report.resources) == (Health.READY, False, [])
    assert ui.lines() == ["ok: File is ready"]


def test_status_of_a_missing_file_is_missing_with_an_error_step(
    manager: PluginManager, tmp_path: Path
) -> None:
    deployment = deploy(manager, tmp_path)
    os.remove(deployment["path"])
    ui = RecordingUI()
    report = status(manager, "deployment", ui, deployment=deployment)
    assert report.health is Health.MISSING
    assert ui.lines() == ["error: Checking the status of the file...", "error: File is missing"]


def test_a_bad_platform_config_is_a_config_error(manager: PluginManager) -> None:
    with pytest.raises(ValueError, match=r"'web'.*'filepath'.*directory: expected str"):
        manager.structure_config("web", "filepath", {"directory": 3}, ["platform_deploy_func"])


def test_release_links_the_deployment_and_reports_ready(
    manager: PluginManager, tmp_path: Path
) -> None:
    deployment = deploy(manager, tmp_path)
    release = component(manager, "release_manager_release_func", config={}, deployment=deployment)
    link = tmp_path / "web"
    assert release == {"link": str(link), "target": deployment["path"]}
    assert os.readlink(link) == deployment["path"]
    report = status(manager, "release", RecordingUI(), deployment=deployment, release=release)
    assert report.health is Health.READY
    (resource,) = report.resources
    assert (resource.name, resource.type, resource.platform) == (str(link), "symlink", "filepath")
    assert resource.category_display_hint is CategoryDisplayHint.ROUTER


def test_a_link_repointed_elsewhere_is_down_and_a_removed_one_missing(
    manager: PluginManager, tmp_path: Path
) -> None:
    first = deploy(manager, tmp_path)
    release = component(manager, "release_manager_release_func", config={}, deployment=first)
    other = tmp_path / "other.txt"
    other.write_text("")
    os.remove(release["link"])
    os.symlink(other, release["link"])
    down = status(manager, "release", RecordingUI(), deployment=first, release=release)
    assert down.health is Health.DOWN
    assert str(other) in down.resources[0].health_message
    os.remove(release["link"])
    missing = status(manager, "release", RecordingUI(), deployment=first, release=release)
    assert missing.health is Health.MISSING


def test_destroy_removes_the_link_and_the_file_and_tolerates_their_absence(
    manager: PluginManager, tmp_path: Path
) -> None:
    deployment = deploy(manager, tmp_path / "out")
    release = component(manager, "release_manager_release_func", config={}, deployment=deployment)
    component(manager, "release_manager_destroy_func", config={}, release=release)
    component(manager, "platform_destroy_func", config={}, deployment=deployment)
    assert list(tmp_path.iterdir()) == []  # the directory too, empty once they are gone
    ui = RecordingUI()
    component(manager, "platform_destroy_func", ui, config={}, deployment=deployment)
    assert ui.lines() == [f"{deployment['path']} was already gone"]
