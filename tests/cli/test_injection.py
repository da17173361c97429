"""Terminal injection (issue 6, area 4): text from plugins, platforms, configs and installed
packages cannot drive the terminal.

The payload carries colours, screen clearing, cursor movement, an OSC-8 hyperlink, an OSC
title ended by BEL, an 8-bit CSI, carriage returns, backspaces and bidi overrides and
isolates. ``wh_inject`` repeats it in everything a plugin can show. Every human-readable
output (progress, status table, the notes on reports that are not READY, the resource tree,
history, the plugins table, ``Error:`` lines) must hold none of those characters, while
``--json`` gives the text back exactly.

In-process runs use ``CliRunner(color=True)``: otherwise click strips ANSI colour codes from
output that is not a terminal, and would hide what a terminal receives. One run goes through
a real pseudo-terminal, where the live console (spinner, colours) is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import harness
from hostile.harness import App, Project, assert_survived, parse, report_of

from waypoint_hooks.cli.commands import main
from waypoint_hooks.host import AUTOLOAD_ENV

PAYLOAD = (
    "blink\x1b[5;35mMAGENTA\x1b[0m "
    "\x1b[2J\x1b[H\x1b[3;1H\x1b[1A\x1b[2K "  # clear screen, home, move, up, erase line
    "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\ "  # OSC 8 hyperlink
    "\x1b]0;pwned title\x07 "  # OSC window title ended by BEL
    "\x9b31mC1-CSI "  # the 8-bit CSI
    "carriage\rreturn back\x08\x08space "
    "bidi\u202eoverride\u202c \u2066isolate\u2069\u2067rtl\u2069\u2068first-strong\u2069 "
    "bell\x07"
)
#: What no human-readable output may contain.
FORBIDDEN = {
    "\x1b": "ESC",
    "\x9b": "CSI (8-bit)",
    "\r": "carriage return",
    "\x08": "backspace",
    "\x07": "BEL",
    **{
        chr(code): f"bidi U+{code:04X}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
    },
}
#: The visible words of the payload, which must still be shown.
VISIBLE = ("MAGENTA", "click me", "C1-CSI", "override", "isolate")

# App names follow the name rule (DESIGN §13), so the payload cannot be one: it reaches the
# output through everything else (test_an_app_name_with_escapes_is_refused_clean).
APP = "web"


def assert_clean(*texts: str) -> None:
    for text in texts:
        for char, name in FORBIDDEN.items():
            at = text.find(char)
            assert at < 0, f"{name} shown at {at}: {text[max(0, at - 80) : at + 80]!r}"


# The hostile plugin modules on the path, only builtins besides them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("hostile_plugins")


def injected(root: Path, app: str = APP, json_config: bool = True, **config: str) -> Project:
    settings = {"text": PAYLOAD, **config}
    return Project(
        root,
        [
            App(app, "wh_inject", settings, release="wh_inject", release_config=settings),
            App("plain"),
        ],
        plugins=("wh_inject", "wh_steady"),
        json_config=json_config,
    )


def shown(project: Project, *args: str) -> Result:
    result = project.invoke(*args, color=True)
    assert_survived(result)
    assert_clean(result.stdout, result.stderr)
    return result


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = injected(tmp_path / "project")
    result = shown(project, "up")
    assert result.exit_code == 1, result.output  # the injected reports are DOWN
    return project


# --- human output -------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[], list[str]]] = {
    "up": lambda: ["up"],
    "deploy": lambda: ["deploy"],
    "release": lambda: ["release"],
    "status": lambda: ["status"],
    "status APP (resource tree)": lambda: ["status", APP],
    "status --cached": lambda: ["status", "--cached"],
    "history APP": lambda: ["history", APP],
    "destroy": lambda: ["destroy"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_human_output_holds_no_control_sequence(project: Project, command: str) -> None:
    result = shown(project, *COMMANDS[command]())
    assert result.exit_code in (0, 1), result.output
    if command not in ("destroy", "history APP"):
        assert "MAGENTA" in result.stdout  # the words are shown, without their codes


def test_the_resource_tree_shows_the_words_without_the_codes(tmp_path: Path) -> None:
    # A plain app name: only the resources' fields and the plugin's output carry the payload.
    project = injected(tmp_path / "project", app="web")
    shown(project, "up")
    output = shown(project, "status", "web").stdout
    assert "web deployment v1 (wh_inject) resources:" in output
    for word in VISIBLE:
        assert word in output


@pytest.mark.parametrize("hook", ["deploy", "release", "status", "destroy"])
def test_a_plugin_exception_carrying_escapes_is_shown_clean(tmp_path: Path, hook: str) -> None:
    project = injected(tmp_path / "project", fail=hook)
    up, status, destroy = (shown(project, command) for command in ("up", "status", "destroy"))
    for result in (up, status, destroy):
        assert result.exit_code in (0, 1), result.output
    failed = {"deploy": up, "release": up, "status": status, "destroy": destroy}[hook]
    assert "ValueError" in failed.output
    assert "click me" in failed.output


@pytest.mark.parametrize("json_config", [True, False])
def test_an_app_name_with_escapes_is_refused_clean(tmp_path: Path, json_config: bool) -> None:
    # HCL decodes \u001b in a label: app names could carry escapes in either config format.
    project = injected(tmp_path / "project", app=f"web{PAYLOAD}", json_config=json_config)
    assert "\\u001b" in project.config.read_text()  # written as an escape, read as ESC
    result = shown(project, "up")
    assert result.exit_code == 2, result.output
    assert "the app's name must be 1 to 63 letters" in result.stderr


def test_error_lines_hold_no_control_sequence(project: Project, tmp_path: Path) -> None:
    # An unknown app: the message lists the config's app names.
    result = shown(project, "status", f"nope{PAYLOAD}")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    # A config error naming a key, and another naming a plugin, both written by an attacker.
    config = tmp_path / "bad" / "waypoint.hcl.json"
    config.parent.mkdir()
    documents = [
        {"project": "p", PAYLOAD: 1, "app": {"w": {"deploy": {"use": {"wh_steady": {}}}}}},
        {"project": "p", "app": {"w": {"deploy": {"use": {PAYLOAD: {}}}}}},
        {"project": "p", "app": {APP: {"deploy": {"use": {"wh_steady": {}}}, PAYLOAD: {}}}},
    ]
    for document in documents:
        config.write_text(json.dumps(document))
        bad = CliRunner().invoke(main, ["-c", str(config), "-p", "wh_steady", "status"], color=True)
        assert_survived(bad)
        assert bad.exit_code == 2, bad.output
        assert bad.stderr.startswith("Error: ")
        assert_clean(bad.stdout, bad.stderr)


def test_the_plugins_table_shows_a_broken_plugins_error_clean(
    write_module: Callable[[str, str], str],
) -> None:
    write_module("wh_broken_inject", f"raise ImportError({PAYLOAD!r})\n")
    result = CliRunner().invoke(main, ["-p", "wh_broken_inject", "plugins"], color=True)
    assert_survived(result)
    assert result.exit_code == 1
    assert "wh_broken_inject" in result.stdout
    assert "click me" in result.stdout
    assert_clean(result.stdout, result.stderr)
    listed = CliRunner().invoke(main, ["-p", "wh_broken_inject", "plugins", "--json"])
    (entry,) = [item for item in json.loads(listed.stdout) if item["name"] == "wh_broken_inject"]
    assert PAYLOAD in entry["error"]


def test_the_plugins_table_shows_an_installed_packages_metadata_clean(
    install_distribution: Callable[..., None],
    write_module: Callable[[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A package chooses its entry-point names and its version string.
    monkeypatch.delenv(AUTOLOAD_ENV)
    write_module("wh_evil_dist", "")
    install_distribution(
        "wh-evil", "1.0\x1b]0;pwned\x07\u202e", {"evil\x1b[2Jname": "wh_evil_dist"}
    )
    result = CliRunner().invoke(main, ["plugins"], color=True)
    assert_survived(result)
    assert "evil" in result.stdout
    assert_clean(result.stdout, result.stderr)


# --- JSON: the text, unchanged ------------------------------------------------------------


def test_status_json_carries_the_text_unchanged(project: Project) -> None:
    result = project.invoke("status", "--json")
    assert result.exit_code == 1
    document = parse(result.stdout)
    assert [row["app"] for row in document["apps"]] == [APP, "plain"]
    for kind in ("deployment", "release"):
        report = report_of(document, APP, kind)
        assert report["health_message"] == PAYLOAD
        parent, child = report["resources"]
        for field in ("name", "type", "platform", "health_message"):
            assert parent[field] == PAYLOAD, field
        assert parent["platform_url"] == f"https://example.invalid/{PAYLOAD}"
        assert json.loads(parent["state_json"]) == {"text": PAYLOAD}
        assert child["name"] == f"{PAYLOAD} child"


def test_history_json_carries_the_text_unchanged(project: Project) -> None:
    result = project.invoke("history", APP, "--json")
    assert result.exit_code == 0
    document = parse(result.stdout)
    assert document["app"] == APP
    assert {item["report"]["health_message"] for item in document["reports"]} == {PAYLOAD}


def test_exception_messages_reach_json_unchanged(tmp_path: Path) -> None:
    project = injected(tmp_path / "project", fail="status")
    shown(project, "up")
    document = parse(project.invoke("status", "--json").stdout)
    message = report_of(document, APP)["health_message"]
    assert message.endswith(f"raised ValueError: {PAYLOAD}"), message


# --- a real terminal ----------------------------------------------------------------------


def test_a_real_terminal_receives_none_of_the_payloads_sequences(tmp_path: Path) -> None:
    # A plain app name: the payload is in everything the plugin shows and reports.
    project = injected(tmp_path / "project", app="web")
    for command in (["up"], ["status", "web"], ["history", "web"]):
        done = harness.run_on_terminal(
            project.args(*command),
            cwd=project.root,
            env=harness.script_env(TERM="xterm-256color"),
        )
        screen = done.stdout
        assert done.returncode in (0, 1), screen
        # The console draws its own colours and spinner (and the terminal turns each "\n"
        # into "\r\n"): look for the payload's own sequences.
        for sequence in ("\x1b[5;35m", "\x1b[2J", "\x1b[H", "\x1b[3;1H", "\x1b[1A", "\x1b]"):
            assert sequence not in screen, (sequence, screen[-3000:])
        assert_clean(screen.replace("\r", "").replace("\x1b", ""))
        assert "MAGENTA" in screen or command[0] == "history"
