"""A config that fits is built without cattrs' generated code (issue 31, B4), into the very
project the converter would build; whatever does not fit is left to the converter."""

from __future__ import annotations

import copy
import functools
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks.config import direct, document
from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.project import Project
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.model.codec import MISFITS, converter

#: Every block and key a config may hold, each set to something else than its default.
EVERY_KEY = """\
project = "full"

status {
  policy         = "threshold"
  ready_fraction = 0.5
  timeout        = "10s"
  concurrency    = 4
  interval       = "1m"
  keep           = 10
  heartbeat      = "1h"
  max_resources  = 50
  locations      = ["eu", "us", "ap"]
  quorum         = 2
}

app "db" {
  deploy {
    use "filepath" {
      directory = "db"
    }
  }
}

app "web" {
  isolate    = true
  depends_on = ["db"]
  deploy {
    use "filepath" {
      directory = "out"
      healthcheck {
        interval = "5s"
      }
    }
  }
  release {
    use "filepath" {}
  }
  status {
    policy = "waypoint"
    ignore = ["job-*"]
  }
}

notify "ops" {
  apps              = ["web"]
  on                = ["DOWN"]
  failure_threshold = 2
  success_threshold = 3
  send_on_resolved  = true
  remind            = "1h"
  start_grace       = "5m"
  use "webhook" {
    url = "https://example.com/hook"
  }
}

maintenance "nightly" {
  start    = "02:00"
  duration = "1h"
  apps     = ["db"]
  every    = ["mon", "fri"]
  timezone = "Europe/Paris"
}

plugin "filepath" {
  version = ">=0.1"
}
"""


def _same(built: Project, structured: Project) -> None:
    # repr shows the fields equality leaves out (the lines) too.
    assert repr(built) == repr(structured)


def test_a_config_of_every_key_is_built_directly_as_the_converter_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents: list[Mapping[str, Any]] = []

    def recorded(value: Mapping[str, Any]) -> Project | None:
        documents.append(value)
        built = direct.build(value)
        assert built is not None
        return built

    monkeypatch.setattr(document, "build", recorded)
    path = tmp_path / "waypoint.hcl"
    path.write_text(EVERY_KEY, encoding="utf-8")
    project = load_config(path)
    [written] = documents
    _same(project, converter.structure(written, Project))
    # Each default was overridden, so none of the fields was built as absent.
    assert project.maintenance["nightly"].every == ("mon", "fri")
    assert project.apps["web"].status.locations == ("eu", "us", "ap")


def test_what_does_not_fit_is_told_by_the_converter_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "waypoint.hcl"
    path.write_text(EVERY_KEY.replace("keep           = 10", 'keep           = "ten"'))
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert str(info.value).endswith(
        ":9: keep is how many reports of each deployment and release are kept: a whole number, "
        "1 or more; got 'ten'"
    )


# --- any document near one that fits: built alike, or left to the converter --------------------

_LEAVES: Final[tuple[object, ...]] = (
    None,
    True,
    False,
    0,
    1,
    3,
    -1,
    0.5,
    "",
    "web",
    "db",
    "eu",
    "5s",
    "0s",
    "1h",
    "DOWN",
    "READY",
    "mon",
    "02:00",
    "UTC",
    ">=1",
    "threshold",
    [],
    ["web"],
    ["eu", "us"],
    ["DOWN", "PARTIAL"],
    ["mon"],
    ["web", "web"],
    {},
    {"directory": "out"},
    {"ready_fraction": 0.5, "policy": "threshold"},
    Path("/p/waypoint.hcl"),
)
_GONE: Final = object()


@functools.cache
def _every_key_document() -> dict[str, Any]:
    """What the document step makes of EVERY_KEY: the values :func:`direct.build` is given."""
    written: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "waypoint.hcl"
        path.write_text(EVERY_KEY, encoding="utf-8")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(document, "build", written.append)
            # None, as from what does not fit: the converter then builds the project.
            load_config(path)
    return written[0]


def _keys(value: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every key of ``value``, nested mappings' too."""
    found = []
    for key, item in value.items():
        found.append((*path, key))
        if isinstance(item, Mapping):
            found += _keys(item, (*path, key))
    return found


@st.composite
def _near(draw: st.DrawFn) -> dict[str, Any]:
    """EVERY_KEY's document with a few of its values replaced or left out, or a key added."""
    value = copy.deepcopy(_every_key_document())
    for _ in range(draw(st.integers(0, 3))):
        *parents, key = draw(st.sampled_from([*_keys(value), ("added",), ("apps", "web", "x")]))
        owner = functools.reduce(lambda inner, step: inner.get(step, {}), parents, value)
        replaced = draw(st.sampled_from([*_LEAVES, _GONE]))
        if replaced is _GONE:
            owner.pop(key, None)
        else:
            owner[key] = copy.deepcopy(replaced)  # the leaves are shared, and may be changed next
    return value


@given(_near())
def test_a_document_is_built_as_the_converter_builds_it_or_left_to_it(
    value: dict[str, Any],
) -> None:
    built = direct.build(value)
    if built is not None:  # else the converter's to tell
        _same(built, converter.structure(value, Project))


@given(_near())
def test_what_the_converter_refuses_is_refused(value: dict[str, Any]) -> None:
    try:
        converter.structure(value, Project)
    except MISFITS:
        assert direct.build(value) is None
