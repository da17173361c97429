"""The JSON paths of ``expect { json = { ... } }`` (``builtin_plugins._expect``): ``$``, then
``.key`` and ``[index]`` steps, as properties over any document and path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builtin_plugins._expect import JsonConditions, JsonPath, same

#: A key a path can name: anything but dots and brackets.
KEYS = st.text(st.characters(blacklist_characters=".[]", blacklist_categories=["Cs"]), min_size=1)
STEPS = st.lists(st.one_of(KEYS, st.integers(0, 50)), max_size=8)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)


def placed(steps: list[str | int], value: Any, filler: Any) -> Any:
    """A document holding ``value`` at ``steps``, and ``filler`` in every other place."""
    if not steps:
        return value
    step, *rest = steps
    inner = placed(rest, value, filler)
    if isinstance(step, int):
        return [filler] * step + [inner, filler]
    return {step: inner, f"{step}-other": filler}


@given(STEPS)
def test_a_path_written_out_reads_back_as_the_same_steps(steps: list[str | int]) -> None:
    path = JsonPath(tuple(steps))
    assert JsonPath.parse(str(path)) == path


@given(STEPS, DOCUMENTS, DOCUMENTS)
def test_a_path_finds_the_value_placed_at_it_through_json(
    steps: list[str | int], value: Any, filler: Any
) -> None:
    document = json.loads(json.dumps(placed(steps, value, filler)))
    found = JsonPath(tuple(steps)).find(document)
    assert same(found, json.loads(json.dumps(value)))


@given(STEPS, DOCUMENTS)
def test_a_path_past_what_the_document_holds_is_missing(
    steps: list[str | int], filler: Any
) -> None:
    # One step more than the document has: a text has neither keys nor items.
    text = json.dumps(placed(steps, "leaf", filler))
    for extra in ("key", 0):
        path = JsonPath((*steps, extra))
        assert JsonConditions({path: "leaf"}).failures(text) == [
            f'{path} is missing, expected "leaf"'
        ]
    assert JsonConditions({JsonPath(tuple(steps)): "leaf"}).failures(text) == []


@given(DOCUMENTS)
def test_a_value_is_the_same_as_itself_through_json(value: Any) -> None:
    assert same(value, json.loads(json.dumps(value)))


@given(SCALARS, SCALARS)
def test_a_flag_is_only_ever_the_same_as_that_flag(first: Any, second: Any) -> None:
    if isinstance(first, bool) or isinstance(second, bool):
        assert same(first, second) == (type(first) is type(second) and first == second)


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$", ()),
        ("$.status", ("status",)),
        ("$.checks[0].state", ("checks", 0, "state")),
        ("$[2][10]", (2, 10)),
        ("$.a-b.c d", ("a-b", "c d")),
    ],
)
def test_paths_as_written(text: str, steps: tuple[str | int, ...]) -> None:
    assert JsonPath.parse(text).steps == steps


@pytest.mark.parametrize("text", ["status", "$status", "$.", "$..a", "$.a[", "$.a[-1]", "$.a[x]"])
def test_what_is_not_a_path_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON path"):
        JsonPath.parse(text)
