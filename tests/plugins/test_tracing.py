"""Tracing (issue 28): ``WAYPOINT_HOOKS_TRACE=1`` or ``-vv`` puts each hook call on stderr —
plugin, hook, arguments with their secrets left out, outcome, duration — for isolated apps
too; ``-v`` alone traces nothing. Through the installed console script."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hostile.harness import Processes, script_env

from waypoint_hooks.plugins.tracing import TRACE_ENV

PLUGIN = """
import attrs
from waypoint_hooks import Health, StatusReport, hookimpl


@attrs.define
class Config:
    mode: str = "ready"
    url: str = ""
    token: str = ""


@hookimpl
def platform_deploy_func(config: Config) -> dict[str, str]:
    return {"mode": config.mode}


@hookimpl
def platform_status_func(ctx, config: Config) -> StatusReport:
    if config.mode == "raise":
        raise ValueError("boom")
    if config.mode == "hang":
        ctx.wait(600)
    return StatusReport(health=Health.READY, health_message="fine")
"""

TOKEN = "tok-3141592"
PASSWORD = "pw-2718281"
CONFIG = f"""\
project = "p"
app "ready" {{
  deploy {{
    use "wh_traced" {{
      url   = "https://user:{PASSWORD}@example.test/health"
      token = "{TOKEN}"
    }}
  }}
}}
app "isolated" {{
  isolate = true
  deploy {{
    use "wh_traced" {{
    }}
  }}
}}
app "raising" {{
  deploy {{
    use "wh_traced" {{
      mode = "raise"
    }}
  }}
}}
app "hanging" {{
  status {{
    timeout = "1s"
  }}
  deploy {{
    use "wh_traced" {{
      mode = "hang"
    }}
  }}
}}
"""
# One line: the plugin, the hook, its arguments, the outcome, the time it took, isolated.
LINE = re.compile(
    r"trace: wh_traced (?P<hook>\w+)\((?P<arguments>.*)\) (?P<outcome>.*) "
    r"in \d+\.\d ms(?P<isolated>, isolated)?"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "wh_traced.py").write_text(PLUGIN)
    (tmp_path / "waypoint.hcl").write_text(CONFIG)
    return tmp_path


def _run(directory: Path, *args: str, trace: str | None = None) -> subprocess.CompletedProcess[str]:
    env = script_env()
    env["PYTHONPATH"] = f"{directory}:{env['PYTHONPATH']}"
    env.pop(TRACE_ENV, None)
    if trace is not None:
        env[TRACE_ENV] = trace
    processes = Processes()
    try:
        return processes.run(["-p", "wh_traced", *args], cwd=directory, env=env)
    finally:
        processes.close()


def _traced(stderr: str) -> list[re.Match[str]]:
    lines = [line for line in stderr.splitlines() if line.startswith("trace: ")]
    matches = [LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    return [match for match in matches if match is not None]


def test_each_hook_call_is_traced_with_its_outcome(project: Path) -> None:
    done = _run(project, "deploy", trace="1")
    assert done.returncode == 1, done.stderr  # two apps are not READY
    calls = sorted(
        (m["hook"], _mode(m["arguments"]), bool(m["isolated"]), m["outcome"])
        for m in _traced(done.stderr)
    )
    ready = "returned StatusReport(READY, 0 resources)"
    assert calls == [
        ("platform_deploy_func", "hang", False, 'returned {"mode": "hang"}'),
        ("platform_deploy_func", "raise", False, 'returned {"mode": "raise"}'),
        ("platform_deploy_func", "ready", False, 'returned {"mode": "ready"}'),
        ("platform_deploy_func", "ready", True, 'returned {"mode": "ready"}'),
        ("platform_status_func", "hang", False, "timed out after 1s"),
        ("platform_status_func", "raise", False, "raised ValueError: boom"),
        ("platform_status_func", "ready", False, ready),
        ("platform_status_func", "ready", True, ready),
    ]


def _mode(arguments: str) -> str:
    """The mode a call's config gives (``ready`` unless it says), as its trace shows it."""
    found = re.search(r'config=\{"mode": "(\w+)"', arguments)
    return found[1] if found else "ready"


def test_a_trace_shows_no_secret(project: Path) -> None:
    done = _run(project, "-vv", "deploy", "ready")
    assert done.returncode == 0, done.stderr
    (deploy, status) = _traced(done.stderr)
    assert '"token": "REDACTED"' in deploy["arguments"]
    assert '"url": "https://REDACTED@example.test/health"' in deploy["arguments"]
    assert TOKEN not in done.stderr
    assert PASSWORD not in done.stderr
    assert status["hook"] == "platform_status_func"


@pytest.mark.parametrize(("args", "trace"), [(["-v"], None), ([], "0"), ([], None)])
def test_without_the_switch_nothing_is_traced(
    project: Path, args: list[str], trace: str | None
) -> None:
    done = _run(project, *args, "deploy", "ready", trace=trace)
    assert done.returncode == 0, done.stderr
    assert "trace:" not in done.stderr
