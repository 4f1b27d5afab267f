"""Issue 13, items 6, 7, 8 and 11: errors that name the real cause, and versioned files.

- 6: an optimizer *class* (``Adam`` rather than ``Adam()``) is rejected by parameter
  validation, with a message that says to pass an instance.
- 7: a schedule whose step is NaN, infinite or negative is reported as such, with the
  update it happened at, not as a divergence ("the learning rate is too large").
- 8: every built-in schedule validates its parameters when called and when a fit
  resolves it (``Constant(-1.0)``, ``InverseSqrt(0.0)`` used to be accepted).
- 11: pickle and skops files record the gdreg version that wrote them; loading one under
  another version warns, in a fresh process, for both formats.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import InconsistentVersionWarning as SklearnInconsistentVersionWarning
from sklearn.utils._param_validation import InvalidParameterError

import gdreg
from gdreg import GradientDescentRegressor, InconsistentVersionWarning, _loop
from gdreg._objective import LeastSquares
from gdreg.optimizers import SVRG, Adam, GradientDescent, Momentum, as_optimizer
from gdreg.schedules import (
    Constant,
    ExponentialDecay,
    InverseSqrt,
    InvScaling,
    StepDecay,
    as_schedule,
    steps_for,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SAMPLINGS = ["batch", "stochastic", "minibatch"]


def _data(n=40, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    return X, X @ np.arange(1.0, d + 1) + 0.5


# -- item 6: an optimizer class is not an optimizer -------------------------------------
@pytest.mark.parametrize("cls", [Adam, Momentum, GradientDescent, SVRG])
def test_optimizer_class_is_rejected_by_parameter_validation(cls):
    X, y = _data()
    message = r"an instance such as Adam\(\), not the class Adam\)\. Got <class '.*\.%s'>"
    for call in (
        lambda est: est._validate_params(),
        lambda est: est.fit(X, y),
        lambda est: est.partial_fit(X, y),
    ):
        est = GradientDescentRegressor(optimizer=cls)
        with pytest.raises(InvalidParameterError, match=message % cls.__name__):
            call(est)
        assert not hasattr(est, "coef_")


def test_as_optimizer_rejects_a_class_and_says_to_instantiate_it():
    with pytest.raises(TypeError, match=r"optimizer=Adam is a class.*pass an instance, Adam\(\)"):
        as_optimizer(Adam)
    assert isinstance(as_optimizer(Adam()), Adam)


def test_an_optimizer_instance_and_a_duck_typed_one_still_pass_validation():
    class Plain:  # the protocol only: init and update
        def init(self, params):
            return ()

        def update(self, grad, state, params, step_size):
            return -step_size * grad, state

    X, y = _data()
    for optimizer in (Adam(), Plain()):
        est = GradientDescentRegressor(optimizer=optimizer, max_iter=3, tol=None)
        assert np.all(np.isfinite(est.fit(X, y).coef_))


# -- item 7: a bad step is named, not called a divergence ------------------------------
def _nan_schedule(t):
    return float("nan")


def _inf_from_update_5(t):
    return 0.01 if t < 5 else float("inf")


def _negative_from_update_70(t):
    return 0.01 if t < 70 else -0.01


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (_nan_schedule, r"step size nan for update 1: a step size must be finite"),
        (_inf_from_update_5, r"step size inf for update 5: a step size must be finite"),
        (_negative_from_update_70, r"step size -0\.01 for update 70: .* must not be negative"),
    ],
)
def test_a_bad_step_from_a_callable_is_named_with_its_update(sampling, schedule, expected):
    X, y = _data()
    est = GradientDescentRegressor(
        optimizer=GradientDescent(sampling=sampling), learning_rate=schedule, max_iter=200
    )
    with pytest.raises(ValueError, match=expected) as info:
        est.fit(X, y)
    assert "too large" not in str(info.value)
    assert schedule.__name__ in str(info.value)
    assert not hasattr(est, "coef_")


def test_steps_for_counts_updates_across_chunks_and_allows_zero_steps():
    # _epoch_steps evaluates a long epoch in chunks: the update named is the real one
    count = _loop._STEP_CHUNK + 100
    bad = 11 + _loop._STEP_CHUNK + 7
    with pytest.raises(ValueError, match=f"for update {bad}:"):
        _loop._epoch_steps(lambda t: -1.0 if t == bad else 0.1, 11, count, np.float64)
    # a zero step is allowed: warm-up schedules start at 0, decays underflow to 0
    np.testing.assert_array_equal(steps_for(lambda t: 0.0, 1, 3), np.zeros(3))
    assert steps_for(ExponentialDecay(1.0, gamma=0.5), 1200, 1)[0] == 0.0


def test_a_step_past_float32s_range_is_reported_without_a_numpy_warning():
    with pytest.raises(ValueError, match="step size inf for update 3"):
        steps_for(lambda t: 1e39, 3, 2, dtype=np.float32)


# -- item 8: every schedule validates its parameters ----------------------------------
def _invalid(cls, **params):
    """A schedule made valid and then given bad parameters by ``set_params``.

    The constructors refuse bad values (tests/test_schedules.py); ``set_params``
    does not check (scikit-learn's convention), so the call and the fit must.
    """
    return cls().set_params(**params)


INVALID_SCHEDULES = [
    (_invalid(Constant, eta0=-1.0), "eta0"),
    (_invalid(Constant, eta0=0.0), "eta0"),
    (_invalid(Constant, eta0=float("nan")), "eta0"),
    (_invalid(Constant, eta0=float("inf")), "eta0"),
    (_invalid(InverseSqrt, eta0=0.0), "eta0"),
    (_invalid(InverseSqrt, eta0=-0.5, t0=3.0), "eta0"),
    (_invalid(InverseSqrt, eta0=1.0, t0=0.0), "t0"),
    (_invalid(InverseSqrt, eta0=1.0, t0=-2.0), "t0"),
    (_invalid(InvScaling, eta0=float("inf")), "eta0"),
    (_invalid(StepDecay, eta0=0.0), "eta0"),
    (_invalid(ExponentialDecay, eta0=-1.0), "eta0"),
]


@pytest.mark.parametrize(("schedule", "param"), INVALID_SCHEDULES, ids=repr)
def test_schedule_parameters_are_validated_when_called_and_resolved(schedule, param):
    name = type(schedule).__name__
    message = f"The '{param}' parameter of {name} must be"
    with pytest.raises(InvalidParameterError, match=message):
        type(schedule)(**schedule.get_params())  # the constructor refuses them
    with pytest.raises(InvalidParameterError, match=message):
        schedule(1)
    with pytest.raises(InvalidParameterError, match=message):
        schedule(np.arange(1, 5))
    with pytest.raises(InvalidParameterError, match=message):
        as_schedule(schedule, 0.01)


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize(("schedule", "param"), INVALID_SCHEDULES[:8], ids=repr)
def test_fit_rejects_invalid_constant_and_inverse_sqrt(sampling, schedule, param):
    X, y = _data()
    est = GradientDescentRegressor(optimizer=GradientDescent(sampling), learning_rate=schedule)
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter of"):
        est.fit(X, y)


def test_set_params_to_an_invalid_value_is_caught_too():
    schedule = InverseSqrt(0.1).set_params(t0=0.0)
    with pytest.raises(InvalidParameterError, match="'t0' parameter of InverseSqrt"):
        schedule(3)
    assert clone(Constant(0.5)).set_params(eta0=0.25)(9) == 0.25


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_the_loop_does_not_run_an_invalid_built_in_schedule(sampling):
    # the compiled per-sample kernel computes Constant / InverseSqrt steps itself:
    # with invalid parameters it leaves them to the schedule, which raises
    rng = np.random.RandomState(1)
    X = rng.randn(30, 3)
    Y = X @ rng.randn(3, 1)
    objective = LeastSquares(
        X,
        Y,
        None,
        alpha=0.0,
        x_offset=X.mean(axis=0),
        y_offset=Y.mean(axis=0),
        learn_intercept=False,
    )
    steps = _loop.EpochSteps(_invalid(Constant, eta0=-1.0), 1, 30, np.float64)
    assert steps.rule is None and _loop.EpochSteps(Constant(1.0), 1, 3, np.float64).rule
    with pytest.raises(InvalidParameterError, match="'eta0' parameter of Constant"):
        _loop.run(
            objective,
            GradientDescent(sampling),
            _invalid(Constant, eta0=-1.0),
            params0=np.zeros((4, 1)),
            max_iter=50,
            tol=None,
            rng=np.random.RandomState(0),
        )


# -- item 11: saved files record the gdreg version -------------------------------------
def _fitted():
    X, y = _data()
    return GradientDescentRegressor(learning_rate=InverseSqrt(0.05), max_iter=20, tol=None).fit(
        X, y
    ), X


def test_pickle_and_skops_record_the_version_and_load_without_it(tmp_path):
    model, X = _fitted()
    assert model.__getstate__()["_gdreg_version"] == gdreg.__version__
    assert "_gdreg_version" not in model.__dict__
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    with zipfile.ZipFile(path) as archive:
        assert "_gdreg_version" in archive.read("schema.json").decode()
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith("gdreg.") for t in untrusted), untrusted  # nothing new to trust
    with warnings.catch_warnings():
        warnings.simplefilter("error", SklearnInconsistentVersionWarning)
        for loaded in (pickle.loads(pickle.dumps(model)), sio.load(path, trusted=untrusted)):
            assert "_gdreg_version" not in loaded.__dict__
            assert repr(loaded) == repr(model)
            np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    # clone and get_params never see it
    assert "_gdreg_version" not in clone(model).__dict__
    assert "_gdreg_version" not in model.get_params()


def test_the_warning_is_scikit_learns_kind_and_names_both_versions():
    model, _ = _fitted()
    state = dict(model.__getstate__(), _gdreg_version="0.0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SklearnInconsistentVersionWarning)  # one filter for both
        with pytest.raises(InconsistentVersionWarning) as info:
            GradientDescentRegressor.__new__(GradientDescentRegressor).__setstate__(state)
    message = str(info.value)
    assert f"saved with gdreg 0.0.1 and is loaded with gdreg {gdreg.__version__}" in message
    assert info.value.original_version == "0.0.1"
    assert info.value.current_version == gdreg.__version__


_CHILD = """
import json, pathlib, pickle, sys, warnings
import numpy as np
import skops.io as sio
import gdreg

root = pathlib.Path(sys.argv[1])
X = np.load(root / "X.npy")


def load(path):
    if path.suffix == ".pkl":
        return pickle.loads(path.read_bytes())
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith("gdreg.") for t in untrusted), untrusted
    return sio.load(path, trusted=untrusted)


report = {}
for run in ("as installed", "version patched on load"):
    if run == "version patched on load":
        gdreg.__version__ = "99.0"
    for path in sorted(root.glob("*.pkl")) + sorted(root.glob("*.skops")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = load(path)
        np.save(root / f"{path.name}.pred.npy", model.predict(X))
        report[f"{run}: {path.name}"] = [
            [[c.__name__ for c in w.category.__mro__], str(w.message)] for w in caught
        ]
print(json.dumps(report))
"""


def test_loading_under_another_version_warns_in_a_fresh_process(tmp_path, monkeypatch):
    model, X = _fitted()
    np.save(tmp_path / "X.npy", X)
    for tag in ("current", "old"):
        if tag == "old":  # a file written by another release
            monkeypatch.setattr(gdreg, "__version__", "0.0.1")
        (tmp_path / f"{tag}.pkl").write_bytes(pickle.dumps(model))
        sio.dump(model, tmp_path / f"{tag}.skops")
    monkeypatch.undo()
    # a pickle written before versions were recorded
    monkeypatch.setattr(GradientDescentRegressor, "__getstate__", BaseEstimator.__getstate__)
    (tmp_path / "unversioned.pkl").write_bytes(pickle.dumps(model))
    monkeypatch.undo()

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    installed = gdreg.__version__

    def version_warnings(key):
        found = [(mro, m) for mro, m in report[key] if "InconsistentVersionWarning" in mro]
        # gdreg's warning and, above it, scikit-learn's
        assert all(mro.count("InconsistentVersionWarning") == 2 for mro, _ in found)
        return [m for _, m in found]

    for fmt in ("pkl", "skops"):
        assert version_warnings(f"as installed: current.{fmt}") == []
        assert version_warnings(f"as installed: old.{fmt}") == [
            f"GradientDescentRegressor was saved with gdreg 0.0.1 and is loaded with gdreg "
            f"{installed}: its fitted attributes may not mean the same, so it may predict "
            "differently or fail. Refit it, or load it with the version that saved it."
        ]
        (patched,) = version_warnings(f"version patched on load: current.{fmt}")
        assert f"saved with gdreg {installed} and is loaded with gdreg 99.0" in patched
    (legacy,) = version_warnings("as installed: unversioned.pkl")
    assert "saved by a gdreg version that did not record itself" in legacy
    for name in ("current.pkl", "current.skops", "old.pkl", "old.skops", "unversioned.pkl"):
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.pred.npy"), model.predict(X))
