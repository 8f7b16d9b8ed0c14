"""``verify_run`` / ``ce chain verify`` against the saved chain: clean runs pass, tampering fails."""

from __future__ import annotations

import json
import shutil

import pytest

from chain.bridge import BATCHES_FILE, RECORDS_FILE, open_attestation_bridge
from chain.verify import find_state_dir, verify_run
from sim.cli import main
from tests.chain._bridge_fixtures import feed


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    bridge = open_attestation_bridge("eth-tester", None, "attest", 8, 5.0, run / "chain")
    last = feed(bridge, 45)
    bridge.close(last + 1)
    (run / "manifest.json").write_text("{}")
    return run


@pytest.fixture
def run_copy(clean_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(clean_run, dst)
    return dst


def _rewrite_jsonl(path, index, change):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows[index])
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def test_clean_run_verifies(clean_run) -> None:
    report = verify_run(clean_run, sample=45)
    assert report.ok, report.discrepancy
    assert (report.records, report.proofs_checked, report.backend) == (45, 45, "eth-tester")
    assert report.batches >= 6
    assert find_state_dir(clean_run) == clean_run / "chain"
    assert verify_run(clean_run / "chain", sample=0).proofs_checked == 0


def test_tampered_record_payload_is_found(run_copy) -> None:
    def change(row):
        payload = json.loads(row["payload"])
        payload["price_e8"] += 1
        row["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))

    _rewrite_jsonl(run_copy / "chain" / RECORDS_FILE, 13, change)
    report = verify_run(run_copy)
    assert not report.ok
    assert report.discrepancy.startswith("record seq=13: payload_hash")


def test_record_rehashed_consistently_still_fails_against_chain(run_copy) -> None:
    """Changing a record *and* its stored hash is caught by the root stored on chain."""
    from chain.merkle import keccak256

    def change(row):
        row["payload"] = row["payload"].replace('"ok":false', '"ok":true')
        row["payload_hash"] = "0x" + keccak256(row["payload"].encode()).hex()

    _rewrite_jsonl(run_copy / "chain" / RECORDS_FILE, 12, change)  # i=12: ok is False (12 % 3 == 0)
    report = verify_run(run_copy)
    assert not report.ok
    assert "root rebuilt from the records" in report.discrepancy
    assert "differs from the Attestor's root" in report.discrepancy


def test_tampered_root_is_found(run_copy) -> None:
    def change(row):
        row["root"] = "0x" + "ab" * 32

    _rewrite_jsonl(run_copy / "chain" / BATCHES_FILE, 2, change)
    report = verify_run(run_copy)
    assert not report.ok
    assert report.discrepancy.startswith("batch 2: root in batches.jsonl 0x" + "ab" * 32)


def test_tampered_chain_state_and_missing_records(run_copy) -> None:
    state = run_copy / "chain" / "chain_state.bin"
    original = state.read_bytes()
    blob = bytearray(original)
    blob[100] ^= 1
    state.write_bytes(bytes(blob))
    report = verify_run(run_copy)
    assert not report.ok and "the saved chain was modified" in report.discrepancy
    state.write_bytes(original)
    lines = (run_copy / "chain" / RECORDS_FILE).read_text().splitlines()
    (run_copy / "chain" / RECORDS_FILE).write_text("\n".join(lines[:-3]) + "\n")
    assert "has only 42 records" in verify_run(run_copy).discrepancy


def test_cli_verify_exit_codes(clean_run, run_copy, tmp_path, capsys) -> None:
    assert main(["chain", "verify", str(clean_run), "--sample", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 45 records in") and "5 proofs verified on chain" in out

    _rewrite_jsonl(run_copy / "chain" / BATCHES_FILE, 0, lambda r: r.update(root="0x" + "00" * 32))
    assert main(["chain", "verify", str(run_copy)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("FAILED: batch 0: root in batches.jsonl")

    assert main(["chain", "verify", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["chain", "verify", str(tmp_path / "empty")]) == 2
    assert "has no bridge.json" in capsys.readouterr().err
    assert main(["chain", "verify", str(clean_run), "--sample", "-1"]) == 2


def _proofs_batch_offsets(path):
    """``[(batch_id, n, offset_of_positions, offset_of_nodes)]`` of a proofs.bin file."""
    import struct

    data = path.read_bytes()
    out, i = [], 8
    while i < len(data):
        bid, n = struct.unpack_from(">QI", data, i)
        out.append((bid, n, i + 12, i + 12 + 4 * n))
        i += 12 + 4 * n + 32 * (2 * n - 1)
    return out


def test_tampered_proof_outside_the_on_chain_sample_is_found(run_copy) -> None:
    """Every stored proof is checked (offline against the chain-checked root), not a sample."""
    path = run_copy / "chain" / "proofs.bin"
    blob = bytearray(path.read_bytes())
    bid, n, _, nodes_at = _proofs_batch_offsets(path)[3]
    blob[nodes_at + 32 * (2 * n - 2)] ^= 0xFF  # a leaf node of batch 3
    path.write_bytes(bytes(blob))
    report = verify_run(run_copy, sample=1)  # the on-chain sample is seq 0 (batch 0) only
    assert not report.ok
    assert report.discrepancy.startswith(f"proofs.bin: batch {bid}: stored tree differs")


def test_swapped_proof_positions_are_found(run_copy) -> None:
    path = run_copy / "chain" / "proofs.bin"
    blob = bytearray(path.read_bytes())
    bid, n, pos_at, _ = _proofs_batch_offsets(path)[4]
    assert n > 1
    a, b = bytes(blob[pos_at : pos_at + 4]), bytes(blob[pos_at + 4 : pos_at + 8])
    blob[pos_at : pos_at + 4], blob[pos_at + 4 : pos_at + 8] = b, a
    path.write_bytes(bytes(blob))
    report = verify_run(run_copy, sample=0)
    assert not report.ok
    assert report.discrepancy.startswith(f"proofs.bin: batch {bid}: stored tree differs")


def test_proofs_file_must_hold_exactly_the_run_batches(run_copy) -> None:
    path = run_copy / "chain" / "proofs.bin"
    offsets = _proofs_batch_offsets(path)
    path.write_bytes(path.read_bytes()[: offsets[-1][2] - 12])  # drop the last batch whole
    report = verify_run(run_copy, sample=0)
    assert not report.ok
    assert report.discrepancy == (
        f"proofs.bin has {len(offsets) - 1} batches, batches.jsonl {len(offsets)}"
    )
    path.write_bytes(path.read_bytes()[:-5])  # cut inside a batch
    report = verify_run(run_copy, sample=0)
    assert not report.ok and report.discrepancy.startswith("proofs.bin: ")


@pytest.mark.parametrize(
    ("file", "index", "change", "expected"),
    [
        (RECORDS_FILE, 5, lambda rows, i: rows.__setitem__(i, []), "records.jsonl line 6 is not"),
        (RECORDS_FILE, 4, lambda rows, i: rows[i].update(seq=4.0), "records.jsonl: expected seq=4"),
        (RECORDS_FILE, 2, lambda rows, i: rows[i].update(kind=["price"]), "record seq=2: kind="),
        (RECORDS_FILE, 0, lambda rows, i: rows[i].update(sim_time=2**70), "record seq=0: sim_time"),
        (BATCHES_FILE, 0, lambda rows, i: rows[i].update(count=True), "batches.jsonl row 0:"),
        (BATCHES_FILE, 1, lambda rows, i: rows.__setitem__(i, 7), "batches.jsonl line 2 is not"),
    ],
)
def test_malformed_files_are_discrepancies_not_crashes(
    run_copy, file, index, change, expected
) -> None:
    path = run_copy / "chain" / file
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows, index)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    report = verify_run(run_copy, sample=0)
    assert not report.ok
    assert report.discrepancy.startswith(expected), report.discrepancy


def test_malformed_chain_json_is_a_discrepancy(run_copy) -> None:
    (run_copy / "chain" / "chain.json").write_text("[]")
    report = verify_run(run_copy, sample=0)
    assert not report.ok and "chain.json" in report.discrepancy
