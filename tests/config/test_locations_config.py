"""``locations`` and ``quorum`` in a status block (DESIGN §21): read in HCL and in JSON, set by
the project for every app or by one app, and each mistake reported at its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.project import Project
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.model.quorum import Quorum

APPS = """\
app "web" {
  deploy {
    use "filepath" {
    }
  }
  status {
%s
  }
}
app "db" {
  deploy {
    use "filepath" {
    }
  }
}
"""


def load(tmp_path: Path, web_status: str, project_status: str = "") -> Project:
    text = 'project = "demo"\n'
    if project_status:
        text += f"status {{\n{project_status}\n}}\n"
    path = tmp_path / "waypoint.hcl"
    path.write_text(text + APPS % web_status, encoding="utf-8")
    return load_config(path)


def error_of(tmp_path: Path, web_status: str, project_status: str = "") -> str:
    with pytest.raises(ConfigFileError) as caught:
        load(tmp_path, web_status, project_status)
    return str(caught.value).removeprefix(f"{tmp_path}/")


def test_an_app_checked_from_two_locations_needs_both_by_default(tmp_path: Path) -> None:
    project = load(tmp_path, '    locations = ["eu", "us"]')
    web, db = project.apps.values()
    assert web.status.locations == ("eu", "us")
    assert web.status.quorum_rule == Quorum(("eu", "us"), 2)
    # Without locations, an app is checked once, by any instance.
    assert db.status.locations == ()
    assert db.status.quorum_rule is None


def test_the_default_quorum_is_more_than_half_of_the_locations(tmp_path: Path) -> None:
    project = load(tmp_path, '    locations = ["eu", "us", "asia"]')
    assert project.apps["web"].status.quorum_rule == Quorum(("eu", "us", "asia"), 2)


def test_an_app_inherits_the_projects_locations_and_sets_its_own_quorum(tmp_path: Path) -> None:
    project = load(tmp_path, "    quorum = 1", '  locations = ["eu", "us"]')
    apps = project.apps
    assert apps["web"].status.quorum_rule == Quorum(("eu", "us"), 1)
    assert apps["db"].status.quorum_rule == Quorum(("eu", "us"), 2)


def test_the_json_form_reads_the_same(tmp_path: Path) -> None:
    hcl = load(tmp_path, '    locations = ["eu", "us"]\n    quorum = 1')
    document = {
        "project": "demo",
        "app": {
            "web": {
                "deploy": {"use": {"filepath": {}}},
                "status": {"locations": ["eu", "us"], "quorum": 1},
            },
            "db": {"deploy": {"use": {"filepath": {}}}},
        },
    }
    path = tmp_path / "waypoint.hcl.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert load_config(path).apps == hcl.apps


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            '    locations = ["eu", "us"]\n    quorum = 3',
            'waypoint.hcl:9: app "web": quorum must be from 1 to the number of locations (2); '
            "got 3",
        ),
        (
            '    locations = ["eu", "us"]\n    quorum = 0',
            'waypoint.hcl:9: app "web": quorum must be from 1 to the number of locations (2); '
            "got 0",
        ),
        (
            "    quorum = 1",
            'waypoint.hcl:8: app "web": quorum is how many of the app\'s locations must agree, '
            'and no locations are named: add locations = ["eu", "us"] beside it, or leave '
            "quorum out",
        ),
        (
            '    locations = ["eu", "eu"]',
            "waypoint.hcl:8: app \"web\": locations names 'eu' twice; name each location once",
        ),
        (
            '    locations = "eu"',
            'waypoint.hcl:8: app "web": locations: expected a list, got str',
        ),
        (
            '    locations = ["eu west"]',
            'waypoint.hcl:8: app "web": locations: a location must be 1 to 63 letters, digits, '
            "'_', '.' or '-', starting with a letter or digit ([A-Za-z0-9][A-Za-z0-9_.-]{0,62}), "
            "as it is used in file names and URLs; got 'eu west'",
        ),
    ],
)
def test_a_mistake_is_reported_at_its_line(tmp_path: Path, status: str, message: str) -> None:
    assert error_of(tmp_path, status) == message


def test_a_project_quorum_without_locations_names_the_projects_line(tmp_path: Path) -> None:
    assert error_of(tmp_path, "", "  quorum = 2").startswith(
        "waypoint.hcl:3: quorum is how many of the app's locations must agree"
    )
