"""Execute every ``notebooks/*.ipynb`` with nbclient, as the project rule asks.

Each notebook runs in a fresh ``python3`` kernel of *this* interpreter (a kernelspec written to a
temporary directory, so a user-level or system ``python3`` kernelspec cannot point elsewhere),
with the repo root as working directory, cell by cell with a per-cell timeout. A failing cell
fails the test with the notebook, the cell number, its first line and the kernel's traceback.
The notebook is only read: outputs are kept in memory and the file is checked to be unchanged.
The committed notebooks must carry no outputs (``test_notebooks_are_committed_without_outputs``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 180
KERNEL_NAME = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _kernel_manager(spec_dir: Path) -> KernelManager:
    """A kernel manager whose only ``python3`` kernelspec runs ``sys.executable``."""
    kdir = spec_dir / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({sys.executable})",
        "language": "python",
    }
    (kdir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir / "kernels")], ensure_native_kernel=False)
    resolved = ksm.get_kernel_spec(KERNEL_NAME)
    assert resolved.argv[0] == sys.executable, resolved.argv
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)


def _first_line(cell) -> str:
    lines = [ln for ln in cell.source.splitlines() if ln.strip()]
    return lines[0][:80] if lines else "<empty>"


def test_notebooks_exist() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"kpi_calibration.ipynb", "auction_clearing.ipynb"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.relative_to(ROOT)}: cells {dirty} carry outputs or execution counts; "
        "clear them before committing"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL_NAME


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    rel = path.relative_to(ROOT)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(tmp_path / "jupyter"),
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(ROOT)}},  # the kernel's working directory
    )
    km = client.km
    km.connection_file = str(tmp_path / "kernel-connection.json")
    # no user IPython profile or startup files: the notebook sees only the project
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    ran, failure = 0, None
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            where = f"{rel}: cell {index} ({_first_line(cell)!r})"
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                failure = f"{where} did not finish within {CELL_TIMEOUT_S} s"
            except DeadKernelError as err:
                failure = f"{where}: the kernel died: {err}"
            except CellExecutionError as err:
                failure = f"{where} raised {err.ename}: {err.evalue}\n\n{_ANSI.sub('', str(err))}"
            if failure:
                break
            ran += 1
    if failure:
        pytest.fail(failure, pytrace=False)
    assert ran > 0, f"{rel}: no code cells"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, f"{rel} was modified"
