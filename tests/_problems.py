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


def compiled_and_numpy_fits(monkeypatch, make_optimizer, X, y, weights, method, **params):
    """The same estimator fitted with the kernels on, then off (the NumPy path).

    ``method`` is ``"fit"`` or ``"partial_fit"`` (two chunks, then the first again);
    3 epochs, batch size 8, no tolerance.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from gdreg import GradientDescentRegressor, _kernels

    fits = []
    for enabled in (True, False):
        monkeypatch.setattr(_kernels, "ENABLED", enabled)
        est = GradientDescentRegressor(
            optimizer=make_optimizer(),
            batch_size=8,
            max_iter=3,
            tol=None,
            random_state=0,
            **params,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if method == "fit":
                est.fit(X, y, sample_weight=weights)
            else:
                for rows in (slice(0, 30), slice(30, None), slice(0, 30)):
                    w = None if weights is None else weights[rows]
                    est.partial_fit(X[rows], y[rows], sample_weight=w)
        fits.append(est)
    return fits


def standardised_gram_objective(X, Y, s, *, alpha=0.0, l1=0.0):
    """``GramLeastSquares`` of ``(X, Y, s)`` centred at the weighted means, in the
    standardised coordinates of its certificate (as an "auto" fit runs it): ``(objective,
    certificate)``."""
    from gdreg._accuracy import certificate
    from gdreg._objective import GramLeastSquares

    c = np.full(len(X), 1.0 / len(X)) if s is None else s / s.sum()
    objective = GramLeastSquares(X, Y, s, alpha=alpha, x_offset=c @ X, y_offset=c @ Y, l1=l1)
    cert = certificate(objective, objective.yty)
    scaled = objective.scaled(cert.column_scale)
    scaled.set_lipschitz(cert.lipschitz)
    return scaled, cert


def compiled_and_python_gram_runs(objective, optimizer, schedule, monkeypatch, **kwargs):
    """``gdreg._loop.run`` with the compiled Gram loop, then with the Python loop."""
    from gdreg import _kernels, _loop

    results = []
    for compiled in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if compiled else 10**18)
            assert _loop._compiled_gram_applies(objective, False, 0, None, None) == compiled
            results.append(_loop.run(objective, optimizer, schedule, **kwargs))
    return results
