"""``ce chain verify RUN_DIR`` binds a run's attestation evidence to the run it sits in, and
fails in one line on every malformed or tampered input (exit 1), never with a traceback.

Two real attested runs of ``small`` (seeds 7 and 8, eth-tester, hourly batches) are made once
per session; every test works on a copy.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.run.rundir import sha256_file

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAIN_FILES = ("records.jsonl", "batches.jsonl", "proofs.bin", "chain.json", "bridge.json")
#: fields of the chain files that nothing derives: checked for form only (see sim.run.chain_audit)
INFORMATIONAL = {
    "batches.jsonl": ("tx_hash", "gas_used", "sealed_at"),
    "bridge.json": (
        "deploy_receipts",
        "sim_time_closed_s",
        "settlements",
        "backend.accounts",
        "stats.transactions",
        "stats.gas_total",
        "stats.gas_per_record",
        "stats.inclusion_latency_s_p50",
        "stats.inclusion_latency_s_p95",
        "stats.inclusion_latency_s_max",
    ),
}
_ROW = {"separators": (",", ":"), "sort_keys": True}
#: how each chain file's writer serialises one JSON document (a line, or the whole file)
_WRITER = {
    "records.jsonl": lambda obj: json.dumps(obj, **_ROW) + "\n",
    "batches.jsonl": lambda obj: json.dumps(obj, sort_keys=True) + "\n",
    "chain.json": lambda obj: json.dumps(obj, indent=1, sort_keys=True) + "\n",
    "bridge.json": lambda obj: json.dumps(obj, indent=1, sort_keys=True) + "\n",
}


def _attested_run(out: Path, seed: int) -> Path:
    argv = ["run", "small", "--quiet", "--out", str(out), "--seed", str(seed)]
    argv += ["--models", str(REPO_ROOT / "models")]
    argv += ["--set", "chain.backend=eth-tester", "--set", "chain.batch_interval_s=3600"]
    assert main(argv) == 0
    (run,) = out.iterdir()
    return run


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two attested runs of small: seed 7 and seed 8."""
    base = tmp_path_factory.mktemp("attested")
    return _attested_run(base / "a", 7), _attested_run(base / "b", 8)


@pytest.fixture
def run_copy(runs, tmp_path) -> Path:
    dst = tmp_path / runs[0].name
    shutil.copytree(runs[0], dst)
    return dst


def _reseal_manifest(run: Path) -> None:
    """Rewrite manifest.json to list every file of ``run`` as it is now: what a forger who can
    edit the run directory does to pass ``ce audit verify``."""
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["artefacts"] = {
        p.relative_to(run).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _ce_verify(run: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["chain", "verify", str(run), *extra])
    return code, out.getvalue(), err.getvalue()


def _failed(run: Path) -> str:
    """The one FAILED line of ``ce chain verify run`` (exit 1, nothing on stderr)."""
    code, out, err = _ce_verify(run, "--sample", "4")
    assert (code, err) == (1, ""), (code, out, err)
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: "), out
    return lines[0].removeprefix("FAILED: ")


# ----------------------------------------------------------------------------- the clean run
def test_a_clean_run_verifies_and_names_itself(runs) -> None:
    code, out, err = _ce_verify(runs[0], "--sample", "8")
    assert (code, err) == (0, "")
    assert out.startswith("ok: ") and len(out.splitlines()) == 1
    assert f"are {runs[0].name}'s own (re-derived from its event tables" in out
    assert "8 proofs verified on chain" in out
    code, out, _ = _ce_verify(runs[0] / "chain", "--sample", "0", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["run"] == runs[0].name
    assert report["records"] == len((runs[0] / "chain" / "records.jsonl").read_text().splitlines())


# ----------------------------------------------------------------------------- binding to the run
@pytest.mark.parametrize("reseal", [False, True], ids=["as-is", "manifest-resealed"])
def test_a_chain_folder_swapped_in_from_another_run_fails(runs, run_copy, reseal) -> None:
    """Another seed's chain/ is a valid attestation of *its* records, on *its* chain: only the
    binding to this run's event tables tells them apart, even with a matching manifest."""
    shutil.rmtree(run_copy / "chain")
    shutil.copytree(runs[1] / "chain", run_copy / "chain")
    if reseal:
        _reseal_manifest(run_copy)
    line = _failed(run_copy)
    assert line.startswith("chain/records.jsonl line 1 (price event_id=0): "), line
    assert "events/pricing_events.parquet event_id=0 gives" in line


def _rewrite_table(run: Path, table: str, change) -> None:
    path = run / "events" / f"{table}.parquet"
    frame = pq.read_table(path)
    data = frame.to_pydict()
    change(data)
    import pyarrow as pa

    pq.write_table(pa.table(data, schema=frame.schema), path)


def test_an_edited_decision_no_longer_matches_its_record(run_copy) -> None:
    def flip(data):
        data["decision"][0] = "DECLINED" if data["decision"][0] != "DECLINED" else "APPROVED"

    _rewrite_table(run_copy, "decisions", flip)
    _reseal_manifest(run_copy)
    line = _failed(run_copy)
    rid = pq.read_table(run_copy / "events" / "decisions.parquet")["request_id"][0].as_py()
    assert f"(decision request_id={rid}): decision=" in line
    assert f"events/decisions.parquet request_id={rid} gives" in line


def test_an_edited_allocation_contradicts_the_attested_clearing(run_copy) -> None:
    offers = pq.read_table(run_copy / "events" / "offers.parquet").to_pydict()
    k = next(i for i, cents in enumerate(offers["allocated_cents"]) if cents > 0)

    def more(data):
        data["allocated_cents"][k] += 100

    _rewrite_table(run_copy, "offers", more)
    _reseal_manifest(run_copy)
    line = _failed(run_copy)
    assert line.startswith(f"events/offers.parquet offer_id={offers['offer_id'][k]}: ")
    assert "allocated_cents=" in line and "the attested clearing of auction" in line


def test_a_dropped_table_row_is_a_record_without_its_row(run_copy) -> None:
    def drop_last(data):
        for column in data.values():
            column.pop()

    _rewrite_table(run_copy, "pricing_events", drop_last)
    _reseal_manifest(run_copy)
    line = _failed(run_copy)
    assert "no row of events/pricing_events.parquet makes it" in line


def test_bridge_settings_must_be_the_scenario_chain_section(run_copy) -> None:
    scenario = run_copy / "scenario.yaml"
    scenario.write_text(
        scenario.read_text().replace("batch_interval_s: 3600", "batch_interval_s: 60")
    )
    _reseal_manifest(run_copy)
    line = _failed(run_copy)
    assert line.startswith("chain/bridge.json: batch_interval_s=3600.0: scenario.yaml says ")


def test_chain_files_must_match_the_manifest(run_copy) -> None:
    """An edit of an informational field passes every content check but the manifest."""
    path = run_copy / "chain" / "batches.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["gas_used"] += 1
    path.write_text("".join(_WRITER["batches.jsonl"](r) for r in rows))
    line = _failed(run_copy)
    assert line.startswith("chain/batches.jsonl: sha256=") and "manifest.json says" in line
    (run_copy / "chain" / "extra.txt").write_text("x")
    _reseal_manifest(run_copy)
    manifest = json.loads((run_copy / "manifest.json").read_text())
    del manifest["artefacts"]["chain/extra.txt"]
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    assert _failed(run_copy) == "chain/extra.txt: not listed in manifest.json (added or swapped in)"


# ----------------------------------------------------------------------------- chain.json
def _edit_chain_json(run: Path, change) -> None:
    path = run / "chain" / "chain.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(_WRITER["chain.json"](meta))


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0xF2E246BB76DF876Cef8b38ae84130F4F55De395c", "EIP-55"),  # checksum broken
        ("0x" + "ab" * 19, "EIP-55"),  # too short
        ("not an address", "EIP-55"),
        (12345, "EIP-55"),
        (None, "EIP-55"),
    ],
)
def test_a_tampered_contract_address_is_one_line(run_copy, value, rule) -> None:
    def change(meta):
        meta["contracts"]["Attestor"]["address"] = value

    _edit_chain_json(run_copy, change)
    line = _failed(run_copy)
    assert line.startswith(f"chain/chain.json: contracts.Attestor.address={value!r}"[:60])
    assert rule in line


def test_an_address_where_no_attestor_answers_fails_on_chain(run_copy) -> None:
    """A well-formed address, consistent in chain.json, bridge.json and the manifest, holding
    no Attestor: the chain itself says no."""
    elsewhere = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"  # the deployer: no code there
    old = json.loads((run_copy / "chain" / "chain.json").read_text())["contracts"]["Attestor"]
    for name in ("chain.json", "bridge.json"):
        path = run_copy / "chain" / name
        path.write_text(path.read_text().replace(old["address"], elsewhere))
    _reseal_manifest(run_copy)
    line = _failed(run_copy)
    assert line.startswith(f"chain/chain.json: contracts.Attestor.address={elsewhere}: ")
    assert "no Attestor of this run answers at that address" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json\n", "chain/chain.json: not JSON"),
        ("[]\n", "chain/chain.json: must be a JSON object, found list"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "chain/chain.json: larger than 65536 bytes"),
        ("[" * 30_000 + "]" * 30_000 + "\n", "chain/chain.json: not JSON (nested deeper than 64"),
        ('{"backend": "eth-tester"}\n', "chain/chain.json: chain_id: missing"),
        ("\xff\n", "chain/chain.json: byte 1 is not ASCII"),
    ],
)
def test_malformed_chain_json_is_one_line(run_copy, text, expected) -> None:
    (run_copy / "chain" / "chain.json").write_bytes(text.encode("latin-1"))
    assert _failed(run_copy).startswith(expected)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("chain_id", "1", "chain_id='1': must be an integer"),
        ("head_block_hash", "0x12", "head_block_hash='0x12': must be 0x and 64"),
        ("format", 2, "format=2: must be 1"),
        ("state_file", "../../etc/passwd", "state_file='../../etc/passwd': must be"),
        ("extra", {"mode": "full"}, "chain/bridge.json: mode='attest': must be chain.json's"),
        ("surprise", 1, "chain/chain.json: surprise: not a field of this file"),
    ],
)
def test_wrong_chain_json_fields_are_one_line(run_copy, field, value, expected) -> None:
    _edit_chain_json(run_copy, lambda meta: meta.__setitem__(field, value))
    assert expected in _failed(run_copy)


def test_chain_facts_are_checked_against_the_saved_chain(run_copy) -> None:
    _edit_chain_json(run_copy, lambda meta: meta.__setitem__("head_block_number", 1))
    _reseal_manifest(run_copy)
    assert _failed(run_copy).startswith("chain/chain.json: head_block_number=1: the saved chain")


@pytest.mark.parametrize("name", [*CHAIN_FILES, "chain_state.bin"])
def test_a_missing_chain_file_is_named(run_copy, name) -> None:
    (run_copy / "chain" / name).unlink()
    line = _failed(run_copy)
    assert line.startswith(f"chain/{name}: missing") or f"{name} is missing" in line, line


def test_a_missing_chain_folder_of_an_attested_run_fails(run_copy) -> None:
    shutil.rmtree(run_copy / "chain")
    assert _failed(run_copy) == "chain/records.jsonl: missing"


def test_nothing_to_verify_is_exit_2(run_copy, tmp_path) -> None:
    shutil.rmtree(run_copy / "chain")
    _reseal_manifest(run_copy)  # a run made with chain off
    code, out, err = _ce_verify(run_copy)
    assert (code, out) == (2, "") and "not an attested run" in err
    assert len(err.splitlines()) == 1
    code, out, err = _ce_verify(tmp_path / "nope")
    assert (code, out) == (2, "") and "not a directory" in err
    code, _, err = _ce_verify(run_copy, "--sample", "-1")
    assert code == 2 and "--sample=-1: must be >= 0" in err


def test_verify_exit_codes_in_a_subprocess(runs, run_copy) -> None:
    import subprocess
    import sys

    ce = [sys.executable, "-m", "sim.cli", "chain", "verify"]
    ok = subprocess.run([*ce, str(runs[0]), "--sample", "2"], capture_output=True, text=True)
    assert (ok.returncode, ok.stderr) == (0, "") and ok.stdout.startswith("ok: ")
    _edit_chain_json(run_copy, lambda m: m["contracts"]["Attestor"].update(address="0x1"))
    bad = subprocess.run([*ce, str(run_copy)], capture_output=True, text=True)
    assert (bad.returncode, bad.stderr) == (1, "")
    assert bad.stdout.startswith("FAILED: chain/chain.json: contracts.Attestor.address='0x1'")
    usage = subprocess.run(ce, capture_output=True, text=True)
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) >= 1


# ----------------------------------------------------------------------------- random tampering
def _flat(obj, prefix: str = "") -> dict[str, str]:
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.dumps(obj)}


def _docs(name: str, data: bytes) -> list | None:
    """The JSON documents of a chain file (one per line, or one), or None if it is not."""
    try:
        text = data.decode("ascii")
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in text.splitlines()]
        return [json.loads(text)]
    except (ValueError, RecursionError):
        return None


def _only_informational(name: str, before: bytes, after: bytes) -> bool:
    """True when ``after`` differs from ``before`` in informational fields only."""
    allowed = INFORMATIONAL.get(name)
    if allowed is None:
        return False
    old, new = _docs(name, before), _docs(name, after)
    if old is None or new is None or len(old) != len(new):
        return False
    changed = set()
    for a, b in zip(old, new, strict=True):
        if not isinstance(b, dict):
            return False
        fa, fb = _flat(a), _flat(b)
        changed |= {k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}
    return bool(changed) and all(
        any(path == f or path.startswith(f + ".") for f in allowed) for path in changed
    )


_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def tampers(draw, originals: dict[str, bytes]):
    """``(file, new bytes)``: one random edit of one chain file."""
    name = draw(st.sampled_from(CHAIN_FILES))
    data = originals[name]
    op = draw(st.sampled_from(["flip", "truncate", "drop", "duplicate", "swap", "edit"]))
    lines = data.splitlines(keepends=True)
    if op == "edit" and name in _WRITER:
        docs = _docs(name, data)
        i = draw(st.integers(0, len(docs) - 1))
        doc = docs[i]
        path = draw(st.sampled_from(sorted(_flat(doc))))
        node = doc
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = draw(_json_values)
        text = _WRITER[name](doc)
        if name.endswith(".jsonl"):
            lines[i] = text.encode("ascii")
            return name, b"".join(lines)
        return name, text.encode("ascii")
    if op in ("drop", "duplicate", "swap") and len(lines) >= 2:
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return name, b"".join(lines)
    if op == "truncate":
        return name, data[: draw(st.integers(0, len(data) - 1))]
    k = draw(st.integers(0, len(data) - 1))
    return name, data[:k] + bytes([data[k] ^ draw(st.integers(1, 255))]) + data[k + 1 :]


def _originals(run: Path) -> dict[str, bytes]:
    return {name: (run / "chain" / name).read_bytes() for name in CHAIN_FILES}


@pytest.fixture(scope="session")
def originals(runs) -> dict[str, bytes]:
    return _originals(runs[0])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), reseal=st.booleans())
def test_random_tampering_never_passes_and_never_crashes(runs, originals, data, reseal) -> None:
    """Flip a byte, truncate, drop / duplicate / swap a line or edit a JSON field of one chain
    file, with or without a manifest resealed to match: one line, exit 1, unless the edit was
    a no-op or touched only informational fields and the manifest was resealed."""
    name, tampered = data.draw(tampers(originals))
    assume(tampered != originals[name])
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / runs[0].name
        shutil.copytree(runs[0], run)
        (run / "chain" / name).write_bytes(tampered)
        if reseal:
            _reseal_manifest(run)
        code, out, err = _ce_verify(run, "--sample", "1")
    assert err == "", err  # never an error line (nor an internal error), never a traceback
    assert len(out.splitlines()) == 1, out
    if code == 0:
        assert reseal and _only_informational(name, originals[name], tampered), (name, out)
    else:
        assert code == 1 and out.startswith("FAILED: "), (code, out)


def test_links_and_pipes_are_refused_not_followed(run_copy) -> None:
    import os

    records = run_copy / "chain" / "records.jsonl"
    records.unlink()
    records.symlink_to("/dev/zero")
    assert _failed(run_copy) == (
        "chain/records.jsonl: a symbolic link (a run directory holds plain files)"
    )
    records.unlink()
    os.mkfifo(records)  # reading it would block forever
    assert _failed(run_copy) == "chain/records.jsonl: not a plain file"


def test_a_missing_or_broken_manifest_or_scenario_is_one_line(run_copy) -> None:
    manifest = run_copy / "manifest.json"
    original = manifest.read_bytes()
    manifest.write_text('{"artefacts": [')
    assert _failed(run_copy).startswith("manifest.json: not JSON")
    manifest.write_text("[" * 5000 + "]" * 5000)
    assert _failed(run_copy).startswith("manifest.json: not JSON (nested deeper than 64")
    manifest.unlink()
    assert _failed(run_copy) == "manifest.json: missing (not a complete run directory)"
    manifest.write_bytes(original)
    (run_copy / "scenario.yaml").write_text("seed: [1, 2\n")
    assert _failed(run_copy).startswith("scenario.yaml: not a valid scenario (")
