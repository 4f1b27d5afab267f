"""A progress bar in Jupyter: scikit-learn's ProgressBar draws one with the ``notebook`` extra.

``ProgressBar`` draws with rich, which in a notebook needs ipywidgets (without
it rich only warns "install ipywidgets for Jupyter support" and nothing is
shown). The test executes a one-cell notebook in a real kernel with nbclient
and reads the bar back from the saved widget state, as a notebook viewer would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9 has no ProgressBar")
pytest.importorskip("rich")
pytest.importorskip("ipywidgets")
pytest.importorskip("ipykernel")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

CELL = """\
from sklearn.callback import ProgressBar
from sklearn.datasets import load_diabetes

from gdreg import GradientDescentRegressor

X, y = load_diabetes(return_X_y=True)
reg = GradientDescentRegressor(optimizer="stochastic", random_state=0)
reg.set_callbacks(ProgressBar()).fit(X, y)
print("epochs", reg.n_iter_)
"""


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernel running this interpreter, with this checkout importable."""
    spec = tmp_path / "kernels" / "gdreg-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "gdreg test",
                "language": "python",
                "env": {"PYTHONPATH": str(ROOT)},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return "gdreg-test"


def test_progress_bar_is_a_widget_in_a_notebook(kernel_name, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(CELL))
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel_name,
        timeout=300,
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = notebook.cells[0].outputs

    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "ipywidgets" not in text, text  # rich's "install ipywidgets for Jupyter support"
    assert "epochs" in text
    views = [
        o["data"][WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})
    ]
    assert views, outputs

    # the bar itself lives in the Output widget the cell displayed
    state = notebook.metadata["widgets"][WIDGET_STATE]["state"]
    drawn = "".join(
        item.get("data", {}).get("text/plain", "")
        for model_id in views
        for item in state[model_id]["state"].get("outputs", [])
    )
    assert "GradientDescentRegressor - fit" in drawn
    assert "100%" in drawn
