"""A deploy or release hook run as the launcher runs it, keeping what it checkpoints as the
state would (the pytest plugin's harness drops checkpoints: a hook run by hand has nowhere to
keep them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from waypoint_hooks.host import HookFailed, HookRequest, Runner
from waypoint_hooks.plugins.directory import working_directory
from waypoint_hooks.testing import PluginHarness


def make_checkpointing(
    harness: PluginHarness,
    hook: str,
    plugin: str,
    config: Mapping[str, Any],
    kept: list[dict[str, Any]],
    **values: Any,
) -> dict[str, Any]:
    """Run ``plugin``'s ``hook`` (``platform_deploy_func`` or ``release_manager_release_func``,
    given ``values`` such as ``deployment``) in ``harness``, appending each checkpoint to
    ``kept`` as it is taken; the value it made, as stored. Raises what the plugin raised."""
    request = HookRequest(
        hook,
        plugin,
        harness.job_info,
        harness.ui.ui,
        config,
        checkpoint=lambda value: kept.append(json.loads(json.dumps(value))),
        **values,
    )
    with working_directory(harness.directory):
        try:
            made = asyncio.run(Runner(harness.manager).make(request))
        except HookFailed as exc:
            raise exc.error from None
    stored: dict[str, Any] = json.loads(json.dumps(made))
    return stored
