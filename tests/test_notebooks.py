"""Every analysis notebook (jupytext percent-format .py) runs top to bottom against the stored
results fixture and writes its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "analysis" / "notebooks").glob("*.py"))
FIXTURE = ROOT / "tests" / "fixtures" / "results_small"
EXPECTED = {"pareto", "budgets", "pep_dynamics", "sizes_vs_frequency", "synthetic_recovery"}


@pytest.fixture(scope="session")
def python3_kernel() -> str:
    """The ``python3`` kernelspec, installed into this environment when missing (clean CI)."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True)
    return "python3"


def test_one_notebook_per_figure_family() -> None:
    assert {p.stem for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_against_fixture(path: Path, python3_kernel: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOEMBED_RESULTS", str(FIXTURE))
    monkeypatch.setenv("AUTOEMBED_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, kernel_name=python3_kernel, timeout=180,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    pngs = list((tmp_path / "figures").glob("*.png"))
    assert pngs, f"{path.name} wrote no figure"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure displayed inline"
