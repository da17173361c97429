"""The commands of modules of their own are imported by the command that runs, not by every
start (issue 31, B4): what each real process imports, and the help that lists them unloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from waypoint_hooks.cli.commands import main
from waypoint_hooks.cli.lazy import LazyCommand

CONFIG = """
    project = "lazy"

    app "web" {
      deploy {
        use "filepath" {
          directory = "out"
        }
      }
    }
"""

#: The modules only some commands need: each command's own, and what runs hooks or reads alerts,
#: silences and leases.
WATCHED = (
    "waypoint_hooks.cli.docs",
    "waypoint_hooks.cli.reading",
    "waypoint_hooks.cli.report",
    "waypoint_hooks.cli.serving",
    "waypoint_hooks.cli.silences",
    "waypoint_hooks.plugins.context",
    "waypoint_hooks.plugins.manager",
    "pluggy",
    "waypoint_hooks.alerts.machine",
    "waypoint_hooks.state.cluster",
    "waypoint_hooks.state.outbox",
    "waypoint_hooks.state.silences",
)


def _stand_ins() -> list[LazyCommand]:
    return [c for c in main.commands.values() if isinstance(c, LazyCommand)]


def test_the_commands_of_other_modules_are_listed_by_stand_ins() -> None:
    names = {command.name for command in _stand_ins()}
    assert names == {"alerts", "docs", "history", "report", "serve", "silence", "silences"} | {
        "unsilence"
    }


@pytest.mark.parametrize("command", _stand_ins(), ids=lambda command: str(command.name))
def test_a_stand_in_lists_the_short_help_of_its_command_at_every_width(
    command: LazyCommand,
) -> None:
    loaded = command.load()
    assert loaded.name == command.name
    for limit in range(20, 240):
        assert command.get_short_help_str(limit) == loaded.get_short_help_str(limit), limit


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lazy")
    (root / "waypoint.hcl").write_text(textwrap.dedent(CONFIG))
    deployed = _run(root, ["deploy"])
    assert deployed.returncode == 0, deployed.stderr
    return root


def _run(root: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``waypoint-hooks ARGS`` in a process of its own, in ``root``; its last line of output
    lists which of :data:`WATCHED` it imported."""
    program = (
        "import json, sys\nfrom waypoint_hooks.cli.commands import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(set({WATCHED!r}) & set(sys.modules))))"
    )
    env = {k: v for k, v in os.environ.items() if k != "WAYPOINT_HOOKS_STATE"}
    return subprocess.run(
        [sys.executable, "-c", program], cwd=root, env=env, capture_output=True, text=True
    )


def _imported(root: Path, args: list[str]) -> list[str]:
    done = _run(root, args)
    assert "Traceback" not in done.stderr, done.stderr
    imported: list[str] = json.loads(done.stdout.splitlines()[-1])
    return imported


@pytest.mark.parametrize("args", [["status", "--cached"], ["status", "--cached", "--json"]])
def test_status_cached_imports_no_other_command_nor_what_runs_hooks(
    project: Path, args: list[str]
) -> None:
    assert _imported(project, args) == []


def test_status_imports_no_other_command(project: Path) -> None:
    imported = _imported(project, ["status"])
    assert "waypoint_hooks.plugins.manager" in imported  # it checks: it runs hooks
    assert "waypoint_hooks.alerts.machine" not in imported  # the project raises no alert
    assert [name for name in imported if name.startswith("waypoint_hooks.cli.")] == []


def test_help_lists_every_command_and_imports_none(project: Path) -> None:
    done = _run(project, ["--help"])
    assert done.stdout.splitlines()[-1] == "[]"
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert set(main.commands) <= set(listed)


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["silences"], "waypoint_hooks.cli.silences"),
        (["alerts"], "waypoint_hooks.cli.reading"),
        (["docs", "filepath"], "waypoint_hooks.cli.docs"),
        (["serve", "--help"], "waypoint_hooks.cli.serving"),
    ],
)
def test_a_command_of_its_own_module_imports_it_and_no_other_command(
    project: Path, args: list[str], module: str
) -> None:
    commands = [name for name in _imported(project, args) if name.startswith("waypoint_hooks.cli")]
    assert commands == [module]


def test_a_mistyped_command_is_told_the_lazy_command_it_is_close_to() -> None:
    result = CliRunner().invoke(main, ["silense"])
    assert result.exit_code == 2
    assert "No such command 'silense'." in result.output
    assert "silence" in result.output.split("No such command 'silense'.")[1]
