"""Expected-health cases (issue 28): the pytest plugin collects ``*.health.yaml`` files, each
case a test item that passes when the policy gives the health (and message) it expects, and
fails showing what it expected beside what it got. Run by pytest in a subprocess (pytester),
as in a plugin author's project."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CASES = """\
cases:
  - name: every pod ready
    resources:
      - {name: web-1, type: pod, health: READY}
      - {name: web-2, type: pod, health: READY}
    expect:
      health: READY
  - name: the worst of them
    policy: worst
    resources:
      - {name: web-1, type: pod, health: READY}
      - {name: web-2, type: pod, health: DOWN, health_message: CrashLoopBackOff}
    expect:
      health: down
  - name: enough ready
    policy: threshold
    min_ready: 1
    resources:
      - {name: web-1, type: pod, health: READY}
      - {name: web-2, type: pod, health: DOWN}
    expect:
      health: READY
  - name: nothing reported
    resources: []
    expect:
      health: UNKNOWN
      message: no resources reported
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    # Enabled by name, with autoload off: the way that works whatever else is installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester.runpytest_subprocess("-p", "waypoint_hooks.testing", "-v")


def test_each_case_is_a_test_that_passes_when_the_policy_agrees(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".health.yaml", web=CASES)
    result = _run(pytester, monkeypatch)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["web.health.yaml::every pod ready PASSED*"])


def test_a_case_the_policy_disagrees_with_fails_showing_expected_and_got(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = CASES.replace("      health: down", "      health: READY").replace(
        "message: no resources reported", "message: nothing at all"
    )
    pytester.makefile(".health.yaml", web=wrong)
    result = _run(pytester, monkeypatch)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "the worst of them:",
            "  expected READY",
            "  got      DOWN: *",
            "nothing reported:",
            "  expected UNKNOWN: nothing at all",
            "  got      UNKNOWN: no resources reported",
        ]
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "  - name: typo\n    resorces: []\n    expect: {health: READY}\n",
            "web.health.yaml: case 'typo': unknown key 'resorces'; a case has name, resources, "
            "policy, expect",
        ),
        (
            "  - name: no health\n    resources: []\n    expect: {message: x}\n",
            "web.health.yaml: case 'no health': expect: the health expected is missing: "
            "expect: {health: READY}",
        ),
        (
            "  - name: bad health\n    resources: []\n    expect: {health: FINE}\n",
            "web.health.yaml: case 'bad health': expect: health 'FINE' is not a health; write "
            "one of *",
        ),
    ],
)
def test_a_case_that_is_written_wrong_fails_saying_what_to_write(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str, message: str
) -> None:
    pytester.makefile(".health.yaml", web=f"cases:\n{case}")
    result = _run(pytester, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


def test_a_file_without_cases_is_a_collection_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".health.yaml", web="resources: []\n")
    result = _run(pytester, monkeypatch)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*web.health.yaml: the file has no cases: write cases: followed by a list of them"]
    )


def test_the_cases_of_the_testing_docs_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = (Path(__file__).parents[2] / "docs" / "testing.md").read_text(encoding="utf-8")
    cases = page.split("```yaml\n# tests/web.health.yaml\n")[1].split("```")[0]
    pytester.makefile(".health.yaml", web=cases)
    _run(pytester, monkeypatch).assert_outcomes(passed=2)
    pytester.makefile(".health.yaml", web=cases.replace("min_ready: 1", "min_ready: 2"))
    _run(pytester, monkeypatch).stdout.fnmatch_lines(
        [
            "enough pods ready:",
            "  expected READY: 1/2 resources are READY",
            "  got      PARTIAL: Only 1/2 resources are READY",
        ]
    )
