"""Trustworthy convergence (issue 11): ``converged_`` means the answer is right.

The contract these tests check, measured against exact solutions computed here
with NumPy's ``lstsq`` (or scikit-learn's ``Ridge`` for ``alpha > 0``), never
against numbers taken from gdreg:

* the scale-free error of a fit is
  ``max_j |coef_j - exact_j| * std_j / std_y`` (weighted spreads when there
  are sample weights; for several targets the largest over the targets, each
  scaled by its own spread);
* ``converged_=True`` means the scale-free distance to the exact solution (the
  2-norm of the errors ``(coef_j - exact_j) * std_j / std_y``) is at most
  ``tol``, and ``change_curve_[-1]``, that bound, is at most ``tol``;
  otherwise ``converged_=False`` and a ``ConvergenceWarning``. Never a silent
  wrong answer;
* the defaults converge on bundled real data and on any problem whose
  standardised design has a Hessian condition number up to 1e4, whatever the
  units of the features; beyond reach they warn;
* with ``learning_rate="auto"`` and ``alpha=0`` the fit does not depend on the
  units of a feature;
* an explicit schedule keeps the textbook gradient-descent iterates;
* stochastic and mini-batch fits stop by themselves;
* a ``ConvergenceWarning`` points at the caller's line, also through
  ``Pipeline`` and ``GridSearchCV``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge, SGDRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
from gdreg.optimizers import (
    AdaGrad,
    Adam,
    AveragedSGD,
    GradientDescent,
    Momentum,
    Nesterov,
    RMSProp,
)

TOL = 1e-6  # the estimator's default ``tol``
ACCURATE = 2 * TOL  # slack for round-off in the reference solution

OPTIMIZERS = [
    pytest.param("batch", id="batch"),
    pytest.param("stochastic", id="stochastic"),
    pytest.param("minibatch", id="minibatch"),
    pytest.param(GradientDescent(), id="GradientDescent"),
    pytest.param(Momentum(), id="Momentum"),
    pytest.param(Nesterov(), id="Nesterov"),
    pytest.param(AdaGrad(), id="AdaGrad"),
    pytest.param(RMSProp(), id="RMSProp"),
    pytest.param(Adam(), id="Adam"),
    pytest.param(AveragedSGD(), id="AveragedSGD"),
]


# -- reference solutions and the scale-free error ---------------------------------------
def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)


def _weights(n, sample_weight):
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return w / w.sum()


def _spreads(A, w):
    """Weighted (population) standard deviation of each column of ``A``."""
    centred = A - w @ A
    return np.sqrt(w @ centred**2)


def exact_coef(X, y, *, alpha=0.0, sample_weight=None):
    """Exact minimiser, shaped ``(n_features, n_targets)``.

    ``alpha = 0``: least squares on the centred data, solved by ``lstsq`` in
    standardised columns (a column scaling changes nothing but the accuracy,
    which it keeps independent of the feature units). ``alpha > 0``:
    ``Ridge(alpha=alpha * S)``, ``S`` the sum of the weights.
    """
    X = _dense(X)
    Y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
    if alpha > 0:
        s = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        ridge = Ridge(alpha=alpha * s.sum()).fit(X, Y, sample_weight=s)
        return np.atleast_2d(ridge.coef_).T
    w = _weights(len(X), sample_weight)
    spread = _spreads(X, w)
    spread[spread == 0] = 1.0
    root_w = np.sqrt(w)[:, None]
    standardised = root_w * (X - w @ X) / spread
    coef, *_ = np.linalg.lstsq(standardised, root_w * (Y - w @ Y), rcond=None)
    return coef / spread[:, None]


def scale_free_errors(est, X, y, *, alpha=0.0, sample_weight=None):
    """Return ``(max-norm error, 2-norm error)``, each the largest over the targets."""
    w = _weights(X.shape[0], sample_weight)
    Y = np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)
    coef = np.asarray(est.coef_, dtype=np.float64).reshape(Y.shape[1], -1).T
    scaled = (coef - exact_coef(X, y, alpha=alpha, sample_weight=sample_weight)) * (
        _spreads(_dense(X), w)[:, None] / _spreads(Y, w)[None, :]
    )
    return float(np.max(np.abs(scaled))), float(np.max(np.linalg.norm(scaled, axis=0)))


def scale_free_error(est, X, y, **kwargs):
    return scale_free_errors(est, X, y, **kwargs)[0]


def standardized_condition(X, sample_weight=None):
    """Condition number of the Hessian of the least-squares objective in standardised columns."""
    X = _dense(X)
    w = _weights(len(X), sample_weight)
    standardised = np.sqrt(w)[:, None] * (X - w @ X) / _spreads(X, w)
    return float(np.linalg.cond(standardised.T @ standardised))


# -- fitting with the warnings recorded -------------------------------------------------
def fit_recording(est, X, y, **fit_params):
    """Fit ``est``; return the ``ConvergenceWarning`` records it emitted."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        est.fit(X, y, **fit_params)
    return [r for r in records if issubclass(r.category, ConvergenceWarning)]


def assert_converged_or_warned(est, X, y, caught, *, alpha=0.0, sample_weight=None):
    """The either/or rule: within the documented bound, or not converged and warned."""
    tol = est.tol
    err, err2 = scale_free_errors(est, X, y, alpha=alpha, sample_weight=sample_weight)
    if est.converged_:
        assert not caught, f"converged_=True but warned: {caught[0].message}"
        assert est.change_curve_[-1] <= tol
        assert err <= 2 * tol, f"converged_=True with scale-free error {err:.3g} > tol={tol}"
        assert err2 <= 2 * tol, f"converged_=True with scale-free distance {err2:.3g}"
    else:
        assert est.converged_ is False
        assert caught, f"silent failure: converged_=False, no warning, error {err:.3g}"


def assert_default_fit_exact(est, X, y, caught, **kwargs):
    """A converged default fit: no warning, ``converged_`` and scale-free error <= 1e-6."""
    messages = [str(r.message) for r in caught]
    assert not caught, f"unexpected ConvergenceWarning: {messages}"
    assert est.converged_ is True
    assert est.change_curve_[-1] <= est.tol
    err = scale_free_error(est, X, y, **kwargs)
    assert err <= TOL, f"scale-free error {err:.3g} > 1e-6 after {est.n_iter_} epochs"


# -- problems ---------------------------------------------------------------------------
def conditioned_problem(kappa, *, n_features, n_samples=1000, seed=0):
    """Correlated features in units 1e-4..1e4 whose standardised Hessian has condition ``kappa``.

    Exactly centred, orthonormal columns ``Q`` give a design with covariance
    ``R diag(eig) R^T`` (``R`` a random rotation, ``eig`` geometric from 1
    down). Standardising changes the spectrum, so the smallest eigenvalue is
    tuned until the standardised condition number equals ``kappa``. The
    columns are then put in units from 1e-4 to 1e4 and shifted off zero.
    """
    rng = np.random.default_rng(seed)
    d = n_features
    centred = rng.normal(size=(n_samples, d))
    centred -= centred.mean(axis=0)
    orthonormal, _ = np.linalg.qr(centred)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))

    def covariance(log_ratio):
        eig = np.geomspace(1.0, np.exp(-log_ratio), d)
        return (rotation * eig) @ rotation.T, eig

    def log_condition_gap(log_ratio):
        cov, _ = covariance(log_ratio)
        inv_sd = 1 / np.sqrt(np.diag(cov))
        return np.log(np.linalg.cond(cov * np.outer(inv_sd, inv_sd))) - np.log(kappa)

    _, eig = covariance(brentq(log_condition_gap, 0.0, np.log(kappa) + 30.0, xtol=1e-12))
    Z = np.sqrt(n_samples) * (orthonormal * np.sqrt(eig)) @ rotation.T
    units = rng.permutation(np.geomspace(1e-4, 1e4, d))
    X = Z * units + 3.0 * units
    beta = rng.normal(size=d) / (units * Z.std(axis=0))
    y = X @ beta + 5.0 + 0.01 * rng.normal(size=n_samples)
    return X, y


def two_scale_problem(ratio, *, n=400, seed=0):
    """Two independent features, the second in units ``ratio`` times larger."""
    rng = np.random.default_rng(seed)
    X = np.c_[rng.normal(size=n), ratio * rng.normal(size=n)]
    y = 3 * X[:, 0] + X[:, 1] / ratio + 0.1 * rng.normal(size=n)
    return X, y


def correlated_problem(noise, *, n=400, seed=0):
    """``x2 = x1 + noise * e``, plus an independent third feature."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    X = np.c_[x1, x1 + noise * rng.normal(size=n), rng.normal(size=n)]
    y = X @ [1.0, 1.0, 1.0] + 0.1 * rng.normal(size=n)
    return X, y


def raw_polynomial(degree, low, high, *, n=200, seed=0):
    """Columns ``x, x**2, ..., x**degree`` of a raw variable uniform in ``[low, high]``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=n)
    X = np.column_stack([x**k for k in range(1, degree + 1)])
    t = x / low
    y = 3 * t + 2 * t**2 + 0.01 * rng.normal(size=n)
    return X, y


# -- converged_ means the answer is right -----------------------------------------------
@pytest.mark.parametrize(
    "case",
    ["plain", "ridge", "weighted", "weighted-ridge"],
)
def test_converged_means_within_tol_on_diabetes(case):
    """``converged_`` bounds the scale-free error, with a penalty and with weights too."""
    X, y = load_diabetes(scaled=False, return_X_y=True)
    alpha = 1e-3 if "ridge" in case else 0.0
    weights = None
    if "weighted" in case:
        weights = np.random.default_rng(0).integers(1, 4, size=len(y)).astype(float)
    est = GradientDescentRegressor(alpha=alpha)
    caught = fit_recording(est, X, y, sample_weight=weights)
    assert_converged_or_warned(est, X, y, caught, alpha=alpha, sample_weight=weights)


def test_not_converged_means_warning():
    """Stopped by ``max_iter``: ``converged_`` is False, a ConvergenceWarning, bound above tol."""
    X, y = load_diabetes(return_X_y=True)
    est = GradientDescentRegressor(max_iter=2)
    caught = fit_recording(est, X, y)
    assert est.converged_ is False
    assert caught
    assert est.n_iter_ == 2
    assert est.change_curve_[-1] > est.tol


# -- the reproductions of the issue -----------------------------------------------------
def test_badly_scaled_features_are_fitted_exactly():
    """Issue reproduction 1: features 1e4 apart in units; defaults give R^2 > 0.999 and 1e-6."""
    rng = np.random.default_rng(0)
    n = 200
    X = np.c_[rng.normal(size=n), 1e4 * rng.normal(size=n)]
    y = 3 * X[:, 0] + 2e-4 * X[:, 1] + 0.1 * rng.normal(size=n)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    assert est.score(X, y) > 0.999
    assert_default_fit_exact(est, X, y, caught)


def test_raw_quadratic_features_are_fitted_exactly():
    """Issue reproduction 1: ``x, x**2`` with ``x`` in [1e6, 2e6]; defaults converge exactly."""
    X, y = raw_polynomial(2, 1e6, 2e6)
    assert standardized_condition(X) <= 1e4  # inside the contract
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    assert est.score(X, y) > 0.999
    assert_default_fit_exact(est, X, y, caught)


def test_degree_ten_polynomial_warns_instead_of_claiming_convergence():
    """Beyond reach: a raw degree-10 polynomial gives ``converged_=False`` and a warning."""
    X, y = raw_polynomial(10, 1.0, 10.0)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    assert est.converged_ is False, (
        f"converged_=True on a problem with condition {standardized_condition(X):.1e}, "
        f"scale-free error {scale_free_error(est, X, y):.3g}"
    )
    assert caught


# -- defaults that converge -------------------------------------------------------------
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "raw-units"])
def test_defaults_converge_on_diabetes(scaled):
    """Defaults: diabetes (scaled and raw units) converges without a warning, error <= 1e-6."""
    X, y = load_diabetes(scaled=scaled, return_X_y=True)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    assert_default_fit_exact(est, X, y, caught)


def test_defaults_converge_on_linnerud_three_targets():
    """Defaults: linnerud (3 targets) converges, coef_ (3, 3), error <= 1e-6 for each target."""
    X, Y = load_linnerud(return_X_y=True)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, Y)
    assert est.coef_.shape == (3, 3)
    assert_default_fit_exact(est, X, Y, caught)
    for k in range(Y.shape[1]):
        single = GradientDescentRegressor().fit(X, Y[:, k])  # the same target on its own
        assert scale_free_error(single, X, Y[:, k]) <= TOL


@pytest.mark.parametrize(
    "kappa, n_features, seed",
    [(10.0, 10, 0), (1e3, 15, 1), (1e4, 20, 2), (1e4, 10, 3)],
)
def test_defaults_converge_up_to_condition_1e4_whatever_the_units(kappa, n_features, seed):
    """Defaults converge on any standardised condition up to 1e4, units from 1e-4 to 1e4."""
    X, y = conditioned_problem(kappa, n_features=n_features, seed=seed)
    assert standardized_condition(X) == pytest.approx(kappa, rel=1e-6)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    assert_default_fit_exact(est, X, y, caught)


# -- invariance to the units of the features --------------------------------------------
def _unit_problem(seed, n_samples=60, n_features=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 2.0, n_features)
    X += rng.normal(size=n_features)
    y = X @ rng.normal(size=n_features) + 0.1 * rng.normal(size=n_samples)
    return X, y


@pytest.mark.parametrize(
    "optimizer, n_samples",
    [pytest.param("batch", 60, id="batch"), pytest.param("stochastic", 30, id="stochastic")],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@settings(  # no shrinking: a failing example is reported as drawn, keeping a failure fast
    max_examples=15, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate)
)
@given(
    seed=st.integers(0, 2**31 - 1),
    feature=st.integers(0, 2),
    log10_factor=st.floats(-8.0, 8.0),
)
def test_rescaling_a_feature_rescales_only_its_coefficient(
    optimizer, n_samples, seed, feature, log10_factor
):
    """Auto step, alpha=0: feature j times c gives coef_j / c, same n_iter_ and converged_."""
    X, y = _unit_problem(seed, n_samples=n_samples)
    factor = 10.0**log10_factor
    X_scaled = X.copy()
    X_scaled[:, feature] *= factor
    params = {"optimizer": optimizer, "random_state": 0, "max_iter": 200}
    base = GradientDescentRegressor(**params).fit(X, y)
    scaled = GradientDescentRegressor(**params).fit(X_scaled, y)

    spread_y = y.std()
    np.testing.assert_allclose(
        scaled.coef_ * X_scaled.std(axis=0) / spread_y,
        base.coef_ * X.std(axis=0) / spread_y,
        rtol=0,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        scaled.predict(X_scaled) / spread_y, base.predict(X) / spread_y, rtol=0, atol=1e-6
    )
    assert scaled.n_iter_ == base.n_iter_
    assert scaled.converged_ == base.converged_


# -- the textbook stays exact -----------------------------------------------------------
TEXTBOOK_X = np.array([[1.0], [2.0], [3.0]])
TEXTBOOK_Y = np.array([3.0, 6.0, 9.0])


def _textbook_objective(theta):
    """``J(theta) = (1/2n) sum (y - x theta)^2``."""
    return float(np.mean((TEXTBOOK_Y - TEXTBOOK_X[:, 0] * theta) ** 2) / 2)


def _textbook_iterates(epochs, step):
    """Plain full-batch gradient descent from zero; ``step(t)`` is the t-th step size."""
    x, theta, path = TEXTBOOK_X[:, 0], 0.0, []
    for t in range(1, epochs + 1):
        theta += step(t) * np.mean(x * (TEXTBOOK_Y - x * theta))
        path.append(theta)
    return path


def _textbook_fit(max_iter, learning_rate="constant"):
    return GradientDescentRegressor(
        fit_intercept=False, learning_rate=learning_rate, eta0=0.01, max_iter=max_iter, tol=None
    ).fit(TEXTBOOK_X, TEXTBOOK_Y)


def test_textbook_constant_step_values():
    """x = [1, 2, 3], y = 3x, eta0 = 0.01: theta 0.14 then 0.273467, cost 21 -> 19.09 -> 17.35."""
    assert _textbook_objective(0.0) == 21.0
    assert _textbook_fit(1).coef_[0] == pytest.approx(0.14, rel=1e-12)
    two = _textbook_fit(2)
    assert round(two.coef_[0], 6) == 0.273467
    np.testing.assert_allclose(two.loss_curve_, [19.09, 17.35], rtol=1e-3)
    expected = [_textbook_objective(theta) for theta in _textbook_iterates(2, lambda t: 0.01)]
    np.testing.assert_allclose(two.loss_curve_, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "learning_rate, step",
    [("constant", lambda t: 0.01), ("invsqrt", lambda t: 0.01 / np.sqrt(t))],
    ids=["constant", "invsqrt"],
)
def test_explicit_schedule_keeps_plain_gradient_descent(learning_rate, step):
    """An explicit schedule runs plain gradient descent in the user's coordinates."""
    expected = _textbook_iterates(5, step)
    for epochs in (1, 3, 5):
        est = _textbook_fit(epochs, learning_rate)
        assert est.coef_[0] == pytest.approx(expected[epochs - 1], rel=1e-12)
        assert est.n_iter_ == epochs


# -- stochastic and mini-batch fits stop by themselves ----------------------------------
@pytest.mark.parametrize("optimizer", ["stochastic", "minibatch"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stochastic_fits_stop_by_themselves(optimizer, seed):
    """Defaults on 2000 x 3 Gaussian data: stop before 100 epochs, no warning, error <= 2e-3."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=2000)
    est = GradientDescentRegressor(optimizer=optimizer, random_state=seed)
    caught = fit_recording(est, X, y)
    assert not caught, [str(r.message) for r in caught]
    assert est.converged_ is True
    assert est.n_iter_ < 100
    err = scale_free_error(est, X, y)
    sgd = SGDRegressor(random_state=seed)
    fit_recording(sgd, X, y)
    assert err <= 2e-3, f"error {err:.3g} (SGDRegressor: {scale_free_error(sgd, X, y):.3g})"


# -- never a silent wrong answer --------------------------------------------------------
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("ratio", [1.0, 1e2, 1e4, 1e6, 1e8])
def test_scale_sweep_is_within_bound_or_warned(optimizer, ratio):
    """Feature-scale ratios 1..1e8, every optimizer family: within the bound or warned."""
    X, y = two_scale_problem(ratio)
    est = GradientDescentRegressor(optimizer=optimizer, random_state=0, max_iter=300)
    caught = fit_recording(est, X, y)
    assert_converged_or_warned(est, X, y, caught)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("noise", [1e-1, 1e-3])
def test_correlated_columns_are_within_bound_or_warned(optimizer, noise):
    """Strongly correlated columns, every optimizer family: within the bound or warned."""
    X, y = correlated_problem(noise)
    est = GradientDescentRegressor(optimizer=optimizer, random_state=0, max_iter=300)
    caught = fit_recording(est, X, y)
    assert_converged_or_warned(est, X, y, caught)


@pytest.mark.parametrize("noise", [1e-1, 1e-3])
def test_correlated_columns_with_defaults(noise):
    """Defaults on correlated columns: exact when the condition is <= 1e4, else the either/or."""
    X, y = correlated_problem(noise)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    if standardized_condition(X) <= 1e4:
        assert_default_fit_exact(est, X, y, caught)
    else:
        assert_converged_or_warned(est, X, y, caught)


def test_sparse_real_data_with_defaults():
    """CSR diabetes (raw units): converges exactly when the condition allows, else warns."""
    X_dense, y = load_diabetes(scaled=False, return_X_y=True)
    X_dense[:, 1] -= 1.0  # sex in {0, 1}: a column that is actually sparse
    X = sp.csr_matrix(X_dense)
    est = GradientDescentRegressor()
    caught = fit_recording(est, X, y)
    if standardized_condition(X) <= 1e4:
        assert_default_fit_exact(est, X, y, caught)
    else:
        assert_converged_or_warned(est, X, y, caught)


# -- warnings at the caller's line ------------------------------------------------------
@pytest.fixture
def diabetes():
    return load_diabetes(return_X_y=True)


def _assert_points_here(records):
    caught = [r for r in records if issubclass(r.category, ConvergenceWarning)]
    assert caught, "expected a ConvergenceWarning"
    assert {r.filename for r in caught} == {__file__}, [f"{r.filename}:{r.lineno}" for r in caught]


def test_fit_warning_points_at_caller(diabetes):
    """``fit``'s ConvergenceWarning names the caller's file."""
    X, y = diabetes
    est = GradientDescentRegressor(max_iter=2)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert est.converged_ is False
    _assert_points_here(records)


def test_fit_from_statistics_warning_points_at_caller(diabetes):
    """``gdreg.fit_from_statistics``'s ConvergenceWarning names the caller's file."""
    X, y = diabetes
    stats = SufficientStatistics().update(X, y)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        est = fit_from_statistics(GradientDescentRegressor(max_iter=2), stats)
    assert est.converged_ is False
    _assert_points_here(records)


def test_pipeline_warning_points_at_caller(diabetes):
    """Inside ``Pipeline.fit`` the warning still names the caller's file, not scikit-learn's."""
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), GradientDescentRegressor(max_iter=2))
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        pipe.fit(X, y)
    _assert_points_here(records)


def test_grid_search_warning_points_at_caller(diabetes):
    """Inside ``GridSearchCV.fit`` (n_jobs=1) the warning names the caller's file.

    scikit-learn passes an estimator's warnings through unchanged here
    (``SGDRegressor(max_iter=1)`` keeps its own file name), so the caller's
    file is reachable by skipping scikit-learn's frames.
    """
    X, y = diabetes
    search = GridSearchCV(
        GradientDescentRegressor(max_iter=2), {"alpha": [0.0, 0.1]}, cv=2, n_jobs=1
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        search.fit(X, y)
    _assert_points_here(records)


def test_dask_fit_warning_points_at_caller(diabetes):
    """The Dask path's ConvergenceWarning names the caller's file."""
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, y = diabetes
    est = GradientDescentRegressor(max_iter=2)
    with (
        dask.config.set(scheduler="synchronous"),
        warnings.catch_warnings(record=True) as records,
    ):
        warnings.simplefilter("always")
        est.fit(da.from_array(X, chunks=(100, X.shape[1])), da.from_array(y, chunks=100))
    assert est.converged_ is False
    _assert_points_here(records)


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_partial_fit_never_warns_about_convergence(diabetes, optimizer):
    """``partial_fit`` runs one pass per call and never emits a ConvergenceWarning."""
    X, y = diabetes
    est = GradientDescentRegressor(optimizer=optimizer, random_state=0)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        for start in range(0, len(y), 150):
            est.partial_fit(X[start : start + 150], y[start : start + 150])
    assert not [r for r in records if issubclass(r.category, ConvergenceWarning)]
