"""The one YAML reader: scalar rules, refusals (duplicates, aliases, depth, size) and that no
input ends in anything but one ``YamlError`` line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config.scenario import SCENARIO_DIR, ScenarioError, load_scenario
from sim.config.yaml_io import (
    MAX_BYTES,
    MAX_DEPTH,
    YamlError,
    dump_yaml,
    parse_yaml,
    read_yaml_file,
)


def test_yaml_1_2_scalars() -> None:
    data = parse_yaml(
        "a: off\nb: no\nc: yes\nd: true\ne: 1e6\nf: 2025-01-06\ng: 0x10\nh: .inf\n", "t"
    )
    assert data["a"] == "off" and data["b"] == "no" and data["c"] == "yes"
    assert data["d"] is True
    assert data["e"] == 1e6 and isinstance(data["e"], float)
    assert data["f"] == "2025-01-06"
    assert data["h"] == float("inf")


def test_duplicate_key_names_both_lines() -> None:
    with pytest.raises(
        YamlError, match=r"t:3:1: YAML syntax error: duplicate key 'a' \(first at line 1\)"
    ):
        parse_yaml("a: 1\nb: 2\na: 3\n", "t")


def test_nested_duplicate_key() -> None:
    with pytest.raises(YamlError, match="duplicate key 'x'"):
        parse_yaml("a: {x: 1, x: 2}\n", "t")


@pytest.mark.parametrize(
    "text",
    [
        'a: &a ["lol","lol"]\nb: [*a,*a]\n',
        "base: &b {x: 1}\nother:\n  <<: *b\n",
        "a: *undefined\n",
    ],
)
def test_anchors_and_aliases_are_refused(text: str) -> None:
    with pytest.raises(YamlError, match=r"(anchors|aliases) .* not allowed|found undefined alias"):
        parse_yaml(text, "t")


def test_billion_laughs_is_refused_at_once() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    with pytest.raises(YamlError, match="not allowed"):
        parse_yaml("\n".join(lines), "bomb.yaml")


def test_nesting_is_capped() -> None:
    ok = "a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    assert parse_yaml(ok, "t") is not None
    deep = "a: " + "[" * 100_000 + "]" * 100_000
    with pytest.raises(YamlError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_yaml(deep, "t")


def test_size_is_capped(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    with pytest.raises(YamlError, match=f"big.yaml: size: must be at most {MAX_BYTES} bytes"):
        read_yaml_file(big)
    with pytest.raises(YamlError, match="size"):
        parse_yaml("#" * (MAX_BYTES + 1), "t")


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(YamlError, match="not UTF-8"):
        read_yaml_file(bad)
    with pytest.raises(YamlError, match="cannot read"):
        read_yaml_file(tmp_path / "missing.yaml")
    with pytest.raises(YamlError, match="cannot read"):
        read_yaml_file(tmp_path)


def test_scenario_and_override_share_the_reader(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nhorizon_days: 1\nhorizon_days: 2\n")
    with pytest.raises(ScenarioError, match="duplicate key 'horizon_days'"):
        load_scenario(p)
    with pytest.raises(ScenarioError, match="not allowed"):
        load_scenario("small", ["description=&a x"])


_SPECIALS = [*"&*[]{}:,-?|>!%@`'\"#\n\t ", "<<", "&a ", "*a", "\\u0000", "\x00", "\ufeff"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_scenarios_give_data_or_one_yaml_error(data: st.DataObject) -> None:
    """Random edits of a shipped scenario: the reader returns data or raises YamlError (one
    line), never another exception."""
    text = (SCENARIO_DIR / "small.yaml").read_text()
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 5))
        ins = data.draw(st.one_of(st.sampled_from(_SPECIALS), st.text(max_size=4)))
        text = text[:pos] + ins + text[pos + cut :]
    try:
        parse_yaml(text, "m.yaml")
    except YamlError as err:
        assert "\n" not in str(err).strip()


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_gives_data_or_one_yaml_error(text: str) -> None:
    try:
        parse_yaml(text, "t")
    except YamlError as err:
        assert str(err).startswith("t")


_SCALARS = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=12),
        st.sampled_from(["1e5", "+1E3", ".5", "off", "yes", "null", "~", "2025-01-06", "0x1f"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(min_size=1, max_size=8), _SCALARS, max_size=6))
def test_dump_yaml_reads_back_equal(data: dict) -> None:
    """What a run writes (scenario.yaml) is what the reader reads: strings that look like
    numbers, booleans or nulls under YAML 1.2 are quoted."""
    assert parse_yaml(dump_yaml(data), "t") == data


def test_a_resolved_scenario_with_number_like_strings_replays() -> None:
    from sim.config.scenario import scenario_from_mapping

    sc = load_scenario(
        "small", ["name='1e5'", "description='+1E3'", "lenders.groups[0].name='15e5'"]
    )
    text = dump_yaml(sc.canonical_dict())
    again = scenario_from_mapping(parse_yaml(text, "scenario.yaml"), where="t")
    assert again.canonical_json() == sc.canonical_json()
