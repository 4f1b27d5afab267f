"""scikit-learn callbacks (sklearn.callback, scikit-learn >= 1.9) and verbose output."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gdreg import GradientDescentRegressor
from gdreg._callbacks import AVAILABLE

needs_callbacks = pytest.mark.skipif(not AVAILABLE, reason="needs sklearn.callback (>= 1.9)")


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.1 * rng.normal(size=120)
    return X, y


class Recorder:
    """Records every hook; stops the fit after ``stop_after`` epochs if given."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []
        self.epoch_coefs = []

    def setup(self, estimator, context):
        self.events.append(("setup", None))

    def teardown(self, estimator, context):
        self.events.append(("teardown", None))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", context.task_name))
        if context.task_name == "epoch" and fitted_estimator is not None:
            self.epoch_coefs.append(fitted_estimator.coef_.copy())
            return self.stop_after is not None and len(self.epoch_coefs) >= self.stop_after
        return False

    def count(self, kind, task=None):
        return sum(1 for k, t in self.events if k == kind and (task is None or t == task))


@needs_callbacks
@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_user_callback_stops_early_without_warning(data, optimizer):
    X, y = data
    recorder = Recorder(stop_after=3)
    reg = GradientDescentRegressor(optimizer=optimizer, random_state=0, record_path=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no failure
        reg.set_callbacks(recorder).fit(X, y)
    assert reg.n_iter_ == 3
    assert not reg.converged_
    # The fit stopped exactly where three epochs without any stopping rule end.
    ref = GradientDescentRegressor(optimizer=optimizer, random_state=0, max_iter=3, tol=None)
    ref.fit(X, y)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-12)
    # fitted_estimator handed to the callback holds each epoch's parameters.
    np.testing.assert_allclose(np.array(recorder.epoch_coefs), reg.coef_path_[1:], rtol=1e-12)


@needs_callbacks
def test_hooks_are_balanced_when_the_stopping_rule_ends_the_fit(data):
    X, y = data
    recorder = Recorder()
    reg = GradientDescentRegressor(max_iter=500).set_callbacks(recorder).fit(X, y)
    assert reg.converged_ and reg.n_iter_ < 500
    assert recorder.events[0] == ("setup", None) and recorder.events[-1] == ("teardown", None)
    assert recorder.count("begin", "fit") == recorder.count("end", "fit") == 1
    # Epoch n_iter_ + 1 was begun when epoch n_iter_ ended, then closed empty.
    assert recorder.count("begin", "epoch") == recorder.count("end", "epoch") == reg.n_iter_ + 1
    assert len(recorder.epoch_coefs) == reg.n_iter_
    np.testing.assert_allclose(recorder.epoch_coefs[-1], reg.coef_)


@needs_callbacks
def test_no_extra_epoch_task_at_max_iter(data):
    X, y = data
    recorder = Recorder()
    reg = GradientDescentRegressor(max_iter=4, tol=None).set_callbacks(recorder).fit(X, y)
    assert reg.n_iter_ == 4
    assert recorder.count("begin", "epoch") == recorder.count("end", "epoch") == 4


@needs_callbacks
def test_teardown_runs_and_state_is_restored_when_the_fit_diverges(data):
    X, y = data
    recorder = Recorder()
    reg = GradientDescentRegressor().set_callbacks(recorder).fit(X, y)
    coef = reg.coef_.copy()
    reg.set_params(learning_rate="constant", eta0=100.0)
    with pytest.raises(ValueError, match="diverged"):
        reg.fit(X, y)
    assert recorder.events[-1] == ("teardown", None)
    assert recorder.count("setup") == recorder.count("teardown") == 2
    np.testing.assert_array_equal(reg.coef_, coef)
    assert not hasattr(reg, "_callback_fit_ctx")


@needs_callbacks
def test_progress_bar_over_epochs(data, capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = data
    reg = GradientDescentRegressor(optimizer="minibatch", random_state=0, max_iter=20, tol=None)
    reg.set_callbacks(ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "GradientDescentRegressor - fit" in out
    assert "100%" in out
    plain = GradientDescentRegressor(optimizer="minibatch", random_state=0, max_iter=20, tol=None)
    np.testing.assert_array_equal(reg.coef_, plain.fit(X, y).coef_)


@needs_callbacks
def test_progress_bar_propagates_from_a_pipeline(data, capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = data
    pipe = make_pipeline(StandardScaler(), GradientDescentRegressor())
    pipe.set_callbacks(ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "GradientDescentRegressor - fit" in out
    assert pipe[-1].converged_


def test_no_callback_bookkeeping_without_callbacks(data):
    X, y = data
    reg = GradientDescentRegressor().fit(X, y)
    assert not any(name.startswith("_callback") for name in vars(reg))


def test_verbose_prints_one_line_per_epoch(data, capsys):
    X, y = data
    reg = GradientDescentRegressor(max_iter=7, tol=None, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == reg.n_iter_ == 7
    assert all(line.startswith(f"Epoch {i + 1},") for i, line in enumerate(lines))


def test_works_without_sklearn_callback():
    """With scikit-learn < 1.9 (simulated by hiding sklearn.callback) fit still works."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["sklearn.callback"] = None  # import sklearn.callback now fails
        import numpy as np
        from gdreg import GradientDescentRegressor
        from gdreg import _callbacks
        assert not _callbacks.AVAILABLE
        reg = GradientDescentRegressor().fit([[2.0], [4.0], [5.0]], [45.0, 85.0, 105.0])
        assert not hasattr(reg, "set_callbacks")
        print(reg.coef_.round(6)[0], round(reg.intercept_, 6))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20.0", "5.0"]
