"""``ce audit verify``: an untouched run passes; any tampering of its files or its manifest is
found, with one line, and malformed input never ends in a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.run.audit import AuditFailure, verify_run

REPO = Path(__file__).resolve().parents[2]
TINY = ["horizon_days=0.2", "engine.runoff_days=5", "chain.backend=off", "model.train_size=2000"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    sets = [x for s in TINY for x in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "small", "--quiet", "--out", str(out), *sets],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def _copy(run_dir: Path, tmp: Path) -> Path:
    dst = tmp / run_dir.name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(run_dir, dst)
    return dst


def test_an_untouched_run_verifies(run_dir: Path) -> None:
    result = verify_run(run_dir)
    assert result.artefacts >= 11 and result.run == run_dir.name


def test_cli_verify_exit_codes(run_dir: Path, tmp_path: Path) -> None:
    ce = [sys.executable, "-m", "sim.cli", "audit", "verify"]
    ok = subprocess.run([*ce, str(run_dir)], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: ")
    bad = _copy(run_dir, tmp_path)
    (bad / "kpis.json").write_text((bad / "kpis.json").read_text().replace("0", "1", 1))
    failed = subprocess.run([*ce, str(bad)], cwd=REPO, capture_output=True, text=True)
    assert failed.returncode == 1 and failed.stdout.startswith("FAILED: kpis.json: ")
    assert failed.stderr == ""
    usage = subprocess.run([*ce, str(tmp_path / "nope")], cwd=REPO, capture_output=True, text=True)
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1


def _edit_manifest(d: Path, edit) -> None:  # type: ignore[no-untyped-def]
    m = json.loads((d / "manifest.json").read_text())
    edit(m)
    (d / "manifest.json").write_text(json.dumps(m))


MANIFEST_EDITS = {
    "digest": lambda m: m["artefacts"]["kpis.json"].update(sha256="0" * 64),
    "size": lambda m: m["artefacts"]["scenario.yaml"].update(bytes=1),
    "seed": lambda m: m.update(seed=m["seed"] + 1),
    "run": lambda m: m.update(run="other-1-00000000"),
    "audit_id": lambda m: m.update(audit_id="0" * 32),
    "format": lambda m: m.update(format_version=99),
    "drop_artefact": lambda m: m["artefacts"].pop("events/loans.parquet"),
    "escape": lambda m: m["artefacts"].update({"../x": {"sha256": "0", "bytes": 0}}),
    "no_artefacts": lambda m: m.pop("artefacts"),
    "config_hash": lambda m: m["scenario"].update(config_hash="0" * 64),
    "seed_tree": lambda m: m["seed_tree"]["components"].update({"x": [1, 2, 3, 4]}),
}


@pytest.mark.parametrize("name", sorted(MANIFEST_EDITS))
def test_an_edited_manifest_is_found(run_dir: Path, tmp_path: Path, name: str) -> None:
    d = _copy(run_dir, tmp_path)
    _edit_manifest(d, MANIFEST_EDITS[name])
    with pytest.raises(AuditFailure):
        verify_run(d)


def test_a_swapped_in_folder_is_found(run_dir: Path, tmp_path: Path) -> None:
    d = _copy(run_dir, tmp_path)
    (d / "chain").mkdir()
    (d / "chain" / "records.jsonl").write_text("{}\n")
    with pytest.raises(AuditFailure, match=r"chain/records.jsonl: not listed"):
        verify_run(d)


def test_a_consistent_rewrite_of_a_table_and_its_digest_is_found_only_through_ids(
    run_dir: Path, tmp_path: Path
) -> None:
    """Changing scenario.yaml and its digest together is found: the hashes and ids the
    manifest records no longer derive from it."""
    from sim.run.rundir import sha256_file

    d = _copy(run_dir, tmp_path)
    path = d / "scenario.yaml"
    path.write_text(path.read_text().replace("horizon_days: 0.2", "horizon_days: 0.3"))
    _edit_manifest(
        d,
        lambda m: m["artefacts"]["scenario.yaml"].update(
            sha256=sha256_file(path), bytes=path.stat().st_size
        ),
    )
    with pytest.raises(AuditFailure, match=r"scenario\.yaml and the model give"):
        verify_run(d)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_tampering_is_found(run_dir: Path, tmp_path: Path, data: st.DataObject) -> None:
    """Byte-level damage to any artefact (the manifest's own edits are covered above; its
    informational fields, such as run_info, are not verifiable by design)."""
    d = _copy(run_dir, tmp_path)
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.name != "manifest.json")
    target = data.draw(st.sampled_from(files))
    action = data.draw(st.sampled_from(["flip", "truncate", "append", "delete", "empty"]))
    raw = target.read_bytes()
    if action == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        bit = data.draw(st.integers(0, 7))
        target.write_bytes(raw[:i] + bytes([raw[i] ^ (1 << bit)]) + raw[i + 1 :])
    elif action == "truncate":
        target.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
    elif action == "append":
        target.write_bytes(raw + data.draw(st.binary(min_size=1, max_size=16)))
    elif action == "delete":
        target.unlink()
    else:
        target.write_bytes(b"")
    if raw == (target.read_bytes() if target.exists() else None):
        return  # nothing changed (e.g. truncating an empty file)
    with pytest.raises(AuditFailure) as info:
        verify_run(d)
    assert "\n" not in str(info.value)
