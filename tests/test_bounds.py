"""Resource bounds (issue 6, area 5): memory, threads, descriptors, waits and the state's
size stay bounded however long the launcher runs.

``status --watch`` runs the installed console script for many rounds while the test samples
its resident memory, threads, open descriptors and child processes from ``/proc``; a round is
counted when its table (or JSON document) appears on stdout. History retention (``keep`` in
a ``status`` block, ``status --keep N``) bounds the reports stored per target. Every wait on a
plugin ends: a check that hangs (sync, async, ignoring cancellation, in a wrapper, in an
observer) ends the command within its timeout. Run ``pytest tests/test_bounds.py -s`` to see
the figures measured.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hostile import harness
from hostile.harness import App, Processes, Project, parse, report_of

MIB = 1024 * 1024


# The hostile plugin modules on the path, only builtins besides them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("hostile_plugins")


class Watch:
    """A running ``status --watch``: its rounds, counted from its output, and its use of
    the machine, read from ``/proc``."""

    def __init__(self, processes: Processes, project: Project, *args: str) -> None:
        self.json = "--json" in args
        self.process = processes.start(project.args("status", *args), cwd=project.root)
        self.rounds = 0
        self.stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, counted: bool) -> None:
        marker = "{" if self.json else "App "
        for line in stream:
            if counted:
                self.stdout.append(line)
                if line.startswith(marker):
                    self.rounds += 1

    def sample_at(self, rounds: int) -> dict[str, int]:
        """Wait for round ``rounds`` to be shown, then sample the process."""
        deadline = time.monotonic() + harness.GUARD * 2
        while self.rounds < rounds:
            assert self.process.poll() is None, f"--watch ended: {self.process.returncode}"
            assert time.monotonic() < deadline, f"only {self.rounds} rounds shown"
            time.sleep(0.01)
        pid = self.process.pid
        with open(f"/proc/{pid}/status", encoding="ascii") as file:
            fields = dict(line.split(":", 1) for line in file)
        return {
            "round": rounds,
            "rss": int(fields["VmRSS"].split()[0]) * 1024,
            "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "children": len(harness.children(pid)),
        }

    def stop(self) -> str:
        harness.kill_group(self.process)
        self.process.wait(timeout=harness.GUARD)
        for reader in self._readers:
            reader.join(timeout=harness.GUARD)
        return "".join(self.stdout)


def busy_project(root: Path) -> Project:
    # Each round: 8 checks of 200 resources each, aggregated, encoded and stored.
    config = {"resources": 200}
    apps = [
        App(f"app{index}", config=config, release="wh_steady", release_config=config)
        for index in range(4)
    ]
    return Project(root, apps, status={"timeout": "60s"})


def test_status_watch_holds_memory_threads_and_descriptors_flat(
    tmp_path: Path, processes: Processes
) -> None:
    project = busy_project(tmp_path / "project")
    assert project.invoke("up").exit_code == 0
    watch = Watch(processes, project, "--watch", "0.1")
    early, late = watch.sample_at(30), watch.sample_at(150)
    watch.stop()
    growth = late["rss"] - early["rss"]
    print(f"\nstatus --watch 0.1, rounds 30 → 150: {early} → {late}; RSS growth {growth} bytes")
    assert growth < 10 * MIB, (early, late)
    assert late["threads"] <= early["threads"] + 2, (early, late)
    assert late["fds"] <= early["fds"] + 2, (early, late)


def test_status_watch_json_holds_descriptors_flat(tmp_path: Path, processes: Processes) -> None:
    # With --json, descriptor 1 is duplicated and pointed at stderr while plugins run, each
    # round: one descriptor leaked a round would show here.
    project = busy_project(tmp_path / "project")
    assert project.invoke("up").exit_code == 0
    watch = Watch(processes, project, "--json", "--watch", "0.1")
    early, late = watch.sample_at(5), watch.sample_at(25)
    watch.stop()
    print(f"\nstatus --json --watch 0.1, rounds 5 → 25: {early} → {late}")
    assert late["fds"] <= early["fds"] + 2, (early, late)
    assert late["rss"] - early["rss"] < 10 * MIB, (early, late)


@pytest.mark.parametrize(
    ("isolate", "timeout", "rounds"),
    [(None, "100ms", (5, 35)), (True, "1s", (3, 9))],
    ids=["in-process", "isolated"],
)
def test_status_watch_with_a_hung_plugin_holds_threads_and_processes_bounded(
    tmp_path: Path,
    processes: Processes,
    isolate: bool | None,
    timeout: str,
    rounds: tuple[int, int],
) -> None:
    # A sync plugin that never returns cannot be stopped in-process. Checking it again each
    # round must not pile up one stuck thread (or process) per round for ever. (An isolated
    # check starts a Python process: its timeout leaves room for that on a loaded machine.)
    root = tmp_path / "project"
    hung = App(
        "hung", "wh_hostile", {"mode": "hang", "armed": str(root / "armed")}, isolate=isolate
    )
    project = Project(
        root,
        [App("steady"), hung],
        status={"timeout": timeout},
        plugins=("wh_steady", "wh_hostile"),
    )
    up = project.invoke("up")
    assert up.exit_code in (0, 1), up.output
    project.arm()
    watch = Watch(processes, project, "--watch", "0.1")
    early, late = (watch.sample_at(count) for count in rounds)
    watch.stop()
    print(f"\nhung plugin ({'isolated' if isolate else 'in-process'}): {early} → {late}")
    assert late["threads"] <= early["threads"] + 5, (early, late)
    assert late["children"] <= early["children"] + 1, (early, late)
    assert late["rss"] - early["rss"] < 10 * MIB, (early, late)


# --- every wait ends ----------------------------------------------------------------------

HANGS = {
    "sync-sleep": ("wh_hostile", "hang", ()),
    "async-sleep": ("wh_hostile_async", "hang", ()),
    "async-swallows-cancellation": ("wh_hostile_async", "swallow", ()),
    "wrapper-around-a-sync-hook": ("wh_hostile", "ready", ("wh_hung_wrapper",)),
    "wrapper-around-an-async-hook": ("wh_hostile_async", "ready", ("wh_hung_wrapper",)),
    "observer": ("wh_hostile", "ready", ("wh_hung_observer",)),
}


@pytest.mark.parametrize("case", HANGS)
def test_a_hung_check_ends_the_command_within_its_timeout(
    tmp_path: Path, processes: Processes, case: str
) -> None:
    plugin, mode, extra = HANGS[case]
    root = tmp_path / "project"
    project = Project(
        root,
        [App("steady"), App("hung", plugin, {"mode": mode, "armed": str(root / "armed")})],
        status={"timeout": "1s"},
        plugins=("wh_steady", plugin),
    )
    assert project.invoke("up").exit_code == 0
    project.arm()
    project.plugins += extra
    # The guard is generous for a loaded machine; the command itself needs about 1s.
    done = processes.run(project.args("status", "--json"), cwd=root, timeout=30)
    document = parse(done.stdout)
    if case == "observer":  # the reports are READY; only their observer hung
        assert done.returncode == 0, done.stderr
        assert report_of(document, "hung")["health"] == "READY"
        return
    assert done.returncode == 1, done.stderr
    hung = report_of(document, "hung")
    assert hung["health"] == "UNKNOWN"
    assert "timed out after 1s" in hung["health_message"]


def test_the_timeout_option_bounds_a_check_whatever_the_config_says(
    tmp_path: Path, processes: Processes
) -> None:
    root = tmp_path / "project"
    project = Project(
        root,
        [App("hung", "wh_hostile", {"mode": "hang", "armed": str(root / "armed")})],
        status={"timeout": "1h"},
        plugins=("wh_hostile",),
    )
    assert project.invoke("up").exit_code == 0
    project.arm()
    done = processes.run(project.args("status", "--json", "--timeout", "1s"), cwd=root, timeout=30)
    assert done.returncode == 1, done.stderr
    assert "timed out after 1s" in report_of(parse(done.stdout), "hung")["health_message"]


# --- history retention --------------------------------------------------------------------


def kept(project: Project) -> dict[tuple[str, str], list[int]]:
    """The ids of the reports stored for each target, oldest first."""
    rows = project.query(
        "SELECT kind, targets.id, reports.id FROM reports"
        " JOIN targets ON targets.key = reports.target ORDER BY reports.id"
    )
    found: dict[tuple[str, str], list[int]] = {}
    for kind, target, report in rows:
        found.setdefault((kind, target), []).append(report)
    return found


def test_keep_bounds_the_reports_of_each_target_to_the_newest_n(tmp_path: Path) -> None:
    project = Project(
        tmp_path / "project",
        [App("web", release="wh_steady"), App("worker", status={"keep": 2})],
        status={"keep": 5},
    )
    assert project.invoke("up").exit_code == 0
    every: dict[tuple[str, str], list[int]] = {}
    for _ in range(20):
        assert project.invoke("status").exit_code == 0
        for target, ids in kept(project).items():
            every.setdefault(target, [])
            every[target] += [report for report in ids if report not in every[target]]
    now = kept(project)
    assert len(now) == 3
    for target, ids in now.items():
        expected = 2 if target in kept_of(project, "worker") else 5
        assert ids == every[target][-expected:], target  # the newest, not any
    history = parse(project.invoke("history", "web", "--json").stdout)
    assert len(history["reports"]) == 2 * 5

    # --keep overrides the config, for every app.
    assert project.invoke("status", "--keep", "3").exit_code == 0
    assert [len(ids) for ids in kept(project).values()] == [3, 3, 3]
    assert project.invoke("status", "--keep", "1").exit_code == 0
    assert [len(ids) for ids in kept(project).values()] == [1, 1, 1]


def kept_of(project: Project, app: str) -> set[tuple[str, str]]:
    rows = project.query("SELECT kind, id FROM targets WHERE app = ?", (app,))
    return {(kind, target) for kind, target in rows}


def test_keep_bounds_the_state_file_however_many_checks_run(tmp_path: Path) -> None:
    project = Project(
        tmp_path / "project",
        [App("web", config={"resources": 500})],
        status={"keep": 2},
    )
    assert project.invoke("up").exit_code == 0
    sizes = []
    for _ in range(30):
        assert project.invoke("status").exit_code == 0
        sizes.append(project.state.stat().st_size)
    assert project.report_count() == 2
    # SQLite reuses the pages of deleted rows: the file stops growing.
    assert sizes[-1] <= sizes[9], sizes


@pytest.mark.parametrize("value", ["0", "-1", '"5"', "1.5", "true"])
def test_keep_must_be_a_whole_number_of_at_least_1(tmp_path: Path, value: str) -> None:
    project = Project(tmp_path / "project", [App("web")], status={"keep": 5})
    project.config.write_text(project.config.read_text().replace("keep = 5", f"keep = {value}"))
    result = project.invoke("status")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ")
    assert "waypoint.hcl:" in result.output
    assert "keep" in result.output


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_the_keep_option_must_be_a_whole_number_of_at_least_1(tmp_path: Path, value: str) -> None:
    project = Project(tmp_path / "project", [App("web")])
    result = project.invoke("status", "--keep", value)
    assert result.exit_code == 2, result.output
    assert "--keep" in result.output


# --- report limits (DESIGN §13) -------------------------------------------------------------


def limited_project(root: Path, mode: str, **status: Any) -> Project:
    return Project(
        root,
        [App("steady"), App("big", "wh_hostile", {"mode": mode})],
        status={"timeout": "60s", **status},
        plugins=("wh_steady", "wh_hostile"),
    )


def checked(project: Project, processes: Processes) -> dict[str, Any]:
    """``up``, then ``status --json`` by the console script: the big app's report."""
    for command in (["up"], ["status", "--json"]):
        done = processes.run(project.args(*command), cwd=project.root)
        assert done.returncode == 1, done.stderr[-3000:]
    assert report_of(parse(done.stdout), "steady")["health"] == "READY"
    return report_of(parse(done.stdout), "big")


def test_a_report_of_a_million_resources_is_stored_as_unknown_naming_the_limit(
    tmp_path: Path, processes: Processes
) -> None:
    project = limited_project(tmp_path / "project", "repeated:1000000")
    report = checked(project, processes)
    assert (report["health"], report["resources"]) == ("UNKNOWN", [])
    assert report["health_message"] == (
        "plugin 'wh_hostile' platform_status_func returned 1000000 resources, over the limit "
        "of 10000 (max_resources)"
    )
    ((largest,),) = project.query("SELECT max(length(report)) FROM reports")
    print(
        f"\n1,000,000 resources: largest stored report {largest} bytes, state file "
        f"{project.state.stat().st_size} bytes"
    )
    assert largest < 8 * MIB
    assert project.state.stat().st_size < 8 * MIB
    cached = processes.run(project.args("status", "--cached"), cwd=project.root)
    assert cached.returncode == 1
    assert "over the limit of 10000 (max_resources)" in cached.stdout


def test_a_status_block_raises_the_resource_limit(tmp_path: Path, processes: Processes) -> None:
    project = limited_project(tmp_path / "project", "repeated:20000", max_resources=20_000)
    report = checked_ready(project, processes)
    assert (report["health"], len(report["resources"])) == ("READY", 20_000)


def test_a_100_mb_message_is_cut_to_8_kib_and_keeps_the_health(
    tmp_path: Path, processes: Processes
) -> None:
    project = limited_project(tmp_path / "project", f"long_message:{100 * MIB}")
    report = checked_ready(project, processes)
    for message in (report["health_message"], report["resources"][0]["health_message"]):
        assert len(message.encode()) == 8 * 1024
        assert message.endswith("m…")
    ((largest,),) = project.query("SELECT max(length(report)) FROM reports")
    assert largest < 64 * 1024


def checked_ready(project: Project, processes: Processes) -> dict[str, Any]:
    assert processes.run(project.args("up"), cwd=project.root).returncode == 0
    done = processes.run(project.args("status", "--json"), cwd=project.root)
    assert done.returncode == 0, done.stderr[-3000:]
    return report_of(parse(done.stdout), "big")


@pytest.mark.parametrize(
    ("mode", "status", "limit"),
    [
        (f"state_json:{100 * MIB}", {}, "over the limit of 65536 (max_state_json_bytes)"),
        ("state_json:2000", {"max_state_json_bytes": 1024}, "over the limit of 1024"),
        (
            "long_message:8000",
            {"max_report_bytes": 10240},
            "over the limit of 10240 (max_report_bytes)",
        ),
    ],
    ids=["state-json-100-mb", "state-json-lowered", "report-bytes-lowered"],
)
def test_a_report_over_a_limit_is_stored_as_unknown_naming_it(
    tmp_path: Path, processes: Processes, mode: str, status: dict[str, Any], limit: str
) -> None:
    project = limited_project(tmp_path / "project", mode, **status)
    report = checked(project, processes)
    assert report["health"] == "UNKNOWN"
    assert report["resources"] == []
    assert report["health_message"].startswith(
        "plugin 'wh_hostile' platform_status_func returned a report "
    )
    assert limit in report["health_message"]
    ((largest,),) = project.query("SELECT max(length(report)) FROM reports")
    assert largest < 64 * 1024


# --- history (DESIGN §13) -------------------------------------------------------------------


def test_history_of_a_million_reports_is_shown_in_bounded_memory(
    tmp_path: Path, processes: Processes
) -> None:
    project = Project(tmp_path / "project", [App("web")])
    assert processes.run(project.args("up"), cwd=project.root).returncode == 0
    harness.copy_report(project.state, 999_999)
    newest = harness.measure(project.args("history", "web"), cwd=project.root)
    # A million lines: a guard against a hang, not a speed limit, with room for a loaded machine
    # (it took over 120 s beside two other suites).
    every = harness.measure(
        project.args("history", "web", "--all"), cwd=project.root, timeout=harness.GUARD * 4
    )
    for name, ran in (("history web", newest), ("history web --all", every)):
        print(
            f"\n{name} of 1,000,000 reports: {ran.stdout_lines} lines in {ran.seconds:.1f}s, "
            f"peak RSS {ran.peak_rss / MIB:.1f} MiB"
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.peak_rss < 100 * MIB
    assert newest.stdout_lines == 1 + 100  # the header and the newest 100, by default
    assert every.stdout_lines == 1 + 1_000_000
