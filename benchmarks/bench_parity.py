"""SGDRegressor's losses and penalties: one per-sample epoch, side by side.

Usage::

    python benchmarks/bench_parity.py         # 200,000 x 10, 100,000 x 100, CSR 100,000 x 10,000
    python benchmarks/bench_parity.py --quick     # a tenth of the rows
    python benchmarks/bench_parity.py --rounds 7

Issue 15's targets: a per-sample epoch with ``loss="huber"`` at most 1.0 x
``SGDRegressor(loss="huber")``'s epoch, and with ``penalty="elasticnet"`` at
most 1.0 x ``SGDRegressor(penalty="elasticnet")``'s, dense and sparse.

Two rows per case:

* ``epoch``: one epoch of plain per-sample gradient descent with a constant
  step by the loop alone (``gdreg._loop.run(..., max_iter=1, tol=None)`` on an
  objective built outside the timing, as ``benchmarks/bench_rules.py`` does),
  against ``SGDRegressor(max_iter=1, tol=None, learning_rate="constant")``'s
  whole fit: the kernels against scikit-learn's ``_plain_sgd``.
* ``fit, defaults``: what a user gets, ``GradientDescentRegressor(
  optimizer="stochastic", max_iter=1, tol=None, <loss/penalty>)`` with its
  defaults otherwise (``"auto"``: SVRG, or AveragedSGD for
  ``"epsilon_insensitive"``, in standardised coordinates), against
  ``SGDRegressor(max_iter=1, tol=None, <loss/penalty>)`` with its defaults.

All methods of a table are timed interleaved (``run.interleaved``): medians
of ``--rounds`` rounds, ratios from the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import SGDRegressor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import interleaved, make_data, quiet  # the suite's timing, design and warnings

from gdreg import GradientDescentRegressor, _loop
from gdreg._loss import make_loss
from gdreg._objective import LeastSquares
from gdreg._penalty import split
from gdreg.optimizers import GradientDescent
from gdreg.schedules import Constant

#: (loss, penalty) of each row; alpha 1e-4 and l1_ratio 0.15 are SGDRegressor's defaults.
CASES = [
    ("huber", None),
    ("squared_error", "elasticnet"),
    ("epsilon_insensitive", None),
    ("squared_epsilon_insensitive", None),
]
ALPHA, L1_RATIO, EPSILON, STEP = 1e-4, 0.15, 0.1, 0.001


def sparse_data(n: int, d: int, per_row: int, seed: int = 0):
    """CSR ``X`` with ``per_row`` standard normal entries per row, ``y = X w + noise``."""
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, d, size=(n, per_row))
    indices.sort(axis=1)
    X = sp.csr_matrix(
        (rng.standard_normal(n * per_row), indices.ravel(), np.arange(0, n * per_row + 1, per_row)),
        shape=(n, d),
    )
    X.sum_duplicates()
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y


def loop_epoch(X, y, loss: str, penalty):
    """One constant-step per-sample epoch of the loop, objective built outside the timing."""
    Y = y.reshape(-1, 1)
    l2, l1 = split(penalty, ALPHA, L1_RATIO)
    x_offset = np.asarray(X.mean(axis=0)).ravel()
    objective = LeastSquares(
        X,
        Y,
        None,
        alpha=l2,
        x_offset=x_offset,
        y_offset=Y.mean(axis=0),
        learn_intercept=loss != "squared_error",
        loss=make_loss(loss, EPSILON),
        l1=l1,
    )
    optimizer = GradientDescent(sampling="stochastic")
    params0 = np.zeros((X.shape[1] + 1, 1))

    def epoch():
        return _loop.run(
            objective,
            optimizer,
            Constant(STEP),
            params0=params0,
            max_iter=1,
            tol=None,
            rng=np.random.RandomState(0),
        ).params[:-1, 0]

    return epoch


def one_epoch_fit(estimator, X, y, loss: str, penalty, **options):
    """A one-epoch ``fit`` of ``estimator`` (a class) with the row's objective."""
    params = {"loss": loss, "penalty": penalty, "alpha": ALPHA, "l1_ratio": L1_RATIO}
    params.update(epsilon=EPSILON, max_iter=1, tol=None, random_state=0, **options)
    return quiet(lambda: estimator(**params).fit(X, y).coef_)


def peer_epoch(X, y, loss: str, penalty, **options):
    return one_epoch_fit(SGDRegressor, X, y, loss, penalty, **options)


def default_fit(X, y, loss: str, penalty):
    return one_epoch_fit(GradientDescentRegressor, X, y, loss, penalty, optimizer="stochastic")


def table(datasets, rounds: int) -> list[str]:
    lines = [
        "| data | loss | penalty | row | gdreg ns/sample | SGDRegressor ns/sample | ratio |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for label, (X, y) in datasets.items():
        n = X.shape[0]
        for loss, penalty in CASES:
            methods = {
                "epoch": loop_epoch(X, y, loss, penalty),
                "peer epoch": peer_epoch(X, y, loss, penalty, learning_rate="constant", eta0=STEP),
                "fit": default_fit(X, y, loss, penalty),
                "peer fit": peer_epoch(X, y, loss, penalty),
            }
            times, _ = interleaved(methods, rounds)
            ns = {name: 1e9 * statistics.median(t) / n for name, t in times.items()}
            for row, ours, theirs in (
                ("epoch", "epoch", "peer epoch"),
                ("fit, defaults", "fit", "peer fit"),
            ):
                lines.append(
                    f"| {label} | {loss} | {penalty} | {row} | {ns[ours]:,.0f} "
                    f"| {ns[theirs]:,.0f} | {ns[ours] / ns[theirs]:.2f} |"
                )
            print(lines[-2], lines[-1], sep="\n", flush=True)
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    datasets = {
        f"{200_000 // scale:,} x 10": make_data(200_000 // scale, 10, seed=3),
        f"{100_000 // scale:,} x 100": make_data(100_000 // scale, 100, seed=4),
        f"CSR {100_000 // scale:,} x 10,000, 20 per row": sparse_data(100_000 // scale, 10_000, 20),
    }
    print("\n".join(table(datasets, args.rounds)))


if __name__ == "__main__":
    main()
