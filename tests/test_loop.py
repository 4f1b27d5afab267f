"""The estimator against a tiny pure-NumPy loop written here, and the loop's own rules."""

import numpy as np
import pytest

from gdreg import GradientDescentRegressor, _kernels
from gdreg.optimizers import SVRG, AcceleratedGradient, GradientDescent
from gdreg.schedules import Constant, InverseSqrt


def reference_loop(X, y, w, b, eta, epochs, batch, alpha=0.0, schedule=None):
    """Plain (mini-batch) gradient descent on the centred problem, samples in order."""
    n = len(y)
    xm, ym = X.mean(axis=0), y.mean()
    Xc, yc = X - xm, y - ym
    t = 0
    for _ in range(epochs):
        for start in range(0, n, batch):
            t += 1
            step = eta if schedule is None else schedule(t)
            rows = slice(start, start + batch)
            r = Xc[rows] @ w - yc[rows]
            w = w - step * (Xc[rows].T @ r / len(r) + alpha * w)
    return w, ym - xm @ w


def _data(n=37, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * [1.0, 2.0, 0.5] + [3.0, -1.0, 0.0]
    y = X @ [1.0, -2.0, 0.5] + 4.0 + 0.1 * rng.randn(n)
    return X, y


@pytest.mark.parametrize("optimizer, batch", [("batch", 37), ("stochastic", 1), ("minibatch", 8)])
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_matches_reference_loop(optimizer, batch, compiled, alpha, monkeypatch):
    monkeypatch.setattr(_kernels, "ENABLED", compiled)
    X, y = _data()
    eta, epochs = 0.02, 5
    est = GradientDescentRegressor(
        optimizer=optimizer,
        batch_size=batch,
        learning_rate="constant",
        eta0=eta,
        alpha=alpha,
        shuffle=False,
        tol=None,
        max_iter=epochs,
    ).fit(X, y)
    w, b = reference_loop(X, y, np.zeros(3), 0.0, eta, epochs, batch, alpha)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-12)
    assert est.t_ == epochs * int(np.ceil(37 / batch))
    assert est.n_iter_ == epochs


def test_invsqrt_schedule_matches_reference_loop():
    X, y = _data()
    est = GradientDescentRegressor(
        optimizer="minibatch",
        batch_size=10,
        learning_rate="invsqrt",
        eta0=0.05,
        shuffle=False,
        tol=None,
        max_iter=4,
    ).fit(X, y)
    w, b = reference_loop(X, y, np.zeros(3), 0.0, None, 4, 10, schedule=InverseSqrt(0.05))
    np.testing.assert_allclose(est.coef_, w, rtol=1e-12)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-12)


def test_batch_loss_curve_is_the_objective_after_each_epoch():
    X, y = _data()
    est = GradientDescentRegressor(record_path=True, tol=None, max_iter=6).fit(X, y)
    for i in range(est.n_iter_):
        residual = y - X @ est.coef_path_[i + 1] - est.intercept_path_[i + 1]
        np.testing.assert_allclose(est.loss_curve_[i], 0.5 * np.mean(residual**2), rtol=1e-10)
    assert est.coef_path_.shape == (7, 3) and est.intercept_path_.shape == (7,)
    np.testing.assert_array_equal(est.coef_path_[0], 0.0)
    np.testing.assert_allclose(est.coef_path_[-1], est.coef_)


def independent_bound(X, y, coef):
    """The scale-free error bound of ``coef``, written out with NumPy (centred, unweighted)."""
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    n = len(y)
    spread = Xc.std(axis=0)
    Z = Xc / spread
    grad_u = Z.T @ (Xc @ coef - yc) / n
    mu = np.linalg.eigvalsh(Z.T @ Z / n)[0]
    return np.linalg.norm(grad_u) / (mu * yc.std())


def test_a_decaying_step_cannot_fake_convergence():
    # A step that decays as 1/t^2 stops moving the parameters long before the
    # optimum; the error bound sees the distance that is left, not the movement.
    X, y = _data()

    def fast_decay(t):
        return 0.05 / t**2

    est = GradientDescentRegressor(
        learning_rate=fast_decay, tol=1e-3, max_iter=50, record_path=True
    )
    with pytest.warns(Warning, match="did not converge"):
        est.fit(X, y)
    assert not est.converged_
    last_raw = np.sqrt(
        np.sum((est.coef_path_[-1] - est.coef_path_[-2]) ** 2)
        + (est.intercept_path_[-1] - est.intercept_path_[-2]) ** 2
    )
    assert last_raw < 1e-3  # a plain change criterion would have stopped here
    assert est.change_curve_[-1] == pytest.approx(independent_bound(X, y, est.coef_), rel=1e-9)
    assert np.linalg.norm(est.coef_ - [1.0, -2.0, 0.5]) > 0.1  # far from the optimum


@pytest.mark.parametrize("learning_rate", [Constant(0.01), "auto"])
def test_change_curve_is_the_error_bound_of_every_epoch(learning_rate):
    X, y = _data()
    est = GradientDescentRegressor(
        learning_rate=learning_rate, record_path=True, tol=1e-12, max_iter=5
    )
    with pytest.warns(Warning, match="did not converge"):
        est.fit(X, y)
    expected = [independent_bound(X, y, coef) for coef in est.coef_path_[1:]]
    np.testing.assert_allclose(est.change_curve_, expected, rtol=1e-9)
    exact = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    distance = np.linalg.norm((est.coef_ - exact) * X.std(0)) / y.std()
    assert distance <= est.change_curve_[-1]


def test_no_tolerance_no_bound():
    X, y = _data()
    est = GradientDescentRegressor(tol=None, max_iter=3).fit(X, y)
    assert est.change_curve_.shape == (3,) and np.all(np.isnan(est.change_curve_))


def test_minibatch_epoch_has_ceil_n_over_b_updates():
    X, y = _data(n=50)
    est = GradientDescentRegressor(optimizer="minibatch", batch_size=16, tol=None, max_iter=3)
    est.fit(X, y)
    assert est.t_ == 3 * 4


def test_stochastic_auto_step_is_safe_and_decays():
    """A plain stochastic rule with "auto": 1 / L_max of the standardised rows, decaying."""
    X, y = _data()
    est = GradientDescentRegressor(
        optimizer=GradientDescent(sampling="stochastic"), tol=None, max_iter=2
    ).fit(X, y)
    schedule = est.learning_rate_
    assert isinstance(schedule, InverseSqrt)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    largest = np.max(np.sum(standardised**2, axis=1))
    np.testing.assert_allclose(schedule.eta0, 1.0 / largest, rtol=1e-10)
    assert schedule(1 + 37 * 3) == pytest.approx(schedule.eta0 / 2)


def test_stochastic_shorthand_runs_svrg_with_a_constant_step():
    X, y = _data()
    est = GradientDescentRegressor(optimizer="stochastic", tol=None, max_iter=2).fit(X, y)
    assert isinstance(est.optimizer_, SVRG) and isinstance(est.learning_rate_, Constant)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    largest = np.max(np.sum(standardised**2, axis=1))
    np.testing.assert_allclose(est.learning_rate_.eta0, 1.0 / largest, rtol=1e-10)


def test_batch_auto_step_is_inverse_largest_standardised_eigenvalue():
    X, y = _data()
    est = GradientDescentRegressor(tol=None, max_iter=1).fit(X, y)
    assert isinstance(est.optimizer_, AcceleratedGradient)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    L = np.linalg.eigvalsh(standardised.T @ standardised / len(y))[-1]
    np.testing.assert_allclose(est.learning_rate_.eta0, 1.0 / L, rtol=1e-8)
