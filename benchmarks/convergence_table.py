"""Correct digits, epochs, time and warnings of each solver on a set of hard and real problems.

Usage::

    python benchmarks/convergence_table.py            # median of 3 fits, about a minute
    python benchmarks/convergence_table.py --quick    # one fit each, no JSON unless --json

It writes ``docs/_static/convergence_table.json`` and, next to it, the CSV tables
that ``docs/convergence.rst`` includes (``convergence_table_*.csv``), and prints
Markdown tables. Times are the median of
``--repeat`` fits; a cell whose fits have taken 3 s is not fitted again.
``AveragedSGD`` runs with its defaults like the other rules (1,000 epochs at most).

**The problems** are real data bundled with scikit-learn and synthetic designs
that defeat unscaled gradient descent or a singular-value cutoff (see
``PROBLEMS``; every random one uses ``numpy.random.default_rng(0)``). The last
table sweeps the units of one feature to show where ``LinearRegression``'s
singular-value cutoff (``tol=1e-6``) drops it.

**The reference.** For every problem the exact solution is the float64 least-squares
solution (``numpy.linalg.lstsq``) on the centred columns divided by their standard
deviations, mapped back to the user's units. Standardising first keeps the
reference accurate when the units of the features differ by many orders of
magnitude. As a check on the reference itself, the script also solves the normal
equations in 50-digit arithmetic (mpmath) and reports how many digits the float64
reference shares with it (``reference_digits``): no solver can be credited with
more digits than that.

**The error.** The scale-free error of a fit is
``max_j |coef_j - exact_j| * std_j / std_y`` (standard deviations with ``ddof=0``),
the largest over the targets; its digits are ``-log10`` of that error (16 when it
is zero). It is the quantity that ``GradientDescentRegressor``'s ``converged_``
bounds by ``tol``: a gdreg row with ``converged_`` true and an error above ``tol``
is reported as a violation and makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, SGDRegressor
from sklearn.multioutput import MultiOutputRegressor

import gdreg
from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import Adam, AveragedSGD, Nesterov

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "docs" / "_static" / "convergence_table.json"
TOL = 1e-6  # GradientDescentRegressor's default tol
MAX_DIGITS = 16.0
SLOW_CELL_SECONDS = 3.0  # a cell whose fits took this long is not fitted again


# -- problems ----------------------------------------------------------------------


def _diabetes():
    return load_diabetes(return_X_y=True)


def _diabetes_raw():
    return load_diabetes(return_X_y=True, scaled=False)


def _linnerud():
    return load_linnerud(return_X_y=True)


def _scales_1e4():
    rng = np.random.default_rng(0)
    n = 200
    X = np.c_[rng.normal(size=n), 1e4 * rng.normal(size=n)]
    y = 3 * X[:, 0] + 2e-4 * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


def _units_1e_7():
    rng = np.random.default_rng(0)
    n = 200
    X = np.c_[rng.normal(size=n), 1e-7 * rng.normal(size=n)]
    y = X[:, 0] + 1e7 * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


def _raw_quadratic():
    rng = np.random.default_rng(0)
    x = rng.uniform(1e6, 2e6, size=200)
    X = np.c_[x, x**2]
    y = 2 + 3e-6 * x + 1e-12 * x**2 + 0.01 * rng.normal(size=200)
    return X, y


def _correlated():
    return _correlated_design(500)


def _stochastic_2000x3():
    return _stochastic_design(2000)


def _poly10_raw():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 10, size=200)
    X = np.vander(x, 11, increasing=True)[:, 1:]  # x, x**2, ..., x**10
    y = np.sin(x) + 0.1 * rng.normal(size=200)
    return X, y


#: name -> (description, loader)
PROBLEMS = {
    "diabetes": ("load_diabetes(), 442 x 10", _diabetes),
    "diabetes raw": ("load_diabetes(scaled=False), 442 x 10", _diabetes_raw),
    "linnerud": ("load_linnerud(), 20 x 3, 3 targets", _linnerud),
    "scales 1:1e4": (
        "x1 ~ N(0, 1), x2 ~ 1e4 N(0, 1), y = 3 x1 + 2e-4 x2 + 0.1 e; 200 x 2",
        _scales_1e4,
    ),
    "units 1:1e-7": (
        "x1 ~ N(0, 1), x2 ~ 1e-7 N(0, 1), y = x1 + 1e7 x2 + 0.1 e; 200 x 2",
        _units_1e_7,
    ),
    "raw quadratic": ("x ~ U[1e6, 2e6], columns x, x**2; 200 x 2", _raw_quadratic),
    "correlated": ("x2 = x1 + 1e-2 e, x4 = x3 + 1e-2 e, x5; 500 x 5", _correlated),
    "stochastic 2000x3": ("X ~ N(0,1), y = X @ [1,2,3] + N(0,1); 2000 x 3", _stochastic_2000x3),
    "poly10 raw": ("x ~ U[1, 10], columns x, ..., x**10, y = sin x + 0.1 e; 200 x 10", _poly10_raw),
}


# -- methods -----------------------------------------------------------------------


def _gd(**params):
    return lambda multi: GradientDescentRegressor(**params)


def _sgd(multi):
    sgd = SGDRegressor(random_state=0)
    return MultiOutputRegressor(sgd) if multi else sgd


#: name -> (short label for the docs' tables, group, factory(multi_target) -> estimator,
#: or the string "normal_equation"); the docs show the two groups in two tables
#: ("gdreg": gradient-descent fits, "reference": closed forms and scikit-learn)
METHODS = {
    'gdreg "batch" (default)': ("batch", "gdreg", _gd()),
    'gdreg "stochastic"': ("stochastic", "gdreg", _gd(optimizer="stochastic", random_state=0)),
    'gdreg "minibatch"': ("minibatch", "gdreg", _gd(optimizer="minibatch", random_state=0)),
    "gdreg Nesterov()": ("Nesterov", "gdreg", _gd(optimizer=Nesterov())),
    "gdreg Adam()": ("Adam", "gdreg", _gd(optimizer=Adam())),
    "gdreg AveragedSGD()": ("ASGD", "gdreg", _gd(optimizer=AveragedSGD(), random_state=0)),
    "LinearRegression()": ("LinReg", "reference", lambda multi: LinearRegression()),
    "normal_equation": ("NE", "reference", "normal_equation"),
    "SGDRegressor()": ("SGDReg", "reference", _sgd),
}


# -- reference and error -----------------------------------------------------------


def exact_solution(X, Y):
    """Float64 lstsq on centred, standardised columns, mapped back: coef of shape (k, d)."""
    scale = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / scale
    v, *_ = np.linalg.lstsq(Z, Y - Y.mean(axis=0), rcond=None)
    return (v / scale[:, None]).T


def high_precision_solution(X, Y, dps=50):
    """The normal equations of the centred problem in ``dps``-digit arithmetic."""
    import mpmath

    with mpmath.workdps(dps):
        n, d = X.shape
        cols = [[mpmath.mpf(float(v)) for v in X[:, j]] for j in range(d)]
        cols = [[v - mpmath.fsum(c) / n for v in c] for c in cols]
        gram = mpmath.matrix(d, d)
        for i in range(d):
            for j in range(i, d):
                gram[i, j] = gram[j, i] = mpmath.fdot(cols[i], cols[j])
        out = np.empty((Y.shape[1], d))
        for k in range(Y.shape[1]):
            t = [mpmath.mpf(float(v)) for v in Y[:, k]]
            mean = mpmath.fsum(t) / n
            t = [v - mean for v in t]
            rhs = mpmath.matrix([mpmath.fdot(c, t) for c in cols])
            out[k] = [float(v) for v in mpmath.lu_solve(gram, rhs)]
    return out


def scale_free_error(coef, exact, X, Y):
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    scale_x, scale_y = X.std(axis=0), Y.std(axis=0)
    return float(np.max(np.abs(coef - exact) * scale_x[None, :] / scale_y[:, None]))


def digits(error):
    """``-log10(error)``, at most 16; negative when the error exceeds the spread of y."""
    if not np.isfinite(error):
        return None
    return MAX_DIGITS if error == 0 else min(MAX_DIGITS, -math.log10(error))


# -- measurement -------------------------------------------------------------------


def _fit_once(factory, X, y, multi):
    """One fit: (coef, estimator or None, seconds, ConvergenceWarning messages, error raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            coef, est = _fit(factory, X, y, multi)
            raised = None
        except ValueError as exc:  # a diverging fit raises
            coef, est, raised = None, None, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    return coef, est, seconds, messages, raised


def _fit(factory, X, y, multi):
    if factory == "normal_equation":
        coef, _ = normal_equation(X, y)
        return coef, None
    est = factory(multi).fit(X, y)
    if isinstance(est, MultiOutputRegressor):
        return np.array([e.coef_ for e in est.estimators_]), est
    return est.coef_, est


def _epochs(est):
    if est is None or isinstance(est, LinearRegression):
        return None
    if isinstance(est, MultiOutputRegressor):
        return int(max(e.n_iter_ for e in est.estimators_))
    return int(est.n_iter_)


def measure(problem, method, repeat, exact, precise):
    """One cell of the table: the last of up to ``repeat`` fits, and their median time.

    A cell stops repeating once its fits have taken ``SLOW_CELL_SECONDS``.
    """
    _, loader = PROBLEMS[problem]
    X, y = loader()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(len(y), -1)
    multi = Y.shape[1] > 1
    _, group, factory = METHODS[method]
    times = []
    while len(times) < repeat and sum(times) < SLOW_CELL_SECONDS:
        coef, est, seconds, messages, raised = _fit_once(factory, X, y, multi)
        times.append(seconds)
    error = np.inf if raised else scale_free_error(coef, exact, X, Y)
    precise_error = np.inf if raised else scale_free_error(coef, precise, X, Y)
    row = {
        "problem": problem,
        "method": method,
        "group": group,
        "error": None if raised else error,
        "digits": digits(error),
        "digits_vs_50_digit_solution": digits(precise_error),
        "raised": raised,
        "epochs": _epochs(est),
        "seconds": statistics.median(times),
        "fits_timed": len(times),
        "warning": bool(messages),
        "warning_message": messages[0] if messages else None,
        "converged": None,
        "bound": None,
    }
    if isinstance(est, GradientDescentRegressor):
        row["converged"] = bool(est.converged_)
        curve = est.change_curve_
        row["bound"] = float(curve[-1]) if len(curve) else None
        row["optimizer"] = repr(est.optimizer_)
    return row


def references(problem):
    """The float64 reference, the 50-digit one, and a summary of the problem."""
    _, loader = PROBLEMS[problem]
    X, y = loader()
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    scale_x = X.std(axis=0)
    cond = np.linalg.cond((X - X.mean(axis=0)) / scale_x) ** 2
    exact, precise = exact_solution(X, Y), high_precision_solution(X, Y)
    error = scale_free_error(exact, precise, X, Y)
    summary = {
        "problem": problem,
        "description": PROBLEMS[problem][0],
        "shape": list(X.shape),
        "n_targets": Y.shape[1],
        "condition_number": float(cond),
        "feature_scale_ratio": float(scale_x.max() / scale_x.min()),
        "reference_error": error,
        "reference_digits": digits(error),
    }
    return exact, precise, summary


def cutoff_sweep(ratios=(1e-5, 1e-6, 3e-7, 1e-7, 1e-8)):
    """Digits of LinearRegression's and gdreg's default fits as one feature's units shrink.

    Two independent N(0, 1) features, the second multiplied by ``ratio``, and
    ``y = x1 + x2 / ratio + 0.1 e`` (n = 200, seed 0): both features matter equally.
    ``LinearRegression`` passes ``tol`` to its least-squares solver as the relative
    singular-value cutoff, which drops the second feature once ``ratio`` is below
    about ``tol``.
    """
    rng = np.random.default_rng(0)
    n = 200
    Z = rng.normal(size=(n, 2))
    noise = 0.1 * rng.normal(size=n)
    out = []
    for ratio in ratios:
        X = np.c_[Z[:, 0], ratio * Z[:, 1]]
        y = X[:, 0] + X[:, 1] / ratio + noise
        Y = y.reshape(-1, 1)
        exact = exact_solution(X, Y)
        row = {"ratio": ratio}
        for name, est in (
            ("LinearRegression()", LinearRegression()),
            ("LinearRegression(tol=1e-12)", LinearRegression(tol=1e-12)),
            ("gdreg default", GradientDescentRegressor()),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y)
            row[name] = digits(scale_free_error(est.coef_, exact, X, Y))
        out.append(row)
    return out


def float32_check():
    """Default fits of float32 data, against the exact solution of the float32 values.

    Small float32 data are fitted in float64; above 200,000 entries the fit runs
    in float32 and stops at what float32 gradients can certify. Three sizes of
    the 2000 x 3 design (well conditioned) and of the correlated design
    (condition number about 4e4), rounded to float32.
    """
    out = []
    for name, builder in (("stochastic", _stochastic_design), ("correlated", _correlated_design)):
        for n in (2_000, 100_000):
            X, y = builder(n)
            X32, y32 = X.astype(np.float32), y.astype(np.float32)
            X64, Y64 = X32.astype(np.float64), y32.astype(np.float64).reshape(-1, 1)
            exact = exact_solution(X64, Y64)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est = GradientDescentRegressor().fit(X32, y32)
            error = scale_free_error(est.coef_, exact, X64, Y64)
            out.append(
                {
                    "problem": f"{name} {n} x {X.shape[1]}",
                    "entries": int(X.size),
                    "digits": digits(error),
                    "epochs": int(est.n_iter_),
                    "converged": bool(est.converged_),
                    "bound": float(est.change_curve_[-1]),
                    "warning": any(issubclass(w.category, ConvergenceWarning) for w in caught),
                }
            )
    return out


def _stochastic_design(n):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, X @ [1.0, 2.0, 3.0] + rng.normal(size=n)


def _correlated_design(n):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(n, 3))
    X = np.c_[
        Z[:, 0],
        Z[:, 0] + 1e-2 * rng.normal(size=n),
        Z[:, 1],
        Z[:, 1] + 1e-2 * rng.normal(size=n),
        Z[:, 2],
    ]
    return X, X @ np.ones(5) + 0.1 * rng.normal(size=n)


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- output ------------------------------------------------------------------------


def _fmt_bool(value):
    return "" if value is None else ("yes" if value else "no")


def markdown(rows, problems):
    lines = []
    for p in problems:
        lines.append(
            f"\n### {p['problem']}: {p['description']} "
            f"(kappa {p['condition_number']:.3g}, reference digits {p['reference_digits']:.1f})\n"
        )
        lines.append("| method | digits | epochs | time (ms) | warning | converged_ | bound |")
        lines.append("|---|---:|---:|---:|:---:|:---:|---:|")
        for r in rows:
            if r["problem"] != p["problem"]:
                continue
            epochs = "" if r["epochs"] is None else str(r["epochs"])
            bound = "" if r["bound"] is None else f"{r['bound']:.2g}"
            correct = "raised" if r["raised"] else f"{r['digits']:.1f}"
            lines.append(
                f"| {r['method']} | {correct} | {epochs} | {1e3 * r['seconds']:.1f} | "
                f"{_fmt_bool(r['warning'])} | {_fmt_bool(r['converged'])} | {bound} |"
            )
    return "\n".join(lines)


def markdown_float32(rows):
    lines = [
        "\n### float32 data, default fit (digits against the solution of the float32 values)\n",
        "| problem | entries | digits | epochs | converged_ | bound | warning |",
        "|---|---:|---:|---:|:---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {r['entries']} | {r['digits']:.1f} | {r['epochs']} | "
            f"{_fmt_bool(r['converged'])} | {r['bound']:.2g} | {_fmt_bool(r['warning'])} |"
        )
    return "\n".join(lines)


def markdown_sweep(sweep):
    names = [k for k in sweep[0] if k != "ratio"]
    lines = [
        "\n### LinearRegression's singular-value cutoff: digits as feature 2's units shrink\n",
        "| units ratio | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for row in sweep:
        cells = " | ".join(f"{row[k]:.1f}" for k in names)
        lines.append(f"| {row['ratio']:g} | {cells} |")
    return "\n".join(lines)


def _digits_cell(row):
    if row["raised"]:
        return "raised"
    return f"{row['digits']:.1f}" + (" W" if row["warning"] else "")


def write_csv(path, rows, problems, sweep, single):
    """The tables of docs/convergence.rst, next to the JSON (``<stem>_*.csv``)."""
    base = path.with_suffix("")
    names = [p["problem"] for p in problems]
    with open(f"{base}_methods.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "method"])
        for method, (short, *_) in METHODS.items():
            writer.writerow([short, f"``{method}``"])
    for group in ("gdreg", "reference"):
        methods = [m for m, (_, g, _) in METHODS.items() if g == group]
        with open(f"{base}_summary_{group}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["problem", *(METHODS[m][0] for m in methods)])
            for name in names:
                cells = {r["method"]: _digits_cell(r) for r in rows if r["problem"] == name}
                writer.writerow([name, *(cells[m] for m in methods)])
    with open(f"{base}_detail.csv", "w", newline="") as f:
        writer = csv.writer(f)
        # the CSV is read as reStructuredText: a bare converged_ would be a link
        head = ["problem", "method", "digits", "epochs", "time (ms)", "warned"]
        writer.writerow([*head, "``converged_``", "bound"])
        previous = None
        for r in rows:
            writer.writerow(
                [
                    "" if r["problem"] == previous else r["problem"],
                    METHODS[r["method"]][0],
                    "raised" if r["raised"] else f"{r['digits']:.1f}",
                    "" if r["epochs"] is None else r["epochs"],
                    f"{1e3 * r['seconds']:.1f}",
                    _fmt_bool(r["warning"]),
                    _fmt_bool(r["converged"]),
                    "" if r["bound"] is None else f"{r['bound']:.2g}",
                ]
            )
            previous = r["problem"]
    with open(f"{base}_problems.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["problem", "data", "condition number", "units ratio", "reference digits"])
        for p in problems:
            writer.writerow(
                [
                    p["problem"],
                    p["description"],
                    f"{p['condition_number']:.3g}",
                    f"{p['feature_scale_ratio']:.3g}",
                    f"{p['reference_digits']:.1f}",
                ]
            )
    with open(f"{base}_float32.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["problem", "entries", "digits", "epochs", "``converged_``", "bound"])
        for r in single:
            writer.writerow(
                [
                    r["problem"],
                    f"{r['entries']:,}",
                    f"{r['digits']:.1f}" + (" W" if r["warning"] else ""),
                    r["epochs"],
                    _fmt_bool(r["converged"]),
                    f"{r['bound']:.2g}",
                ]
            )
    with open(f"{base}_cutoff.csv", "w", newline="") as f:
        writer = csv.writer(f)
        names = [k for k in sweep[0] if k != "ratio"]
        writer.writerow(["units ratio", *names])
        for row in sweep:
            writer.writerow([f"{row['ratio']:g}", *(f"{row[k]:.1f}" for k in names)])


def violations(rows):
    """gdreg fits that claim convergence with an error above tol."""
    return [r for r in rows if r["converged"] and r["error"] is not None and r["error"] > TOL]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one fit per cell, no JSON by default")
    parser.add_argument("--repeat", type=int, default=None, help="fits per cell (default 3)")
    parser.add_argument("--json", type=Path, default=None, help=f"output (default {DEFAULT_JSON})")
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS), choices=list(PROBLEMS))
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    out = args.json or (None if args.quick else DEFAULT_JSON)

    start = time.perf_counter()
    problems, rows = [], []
    for name in args.problems:
        exact, precise, summary = references(name)
        problems.append(summary)
        rows += [measure(name, m, repeat, exact, precise) for m in METHODS]
    sweep = cutoff_sweep()
    single = float32_check()
    elapsed = time.perf_counter() - start

    print(markdown(rows, problems))
    print(markdown_sweep(sweep))
    print(markdown_float32(single))
    print(f"\n{len(rows)} fits x {repeat} in {elapsed:.0f} s")
    bad = violations(rows)
    for r in bad:
        print(
            f"VIOLATION: {r['method']} on {r['problem']}: converged_=True "
            f"with scale-free error {r['error']:.3g} > tol={TOL:g}",
            file=sys.stderr,
        )
    if out is not None:
        payload = {
            "tol": TOL,
            "repeat": repeat,
            "versions": {
                "gdreg": gdreg.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "cpu": _cpu(),
            "problems": problems,
            "rows": rows,
            "cutoff_sweep": sweep,
            "float32": single,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=1) + "\n")
        write_csv(out, rows, problems, sweep, single)
        print(f"wrote {out} and its CSV tables")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
