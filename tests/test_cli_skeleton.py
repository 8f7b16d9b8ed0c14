from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import build_parser, main


def test_help_lists_bench(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "bench" in capsys.readouterr().out


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, f"ce {name} has no description"


def test_unknown_bench_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["run"], ["run", "small", "--seed"], ["run", "small", "--seed", "x"]],
)
def test_bad_arguments_are_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]


def test_an_internal_error_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise KeyError("boom")

    real = build_parser

    def parser_with_broken_handler():  # type: ignore[no-untyped-def]
        p = real()
        sub = next(a for a in p._actions if a.dest == "command")
        sub.choices["bench"].set_defaults(func=broken)
        return p

    monkeypatch.setattr("sim.cli.build_parser", parser_with_broken_handler)
    monkeypatch.delenv("CE_TRACEBACK", raising=False)
    assert main(["bench"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ce bench: internal error: KeyError: 'boom' (CE_TRACEBACK=1 shows where)"]


def test_a_reader_that_closes_early_gets_no_traceback(tmp_path: Path) -> None:
    """`ce auction clear ... | head -c1`: the pipe closes before the output is written."""
    root = Path(__file__).resolve().parents[1]
    doc = json.loads((root / "scenarios/auctions/example.json").read_text())
    doc["offers"] = [
        {**doc["offers"][0], "offer_id": f"o{i}", "lender": f"l{i}", "committed_at": i}
        for i in range(60)
    ]
    src = tmp_path / "a.json"
    src.write_text(json.dumps(doc))
    read, write = os.pipe()
    fcntl.fcntl(write, 1031, 4096)  # F_SETPIPE_SZ: a one-page pipe
    os.close(read)
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "auction", "clear", str(src), "--indent", "8"],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        cwd=root,
    )
    os.close(write)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 1
