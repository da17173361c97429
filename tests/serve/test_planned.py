"""What ``serve`` plans to check (issue 31): an app's release only where there can be one — a
release block in the config, or a live release in the state — so that apps without one cost
no turn of the schedule every interval."""

from __future__ import annotations

import pytest
from hostile.harness import App
from hostile.serving import Served

pytestmark = pytest.mark.usefixtures("hostile_plugins")


def _planned(served: Served) -> set[tuple[str, str]]:
    return {(app, kind) for app, kind in served.project.query("SELECT app, kind FROM checks")}


def test_an_app_that_cannot_be_released_has_no_release_check(served: Served) -> None:
    served.configure({"both": {}})
    served.project.apps.append(App("solo", "wh_served", {"ledger": str(served.ledger)}))
    served.project.write()
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    assert _planned(served) == {("both", "deployment"), ("both", "release"), ("solo", "deployment")}
    assert len(served.checks("solo")) == 1


def test_a_release_left_by_a_removed_release_block_is_still_checked(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    # The release block taken out: what it released is live still, and status checks it.
    (app,) = served.project.apps
    app.release = None
    served.project.write()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    assert _planned(served) == {("web", "deployment"), ("web", "release")}
    # Checked with no settings (its config names no release manager now), and counted.
    samples = service.metrics()["waypoint_hooks_check_duration_seconds"].samples
    counted = {s.labels["kind"]: s.value for s in samples if s.name.endswith("_count")}
    assert counted == {"deployment": 1, "release": 1}
