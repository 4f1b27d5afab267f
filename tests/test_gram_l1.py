"""l1 and elastic-net penalties on the full batch (ISTA / FISTA on the Gram form).

The compiled Gram loops make the Python loop's proximal iterates, curves and
stopping epoch; the fit equals scikit-learn's ``Lasso`` / ``ElasticNet`` with the
same ``alpha`` and ``l1_ratio``, with the same exact zeros.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _problems import compiled_and_python_gram_runs, standardised_gram_objective
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso

from gdreg import DivergenceError, GradientDescentRegressor, _kernels, _loop
from gdreg._kernels import _gram
from gdreg._objective import GramLeastSquares
from gdreg._penalty import split
from gdreg.optimizers import AcceleratedGradient, GradientDescent
from gdreg.schedules import Constant

compiled_only = pytest.mark.skipif(not _kernels.ENABLED, reason="the compiled kernels are disabled")


# -- data ------------------------------------------------------------------------------
def _diabetes():
    return load_diabetes(return_X_y=True)


def _wild(n=400, d=12, seed=0, decades=3):
    """Correlated columns (AR(1), rho=0.8) in units from 1e-3 to 1e3 (``decades``), far
    from centred, with a third of the true coefficients zero."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d))
    for j in range(1, d):
        Z[:, j] = 0.8 * Z[:, j - 1] + 0.6 * Z[:, j]
    units = np.logspace(-decades, decades, d)
    rng.shuffle(units)
    X = (Z + rng.uniform(-3, 3, d)) * units
    w = rng.standard_normal(d) / units
    w[rng.permutation(d)[: d // 3]] = 0.0
    y = X @ w + 0.5 * rng.standard_normal(n) + 4.0
    return X, y


def _correlated():
    """As :func:`_wild`, in units from 0.1 to 10."""
    return _wild(decades=1)


DATA = {"diabetes": _diabetes, "wild": _wild, "correlated": _correlated}
#: The data each penalty is compared on. An l2 part is a curvature of alpha / sigma_j^2
#: in the standardised coordinates the fit descends in: with units from 1e-3 to 1e3
#: (alpha ~ 1e2 for many zeros) that is a condition number of 1e8 or more, which no
#: first-order method crosses in a test's time; the l1 part alone does not change it.
CASES = [
    ("diabetes", "l1"),
    ("wild", "l1"),
    ("diabetes", "elasticnet"),
    ("correlated", "elasticnet"),
]


def _weights(n, seed=1):
    return np.random.default_rng(seed).uniform(0.2, 3.0, n)


def _alpha_max(X, y, s, fit_intercept):
    """The smallest Lasso ``alpha`` whose solution is all zeros."""
    c = np.full(len(y), 1.0 / len(y)) if s is None else s / s.sum()
    if fit_intercept:
        X, y = X - c @ X, y - c @ y
    return float(np.max(np.abs(X.T @ (c * y))))


def _scale_free(coef, reference, X, y):
    """``max_j |w_j - w*_j| std(x_j) / std(y)``, over the targets too."""
    diff = np.abs(np.atleast_2d(coef) - np.atleast_2d(reference)) * X.std(axis=0)
    return float(np.max(diff / np.atleast_1d(y.std(axis=0))[:, None]))


def _reference(penalty, alpha, l1_ratio, fit_intercept):
    """scikit-learn's estimator for ``penalty`` at a tight tolerance."""
    tight = dict(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=1_000_000)
    if penalty == "l1":
        return Lasso(**tight)
    return ElasticNet(l1_ratio=l1_ratio, **tight)


@pytest.fixture
def compiled(monkeypatch):
    """The compiled Gram loop at any size (it is what a warm process runs)."""
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0)


# -- the compiled loop is the Python loop --------------------------------------------
def _problem(l1, l2=0.0, k=1, weighted=False, data="wild"):
    X, y = DATA[data]()
    Y = y[:, None] if k == 1 else np.column_stack([y, X @ np.linspace(-1, 1, X.shape[1]) / 50])
    s = _weights(len(y)) if weighted else None
    return standardised_gram_objective(X, Y, s, alpha=l2, l1=l1)


_both_loops = compiled_and_python_gram_runs


def _assert_same_run(fast, slow, objective):
    assert fast.n_iter == slow.n_iter == fast.n_updates
    assert fast.converged == slow.converged
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fast.params == 0, slow.params == 0)  # the same exact zeros
    # the objective is a difference of terms of the size of J(0): round-off is relative to it
    np.testing.assert_allclose(
        fast.loss_curve, slow.loss_curve, rtol=1e-9, atol=1e-13 * objective.value_at_zero()
    )
    # the bound compares gradients of size ~tol: round-off shows relative to them
    np.testing.assert_allclose(fast.change_curve, slow.change_curve, rtol=1e-4, atol=1e-13)


@compiled_only
@pytest.mark.parametrize("optimizer", [AcceleratedGradient(), GradientDescent()], ids=repr)
@pytest.mark.parametrize(
    ("data", "fraction", "l1_ratio", "k", "weighted"),
    [
        ("diabetes", 0.001, 1.0, 1, False),  # no zeros at the solution
        ("diabetes", 0.3, 1.0, 1, True),  # most coefficients zero
        ("diabetes", 0.3, 0.5, 1, True),  # elastic net: part of the penalty in the Hessian
        ("wild", 0.01, 1.0, 2, False),
    ],
)
def test_compiled_proximal_loop_makes_the_python_loops_iterates(
    monkeypatch, optimizer, data, fraction, l1_ratio, k, weighted
):
    X, y = DATA[data]()
    l2, l1 = split("elasticnet", fraction * _alpha_max(X, y, None, True), l1_ratio)
    objective, cert = _problem(l1, l2, k, weighted, data)
    fast, slow = _both_loops(
        objective,
        optimizer,
        Constant(1.0 / objective.lipschitz()),
        monkeypatch,
        params0=np.zeros((objective.n_features + 1, k)),
        max_iter=20_000,
        tol=1e-9,
        certificate=cert,
    )
    assert fast.converged
    _assert_same_run(fast, slow, objective)
    assert np.any(fast.params[:-1] == 0) == (fraction >= 0.01)  # zeros where expected
    if isinstance(optimizer, AcceleratedGradient):
        # the state it hands back is the one update() would have built
        assert (fast.state.count, fast.state.restarts) == (slow.state.count, slow.state.restarts)
        np.testing.assert_allclose(fast.state.previous, slow.state.previous, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fast.state.proposal, slow.state.proposal, rtol=1e-9, atol=1e-12)
        assert fast.state.proposal_step == slow.state.proposal_step


@compiled_only
def test_state_carries_across_chunks(monkeypatch):
    """tol=None: 700 FISTA epochs in chunks of 256, 256, 188, the restart test's state carried."""
    X, y = _wild()
    objective, _ = _problem(0.01 * _alpha_max(X, y, None, True))
    # slow: still moving after 700 epochs (once the iterates stop, whether a restart
    # happens is decided by round-off)
    schedule = Constant(0.005 / objective.lipschitz())
    fast, slow = _both_loops(
        objective,
        AcceleratedGradient(),
        schedule,
        monkeypatch,
        params0=np.zeros((objective.n_features + 1, 1)),
        max_iter=700,
        tol=None,
    )
    assert fast.n_iter == slow.n_iter == 700 and not fast.converged
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(fast.params == 0, slow.params == 0)
    assert (fast.state.count, fast.state.restarts) == (slow.state.count, slow.state.restarts)
    np.testing.assert_allclose(fast.state.proposal, slow.state.proposal, rtol=1e-8, atol=1e-10)


@compiled_only
@pytest.mark.parametrize("optimizer", [AcceleratedGradient(), GradientDescent()], ids=repr)
def test_divergence_is_reported_at_the_same_epoch(monkeypatch, optimizer):
    X, y = _wild()
    objective, cert = _problem(1e-4 * _alpha_max(X, y, None, True))
    epochs = []
    for fast in (True, False):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if fast else 10**18)
        with pytest.raises(DivergenceError) as info:
            _loop.run(
                objective,
                optimizer,
                # a large step: the l1 step alone can stop a smaller one from diverging
                Constant(50.0 / objective.lipschitz()),
                params0=np.zeros((objective.n_features + 1, 1)),
                max_iter=2000,
                tol=1e-8,
                certificate=cert,
            )
        epochs.append(info.value.epoch)
    assert epochs[0] == epochs[1] >= 1


@pytest.mark.parametrize("nesterov", [False, True])
def test_kernel_as_python_is_the_compiled_kernel(nesterov):
    """What NUMBA_DISABLE_JIT=1 runs (the kernel's Python function) gives the same epochs."""
    X, y = _diabetes()
    objective, cert = _problem(0.05 * _alpha_max(X, y, None, True), data="diabetes")
    runs = []
    for kernel in (_gram._gram_descent, getattr(_gram._gram_descent, "py_func", None)):
        if kernel is None:
            pytest.skip("the kernel is not compiled")
        theta = np.zeros((objective.n_features + 1, 1))
        state = (np.empty_like(theta), np.empty_like(theta), np.array([-1, 0]))
        state += (np.empty_like(theta), np.ones(1))
        hessian_t, xty = _gram.standardised_statistics(objective, np.float64)
        grad_scale, factor = _gram._bound_pieces(objective, cert)
        losses, changes = np.empty(60), np.empty(60)
        epochs, status = kernel(
            hessian_t,
            xty,
            float(np.sum(objective.yty)),
            theta,
            np.full(60, 1.0 / objective.lipschitz()),
            nesterov,
            state[0],
            state[1],
            state[2],
            grad_scale,
            factor,
            -1.0,
            1e300,
            losses,
            changes,
            np.empty((objective.n_features, 1)),
            _gram.l1_thresholds(objective),
            state[3],
            state[4],
        )
        runs.append((epochs, status, theta, losses, changes))
    (e1, s1, t1, l1, c1), (e2, s2, t2, l2, c2) = runs
    assert (e1, s1) == (e2, s2) == (60, _kernels.RUNNING)
    np.testing.assert_allclose(t1, t2, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(t1 == 0, t2 == 0)
    assert np.any(t1[:-1] == 0)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    np.testing.assert_allclose(c1, c2, rtol=1e-9)


def test_l1_thresholds_are_the_objectives_in_its_coordinates():
    X, y = _wild()
    Y = y[:, None]
    objective = GramLeastSquares(
        X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0), l1=0.7
    )
    np.testing.assert_array_equal(_gram.l1_thresholds(objective), np.full(X.shape[1], 0.7))
    scale = X.std(axis=0)
    np.testing.assert_allclose(_gram.l1_thresholds(objective.scaled(scale)), 0.7 / scale)
    no_l1 = GramLeastSquares(X, Y, None, alpha=1.0, x_offset=X.mean(0), y_offset=Y.mean(0))
    np.testing.assert_array_equal(_gram.l1_thresholds(no_l1), np.zeros(X.shape[1]))


@compiled_only
@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_default_fit_compiled_equals_python(monkeypatch, penalty):
    X, y = _wild() if penalty == "l1" else _correlated()
    alpha = 0.05 * _alpha_max(X, y, None, True)
    s = _weights(len(y))
    fits = []
    for fast in (True, False):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if fast else 10**18)
        est = GradientDescentRegressor(penalty=penalty, alpha=alpha, max_iter=1_000_000)
        fits.append(est.fit(X, y, sample_weight=s))
    fast, slow = fits
    assert fast.converged_ and slow.converged_ and fast.n_iter_ == slow.n_iter_
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(fast.coef_ == 0, slow.coef_ == 0)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-9)


# -- the fit is scikit-learn's Lasso / ElasticNet -------------------------------------
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize(("data", "penalty"), CASES)
def test_equals_lasso_and_elastic_net(compiled, data, penalty, fit_intercept, weighted, sparse):
    X, y = DATA[data]()
    s = _weights(len(y)) if weighted else None
    Xf = sp.csr_matrix(X) if sparse else X
    # the alpha that zeroes every coefficient (the l1 part is l1_ratio alpha)
    largest = _alpha_max(X, y, s, fit_intercept) / (0.5 if penalty == "elasticnet" else 1.0)
    zeros = []
    for fraction in (1e-3, 0.05, 0.5):  # from no zeros to most coefficients zero
        alpha = fraction * largest
        reference = _reference(penalty, alpha, 0.5, fit_intercept).fit(Xf, y, sample_weight=s)
        est = GradientDescentRegressor(
            penalty=penalty,
            alpha=alpha,
            l1_ratio=0.5,
            fit_intercept=fit_intercept,
            tol=1e-8,
            max_iter=100_000,
        ).fit(Xf, y, sample_weight=s)
        assert est.converged_
        assert _scale_free(est.coef_, reference.coef_, X, y) <= 1e-6
        assert abs(est.intercept_ - reference.intercept_) <= 1e-6 * y.std()
        np.testing.assert_array_equal(est.coef_ == 0, reference.coef_ == 0)
        zeros.append(int(np.sum(reference.coef_ == 0)))
    assert zeros[-1] >= X.shape[1] // 3 and zeros[-1] > zeros[0]  # the alphas reach many zeros


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_two_targets_equal_lasso_and_elastic_net(compiled, penalty):
    X, y = _wild() if penalty == "l1" else _correlated()
    Y = np.column_stack([y, X @ np.linspace(-1, 1, X.shape[1]) / 50 + 1.0])
    alpha = 0.02 * _alpha_max(X, y, None, True)
    reference = _reference(penalty, alpha, 0.5, True).fit(X, Y)
    est = GradientDescentRegressor(
        penalty=penalty, alpha=alpha, l1_ratio=0.5, tol=1e-8, max_iter=100_000
    ).fit(X, Y)
    assert est.converged_
    assert _scale_free(est.coef_, reference.coef_, X, Y) <= 1e-6
    np.testing.assert_array_equal(est.coef_ == 0, reference.coef_ == 0)
    assert np.all(np.abs(est.intercept_ - reference.intercept_) <= 1e-6 * Y.std(axis=0))


@pytest.mark.parametrize(("data", "penalty"), CASES)
@pytest.mark.parametrize("fraction", [1e-3, 0.05, 0.5])
def test_default_tol_converges_without_a_warning(compiled, data, penalty, fraction):
    """The default fit meets its bound: each coefficient within tol in standardised units."""
    X, y = DATA[data]()
    alpha = fraction * _alpha_max(X, y, None, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GradientDescentRegressor(penalty=penalty, alpha=alpha).fit(X, y)
    assert est.converged_ and est.change_curve_[-1] <= est.tol
    reference = _reference(penalty, alpha, est.l1_ratio, True).fit(X, y)
    # with an intercept and no weights these are the bound's own units
    assert _scale_free(est.coef_, reference.coef_, X, y) <= est.tol
    np.testing.assert_array_equal(est.coef_ == 0, reference.coef_ == 0)


@pytest.mark.parametrize("fast", [True, False], ids=["compiled", "python"])
def test_fista_restarts_on_the_whole_objectives_subgradient(monkeypatch, fast):
    """With no zeros at the solution an l1 fit is locally smooth: FISTA needs about the
    epochs of the unpenalised fit. A restart test on the smooth gradient alone (not zero
    at the solution) restarted almost every epoch: twenty times as many."""
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if fast else 10**18)
    runs = []
    for l1 in (0.0, 0.01):
        objective, cert = _problem(l1, data="diabetes")
        runs.append(
            _loop.run(
                objective,
                AcceleratedGradient(),
                Constant(1.0 / objective.lipschitz()),
                params0=np.zeros((objective.n_features + 1, 1)),
                max_iter=20_000,
                tol=1e-6,
                certificate=cert,
            )
        )
    free, lasso = runs
    assert free.converged and lasso.converged and np.all(lasso.params[:-1] != 0)
    assert lasso.n_iter <= 2 * free.n_iter
    assert lasso.state.restarts <= 2 * max(free.state.restarts, 5)
