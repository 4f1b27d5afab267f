"""``python -m gdreg``: fit a data set with each optimizer and compare with the closed form.

Without arguments the diabetes data set that ships with scikit-learn is used;
``python -m gdreg data.csv --target COL`` does the same on a CSV file whose
columns are all numeric. Features are standardised first (as in a
``StandardScaler`` pipeline), then each optimizer is fitted and compared with
``LinearRegression`` and :func:`gdreg.normal_equation`.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from gdreg import GradientDescentRegressor, normal_equation
from gdreg import optimizers as _optimizers

#: Full-batch update rules shown besides the three sampling modes, when this version has them.
_EXTRA_RULES = ("Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AveragedSGD")


def read_csv(path: str, target: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a numeric CSV file with a header; return ``(X, y, feature_names)``.

    Raises
    ------
    ValueError
        If the target column is missing, the file has no data rows, or a
        cell is not a number.
    """
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path} is empty.")
    header, body = [name.strip() for name in rows[0]], [r for r in rows[1:] if r]
    if target not in header:
        raise ValueError(f"Column {target!r} is not in {path}; its columns are {header}.")
    if not body:
        raise ValueError(f"{path} has a header but no data rows.")
    data = np.empty((len(body), len(header)))
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"Line {i} of {path} has {len(row)} fields, expected {len(header)}.")
        for j, cell in enumerate(row):
            try:
                data[i - 2, j] = float(cell)
            except ValueError:
                raise ValueError(
                    f"Line {i}, column {header[j]!r} of {path} is not a number: {cell!r}."
                ) from None
    column = header.index(target)
    features = [name for j, name in enumerate(header) if j != column]
    return np.delete(data, column, axis=1), data[:, column], features


def candidates(max_iter: int, random_state: int) -> list[tuple[str, GradientDescentRegressor]]:
    """The estimators the table compares: each sampling mode, then each extra rule."""
    common = dict(max_iter=max_iter, random_state=random_state)
    out = [
        (name, GradientDescentRegressor(optimizer=name, **common))
        for name in ("batch", "stochastic", "minibatch")
    ]
    for rule in _EXTRA_RULES:
        cls = getattr(_optimizers, rule, None)
        if cls is not None and cls().sampling == "batch":
            out.append((f"{rule}()", GradientDescentRegressor(optimizer=cls(), **common)))
    return out


def compare(X, y, *, max_iter: int = 10000, random_state: int = 0) -> list[dict]:
    """Fit every candidate on standardised ``X``; one result row per estimator."""
    X = StandardScaler().fit_transform(X)
    reference = LinearRegression().fit(X, y)
    coef_ne, _ = normal_equation(X, y)
    scale = np.linalg.norm(coef_ne) or 1.0
    rows = [
        {
            "method": "LinearRegression",
            "epochs": "",
            "updates": "",
            "converged": "",
            "seconds": _seconds(lambda: LinearRegression().fit(X, y)),
            "r2": reference.score(X, y),
            "vs_lr": 0.0,
            "vs_ne": np.linalg.norm(reference.coef_ - coef_ne) / scale,
        }
    ]
    for name, est in candidates(max_iter, random_state):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X, y)
            elapsed = time.perf_counter() - start
        rows.append(
            {
                "method": name,
                "epochs": est.n_iter_,
                "updates": est.t_,
                "converged": "yes" if est.converged_ else "no",
                "seconds": elapsed,
                "r2": est.score(X, y),
                "vs_lr": np.linalg.norm(est.coef_ - reference.coef_) / scale,
                "vs_ne": np.linalg.norm(est.coef_ - coef_ne) / scale,
            }
        )
    return rows


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def format_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`compare`'s rows."""
    head = (
        "| method | epochs | updates | converged | time (s) | R^2 "
        "| rel. err. vs LR | vs normal eq. |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['epochs']} | {r['updates']} | {r['converged']} | "
            f"{r['seconds']:.4f} | {r['r2']:.6f} | {r['vs_lr']:.2e} | {r['vs_ne']:.2e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gdreg",
        description="Fit linear regression by gradient descent with each optimizer and "
        "compare with LinearRegression and the normal equation.",
    )
    parser.add_argument("csv", nargs="?", help="CSV file with a header row (default: diabetes)")
    parser.add_argument("--target", help="name of the target column of the CSV file")
    parser.add_argument("--max-iter", type=int, default=10000, help="epochs per fit (10000)")
    parser.add_argument("--random-state", type=int, default=0, help="seed of the shuffling")
    args = parser.parse_args(argv)

    if args.csv is None:
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        source = "scikit-learn's diabetes data set"
    else:
        if not args.target:
            parser.error("--target COL is required with a CSV file")
        try:
            X, y, _ = read_csv(args.csv, args.target)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        source = args.csv
    print(f"{source}: {X.shape[0]} samples, {X.shape[1]} features (standardised)\n")
    print(format_table(compare(X, y, max_iter=args.max_iter, random_state=args.random_state)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
