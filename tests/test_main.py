"""The command-line demo: ``python -m gdreg`` and ``python -m gdreg data.csv --target COL``."""

import subprocess
import sys

import numpy as np
import pytest

from gdreg.__main__ import compare, main, read_csv


def test_demo_runs_on_diabetes_and_agrees_with_linear_regression(capsys):
    assert main(["--max-iter", "300"]) == 0
    out = capsys.readouterr().out
    assert "diabetes" in out
    for name in ("LinearRegression", "| batch", "| stochastic", "| minibatch"):
        assert name in out


def test_compare_rows_agree_with_closed_form():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = X @ [1.0, 2.0, -1.0] + 3.0  # realizable: every optimizer reaches the optimum
    rows = {row["method"]: row for row in compare(X, y, max_iter=3000)}
    assert rows["batch"]["converged"] == "yes"
    for name in ("batch", "stochastic", "minibatch"):
        assert rows[name]["vs_ne"] < 1e-5
        assert rows[name]["r2"] == pytest.approx(1.0, abs=1e-9)


def test_csv_input(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("x,noise,y\n2,0.1,45\n4,-0.3,85\n5,0.2,105\n6,0.0,125\n")
    X, y, names = read_csv(str(path), "y")
    assert names == ["x", "noise"] and X.shape == (4, 2)
    np.testing.assert_array_equal(y, [45, 85, 105, 125])
    result = subprocess.run(
        [sys.executable, "-m", "gdreg", str(path), "--target", "y", "--max-iter", "200"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "| batch |" in result.stdout


@pytest.mark.parametrize(
    "content, target, message",
    [
        ("a,b\n1,2\n", "c", "not in"),
        ("a,b\n1,x\n", "b", "not a number"),
        ("a,b\n", "b", "no data rows"),
        ("a,b\n1,2,3\n", "b", "fields"),
    ],
)
def test_csv_errors_are_clear(tmp_path, capsys, content, target, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main([str(path), "--target", target]) == 2
    assert message in capsys.readouterr().err


def test_csv_requires_target(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit):
        main([str(path)])
