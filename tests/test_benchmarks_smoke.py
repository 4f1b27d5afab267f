"""``benchmarks/run.py --quick`` runs end to end (a smoke test: no timing is asserted)."""

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    json_path, plot_path = out / "bench.json", out / "time_vs_n.png"
    pytest.importorskip("matplotlib")
    proc = subprocess.run(
        [
            *(sys.executable, str(RUN), "--quick", "--rounds", "1"),
            *("--json", str(json_path), "--plot", str(plot_path)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(json_path.read_text()), plot_path


def test_prints_one_markdown_table_with_the_machine_header(quick_run):
    stdout, _, _ = quick_run
    assert "BLAS:" in stdout and "threads" in stdout
    table = [line for line in stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| case | data | gdreg | peer |")
    assert all(line.count("|") == table[0].count("|") for line in table)
    cases = {line.split("|")[1].strip()[:1] for line in table[2:]}
    assert cases == {"1", "2", "3", "4", "5", "6"}
    assert [line.split("|")[1].strip()[:1] for line in table[2:]] == sorted(
        line.split("|")[1].strip()[:1] for line in table[2:]
    )  # in case order
    converged = [line for line in table[2:] if line.startswith("| 6 ")]
    assert converged and all("digits)" in line and "converged_=True" in line for line in converged)


def test_json_has_every_case_and_correct_answers(quick_run):
    _, record, _ = quick_run
    rows = record["rows"]
    assert record["quick"] and record["rounds"] == 1
    assert {"blas", "cpu", "versions"} <= set(record["machine"])
    for row in rows:
        assert len(row["gdreg_times"]) == len(row["peer_times"]) >= 1
        assert row["ratio"] > 0
    # correctness, not speed: the full-batch fits reach the normal equation
    batch = [r for r in rows if r["case"].startswith("1") and "float64" in r["data"]]
    assert batch and all(r["gdreg_err"] < 1e-6 for r in batch)
    memory = [r for r in rows if r["case"].startswith("4")]
    assert {r["gdreg"] for r in memory} == {"fit (batch)", "fit (stochastic)", "fit (minibatch)"}
    assert all(r["peer_times"][0] >= 1.0 for r in memory)  # LinearRegression copies X
    assert [f["optimizer"] for f in record["first_fit"]] == ["stochastic"]  # --quick: one


def test_writes_the_time_vs_n_plot(quick_run):
    _, record, plot_path = quick_run
    assert plot_path.stat().st_size > 1000
    sweep = record["sweep"]
    assert all(len(v) == len(sweep["n"]) for v in sweep["seconds"].values())


def test_converged_default_fit_case(quick_run):
    """Case 6: the default fit converges, without a warning, to the documented bound."""
    _, record, _ = quick_run
    rows = [r for r in record["rows"] if r["case"].startswith("6")]
    peers = [r["peer"] for r in rows]
    assert peers == ["LinearRegression().fit", "Ridge(alpha=1e-6).fit", "gdreg.normal_equation"]
    assert [r["target"] for r in rows] == ["<= 0.5", "", ""]
    assert "20,000 x 30" in rows[0]["data"]  # --quick size
    for row in rows:
        assert row["err_kind"] == "scale-free"
        ours = row["details"]["gdreg"]
        assert ours["converged"] == [True, True]  # the warm-up and the one timed round
        assert ours["warnings"] == [] and ours["bound"] <= 1e-6
        # converged_ promises a scale-free error of at most tol = 1e-6 (the bound is on
        # the 2-norm, which is at least the max); allow the reference's round-off
        assert row["gdreg_err"] <= 1.001e-6 and row["gdreg_digits"] >= 5.99
        assert row["gdreg_digits"] == pytest.approx(-math.log10(row["gdreg_err"]))
        assert row["peer_digits"] is not None
    # the reference solver is exact to far more digits than tol
    assert rows[2]["peer_digits"] > 8


@pytest.mark.parametrize(
    ("script", "columns"),
    [("bench_parity.py", 7), ("bench_lasso.py", 8)],
)
def test_the_issue_15_benchmarks_run_quickly(script, columns):
    """The losses-and-penalties and Lasso benchmarks end to end, small sizes, no timing."""
    proc = subprocess.run(
        [sys.executable, str(RUN.parent / script), "--quick", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    rows = [line for line in table if not line.startswith("| data")]
    assert rows and all(line.count("|") == columns + 1 for line in rows)
    ratios = [float(line.split("|")[5 if script == "bench_lasso.py" else 7]) for line in rows]
    assert all(ratio > 0 for ratio in ratios)


def test_the_workflow_benchmark_runs_quickly():
    """Grid searches, a first fit and the busy-host case end to end, small sizes, no timing."""
    proc = subprocess.run(
        [
            *(sys.executable, str(RUN.parent / "bench_workflow.py"), "--quick"),
            *("--rounds", "1", "--families", "batch"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    blocks = proc.stdout.strip().split("\n\n")  # a title, then its table
    rows = {
        title.split(" ")[0]: [
            line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")
        ][1:]  # after the header (the rule under it starts "|---")
        for title, table in itertools.pairwise(blocks)
        if table.startswith("| ")
    }
    grid, first, busy = rows["GridSearchCV(alpha:"], rows["First"], rows["Default"]
    assert {(r[0].strip(), r[1].strip()) for r in grid} == {
        (name, jobs) for name in ("gdreg", "Ridge") for jobs in ("1", "2")
    }
    assert [r[0].strip() for r in first] == ["batch", "batch"]
    assert [r[0].strip() for r in busy] == ["gdreg", "Ridge"]
    seconds = [float(cell) for r in grid for cell in r[2:]] + [float(r[1]) for r in busy]
    assert all(math.isfinite(s) and s > 0 for s in seconds)
