"""Bad input, fuzzed (issue 6, area 2): config files and report JSON nobody would write.

Config files, mutated from a valid one byte by byte and line by line, or generated (HCL
token soup, well-formed HCL and HCL JSON of random keys and values), go through the real CLI
in-process (``status``, which reads the config, loads the builtin plugins and checks each
app's config against its plugin). Every outcome must be exit 0 (there is no deployment, so
nothing is checked), or exit 2 with ``Error: FILE...: what to fix`` and no state written;
never a traceback, an exception escaping the CLI, or the last-line-of-defence exit 1
(``Error: SomeError: ... (-v shows the traceback)``) that means an error nobody anticipated.

Arbitrary JSON into ``report_from_json`` gives a ``StatusReport`` or a ``ReportDecodeError``,
nothing else. Example counts are kept moderate: the whole module runs in well under a minute.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hostile import harness
from hostile.harness import assert_survived
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from waypoint_hooks import ReportDecodeError, StatusReport, report_from_json
from waypoint_hooks.cli.commands import main


def fuzz(examples: int) -> settings:
    """Settings of a fuzz test: ``examples`` examples, the same ones on every run."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )


VALID_HCL = """\
# A valid file using most of the grammar; the fuzzer starts from it.
project = "fuzz"

status {
  policy      = "worst"
  timeout     = "5s"
  interval    = "1m30s"
  concurrency = 4
  keep        = 10
}

app "web" {
  isolate = false

  build {
    use "docker" {}
  }

  deploy {
    use "filepath" {
      directory = "out"
      content   = <<EOT
hello $${x} %%{y}
EOT
    }
  }

  release {
    use "filepath" {}
  }

  status {
    policy         = "threshold"
    ready_fraction = 0.75
    ignore         = ["ingress", "job-*"]
    top_level_only = true
  }
}

app "worker" {
  deploy {
    use "filepath" {
      directory = "w" // a comment
    }
  }

  status {
    policy = "worst"
    order  = ["READY", "ALIVE", "PARTIAL", "UNKNOWN", "MISSING", "DOWN"]
  }
}
"""

VALID_JSON = json.dumps(
    {
        "//": "a comment",
        "project": "fuzz",
        "status": {"policy": "worst", "timeout": "5s", "keep": 10},
        "app": {
            "web": {
                "isolate": False,
                "deploy": {"use": {"filepath": {"directory": "out"}}},
                "release": {"use": {"filepath": {}}},
                "status": {"policy": "threshold", "min_ready": 1, "ignore": ["ingress"]},
            },
            "worker": [{"deploy": {"use": {"filepath": {"directory": "w"}}}}],
        },
    },
    indent=2,
)


# The hostile plugin modules on the path, only builtins besides them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("hostile_plugins")


def run_config(name: str, data: bytes) -> None:
    """Write ``data`` as config file ``name`` in a new directory and run ``status`` on it."""
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / name
        config.write_bytes(data)
        result = CliRunner().invoke(main, ["-c", str(config), "status"])
        assert_survived(result)
        output = result.output
        assert "(-v shows the traceback)" not in output, output
        # An accepted config's apps have nothing deployed yet: 1, and each says so.
        assert result.exit_code in (0, 1, 2), (result.exit_code, output)
        if result.exit_code == 1:
            assert "nothing deployed" in output, output
        if result.exit_code == 2:
            assert output.startswith("Error: "), output
            assert name in output.splitlines()[0], output
            assert not (config.parent / ".waypoint-hooks" / "state.db").exists(), output


# Found by hand or by the fuzzers below; kept so that they are tried on every run.
SPECIAL_CONFIGS = {
    "json-nested-50000-deep": (
        "waypoint.hcl.json",
        b'{"project": "p", "app": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ),
    "hcl-nested-5000-deep": ("waypoint.hcl", b"project = " + b"[" * 5_000 + b"]" * 5_000 + b"\n"),
    "json-byte-order-mark": ("waypoint.hcl.json", b"\xef\xbb\xbf" + VALID_JSON.encode()),
    "json-lone-surrogate-app-name": (
        "waypoint.hcl.json",
        b'{"project": "p", "app": {"w\\ud800": {"deploy": {"use": {"filepath": {}}}}}}',
    ),
    "hcl-lone-surrogate-app-name": (
        "waypoint.hcl",
        b'project = "p"\n\napp "w\\uD800" {\n  deploy {\n    use "filepath" {}\n  }\n}\n',
    ),
    "json-lone-surrogate-project": (
        "waypoint.hcl.json",
        b'{"project": "p\\udc00", "app": {"w": {"deploy": {"use": {"filepath": {}}}}}}',
    ),
    "json-nan-setting": (
        "waypoint.hcl.json",
        b'{"project": "p", "app": {"w": {"deploy": {"use": {"filepath": {"directory": NaN}}}}}}',
    ),
    "json-infinite-keep": (
        "waypoint.hcl.json",
        b'{"project": "p", "status": {"keep": 1e999},'
        b' "app": {"w": {"deploy": {"use": {"x": {}}}}}}',
    ),
    "nul-bytes": ("waypoint.hcl", VALID_HCL.replace("fuzz", "fu\x00zz").encode()),
    "not-utf8": ("waypoint.hcl", VALID_HCL.encode().replace(b"fuzz", b"fu\xffzz")),
    "empty": ("waypoint.hcl", b""),
}


@pytest.mark.parametrize("case", SPECIAL_CONFIGS)
def test_special_config_files_are_accepted_or_refused_with_a_message(case: str) -> None:
    run_config(*SPECIAL_CONFIGS[case])


def test_the_seed_files_are_valid() -> None:
    for name, text in (("waypoint.hcl", VALID_HCL), ("waypoint.hcl.json", VALID_JSON)):
        with tempfile.TemporaryDirectory() as directory:
            config = Path(directory) / name
            config.write_text(text)
            result = CliRunner().invoke(main, ["-c", str(config), "status"])
            assert result.exit_code == 1, result.output
            assert "nothing deployed" in result.output


# --- mutations ----------------------------------------------------------------------------

# Bytes that mean something to HCL, JSON, UTF-8 or a terminal.
INTERESTING = [
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b"=",
    b":",
    b",",
    b"\n",
    b"\\",
    b"${",
    b"%{",
    b"$${",
    b"<<EOT\n",
    b"EOT\n",
    b"#",
    b"//",
    b"/*",
    b"*/",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xae",
    b"\x1b[2J",
    b"\\u0000",
    b"\\ud800",
    b"1e999",
    b"-1",
    b"0.0",
    b"99999999999999999999999",
    b"null",
    b"true",
    b"app",
    b"status",
    b"deploy",
    b"release",
    b"use",
    b"keep",
    b"isolate",
    b"timeout",
    b"project",
]


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> bytes:
    """``seed`` with a few byte deletions, insertions and line duplications, deletions
    and swaps."""
    data = bytearray(seed.encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "line-dup", "line-del", "line-swap"]))
        if kind in ("delete", "insert"):
            at = draw(st.integers(0, len(data)))
            if kind == "delete":
                del data[at : at + draw(st.integers(1, 12))]
            else:
                piece = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=6))
                data[at:at] = piece
            continue
        lines = bytes(data).split(b"\n")
        first = draw(st.integers(0, len(lines) - 1))
        if kind == "line-dup":
            lines.insert(first, lines[first])
        elif kind == "line-del":
            del lines[first]
        else:
            second = draw(st.integers(0, len(lines) - 1))
            lines[first], lines[second] = lines[second], lines[first]
        data = bytearray(b"\n".join(lines))
    return bytes(data)


@fuzz(150)
@given(mutated(VALID_HCL))
def test_mutated_hcl_is_accepted_or_refused_with_a_message(data: bytes) -> None:
    run_config("waypoint.hcl", data)


@fuzz(100)
@given(mutated(VALID_JSON))
def test_mutated_hcl_json_is_accepted_or_refused_with_a_message(data: bytes) -> None:
    run_config("waypoint.hcl.json", data)


# --- generated files ----------------------------------------------------------------------

IDENTIFIERS = st.sampled_from(
    [
        "project",
        "app",
        "status",
        "deploy",
        "release",
        "build",
        "registry",
        "use",
        "policy",
        "timeout",
        "concurrency",
        "interval",
        "keep",
        "isolate",
        "ready_fraction",
        "min_ready",
        "ignore",
        "order",
        "top_level_only",
        "directory",
        "content",
        "link",
        "filepath",
        "x",
    ]
) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)

TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters='"\\\n\r'),
    max_size=12,
) | st.sampled_from(["5s", "1m30s", "-1s", "0s", "worst", "threshold", "waypoint", "READY", "${x}"])

SCALARS = (
    TEXT.map(harness.hcl_value)
    | st.integers(-(2**70), 2**70).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.sampled_from(["true", "false", "null", "1e999", "0.5", "1.0"])
)
EXPRESSIONS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
        | st.dictionaries(IDENTIFIERS, inner, max_size=3).map(
            lambda pairs: "{" + ", ".join(f"{key} = {value}" for key, value in pairs.items()) + "}"
        )
    ),
    max_leaves=8,
)


def _body(draw: st.DrawFn, depth: int, indent: str) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(IDENTIFIERS)
        if depth > 0 and draw(st.booleans()):
            labels = draw(st.lists(TEXT.map(harness.hcl_value), max_size=2))
            inner = _body(draw, depth - 1, indent + "  ")
            header = " ".join([name, *labels])
            lines += (
                [f"{indent}{header} {{", *inner, f"{indent}}}"]
                if inner
                else [f"{indent}{header} {{}}"]
            )
        else:
            lines.append(f"{indent}{name} = {draw(EXPRESSIONS)}")
    return lines


@st.composite
def random_hcl(draw: st.DrawFn) -> bytes:
    """Well-formed HCL of random attributes and blocks, mostly the config's own names."""
    lines = [f"project = {draw(SCALARS)}"] if draw(st.booleans()) else []
    lines += _body(draw, 4, "")
    return ("\n".join(lines) + "\n").encode()


# A config as data: the same document is written as HCL and as HCL JSON. Each value has the
# type its key wants most of the time, and anything at all otherwise.
ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=6,
)


def mostly(typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(typed, typed, typed, ANY)


DURATIONS = st.sampled_from(
    ["5s", "1m30s", "0s", "-1s", "1.5h", "500ms", "1us", "10", "1x", "", "99999999999999h"]
)
HEALTHS = ["READY", "ALIVE", "PARTIAL", "UNKNOWN", "MISSING", "DOWN", "BROKEN"]
STATUS_KEYS: dict[str, st.SearchStrategy[Any]] = {
    "policy": st.sampled_from(["waypoint", "worst", "threshold", "best"]),
    "timeout": DURATIONS,
    "concurrency": st.integers(-2, 2**40),
    "interval": DURATIONS,
    "keep": st.integers(-2, 2**70),
    "ready_fraction": st.floats(-1, 2, allow_nan=False),
    "min_ready": st.integers(-2, 10),
    "ignore": st.lists(TEXT, max_size=3),
    "order": st.lists(st.sampled_from(HEALTHS), max_size=7),
    "top_level_only": st.booleans(),
    "bogus": ANY,
}
PLUGIN_KEYS: dict[str, st.SearchStrategy[Any]] = {
    "directory": TEXT,
    "content": TEXT,
    "command": st.lists(TEXT, min_size=1, max_size=3),
    "url": st.sampled_from(["http://127.0.0.1:9/", "ftp://x", "not a url"]),
    "bogus": ANY,
}
PLUGINS = st.sampled_from(["filepath", "filepath", "process", "http", "supervisor", "nope"])


@st.composite
def attributes(draw: st.DrawFn, keys: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    chosen = draw(
        st.lists(st.sampled_from(sorted(keys, key="bogus".__eq__)), unique=True, max_size=4)
    )
    return {key: draw(mostly(keys[key])) for key in chosen}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    apps = []
    for name in draw(st.lists(TEXT, unique=True, max_size=3)):
        app: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            app["isolate"] = draw(mostly(st.booleans()))
        for component in ("deploy", "release"):
            if draw(
                st.sampled_from(
                    [True, True, True, False] if component == "deploy" else [False, True]
                )
            ):
                app[component] = (draw(PLUGINS), draw(attributes(PLUGIN_KEYS)))
        for block in ("status", "build", "registry", "widget"):
            if draw(st.sampled_from([False, False, False, False, True])):
                app[block] = draw(attributes(STATUS_KEYS))
        apps.append(app)
    document: dict[str, Any] = {"apps": apps}
    if draw(st.sampled_from([True, True, True, True, False])):
        document["project"] = draw(mostly(TEXT.filter(bool)))
    if draw(st.booleans()):
        document["status"] = draw(attributes(STATUS_KEYS))
    return document


def hcl_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        pairs = ", ".join(f"{key} = {hcl_literal(item)}" for key, item in value.items())
        return "{" + pairs + "}"
    if isinstance(value, list):
        return "[" + ", ".join(hcl_literal(item) for item in value) + "]"
    return harness.hcl_value(value)


def hcl_block(header: str, body: dict[str, Any], indent: str) -> list[str]:
    if not body:
        return [f"{indent}{header} {{}}"]
    inner = [f"{indent}  {key} = {hcl_literal(value)}" for key, value in body.items()]
    return [f"{indent}{header} {{", *inner, f"{indent}}}"]


def as_hcl(document: dict[str, Any]) -> bytes:
    lines = []
    if "project" in document:
        lines += [f"project = {hcl_literal(document['project'])}", ""]
    if "status" in document:
        lines += [*hcl_block("status", document["status"], ""), ""]
    for app in document["apps"]:
        lines.append(f"app {harness.hcl_value(app['name'])} {{")
        if "isolate" in app:
            lines.append(f"  isolate = {hcl_literal(app['isolate'])}")
        for component in ("deploy", "release"):
            if component in app:
                plugin, config = app[component]
                use = hcl_block(f"use {harness.hcl_value(plugin)}", config, "    ")
                lines += [f"  {component} {{", *use, "  }"]
        for block in ("status", "build", "registry", "widget"):
            if block in app:
                lines += hcl_block(block, app[block], "  ")
        lines += ["}", ""]
    return "\n".join(lines).encode()


def as_json(document: dict[str, Any]) -> bytes:
    blocks: dict[str, Any] = {}
    for app in document["apps"]:
        block = {
            key: value for key, value in app.items() if key not in ("name", "deploy", "release")
        }
        for component in ("deploy", "release"):
            if component in app:
                plugin, config = app[component]
                block[component] = {"use": {plugin: config}}
        blocks[app["name"]] = block
    top = {key: value for key, value in document.items() if key != "apps"}
    return json.dumps({**top, "app": blocks}, indent=1).encode()


@fuzz(150)
@given(documents())
def test_generated_hcl_is_accepted_or_refused_with_a_message(document: dict[str, Any]) -> None:
    run_config("waypoint.hcl", as_hcl(document))


@fuzz(150)
@given(documents())
def test_generated_hcl_json_is_accepted_or_refused_with_a_message(
    document: dict[str, Any],
) -> None:
    run_config("waypoint.hcl.json", as_json(document))


@fuzz(60)
@given(random_hcl())
def test_random_hcl_is_accepted_or_refused_with_a_message(data: bytes) -> None:
    run_config("waypoint.hcl", data)


TOKENS = st.sampled_from([token.decode("latin-1") for token in INTERESTING]) | IDENTIFIERS | TEXT


@fuzz(80)
@given(st.lists(TOKENS, max_size=40).map(lambda tokens: " ".join(tokens).encode()))
def test_hcl_token_soup_is_refused_with_a_message(data: bytes) -> None:
    run_config("waypoint.hcl", data)


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=10)
)
# --- the report decoder -------------------------------------------------------------------

WIRE_KEYS = [
    "resources",
    "health",
    "health_message",
    "healthMessage",
    "generated_time",
    "generatedTime",
    "external",
    "name",
    "id",
    "parent_resource_id",
    "platform",
    "type",
    "platform_url",
    "category_display_hint",
    "created_time",
    "state_json",
]
WIRE_SCALARS = JSON_SCALARS | st.sampled_from(
    ["READY", "DOWN", "INSTANCE", "2024-05-01T12:00:00Z", "0000-01-01T00:00:00Z", "{}", "{", 2, 9]
)
WIRE_VALUES = st.recursive(
    WIRE_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(WIRE_KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=15,
)


def decodes_or_refuses(text: str | bytes) -> None:
    try:
        report = report_from_json(text)
    except ReportDecodeError:
        return
    assert isinstance(report, StatusReport)


@fuzz(300)
@given(WIRE_VALUES)
@example([[[[[[[[[[[[]]]]]]]]]]]])
@example({"resources": [{"name": "r", "created_time": "9999-12-31T23:59:59-01:00"}]})
@example({"healthMessage": "a", "health_message": "b"})
def test_any_json_decodes_to_a_report_or_a_decode_error(value: Any) -> None:
    decodes_or_refuses(json.dumps(value, allow_nan=True))


@fuzz(200)
@given(st.binary(max_size=60) | st.text(max_size=60))
@example(b"\xff\xfe{}")
def test_any_text_decodes_to_a_report_or_a_decode_error(text: str | bytes) -> None:
    decodes_or_refuses(text)


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"resources": ' + "[" * 100_000, '{"resources": [' + '{"name": ' * 100_000],
    ids=["array-100000-deep", "resources-100000-deep", "objects-100000-deep"],
)
def test_deeply_nested_json_is_a_decode_error(text: str) -> None:
    decodes_or_refuses(text)
