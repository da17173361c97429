"""The terminal UI plugins receive, its renderers, and sanitizing of outside text."""

from __future__ import annotations

import io
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks import terminal
from waypoint_hooks.terminal import ConsoleUI, PlainUI, RecordingUI, sanitize, sanitize_line

HOSTILE = {
    "colour": "\x1b[31mred\x1b[0m",
    "cursor movement": "\x1b[2A\x1b[2Kup",
    "OSC 8 link": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "OSC title with BEL": "\x1b]0;owned\x07title",
    "carriage return": "fine\rFAKE",
    "bidi override": "abc\u202edcba",
    "bidi isolate": "x\u2066y\u2069",
    "C1 CSI": "\x9b31mred",
    "backspace": "ab\x08\x08XY",
}


@pytest.mark.parametrize("case", HOSTILE)
def test_sanitize_removes_every_control_sequence(case: str) -> None:
    cleaned = sanitize(HOSTILE[case])
    assert "\x1b" not in cleaned
    assert "\r" not in cleaned
    assert "\x9b" not in cleaned
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in cleaned)


def test_sanitize_keeps_ordinary_text_tabs_and_newlines() -> None:
    text = "pod web-1\tREADY\nnext line — ünïcode ✔"
    assert sanitize(text) == text


def test_sanitize_line_puts_everything_on_one_line() -> None:
    assert sanitize_line("a\nb\t c  \x1b[1md") == "a b c d"


@given(st.text())
def test_sanitized_text_has_no_control_characters_left(text: str) -> None:
    cleaned = sanitize(text)
    assert all(c in "\t\n" or (ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F) for c in cleaned)
    assert sanitize(cleaned) == cleaned


def seed_example(ui: terminal.UI, present: bool) -> None:
    sg = ui.step_group()
    s = sg.add("Checking the status of the file...")
    if present:
        s.update("File is ready")
    else:
        with ui.status() as st_:
            st_.step(terminal.STATUS_ERROR, "File is missing")
        s.status(terminal.STATUS_ERROR)
    s.done()


def test_recording_ui_keeps_the_final_state_of_each_line_in_order() -> None:
    ui = RecordingUI()
    seed_example(ui, present=False)
    assert ui.lines() == ["error: Checking the status of the file...", "error: File is missing"]


def test_closing_a_step_group_aborts_the_unfinished_steps() -> None:
    ui = RecordingUI()
    with ui.step_group() as group:
        group.add("one").done()
        group.add("two")
    assert ui.lines() == ["ok: one", "abort: two"]


def test_output_formats_its_arguments_like_waypoint() -> None:
    ui = RecordingUI()
    ui.output("deployed %s in %d s", "web", 3, style=terminal.SUCCESS_STYLE)
    assert ui.events[0].message == "deployed web in 3 s"
    assert ui.events[0].style == terminal.SUCCESS_STYLE


def test_plain_ui_prints_finished_lines_without_any_control_sequence() -> None:
    stream = io.StringIO()
    ui = PlainUI(stream)
    ui.header("web deployment")
    seed_example(ui, present=True)
    ui.output(HOSTILE["OSC 8 link"])
    text = stream.getvalue()
    assert text == "» web deployment\n  ✓ File is ready\n  click\n"
    assert "\x1b" not in text


def test_console_ui_colours_and_spins_but_still_strips_plugin_sequences() -> None:
    stream = io.StringIO()
    ui = ConsoleUI(stream, color=True)
    step = ui.step_group().add("probing \x1b[2Jdb")
    step.update("probed db")
    step.done()
    ui.close()
    text = stream.getvalue()
    assert "\x1b[2J" not in text  # the plugin's clear-screen never reaches the terminal
    assert "⠋" in text or "⠙" in text  # the spinner drew the step in progress
    assert "\x1b[32m" in text  # the finished step's mark is green
    assert text.rstrip("\r\x1b[2K").endswith("probed db\n")


def test_replayed_groups_are_never_interleaved_with_other_writers() -> None:
    stream = io.StringIO()
    ui = PlainUI(stream)
    recordings = []
    for name in ("a", "b", "c", "d"):
        recording = RecordingUI()
        for i in range(50):
            recording.output(f"{name}{i}")
        recordings.append((name, recording))

    threads = [
        threading.Thread(target=ui.group, args=(name, recording.final_events()))
        for name, recording in recordings
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = stream.getvalue().split("» ")[1:]
    for block in blocks:
        name, *lines = block.strip().split("\n")
        assert [line.strip() for line in lines] == [f"{name}{i}" for i in range(50)]
