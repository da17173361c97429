"""Several locations (DESIGN §21), with real ``serve`` processes in each on one PostgreSQL
state: each location checks the app on its interval, one instance of it at a time; reports
carry their location; the app's health, and its alerts, are not READY only when a quorum of
locations agree; a location whose instances died is shown as such."""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers_postgres import Cluster, query
from helpers_state import written
from hostile.harness import Processes
from hostile.serving import Served, Service, fewest_apart

from waypoint_hooks.state.store import State

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
INTERVAL = 1.0
#: The ledger's clocks are two processes' readings, and the plugin's own bookkeeping.
EPSILON = 0.05


# --- the checks of each location, in the state ---------------------------------------------


def test_an_app_with_locations_has_a_check_in_each_that_only_its_instances_take(
    location: Path | str,
) -> None:
    keys = [("web", "deployment"), ("db", "deployment")]
    with State.open(location, leased=False) as state:
        for site in ("eu", "us"):
            written(
                state,
                state.cluster.plan_checks,
                "default",
                keys,
                T0,
                location=site,
                located={"web"},
            )
        written(state, state.cluster.renew, T0, 30.0, serving=True, location="eu")
        assert sorted(query(location, "SELECT app, location FROM checks")) == [
            ("db", ""),
            ("web", "eu"),
            ("web", "us"),
        ]
        # An instance of asia takes what has no location; one of eu, its own too; each holds
        # its location's row alone.
        taken = state.cluster.take_checks("default", T0, location="asia", keys=keys)
        assert [(app, kind) for app, kind, _ in taken.checks] == [("db", "deployment")]
        taken = state.cluster.take_checks("default", T0, location="eu")
        assert [(app, kind) for app, kind, _ in taken.checks] == [("web", "deployment")]
        held = query(location, "SELECT app, location FROM checks WHERE holder IS NOT NULL")
        assert sorted(held) == [("db", ""), ("web", "eu")]
        assert state.cluster.locations_alive(T0) == {"eu"}
        (instance,) = state.cluster.instances(T0, "default")
        assert instance.location == "eu"


@pytest.fixture
def sited(postgres: Cluster, tmp_path: Path, processes: Processes) -> Served:
    """A project on PostgreSQL whose app ``web`` is checked from eu and us, with quorum 2 and
    a notify block; each location reads its health from ``health-LOCATION``."""
    served = Served(tmp_path, processes)
    served.project.state_url = served.project.location = postgres.database()
    served.project.plugins = ("wh_served", "wh_notifier")
    served.configure(
        {"web": {"health_file": str(tmp_path / "health-{site}")}},
        interval=f"{INTERVAL:g}s",
        locations=["eu", "us"],
        quorum=2,
    )
    with served.project.config.open("a", encoding="utf-8") as config:
        config.write(
            'notify "oncall" {\n'
            '  use "wh_notifier" {\n'
            f'    ledger = "{tmp_path / "sent"}"\n'
            "  }\n"
            "}\n"
        )
    served.up()
    return served


def serve_in(served: Served, location: str) -> Service:
    return served.serve("--location", location, "--lease", "2s", env={"WH_SERVED_SITE": location})


def reports_from(served: Served, location: str) -> int:
    ((count,),) = served.project.query(
        "SELECT count(*) FROM reports JOIN targets ON targets.key = reports.target"
        " WHERE location = ? AND kind = 'deployment'",
        (location,),
    )
    return int(count)


def fired(served: Served) -> Counter[tuple[str, str]]:
    rows = served.project.query("SELECT kind, state FROM alerts")
    return Counter((kind, state) for kind, state in rows)


def settled(service: Service, served: Served, rounds: int) -> None:
    """Each location checks ``rounds`` more times: what its reports raise is stored."""
    start = {site: reports_from(served, site) for site in ("eu", "us")}
    service.wait_for(
        lambda: all(reports_from(served, site) >= start[site] + rounds for site in start),
        f"{rounds} more checks from each location",
    )


def web(service: Service) -> dict[str, Any]:
    (app,) = service.get("/api/status").json()["apps"]
    assert isinstance(app, dict)
    return app


def both_reported(service: Service) -> bool:
    sites = {item["location"]: item for item in web(service)["locations"]}
    return all(sites[name][kind] for name in ("eu", "us") for kind in ("deployment", "release"))


def test_one_location_down_is_ready_and_a_quorum_down_fires_once(
    sited: Served, tmp_path: Path
) -> None:
    (tmp_path / "health-eu").write_text("DOWN")
    eu, us = serve_in(sited, "eu"), serve_in(sited, "us")
    us.wait_for(lambda: both_reported(us), "a report from each location")
    settled(us, sited, 3)
    app = web(us)
    assert app["quorum"] == 2
    assert app["combined"] == {"deployment": "READY", "release": "READY"}
    sites = {item["location"]: item for item in app["locations"]}
    assert [sites["eu"]["alive"], sites["us"]["alive"]] == [True, True]
    assert sites["eu"]["deployment"]["health"] == "DOWN"
    assert sites["us"]["deployment"]["health"] == "READY"
    assert fired(sited) == Counter()
    # Reports carry their location: in history, and each instance's metrics.
    history = us.get("/api/apps/web/history?limit=50").json()["reports"]
    # (Those of up, made from no location, have none.)
    assert {item.get("location") for item in history} - {None} == {"eu", "us"}
    assert {r["report"]["health"] for r in history if r.get("location") == "eu"} == {"DOWN"}
    samples = eu.metrics()["waypoint_hooks_target_health"].samples
    assert {(s.labels["location"], s.labels["health"]) for s in samples if s.value == 1} == {
        ("eu", "DOWN")
    }

    (tmp_path / "health-us").write_text("DOWN")
    eu.wait_for(lambda: web(eu)["combined"]["deployment"] == "DOWN", "both locations DOWN")
    eu.wait_for(lambda: fired(sited)[("release", "firing")] == 1, "the release's alert")
    settled(eu, sited, 3)
    # One alert a target, however many locations and instances saw it go DOWN.
    assert fired(sited) == Counter({("deployment", "firing"): 1, ("release", "firing"): 1})
    ((text,),) = sited.project.query("SELECT alert FROM alerts WHERE kind = 'deployment'")
    message = json.loads(text)["report"]["health_message"]
    assert message == "DOWN: 2 of 2 locations not READY (quorum 2): eu DOWN, us DOWN"
    for service in (eu, us):
        done = service.stop()
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr


def test_a_check_from_no_location_is_stored_and_shown_and_moves_nothing(
    sited: Served, tmp_path: Path
) -> None:
    """status checks from where it runs, none of the app's locations: one place's view, which
    cannot tell "down" from "unreachable from here". Its report is stored and shown, and
    raises no alert; status says what the locations agree on, and that."""
    (tmp_path / "health-").write_text("DOWN")  # what status, of no location, sees

    def status(*options: str) -> subprocess.CompletedProcess[str]:
        done = sited.processes.run(sited.project.args("status", *options), cwd=sited.project.root)
        assert done.returncode == 1, done.stderr  # what it checked is DOWN
        assert "Traceback" not in done.stderr
        return done

    # Before any location reported, and with no instance in either.
    note = re.search(r"^web: its health and alerts are .*$", status().stdout, re.MULTILINE)
    assert note is not None
    assert note.group(0) == (
        "web: its health and alerts are those its locations agree on (2 of eu, us): no location "
        "has reported yet; no instance alive in eu, us; a report made from none of them "
        "(status's, or from outside) raises no alert"
    )

    eu, us = serve_in(sited, "eu"), serve_in(sited, "us")
    us.wait_for(lambda: both_reported(us), "a report from each location")
    assert (
        "web: its health and alerts are those its locations agree on (2 of eu, us): deployment "
        "READY, release READY; a report made from none of them (status's, or from outside) "
        "raises no alert"
    ) in status().stdout
    (app,) = json.loads(status("--json").stdout)["apps"]
    assert app["deployment"]["report"]["health"] == "DOWN"  # the check status made
    assert app["quorum"] == 2
    assert app["combined"] == {"deployment": "READY", "release": "READY"}
    assert [(item["location"], item["alive"]) for item in app["locations"]] == [
        ("eu", True),
        ("us", True),
    ]
    # Stored, of no location, and shown with the others...
    down = sited.project.query(
        "SELECT kind FROM reports JOIN targets ON targets.key = reports.target"
        " WHERE location = '' AND health = 'DOWN'"
    )
    assert Counter(kind for (kind,) in down) == Counter({"deployment": 3, "release": 3})
    history = us.get("/api/apps/web/history?limit=100").json()["reports"]
    assert sum(1 for item in history if item["report"]["health"] == "DOWN") == 6
    # A report from outside is made from none either, whichever instance takes it: one
    # pushed to eu's is not eu's view. Its answer says what the locations agree on.
    down = json.dumps({"health": "DOWN", "health_message": "disk full"})
    answer = eu.post("/api/apps/web/reports?kind=release", {}, down.encode())
    assert answer.status == 201, answer.text
    assert answer.json()["combined"] == {"deployment": "READY", "release": "READY"}
    assert "location" not in answer.json()  # stored of none
    (tmp_path / "pushed.json").write_text(down)
    done = sited.processes.run(
        sited.project.args("report", "web", str(tmp_path / "pushed.json")), cwd=sited.project.root
    )
    assert done.returncode == 0, done.stderr
    assert "(status's, or from outside) raises no alert" in done.stdout.splitlines()[-1]
    outside = sited.project.query(
        "SELECT location FROM reports WHERE report LIKE ?", ("%disk full%",)
    )
    assert outside == [("",), ("",)]
    # ...and raising nothing: with failure_threshold 1, a DOWN fed to the alerts fires at once.
    settled(us, sited, 1)
    assert fired(sited) == Counter()
    assert web(us)["combined"] == {"deployment": "READY", "release": "READY"}
    for service in (eu, us):
        assert service.stop().returncode == 0


def test_an_instance_of_a_location_killed_is_taken_over_by_another_of_it(
    sited: Served,
) -> None:
    first, second, us = serve_in(sited, "eu"), serve_in(sited, "eu"), serve_in(sited, "us")
    eu = {first.process.pid, second.process.pid}

    def by(pids: set[int], after: float) -> int:
        return sum(pid in pids and start > after for start, _, pid in sited.checks("web"))

    first.wait_for(lambda: by(eu, 0.0) >= 3 and by({us.process.pid}, 0.0) >= 3, "checks")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    killed = max(start for start, _, _ in sited.checks("web"))
    second.wait_for(lambda: by({second.process.pid}, killed) >= 3, "the other eu instance")

    checks = sited.checks("web")
    for pids in (eu, {us.process.pid}):
        found = [span for span in checks if span[2] in pids]
        # Within a location, one check at a time, once an interval...
        for (_, ended, _), (started, _, _) in itertools.pairwise(found):
            assert started >= ended - EPSILON, found
        gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(found)]
        assert min(gaps) >= fewest_apart(INTERVAL), gaps
    # ...while each location checks it: two checks an interval between them.
    assert by({us.process.pid}, killed) >= 1

    # With no eu instance left, the page's document says so, not READY from there.
    second.stop()
    us.wait_for(
        lambda: [item["alive"] for item in web(us)["locations"]] == [False, True],
        "eu without an instance",
    )
    listed = us.get("/api/cluster").json()["instances"]
    assert {item["location"] for item in listed if item["alive"]} == {"us"}
    # The page shows both locations, and which has no instance left.
    for page in (us.get("/").text, us.get("/apps/web").text):
        lines = re.findall(r'<p class="location">([^<]*)</p>', page)
        assert lines[0].startswith("Checked from 2 locations")
        assert [line.split(":")[0] for line in lines[1:]] == ["from eu", "from us"]
        assert lines[1].endswith("no instance there is alive")
        assert not lines[2].endswith("no instance there is alive")
    assert us.stop().returncode == 0


def test_two_instances_in_each_location_check_each_app_once_an_interval_from_each(
    postgres: Cluster, tmp_path: Path, processes: Processes
) -> None:
    """Each location's instances share its checks, not make them each: twelve apps, two
    instances in each location. (B9 with locations once counted four times the checks due;
    its window was wrong, not the checks, and this holds that.)"""
    served = Served(tmp_path, processes)
    served.project.state_url = served.project.location = postgres.database()
    apps = [f"app{index}" for index in range(12)]
    served.configure({app: {} for app in apps}, interval=f"{INTERVAL:g}s", locations=["eu", "us"])
    served.up()
    services = {site: [serve_in(served, site), serve_in(served, site)] for site in ("eu", "us")}
    pids = {site: {s.process.pid for s in both} for site, both in services.items()}

    def checks(app: str, site: str) -> list[tuple[float, float, int]]:
        return [span for span in served.checks(app) if span[2] in pids[site]]

    services["eu"][0].wait_for(
        lambda: all(len(checks(app, site)) >= 5 for app in apps for site in pids),
        "five checks of each app from each location",
    )
    for both in services.values():
        for service in both:
            assert service.stop().returncode == 0
    for app in apps:
        for site in pids:
            found = checks(app, site)
            # One check at a time from a location, and one an interval: never two made by
            # both of its instances, or twice by one.
            for (_, ended, _), (started, _, _) in itertools.pairwise(found):
                assert started >= ended - EPSILON, (app, site, found)
            gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(found)]
            # From the second on: the first checks start as one batch, each due an interval
            # after the batch started, while the plugin's start-up held some of them back.
            assert min(gaps[1:]) >= fewest_apart(INTERVAL), (app, site, gaps)


def test_a_location_needs_a_postgresql_state(tmp_path: Path, processes: Processes) -> None:
    served = Served(tmp_path, processes)
    served.configure({"web": {}})
    done = processes.run(
        served.project.args("serve", "--port", "0", "--location", "eu"), cwd=served.project.root
    )
    assert done.returncode == 2
    assert "serve --location eu: a location is where one of several instances on a PostgreSQL" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr

    served.configure({"web": {}}, locations=["eu", "us"])
    # Every command that checks refuses it, status as serve: one instance on a file cannot
    # check from several places.
    for command in (("serve", "--port", "0"), ("status",), ("up",)):
        done = processes.run(served.project.args(*command), cwd=served.project.root)
        assert done.returncode == 2, command
        assert 'app "web": locations (eu, us) are checked by serve instances' in done.stderr
        assert "Traceback" not in done.stderr


def test_a_location_is_a_name(sited: Served) -> None:
    done = sited.processes.run(
        sited.project.args("serve", "--port", "0", "--location", "eu west"),
        cwd=sited.project.root,
    )
    assert done.returncode == 2
    assert "--location must be 1 to 63 letters" in done.stderr
