"""``fit`` never copies X: peak extra memory <= 0.1 X.nbytes + O(d^2).

tracemalloc sees every NumPy allocation (numba's compiled kernels allocate
only O(d) work arrays). The kernels are compiled by a warm-up fit before
tracing, so compilation is not counted.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _kernels, _problem

N, D = 40_000, 100  # X is 32 MB in float64: n-vectors cost 1 % of it each


def _data(dtype):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((N, D)) + 1.0).astype(dtype)
    y = (X @ rng.standard_normal(D)).astype(dtype)
    return X, y


def _peak(fit) -> int:
    tracemalloc.start()
    try:
        fit()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _budget(X):
    d = X.shape[1]
    return 0.1 * X.nbytes + 4 * d * d * 8  # and a few d x d float64 matrices


CONFIGS = {
    "batch (Gram)": dict(optimizer="batch"),
    "batch (plain)": dict(optimizer="batch", _plain=True),
    "stochastic": dict(optimizer="stochastic"),
    "minibatch": dict(optimizer="minibatch", batch_size=64),
}


@pytest.mark.parametrize(
    ("dtype", "helpers"),
    [(np.float64, "compiled"), (np.float32, "compiled"), (np.float64, "numpy")],
)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_fit_peak_memory_is_a_small_fraction_of_X(monkeypatch, config, dtype, helpers):
    params = dict(CONFIGS[config])
    if params.pop("_plain", False):
        monkeypatch.setattr(_problem, "GRAM_MIN_SAMPLES_PER_FEATURE", 10**18)
    # the compiled one-pass helpers, or the chunked NumPy versions of them
    threshold = 0 if helpers == "compiled" else 10**18
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", threshold)
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", threshold)
    X, y = _data(dtype)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, N).astype(dtype)
    est = GradientDescentRegressor(max_iter=2, tol=None, random_state=0, **params)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, sample_weight=weights)

    fit()  # compile
    peak = _peak(fit)
    assert peak <= _budget(X), f"peak {peak / X.nbytes:.3f} x X.nbytes"
    assert est.coef_.dtype == dtype  # float32 stays float32: no float64 copy either


def test_sparse_fit_does_not_densify():
    X = sp.random(20_000, 400, density=0.01, format="csr", random_state=0)
    y = np.asarray(X.sum(axis=1)).ravel()
    est = GradientDescentRegressor(optimizer="stochastic", max_iter=1, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        peak = _peak(lambda: est.fit(X, y))
    dense_bytes = X.shape[0] * X.shape[1] * 8
    assert peak <= 0.1 * dense_bytes


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("n", "d"), [(125_000, 10), (25_000, 50), (200_000, 50)])
def test_default_full_batch_fit_stays_within_a_tenth_of_X(n, d, weighted):
    """From 10 MB up, whatever the width: no n-long vector at d = 10 (each is 10 % of X)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, d)) + 1.0
    y = X @ rng.standard_normal(d)
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    est = GradientDescentRegressor()
    est.fit(X, y, sample_weight=weights)  # compile first
    peak = _peak(lambda: est.fit(X, y, sample_weight=weights))
    # the weights themselves are the caller's; their normalised copy is one n-vector
    allowance = n * 8 if weighted else 0
    assert peak <= _budget(X) + allowance, f"peak {peak / X.nbytes:.3f} x X.nbytes"
    assert est.converged_
