"""Small weighted least-squares problems shared by the objective and loop tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gdreg._objective import LeastSquares


def weighted_problem(n=30, d=4, k=2, seed=0, dtype=np.float64, sparse=False):
    """A weighted problem whose columns are far from centred: ``(X, Y, weights)``."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) + rng.uniform(-2, 2, size=d)
    if sparse:
        X[rng.rand(n, d) < 0.4] = 0.0
    Y = X @ rng.randn(d, k) + rng.randn(k) + 0.1 * rng.randn(n, k)
    s = rng.uniform(0.2, 3.0, size=n)
    X, Y, s = X.astype(dtype), Y.astype(dtype), s.astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), Y, s


def objective_of(X, Y, s, *, alpha=0.1, learn_intercept=False, offsets="mean", kind=LeastSquares):
    """The objective of :func:`weighted_problem`'s data, centred at the weighted means
    (``offsets="mean"``) or at fixed offsets that are not the means (as in a stream
    after its first chunk)."""
    Xd = X.toarray() if sp.issparse(X) else X
    c = s / s.sum()
    if offsets == "mean":
        x_off, y_off = c @ Xd, c @ Y
    else:
        x_off, y_off = Xd[:3].mean(axis=0), Y[:3].mean(axis=0)
    kwargs = {"alpha": alpha, "x_offset": x_off, "y_offset": y_off}
    if kind is LeastSquares:
        kwargs["learn_intercept"] = learn_intercept
    return kind(X, Y, s, **kwargs)
