"""The one converter: how plugin values are structured into the types their hooks annotate."""

from __future__ import annotations

import enum
import subprocess
import sys
import textwrap
from typing import Any, Literal

import attrs
import pytest

import waypoint_hooks
from waypoint_hooks import ConfigError, Duration, StructureError, hookimpl
from waypoint_hooks.host import PluginManager
from waypoint_hooks.model.codec import converter, structure


def test_a_health_field_structures_in_a_fresh_interpreter() -> None:
    # Nothing but the plugin machinery is imported: the converter must be complete as made.
    code = textwrap.dedent(
        """
        import attrs
        from waypoint_hooks import Health, hookimpl
        from waypoint_hooks.host import PluginManager

        @attrs.define
        class Config:
            wanted: Health

        class Plugin:
            @hookimpl
            def platform_status_func(self, config: Config) -> None: ...

        manager = PluginManager()
        manager.register(Plugin(), "typed")
        manager.structure_config("web", "typed", {"wanted": "READY"}, ["platform_status_func"])
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("ok\n", "")


# --- a plugin's config class, and what the user is told when a value does not fit ---------


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.define
class Settings:
    mode: str = attrs.field(default="fast", validator=attrs.validators.in_(["fast", "safe"]))
    name: str = attrs.field(default="web", validator=attrs.validators.matches_re(r"[a-z]+"))
    workers: int = attrs.field(
        default=1, validator=[attrs.validators.ge(1), attrs.validators.le(8)]
    )
    ratio: float = attrs.field(
        default=0.5, validator=[attrs.validators.gt(0), attrs.validators.lt(1)]
    )
    label: Any = attrs.field(default="", validator=attrs.validators.instance_of(str))
    tags: list[str] = attrs.field(factory=list, validator=attrs.validators.max_len(2))
    kind: Literal["a", "b"] = "a"
    speed: Mode = Mode.FAST
    level: Level = Level.LOW
    timeout: Duration = attrs.field(default=Duration(5), validator=attrs.validators.gt(0))


class SettingsPlugin:
    @hookimpl
    def platform_deploy_func(self, config: Settings) -> dict[str, str]:
        return {}


def problems_of(config: dict[str, Any]) -> list[tuple[str, str]]:
    manager = PluginManager()
    manager.register(SettingsPlugin(), "settings")
    with pytest.raises(ConfigError) as raised:
        manager.structure_config("web", "settings", config, ["platform_deploy_func"])
    return raised.value.problems


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"mode": "turbo"}, ("mode", "must be one of fast, safe; got 'turbo'")),
        ({"name": "Web1"}, ("name", "must match the pattern '[a-z]+'; got 'Web1'")),
        ({"workers": 0}, ("workers", "must be at least 1, got 0")),
        ({"workers": 9}, ("workers", "must be at most 8, got 9")),
        ({"ratio": 0}, ("ratio", "must be more than 0, got 0.0")),
        ({"ratio": 1}, ("ratio", "must be less than 1, got 1.0")),
        ({"label": 3}, ("label", "expected str, got int")),
        ({"tags": ["a", "b", "c"]}, ("tags", "must hold at most 2 items, got 3")),
        ({"timeout": "0s"}, ("timeout", "must be longer than 0s, got '0s'")),
    ],
)
def test_attrs_validators_say_what_is_wrong_at_their_field(
    config: dict[str, Any], problem: tuple[str, str]
) -> None:
    assert problems_of(config) == [problem]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"kind": "c"}, ("kind", "must be one of a, b; got 'c'")),
        ({"speed": "turbo"}, ("speed", "must be one of fast, safe; got 'turbo'")),
        ({"level": 3}, ("level", "must be one of 1, 2; got 3")),
        ({"level": True}, ("level", "must be one of 1, 2; got True")),
    ],
)
def test_literal_and_enum_fields_list_their_values(
    config: dict[str, Any], problem: tuple[str, str]
) -> None:
    assert problems_of(config) == [problem]


def test_enum_fields_structure_into_their_members() -> None:
    value = structure({"speed": "safe", "level": 2, "kind": "b"}, Settings)
    assert (value.speed, value.level, value.kind) == (Mode.SAFE, Level.HIGH, "b")
    assert type(value.level) is Level


# --- lists -----------------------------------------------------------------------------------


def misfit(config: dict[str, Any], cls: type) -> str:
    """What structuring ``config`` into ``cls`` says is wrong."""
    with pytest.raises(StructureError) as info:
        structure(config, cls)
    return str(info.value)


@attrs.define
class Lists:
    command: list[str] = attrs.field(factory=list)
    to: str | list[str] = ""


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"command": "true"}, "command: expected a list, got str"),
        ({"command": {"run": "true"}}, "command: expected a list, got dict"),
        ({"to": 5}, "to: expected str, got int"),
        ({"to": ["ops@example.com", 5]}, "to[1]: expected str, got int"),
    ],
)
def test_a_text_is_not_a_list_and_one_or_several_takes_either(
    config: dict[str, Any], problem: str
) -> None:
    assert misfit(config, Lists) == problem


def test_a_one_or_several_field_keeps_what_was_written() -> None:
    assert structure({"to": "ops@example.com"}, Lists).to == "ops@example.com"
    assert structure({"to": ["a@example.com", "b@example.com"]}, Lists).to == [
        "a@example.com",
        "b@example.com",
    ]
    assert structure({"command": ["true"]}, Lists).command == ["true"]


# --- settings named after a Python keyword ---------------------------------------------------


@attrs.define
class Mail:
    host: str
    #: ``from`` in the config file: no field may have that name.
    from_: str = attrs.field(validator=attrs.validators.matches_re(r".+@.+"))


def test_a_field_named_after_a_keyword_is_that_keyword_in_the_config() -> None:
    assert structure({"host": "smtp", "from": "ops@example.com"}, Mail) == Mail(
        "smtp", "ops@example.com"
    )
    assert converter.unstructure(Mail("smtp", "ops@example.com")) == {
        "host": "smtp",
        "from": "ops@example.com",
    }


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"host": "smtp", "from": "ops"}, "from: must match the pattern '.+@.+'; got 'ops'"),
        ({"host": "smtp", "from": 5}, "from: expected str, got int"),
        ({"host": "smtp"}, "from: required field missing"),
        (
            {"host": "smtp", "from": "ops@example.com", "sender": "x"},
            "sender: unknown field (known fields: host, from)",
        ),
    ],
)
def test_a_field_named_after_a_keyword_is_named_as_the_config_names_it(
    config: dict[str, Any], problem: str
) -> None:
    assert misfit(config, Mail) == problem


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("250ms", 0.25), ("1m30s", 90), (30, 30), (0.5, 0.5)],
)
def test_a_duration_field_takes_waypoint_durations_and_numbers_of_seconds(
    written: object, seconds: float
) -> None:
    timeout = structure({"timeout": written}, Settings).timeout
    assert (type(timeout), timeout) == (Duration, seconds)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("soon", "'soon' is not a duration; write a number and a unit"),
        ("30", "duration '30' has no unit; write a number and a unit"),
        ("-1s", "duration '-1s' is negative"),
        (-1, "duration -1 is negative"),
        (float("nan"), "duration nan is not a number of seconds"),
        (True, "expected a duration, got bool True"),
        ("9999999999h", "duration '9999999999h' is longer than the longest one"),
    ],
)
def test_a_bad_duration_says_what_to_write(written: object, problem: str) -> None:
    ((path, message),) = problems_of({"timeout": written})
    assert path == "timeout"
    assert message.startswith(problem)


def test_a_duration_is_a_float_of_seconds_that_prints_as_written() -> None:
    assert Duration("1m30s") == 90.0
    assert isinstance(Duration(2), float)
    assert [str(Duration(text)) for text in ("1m30s", "1h", "250ms", "0s", "1.5s")] == [
        "1m30s",
        "1h",
        "250ms",
        "0s",
        "1.5s",
    ]
    assert repr(Duration(90)) == "Duration('1m30s')"
    assert f"{Duration(90)} or {Duration(90):.1f}" == "1m30s or 90.0"


def test_duration_is_public() -> None:
    assert waypoint_hooks.Duration is Duration
    assert "Duration" in waypoint_hooks.__all__
