"""The status service (DESIGN §14), as a user runs it: a real ``waypoint-hooks serve`` on a
free loopback port, asked over HTTP, its metrics read by prometheus-client's own parser,
stopped by a signal. The plugin (``tests/hostile/wh_served.py``) writes when each check
started and ended, so the schedule is judged from what happened, not from sleeps."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers_state import store_reports
from hostile.serving import Served, Service, fewest_apart

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.state.store import State

pytestmark = pytest.mark.usefixtures("hostile_plugins")

TOKEN = "s3cret-token"


def _cli_json(served: Served, *args: str) -> Any:
    result = served.project.invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


# --- the JSON API ---------------------------------------------------------------------------


def test_api_status_is_the_document_of_status_json(served: Served) -> None:
    served.configure({"web": {"resources": True}, "db": {}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    answer = service.get("/api/status")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == _cli_json(served, "status", "--cached", "--json")
    assert [app["app"] for app in answer.json()["apps"]] == ["web", "db"]


def test_api_history_is_the_document_of_history_json(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    answer = service.get("/api/apps/web/history?limit=3")
    assert answer.status == 200
    assert answer.json() == _cli_json(served, "history", "web", "--json", "--limit", "3")
    assert len(answer.json()["reports"]) == 3


def test_api_history_without_a_limit_gives_the_100_newest_reports(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    with State.open(served.project.state) as state:
        record = state.records.latest("deployment", "web", "default")
        assert record is not None
        report = finalize(StatusReport(health=Health.READY), "wh_served")
        store_reports(state, [(record, report)] * 120)
    reports = served.serve().get("/api/apps/web/history").json()["reports"]
    assert len(reports) == 100


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/api/apps/nope/history", 404, "no app 'nope'"),
        ("/api/apps/web/history?limit=0", 400, "limit must be a whole number"),
        ("/api/apps/web/history?limit=many", 400, "got 'many'"),
        ("/api/alerts?limit=0", 400, "limit must be a whole number"),
        # Each of these was a 500: int() of a digit that is not ASCII, or of more than 4,300
        # digits, raises; a number past 64 bits overflowed the database's LIMIT.
        pytest.param("/api/apps/web/history?limit=%C2%B2", 400, "got '²'", id="not-ascii"),
        pytest.param(
            "/api/apps/web/history?limit=" + "9" * 5000,
            400,
            "limit must be a whole number",
            id="5000-digits",
        ),
        pytest.param(
            "/api/apps/web/history?limit=99999999999999999999",
            400,
            "from 1 to 1000",
            id="past-64-bits",
        ),
        pytest.param("/api/alerts?limit=1001", 400, "from 1 to 1000", id="past-the-cap"),
    ],
)
def test_api_refuses_what_it_cannot_answer(
    served: Served, path: str, status: int, says: str
) -> None:
    served.configure({"web": {}})
    served.up()
    answer = served.serve().get(path)
    assert answer.status == status
    assert says in answer.text


def test_api_history_takes_a_limit_up_to_the_cap(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    assert service.get("/api/apps/web/history?limit=1000").status == 200
    assert service.get("/api/alerts?limit=1000").status == 200


def test_post_check_checks_the_app_now_and_answers_its_reports(served: Served) -> None:
    served.configure({"web": {}, "db": {}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    before = len(served.checks("web")), len(served.checks("db"))
    answer = service.post("/api/apps/web/check")
    assert answer.status == 200
    document = answer.json()
    assert [app["app"] for app in document["apps"]] == ["web"]
    # Answered once the check was made and stored: it is the latest report. Compared with
    # web's part of every app's document: `status web --json` adds web's versions.
    every = _cli_json(served, "status", "--cached", "--json")
    assert document == {**every, "apps": [app for app in every["apps"] if app["app"] == "web"]}
    assert (len(served.checks("web")), len(served.checks("db"))) == (before[0] + 1, before[1])


def test_post_check_of_an_unknown_app_is_404(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    assert served.serve().post("/api/apps/nope/check").status == 404


def test_a_host_that_does_not_name_this_machine_is_refused_on_a_loopback_listener(
    served: Served,
) -> None:
    """DNS rebinding: a page of attacker.example, its name pointed at 127.0.0.1, posts with an
    Origin that matches the Host it sends; without a Host check it passed "only from this
    machine"."""
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    # The first round is the scheduler's own; counted after it, any further check is the POST's.
    service.wait_for(service.checked, "the first round of checks")
    port = service.url.rstrip("/").rpartition(":")[2]
    rebound = {"Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"}
    before = len(served.checks("web"))
    answer = service.post("/api/apps/web/check", rebound)
    assert answer.status == 421
    assert "localhost" in answer.json()["error"]
    assert service.request("GET", "/api/status", {"Host": f"attacker.example:{port}"}).status == 421
    assert len(served.checks("web")) == before
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert service.request("GET", "/api/status", {"Host": host}).status == 200


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/apps/nope/history", "application/json"),
        ("/api/apps/nope/check", "application/json"),
        ("/api/nothing", "application/json"),
        ("/apps/nope", "text/html"),
        ("/nothing", "text/html"),
    ],
)
def test_a_404_names_what_was_asked_for_alone(served: Served, path: str, kind: str) -> None:
    """Not the apps served (9 KB of names at 1,500 apps, to anyone who asks); a page for a
    person, JSON for the API."""
    served.configure({"web": {}, "db": {}})
    served.up()
    service = served.serve()
    answer = (service.post if path.endswith("/check") else service.get)(path)
    assert answer.status == 404
    assert answer.headers["content-type"].startswith(kind)
    assert "nope" in answer.text or "nothing" in answer.text
    assert "web" not in answer.text
    assert "db" not in answer.text


def test_post_needs_the_bearer_token_when_there_is_one(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve("--token", TOKEN)
    assert service.post("/api/apps/web/check").status == 401
    wrong = service.post("/api/apps/web/check", {"Authorization": "Bearer guess"})
    assert wrong.status == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    right = service.post("/api/apps/web/check", {"Authorization": f"Bearer {TOKEN}"})
    assert right.status == 200
    # Reading needs no token.
    assert service.get("/api/status").status == 200


def test_the_token_may_come_from_the_environment(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve(env={"WAYPOINT_HOOKS_TOKEN": TOKEN})
    assert service.post("/api/apps/web/check").status == 401
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert service.post("/api/apps/web/check", headers).status == 200


def test_post_without_a_token_is_refused_beyond_loopback(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    # Listening on every address; the test still talks to it over loopback only.
    service = served.serve("--host", "0.0.0.0")
    service.url = service.url.replace("0.0.0.0", "127.0.0.1")
    answer = service.post("/api/apps/web/check")
    assert answer.status == 403
    assert "--token" in answer.json()["error"]
    assert service.get("/api/status").status == 200


def test_post_from_a_page_of_another_site_is_refused(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    answer = service.post("/api/apps/web/check", {"Origin": "http://evil.example"})
    assert answer.status == 403
    assert service.post("/api/apps/web/check", {"Origin": service.url.rstrip("/")}).status == 200


def test_every_route_that_writes_is_behind_the_write_guard() -> None:
    """Who may write is decided by one guard on the routes that write, not by each endpoint:
    a write route added without it would take a POST from a page of any site."""
    from starlette.routing import Route

    from waypoint_hooks.serve.access import Access
    from waypoint_hooks.serve.web import routes

    table = routes(Access(token=None, loopback=True))
    writes = [
        route
        for route in table
        if isinstance(route, Route) and route.methods and route.methods - {"GET", "HEAD"}
    ]
    # The sign-in form is how a token is given: it is behind no token, but refuses another
    # site's POST all the same.
    assert [route.path for route in writes] == [
        "/apps/{app}/check",
        "/sign-in",
        "/api/apps/{app}/check",
        "/api/silences",
        "/api/silences/{id}",
        "/api/apps/{app}/reports",
    ]
    for route in writes:
        # Refused before the endpoint runs: this request names no service to ask.
        assert asyncio.run(_post_from_another_site(route)) == 403, route.path


async def _post_from_another_site(route: Any) -> int:
    sent: list[dict[str, Any]] = []
    (method,) = route.methods - {"HEAD"}
    scope = {
        "type": "http",
        "method": method,
        "scheme": "http",
        "server": ("127.0.0.1", 8470),
        "path": route.path,
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8470"), (b"origin", b"http://evil.example")],
        "path_params": {"app": "web", "id": "1"},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await route.handle(scope, receive, send)
    status: int = sent[0]["status"]
    return status


def test_healthz_is_200_while_the_scheduler_runs(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    answer = served.serve().get("/healthz")
    assert answer.status == 200
    health = answer.json()
    assert health["scheduler"] == "running"
    assert health["config_error"] is None
    assert health["apps"] == 1


# --- metrics --------------------------------------------------------------------------------

METRICS = {
    "waypoint_hooks_target_health",
    "waypoint_hooks_check_duration_seconds",
    "waypoint_hooks_check_failures",  # the parser names a counter without its _total
    "waypoint_hooks_last_check_timestamp_seconds",
    "waypoint_hooks_alerts",
}


def test_metrics_have_exactly_the_pinned_names(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    families = service.metrics()
    assert set(families) == METRICS
    assert families["waypoint_hooks_check_duration_seconds"].type == "histogram"
    assert families["waypoint_hooks_check_failures"].type == "counter"
    # Registered, and zero until alerts exist: no notify block, no series.
    assert families["waypoint_hooks_alerts"].type == "counter"
    assert families["waypoint_hooks_alerts"].samples == []


def test_target_health_is_1_for_the_current_health_and_0_for_the_others(
    served: Served,
) -> None:
    served.configure({"web": {"health_file": str(served.root / "web-health")}, "db": {}})
    (served.root / "web-health").write_text("DOWN")
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    samples = service.metrics()["waypoint_hooks_target_health"].samples
    current = {
        (s.labels["app"], s.labels["kind"]): s.labels["health"] for s in samples if s.value == 1
    }
    assert current == {
        ("web", "deployment"): "DOWN",
        ("web", "release"): "DOWN",
        ("db", "deployment"): "READY",
        ("db", "release"): "READY",
    }
    assert len(samples) == 4 * 6  # every health of every target
    labels = samples[0].labels
    assert set(labels) == {"app", "workspace", "kind", "plugin", "health"}
    assert (labels["workspace"], labels["plugin"]) == ("default", "wh_served")


def test_target_health_follows_a_change_of_health(served: Served) -> None:
    health = served.root / "health"
    health.write_text("READY")
    served.configure({"web": {"health_file": str(health)}}, interval="1s")
    served.up()
    service = served.serve()

    def current() -> set[str]:
        samples = service.metrics()["waypoint_hooks_target_health"].samples
        return {s.labels["health"] for s in samples if s.value == 1}

    service.wait_for(lambda: current() == {"READY"}, "READY in the metrics")
    health.write_text("PARTIAL")
    service.wait_for(lambda: current() == {"PARTIAL"}, "PARTIAL in the metrics")


def test_failures_are_counted_by_reason(served: Served) -> None:
    served.configure(
        {
            "raises": {"fail": "raise"},
            "hangs": {"fail": "hang"},
            "lies": {"fail": "invalid"},
            "fine": {},
        },
        timeout="1s",
    )
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    samples = service.metrics()["waypoint_hooks_check_failures"].samples
    failed = {
        (s.labels["app"], s.labels["kind"], s.labels["reason"])
        for s in samples
        if s.name.endswith("_total") and s.value >= 1
    }
    assert failed == {
        (app, kind, reason)
        for app, reason in (("raises", "raised"), ("hangs", "timeout"), ("lies", "invalid"))
        for kind in ("deployment", "release")
    }


def test_last_check_timestamp_is_the_time_of_the_latest_report(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    samples = service.metrics()["waypoint_hooks_last_check_timestamp_seconds"].samples
    stamps = {s.labels["kind"]: s.value for s in samples}
    for row in service.get("/api/status").json()["apps"]:
        for kind in ("deployment", "release"):
            generated = row[kind]["report"]["generated_time"]
            expected = datetime.fromisoformat(generated.replace("Z", "+00:00")).timestamp()
            assert stamps[kind] == pytest.approx(expected, abs=1e-3)


# --- the schedule ---------------------------------------------------------------------------

INTERVAL = 1.0
JITTER = 0.1
#: How long the schedule tests watch, in the service's own rounds.
WINDOW = 10.0
#: Clock readings from two processes, and the plugin's own bookkeeping.
EPSILON = 0.02


def _run_for(service: Service, served: Served, app: str, seconds: float) -> None:
    """Until ``app``'s checks span ``seconds``, by their own starts (never a sleep)."""

    def spanned() -> bool:
        checks = served.checks(app)
        return len(checks) > 1 and checks[-1][0] - checks[0][0] >= seconds

    service.wait_for(spanned, f"{app}'s checks to span {seconds:g}s")


def _assert_never_concurrent(checks: list[tuple[float, float, int]]) -> None:
    for (_, ended, _), (started, _, _) in itertools.pairwise(checks):
        assert started >= ended - EPSILON, "a check of a target started while one ran"


def _assert_once_per_interval(checks: list[tuple[float, float, int]], interval: float) -> None:
    """No more checks than the rounds their own span holds (+1), never two in one interval,
    and at least half as many: a loaded machine delays a check past its due time, never ahead
    of it. Bounds from the times measured, not from a quiet machine."""
    starts = [started for started, _, _ in checks]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= fewest_apart(interval), gaps
    rounds = (starts[-1] - starts[0]) / interval
    assert rounds / 2 - 1 <= len(gaps) <= rounds / (1 - JITTER) + 1, (rounds, gaps)


def test_each_target_is_checked_once_per_interval_and_never_twice_at_once(
    served: Served,
) -> None:
    served.configure({"web": {}, "db": {}}, interval="1s")
    served.up()
    service = served.serve()
    _run_for(service, served, "web", WINDOW)
    assert service.stop().returncode == 0
    for app in ("web", "db"):
        for kind in ("deployment", "release"):
            checks = served.checks(app, kind)
            _assert_never_concurrent(checks)
            _assert_once_per_interval(checks, INTERVAL)


def test_an_overrunning_check_delays_only_its_own_target(served: Served) -> None:
    served.configure({"slow": {"sleep": 2.5}, "fast": {}}, interval="1s")
    served.up()
    service = served.serve()
    _run_for(service, served, "fast", WINDOW)
    assert service.stop().returncode == 0
    slow = served.checks("slow")
    _assert_never_concurrent(slow)
    # Each slow check took longer than the interval: the next came after it, not beside it.
    assert all(end - start >= 2.5 for start, end, _ in slow)
    assert len(slow) < len(served.checks("fast"))
    _assert_once_per_interval(served.checks("fast"), INTERVAL)
    _assert_never_concurrent(served.checks("fast"))


# --- stopping -------------------------------------------------------------------------------


def test_sigterm_during_checks_stores_them_leaves_no_worker_and_exits_0(
    served: Served,
) -> None:
    served.configure({"web": {}, "iso": {"isolate": True}})
    served.up()
    held = {"gate": str(served.gate)}
    served.configure({"web": held, "iso": {**held, "isolate": True}})
    service = served.serve()
    service.wait_for(lambda: len(list(served.gate.glob("*.waiting"))) == 4, "4 checks held")
    before = served.project.report_count()
    service.process.send_signal(signal.SIGTERM)
    # Stopping: the checks that run may end; none is started, and the stop waits for them.
    service.wait_for(lambda: service.get("/healthz").status == 503, "the scheduler to stop")
    (served.gate / "open").touch()
    done = service.ended()
    assert done.returncode == 0, done.stderr
    assert "Stopped by SIGTERM" in done.stderr
    assert "Traceback" not in done.stderr
    assert served.project.report_count() == before + 4
    workers = {pid for name in ("iso",) for _, _, pid in served.checks(name)}
    assert workers
    assert service.process.pid not in workers  # isolated: a process of its own
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived serve"


def test_a_second_signal_stops_at_once(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    served.configure({"web": {"gate": str(served.gate)}})
    service = served.serve()
    service.wait_for(lambda: len(list(served.gate.glob("*.waiting"))) == 2, "2 checks held")
    service.process.send_signal(signal.SIGINT)
    service.wait_for(lambda: service.get("/healthz").status == 503, "the scheduler to stop")
    done = service.stop(signal.SIGINT)
    assert done.returncode == 130, done.stderr


# --- the config file ------------------------------------------------------------------------


def _apps(service: Service) -> list[str]:
    return [app["app"] for app in service.get("/api/status").json()["apps"]]


def test_a_config_edit_is_picked_up(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    assert _apps(service) == ["web"]
    served.configure({"web": {}, "extra": {}})
    service.wait_for(lambda: _apps(service) == ["web", "extra"], "the new app served")
    row = service.get("/api/status").json()["apps"][1]
    assert row["deployment"] is None  # not deployed yet: nothing to check
    served.configure({"extra": {}})
    service.wait_for(lambda: _apps(service) == ["extra"], "the removed app dropped")


def test_a_bad_edit_keeps_the_running_config_and_is_shown(served: Served) -> None:
    served.configure({"web": {}}, interval="1s")
    served.up()
    service = served.serve()
    good = served.project.config.read_text()
    served.project.config.write_text(good + '\napp "broken" {\n')

    def error() -> Any:
        return service.get("/healthz").json()["config_error"]

    message = service.wait_for(error, "the bad edit reported")
    assert re.search(r"waypoint\.hcl:\d+: syntax error", message)
    assert "the config read before goes on running" in service.stderr
    # The apps go on being checked with the config that ran.
    counted = len(served.checks("web"))
    service.wait_for(lambda: len(served.checks("web")) > counted + 1, "more checks of web")
    assert _apps(service) == ["web"]
    page = service.get("/").text
    assert "cannot be used" in page
    served.project.config.write_text(good)
    service.wait_for(lambda: error() is None, "the fixed file read again")


def test_serve_says_where_it_listens_and_a_busy_port_is_a_usage_error(
    served: Served,
) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    port = service.url.rsplit(":", 1)[1].strip("/")
    busy = served.processes.run(
        served.project.args("serve", "--port", port), cwd=served.project.root
    )
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_serve_checks_only_the_apps_named(served: Served) -> None:
    served.configure({"web": {}, "db": {}})
    served.up()
    service = Service(served.processes, served.project, "web")
    assert _apps(service) == ["web"]
    assert service.post("/api/apps/db/check").status == 404
    service.wait_for(lambda: served.checks("web", "release"), "web checked")
    assert served.checks("db") == []


def test_the_page_escapes_what_plugins_say(served: Served) -> None:
    message = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    served.configure({"web": {"message": message, "resources": True}})
    served.up()
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")
    answer = service.get("/apps/web")
    assert answer.status == 200
    assert "<img" not in answer.text
    assert "<script>alert" not in answer.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in answer.text
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["serve", "--help"]])
def test_the_command_line_imports_no_part_of_the_service_until_it_serves(
    args: list[str],
) -> None:
    program = (
        "import sys; from waypoint_hooks.cli.commands import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted({'starlette', 'uvicorn', 'prometheus_client', 'jinja2'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_api_alerts_is_the_document_of_alerts_json(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    answer = served.serve().get("/api/alerts")
    assert answer.status == 200
    assert answer.json() == {"project": served.project.name, "workspace": "default", "alerts": []}


def test_the_alerts_metric_counts_what_the_state_counts() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from waypoint_hooks.serve.metrics import Metrics

    counts = {("oncall", "firing"): 3, ("oncall", "resolved"): 2}
    text = Metrics("default", lambda: counts).exposition().decode()
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "waypoint_hooks_alerts"
    ]
    samples = {
        (s.labels["notify"], s.labels["state"]): s.value
        for s in family.samples
        if s.name == "waypoint_hooks_alerts_total"
    }
    assert samples == {("oncall", "firing"): 3.0, ("oncall", "resolved"): 2.0}


def test_a_lease_that_is_no_time_is_a_usage_error(served: Served) -> None:
    served.configure({"web": {}})
    done = served.processes.run(
        served.project.args("serve", "--lease", "0s"), cwd=served.project.root
    )
    assert done.returncode == 2
    assert "--lease" in done.stderr
