"""SGDRegressor's losses and penalties: the same objectives, minimised accurately.

References are computed here from the formulas of scikit-learn's documentation
(never from gdreg's own output): a tight L-BFGS-B minimisation for the smooth
losses (the l1 term split into positive and negative parts, so that it is
smooth under bounds), a linear program (HiGHS) for the epsilon-insensitive
loss, and scikit-learn's own Lasso, ElasticNet and SGDRegressor.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog, minimize
from sklearn.base import clone as sklearn_clone
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, SGDRegressor

from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
from gdreg.optimizers import SVRG, AcceleratedGradient, Adam, AveragedSGD, GradientDescent, Momentum


# -- the objectives, as scikit-learn documents them -----------------------------------
def loss_values(name, r, epsilon):
    """Per-sample losses of ``SGDRegressor`` at residuals ``r = prediction - y``."""
    a = np.abs(r)
    if name == "squared_error":
        return 0.5 * r * r
    if name == "huber":
        return np.where(a <= epsilon, 0.5 * r * r, epsilon * a - 0.5 * epsilon**2)
    if name == "epsilon_insensitive":
        return np.maximum(a - epsilon, 0.0)
    return np.maximum(a - epsilon, 0.0) ** 2


def loss_derivatives(name, r, epsilon):
    if name == "squared_error":
        return r
    if name == "huber":
        return np.clip(r, -epsilon, epsilon)
    return 2.0 * np.sign(r) * np.maximum(np.abs(r) - epsilon, 0.0)


def penalty_strengths(penalty, alpha, l1_ratio):
    """``(l2, l1)`` with ``R = l2 |w|^2 / 2 + l1 |w|_1`` (SGDRegressor's R times alpha)."""
    rho = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio, None: 0.0}[penalty]
    scale = 0.0 if penalty is None else alpha
    return scale * (1.0 - rho), scale * rho


def objective(X, y, w, coef, intercept, *, loss, epsilon, penalty, alpha, l1_ratio):
    """J = weighted mean loss + alpha R(coef), written from the definitions."""
    r = np.asarray(X @ coef).ravel() + intercept - y
    c = w / w.sum()
    l2, l1 = penalty_strengths(penalty, alpha, l1_ratio)
    penalty = 0.5 * l2 * coef @ coef + l1 * np.abs(coef).sum()
    return float(c @ loss_values(loss, r, epsilon) + penalty)


def smooth_reference(X, y, w, *, loss, epsilon, l2, l1, fit_intercept=True):
    """The minimiser of a smooth loss (+ l2 + l1) by L-BFGS-B on w = p - q, p, q >= 0."""
    X = X.toarray() if sp.issparse(X) else X
    d = X.shape[1]
    c = w / w.sum()
    # standardised, centred units for the solver (the minimiser does not depend on them)
    mean = c @ X if fit_intercept else np.zeros(d)
    scale = np.sqrt(c @ (X - mean) ** 2)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    ys = float(np.sqrt(c @ (y - c @ y) ** 2)) or 1.0

    def f(v):
        p, q, b = v[:d], v[d : 2 * d], v[2 * d] if fit_intercept else 0.0
        u = p - q
        r = (Z @ u) * ys + b * ys - y
        g_r = c * loss_derivatives(loss, r, epsilon) * ys
        coef = u * ys / scale
        value = c @ loss_values(loss, r, epsilon) + 0.5 * l2 * coef @ coef + l1 * np.abs(coef).sum()
        g_u = Z.T @ g_r + l2 * coef * ys / scale
        g_l1 = l1 * ys / scale
        grad = np.r_[g_u + g_l1, -g_u + g_l1, g_r.sum() if fit_intercept else 0.0]
        return value / ys, grad / ys

    bounds = [(0, None)] * (2 * d) + [(None, None)]
    start = np.zeros(2 * d + 1)
    for _ in range(5):  # restarts from the last point: L-BFGS-B stops early on kinks of Huber
        res = minimize(
            f,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 50_000, "maxfun": 100_000, "ftol": 1e-16, "gtol": 1e-13},
        )
        start = res.x
    coef = (res.x[:d] - res.x[d : 2 * d]) * ys / scale
    intercept = res.x[2 * d] * ys - mean @ coef if fit_intercept else 0.0
    return _newton_polish(X, y, c, coef, intercept, loss, epsilon, l2, l1, fit_intercept)


def _newton_polish(X, y, c, coef, intercept, loss, epsilon, l2, l1, fit_intercept):
    """Semi-smooth Newton steps on the non-zero coefficients (and the intercept).

    The Huber and squared epsilon-insensitive losses are piecewise quadratic, so once
    L-BFGS-B has found the signs and the pieces, Newton's method on that piece lands
    on the minimiser to round-off; a step that does not lower the objective is refused.
    """
    curvature = 2.0 if loss == "squared_epsilon_insensitive" else 1.0

    def value(w, b):
        r = X @ w + b - y
        return c @ loss_values(loss, r, epsilon) + 0.5 * l2 * w @ w + l1 * np.abs(w).sum()

    tiny = 1e-12 * max(np.abs(coef).max(initial=0.0), 1.0)
    active = np.abs(coef) > tiny
    w = np.where(active, coef, 0.0)
    b = intercept
    for _ in range(50):
        r = X @ w + b - y
        if loss == "huber":
            second = np.abs(r) <= epsilon
        else:
            second = np.abs(r) > epsilon
        weights = c * curvature * second
        Z = X[:, active]
        if fit_intercept:
            Z = np.c_[Z, np.ones(len(y))]
        g_r = c * loss_derivatives(loss, r, epsilon)
        grad = Z.T @ g_r
        grad[: active.sum()] += l2 * w[active] + l1 * np.sign(w[active])
        H = Z.T @ (weights[:, None] * Z)
        H[: active.sum(), : active.sum()] += l2 * np.eye(active.sum())
        step = np.linalg.lstsq(H, grad, rcond=None)[0]
        new_w, new_b = w.copy(), b
        new_w[active] -= step[: active.sum()]
        if fit_intercept:
            new_b = b - step[-1]
        if np.any(np.sign(new_w[active]) != np.sign(w[active])) or value(new_w, new_b) > value(
            w, b
        ):
            break
        w, b = new_w, new_b
        if np.max(np.abs(step)) <= 1e-15 * max(np.abs(w).max(initial=0.0), abs(b), 1.0):
            break
    return w, b


def epsilon_insensitive_optimum(X, y, epsilon, l1=0.0):
    """The optimal objective of mean(max(0, |r| - eps)) + l1 |w|_1: a linear program."""
    n, d = X.shape
    # variables: w+ (d), w- (d), b (free), s (n) >= 0
    cost = np.r_[np.full(2 * d, l1), 0.0, np.full(n, 1.0 / n)]
    upper = np.c_[X, -X, np.ones(n), -np.eye(n)]  # Xw + b - y - eps <= s
    lower = np.c_[-X, X, -np.ones(n), -np.eye(n)]  # y - Xw - b - eps <= s
    bounds = [(0, None)] * (2 * d) + [(None, None)] + [(0, None)] * n
    res = linprog(
        cost,
        A_ub=np.r_[upper, lower],
        b_ub=np.r_[y + epsilon, epsilon - y],
        bounds=bounds,
        method="highs",
    )
    assert res.status == 0
    return res.fun


def scale_free_error(X, y, coef, reference):
    X = X.toarray() if sp.issparse(X) else X
    return float(np.max(np.abs(coef - reference) * X.std(axis=0)) / y.std())


def centre_error(X, y, est, coef, intercept):
    """Scale-free difference of the predictions at the mean of X (the intercept's error
    without the part that the coefficients' errors times a far-off mean would add)."""
    X = X.toarray() if sp.issparse(X) else X
    mean = X.mean(axis=0)
    return abs(est.intercept_ + mean @ est.coef_ - intercept - mean @ coef) / y.std()


def _outlier_problem(n=300, d=4, seed=0):
    """Features in different units and a few gross outliers in y."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * np.logspace(-2, 2, d) + 3.0
    y = X @ (rng.randn(d) / np.logspace(-2, 2, d)) + 1.0 + 0.3 * rng.randn(n)
    y[rng.choice(n, n // 20, replace=False)] += 25.0 * rng.randn(n // 20)
    return X, y, rng.uniform(0.5, 2.0, size=n)


def _quiet_fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


# -- smooth losses: the optimum of the documented objective ----------------------------
@pytest.mark.parametrize("loss", ["huber", "squared_epsilon_insensitive"])
@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_smooth_losses_reach_the_reference_optimum(loss, optimizer):
    X, y, w = _outlier_problem()
    epsilon = 1.0
    est = GradientDescentRegressor(loss=loss, epsilon=epsilon, optimizer=optimizer, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y, sample_weight=w)
    assert est.converged_
    coef, intercept = smooth_reference(X, y, w, loss=loss, epsilon=epsilon, l2=0.0, l1=0.0)
    assert scale_free_error(X, y, est.coef_, coef) < 1e-5
    assert centre_error(X, y, est, coef, intercept) < 1e-5


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_huber_with_elasticnet_reaches_the_reference(sparse, fit_intercept):
    X, y, w = _outlier_problem(n=200, d=5, seed=1)
    X[X < 2.0] = 0.0  # zeros for CSR
    Xin = sp.csr_matrix(X) if sparse else X
    est = GradientDescentRegressor(
        loss="huber",
        epsilon=2.0,
        penalty="elasticnet",
        alpha=0.05,
        l1_ratio=0.5,
        fit_intercept=fit_intercept,
    ).fit(Xin, y, sample_weight=w)
    coef, intercept = smooth_reference(
        X, y, w, loss="huber", epsilon=2.0, l2=0.025, l1=0.025, fit_intercept=fit_intercept
    )
    assert scale_free_error(X, y, est.coef_, coef) < 1e-5
    assert centre_error(X, y, est, coef, intercept) < 1e-5


def test_huber_is_robust_where_the_squared_error_is_not():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 10, size=(200, 1))
    y = 2.0 * X.ravel() + 1.0 + 0.1 * rng.randn(200)
    y[:10] += 200.0  # gross outliers
    huber = GradientDescentRegressor(loss="huber", epsilon=1.0).fit(X, y)
    squared = GradientDescentRegressor().fit(X, y)
    assert abs(huber.coef_[0] - 2.0) < 0.05 < abs(squared.coef_[0] - 2.0) or abs(
        huber.intercept_ - 1.0
    ) < 0.5 < abs(squared.intercept_ - 1.0)


# -- the loss with kinks ------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_epsilon_insensitive_comes_close_to_the_linear_program(optimizer):
    X, y = load_diabetes(return_X_y=True)
    epsilon = 10.0
    best = epsilon_insensitive_optimum(X, y, epsilon)
    est = GradientDescentRegressor(
        loss="epsilon_insensitive", epsilon=epsilon, optimizer=optimizer, random_state=0
    )
    _quiet_fit(est, X, y)
    value = objective(
        X, y, np.ones(len(y)), est.coef_, est.intercept_,
        loss="epsilon_insensitive", epsilon=epsilon, penalty="l2", alpha=0.0, l1_ratio=0.0,
    )  # fmt: skip
    assert best <= value + 1e-9
    if optimizer == "batch":
        # accelerated steps on losses smoothed over a shrinking width (continuation)
        assert isinstance(est.optimizer_, AcceleratedGradient)
        assert value <= (1 + 1e-5) * best
    else:
        # averaged subgradient steps: the documented accuracy, about 1 % of the optimum
        assert isinstance(est.optimizer_, AveragedSGD)
        assert value <= 1.01 * best


def test_epsilon_insensitive_stops_when_the_objective_stalls():
    X, y = load_diabetes(return_X_y=True)
    est = GradientDescentRegressor(
        loss="epsilon_insensitive", epsilon=10.0, optimizer="minibatch", tol=1e-3,
        n_iter_no_change=3, random_state=0,
    ).fit(X, y)  # fmt: skip
    assert est.converged_ and est.n_iter_ < 1000
    # the last n_iter_no_change epochs improved the best objective by less than tol * J(0)
    assert np.all(np.nan_to_num(est.change_curve_[-3:], nan=0.0) <= 1e-3)


# -- l1 and elastic net in the stochastic modes ---------------------------------------
@pytest.mark.parametrize("optimizer", ["stochastic", "minibatch"])
@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_stochastic_l1_matches_lasso_and_elasticnet_with_exact_zeros(optimizer, penalty):
    X, y = load_diabetes(return_X_y=True)
    alpha = 0.1
    est = GradientDescentRegressor(
        optimizer=optimizer, penalty=penalty, alpha=alpha, l1_ratio=0.7, random_state=0
    ).fit(X, y)
    assert est.converged_ and isinstance(est.optimizer_, SVRG)  # prox-SVRG
    if penalty == "l1":
        ref = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    else:
        ref = ElasticNet(alpha=alpha, l1_ratio=0.7, tol=1e-12, max_iter=100_000).fit(X, y)
    assert scale_free_error(X, y, est.coef_, ref.coef_) < 1e-6
    np.testing.assert_array_equal(est.coef_ == 0, ref.coef_ == 0)
    assert np.sum(est.coef_ == 0) >= 1


def test_a_plain_stochastic_l1_stream_sets_coefficients_to_exact_zeros():
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 6)
    y = X @ [2.0, 0, 0, -1.0, 0, 0] + 0.1 * rng.randn(2000)
    est = GradientDescentRegressor(
        optimizer=GradientDescent(sampling="minibatch"), penalty="l1", alpha=0.2,
        learning_rate="constant", eta0=0.05, random_state=0, max_iter=50, tol=None,
    ).fit(X, y)  # fmt: skip
    ref = Lasso(alpha=0.2).fit(X, y)
    assert np.sum(est.coef_ == 0) >= 3
    np.testing.assert_array_equal(est.coef_ == 0, ref.coef_ == 0)


def test_l1_needs_a_rule_with_a_proximal_step():
    X, y = load_diabetes(return_X_y=True)
    for rule in (Adam(), Momentum(sampling="stochastic")):
        with pytest.raises(ValueError, match="proximal step"):
            GradientDescentRegressor(optimizer=rule, penalty="l1", alpha=0.1).fit(X, y)
    # an l2 penalty, or none, is fine with any rule
    GradientDescentRegressor(optimizer=Adam(), penalty="l2", alpha=0.1, max_iter=2, tol=None).fit(
        X, y
    )


def test_a_failed_fit_leaves_the_fitted_estimator_as_it_was():
    X, y = load_diabetes(return_X_y=True)
    est = GradientDescentRegressor(optimizer=Adam(), max_iter=3, tol=None).fit(X, y)
    before = est.coef_.copy()
    with pytest.raises(ValueError, match="proximal step"):
        est.set_params(penalty="l1", alpha=0.1).fit(X, y)
    np.testing.assert_array_equal(est.coef_, before)


# -- the defaults are what they were ---------------------------------------------------
@pytest.mark.parametrize("optimizer", ["batch", "stochastic"])
def test_the_default_loss_and_penalty_change_nothing(optimizer):
    X, y = load_diabetes(return_X_y=True)
    base = GradientDescentRegressor(optimizer=optimizer, alpha=0.01, random_state=0).fit(X, y)
    named = GradientDescentRegressor(
        optimizer=optimizer, alpha=0.01, loss="squared_error", penalty="l2", epsilon=5.0,
        l1_ratio=0.9, random_state=0,
    ).fit(X, y)  # fmt: skip
    np.testing.assert_array_equal(base.coef_, named.coef_)
    assert base.n_iter_ == named.n_iter_
    none = GradientDescentRegressor(optimizer=optimizer, penalty=None, alpha=5.0, random_state=0)
    zero = GradientDescentRegressor(optimizer=optimizer, alpha=0.0, random_state=0)
    np.testing.assert_array_equal(none.fit(X, y).coef_, zero.fit(X, y).coef_)


# -- migration: SGDRegressor and gdreg minimise the same objective --------------------
MIGRATION = [
    ("squared_error", "l2"),
    ("squared_error", "l1"),
    ("squared_error", "elasticnet"),
    ("huber", "l2"),
    ("huber", "elasticnet"),
    ("epsilon_insensitive", "l2"),
    ("epsilon_insensitive", "l1"),
    ("squared_epsilon_insensitive", "l2"),
    ("squared_epsilon_insensitive", "elasticnet"),
]


@pytest.mark.parametrize(("loss", "penalty"), MIGRATION)
def test_same_arguments_as_sgdregressor_minimise_the_same_objective(loss, penalty):
    rng = np.random.RandomState(3)
    X = rng.randn(400, 5)
    y = X @ [1.5, -2.0, 0.0, 0.5, 0.0] + 0.5 + 0.3 * rng.randn(400)
    params = {"loss": loss, "penalty": penalty, "alpha": 0.01, "epsilon": 0.2, "l1_ratio": 0.5}
    ours = _quiet_fit(GradientDescentRegressor(**params, random_state=0), X, y)
    theirs = _quiet_fit(
        SGDRegressor(**params, max_iter=2000, tol=1e-8, random_state=0, eta0=0.01), X, y
    )

    def J(coef, intercept):
        return objective(X, y, np.ones(len(y)), coef, float(np.ravel(intercept)[0]), **params)

    ours_value = J(ours.coef_, ours.intercept_)
    theirs_value = J(theirs.coef_, theirs.intercept_)
    # gdreg's solution is at least as good on SGDRegressor's objective, and the two agree
    assert ours_value <= theirs_value + 1e-9
    assert theirs_value - ours_value <= 2e-2 * max(theirs_value, 1e-12)
    # and the objective gdreg reports is that objective (full batch: J after the epoch)
    full = GradientDescentRegressor(**params, optimizer="batch").fit(X, y)
    if loss != "epsilon_insensitive":
        assert np.isclose(full.loss_curve_[-1], J(full.coef_, full.intercept_), rtol=1e-9)


# -- routes that need the squared error -----------------------------------------------
def test_statistics_refuse_other_losses_and_serve_the_lasso():
    X, y = load_diabetes(return_X_y=True)
    stats = SufficientStatistics()
    for start in range(0, len(y), 100):
        stats.update(X[start : start + 100], y[start : start + 100])
    with pytest.raises(ValueError, match="squared error only"):
        fit_from_statistics(GradientDescentRegressor(loss="huber"), stats)
    est = fit_from_statistics(GradientDescentRegressor(penalty="l1", alpha=0.1), stats)
    ref = Lasso(alpha=0.1, tol=1e-12, max_iter=100_000).fit(X, y)
    assert scale_free_error(X, y, est.coef_, ref.coef_) < 1e-6
    np.testing.assert_array_equal(est.coef_ == 0, ref.coef_ == 0)


def test_dask_lasso_in_one_pass_and_robust_losses_refused():
    da = pytest.importorskip("dask.array")
    X, y = load_diabetes(return_X_y=True)
    Xd, yd = da.from_array(X, chunks=(100, -1)), da.from_array(y, chunks=100)
    est = GradientDescentRegressor(penalty="elasticnet", alpha=0.05, l1_ratio=0.5).fit(Xd, yd)
    ref = ElasticNet(alpha=0.05, l1_ratio=0.5, tol=1e-12, max_iter=100_000).fit(X, y)
    assert scale_free_error(X, y, est.coef_, ref.coef_) < 1e-6
    with pytest.raises(ValueError, match="Incremental"):
        GradientDescentRegressor(loss="huber").fit(Xd, yd)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"loss": "absolute_error"}, "loss"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"penalty": "l0"}, "penalty"),
        ({"l1_ratio": 1.5}, "l1_ratio"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
    ],
)
def test_bad_values_of_the_new_parameters_are_named(params, match):
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        GradientDescentRegressor(**params).fit(X, y)


def test_partial_fit_streams_with_a_robust_loss_and_an_l1_penalty():
    X, y, _ = _outlier_problem(n=600, d=3, seed=2)
    Xs = (X - X.mean(0)) / X.std(0)
    est = GradientDescentRegressor(
        optimizer="minibatch", loss="huber", epsilon=1.0, penalty="l1", alpha=0.05, random_state=0
    )
    for _ in range(30):
        for start in range(0, 600, 200):
            est.partial_fit(Xs[start : start + 200], y[start : start + 200])
    coef, _ = smooth_reference(Xs, y, np.ones(600), loss="huber", epsilon=1.0, l2=0.0, l1=0.05)
    # a plain decaying-step stream: near the optimum, not at it
    assert scale_free_error(Xs, y, est.coef_, coef) < 0.05


def test_l1_ratio_none_as_sgdregressor_allows_it():
    X, y = load_diabetes(return_X_y=True)
    a = GradientDescentRegressor(penalty="l1", alpha=0.1, l1_ratio=None).fit(X, y)
    b = GradientDescentRegressor(penalty="l1", alpha=0.1).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="l1_ratio must be set"):
        GradientDescentRegressor(penalty="elasticnet", l1_ratio=None).fit(X, y)


@pytest.mark.parametrize("seed", range(3))
def test_a_short_last_mini_batch_costs_no_stability(seed):
    # 450 = 14 x 32 + 2: the last batch of two would take the step of a batch of 32
    rng = np.random.RandomState(seed)
    X = rng.standard_t(df=3, size=(450, 5))  # heavy-tailed rows: L_max >> L
    y = X @ rng.randn(5) + 0.1 * rng.randn(450)
    short = GradientDescentRegressor(optimizer="minibatch", random_state=seed).fit(X, y)
    whole = GradientDescentRegressor(optimizer="minibatch", random_state=seed).fit(X[:448], y[:448])
    assert short.converged_ and whole.converged_
    assert short.n_iter_ <= 2 * whole.n_iter_ + 5


@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
@pytest.mark.parametrize("optimizer", ["batch", "stochastic"])
def test_a_strong_l2_part_on_features_in_wild_units_converges(penalty, optimizer):
    # scaled by their spreads alone, penalty-dominated features had curvature 1 + l2/sigma^2:
    # ridge with alpha=10 ran out of epochs with a 6 % (batch) and 34 % (stochastic) error
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 10) * np.logspace(-3, 3, 10)
    y = X @ (rng.randn(10) / np.logspace(-3, 3, 10)) + rng.randn(2000)
    alpha = 10.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GradientDescentRegressor(
            alpha=alpha, penalty=penalty, l1_ratio=0.5, optimizer=optimizer, random_state=0
        ).fit(X, y)
    if penalty == "l2":
        from sklearn.linear_model import Ridge

        ref = Ridge(alpha=alpha * len(y), solver="cholesky").fit(X, y)
    else:
        ref = ElasticNet(alpha=alpha, l1_ratio=0.5, tol=1e-14, max_iter=1_000_000).fit(X, y)
    assert est.converged_
    assert scale_free_error(X, y, est.coef_, ref.coef_) < 1e-6


def test_epsilon_insensitive_on_sparse_data_keeps_updates_sparse():
    # AveragedSGD's average costs O(n_features) per update on CSR: plain descent there
    X, y = load_diabetes(return_X_y=True)
    X = np.where(np.abs(X) < 0.02, 0.0, X)
    dense = GradientDescentRegressor(
        loss="epsilon_insensitive", epsilon=10.0, optimizer="stochastic"
    )
    sparse = _quiet_fit(sklearn_clone(dense), sp.csr_matrix(X), y)
    assert isinstance(_quiet_fit(dense, X, y).optimizer_, AveragedSGD)
    assert type(sparse.optimizer_) is GradientDescent and sparse.converged_
    best = epsilon_insensitive_optimum(X, y, 10.0)
    value = objective(
        X, y, np.ones(len(y)), sparse.coef_, sparse.intercept_,
        loss="epsilon_insensitive", epsilon=10.0, penalty=None, alpha=0.0, l1_ratio=0.0,
    )  # fmt: skip
    assert value <= 1.05 * best
