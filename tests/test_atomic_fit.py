"""A failed fit leaves the estimator exactly as it was.

Failures: bad input, diverging iterates, a callback that raises, and
``KeyboardInterrupt`` raised from inside the loop (a custom optimizer's
``update``, a schedule). "Exactly" is checked on the pickled bytes of the
whole estimator, which also catches arrays modified in place, and on the
predictions.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from gdreg import GradientDescentRegressor
from gdreg.optimizers import Optimizer
from gdreg.schedules import Schedule

pytestmark = [
    pytest.mark.filterwarnings("error::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


class InterruptingOptimizer(Optimizer):
    """Plain gradient descent that raises ``error`` at update number ``fail_at``."""

    def __init__(self, sampling="batch", batch_size=None, fail_at=3, error=KeyboardInterrupt):
        self.sampling = sampling
        self.batch_size = batch_size
        self.fail_at = fail_at
        self.error = error

    def init(self, params):
        return 0

    def update(self, grad, state, params, step_size):
        if state + 1 >= self.fail_at:
            raise self.error("interrupted in update")
        return -step_size * grad, state + 1


class InterruptingSchedule(Schedule):
    """A constant step that raises ``KeyboardInterrupt`` when asked for update ``fail_at``."""

    def __init__(self, eta0=0.05, fail_at=5):
        self.eta0 = eta0
        self.fail_at = fail_at

    def __call__(self, t):
        if np.max(t) >= self.fail_at:
            raise KeyboardInterrupt("interrupted in the schedule")
        return np.full(np.shape(t), float(self.eta0)) if np.ndim(t) else float(self.eta0)


def _data(seed=0, n=40, d=3):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    return X, X @ np.arange(1.0, d + 1) + 0.5 + 0.01 * rng.randn(n)


X, Y = _data()
X_OTHER, Y_OTHER = _data(seed=1)


def _snapshot(model):
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def _failing_fits():
    """(id, parameters to set before the failing call, X, y, expected exception)."""
    X_nan = X_OTHER.copy()
    X_nan[3, 1] = np.nan
    return [
        ("nan_input", {}, X_nan, Y_OTHER, ValueError),
        ("wrong_width", {}, np.c_[X_OTHER, X_OTHER], Y_OTHER, None),  # fit accepts a new width
        ("negative_weight", {}, X_OTHER, Y_OTHER, ValueError),
        (
            "divergence",
            {"learning_rate": "constant", "eta0": 1e3, "max_iter": 50},
            X_OTHER,
            Y_OTHER,
            ValueError,
        ),
        (
            "interrupt_in_update",
            {"optimizer": InterruptingOptimizer(fail_at=4)},
            X_OTHER,
            Y_OTHER,
            KeyboardInterrupt,
        ),
        (
            "interrupt_in_stochastic_update",
            {"optimizer": InterruptingOptimizer(sampling="stochastic", fail_at=60)},
            X_OTHER,
            Y_OTHER,
            KeyboardInterrupt,
        ),
        (
            "runtime_error_in_update",
            {"optimizer": InterruptingOptimizer(fail_at=2, error=RuntimeError)},
            X_OTHER,
            Y_OTHER,
            RuntimeError,
        ),
        (
            "interrupt_in_schedule",
            {"learning_rate": InterruptingSchedule(fail_at=6)},
            X_OTHER,
            Y_OTHER,
            KeyboardInterrupt,
        ),
    ]


FAILING = [f for f in _failing_fits() if f[4] is not None]


def _call(model, case_id, method, X_, y_):
    sw = -np.ones(len(y_)) if case_id == "negative_weight" else None
    return getattr(model, method)(X_, y_, sample_weight=sw)


@pytest.mark.parametrize("record_path", [False, True])
@pytest.mark.parametrize("sampling", ["batch", "stochastic", "minibatch"])
@pytest.mark.parametrize("case", FAILING, ids=lambda c: c[0])
def test_failed_fit_restores_a_fitted_estimator(case, sampling, record_path):
    case_id, params, X_bad, y_bad, error = case
    model = GradientDescentRegressor(
        optimizer=sampling, record_path=record_path, random_state=0, max_iter=200
    ).fit(X, Y)
    pred = model.predict(X)
    model.set_params(**params)
    before = _snapshot(model)  # "as it was" just before the failing call
    with pytest.raises(error):
        _call(model, case_id, "fit", X_bad, y_bad)
    assert _snapshot(model) == before
    np.testing.assert_array_equal(model.predict(X), pred)


@pytest.mark.parametrize("case", FAILING, ids=lambda c: c[0])
def test_failed_fit_leaves_an_unfitted_estimator_unfitted(case):
    case_id, params, X_bad, y_bad, error = case
    model = GradientDescentRegressor(**params)
    keys = set(vars(model))
    with pytest.raises(error):
        _call(model, case_id, "fit", X_bad, y_bad)
    assert set(vars(model)) == keys
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_failed_warm_start_fit_keeps_the_previous_coefficients():
    model = GradientDescentRegressor(warm_start=True, max_iter=5, tol=None).fit(X, Y)
    before = _snapshot(model)
    model.set_params(optimizer=InterruptingOptimizer(fail_at=3))
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    model.set_params(optimizer="batch")
    assert _snapshot(model) == before


def test_fit_after_a_failed_fit_equals_a_fresh_fit():
    model = GradientDescentRegressor(random_state=0, optimizer="stochastic").fit(X, Y)
    model.set_params(learning_rate=InterruptingSchedule(fail_at=6))
    with pytest.raises(KeyboardInterrupt):
        model.fit(X_OTHER, Y_OTHER)
    model.set_params(learning_rate="auto")
    again = model.fit(X_OTHER, Y_OTHER)
    fresh = GradientDescentRegressor(random_state=0, optimizer="stochastic").fit(X_OTHER, Y_OTHER)
    np.testing.assert_array_equal(again.coef_, fresh.coef_)
    assert again.intercept_ == fresh.intercept_


# -- callbacks (scikit-learn >= 1.9) -----------------------------------------------
class RaisingCallback:
    """A fit callback that raises at the end of epoch ``fail_at``."""

    def __init__(self, fail_at=3, error=KeyboardInterrupt):
        self.fail_at = fail_at
        self.error = error
        self.epochs = 0

    def setup(self, estimator, context):
        self.epochs = 0

    def teardown(self, estimator, context):
        self.epochs = 0  # leave the callback as it came, so the estimator compares equal

    def on_fit_task_begin(self, estimator, context, **kwargs):
        pass

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.task_name == "epoch":
            self.epochs += 1
            if self.epochs >= self.fail_at:
                raise self.error("raised by a callback")
        return False


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_callback_that_raises_restores_the_estimator(error):
    if not hasattr(GradientDescentRegressor, "set_callbacks"):
        pytest.skip("scikit-learn without sklearn.callback")
    model = GradientDescentRegressor(max_iter=50, tol=None).fit(X, Y)
    before = _snapshot(model)
    model.set_callbacks(RaisingCallback(fail_at=3, error=error))
    after_set = _snapshot(model)
    with pytest.raises(error, match="raised by a callback"):
        model.fit(X_OTHER, Y_OTHER)
    assert _snapshot(model) == after_set
    assert after_set != before  # the callback itself is part of the estimator


# -- partial_fit -------------------------------------------------------------------
#: Updates made by two chunks of 20 samples (minibatch: batch_size 32 > 20, one per chunk).
UPDATES_IN_TWO_CHUNKS = {"batch": 2, "stochastic": 40, "minibatch": 2}


@pytest.mark.parametrize("sampling", ["batch", "stochastic", "minibatch"])
@pytest.mark.parametrize("case", FAILING, ids=lambda c: c[0])
def test_failed_partial_fit_restores_the_stream(case, sampling):
    case_id, params, X_bad, y_bad, error = case
    if case_id == "divergence":
        pytest.skip("the stream's schedule is resolved on its first chunk")
    # clone: the cases share their optimizer and schedule objects, set_params below edits them
    model = clone(GradientDescentRegressor(**{"optimizer": sampling, "random_state": 0, **params}))
    # Update counts carry over between calls: fail inside the third chunk.
    third = UPDATES_IN_TWO_CHUNKS[sampling] + 1
    if "optimizer" in params:
        model.set_params(optimizer__sampling=sampling, optimizer__fail_at=third)
    elif "learning_rate" in params:
        model.set_params(learning_rate__fail_at=third)
    for start in (0, 20):
        model.partial_fit(X[start : start + 20], Y[start : start + 20])
    assert model.t_ == UPDATES_IN_TWO_CHUNKS[sampling]
    before, pred = _snapshot(model), model.predict(X)
    with pytest.raises(error):
        _call(model, case_id, "partial_fit", X_bad, y_bad)
    assert _snapshot(model) == before
    np.testing.assert_array_equal(model.predict(X), pred)


def test_stream_goes_on_after_a_failed_chunk_as_if_it_never_happened():
    X_nan = X_OTHER.copy()
    X_nan[0, 0] = np.nan
    chunks = [(X[:20], Y[:20]), (X[20:], Y[20:]), (X_OTHER, Y_OTHER)]
    clean = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    failed = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    for i, (Xc, yc) in enumerate(chunks):
        clean.partial_fit(Xc, yc)
        if i == 1:
            with pytest.raises(ValueError, match="NaN"):
                failed.partial_fit(X_nan, Y_OTHER)
        failed.partial_fit(Xc, yc)
    np.testing.assert_array_equal(failed.coef_, clean.coef_)
    assert failed.intercept_ == clean.intercept_
    assert failed.t_ == clean.t_
