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
    "abc",
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


# ----------------------------------------------------------------------------- no devices
def _device(node: ast.AST) -> str | None:
    """What makes ``node`` one of the devices issue 9 removed, or ``None``."""
    call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    if call and node.func.id in ("exec", "eval"):
        return f"{node.func.id}() (generated code)"
    new = isinstance(node, ast.Attribute) and node.attr == "__new__"
    if new and isinstance(node.value, ast.Name) and node.value.id in ("tuple", "object"):
        return f"{node.value.id}.__new__ (building around a constructor)"
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr == "__class__":
                return "a __class__ switch"
    return None


@pytest.mark.parametrize(
    "path", _sources("market") + _sources("sim"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_generated_code_class_switches_or_bypassed_constructors(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        found = _device(node)
        assert found is None, f"{path.relative_to(ROOT)}:{node.lineno} uses {found}"


def test_the_device_check_finds_each_device() -> None:
    for src in ("exec('x = 1')", "o.__class__ = C", "tuple.__new__(C, t)", "object.__new__(C)"):
        assert any(_device(n) for n in ast.walk(ast.parse(src))), src
    assert not any(_device(n) for n in ast.walk(ast.parse("C.__new__(C); o.cls = C")))


#: market/ modules that still memoise a pure function (see docs/decisions.md): the schedule's
#: rate terms and due dates; every other market/ module holds no cache
MARKET_CACHES_ALLOWED = {"schedule.py"}


@pytest.mark.parametrize("path", _sources("market"), ids=lambda p: p.name)
def test_market_holds_no_caches(path: Path) -> None:
    if path.name in MARKET_CACHES_ALLOWED:
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            assert name not in ("cache", "lru_cache", "cached_property"), (
                f"{path.relative_to(ROOT)}:{node.lineno} memoises with functools.{name}"
            )


@pytest.mark.parametrize("package", ["market", "market.auction", "market.oracle"])
def test_market_re_exports_only_public_names_of_its_modules(package: str) -> None:
    """Each name in a market package's ``__all__`` is in the ``__all__`` of the module that
    defines it (or of a subpackage): nothing private or generated is re-exported."""
    mod = importlib.import_module(package)
    for name in mod.__all__:
        obj = getattr(mod, name)
        home = getattr(obj, "__module__", None)
        if home is None or not home.startswith("market"):
            continue  # constants: their home is the module that imports them
        own = getattr(obj, "__name__", name)  # ``clear_auction`` is lifecycle's ``clear``
        assert own in importlib.import_module(home).__all__, f"{package}.{name} from {home}"
        assert "unchecked" not in name, f"{package} exports {name}"
