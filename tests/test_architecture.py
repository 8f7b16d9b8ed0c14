"""The package boundaries of ARCHITECTURE.md, checked on the source text.

- ``market`` is pure: it imports only the standard library's computational modules, numpy,
  scipy and eth-abi/eth-hash (for commitment hashes), never ``sim``/``chain``, and does no I/O.
- ``chain`` never imports ``sim``.
- every package re-exports its public names in ``__all__``, and each of them resolves.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MARKET_ALLOWED = {
    "__future__",
    "bisect",
    "calendar",
    "collections",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "statistics",
    "typing",
    "types",
    "re",
    "hashlib",
    "numpy",
    "scipy",
    "eth_abi",
    "eth_hash",
    "eth_utils",
    "sha3",  # safe-pysha3: C Keccak-256 for commitment hashes
    "market",
}
IO_CALLS = {"open", "print", "input"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("market"), ids=lambda p: p.name)
def test_market_is_pure(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in MARKET_ALLOWED, f"{path.relative_to(ROOT)} imports {name!r}"
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in IO_CALLS, (
                f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}() (I/O in market/)"
            )


@pytest.mark.parametrize("path", _sources("chain"), ids=lambda p: p.name)
def test_chain_never_imports_sim(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] != "sim", f"{path.relative_to(ROOT)} imports {name!r}"


@pytest.mark.parametrize("package", ["market", "sim", "chain"])
def test_public_names_resolve(package: str) -> None:
    mod = importlib.import_module(package)
    exported = getattr(mod, "__all__", [])
    for name in exported:
        assert hasattr(mod, name), f"{package}.__all__ names {name!r} but it does not resolve"
    assert len(set(exported)) == len(exported), f"{package}.__all__ has duplicates"


@pytest.mark.parametrize("package", ["sim", "chain"])
def test_lazy_exports_match_all(package: str) -> None:
    mod = importlib.import_module(package)
    assert sorted(mod._EXPORTS) == sorted(mod.__all__)


@pytest.mark.parametrize("package", ["sim", "chain"])
def test_no_public_name_is_also_a_submodule(package: str) -> None:
    """In the lazily re-exporting packages, ``import pkg.x`` sets attribute ``x`` on the package
    and shadows a re-exported ``x`` (once bit ``sim.simulate``). ``market`` imports eagerly, so
    its ``twap`` function is bound after the ``market.oracle.twap`` module and stays."""
    import pkgutil

    mod = importlib.import_module(package)
    submodules = {m.name for m in pkgutil.iter_modules(mod.__path__)}
    assert not submodules & set(mod.__all__)
