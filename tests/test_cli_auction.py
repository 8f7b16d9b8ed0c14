"""``ce auction clear``: JSON in, JSON out, one-line errors with exit status 2."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "auctions"
SPEC_INPUT: dict[str, Any] = {
    "request": {
        "auction_id": 7,
        "borrower": "b1",
        "amount_cents": 1000000,
        "max_rate_bps": 3000,
        "term_months": 12,
        "opened_at": 0,
    },
    "offers": [
        {
            "offer_id": "o1",
            "lender": "l1",
            "amount_cents": 400000,
            "rate_bps": 2400,
            "committed_at": 10,
            "revealed": True,
        },
        {
            "offer_id": "o2",
            "lender": "l2",
            "amount_cents": 700000,
            "rate_bps": 2600,
            "committed_at": 11,
            "revealed": True,
        },
        {
            "offer_id": "o3",
            "lender": "l3",
            "amount_cents": 5000,
            "rate_bps": 2601,
            "committed_at": 12,
            "revealed": True,
        },
    ],
    "rules": {"min_fill_ratio": 0.9, "pricing": "uniform"},
}


def run(tmp_path: Path, doc: Any, capsys: pytest.CaptureFixture[str], *extra: str):
    path = tmp_path / "in.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    code = main(["auction", "clear", str(path), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_spec_example_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, SPEC_INPUT, capsys)
    assert code == 0 and err == ""
    assert out.count("\n") == 1  # one line
    expected = {
        "status": "FILLED",
        "clearing_rate_bps": 2600,
        "paid_rate": "uniform",
        "filled_cents": 1000000,
        "fee_cents": 5000,
        "allocations": [
            {"offer_id": "o1", "lender": "l1", "amount_cents": 400000, "rate_bps": 2600},
            {"offer_id": "o2", "lender": "l2", "amount_cents": 600000, "rate_bps": 2600},
        ],
        "excluded": [{"offer_id": "o3", "reason": "OFF_TICK"}],
    }
    assert out == json.dumps(expected) + "\n"  # exact bytes, keys in the spec's order


def test_engines_and_rules_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = copy.deepcopy(SPEC_INPUT)
    del doc["rules"]
    a = run(tmp_path, doc, capsys)
    b = run(tmp_path, doc, capsys, "--engine", "reference")
    assert a == b and a[0] == 0


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_scenario_files(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auction", "clear", str(path)]) == 0
    numpy_out = capsys.readouterr().out
    assert main(["auction", "clear", str(path), "--engine", "reference"]) == 0
    assert capsys.readouterr().out == numpy_out
    assert json.loads(numpy_out)["status"] in {"FILLED", "PARTIAL", "UNFILLED"}


def test_stdin_and_indent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(SPEC_INPUT)))
    assert main(["auction", "clear", "-", "--indent", "2"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["status"] == "FILLED" and '\n  "status": "FILLED"' in out


def mutate(path: str, value: Any) -> dict[str, Any]:
    """SPEC_INPUT with ``path`` ("offers.1.amount_cents") set to value (or deleted)."""
    doc = copy.deepcopy(SPEC_INPUT)
    *parents, last = path.split(".")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return doc


DELETE = object()
BAD = [
    ("not json", "{nope", "not valid JSON"),
    ("top not object", [1, 2], "input=<array of 2>: must be a JSON object"),
    ("missing request", mutate("request", DELETE), "request=<missing>: required field is missing"),
    ("missing offers", mutate("offers", DELETE), "offers=<missing>: required field is missing"),
    (
        "extra top field",
        mutate("extra", 1),
        "input.extra=1: unknown field; allowed: request, offers, rules",
    ),
    ("request not object", mutate("request", "x"), 'request="x": must be a JSON object'),
    (
        "missing request field",
        mutate("request.amount_cents", DELETE),
        "request.amount_cents=<missing>: required field is missing",
    ),
    ("extra request field", mutate("request.colour", "red"), 'request.colour="red": unknown field'),
    (
        "zero request amount",
        mutate("request.amount_cents", 0),
        "request.amount_cents=0: must be a positive",
    ),
    (
        "float amount",
        mutate("request.amount_cents", 1000000.0),
        "request.amount_cents=1000000.0: must be an integer",
    ),
    (
        "bool rate",
        mutate("request.max_rate_bps", True),
        "request.max_rate_bps=true: must be an integer",
    ),
    (
        "negative reserve",
        mutate("request.max_rate_bps", -1),
        "request.max_rate_bps=-1: must be a non-negative integer",
    ),
    (
        "string borrower number",
        mutate("request.borrower", 5),
        "request.borrower=5: must be a string",
    ),
    (
        "float time",
        mutate("request.opened_at", 0.5),
        "request.opened_at=0.5: must be an integer number of seconds",
    ),
    ("offers not list", mutate("offers", {}), "offers=<object>: must be a JSON array"),
    ("offer not object", mutate("offers.1", 3), "offers[1]=3: must be a JSON object"),
    (
        "missing offer field",
        mutate("offers.2.revealed", DELETE),
        "offers[2].revealed=<missing>: required field is missing",
    ),
    (
        "extra offer field",
        mutate("offers.0.note", "x"),
        'offers[0].note="x": unknown field; allowed: offer_id',
    ),
    (
        "negative offer amount",
        mutate("offers.2.amount_cents", -5),
        "offers[2].amount_cents=-5: must be a positive integer",
    ),
    (
        "zero offer amount",
        mutate("offers.1.amount_cents", 0),
        "offers[1].amount_cents=0: must be a positive integer",
    ),
    (
        "bool-as-int amount",
        mutate("offers.0.amount_cents", True),
        "offers[0].amount_cents=true: must be an integer",
    ),
    (
        "float-as-int rate",
        mutate("offers.0.rate_bps", 2400.0),
        "offers[0].rate_bps=2400.0: must be an integer",
    ),
    (
        "negative rate",
        mutate("offers.0.rate_bps", -5),
        "offers[0].rate_bps=-5: must be a non-negative integer",
    ),
    (
        "huge amount",
        mutate("offers.0.amount_cents", 2**63),
        "offers[0].amount_cents=9223372036854775808",
    ),
    (
        "revealed as int",
        mutate("offers.0.revealed", 1),
        "offers[0].revealed=1: must be true or false",
    ),
    (
        "empty offer id",
        mutate("offers.0.offer_id", ""),
        'offers[0].offer_id="": must be a non-empty string',
    ),
    (
        "duplicate id",
        mutate("offers.2.offer_id", "o1"),
        'offers[2].offer_id="o1": must be unique (already used by offers[0])',
    ),
    (
        "unknown pricing",
        mutate("rules.pricing", "vickrey"),
        'rules.pricing="vickrey": must be one of uniform, pay_as_bid, first_rejected',
    ),
    ("unknown rule", mutate("rules.speed", 3), "rules.speed=3: unknown field; allowed: tick_bps"),
    ("rules not object", mutate("rules", [1]), "rules=<array of 1>: must be a JSON object"),
    ("zero tick", mutate("rules.tick_bps", 0), "rules.tick_bps=0: must be a positive integer"),
    (
        "ratio too big",
        mutate("rules.min_fill_ratio", 1.5),
        "rules.min_fill_ratio=1.5: must be a number in [0, 1]",
    ),
    (
        "ratio negative",
        mutate("rules.min_fill_ratio", -0.01),
        "rules.min_fill_ratio=-0.01: must be a number in [0, 1]",
    ),
    (
        "ratio bool",
        mutate("rules.min_fill_ratio", True),
        "rules.min_fill_ratio=true: must be a number in [0, 1]",
    ),
    (
        "fee above 100%",
        mutate("rules.platform_fee_bps", 10001),
        "rules.platform_fee_bps=10001: must be an integer in [0, 10000]",
    ),
    (
        "negative cooldown",
        mutate("rules.cooldown_s", -1),
        "rules.cooldown_s=-1: must be a non-negative integer",
    ),
    ("float tick", mutate("rules.tick_bps", 5.0), "rules.tick_bps=5.0: must be an integer"),
]


@pytest.mark.parametrize(
    ("doc", "message"), [(d, m) for _, d, m in BAD], ids=[n for n, _, _ in BAD]
)
def test_malformed_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: Any, message: str
) -> None:
    code, out, err = run(tmp_path, doc, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("ce auction: error: ")
    assert message in lines[0], lines[0]


def test_ratio_nan_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.dumps(SPEC_INPUT).replace('"min_fill_ratio": 0.9', '"min_fill_ratio": NaN')
    code, _, err = run(tmp_path, doc, capsys)
    assert code == 2 and "rules.min_fill_ratio=nan: must be a number in [0, 1]" in err


@pytest.mark.parametrize("ratio", [0, 0.0])
def test_ratio_zero_accepts_any_partial_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ratio: float
) -> None:
    """The spec: S = 0 is UNFILLED on its own, so a ratio of 0 accepts any positive supply."""
    doc = mutate("rules.min_fill_ratio", ratio)
    doc["offers"] = [{**doc["offers"][0], "amount_cents": 1000}]  # S = 0.1 % of the amount
    code, out, err = run(tmp_path, doc, capsys)
    assert code == 0 and err == ""
    got = json.loads(out)
    assert (got["status"], got["filled_cents"], got["clearing_rate_bps"]) == ("PARTIAL", 1000, 2400)
    doc["offers"][0]["rate_bps"] = 3005  # above the reserve: S = 0
    code, out, err = run(tmp_path, doc, capsys)
    assert code == 0 and err == ""
    got = json.loads(out)
    assert (got["status"], got["filled_cents"], got["allocations"]) == ("UNFILLED", 0, [])
    assert got["excluded"] == [{"offer_id": "o1", "reason": "ABOVE_RESERVE"}]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("100000000", "100000000"),
        ("17", "17"),
        ("-1", "-1"),
        ("99999999999999999999999", "99999999999999999999999"),
        ("2.5", "2.5"),
        ("abc", "abc"),
        ("", '""'),
        ("1\n2", '"1\\n2"'),
        ("1\u20282", '"1\\u20282"'),
    ],
)
def test_indent_out_of_range_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, shown: str
) -> None:
    code, out, err = run(tmp_path, SPEC_INPUT, capsys, "--indent", value)
    assert code == 2 and out == ""
    lines = err.rstrip("\n").splitlines()
    assert lines == [f"ce auction: error: --indent={shown}: must be an integer in 0..16"]


@pytest.mark.parametrize("indent", [0, 16])
def test_indent_in_range(tmp_path: Path, capsys: pytest.CaptureFixture[str], indent: int) -> None:
    code, out, err = run(tmp_path, SPEC_INPUT, capsys, "--indent", str(indent))
    assert code == 0 and err == ""
    assert f'\n{" " * indent}"status": "FILLED"' in out and json.loads(out)["status"] == "FILLED"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.json", "no such file"),
        (lambda p: p, "is a directory"),
    ],
)
def test_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message: str
) -> None:
    assert main(["auction", "clear", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "FILE=" in err[0]


def test_non_utf8_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe{")
    assert main(["auction", "clear", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


SPEC_TEXT = json.dumps(SPEC_INPUT)


def text_with(old: str, new: str) -> str:
    """SPEC_INPUT as JSON text with the first ``old`` replaced by ``new`` (raw JSON)."""
    assert old in SPEC_TEXT
    return SPEC_TEXT.replace(old, new, 1)


def twice(doc: dict[str, Any], key: str, first: Any) -> str:
    """JSON text of ``doc`` whose ``key`` appears twice: ``first``, then the real value."""
    body = json.dumps(doc)
    return "{" + json.dumps(key) + ": " + json.dumps(first) + ", " + body[1:]


NASTY = [
    ("empty file", "", "not valid JSON: Expecting value at line 1 column 1"),
    ("null", "null", "input=null: must be a JSON object"),
    ("empty array", "[]", "input=<array of 0>: must be a JSON object"),
    (
        "5000-digit integer",
        text_with('"auction_id": 7', '"auction_id": 1' + "0" * 5000),
        "request.auction_id=<integer of 5001 digits>: must be an integer below 2**63",
    ),
    (
        "5000-digit negative integer in a string field",
        text_with('"borrower": "b1"', '"borrower": -' + "9" * 5000),
        "request.borrower=<integer of 5000 digits>: must be a string",
    ),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply"),
    (
        "deep nesting inside a field",
        text_with('"rules": {', '"rules": ' + "[" * 100_000 + "]" * 100_000 + ', "x": {'),
        "not valid JSON: nested too deeply",
    ),
    (
        "Infinity as an integer",
        text_with('"rate_bps": 2400', '"rate_bps": Infinity'),
        "offers[0].rate_bps=inf: must be an integer",
    ),
    (
        "-Infinity as a time",
        text_with('"opened_at": 0', '"opened_at": -Infinity'),
        "request.opened_at=-inf: must be an integer number of seconds",
    ),
    (
        "duplicate top-level key",
        twice(SPEC_INPUT, "offers", []),
        "input.offers=<array of 3>: duplicate key; a field may appear only once in a JSON object",
    ),
    (
        "duplicate key in an offer",
        text_with('"offer_id": "o1"', '"offer_id": "o0", "offer_id": "o1"'),
        'offers[0].offer_id="o1": duplicate key; a field may appear only once',
    ),
    (
        "duplicate key in rules",
        text_with('"pricing": "uniform"', '"pricing": "uniform", "pricing": "pay_as_bid"'),
        'rules.pricing="pay_as_bid": duplicate key',
    ),
    (
        "newline in an unknown key",
        mutate("a\nb", 1),
        'input["a\\nb"]=1: unknown field; allowed: request, offers, rules',
    ),
    (
        "line separator in an unknown rule",
        mutate("rules.x\u2028y", 1),
        'rules["x\\u2028y"]=1: unknown field',
    ),
    (
        "newline in a duplicate offer id",
        mutate("offers.2.offer_id", "o1\n"),
        None,  # set below: both ids carry the newline
    ),
]
_dup_nl = mutate("offers.0.offer_id", "o1\n")
_dup_nl["offers"][2]["offer_id"] = "o1\n"
NASTY[-1] = (
    "newline in a duplicate offer id",
    _dup_nl,
    'offers[2].offer_id="o1\\n": must be unique (already used by offers[0])',
)


@pytest.mark.parametrize(
    ("doc", "message"), [(d, m) for _, d, m in NASTY], ids=[n for n, _, _ in NASTY]
)
def test_nasty_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: Any, message: str
) -> None:
    code, out, err = run(tmp_path, doc, capsys)
    assert code == 2 and out == "", err
    lines = err.rstrip("\n").splitlines()  # splitlines also splits on U+2028 and friends
    assert len(lines) == 1, err
    assert lines[0].startswith("ce auction: error: ")
    assert message in lines[0], lines[0]


def test_unicode_offer_ids_are_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = mutate("offers.0.offer_id", "oferta-ção-\u2028")
    code, out, err = run(tmp_path, doc, capsys)
    assert code == 0 and err == ""
    assert out.count("\n") == 1  # ensure_ascii output: U+2028 is escaped
    assert json.loads(out)["allocations"][0]["offer_id"] == "oferta-ção-\u2028"


def test_non_utf8_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"a": "\xff"}'), "utf-8"))
    assert main(["auction", "clear", "-"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FILE='-': not UTF-8 text" in err[0], err


def test_stdin_bytes_are_decoded_as_utf8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = json.dumps(mutate("offers.0.offer_id", "ção"), ensure_ascii=False).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), "latin-1"))
    assert main(["auction", "clear", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["allocations"][0]["offer_id"] == "ção"
