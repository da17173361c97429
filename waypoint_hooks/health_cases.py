"""Expected-health cases: ``*.health.yaml`` files that the pytest plugin collects as tests.

Argo CD keeps a ``health_test.yaml`` beside each health script; here a file holds cases of
what a status policy makes of resources: their healths, the policy (a ``status`` block's
keys), and the health and message expected::

    cases:
      - name: one pod of two down
        policy: worst
        resources:
          - {name: web-1, type: pod, health: READY}
          - {name: web-2, type: pod, health: DOWN, health_message: CrashLoopBackOff}
        expect:
          health: DOWN
          message: "web-2 (pod): CrashLoopBackOff"   # optional

Each case is one test item; one that fails shows what was expected beside what the policy
gave. This module is imported only when pytest finds such a file. Reading YAML takes PyYAML
(``pip install 'waypoint-hooks[testing]'``): a plugin author's test environment needs it,
the launcher never does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, final

import pytest

from .model.aggregate import OPTIONS, Policy
from .model.codec import structure
from .model.health import Health
from .model.report import Resource

__all__ = ["HealthFile"]

_CASE_KEYS: Final = ("name", "resources", "policy", "expect")
_EXPECT_KEYS: Final = ("health", "message")


class _CaseError(Exception):
    """A case file that cannot be read as one: its message says where and what to write."""


@final
class HealthFile(pytest.File):
    """A ``*.health.yaml`` file: one test item per case."""

    def collect(self) -> Iterator[HealthCase]:
        for index, case in enumerate(self._cases()):
            where = f"cases[{index}]"
            if not isinstance(case, Mapping):
                raise self._error(f"{where} is not a mapping: write name, resources and expect")
            name = case.get("name")
            if not isinstance(name, str) or not name:
                raise self._error(f"{where} has no name: give each case a name, a string")
            yield HealthCase.from_parent(self, name=name, case=dict(case))

    def _cases(self) -> list[Any]:
        try:
            import yaml
        except ModuleNotFoundError:
            raise self._error(
                "reading *.health.yaml cases needs PyYAML: "
                "pip install 'waypoint-hooks[testing]' (or pyyaml) in the test environment"
            ) from None
        try:
            document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise self._error(f"not YAML: {exc}") from None
        cases = document.get("cases") if isinstance(document, Mapping) else None
        if not isinstance(cases, list) or not cases:
            raise self._error("the file has no cases: write cases: followed by a list of them")
        return cases

    def _error(self, message: str) -> pytest.Collector.CollectError:
        return self.CollectError(f"{self.path.name}: {message}")


@final
class HealthCase(pytest.Item):
    """One case: the policy's verdict on its resources is the health (and message) expected."""

    def __init__(self, *, case: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        case = self.case
        unknown = sorted(set(case) - {*_CASE_KEYS, *OPTIONS})
        if unknown:
            raise _CaseError(f"unknown key {unknown[0]!r}; a case has {', '.join(_CASE_KEYS)}")
        expect = case.get("expect")
        if not isinstance(expect, Mapping) or "health" not in expect:
            raise _CaseError("expect: the health expected is missing: expect: {health: READY}")
        unknown = sorted(set(expect) - set(_EXPECT_KEYS))
        if unknown:
            raise _CaseError(f"expect: unknown key {unknown[0]!r}; it has health and message")
        try:
            resources = [structure(item, Resource) for item in case.get("resources") or []]
            options = {key: case[key] for key in OPTIONS if key in case}
            policy = Policy.from_options(case.get("policy", "waypoint"), **options)
            expected = Health[str(expect["health"]).upper()]
        except KeyError:
            raise _CaseError(
                f"expect: health {expect['health']!r} is not a health; write one of "
                f"{', '.join(health.name for health in Health)}"
            ) from None
        except (ValueError, TypeError) as exc:
            raise _CaseError(str(exc)) from None
        health, message = policy.evaluate(resources)
        wanted = expect.get("message")
        if health is not expected or (wanted is not None and message != wanted):
            shown = f": {wanted}" if wanted is not None else ""
            raise _HealthMismatch(f"{expected.name}{shown}", f"{health.name}: {message}")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        error = excinfo.value
        if isinstance(error, _HealthMismatch):
            return f"{self.name}:\n  expected {error.expected}\n  got      {error.got}"
        if isinstance(error, _CaseError):
            return f"{self.path.name}: case {self.name!r}: {error}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"health case: {self.name}"


@final
class _HealthMismatch(AssertionError):
    """The policy gave another health, or another message, than the case expects."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected = expected
        self.got = got
