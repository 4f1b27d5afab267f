"""Full-batch ``penalty="l1"`` fit against scikit-learn's ``Lasso`` with the same ``alpha``.

Usage::

    python benchmarks/bench_lasso.py            # up to 1,000,000 x 100, 3 rounds
    python benchmarks/bench_lasso.py --quick    # small sizes, 1 round (a smoke run)

Issue #15's target: ``GradientDescentRegressor(penalty="l1", alpha=a).fit``
(default ``tol``) at most 0.5 x ``Lasso(alpha=a).fit`` (default ``tol``) on
1,000,000 x 100. The data are well-conditioned Gaussian columns with a third
of the true coefficients zero; ``alpha`` sets a moderate number of further
zeros. Each fit's accuracy is measured against a tight reference (``Lasso``
on the Gram matrix, ``tol=1e-12``) as the scale-free error
``max_j |w_j - w*_j| std(x_j) / std(y)``, and its zero set is compared with
the reference's.

The rounds are interleaved (gdreg, then Lasso, once per round) and each time
is the median over the rounds. The compiled loop is compiled (or loaded from
the cache) by a small fit before the timings.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.linear_model import Lasso

from gdreg import GradientDescentRegressor

SIZES = {
    "full": [(10_000, 20), (100_000, 50), (1_000_000, 100)],
    "quick": [(5_000, 10), (20_000, 30)],
}
#: The l1 strength of every case (the columns are standard Gaussian, so this
#: zeroes the true coefficients smaller than about ``ALPHA`` too).
ALPHA = 0.2


def make_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard Gaussian ``X`` (n, d), a third of the true coefficients zero, and ``y``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    w[rng.permutation(d)[: d // 3]] = 0.0
    y = X @ w + 3.0 + 0.5 * rng.standard_normal(n)
    return X, y


def scale_free_error(coef: np.ndarray, reference: np.ndarray, x_std, y_std) -> float:
    """``max_j |w_j - w*_j| std(x_j) / std(y)``."""
    return float(np.max(np.abs(coef - reference) * x_std) / y_std)


def timed_fit(make, X, y) -> tuple[float, np.ndarray]:
    """Seconds of ``make().fit(X, y)`` and the fitted ``coef_``."""
    estimator = make()
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start, estimator.coef_


def column_std(X: np.ndarray) -> np.ndarray:
    """Column spreads, a block of rows at a time (no copy of X)."""
    n, d = X.shape
    total, squares = np.zeros(d), np.zeros(d)
    for start in range(0, n, 65_536):
        block = X[start : start + 65_536]
        total += block.sum(axis=0)
        squares += np.einsum("ij,ij->j", block, block)
    mean = total / n
    return np.sqrt(np.maximum(squares / n - mean * mean, 0.0))


def run_size(n: int, d: int, rounds: int) -> dict:
    X, y = make_data(n, d)
    ours = lambda: GradientDescentRegressor(penalty="l1", alpha=ALPHA)  # noqa: E731
    peer = lambda: Lasso(alpha=ALPHA)  # noqa: E731
    times = {"gdreg": [], "Lasso": []}
    coefs = {}
    for _ in range(rounds):
        for name, make in (("gdreg", ours), ("Lasso", peer)):
            seconds, coefs[name] = timed_fit(make, X, y)
            times[name].append(seconds)
    # the reference: coordinate descent on the Gram matrix, to a tight tolerance
    reference = Lasso(alpha=ALPHA, precompute=True, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    x_std, y_std = column_std(X), float(np.std(y))
    row = {"n": n, "d": d, "zeros": int(np.sum(reference == 0))}
    for name in times:
        row[name] = statistics.median(times[name])
        row[f"{name}_err"] = scale_free_error(coefs[name], reference, x_std, y_std)
        row[f"{name}_zeros"] = bool(np.array_equal(coefs[name] == 0, reference == 0))
    row["ratio"] = row["gdreg"] / row["Lasso"]
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (median)")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or (1 if args.quick else 3)
    warm_X, warm_y = make_data(2_000, 10, seed=1)
    GradientDescentRegressor(penalty="l1", alpha=ALPHA).fit(warm_X, warm_y)  # compile or load
    print(f"alpha={ALPHA}, median of {rounds} round(s); errors scale-free against Lasso(tol=1e-12)")
    print("| data | zeros | gdreg (s) | Lasso (s) | ratio | gdreg err | Lasso err | same zeros |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for n, d in sizes:
        row = run_size(n, d, rounds)
        rows.append(row)
        print(
            f"| {n:,} x {d} | {row['zeros']} | {row['gdreg']:.3f} | {row['Lasso']:.3f} "
            f"| {row['ratio']:.2f} | {row['gdreg_err']:.1e} | {row['Lasso_err']:.1e} "
            f"| {row['gdreg_zeros']} / {row['Lasso_zeros']} |",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
