"""``chain.verify.verify_run`` on a bridge folder against the saved chain: a clean folder
passes, every tampering is one line naming the file, the field and the rule (the binding to a
run's event tables is tested in ``test_verify_binding``)."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from chain.bridge import BATCHES_FILE, RECORDS_FILE, BridgeConfig, open_attestation_bridge
from chain.merkle import build_tree, keccak256, leaf_hash
from chain.records import KINDS
from chain.verify import find_state_dir, verify_run
from tests.chain._bridge_fixtures import feed

#: how the bridge writes one row of each JSON-lines file
_WRITE = {
    RECORDS_FILE: lambda row: json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n",
    BATCHES_FILE: lambda row: json.dumps(row, sort_keys=True) + "\n",
}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    bridge = open_attestation_bridge(
        BridgeConfig("eth-tester", None, "attest", 8, 5.0), run / "chain"
    )
    last = feed(bridge, 45)
    bridge.close(last + 1)
    return run


@pytest.fixture
def run_copy(clean_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(clean_run, dst)
    return dst


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_rows(path, rows):
    path.write_text("".join(_WRITE[path.name](r) for r in rows))


def _rewrite_jsonl(path, index, change):
    rows = _rows(path)
    change(rows[index])
    _write_rows(path, rows)


def _proofs_batch_offsets(path):
    """``[(batch_id, n, offset_of_positions, offset_of_nodes)]`` of a proofs.bin file."""
    data = path.read_bytes()
    out, i = [], 8
    while i < len(data):
        bid, n = struct.unpack_from(">QI", data, i)
        out.append((bid, n, i + 12, i + 12 + 4 * n))
        i += 12 + 4 * n + 32 * (2 * n - 1)
    return out


def _reseal_batch(chain_dir, k):
    """Rebuild batch ``k``'s root in batches.jsonl and its tree in proofs.bin from the records,
    as they are now: what a forger does after changing a record."""
    records = _rows(chain_dir / RECORDS_FILE)
    batches = _rows(chain_dir / BATCHES_FILE)
    b = batches[k]
    leaves = [
        leaf_hash(r["seq"], KINDS[r["kind"]], bytes.fromhex(r["payload_hash"][2:]), r["sim_time"])
        for r in records[b["first_seq"] : b["first_seq"] + b["count"]]
    ]
    tree = build_tree(leaves, proofs=False)
    b["root"] = "0x" + tree.root.hex()
    _write_rows(chain_dir / BATCHES_FILE, batches)
    path = chain_dir / "proofs.bin"
    blob = bytearray(path.read_bytes())
    _, n, pos_at, nodes_at = _proofs_batch_offsets(path)[k]
    blob[pos_at : pos_at + 4 * n] = struct.pack(f">{n}I", *tree.positions)
    blob[nodes_at : nodes_at + 32 * (2 * n - 1)] = b"".join(tree.nodes)
    path.write_bytes(bytes(blob))


def test_clean_run_verifies(clean_run) -> None:
    report = verify_run(clean_run, sample=45)
    assert report.ok, report.discrepancy
    assert (report.records, report.proofs_checked, report.backend) == (45, 45, "eth-tester")
    assert report.batches >= 6 and report.run is None
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
    assert report.discrepancy.startswith("chain/records.jsonl line 14: payload_hash=0x")
    assert report.discrepancy.endswith("the record was changed")


def test_record_rehashed_consistently_still_fails_against_chain(run_copy) -> None:
    """Changing a record, its stored hash, its batch's root and proofs is caught by the root
    stored on chain."""

    def change(row):
        row["payload"] = row["payload"].replace('"ok":false', '"ok":true')
        row["payload_hash"] = "0x" + keccak256(row["payload"].encode()).hex()

    _rewrite_jsonl(run_copy / "chain" / RECORDS_FILE, 12, change)  # i=12: ok is False (12 % 3 == 0)
    report = verify_run(run_copy)
    assert report.discrepancy.startswith("chain/batches.jsonl: batch 1: root=0x")
    batch = next(
        k for k, b in enumerate(_rows(run_copy / "chain" / BATCHES_FILE)) if b["first_seq"] > 12
    )
    _reseal_batch(run_copy / "chain", batch - 1)
    report = verify_run(run_copy)
    assert not report.ok
    assert report.discrepancy.startswith(f"chain/batches.jsonl: batch {batch - 1}: root=0x")
    assert ": the Attestor holds 0x" in report.discrepancy


def test_tampered_root_is_found(run_copy) -> None:
    _rewrite_jsonl(run_copy / "chain" / BATCHES_FILE, 2, lambda r: r.update(root="0x" + "ab" * 32))
    report = verify_run(run_copy)
    assert not report.ok
    assert report.discrepancy.startswith("chain/batches.jsonl: batch 2: root=0x" + "ab" * 32)


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
    assert verify_run(run_copy).discrepancy.startswith("chain/batches.jsonl line ")
    assert "past the records" in verify_run(run_copy).discrepancy


def test_a_consistent_but_foreign_chain_state_is_found(run_copy, tmp_path) -> None:
    """chain_state.bin and its sha256 swapped in from another bridge: the head is not the one
    chain.json records."""
    other = open_attestation_bridge(
        BridgeConfig("eth-tester", None, "attest", 8, 5.0), tmp_path / "other"
    )
    other.close(feed(other, 5) + 1)
    shutil.copy(tmp_path / "other" / "chain_state.bin", run_copy / "chain" / "chain_state.bin")
    theirs = json.loads((tmp_path / "other" / "chain.json").read_text())
    path = run_copy / "chain" / "chain.json"
    meta = json.loads(path.read_text())
    meta.update(state_sha256=theirs["state_sha256"], state_entries=theirs["state_entries"])
    path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    report = verify_run(run_copy, sample=0)
    assert report.discrepancy.startswith("chain/chain_state.bin: ")
    assert "is not the saved head" in report.discrepancy


def test_tampered_proof_outside_the_on_chain_sample_is_found(run_copy) -> None:
    """Every stored proof is checked (offline against the chain-checked root), not a sample."""
    path = run_copy / "chain" / "proofs.bin"
    blob = bytearray(path.read_bytes())
    bid, n, _, nodes_at = _proofs_batch_offsets(path)[3]
    blob[nodes_at + 32 * (2 * n - 2)] ^= 0xFF  # a leaf node of batch 3
    path.write_bytes(bytes(blob))
    report = verify_run(run_copy, sample=1)  # the on-chain sample is seq 0 (batch 0) only
    assert not report.ok
    assert report.discrepancy.startswith(f"chain/proofs.bin: batch {bid}: stored tree differs")


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
    assert report.discrepancy.startswith(f"chain/proofs.bin: batch {bid}: stored tree differs")


def test_proofs_file_must_hold_exactly_the_run_batches(run_copy) -> None:
    path = run_copy / "chain" / "proofs.bin"
    offsets = _proofs_batch_offsets(path)
    path.write_bytes(path.read_bytes()[: offsets[-1][2] - 12])  # drop the last batch whole
    report = verify_run(run_copy, sample=0)
    assert report.discrepancy == (
        f"chain/proofs.bin: holds {len(offsets) - 1} batches, batches.jsonl {len(offsets)}"
    )
    path.write_bytes(path.read_bytes()[:-5])  # cut inside a batch
    report = verify_run(run_copy, sample=0)
    assert report.discrepancy.startswith("chain/proofs.bin: is truncated in batch")


@pytest.mark.parametrize(
    ("file", "index", "change", "expected"),
    [
        (RECORDS_FILE, 5, lambda rows, i: rows.__setitem__(i, []), "line 6: must be a JSON object"),
        (RECORDS_FILE, 4, lambda rows, i: rows[i].update(seq=4.0), "line 5: seq=4.0: must be 4"),
        (RECORDS_FILE, 2, lambda rows, i: rows[i].update(kind=["price"]), "line 3: kind=["),
        (RECORDS_FILE, 0, lambda rows, i: rows[i].update(sim_time=2**70), "line 1: sim_time="),
        (RECORDS_FILE, 1, lambda rows, i: rows[i].update(extra=1), "line 2: extra: not a field"),
        (RECORDS_FILE, 1, lambda rows, i: rows[i].pop("batch_id"), "line 2: batch_id: missing"),
        (RECORDS_FILE, 0, lambda rows, i: rows[i].update(payload="\x80"), "line 1: payload="),
        (BATCHES_FILE, 0, lambda rows, i: rows[i].update(count=True), "line 1: count=True"),
        (BATCHES_FILE, 1, lambda rows, i: rows.__setitem__(i, 7), "line 2: must be a JSON object"),
        (BATCHES_FILE, 1, lambda rows, i: rows[i].update(batch_id=0), "line 2: batch_id=0: must"),
        (BATCHES_FILE, 1, lambda rows, i: rows[i].update(tx_hash=None), "line 2: tx_hash=None"),
    ],
)
def test_malformed_files_are_discrepancies_not_crashes(
    run_copy, file, index, change, expected
) -> None:
    path = run_copy / "chain" / file
    rows = _rows(path)
    change(rows, index)
    path.write_text("".join(_WRITE[file](r) for r in rows))
    report = verify_run(run_copy, sample=0)
    assert not report.ok
    assert report.discrepancy.startswith(f"chain/{file} {expected}"), report.discrepancy


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace(",", ", "),  # the writer's spacing
        lambda text: text.replace('{"batch_id":', '{"seq":0,"batch_id":', 1),  # a key twice
        lambda text: text.replace("\n", "\r\n", 1),
        lambda text: text[:-1],  # no end of line
        lambda text: text.replace('"kind":"price"', '"kind":"pr\\u00efce"', 1),
    ],
)
def test_an_edit_that_keeps_the_values_is_still_an_edit(run_copy, edit) -> None:
    path = run_copy / "chain" / RECORDS_FILE
    path.write_text(edit(path.read_text()), newline="")
    report = verify_run(run_copy, sample=0)
    assert report.discrepancy.startswith("chain/records.jsonl line "), report.discrepancy


def test_non_ascii_and_overlong_lines_are_one_line(run_copy) -> None:
    path = run_copy / "chain" / RECORDS_FILE
    original = path.read_bytes()
    path.write_bytes(b"\xff" + original)
    assert verify_run(run_copy).discrepancy == "chain/records.jsonl line 1: byte 1 is not ASCII"
    path.write_bytes(b"[" * (2 << 20) + b"\n")
    assert verify_run(run_copy).discrepancy.startswith("chain/records.jsonl line 1: longer than")
    path.write_bytes(b'{"seq": ' + b"9" * 5000 + b"}\n")
    assert verify_run(run_copy).discrepancy.startswith("chain/records.jsonl line 1: not JSON")


def test_a_bridge_json_that_disagrees_with_chain_json_is_found(run_copy) -> None:
    path = run_copy / "chain" / "bridge.json"
    meta = json.loads(path.read_text())
    meta["backend"]["chain_id"] += 1
    path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    report = verify_run(run_copy, sample=0)
    assert report.discrepancy.startswith("chain/bridge.json: backend.chain_id=")
    assert "must be chain.json's" in report.discrepancy


def test_malformed_chain_json_is_a_discrepancy(run_copy) -> None:
    (run_copy / "chain" / "chain.json").write_text("[]")
    report = verify_run(run_copy, sample=0)
    assert report.discrepancy == "chain/chain.json: must be a JSON object, found list"
