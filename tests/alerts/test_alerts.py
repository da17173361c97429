"""Alerts end to end (DESIGN §15): a scripted series of healths, the real CLI, the real state,
and a real loopback HTTP receiver (or a notifier held at a gate). Deliveries are counted and
ordered, never timed: commands are ordered by files and conditions with deadlines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers_http import LoopbackServer, serving
from hostile.harness import GUARD, App, Processes, Project, kill_group, wait_until

from waypoint_hooks.alerts.delivery import FIRST_RETRY, LONGEST_RETRY, Courier, backoff
from waypoint_hooks.config.document import load_config
from waypoint_hooks.host import PluginManager
from waypoint_hooks.state.store import State

pytestmark = pytest.mark.usefixtures("hostile_plugins")

SECRET = "Bearer s3cr3t-T0KEN-never-shown"


class Alerted:
    """A one-app project whose deployment's health follows ``script``, and its notify blocks."""

    def __init__(self, root: Path, *healths: str) -> None:
        self.script = root / "script"
        self.script.write_text("\n".join(healths) + "\n")
        self.gate = root / "gate"
        self.gate.mkdir()
        self.ledger = root / "ledger"
        app = App("web", "wh_script", {"script": str(self.script)})
        self.project = Project(root / "project", [app], plugins=("wh_script", "wh_notifier"))

    def configure(self, notify: str, status: str = "") -> None:
        self.project.write()
        with self.project.config.open("a", encoding="utf-8") as file:
            file.write(f"{status}\n{notify}")

    def run(self, *args: str) -> Any:
        result = self.project.invoke(*args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def checks(self) -> int:
        checked = Path(f"{self.script}.checks")
        return len(checked.read_text().splitlines()) if checked.exists() else 0

    def alerts(self) -> list[dict[str, Any]]:
        document = json.loads(self.run("alerts", "--json").stdout)
        alerts: list[dict[str, Any]] = document["alerts"]
        return alerts


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with serving() as server:
        yield server


def webhook(server: LoopbackServer, path: str, **settings: str) -> str:
    extra = "".join(f"    {key} = {value}\n" for key, value in settings.items())
    return f'  use "webhook" {{\n    url = "{server.url(path)}"\n{extra}  }}\n'


def posted(server: LoopbackServer) -> list[dict[str, Any]]:
    return [json.loads(body) for _, _, body in server.posts]


# --- thresholds on a real receiver -------------------------------------------------------------


def test_a_scripted_health_series_reaches_the_receiver_as_exactly_the_expected_alerts(
    tmp_path: Path, receiver: LoopbackServer
) -> None:
    series = ["READY", "DOWN", "READY", "DOWN", "DOWN", "DOWN", "READY", "DOWN", "READY", "READY"]
    alerted = Alerted(tmp_path, *series)
    alerted.configure(
        'notify "oncall" {\n'
        + webhook(receiver, "/hook")
        + "  failure_threshold = 2\n  success_threshold = 2\n  send_on_resolved = true\n}\n"
    )
    alerted.run("deploy")
    for _ in series[1:]:
        alerted.run("status")
    assert alerted.checks() == len(series)
    firing, resolved = posted(receiver)
    # previous_health is the health before the trouble began, not the report before: with a
    # failure threshold of 2, that report was DOWN too.
    assert (firing["state"], firing["health"], firing["previous_health"]) == (
        "firing",
        "DOWN",
        "READY",
    )
    assert firing["message"] == "web deployment is DOWN: check 5: DOWN"
    assert (resolved["state"], resolved["health"], resolved["previous_health"]) == (
        "resolved",
        "READY",
        "DOWN",
    )
    # Since the first failure of the run that fired (the 4th check), in both.
    listed = alerted.alerts()
    assert [item["state"] for item in listed] == ["resolved", "firing"]
    assert firing["since"] == resolved["since"]
    assert all(item["delivery"]["delivered"] is not None for item in listed)
    assert [len(item["delivery"]["attempts"]) for item in listed] == [1, 1]
    assert {path for path, _, _ in receiver.posts} == {"/hook"}


def test_without_a_notify_block_nothing_is_raised(tmp_path: Path) -> None:
    alerted = Alerted(tmp_path, "DOWN")
    alerted.configure("")
    alerted.run("deploy")
    assert alerted.alerts() == []


def test_a_dependent_s_alert_waits_while_its_dependency_s_fires(
    tmp_path: Path, receiver: LoopbackServer
) -> None:
    alerted = Alerted(tmp_path, "DOWN")
    db_script = tmp_path / "db-script"
    db_script.write_text("DOWN\nDOWN\nREADY\n")
    project = alerted.project
    project.apps = [
        App("web", "wh_script", {"script": str(alerted.script)}),
        App("db", "wh_script", {"script": str(db_script)}),
    ]
    alerted.configure('notify "oncall" {\n' + webhook(receiver, "/hook") + "}\n")
    text = project.config.read_text().replace(
        'app "web" {\n', 'app "web" {\n  depends_on = ["db"]\n'
    )
    project.config.write_text(text)
    alerted.run("deploy")
    alerted.run("status")
    assert [(a["app"], a["state"]) for a in posted(receiver)] == [("db", "firing")]
    alerted.run("status")  # db is READY again: web, still DOWN, fires now
    assert [(a["app"], a["state"]) for a in posted(receiver)] == [
        ("db", "firing"),
        ("web", "firing"),
    ]


# --- at least once ---------------------------------------------------------------------------


def test_an_alert_is_delivered_by_the_next_command_after_a_sigkill_before_its_delivery(
    tmp_path: Path, processes: Processes
) -> None:
    alerted = Alerted(tmp_path, "READY", "DOWN")
    notify = 'notify "oncall" {{\n  use "wh_notifier" {{\n    ledger = "{}"\n{}  }}\n}}\n'
    held = f'    gate = "{alerted.gate}"\n    hold = true\n'
    alerted.configure(notify.format(alerted.ledger, held))
    alerted.run("deploy")
    project = alerted.project
    checking = processes.start(project.args("status"), cwd=project.root)
    wait_until(lambda: list(alerted.gate.glob("send.*.waiting")), "the delivery at the gate")
    # The report and its alert were committed before the delivery began.
    assert project.query("SELECT state, delivered FROM alerts") == [("firing", None)]
    kill_group(checking)
    checking.communicate(timeout=GUARD)
    assert not alerted.ledger.exists()

    alerted.configure(notify.format(alerted.ledger, ""))
    alerted.run("status")
    (line,) = alerted.ledger.read_text().splitlines()
    assert json.loads(line)["state"] == "firing"
    (listed,) = alerted.alerts()
    assert listed["delivery"]["delivered"] is not None
    # The attempt the killed command began was never recorded; the one that delivered was.
    assert len(Path(f"{alerted.ledger}.attempts").read_text().splitlines()) == 2
    assert [a["error"] for a in listed["delivery"]["attempts"]] == [None]


# --- retries ---------------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_retry_up_to_the_longest_with_jitter() -> None:
    assert [backoff(n, lambda: 1.0) for n in (1, 2, 3)] == [
        FIRST_RETRY,
        2 * FIRST_RETRY,
        4 * FIRST_RETRY,
    ]
    assert backoff(1, lambda: 0.0) == FIRST_RETRY / 2
    assert backoff(100, lambda: 1.0) == LONGEST_RETRY
    assert backoff(10_000, lambda: 0.0) == LONGEST_RETRY / 2


class Clock:
    """The time a courier is told it is: it moves only when the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("path", "timeout", "error"),
    [
        ("/flaky", "10s", "the webhook answered 500 Internal Server Error"),
        ("/hang", "200ms", "no answer within 200ms"),
    ],
    ids=["500", "timeout"],
)
def test_a_failed_attempt_is_recorded_and_tried_again_with_backoff(
    tmp_path: Path, receiver: LoopbackServer, path: str, timeout: str, error: str
) -> None:
    receiver.failures = 2
    alerted = Alerted(tmp_path, "DOWN")
    settings = {"timeout": f'"{timeout}"'}
    alerted.configure('notify "oncall" {\n' + webhook(receiver, path, **settings) + "}\n")
    alerted.run("deploy")  # raises the alert; its first attempt fails
    (listed,) = alerted.alerts()
    (first,) = listed["delivery"]["attempts"]
    assert first["error"] == f"plugin 'webhook' notifier_send raised WebhookError: {error}"
    due = parse_time(listed["delivery"]["next_attempt"])
    assert due - parse_time(first["ended"]) <= timedelta(seconds=FIRST_RETRY)
    # Now on a clock the test moves, with the most jitter: each wait is the whole backoff.
    clock = Clock(due - timedelta(microseconds=1))
    with State.open(alerted.project.state) as state:
        project = load_config(alerted.project.config)
        courier = Courier(project, state, PluginManager.load(), clock=clock, random=lambda: 1.0)
        assert asyncio.run(courier.deliver_due()) == 0  # not due yet: no attempt
        clock.now = due
        assert asyncio.run(courier.deliver_due()) == 0  # the second attempt fails
        wait = timedelta(seconds=backoff(2, lambda: 1.0))
        assert wait == timedelta(seconds=2 * FIRST_RETRY)
        clock.now += wait - timedelta(microseconds=1)
        assert asyncio.run(courier.deliver_due()) == 0
        clock.now += timedelta(microseconds=1)
        receiver.released.set()
        assert asyncio.run(courier.deliver_due()) == 1  # the third is delivered
        assert asyncio.run(courier.deliver_due()) == 0
    (listed,) = alerted.alerts()
    attempts = listed["delivery"]["attempts"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["error"] is None for a in attempts] == [False, False, True]
    assert attempts[1]["error"] == first["error"]
    assert listed["delivery"]["delivered"] is not None
    assert listed["delivery"]["next_attempt"] is None
    assert [p for p, _, _ in receiver.posts] == [path] * 3


def test_a_template_that_fails_while_rendering_fails_the_attempt_and_is_tried_again(
    tmp_path: Path, receiver: LoopbackServer
) -> None:
    alerted = Alerted(tmp_path, "DOWN")
    body = '"{{ alert.app }} {{ alert.helth }}"'
    alerted.configure('notify "oncall" {\n' + webhook(receiver, "/hook", body=body) + "}\n")
    alerted.run("deploy")
    (listed,) = alerted.alerts()
    (attempt,) = listed["delivery"]["attempts"]
    assert attempt["error"] == (
        "plugin 'webhook' notifier_send raised TemplateError: the body template, line 1: "
        "'dict object' has no attribute 'helth'"
    )
    assert listed["delivery"]["next_attempt"] is not None
    assert receiver.posts == []


def test_a_receiver_that_never_answers_delays_no_check(
    tmp_path: Path, receiver: LoopbackServer, processes: Processes
) -> None:
    alerted = Alerted(tmp_path, "DOWN")
    alerted.run("deploy")  # before any notify block: its check raises nothing
    alerted.configure(
        'notify "oncall" {\n' + webhook(receiver, "/hang", timeout='"1h"') + "}\n",
        status='status {\n  timeout = "1h"\n}\n',
    )
    project = alerted.project
    watching = processes.start(project.args("status", "--watch", "0.01"), cwd=project.root)
    wait_until(lambda: receiver.posts, "the first delivery")
    before = alerted.checks()
    wait_until(lambda: alerted.checks() >= before + 5, "five more check rounds")
    # All the while, the one delivery was held unanswered, and no other began.
    assert len(receiver.posts) == 1
    assert not receiver.released.is_set()
    kill_group(watching)
    watching.communicate(timeout=GUARD)


# --- secrets ---------------------------------------------------------------------------------


def test_a_secret_header_is_in_no_output_and_not_in_the_state(
    tmp_path: Path, receiver: LoopbackServer
) -> None:
    alerted = Alerted(tmp_path, "DOWN")
    headers = f'{{ Authorization = "{SECRET}" }}'
    alerted.configure('notify "oncall" {\n' + webhook(receiver, "/error", headers=headers) + "}\n")
    outputs = [
        alerted.run("deploy").output,
        alerted.run("status").output,
        alerted.run("status", "--json").output,
        alerted.run("-v", "status").output,
        alerted.run("alerts").output,
        alerted.run("alerts", "--json").output,
        alerted.run("-v", "alerts", "--json").output,
    ]
    # It was sent, and refused: every attempt's error is in the outputs above.
    assert {headers["authorization"] for _, headers, _ in receiver.posts} == {SECRET}
    assert "the webhook answered 500" in outputs[4]
    for output in outputs:
        assert "s3cr3t" not in output
    for file in alerted.project.state.parent.glob("state.db*"):
        assert b"s3cr3t" not in file.read_bytes()


# --- silences --------------------------------------------------------------------------------


def silence_id(result: Any) -> int:
    """The id ``silence`` printed."""
    assert result.exit_code == 0, result.output
    return int(result.stdout.splitlines()[0].rpartition("silence ")[2])


def test_a_firing_alert_under_a_silence_is_listed_as_silenced_and_sent_once_it_is_lifted(
    tmp_path: Path, receiver: LoopbackServer
) -> None:
    alerted = Alerted(tmp_path, "READY", "DOWN", "DOWN", "DOWN", "READY")
    block = webhook(receiver, "/hook")
    alerted.configure(f'notify "oncall" {{\n{block}  send_on_resolved = true\n}}\n')
    alerted.run("deploy")
    quiet = silence_id(alerted.run("silence", "web", "--for", "2h", "--comment", "db move"))
    alerted.run("status")  # DOWN: fires, silenced
    alerted.run("status")  # still DOWN: silenced once a trouble
    assert receiver.posts == []
    (listed,) = alerted.alerts()
    assert (listed["state"], listed["delivery"]["silenced"]) == ("firing", quiet)
    assert listed["delivery"]["next_attempt"] is None
    table = alerted.run("alerts").stdout
    assert f"silenced (silence {quiet}), not sent" in table
    assert alerted.run("unsilence", str(quiet)).exit_code == 0
    alerted.run("status")  # still DOWN: now sent, since the first failure
    alerted.run("status")  # READY: resolved
    assert [(a["state"], a["since"]) for a in posted(receiver)] == [
        ("firing", listed["since"]),
        ("resolved", listed["since"]),
    ]
    assert [item["delivery"]["silenced"] for item in alerted.alerts()] == [None, None, quiet]


def test_the_resolved_of_a_firing_sent_is_sent_under_a_silence(
    tmp_path: Path, receiver: LoopbackServer
) -> None:
    alerted = Alerted(tmp_path, "DOWN", "READY")
    block = webhook(receiver, "/hook")
    alerted.configure(f'notify "oncall" {{\n{block}  send_on_resolved = true\n}}\n')
    alerted.run("deploy")  # DOWN: fires, sent
    silence_id(alerted.run("silence", "web", "--kind", "deployment", "--for", "1h"))
    alerted.run("status")
    assert [a["state"] for a in posted(receiver)] == ["firing", "resolved"]


def test_silences_lists_those_in_force_and_the_commands_refuse_what_they_cannot_do(
    tmp_path: Path,
) -> None:
    alerted = Alerted(tmp_path, "READY")
    alerted.configure("")
    project = alerted.project
    unknown = project.invoke("silence", "nope", "--for", "2h")
    assert unknown.exit_code == 2
    assert "no app 'nope'" in unknown.stderr
    assert "(apps: web)" in unknown.stderr
    assert project.invoke("silence", "web", "--for", "0s").exit_code == 2
    assert project.invoke("silence", "web").exit_code == 2  # --for is needed
    assert project.invoke("silence", "web", "--for", "1h", "--kind", "both").exit_code == 2
    assert project.invoke("silences").stdout.strip() == "no silences in force in workspace default"
    first = silence_id(project.invoke("silence", "web", "--for", "2h", "--comment", "db move"))
    second = silence_id(project.invoke("silence", "web", "--kind", "release", "--for", "30m"))
    document = json.loads(project.invoke("silences", "--json").stdout)
    # The soonest to end first.
    assert [(s["id"], s["kind"], s["comment"]) for s in document["silences"]] == [
        (second, "release", ""),
        (first, None, "db move"),
    ]
    assert document["workspace"] == "default"
    assert "db move" in project.invoke("silences").stdout
    assert (
        json.loads(project.invoke("-w", "staging", "silences", "--json").stdout)["silences"] == []
    )
    missing = project.invoke("unsilence", "999")
    assert missing.exit_code == 2
    assert "no silence 999" in missing.stderr
    # Another workspace's silence is not this one's.
    assert project.invoke("-w", "staging", "unsilence", str(first)).exit_code == 2
    lifted = project.invoke("unsilence", str(first))
    assert lifted.exit_code == 0
    assert "Lifted silence" in lifted.stdout
    again = project.invoke("unsilence", str(first))
    assert (again.exit_code, "already ended" in again.stdout) == (0, True)
    remaining = json.loads(project.invoke("silences", "--json").stdout)["silences"]
    assert [s["id"] for s in remaining] == [second]
