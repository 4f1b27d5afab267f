"""The command-line demo: ``python -m gdreg`` and ``python -m gdreg data.csv --target COL``."""

import inspect
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import gdreg
from gdreg import GradientDescentRegressor, normal_equation
from gdreg import optimizers as gdreg_optimizers
from gdreg.__main__ import (
    RULES,
    SHORTHANDS,
    candidates,
    compare,
    condition_number,
    format_row,
    format_table,
    main,
    read_csv,
    scale_free_error,
)

#: A table row of the demo: ``| method | ... | yes |`` or ``| ... | no: why |``.
ROW = re.compile(r"^\| (\S+) +\|.*\| (yes|no: \S.*?|exact: \S.*?) +\|$")


def table_rows(out):
    """``{method: converged cell}`` for each data row of the printed table."""
    rows = {}
    for line in out.splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def check_every_row_converged_or_says_why(rows):
    for row in rows:
        assert row["converged"] in {"yes", "no", "exact"}, row
        if row["converged"] != "yes":
            assert row["reason"].strip(), row


def test_candidates_are_every_builtin_optimizer_with_the_defaults():
    builtin = {
        name
        for name, obj in vars(gdreg_optimizers).items()
        if inspect.isclass(obj)
        and issubclass(obj, gdreg_optimizers.Optimizer)
        and obj is not gdreg_optimizers.Optimizer
    }
    assert "AveragedSGD" in builtin and "SVRG" in builtin
    assert builtin <= set(RULES), f"not in the demo: {builtin - set(RULES)}"
    names = [name for name, _ in candidates()]
    assert names == [*SHORTHANDS, *(f"{rule}()" for rule in RULES)]
    defaults = GradientDescentRegressor().get_params()
    for name, est in candidates(random_state=3):
        params = est.get_params(deep=False)
        assert params["max_iter"] is None  # no hidden max_iter=10000
        assert params["random_state"] == 3
        for key, value in defaults.items():
            if key not in {"optimizer", "random_state"}:
                assert params[key] == value, (name, key)


def test_compare_rows_converge_within_tol_or_say_why():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3) * [1.0, 1e3, 1e-3]  # units must not matter
    y = X @ [1.0, 2e-3, -1e3] + 3.0 + 0.1 * rng.randn(60)
    rows = compare(X, y)
    methods = [row["method"] for row in rows]
    assert methods[:2] == ["normal_equation", "LinearRegression"]
    assert methods[2:] == [name for name, _ in candidates()]
    check_every_row_converged_or_says_why(rows)
    tol = GradientDescentRegressor().tol
    for row in rows:
        if row["converged"] == "yes":  # converged_ guarantees the scale-free error bound
            assert row["error"] <= tol, row
        if row["converged"] == "no":
            assert "bound" in row["reason"], row
    by_name = {row["method"]: row for row in rows}
    for name in ("batch", "stochastic", "minibatch", "AcceleratedGradient()", "SVRG()"):
        assert by_name[name]["converged"] == "yes", by_name[name]
        # against the normal equation: LinearRegression (scikit-learn >= 1.9) may drop the
        # column whose scale is 1e-6 of the largest, by its singular-value cutoff
        assert by_name[name]["r2"] == pytest.approx(by_name["normal_equation"]["r2"], abs=1e-9)
    assert "AcceleratedGradient" in by_name["batch"]["optimizer"]
    assert "SVRG" in by_name["stochastic"]["optimizer"]


def test_rows_that_do_not_converge_say_why_and_do_not_warn():
    rng = np.random.RandomState(1)
    X = rng.randn(40, 4)
    X[:, 1] = X[:, 0] + 1e-3 * rng.randn(40)  # badly conditioned: 2 epochs are not enough
    y = X @ [1.0, 1.0, -2.0, 0.5] + 0.1 * rng.randn(40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        rows = compare(X, y, max_iter=2)
    check_every_row_converged_or_says_why(rows)
    failed = [row for row in rows if row["converged"] == "no"]
    assert failed
    for row in failed:
        assert row["epochs"] == 2
        bound = float(re.fullmatch(r"bound (\S+) at max_iter", row["reason"]).group(1))
        assert bound >= 0.5 * row["error"]  # the bound holds (to the 2 digits shown)


def test_singular_design_errors_count_what_changes_the_predictions():
    rng = np.random.RandomState(2)
    a = rng.randn(30)
    X = np.c_[a, 2 * a, rng.randn(30)]
    y = X @ [1.0, 1.0, 1.0] + 0.05 * rng.randn(30)
    assert condition_number(X) == np.inf
    coef, _ = normal_equation(X, y)
    # moving along the null direction (2, -1, 0) changes no prediction: no error
    assert scale_free_error(coef + 0.3 * np.array([2.0, -1.0, 0.0]), coef, X, y) < 1e-12
    assert scale_free_error(coef + np.array([0.0, 0.0, 0.1]), coef, X, y) > 1e-3
    check_every_row_converged_or_says_why(compare(X, y, max_iter=50))


def test_scale_free_error_and_condition_number():
    X = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])  # a constant column
    y = np.array([0.0, 1.0, 2.0])
    assert condition_number(X) == pytest.approx(1.0)
    assert scale_free_error([0.5, 7.0], [0.5, 0.0], X, y) == 0.0
    # std(x) = sqrt(8/3), std(y) = sqrt(2/3): the error of 0.1 counts 0.1 * 2
    assert scale_free_error([0.6, 0.0], [0.5, 0.0], X, y) == pytest.approx(0.2)


def test_table_fits_in_100_columns():
    row = dict(
        method="AcceleratedGradient()",
        epochs=10000,
        seconds=123.4567,
        r2=-0.123456,
        error=1.234e-5,
        converged="no",
        reason="failed: ValueError: " + "a long message " * 10,
        optimizer="",
    )
    table = format_table([row])
    assert all(len(line) <= 100 for line in table.splitlines())
    assert table_rows(table)["AcceleratedGradient()"].startswith("no: failed: ValueError")
    assert len(format_row(row)) == len(table.splitlines()[0])


def test_demo_runs_on_diabetes(capsys):
    assert main(["--max-iter", "30"]) == 0
    out = capsys.readouterr().out
    assert "diabetes" in out and "condition number" in out
    rows = table_rows(out)
    assert set(rows) == {"normal_equation", "LinearRegression", *SHORTHANDS} | {
        f"{rule}()" for rule in RULES
    }
    assert "AveragedSGD()" in rows
    assert rows["LinearRegression"].startswith("exact")
    assert any(cell.startswith("no: bound") for cell in rows.values())  # 30 epochs: some do not
    assert all(len(line) <= 100 for line in out.splitlines())


@pytest.mark.slow
def test_demo_with_defaults_on_diabetes(capsys):
    """The default demo: the full-batch defaults converge, every other row says why not."""
    assert main([]) == 0
    rows = table_rows(capsys.readouterr().out)
    for name in ("batch", "stochastic", "AcceleratedGradient()", "SVRG()", "Nesterov()"):
        assert rows[name] == "yes", (name, rows[name])
    assert all(cell == "yes" or ": " in cell for cell in rows.values())


def test_csv_input(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("x,noise,y\n2,0.1,45\n4,-0.3,85\n5,0.2,105\n6,0.0,125\n")
    X, y, names = read_csv(str(path), "y")
    assert names == ["x", "noise"] and X.shape == (4, 2)
    np.testing.assert_array_equal(y, [45, 85, 105, 125])
    result = subprocess.run(
        [sys.executable, "-m", "gdreg", str(path), "--target", "y"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "ConvergenceWarning:" not in result.stderr
    assert f"{path}: 4 samples, 2 features" in result.stdout
    rows = table_rows(result.stdout)
    assert len(rows) == 2 + len(SHORTHANDS) + len(RULES)
    assert rows["batch"] == "yes"
    assert all(cell == "yes" or ": " in cell for cell in rows.values())
    assert all(len(line) <= 100 for line in result.stdout.splitlines())


def test_csv_mode_in_process(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,target\n1,20000,3\n2,40000,5\n3,10000,8\n4,80000,9\n5,1,11\n")
    assert main([str(path), "--target", "target", "--max-iter", "50", "--random-state", "1"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["batch"] == "yes" and rows["normal_equation"].startswith("exact")
    assert all(cell == "yes" or ": " in cell for cell in rows.values())


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


#: User errors of the command line: ``(id, file content or None, extra arguments, message)``.
#: Each gives one ``error: ...`` line on stderr, nothing on stdout and exit status 2.
USER_ERRORS = [
    ("nan_cell", "a,y\n1,2\nnan,3\n3,4\n", [], "Line 3, column 'a' of DATA is NaN ('nan')"),
    ("nan_target", "a,y\n1,2\n2,NaN\n3,4\n", [], "Line 3, column 'y' of DATA is NaN"),
    ("inf_cell", "a,y\n1,2\n-inf,3\n3,4\n", [], "is infinite ('-inf')"),
    ("overflow_cell_1e400", "a,y\n1,2\n1e400,3\n3,4\n", [], "'1e400' overflows float64"),
    ("empty_cell", "a,y\n1,2\n,3\n3,4\n", [], "Line 3, column 'a' of DATA is empty"),
    ("only_target_column", "y\n1\n2\n3\n", [], "only the target column"),
    ("one_row", "a,y\n1,2\n", [], "has 1 data row: at least 2 are needed"),
    ("huge_X_1e200", "a,y\n1e200,1\n2e200,2\n4e200,3\n", [], "feature columns: X has values"),
    ("tiny_X_1e-200", "a,y\n1e-200,1\n2e-200,2\n4e-200,3\n", [], "squares underflow"),
    ("huge_y_1e200", "a,y\n1,1e200\n2,2e200\n4,3e200\n", [], "target column: y has values"),
    ("duplicate_target", "a,y,y\n1,2,3\n2,3,4\n", [], "Column 'y' appears 2 times"),
    ("not_utf8", b"a,y\n1,2\n\xff,3\n", [], "is not UTF-8 text"),
    ("field_too_long", 'a,y\n1,"' + "9" * 200_000 + '"\n', [], "is not valid CSV"),
    ("missing_file", None, [], "cannot read DATA: No such file or directory"),
    ("max_iter_0", "a,y\n1,2\n2,3\n", ["--max-iter", "0"], "--max-iter must be at least 1"),
    ("max_iter_not_int", "a,y\n1,2\n2,3\n", ["--max-iter", "x"], "invalid int value: 'x'"),
    ("random_state_-1", "a,y\n1,2\n2,3\n", ["--random-state", "-1"], "--random-state must"),
    ("csv_without_target", "a,y\n1,2\n2,3\n", None, "--target COL is required"),
    ("unknown_option", "a,y\n1,2\n2,3\n", ["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(
    "content, extra, message",
    [case[1:] for case in USER_ERRORS],
    ids=[case[0] for case in USER_ERRORS],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, content, extra, message):
    path = tmp_path / "data.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    argv = [str(path)] + (["--target", "y", *extra] if extra is not None else [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UndefinedMetricWarning, no RuntimeWarning
        assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before the table starts
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message.replace("DATA", str(path)) in err, err


def test_target_without_csv_is_a_user_error(capsys):
    assert main(["--target", "y"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("error: --target needs a CSV file")


@pytest.mark.parametrize("args", [["--max-iter", "0"], ["DATA", "--target", "y"]])
def test_user_errors_print_no_traceback_from_the_command_line(tmp_path, args):
    """The real ``python -m gdreg``: one line on stderr and exit status 2, no traceback."""
    path = tmp_path / "nan.csv"
    path.write_text("a,y\n1,2\nnan,3\n3,4\n")
    result = subprocess.run(
        [sys.executable, "-m", "gdreg", *(str(path) if a == "DATA" else a for a in args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_utf8_byte_order_mark_is_dropped_from_the_header(tmp_path, capsys):
    path = tmp_path / "excel.csv"
    path.write_bytes("x,y\n1,2\n2,4.5\n4,8\n".encode("utf-8-sig"))
    X, y, names = read_csv(str(path), "x")  # the first column, right after the mark
    assert names == ["y"]
    np.testing.assert_array_equal(y, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(X[:, 0], [2.0, 4.5, 8.0])
    assert main([str(path), "--target", "x", "--max-iter", "5"]) == 0
    assert f"{path}: 3 samples, 1 features" in capsys.readouterr().out


def test_blank_lines_keep_the_line_numbers_of_the_file(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,y\n\n1,2\n\n2,x\n")
    with pytest.raises(ValueError, match="Line 5, column 'y'"):
        read_csv(str(path), "y")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"gdreg {gdreg.__version__}\n"
