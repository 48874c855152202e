"""The tutorial notebook (docs/tutorial.ipynb) runs top to bottom, in under a minute."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "docs" / "tutorial.ipynb"
BUDGET_S = 60.0


def test_tutorial_notebook_executes(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "owners for whom sharing pays" in text and "round 5:" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the seaborn figures of sections 1 and 3
    assert (tmp_path / "runs" / "tutorial" / "model.parquet").exists()
    assert seconds < BUDGET_S, f"the tutorial took {seconds:.0f} s"
