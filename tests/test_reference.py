"""Agreement with LinearRegression, Ridge and the normal equation.

Every optimizer x fit_intercept x sample_weight x 1-D/2-D y is fitted and
compared with the closed form. Tolerances:

* ``"batch"``: 1e-6 relative on the coefficients (run with ``tol=1e-10``; the
  problem is well conditioned, so the error is of the order of the last step).
* stochastic modes on a *realizable* problem (``y = X w + b`` exactly, no
  penalty): every per-sample gradient vanishes at the optimum, so SGD
  converges linearly and must reach the same 1e-6.
* stochastic modes on noisy data or with a penalty: the per-sample gradients
  do not vanish at the optimum and the "auto" step decays as
  ``1/sqrt(epoch)``, so after ``E`` epochs the error is
  ``O(eta_0 sigma / sqrt(E))``. We allow 3e-2 relative after 300 epochs and
  check that the error keeps falling (converging, not hovering).
"""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from gdreg import GradientDescentRegressor, normal_equation

OPTIMIZERS = ["batch", "stochastic", "minibatch"]


def _problem(n=120, d=4, k=None, noise=0.3, seed=0, offset=2.0, intercept=True):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) + offset
    shape = (d,) if k is None else (d, k)
    w = rng.randn(*shape)
    b = (1.5 if k is None else rng.randn(k)) if intercept else 0.0
    y = X @ w + b
    if noise:
        y = y + noise * rng.randn(*y.shape)
    weights = rng.uniform(0.5, 2.0, n)
    return X, y, weights


def _relative_error(coef, reference):
    return np.linalg.norm(np.ravel(coef) - np.ravel(reference)) / np.linalg.norm(reference)


def _sklearn_reference(X, y, weights, fit_intercept, alpha):
    S = X.shape[0] if weights is None else weights.sum()
    if alpha == 0:
        model = LinearRegression(fit_intercept=fit_intercept)
    else:
        model = Ridge(alpha=alpha * S, fit_intercept=fit_intercept, solver="svd")
    model.fit(X, y, sample_weight=weights)
    return model.coef_, model.intercept_


def _fit(optimizer, X, y, weights, **params):
    est = GradientDescentRegressor(optimizer=optimizer, random_state=0, batch_size=16, **params)
    return est.fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [None, 3])
def test_realizable_problem_matches_closed_form(optimizer, fit_intercept, weighted, k):
    X, y, weights = _problem(k=k, noise=0.0, intercept=fit_intercept)
    weights = weights if weighted else None
    est = _fit(optimizer, X, y, weights, fit_intercept=fit_intercept, tol=1e-10, max_iter=3000)
    assert est.converged_
    coef, _ = normal_equation(X, y, fit_intercept=fit_intercept, sample_weight=weights)
    lr_coef, lr_intercept = _sklearn_reference(X, y, weights, fit_intercept, 0.0)
    assert est.coef_.shape == lr_coef.shape
    assert np.shape(est.intercept_) == np.shape(lr_intercept)
    assert _relative_error(est.coef_, coef) < 1e-6
    assert _relative_error(est.coef_, lr_coef) < 1e-6
    np.testing.assert_allclose(est.intercept_, lr_intercept, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_batch_matches_linear_regression_and_ridge(fit_intercept, weighted, k, alpha):
    X, y, weights = _problem(k=k)
    weights = weights if weighted else None
    est = _fit("batch", X, y, weights, fit_intercept=fit_intercept, alpha=alpha, tol=1e-10)
    assert est.converged_
    ref_coef, ref_intercept = _sklearn_reference(X, y, weights, fit_intercept, alpha)
    ne_coef, ne_intercept = normal_equation(
        X, y, fit_intercept=fit_intercept, alpha=alpha, sample_weight=weights
    )
    assert _relative_error(est.coef_, ref_coef) < 1e-6
    assert _relative_error(est.coef_, ne_coef) < 1e-6
    np.testing.assert_allclose(est.intercept_, ref_intercept, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ne_intercept, ref_intercept, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("optimizer", ["stochastic", "minibatch"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_stochastic_modes_converge_on_noisy_data(optimizer, fit_intercept, weighted, k, alpha):
    X, y, weights = _problem(k=k, noise=0.5)
    weights = weights if weighted else None
    ref_coef, ref_intercept = _sklearn_reference(X, y, weights, fit_intercept, alpha)
    errors = []
    for epochs in (30, 300):
        est = _fit(
            optimizer,
            X,
            y,
            weights,
            fit_intercept=fit_intercept,
            alpha=alpha,
            tol=None,
            max_iter=epochs,
        )
        errors.append(_relative_error(est.coef_, ref_coef))
    assert errors[1] < 3e-2
    # "auto" runs SVRG, which may reach round-off within 30 epochs already
    assert errors[1] < errors[0] or errors[1] < 1e-10
    scale = np.abs(np.ravel(ref_intercept)).max() + 1.0
    assert np.abs(np.ravel(est.intercept_) - np.ravel(ref_intercept)).max() < 5e-2 * scale


def test_line_through_three_points_with_defaults():
    X, y = np.array([[2.0], [4.0], [5.0]]), np.array([45.0, 85.0, 105.0])
    est = GradientDescentRegressor().fit(X, y)
    assert est.converged_ and est.n_iter_ < 1000
    np.testing.assert_allclose(est.coef_, [20.0], rtol=1e-9)
    np.testing.assert_allclose(est.intercept_, 5.0, rtol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_normal_equation_matches_scikit_learn(alpha):
    X, y, weights = _problem(k=2)
    coef, intercept = normal_equation(X, y, alpha=alpha, sample_weight=weights)
    ref_coef, ref_intercept = _sklearn_reference(X, y, weights, True, alpha)
    np.testing.assert_allclose(coef, ref_coef, rtol=1e-9)
    np.testing.assert_allclose(intercept, ref_intercept, rtol=1e-9)


def test_normal_equation_rank_deficient_gives_minimum_norm():
    rng = np.random.RandomState(1)
    A = rng.randn(30, 2)
    X = np.hstack([A, A[:, :1]])  # third column duplicates the first
    y = A @ [1.0, 2.0]
    coef, _ = normal_equation(X, y, fit_intercept=False)
    np.testing.assert_allclose(coef, [0.5, 2.0, 0.5], rtol=1e-9)
    est = GradientDescentRegressor(fit_intercept=False, tol=1e-12, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-6)
