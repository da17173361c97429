"""``/metrics`` of a real ``serve`` (issue 31, B8): answered on the event loop from what the
checks observed, the alerts' counts read from the state beside it, so that the alerts other
processes raise are counted too."""

from __future__ import annotations

from datetime import datetime, timezone

from hostile.serving import Served, Service

from waypoint_hooks import Health, StatusReport
from waypoint_hooks.model.alert import Alert
from waypoint_hooks.state.store import State


def _alerts(service: Service) -> dict[tuple[str, str], float]:
    samples = service.metrics()["waypoint_hooks_alerts"].samples
    return {
        (s.labels["notify"], s.labels["state"]): s.value
        for s in samples
        if s.name == "waypoint_hooks_alerts_total"
    }


def _raise(state: State, app: str, target_id: str, which: str) -> None:
    """An alert of ``app``'s deployment put in the outbox, as another process raises it."""
    now = datetime.now(timezone.utc)
    report = StatusReport(health=Health.DOWN, generated_time=now)
    alert = Alert(
        notify="oncall",
        app=app,
        workspace="default",
        kind="deployment",
        target_id=target_id,
        state=which,
        health=Health.DOWN,
        previous_health=Health.READY,
        message=f"{app} deployment is DOWN",
        since=now,
        report=report,
    )
    state.write(lambda tx: state.outbox.raise_alerts(tx, {}, [(alert, None)]))


def test_the_alerts_another_process_raises_are_counted_while_metrics_is_scraped(
    served: Served,
) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    assert _alerts(service) == {}
    ((target_id,),) = served.project.query(
        "SELECT id FROM targets WHERE app = 'web' AND kind = 'deployment'"
    )
    with State.open(served.project.location, leased=False) as state:
        _raise(state, "web", target_id, "firing")
        service.wait_for(lambda: _alerts(service) == {("oncall", "firing"): 1}, "the alert")
        _raise(state, "web", target_id, "resolved")
        service.wait_for(
            lambda: _alerts(service) == {("oncall", "firing"): 1, ("oncall", "resolved"): 1},
            "the second alert",
        )
