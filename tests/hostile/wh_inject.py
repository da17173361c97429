"""A platform and release manager whose every word is hostile to a terminal.

It repeats ``config["text"]`` everywhere a plugin can put text: UI output, step groups and
status lines while deploying, releasing and checking; every field of its resources; the
report's message. With ``fail = "deploy"`` (or ``"release"``, ``"status"``, ``"destroy"``)
that hook raises an exception whose message is the text.
"""

from __future__ import annotations

import json
from typing import Any

from waypoint_hooks import Health, Resource, StatusReport, hookimpl, terminal


def _show(ui: terminal.UI, text: str) -> None:
    ui.output(text)
    ui.output("%s (formatted)", text, style=terminal.WARNING_STYLE)
    group = ui.step_group()
    step = group.add(text)
    step.update("%s (updated)", text)
    step.status(terminal.STATUS_WARN)
    step.done()
    unfinished = group.add(text)
    group.wait()  # aborts it
    assert unfinished.finished
    with ui.status() as status:
        status.update(text)
        status.step(terminal.STATUS_ERROR, text)


def _act(config: dict[str, Any], ui: terminal.UI, hook: str) -> str:
    text: str = config["text"]
    _show(ui, text)
    if config.get("fail") == hook:
        raise ValueError(text)
    return text


def _report(text: str) -> StatusReport:
    parent = Resource(
        name=text,
        type=text,
        id="parent",
        platform=text,
        platform_url=f"https://example.invalid/{text}",
        health=Health.DOWN,
        health_message=text,
        state_json=json.dumps({"text": text}),
    )
    child = Resource(
        name=f"{text} child",
        type=text,
        id="child",
        parent_resource_id="parent",
        health=Health.READY,
        health_message=text,
    )
    return StatusReport(resources=[parent, child], health=Health.DOWN, health_message=text)


@hookimpl
def platform_deploy_func(config: dict[str, Any], ui: terminal.UI) -> dict[str, Any]:
    return {"text": _act(config, ui, "deploy")}


@hookimpl
def platform_status_func(config: dict[str, Any], ui: terminal.UI) -> StatusReport:
    return _report(_act(config, ui, "status"))


@hookimpl
def platform_destroy_func(config: dict[str, Any], ui: terminal.UI) -> None:
    _act(config, ui, "destroy")


@hookimpl
def release_manager_release_func(config: dict[str, Any], ui: terminal.UI) -> dict[str, Any]:
    return {"text": _act(config, ui, "release")}


@hookimpl
def release_manager_status_func(config: dict[str, Any], ui: terminal.UI) -> StatusReport:
    return _report(_act(config, ui, "status"))


@hookimpl
def release_manager_destroy_func(config: dict[str, Any], ui: terminal.UI) -> None:
    _act(config, ui, "destroy")
