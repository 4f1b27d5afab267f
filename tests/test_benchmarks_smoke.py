"""``benchmarks/run.py --quick`` runs end to end (a smoke test: no timing is asserted)."""

import json
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
    assert cases == {"1", "2", "3", "4", "5"}


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
