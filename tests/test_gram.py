"""The full-batch Gram path: chosen when n >> d, same iterates as the O(n d) path."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _kernels, _problem, normal_equation
from gdreg._objective import GramLeastSquares, LeastSquares, sufficient_statistics


def _data(n=2000, d=6, k=1, rho=0.0, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    for j in range(1, d):  # AR(1) columns: corr(x_i, x_j) = rho^|i-j|
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * X[:, j]
    X += 3.0
    Y = X @ rng.standard_normal((d, k)) - 1.0 + 0.1 * rng.standard_normal((n, k))
    return X.astype(dtype), (Y[:, 0] if k == 1 else Y).astype(dtype)


def _force(monkeypatch, gram: bool):
    """Make the estimator pick (or never pick) the Gram objective on small data."""
    monkeypatch.setattr(_problem, "GRAM_MIN_SIZE", 0 if gram else 10**18)
    monkeypatch.setattr(_problem, "GRAM_MIN_SAMPLES_PER_FEATURE", 1 if gram else 10**18)


def _fit(X, y, weights=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GradientDescentRegressor(**params).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize(
    "case",
    [
        {},
        {"weighted": True},
        {"alpha": 0.1},
        {"k": 3},
        {"rho": 0.9},
        {"fit_intercept": False},
        {"dtype": np.float32},
    ],
    ids=["plain", "weights", "alpha", "multi-target", "ar1", "no-intercept", "float32"],
)
def test_gram_iterates_equal_plain_iterates(monkeypatch, case):
    case = dict(case)
    weighted = case.pop("weighted", False)
    alpha = case.pop("alpha", 0.0)
    fit_intercept = case.pop("fit_intercept", True)
    X, y = _data(**case)
    weights = np.random.default_rng(1).uniform(0.1, 4.0, len(X)) if weighted else None
    params = dict(alpha=alpha, fit_intercept=fit_intercept, max_iter=40, tol=None)
    paths = {}
    for gram in (True, False):
        _force(monkeypatch, gram)
        est = _fit(X, y, weights, record_path=True, **params)  # record_path: the generic loop
        kind = _objective_type(est, X, y, weights)
        assert issubclass(kind, GramLeastSquares) == gram
        paths[gram] = est
    rtol = 1e-3 if case.get("dtype") == np.float32 else 1e-9
    gram, plain = paths[True], paths[False]
    assert gram.learning_rate_.eta0 == pytest.approx(plain.learning_rate_.eta0, rel=10 * rtol)
    np.testing.assert_allclose(gram.coef_path_, plain.coef_path_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gram.intercept_path_, plain.intercept_path_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gram.loss_curve_, plain.loss_curve_, rtol=10 * rtol)
    assert gram.coef_.dtype == X.dtype


def _objective_type(est, X, y, weights=None, sampling=None):
    """The class of objective the fit of ``est`` builds on ``(X, y)`` (mean offsets)."""
    settings = _problem.Settings(**est.get_params(deep=False))
    sampling = sampling or _problem.resolve_optimizer(settings).sampling
    Y = np.atleast_2d(y.T).T
    problem = _problem.prepare(
        X,
        Y,
        weights,
        validate=lambda X, y, ensure_all_finite: (X, y),
        estimator_name="GradientDescentRegressor",
    )
    problem = problem._replace(x_offset=X.mean(axis=0), y_offset=Y.mean(axis=0))
    return type(_problem.build_objective(problem, sampling, settings))


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_gram_loop_equals_generic_loop(monkeypatch, k, dtype):
    """The compiled O(d^2) loop makes the updates and stopping decisions of run()."""
    _force(monkeypatch, True)
    X, y = _data(n=1500, d=8, k=k, rho=0.8, dtype=dtype)
    fits = {}
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if compiled else 10**18)
        tol = 1e-7 if dtype == np.float64 else 1e-4  # float32 changes are noise below ~1e-6
        fits[compiled] = _fit(X, y, alpha=0.01, tol=tol, max_iter=20_000)
    fast, generic = fits[True], fits[False]
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert fast.converged_ and generic.converged_
    assert abs(fast.n_iter_ - generic.n_iter_) <= (0 if dtype == np.float64 else 2)
    np.testing.assert_allclose(fast.coef_, generic.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fast.intercept_, generic.intercept_, rtol=rtol, atol=rtol)
    m = min(fast.n_iter_, generic.n_iter_)
    np.testing.assert_allclose(fast.loss_curve_[:m], generic.loss_curve_[:m], rtol=rtol)
    np.testing.assert_allclose(fast.change_curve_[:m], generic.change_curve_[:m], rtol=1e3 * rtol)
    assert fast.coef_.dtype == dtype


def test_compiled_gram_loop_runs_past_one_chunk_and_stops_at_max_iter(monkeypatch):
    _force(monkeypatch, True)
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0)
    X, y = _data(n=500, d=5, rho=0.95)
    est = _fit(X, y, tol=None, max_iter=5000)
    assert est.n_iter_ == est.t_ == 5000 and not est.converged_
    assert est.loss_curve_.shape == est.change_curve_.shape == (5000,)


def test_compiled_gram_loop_reports_divergence(monkeypatch):
    _force(monkeypatch, True)
    X, y = _data(n=500, d=5)
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if compiled else 10**18)
        est = GradientDescentRegressor(learning_rate="constant", eta0=10.0, max_iter=500)
        with pytest.raises(ValueError, match=r"diverged at epoch .*largest stable step"):
            est.fit(X, y)
        assert not hasattr(est, "coef_")


def test_gram_chosen_automatically_when_n_much_larger_than_d():
    est = GradientDescentRegressor()

    def kind(n, d, sampling=None):
        X, y = _data(n=n, d=d)
        return _objective_type(est, X, y, sampling=sampling)

    assert kind(50_000, 5) is GramLeastSquares  # n >> d, enough data to matter
    # small too: the certificate builds the d x d Hessian anyway (tests/test_small_fits.py)
    assert kind(500, 5) is GramLeastSquares
    assert kind(2_000, 400) is LeastSquares  # n < 10 d
    assert kind(50_000, 5, "stochastic") is LeastSquares


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sufficient_statistics_match_explicit_centring(weighted, dtype):
    X, Y = _data(n=3001, d=7, k=2, dtype=dtype)  # 3001: the last chunk is partial
    rng = np.random.default_rng(3)
    s = rng.uniform(0.2, 2.0, len(X)) if weighted else np.ones(len(X))
    c = (s / s.sum()).astype(dtype)
    x_off, y_off = (c @ X).astype(dtype), (c @ Y).astype(dtype)
    gram, xty, yty = sufficient_statistics(X, Y, c, x_off, y_off, uniform=not weighted)
    Xc = X.astype(np.float64) - x_off
    Yc = Y.astype(np.float64) - y_off
    cd = c.astype(np.float64)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    assert gram.dtype == xty.dtype == yty.dtype == dtype
    np.testing.assert_allclose(gram, Xc.T @ (cd[:, None] * Xc), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(xty, Xc.T @ (cd[:, None] * Yc), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(yty, np.einsum("i,ij,ij->j", cd, Yc, Yc), rtol=rtol)
    np.testing.assert_array_equal(gram, gram.T)


def test_lipschitz_from_gram_matches_eigsh(monkeypatch):
    from gdreg import _objective

    X, y = _data(n=3000, d=80, rho=0.5)
    Y = y.reshape(-1, 1)
    objective = LeastSquares(
        X, Y, None, alpha=0.2, x_offset=X.mean(0), y_offset=Y.mean(0), learn_intercept=False
    )
    from_gram = objective.lipschitz()
    monkeypatch.setattr(_objective, "_GRAM_LIPSCHITZ_MAX_FEATURES", 0)
    assert from_gram == pytest.approx(objective.lipschitz(), rel=1e-4)


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_full_batch_agrees_with_normal_equation(monkeypatch, rho):
    """Case 1 of the benchmark at test size: the compiled Gram path to 1e-6 relative."""
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0)
    X, y = _data(n=20_000, d=20, rho=rho)
    est = _fit(X, y, tol=1e-10, max_iter=100_000)
    coef, intercept = normal_equation(X, y)
    assert est.converged_
    assert np.max(np.abs(est.coef_ - coef)) <= 1e-6 * np.max(np.abs(coef))
    assert est.intercept_ == pytest.approx(intercept, rel=1e-6)
