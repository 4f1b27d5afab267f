"""Step-size schedules: values, vectorisation, scikit-learn parity, pickling, grid search."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import SGDRegressor
from sklearn.model_selection import GridSearchCV

from gdreg import GradientDescentRegressor
from gdreg.optimizers import Momentum
from gdreg.schedules import (
    Constant,
    ExponentialDecay,
    InverseSqrt,
    InvScaling,
    StepDecay,
    steps_for,
)

NEW_SCHEDULES = [InvScaling, StepDecay, ExponentialDecay]


def test_invscaling_values():
    t = np.arange(1, 50)
    np.testing.assert_allclose(InvScaling(0.3, power_t=0.25)(t), 0.3 / t**0.25, rtol=1e-15)
    assert InvScaling(0.3, power_t=0.25)(16) == pytest.approx(0.15)
    # power_t=0.5 is InverseSqrt with t0=1; power_t=0 is Constant.
    np.testing.assert_allclose(InvScaling(0.3, power_t=0.5)(t), InverseSqrt(0.3)(t), rtol=1e-15)
    np.testing.assert_allclose(InvScaling(0.3, power_t=0.0)(t), Constant(0.3)(t))


def test_step_decay_values():
    schedule = StepDecay(2.0, drop=0.1, every=3)
    expected = [2.0, 2.0, 2.0, 0.2, 0.2, 0.2, 0.02]
    np.testing.assert_allclose(schedule(np.arange(1, 8)), expected, rtol=1e-14)
    assert [schedule(t) for t in range(1, 8)] == pytest.approx(expected, rel=1e-14)
    np.testing.assert_array_equal(StepDecay(1.0, drop=1.0, every=1)(np.arange(1, 5)), 1.0)


def test_exponential_decay_values():
    schedule = ExponentialDecay(0.5, gamma=0.9)
    t = np.arange(1, 30)
    np.testing.assert_allclose(schedule(t), 0.5 * 0.9 ** (t - 1), rtol=1e-14)
    assert schedule(1) == 0.5
    # gamma = 0.5 ** (1 / k) halves the step every k updates, like StepDecay at its drops.
    smooth, stairs = ExponentialDecay(1.0, gamma=0.5 ** (1 / 4)), StepDecay(1.0, 0.5, every=4)
    drops = np.array([1, 5, 9, 13])
    np.testing.assert_allclose(smooth(drops), stairs(drops), rtol=1e-14)


@pytest.mark.parametrize(
    "schedule", [InvScaling(0.2), StepDecay(0.2, every=2), ExponentialDecay(0.2)]
)
def test_scalar_in_float_out_and_array_in_array_out(schedule):
    value = schedule(5)
    assert isinstance(value, float)
    array = schedule(np.arange(1, 6))
    assert array.shape == (5,)
    assert array[-1] == value
    # the loop asks for a whole epoch at once; steps_for must agree with scalar calls
    np.testing.assert_allclose(steps_for(schedule, 3, 4), [schedule(t) for t in range(3, 7)])


@pytest.mark.parametrize("cls", NEW_SCHEDULES)
def test_defaults_repr_clone_pickle(cls):
    schedule = cls()
    assert repr(schedule) == f"{cls.__name__}()"
    assert clone(schedule).get_params() == schedule.get_params()
    restored = pickle.loads(pickle.dumps(schedule))
    np.testing.assert_array_equal(restored(np.arange(1, 10)), schedule(np.arange(1, 10)))


BAD_PARAMETERS = [
    (Constant, {"eta0": -1}),
    (Constant, {"eta0": 0.0}),
    (InverseSqrt, {"eta0": 0}),
    (InverseSqrt, {"t0": -2.0}),
    (InvScaling, {"eta0": 0.0}),
    (InvScaling, {"power_t": -1.0}),
    (StepDecay, {"drop": 0.0}),
    (StepDecay, {"drop": 1.5}),
    (StepDecay, {"every": 0}),
    (ExponentialDecay, {"gamma": 1.1}),
    (ExponentialDecay, {"eta0": -1.0}),
]


def _case_id(case):
    cls, params = case
    return f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


@pytest.mark.parametrize("case", BAD_PARAMETERS, ids=_case_id)
def test_constructor_rejects_bad_parameters_naming_them(case):
    cls, params = case
    ((name, value),) = params.items()
    message = f"The '{name}' parameter of {cls.__name__} must be .* Got {value!r} instead"
    with pytest.raises(ValueError, match=message):
        cls(**params)


@pytest.mark.parametrize("case", BAD_PARAMETERS, ids=_case_id)
def test_bad_parameters_set_later_fail_at_call_and_fit(case):
    # set_params does not validate (scikit-learn's convention, which clone and
    # GridSearchCV rely on): the call and the fit catch the bad value instead
    cls, params = case
    schedule = cls().set_params(**params)
    with pytest.raises(ValueError, match=f"'{next(iter(params))}' parameter"):
        schedule(1)
    X, y = np.random.RandomState(0).randn(10, 2), np.arange(10.0)
    reg = GradientDescentRegressor(learning_rate=schedule)
    with pytest.raises(ValueError):
        reg.fit(X, y)
    assert not hasattr(reg, "coef_")


@pytest.mark.parametrize("cls", [Constant, InverseSqrt, *NEW_SCHEDULES])
def test_validating_constructors_keep_clone_and_set_params_working(cls):
    schedule = cls(eta0=0.25)
    twin = clone(schedule)
    assert twin is not schedule and twin.get_params() == schedule.get_params()
    assert clone(schedule).set_params(eta0=0.5).eta0 == 0.5
    assert schedule.eta0 == 0.25


def test_invscaling_matches_sgdregressor():
    # Same per-sample squared loss, same step sequence eta0 / t**power_t with t from 1,
    # same sample order: the same iterates to round-off (no intercept: scikit-learn
    # learns it by SGD where gdreg centres).
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.randn(40)
    common = dict(shuffle=False, max_iter=4, tol=None, fit_intercept=False)
    sk = SGDRegressor(
        learning_rate="invscaling", eta0=0.03, power_t=0.4, penalty=None, **common
    ).fit(X, y)
    ours = GradientDescentRegressor(
        optimizer="stochastic", learning_rate=InvScaling(0.03, power_t=0.4), **common
    ).fit(X, y)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-12)
    assert ours.t_ == 4 * 40


@pytest.mark.parametrize(
    "schedule",
    [
        InvScaling(0.1, power_t=0.1),
        StepDecay(0.2, drop=0.9, every=20),
        ExponentialDecay(0.2, 0.999),
    ],
    ids=lambda s: type(s).__name__,
)
def test_fits_converge_with_each_schedule(schedule):
    # A well-conditioned full-batch problem; steps below 1/L throughout (L is about
    # 1 for standardised features) and a step sum large enough to reach the optimum.
    rng = np.random.RandomState(1)
    X = rng.randn(100, 3)
    X = (X - X.mean(0)) / X.std(0)
    y = X @ np.array([0.5, -0.3, 0.2]) + 0.05 * rng.randn(100)
    reg = GradientDescentRegressor(learning_rate=schedule, max_iter=3000, tol=None).fit(X, y)
    coef = np.linalg.lstsq(X, y - y.mean(), rcond=None)[0]
    np.testing.assert_allclose(reg.coef_, coef, atol=1e-6)


def halving_every_ten(t):
    """A plain module-level function: any picklable callable of the update count."""
    return 0.1 * 0.5 ** ((t - 1) // 10)


def test_plain_callable_schedule_pickles_and_fits():
    X = np.random.RandomState(2).randn(30, 2)
    y = X @ np.array([1.0, 1.0])
    reg = GradientDescentRegressor(learning_rate=halving_every_ten, max_iter=30, tol=None)
    reg.fit(X, y)
    restored = pickle.loads(pickle.dumps(reg))
    assert restored.learning_rate is halving_every_ten
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    # same steps as the equivalent built-in schedule
    same = GradientDescentRegressor(
        learning_rate=StepDecay(0.1, drop=0.5, every=10), max_iter=30, tol=None
    ).fit(X, y)
    np.testing.assert_allclose(reg.coef_, same.coef_, rtol=1e-14)


def test_grid_search_reaches_schedule_parameters():
    rng = np.random.RandomState(3)
    X = rng.randn(60, 3)
    y = X @ np.array([1.0, 0.0, -1.0]) + 0.3 * rng.randn(60)
    grid = GridSearchCV(
        GradientDescentRegressor(learning_rate=StepDecay(), max_iter=30, tol=None),
        {
            "learning_rate": [StepDecay(0.1), ExponentialDecay(0.1), InvScaling(0.1)],
            "optimizer": [Momentum()],
            "optimizer__momentum": [0.0, 0.5],
        },
        cv=3,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 6
    grid = GridSearchCV(
        GradientDescentRegressor(learning_rate=ExponentialDecay(0.1), max_iter=20, tol=None),
        {"learning_rate__gamma": [0.9, 0.99], "learning_rate__eta0": [0.05, 0.1]},
        cv=3,
    ).fit(X, y)
    assert grid.best_estimator_.learning_rate_.gamma == grid.best_params_["learning_rate__gamma"]
    assert len(grid.cv_results_["params"]) == 4
