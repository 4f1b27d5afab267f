"""One stochastic epoch on a large, very sparse CSR matrix, against SGDRegressor.

Usage::

    python benchmarks/bench_sparse.py              # 100,000 x 10,000 at 0.1 %, ~2 minutes
    python benchmarks/bench_sparse.py --quick      # 20,000 x 2,000 at 0.1 %, seconds
    python benchmarks/bench_sparse.py --rounds 7

The data are ``scipy.sparse.random`` with standard normal non-zeros (about
ten a row at full size) and ``y = X w + 0.1 noise``. A per-sample epoch that
touches every coefficient per sample costs O(n d); scikit-learn's
``_plain_sgd`` costs O(non-zeros). The rows:

* whole fits of one epoch (``max_iter=1, tol=None``): gdreg's plain
  per-sample rule with ``learning_rate="constant"`` and with the default
  ``"auto"`` (standardised coordinates, a decaying step), the default
  ``optimizer="stochastic"`` (SVRG, whose first epoch is plain SGD), plain
  mini-batch (32), and ``SGDRegressor(max_iter=1, tol=None)`` (the peer);
* the epoch kernels alone, on the objective a fit builds (standardised
  coordinates): plain per-sample, SVRG per-sample (the second and later
  epochs of the default fit) and plain mini-batch of 32.

Timing is interleaved: one warm-up call of each, then ``--rounds`` rounds of
every method in turn; the table gives medians and the ratio to
``SGDRegressor``'s epoch (below 1: gdreg is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor

from gdreg import GradientDescentRegressor, _kernels, _loop
from gdreg._accuracy import spreads
from gdreg._objective import LeastSquares
from gdreg._validation import weighted_column_means
from gdreg.optimizers import GradientDescent

SIZES = {"full": (100_000, 10_000), "quick": (20_000, 2_000)}
DENSITY = 0.001
MINIBATCH = 32


def make_data(n: int, d: int, density: float = DENSITY, seed: int = 0):
    """A CSR ``X`` with standard normal non-zeros and ``y = X w + 0.1 noise``."""
    rng = np.random.default_rng(seed)
    X = sp.random(
        n, d, density=density, format="csr", random_state=rng, data_rvs=rng.standard_normal
    )
    X.sort_indices()
    y = np.asarray(X @ rng.standard_normal(d)).ravel() + 0.1 * rng.standard_normal(n)
    return X, y


def _fit(estimator, X, y):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)

    return run


def _kernel_epochs(X, y):
    """The epoch kernels alone, on the objective an "auto" fit descends."""
    n, d = X.shape
    Y = y.reshape(-1, 1)
    x_offset = weighted_column_means(X, None)
    objective = LeastSquares(
        X, Y, None, alpha=0.0, x_offset=x_offset, y_offset=Y.mean(axis=0), learn_intercept=False
    )
    objective = objective.scaled(spreads(objective))
    data = objective.stochastic_data()
    step = 1.0 / objective.lipschitz_max()
    order = np.random.default_rng(1).permutation(n).astype(np.int64)
    theta = np.zeros((d + 1, 1))
    _, anchor_grad = objective.value_and_gradient(theta)
    per_sample = np.full(n, step)
    per_batch = np.full(_loop.updates_per_epoch(n, "minibatch", MINIBATCH), step)

    def plain():
        _kernels.plain_epoch(data, theta.copy(), order, per_sample, 1)

    def svrg():
        _kernels.svrg_epoch(data, theta.copy(), theta, anchor_grad, order, per_sample, 1)

    def minibatch():
        _kernels.plain_epoch(data, theta.copy(), order, per_batch, MINIBATCH)

    return {
        "kernel: plain per-sample epoch": plain,
        "kernel: SVRG per-sample epoch": svrg,
        f"kernel: plain mini-batch ({MINIBATCH}) epoch": minibatch,
    }


def methods(X, y) -> dict:
    one_epoch = dict(max_iter=1, tol=None, random_state=0)
    fits = {
        "fit: plain, constant": GradientDescentRegressor(
            optimizer=GradientDescent(sampling="stochastic"), learning_rate="constant", **one_epoch
        ),
        'fit: plain, "auto"': GradientDescentRegressor(
            optimizer=GradientDescent(sampling="stochastic"), **one_epoch
        ),
        'fit: default "stochastic" (SVRG)': GradientDescentRegressor(
            optimizer="stochastic", **one_epoch
        ),
        f"fit: plain mini-batch ({MINIBATCH}), constant": GradientDescentRegressor(
            optimizer=GradientDescent(sampling="minibatch"),
            learning_rate="constant",
            batch_size=MINIBATCH,
            **one_epoch,
        ),
        "SGDRegressor(max_iter=1, tol=None)": SGDRegressor(max_iter=1, tol=None, random_state=0),
    }
    runs = {name: _fit(est, X, y) for name, est in fits.items()}
    runs.update(_kernel_epochs(X, y))
    return runs


def time_interleaved(runs: dict, rounds: int) -> dict:
    """Median seconds of each callable over ``rounds`` interleaved rounds (after a warm-up)."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 x 2,000 instead")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5; 2 quick)")
    args = parser.parse_args(argv)
    n, d = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or (2 if args.quick else 5)
    X, y = make_data(n, d)
    medians = time_interleaved(methods(X, y), rounds)
    peer = medians["SGDRegressor(max_iter=1, tol=None)"]
    print(
        f"\n{n:,} x {d:,} CSR, {X.nnz / n:.1f} non-zeros a row ({100 * DENSITY:g} %), "
        f"median of {rounds} interleaved rounds\n"
    )
    print("| method | seconds | / SGDRegressor epoch |")
    print("|---|---:|---:|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.4f} | {seconds / peer:.2f} |")
    return medians


if __name__ == "__main__":
    main()
