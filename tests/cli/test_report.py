"""``waypoint-hooks report APP [--release] FILE|-`` (DESIGN §20): a report from outside stored
into the real state, from a file or standard input, in JSON or protobuf; what it refuses exits
2 naming the file and what is wrong, and stores nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers_http import serving
from hostile.harness import GUARD, App, Project, script, script_env

from waypoint_hooks import Health, Resource, StatusReport
from waypoint_hooks.cli.commands import main
from waypoint_hooks.proto import report_to_proto

pytestmark = pytest.mark.usefixtures("hostile_plugins")

DOWN = {
    "health": "DOWN",
    "health_message": "disk full",
    "resources": [{"name": "disk", "type": "volume", "health": "DOWN"}],
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(
        tmp_path / "project",
        [App("web", release="wh_steady")],
        status={"max_report_bytes": 2048, "max_resources": 2},
    )


def _deployed(project: Project) -> None:
    assert project.invoke("up").exit_code == 0


def _run(project: Project, *args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, project.args(*args), input=input)


def _stored(project: Project, kind: str = "deployment") -> dict[str, Any]:
    status = json.loads(project.invoke("status", "--cached", "--json").stdout)
    report: dict[str, Any] = status["apps"][0][kind]["report"]
    return report


def test_a_report_from_a_file_is_stored_external(project: Project, tmp_path: Path) -> None:
    _deployed(project)
    file = tmp_path / "report.json"
    file.write_text(json.dumps(DOWN), encoding="utf-8")
    before = project.report_count()
    result = _run(project, "report", "web", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Stored web deployment v1's report from outside: DOWN (disk full)\n"
    assert project.report_count() == before + 1
    stored = _stored(project)
    assert (stored["health"], stored["external"]) == ("DOWN", True)
    assert stored["resources"][0]["platform"] == "wh_steady"


def test_a_report_from_standard_input_about_the_release(project: Project) -> None:
    _deployed(project)
    result = _run(
        project, "report", "web", "--release", "--json", "-", input=b'{"health": "ALIVE"}'
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["app"], document["kind"], document["report"]["external"]) == (
        "web",
        "release",
        True,
    )
    assert _stored(project, "release") == document["report"]


def test_a_protobuf_report_from_a_pb_file(project: Project, tmp_path: Path) -> None:
    _deployed(project)
    file = tmp_path / "report.pb"
    report = StatusReport(
        resources=[Resource(name="q", health=Health.READY, health_message="42 waiting")],
        health=Health.READY,
        health_message="queue drained",
    )
    file.write_bytes(report_to_proto(report))
    result = _run(project, "report", "web", str(file))
    assert result.exit_code == 0, result.output
    stored = _stored(project)
    assert (stored["health"], stored["health_message"], stored["external"]) == (
        "READY",
        "queue drained",
        True,
    )
    assert stored["resources"][0]["health_message"] == "42 waiting"
    # The same bytes from standard input need --format.
    piped = _run(project, "report", "web", "--format", "protobuf", "-", input=file.read_bytes())
    assert piped.exit_code == 0, piped.output


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"health": "SICK"}', "is not a report in JSON: health: 'SICK' is not a Health"),
        (b"{", "is not a report in JSON: not JSON"),
        (
            b'{"resources": [{"name": "a", "created_time": "yesterday"}]}',
            "resources[0].created_time",
        ),
        (json.dumps({"resources": [{"name": str(n)} for n in range(3)]}).encode(), "max_resources"),
        (json.dumps({"health_message": "x" * 3000}).encode(), "max_report_bytes"),
    ],
)
def test_a_bad_file_exits_2_naming_it_and_stores_nothing(
    project: Project, tmp_path: Path, body: bytes, expected: str
) -> None:
    _deployed(project)
    file = tmp_path / "bad.json"
    file.write_bytes(body)
    before = project.report_count()
    result = _run(project, "report", "web", str(file))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {file}")
    assert expected in result.stderr
    assert "nothing stored" in result.stderr
    assert "Traceback" not in result.output
    assert project.report_count() == before


def test_an_unknown_app_a_version_not_live_and_a_missing_file_exit_2(
    project: Project, tmp_path: Path
) -> None:
    file = tmp_path / "report.json"
    file.write_text(json.dumps(DOWN), encoding="utf-8")
    never = _run(project, "report", "web", str(file))
    assert never.exit_code == 2
    assert "app 'web' has no live deployment in workspace 'default'" in never.stderr
    assert "deploy it first" in never.stderr
    _deployed(project)
    unknown = _run(project, "report", "nope", str(file))
    assert unknown.exit_code == 2
    assert "no app 'nope'" in unknown.stderr
    missing = _run(project, "report", "web", str(tmp_path / "absent.json"))
    assert missing.exit_code == 2
    assert missing.stderr == (
        f"Error: {tmp_path / 'absent.json'} cannot be read: No such file or directory; "
        "nothing stored\n"
    )
    assert project.report_count() == 2  # up's checks alone


def test_a_pushed_report_raises_an_alert_as_a_checked_one(project: Project, tmp_path: Path) -> None:
    with serving() as receiver:
        project.write()
        with project.config.open("a", encoding="utf-8") as config:
            hook = receiver.url("/hook")
            config.write(f'notify "oncall" {{\n  use "webhook" {{\n    url = "{hook}"\n  }}\n}}\n')
        _deployed(project)
        file = tmp_path / "report.json"
        file.write_text(json.dumps(DOWN), encoding="utf-8")
        assert _run(project, "report", "web", str(file)).exit_code == 0
        # Delivered before the command ended, as status delivers.
        (alert,) = [json.loads(body) for _, _, body in receiver.posts]
    assert (alert["state"], alert["health"], alert["kind"]) == ("firing", "DOWN", "deployment")
    assert alert["message"] == "web deployment is DOWN: disk full"
    assert alert["report"]["external"] is True


def test_a_report_piped_into_the_console_script(project: Project) -> None:
    _deployed(project)
    done = subprocess.run(
        [script(), *project.args("report", "web", "-")],
        input=json.dumps(DOWN),
        capture_output=True,
        text=True,
        cwd=project.root,
        env=script_env(),
        timeout=GUARD,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _stored(project)["health_message"] == "disk full"
