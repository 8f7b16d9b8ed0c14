"""``ce model train``: trains, prints metrics and the path last; reuses on the second call."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sim.cli import main


def test_model_train_prints_metrics_hash_and_path(tmp_path: Path, capsys) -> None:
    argv = ["model", "train", "--scenario", "small", "--set", "model.algorithm=logistic",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    path = Path(out[-1])
    assert path.parent == tmp_path and path.suffix == ".onnx"
    sha = next(line.split()[1] for line in out if line.startswith("sha256"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert path.name == f"pd-{sha[:8]}.onnx"
    auc = float(next(line.split()[1] for line in out if line.startswith("AUC")))
    assert 0.6 < auc < 1.0
    assert any(line.startswith("Brier") for line in out)
    assert any("trained in" in line for line in out)

    assert main(argv) == 0  # second time: found in the registry, same file
    again = capsys.readouterr().out.splitlines()
    assert again[-1] == out[-1]
    assert any("reused" in line for line in again)

    assert main([*argv, "--force"]) == 0  # retrained: the same bytes
    forced = capsys.readouterr().out.splitlines()
    assert forced[-1] == out[-1] and any("trained in" in line for line in forced)
