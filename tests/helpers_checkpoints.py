"""A deploy hook run as the launcher runs it, keeping what it checkpoints as the state would
(the pytest plugin's harness drops checkpoints: a hook run by hand has nowhere to keep them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from waypoint_hooks import HookFailed, HookRequest, Runner
from waypoint_hooks._context import working_directory
from waypoint_hooks.testing import PluginHarness


def deploy_checkpointing(
    harness: PluginHarness, plugin: str, config: Mapping[str, Any], kept: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run ``plugin``'s deploy in ``harness``, appending each checkpoint to ``kept`` as it is
    taken; the deployment, as stored. Raises what the plugin raised."""
    request = HookRequest(
        "platform_deploy_func",
        plugin,
        harness.job_info,
        harness.ui.ui,
        config,
        checkpoint=lambda value: kept.append(json.loads(json.dumps(value))),
    )
    with working_directory(harness.directory):
        try:
            made = asyncio.run(Runner(harness.manager).make(request))
        except HookFailed as exc:
            raise exc.error from None
    stored: dict[str, Any] = json.loads(json.dumps(made))
    return stored
