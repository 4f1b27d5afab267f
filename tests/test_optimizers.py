"""The update rules of :mod:`gdreg.optimizers` beyond plain gradient descent.

Layers:

* each rule x each sampling mode reaches the normal-equation solution with the
  default ``learning_rate="auto"``;
* each rule matches a short pure-NumPy transcription of its published update,
  run through the estimator with ``shuffle=False``, to round-off;
* each rule on a 1-D parabola and on an ill-conditioned quadratic, driven
  directly through ``init``/``update`` (no loop, no estimator);
* the protocol: no-argument construction, repr, clone, pickle, no mutation
  during a fit, validation, ``GridSearchCV`` access to the hyperparameters.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import Ridge, SGDRegressor
from sklearn.model_selection import GridSearchCV

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import (
    AdaGrad,
    Adam,
    AveragedSGD,
    GradientDescent,
    Momentum,
    Nesterov,
    RMSProp,
    accelerated_momentum,
)
from gdreg.schedules import Constant, ExponentialDecay, InverseSqrt, InvScaling, StepDecay

RULES = [Momentum, Nesterov, AdaGrad, RMSProp, Adam, AveragedSGD]
SAMPLINGS = ["batch", "stochastic", "minibatch"]


def _standardised_problem(n=200, d=5, noise=0.0, seed=0):
    """Standardised features and targets; coefficients of order one."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    X = (X - X.mean(0)) / X.std(0)
    y = X @ rng.randn(d) + 0.5 + noise * rng.randn(n)
    return X, (y - y.mean()) / y.std()


def _relative_error(reg, X, y, alpha=0.0):
    coef, intercept = normal_equation(X, y, fit_intercept=True, alpha=alpha)
    scale = np.linalg.norm(coef)
    return (
        np.linalg.norm(reg.coef_ - coef) / scale,
        np.max(np.abs(np.asarray(reg.intercept_) - intercept)) / scale,
    )


# --------------------------------------------------------------------------- convergence
# Tolerance for the rules that stop on their own (tol=1e-6 on the per-epoch change).
# A method contracting the error by r per epoch stops with an error of about
# change * r / (1 - r); the slowest default rule here (Adam at its constant
# full-batch step) contracts by r of about 0.95 per epoch, so its error at the stop is
# ~20x the 1e-6 tolerance. 1e-4 relative (||w*|| is about 1) covers r up to 0.99.
RTOL_STOPPED = 1e-4


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("rule", [r for r in RULES if r is not AveragedSGD])
def test_reaches_normal_equation_with_auto_step(rule, sampling):
    # A consistent (noise-free) problem: every per-sample gradient vanishes at the
    # optimum, so the stochastic modes converge to the exact solution instead of a
    # noise ball, and all three modes can be held to the same tolerance.
    X, y = _standardised_problem()
    reg = GradientDescentRegressor(optimizer=rule(sampling=sampling), random_state=0)
    reg.fit(X, y)
    assert reg.converged_
    assert reg.n_iter_ <= 300  # "a few hundred epochs" at most
    coef_err, intercept_err = _relative_error(reg, X, y)
    assert coef_err < RTOL_STOPPED
    assert intercept_err < RTOL_STOPPED


def test_reaches_normal_equation_on_noisy_problem_full_batch():
    # With noise the full-batch rules are unaffected (the gradient is exact).
    X, y = _standardised_problem(noise=0.3)
    for rule in RULES:
        if rule is AveragedSGD:
            continue
        reg = GradientDescentRegressor(optimizer=rule()).fit(X, y)
        assert reg.converged_, rule
        assert _relative_error(reg, X, y)[0] < RTOL_STOPPED, rule


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_averaged_sgd_reaches_normal_equation(sampling):
    # The average of T iterates is within (1/T) * sum_k ||theta_k - theta*|| of the
    # optimum (triangle inequality). Full batch with step 1/L: ||theta_k - theta*||
    # <= (1 - 1/kappa)^k ||theta*||, so the bound is kappa ||theta*|| / T. The
    # stochastic modes on a consistent problem converge linearly too, with a
    # transient of a few epochs: the same O(1/T) bound with a constant of a few
    # epochs' worth of updates, hence 100 epochs give well under 1e-2.
    X, y = _standardised_problem(n=100)
    epochs = 2000 if sampling == "batch" else 100
    reg = GradientDescentRegressor(
        optimizer=AveragedSGD(sampling=sampling), tol=None, max_iter=epochs, random_state=0
    ).fit(X, y)
    coef_err, intercept_err = _relative_error(reg, X, y)
    if sampling == "batch":
        eig = np.linalg.eigvalsh(X.T @ X / len(X))
        bound = eig[-1] / eig[0] / epochs
    else:
        bound = 1e-2
    assert coef_err < bound
    assert intercept_err < bound


def test_averaged_sgd_beats_last_iterate_on_noisy_problem():
    # The point of averaging: with gradient noise and a constant step the last
    # iterate jitters at a distance of order sqrt(step) from the optimum, while
    # the average of the same iterates (after a one-epoch transient) converges.
    # Same seed, same sample order: the two runs share their iterates.
    X, y = _standardised_problem(n=100, noise=1.0, seed=3)
    kwargs = dict(tol=None, max_iter=30, random_state=0, learning_rate=Constant(0.05))
    averaged = GradientDescentRegressor(optimizer=AveragedSGD(start=100), **kwargs).fit(X, y)
    last = GradientDescentRegressor(optimizer="stochastic", **kwargs).fit(X, y)
    assert 5 * _relative_error(averaged, X, y)[0] < _relative_error(last, X, y)[0]


@pytest.mark.parametrize("rule", RULES)
def test_ridge_two_targets_full_batch(rule):
    # Penalised, multi-output: same solution as Ridge(alpha * n_samples).
    rng = np.random.RandomState(1)
    X, _ = _standardised_problem(n=150, d=4, seed=1)
    Y = np.column_stack([X @ rng.randn(4), X @ rng.randn(4) - 1.0])
    Y = (Y - Y.mean(0)) / Y.std(0)
    alpha = 0.05
    reg = GradientDescentRegressor(optimizer=rule(sampling="batch"), alpha=alpha, max_iter=3000)
    if rule is AveragedSGD:
        reg.set_params(optimizer=AveragedSGD(sampling="batch", start=200), tol=None)
    reg.fit(X, Y)
    ridge = Ridge(alpha=alpha * len(X)).fit(X, Y)
    # AveragedSGD: averaging starts after 200 steps of GD at 1/L (kappa < 10 here,
    # error < 0.9**200 ~ 1e-9 by then), so the average is that accurate too.
    np.testing.assert_allclose(reg.coef_, ridge.coef_, atol=RTOL_STOPPED)
    np.testing.assert_allclose(reg.intercept_, ridge.intercept_, atol=RTOL_STOPPED)


# --------------------------------------------------------------------------- transcriptions
def _reference_run(update, X, y, *, sampling, batch_size, epochs, schedule):
    """Pure-NumPy SGD loop over the centred problem with a rule's published update.

    Returns the coefficient iterates after every update.
    """
    Xc, yc = X - X.mean(0), y - y.mean()
    n, d = Xc.shape
    size = {"batch": n, "stochastic": 1, "minibatch": batch_size}[sampling]
    w = np.zeros(d)
    memory = {}
    iterates = []
    t = 0
    for _ in range(epochs):
        for start in range(0, n, size):
            rows = slice(start, start + size)
            t += 1
            grad = Xc[rows].T @ (Xc[rows] @ w - yc[rows]) / len(yc[rows])
            w = update(w, grad, schedule(t), t, memory)
            iterates.append(w)
    return iterates


def _pytorch_sgd(momentum, nesterov):
    def update(w, g, lr, t, buf):
        # torch.optim.SGD (dampening=0): b_1 = g_1, b_t = mu b_{t-1} + g_t
        b = g if t == 1 else momentum * buf["b"] + g
        buf["b"] = b
        return w - lr * ((g + momentum * b) if nesterov else b)

    return update


def _adagrad(eps):
    def update(w, g, lr, t, acc):
        acc["sum"] = acc.get("sum", 0.0) + g**2
        return w - lr * g / (np.sqrt(acc["sum"]) + eps)

    return update


def _rmsprop(rho, eps):
    def update(w, g, lr, t, acc):
        acc["v"] = rho * acc.get("v", 0.0) + (1 - rho) * g**2
        return w - lr * g / (np.sqrt(acc["v"]) + eps)

    return update


def _adam(b1, b2, eps):
    def update(w, g, lr, t, acc):
        # Kingma & Ba (2015), Algorithm 1, line by line.
        acc["m"] = b1 * acc.get("m", 0.0) + (1 - b1) * g
        acc["v"] = b2 * acc.get("v", 0.0) + (1 - b2) * g**2
        m_hat = acc["m"] / (1 - b1**t)
        v_hat = acc["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return update


def _sgd(w, g, lr, t, acc):
    return w - lr * g


TRANSCRIPTIONS = [
    (Momentum(momentum=0.8), _pytorch_sgd(0.8, nesterov=False)),
    (Nesterov(momentum=0.7), _pytorch_sgd(0.7, nesterov=True)),
    (AdaGrad(eps=1e-3), _adagrad(1e-3)),
    (RMSProp(rho=0.9, eps=1e-3), _rmsprop(0.9, 1e-3)),
    (Adam(beta1=0.8, beta2=0.95, eps=1e-3), _adam(0.8, 0.95, 1e-3)),
    (AveragedSGD(), _sgd),
]


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize(("optimizer", "update"), TRANSCRIPTIONS, ids=lambda o: type(o).__name__)
def test_matches_published_update(optimizer, update, sampling):
    rng = np.random.RandomState(4)
    X = rng.randn(13, 3) + np.array([1.0, -2.0, 0.5])  # not centred: the loop centres inside
    y = X @ [1.5, -1.0, 0.3] + 2.0 + 0.1 * rng.randn(13)
    # A decaying schedule, so that the conventions for varying steps are exercised.
    schedule = InvScaling(0.05, power_t=0.5)
    epochs, batch_size = 3, 5  # batches of 5, 5, 3: the short last batch counts too
    reg = GradientDescentRegressor(
        optimizer=clone(optimizer).set_params(sampling=sampling),
        learning_rate=schedule,
        batch_size=batch_size,
        max_iter=epochs,
        tol=None,
        shuffle=False,
    ).fit(X, y)
    iterates = _reference_run(
        update, X, y, sampling=sampling, batch_size=batch_size, epochs=epochs, schedule=schedule
    )
    expected = np.mean(iterates, axis=0) if isinstance(optimizer, AveragedSGD) else iterates[-1]
    np.testing.assert_allclose(reg.coef_, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(reg.intercept_, y.mean() - X.mean(0) @ expected, rtol=1e-12)
    assert reg.t_ == len(iterates)


def test_averaged_sgd_start_matches_sgdregressor_convention():
    # average=start: the first `start` iterates are left out of the average.
    rng = np.random.RandomState(5)
    X, y = rng.randn(10, 2), rng.randn(10)
    schedule = Constant(0.05)
    reg = GradientDescentRegressor(
        optimizer=AveragedSGD(start=4), learning_rate=schedule, max_iter=2, tol=None, shuffle=False
    ).fit(X, y)
    iterates = _reference_run(
        _sgd, X, y, sampling="stochastic", batch_size=1, epochs=2, schedule=schedule
    )
    np.testing.assert_allclose(reg.coef_, np.mean(iterates[4:], axis=0), rtol=1e-12)


@pytest.mark.parametrize(("average", "start"), [(True, 0), (10, 9)])
def test_averaged_sgd_matches_sgdregressor_average(average, start):
    # scikit-learn's own averaged SGD, same step sequence and sample order. Without
    # an intercept both minimise the same per-sample loss with the same updates
    # (scikit-learn learns the intercept by SGD where gdreg centres, so that case
    # differs by design).
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    y = X @ np.array([1.0, 2.0, -1.0]) + 0.1 * rng.randn(30)
    common = dict(shuffle=False, max_iter=3, tol=None, fit_intercept=False)
    sk = SGDRegressor(
        learning_rate="invscaling", eta0=0.05, power_t=0.3, penalty=None, average=average, **common
    ).fit(X, y)
    ours = GradientDescentRegressor(
        optimizer=AveragedSGD(start=start), learning_rate=InvScaling(0.05, power_t=0.3), **common
    ).fit(X, y)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-12, atol=1e-14)


def test_sparse_input_matches_dense():
    rng = np.random.RandomState(6)
    X = rng.randn(30, 4) * (rng.rand(30, 4) < 0.5)
    y = X @ [1.0, 2.0, 0.0, -1.0] + 0.3
    for rule in RULES:
        kwargs = dict(optimizer=rule(sampling="minibatch"), max_iter=5, tol=None, random_state=0)
        dense = GradientDescentRegressor(**kwargs).fit(X, y)
        sparse = GradientDescentRegressor(**kwargs).fit(sp.csr_matrix(X), y)
        np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- quadratics
def _minimise(optimizer, hessian, target, step, iterations):
    """Drive ``init``/``update`` on 1/2 (x - c)^T H (x - c); return the last error."""
    params = np.zeros((len(target), 1))
    state = optimizer.init(params)
    with np.errstate(over="ignore", invalid="ignore"):  # the divergence tests overflow
        for _ in range(iterations):
            grad = hessian @ (params - target)
            updates, state = optimizer.update(grad, state, params, step)
            params = params + updates
        return np.linalg.norm(optimizer.output(params, state) - target)


@pytest.mark.parametrize("rule", RULES)
def test_parabola(rule):
    # f(x) = (L/2) (x - 3)^2 with the rule's own auto step.
    curvature, target = 4.0, np.array([[3.0]])
    optimizer = rule()
    step = optimizer.auto_step_size(curvature)
    iterations = 20_000 if rule is AveragedSGD else 2000
    error = _minimise(optimizer, np.array([[curvature]]), target, step, iterations)
    # AveragedSGD: O(1/T) (see above); the others converge linearly.
    assert error < (1e-3 if rule is AveragedSGD else 1e-8)


def _rotated_quadratic(kappa, d=10, seed=0):
    rng = np.random.RandomState(seed)
    q, _ = np.linalg.qr(rng.randn(d, d))
    return q @ np.diag(np.geomspace(1.0, 1.0 / kappa, d)) @ q.T, rng.randn(d, 1)


@pytest.mark.parametrize("rule", [Momentum, Nesterov, AdaGrad, AveragedSGD])
def test_ill_conditioned_quadratic(rule):
    # kappa = 1e3, a rotated (non-diagonal) Hessian so that per-coordinate scaling
    # cannot undo the conditioning. At its auto step each rule must gain six orders
    # of magnitude within 20 * kappa iterations (plain GD needs about 14 * kappa).
    hessian, target = _rotated_quadratic(1e3)
    optimizer = rule(sampling="batch")
    step = optimizer.auto_step_size(np.linalg.eigvalsh(hessian)[-1])
    if rule is AveragedSGD:
        # The average of GD iterates is O(kappa / T) (see above): average only the
        # last 5000 iterates, all within exp(-15) of the optimum.
        optimizer.set_params(start=15_000)
    error = _minimise(optimizer, hessian, target, step, 20_000)
    assert error < 1e-6 * np.linalg.norm(target)


@pytest.mark.parametrize("rule", [RMSProp, Adam])
def test_ill_conditioned_quadratic_rmsprop_adam(rule):
    # RMSProp and Adam have no convergence guarantee with a constant step: near the
    # optimum sqrt(v) shrinks with the gradient and the effective step eta / sqrt(v)
    # grows until the iterates overshoot, so they hover at a distance set by eta.
    # They still get close at the auto step ...
    hessian, target = _rotated_quadratic(1e3)
    L = np.linalg.eigvalsh(hessian)[-1]
    step = rule().auto_step_size(L)
    assert _minimise(rule(), hessian, target, step, 5000) < 1e-2 * np.linalg.norm(target)
    # ... and with eps = eta * L the denominator is dominated by eps near the optimum:
    # the rule becomes gradient descent (Adam: heavy ball) with step eta / eps = 1/L,
    # which converges linearly, six orders of magnitude within 20 * kappa iterations.
    error = _minimise(rule(eps=step * L), hessian, target, step, 20_000)
    assert error < 1e-6 * np.linalg.norm(target)


def _iterations_to(optimizer, hessian, target, step, rtol=1e-6, limit=10**6):
    params = np.zeros_like(target)
    state = optimizer.init(params)
    goal = rtol * np.linalg.norm(target)
    for k in range(1, limit + 1):
        updates, state = optimizer.update(hessian @ (params - target), state, params, step)
        params = params + updates
        if np.linalg.norm(params - target) < goal:
            return k
    return limit


def test_nesterov_needs_sqrt_kappa_iterations():
    # With momentum (sqrt(kappa) - 1)/(sqrt(kappa) + 1) and step 1/L, Nesterov contracts
    # by about 1 - 1/sqrt(kappa) per step: ~ sqrt(kappa) * log(1/eps) iterations, where
    # gradient descent needs ~ kappa * log(1/eps). Checked at two condition numbers so
    # that the scaling, not a constant, is tested.
    counts = {}
    for kappa in (1e2, 1e4):
        hessian, target = _rotated_quadratic(kappa)
        nesterov = Nesterov(momentum=accelerated_momentum(kappa))
        counts[kappa] = _iterations_to(nesterov, hessian, target, 1.0)
        log_term = math.log(1e6)
        assert counts[kappa] <= 2 * math.sqrt(kappa) * log_term
        if kappa == 1e2:  # GD is cheap to run only at the small kappa
            gd = _iterations_to(GradientDescent(), hessian, target, 1.0)
            assert gd >= 0.5 * kappa * log_term
    # 100x the condition number costs about 10x the iterations, not 100x.
    assert counts[1e4] / counts[1e2] < 20


@pytest.mark.parametrize("rule", [Momentum, Nesterov])
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_stable_step_size_is_the_stability_limit(rule, momentum):
    curvature = 3.0
    optimizer = rule(momentum=momentum)
    limit = optimizer.stable_step_size(curvature)
    hessian, target = np.array([[curvature]]), np.array([[1.0]])
    assert _minimise(optimizer, hessian, target, 0.99 * limit, 4000) < 1e-6
    assert not _minimise(optimizer, hessian, target, 1.01 * limit, 4000) < 1e6  # inf or nan


def test_divergence_message_gives_the_rule_s_stable_step():
    X, y = _standardised_problem()
    L = np.linalg.eigvalsh(X.T @ X / len(X))[-1]
    optimizer = Nesterov(momentum=0.5)
    reg = GradientDescentRegressor(optimizer=optimizer, learning_rate="constant", eta0=10.0 / L)
    with pytest.raises(ValueError, match="diverged") as info:
        reg.fit(X, y)
    assert f"{optimizer.stable_step_size(L):.4g}" in str(info.value)
    assert not hasattr(reg, "coef_")


# --------------------------------------------------------------------------- intercept row
@pytest.mark.parametrize("rule", [AdaGrad, RMSProp, Adam])
def test_zero_gradient_row_gives_zero_update_even_with_eps_zero(rule):
    # The eliminated intercept has an exactly-zero gradient row: 0 / (0 + eps) must
    # not become 0 / 0 = nan when eps = 0.
    optimizer = rule(eps=0.0)
    params = np.zeros((3, 2))
    state = optimizer.init(params)
    grad = np.array([[1.0, -2.0], [0.5, 3.0], [0.0, 0.0]])
    for _ in range(3):
        updates, state = optimizer.update(grad, state, params, 0.1)
        params = params + updates
        assert np.all(np.isfinite(updates))
        np.testing.assert_array_equal(updates[-1], 0.0)


@pytest.mark.parametrize("rule", [AdaGrad, RMSProp, Adam])
def test_fit_with_eps_zero(rule):
    X, y = _standardised_problem(n=60, d=3)
    reg = GradientDescentRegressor(optimizer=rule(eps=0.0), max_iter=50, tol=None).fit(X, y)
    assert np.all(np.isfinite(reg.coef_))
    assert np.isfinite(reg.intercept_)


# --------------------------------------------------------------------------- protocol
@pytest.mark.parametrize("rule", RULES)
def test_protocol_no_arguments_repr_clone_pickle(rule):
    optimizer = rule()
    assert repr(optimizer) == f"{rule.__name__}()"
    assert clone(optimizer).get_params() == optimizer.get_params()
    X, y = _standardised_problem(n=40, d=3)
    reg = GradientDescentRegressor(optimizer=optimizer, max_iter=20, tol=None).fit(X, y)
    restored = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    assert repr(restored.optimizer_) == repr(reg.optimizer_)
    state = reg.optimizer_.init(np.zeros((4, 1)))
    assert isinstance(state, tuple) and hasattr(state, "_fields")  # a NamedTuple
    pickle.loads(pickle.dumps(state))


@pytest.mark.parametrize("rule", RULES)
def test_optimizer_not_modified_by_fit(rule):
    optimizer = rule(sampling="minibatch", batch_size=7)
    before = pickle.dumps(optimizer)
    X, y = _standardised_problem(n=40, d=3)
    reg = GradientDescentRegressor(optimizer=optimizer, max_iter=5, tol=None).fit(X, y)
    assert pickle.dumps(optimizer) == before
    assert reg.optimizer_ is not optimizer
    assert pickle.dumps(reg.optimizer_) == before


@pytest.mark.parametrize(
    "optimizer",
    [
        Momentum(momentum=1.0),
        Nesterov(momentum=-0.1),
        AdaGrad(eps=-1.0),
        AdaGrad(initial_accumulator_value=-1.0),
        RMSProp(rho=1.0),
        Adam(beta1=1.0),
        Adam(beta2=-0.5),
        AveragedSGD(start=-1),
        Momentum(sampling="online"),
    ],
    ids=repr,
)
def test_bad_hyperparameters_fail_cleanly(optimizer):
    X, y = _standardised_problem(n=20, d=2)
    reg = GradientDescentRegressor(optimizer=optimizer)
    with pytest.raises(ValueError):
        reg.fit(X, y)
    assert not hasattr(reg, "coef_")


def test_grid_search_reaches_optimizer_hyperparameters():
    X, y = _standardised_problem(n=80, d=3, noise=0.5)
    grid = GridSearchCV(
        GradientDescentRegressor(max_iter=50, tol=None),
        {"optimizer": [Momentum(), Nesterov()], "optimizer__momentum": [0.5, 0.9]},
        cv=3,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["optimizer__momentum"] in (0.5, 0.9)
    assert grid.best_estimator_.optimizer_.momentum == grid.best_params_["optimizer__momentum"]

    grid = GridSearchCV(
        GradientDescentRegressor(optimizer=Adam(), max_iter=20, tol=None),
        {"optimizer__beta1": [0.5, 0.9], "optimizer__sampling": ["batch", "minibatch"]},
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4


SCHEDULES = [
    Constant(0.01),
    InverseSqrt(0.01),
    InvScaling(0.01, power_t=0.25),
    StepDecay(0.01, drop=0.5, every=3),
    ExponentialDecay(0.01, gamma=0.99),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("rule", RULES)
def test_every_rule_with_every_schedule(rule, schedule):
    # Nothing in a rule depends on the schedule's form: every pairing descends.
    X, y = _standardised_problem(n=40, d=3)
    reg = GradientDescentRegressor(
        optimizer=rule(sampling="minibatch", batch_size=8),
        learning_rate=schedule,
        max_iter=10,
        tol=None,
        random_state=0,
    ).fit(X, y)
    start = 0.5 * np.mean((y - y.mean()) ** 2)
    assert reg.loss_curve_[-1] < start
