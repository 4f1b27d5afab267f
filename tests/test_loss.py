"""The loss seam: SquaredLoss against the formulas, and a second loss through the loop.

The pseudo-Huber loss below lives in this file only. Adding it touched no
source file: it subclasses :class:`gdreg._loss.Loss` (value, derivative,
curvature) and is handed to ``LeastSquares(loss=...)``; ``_loop.run`` keeps it
off the compiled paths, and the fit reaches the optimum that
``scipy.optimize.minimize`` finds for the same objective.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from sklearn.metrics import mean_squared_error

from gdreg import DivergenceError, _loop
from gdreg._loss import Loss, SquaredLoss, is_squared, squared_derivative, squared_value
from gdreg._objective import GramLeastSquares, LeastSquares
from gdreg.optimizers import SVRG, AveragedSGD, GradientDescent
from gdreg.schedules import Constant, InverseSqrt


class PseudoHuber(Loss):
    r"""``delta^2 (sqrt(1 + (r / delta)^2) - 1)``, ``r = p - y``: a test-only second loss."""

    def __init__(self, delta=1.0):
        self.delta = delta

    @property
    def curvature(self):  # the second derivative is (1 + (r/delta)^2)^(-3/2) <= 1
        return 1.0

    def value(self, prediction, target):
        r = (np.asarray(prediction) - np.asarray(target)) / self.delta
        return self.delta**2 * (np.sqrt(1.0 + r * r) - 1.0)

    def derivative(self, prediction, target):
        r = np.asarray(prediction) - np.asarray(target)
        return r / np.sqrt(1.0 + (r / self.delta) ** 2)


def _data(n=60, d=3, k=1, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    Y = X @ rng.randn(d, k) + 0.5 + rng.standard_t(2, size=(n, k))  # heavy tails
    return X, Y, rng.uniform(0.5, 2.0, n)


# -- SquaredLoss against the formulas --------------------------------------------------
def test_squared_loss_pieces_match_the_formulas():
    rng = np.random.RandomState(1)
    p, y = rng.randn(7, 2), rng.randn(7, 2)
    loss = SquaredLoss()
    np.testing.assert_array_equal(loss.value(p, y), 0.5 * (p - y) ** 2)
    np.testing.assert_array_equal(loss.derivative(p, y), p - y)
    assert loss.curvature == 1.0
    for a, b in zip(p.ravel(), y.ravel(), strict=True):
        assert squared_value(a, b) == pytest.approx(0.5 * (a - b) ** 2, rel=1e-15)
        assert squared_derivative(a, b) == pytest.approx(a - b, rel=1e-15)
    # the derivative is the derivative of the value (central difference)
    h = 1e-6
    numeric = (loss.value(p + h, y) - loss.value(p - h, y)) / (2 * h)
    np.testing.assert_allclose(numeric, loss.derivative(p, y), rtol=1e-6, atol=1e-8)


def test_weighted_pieces_and_start_value():
    rng = np.random.RandomState(2)
    p, y = rng.randn(9, 2), rng.randn(9, 2)
    w = rng.uniform(0.1, 1.0, 9)
    loss = SquaredLoss()
    expected = float(np.sum(w[:, None] * 0.5 * (p - y) ** 2))
    assert loss.weighted_value(p.copy(), y, w) == pytest.approx(expected, rel=1e-14)
    value, wd = loss.weighted_value_and_derivative(p.copy(), y, w)
    assert value == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(wd, w[:, None] * (p - y), rtol=1e-14)
    # the generic Loss form gives the same as the squared loss's own
    c = w / w.sum()
    yc = y - c @ y
    assert loss.start_value(yc, c) == pytest.approx(Loss.start_value(loss, yc, c), rel=1e-14)
    assert loss.start_value(yc, c) == pytest.approx(0.5 * float(np.sum(c @ yc**2)), rel=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
def test_objective_value_is_half_the_weighted_mse_plus_the_penalty(weighted):
    rng = np.random.RandomState(3)
    y, p = rng.randn(40), rng.randn(40)
    w = rng.uniform(0.2, 3.0, 40) if weighted else None
    coef = rng.randn(4)
    mse = mean_squared_error(y, p, sample_weight=w)
    got = SquaredLoss().objective_value(p, y, w, coef, alpha=0.3)
    assert got == pytest.approx(0.5 * mse + 0.15 * coef @ coef, rel=1e-13)


def test_affine_values_of_the_squared_loss_match_the_generic_evaluation():
    rng = np.random.RandomState(4)
    n, m = 50, 2
    p, y = rng.randn(n), rng.randn(n)
    w = rng.uniform(0.1, 1.0, n)
    w /= w.sum()
    U, deltas = rng.randn(n, m), rng.randn(m, 13)
    loss = SquaredLoss()
    np.testing.assert_allclose(
        loss.affine_values(p, y, w, U, deltas),
        Loss.affine_values(loss, p, y, w, U, deltas),
        rtol=1e-12,
    )


def test_least_squares_value_and_gradient_go_through_the_loss():
    X, Y, w = _data()
    common = dict(alpha=0.2, x_offset=X.mean(0), y_offset=Y.mean(0), learn_intercept=True)
    squared = LeastSquares(X, Y, w, **common)
    huber = LeastSquares(X, Y, w, loss=PseudoHuber(0.7), **common)
    assert is_squared(squared.loss) and not is_squared(huber.loss)
    theta = np.random.RandomState(5).randn(4, 1)
    for objective in (squared, huber):
        pred = X @ theta[:3] - (X.mean(0) @ theta[:3] - theta[3] - Y.mean(0))
        expected = float(
            w @ objective.loss.value(pred, Y).ravel() / w.sum()
            + 0.1 * float(theta[:3].ravel() @ theta[:3].ravel())
        )
        value, grad = objective.value_and_gradient(theta)
        assert value == pytest.approx(expected, rel=1e-13)
        assert objective.value(theta) == pytest.approx(expected, rel=1e-13)

        def f(flat, objective=objective):
            return objective.value(flat.reshape(theta.shape))

        numeric = scipy.optimize.approx_fprime(theta.ravel(), f, 1e-7)
        np.testing.assert_allclose(grad.ravel(), numeric, rtol=1e-5, atol=1e-6)
        # the batch estimate over all samples is the full objective and gradient
        batch = objective.batch_value_and_gradient(theta, np.arange(len(X)))
        assert batch[0] == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(batch[1], grad, rtol=1e-12, atol=1e-14)
        zero = objective.value_at_zero()
        assert zero == pytest.approx(objective.value(np.zeros_like(theta)), rel=1e-13)


def test_the_gram_form_refuses_another_loss_and_the_kernels_too():
    X, Y, _ = _data()
    with pytest.raises(TypeError, match="squared loss only"):
        GramLeastSquares(
            X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0), loss=PseudoHuber()
        )
    huber = LeastSquares(
        X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0),
        learn_intercept=False, loss=PseudoHuber(),
    )  # fmt: skip
    with pytest.raises(TypeError, match="built-in losses"):
        huber.stochastic_data()


class _Refusing:
    """A view of an optimizer whose compiled hooks fail the test if they are reached."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.sampling = optimizer.sampling

    def __getattr__(self, name):
        if name.startswith("compiled_"):
            raise AssertionError(f"{name} ran on a loss the kernels do not compute")
        return getattr(self.optimizer, name)


def _huber_optimum(X, Y, w, alpha, delta):
    """The pseudo-Huber optimum (w, b) by scipy.optimize.minimize."""
    loss = PseudoHuber(delta)
    c = w / w.sum()
    d = X.shape[1]

    def fun(z):
        r = X @ z[:d] + z[d] - Y[:, 0]
        value = c @ loss.value(r, 0.0) + 0.5 * alpha * z[:d] @ z[:d]
        g = c * loss.derivative(r, 0.0)
        return value, np.concatenate([X.T @ g + alpha * z[:d], [g.sum()]])

    res = scipy.optimize.minimize(fun, np.zeros(d + 1), jac=True, method="BFGS", tol=1e-13)
    return res.x[:d], res.x[d]


@pytest.mark.parametrize(
    ("optimizer", "schedule", "epochs"),
    [
        (GradientDescent("batch"), Constant(0.5), 3000),
        (SVRG("stochastic"), Constant(0.02), 150),
        (GradientDescent("minibatch", batch_size=8), InverseSqrt(0.2, t0=8.0), 400),
        (AveragedSGD(), InverseSqrt(0.2, t0=60.0), 400),
    ],
    ids=["batch", "svrg", "minibatch", "averaged"],
)
def test_a_second_loss_runs_on_the_numpy_path_to_its_own_optimum(optimizer, schedule, epochs):
    X, Y, w = _data()
    alpha, delta = 0.05, 0.7
    x_offset, y_offset = (w / w.sum()) @ X, (w / w.sum()) @ Y
    # learn_intercept: for a loss other than squared, the weighted mean is not the
    # optimal intercept, so b' is a free parameter
    objective = LeastSquares(
        X, Y, w, alpha=alpha, x_offset=x_offset, y_offset=y_offset,
        learn_intercept=True, loss=PseudoHuber(delta),
    )  # fmt: skip
    result = _loop.run(
        objective,
        _Refusing(optimizer),
        schedule,
        params0=np.zeros((4, 1)),
        max_iter=epochs,
        tol=None,
        batch_size=8,
        rng=np.random.RandomState(0),
    )
    coef, intercept = _loop.user_parameters(objective, result.params)
    opt_coef, opt_intercept = _huber_optimum(X, Y, w, alpha, delta)
    exact = optimizer.sampling == "batch" or isinstance(optimizer, SVRG)
    tol = 1e-6 if exact else 2e-2
    np.testing.assert_allclose(coef[:, 0], opt_coef, atol=tol)
    assert intercept[0] == pytest.approx(opt_intercept, abs=tol)
    # and it is not the squared-loss optimum (the loss mattered)
    sq_coef = np.linalg.lstsq(
        np.column_stack([X, np.ones(len(X))]) * np.sqrt(w)[:, None],
        Y[:, 0] * np.sqrt(w),
        rcond=None,
    )[0][:3]
    assert np.max(np.abs(opt_coef - sq_coef)) > 10 * tol


def test_divergence_is_a_divergence_error():
    X, Y, _ = _data()
    objective = LeastSquares(
        X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0),
        learn_intercept=False, loss=SquaredLoss(),
    )  # fmt: skip
    with pytest.raises(DivergenceError) as info:
        _loop.run(
            objective, GradientDescent("batch"), Constant(1e3), params0=np.zeros((4, 1)),
            max_iter=100, tol=None,
        )  # fmt: skip
    assert isinstance(info.value, ValueError) and info.value.epoch >= 1
