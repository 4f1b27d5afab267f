"""Fit time of a column-major array and of a DataFrame relative to a C-ordered array.

Usage::

    python benchmarks/bench_layouts.py            # 200,000 x 100, 5 rounds
    python benchmarks/bench_layouts.py --quick    # 50,000 x 50, 3 rounds

The same data are fitted as a C-ordered array, a Fortran-ordered array
(``np.asfortranarray``) and a pandas DataFrame (column-major inside:
``validate_data`` hands the estimator a Fortran-ordered array), for the
estimator's default modes (``optimizer="batch"``, ``"stochastic"``,
``"minibatch"`` with ``learning_rate="auto"``) and for explicit optimizers
with a constant step. Every fit runs a fixed number of epochs, so the three
layouts do the same work; the coefficients are checked to agree.

The rounds are interleaved (every case and layout once per round) and each
time is the median over the rounds, so a noisy host slows all layouts
alike; the table reports the times for C order and the ratios F / C and
DataFrame / C measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor
from gdreg.optimizers import AveragedSGD, GradientDescent

SIZES = {"full": (200_000, 100), "quick": (50_000, 50)}
EPOCHS = 5


def cases() -> dict:
    """Estimator parameters of each case (all run ``EPOCHS`` epochs)."""
    fixed = dict(max_iter=EPOCHS, random_state=0)
    constant = dict(learning_rate="constant", eta0=1e-4, tol=None, **fixed)
    return {
        "batch (auto)": dict(optimizer="batch", **fixed),
        "stochastic (auto)": dict(optimizer="stochastic", **fixed),
        "minibatch (auto)": dict(optimizer="minibatch", **fixed),
        "GD stochastic, constant": dict(
            optimizer=GradientDescent(sampling="stochastic"), **constant
        ),
        "GD minibatch 32, constant": dict(
            optimizer=GradientDescent(sampling="minibatch"), batch_size=32, **constant
        ),
        "GD minibatch 256, constant": dict(
            optimizer=GradientDescent(sampling="minibatch"), batch_size=256, **constant
        ),
        "GD batch, constant": dict(optimizer=GradientDescent(sampling="batch"), **constant),
        "AveragedSGD, constant": dict(optimizer=AveragedSGD(), **constant),
    }


def make_layouts(n: int, d: int) -> tuple[dict, np.ndarray]:
    """The same standardised-scale data in each layout, and the targets."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 1.0 + 0.1 * rng.standard_normal(n)
    layouts = {"C": np.ascontiguousarray(X), "F": np.asfortranarray(X)}
    try:
        import pandas as pd
    except ImportError:
        pass
    else:
        layouts["DataFrame"] = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    return layouts, y


def fit_seconds(params: dict, X, y) -> tuple[float, np.ndarray]:
    est = GradientDescentRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, est.coef_


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    args = parser.parse_args(argv)
    n, d = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or (3 if args.quick else 5)
    layouts, y = make_layouts(n, d)
    todo = cases()
    times = {(case, layout): [] for case in todo for layout in layouts}
    for case, params in todo.items():  # compile, and check that the layouts agree
        coefs = {layout: fit_seconds(params, X, y)[1] for layout, X in layouts.items()}
        for layout, coef in coefs.items():
            if not np.allclose(coef, coefs["C"], rtol=1e-9, atol=1e-12):
                diff = np.max(np.abs(coef - coefs["C"]))
                raise AssertionError(f"{case}: {layout} differs from C by {diff:.3g}")
    for _ in range(rounds):
        for case, params in todo.items():
            for layout, X in layouts.items():
                times[case, layout].append(fit_seconds(params, X, y)[0])
    print(f"{n:,} x {d} float64, {EPOCHS} epochs per fit, median of {rounds} interleaved rounds\n")
    others = [layout for layout in layouts if layout != "C"]
    print("| case | C (s) | " + " | ".join(f"{o} / C" for o in others) + " |")
    print("|---|---:|" + "---:|" * len(others))
    for case in todo:
        base = statistics.median(times[case, "C"])
        ratios = [statistics.median(times[case, o]) / base for o in others]
        print(f"| {case} | {base:.3f} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
