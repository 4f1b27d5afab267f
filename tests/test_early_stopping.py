"""early_stopping: the held-out split, the validation score, the stopping rule, the best epoch.

The references are scikit-learn's: ``ShuffleSplit`` for the split, ``r2_score`` for
the score, and a fit without early stopping on the training rows for the path.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import ShuffleSplit

from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
from gdreg._callbacks import AVAILABLE
from gdreg._early_stopping import (
    HeldOut,
    Patience,
    ValidationMonitor,
    hold_out,
    next_patience,
    r2,
    validation_split,
)
from gdreg._problem import Fitted, Problem, attributes_maker
from gdreg.optimizers import Adam

FRACTION = 0.3


def overfitting_problem(seed=0, n=60, d=40, k=None):
    """Few rows, many useless features, noisy targets: the validation score peaks, then falls."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    w = np.zeros((d, 1 if k is None else k))
    w[:3] = rng.uniform(1.0, 2.0, size=w[:3].shape)
    Y = X @ w + 3.0 + rng.randn(n, w.shape[1])
    return X, (Y[:, 0] if k is None else Y)


def early(**params):
    base = {
        "early_stopping": True,
        "validation_fraction": FRACTION,
        "random_state": 0,
        "tol": 1e-4,
        "record_path": True,
    }
    return GradientDescentRegressor(**{**base, **params})


def quiet_fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def reference_rule(scores, tol, patience):
    """SGDRegressor's rule, replayed: the epoch it stops at (None: never) and its best epoch."""
    best, best_epoch, count = -math.inf, 0, 0
    for epoch, score in enumerate(scores, start=1):
        count = count + 1 if score < best + tol else 0
        if score > best:
            best, best_epoch = score, epoch
        if count >= patience:
            return epoch, best_epoch
    return None, best_epoch


CASES = {
    "batch": {},
    "stochastic": {"optimizer": "stochastic"},
    "minibatch": {"optimizer": "minibatch", "batch_size": 8},
    "adam": {"optimizer": Adam(sampling="minibatch")},
    "huber": {"loss": "huber", "epsilon": 1.0},
    "epsilon_insensitive": {"loss": "epsilon_insensitive"},
    "l1": {"penalty": "l1", "alpha": 0.001},
    "elasticnet_stochastic": {"penalty": "elasticnet", "alpha": 0.01, "optimizer": "stochastic"},
}


@pytest.mark.parametrize("case", CASES)
def test_restores_the_best_epoch_of_the_fit_on_the_training_rows(case):
    params = CASES[case]
    X, y = overfitting_problem()
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=len(y))
    # max_iter is fixed: the schedule of a loss with kinks may depend on it
    reg = quiet_fit(early(**params, max_iter=200), X, y, sample_weight=weights)
    scores = reg.validation_scores_
    best = int(np.argmax(scores)) + 1
    assert scores.shape == (reg.n_iter_,)
    assert best < reg.n_iter_, "the case must overfit: the score peaks, then falls"
    assert reg.best_validation_score_ == scores.max()
    assert not reg.converged_  # the kept parameters are not those the bound judged

    # The same fit without early stopping on the training rows only runs the same path
    # (and its own stopping rules, which early stopping keeps, stop it no sooner).
    train, val = validation_split(len(y), FRACTION, random_state=0)
    ref_params = {**params, "early_stopping": False, "max_iter": 200}
    ref = quiet_fit(early(**ref_params), X[train], y[train], sample_weight=weights[train])
    assert ref.n_iter_ >= reg.n_iter_
    path = slice(0, reg.n_iter_ + 1)
    np.testing.assert_allclose(reg.coef_path_, ref.coef_path_[path], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(reg.intercept_path_, ref.intercept_path_[path], rtol=1e-12)

    # ... whose best epoch by scikit-learn's weighted R^2 on the held-out rows is kept.
    expected = [
        r2_score(y[val], X[val] @ coef + intercept, sample_weight=weights[val])
        for coef, intercept in zip(reg.coef_path_[1:], reg.intercept_path_[1:], strict=True)
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(reg.coef_, reg.coef_path_[best])
    assert reg.intercept_ == reg.intercept_path_[best]
    assert reg.score(X[val], y[val], sample_weight=weights[val]) == pytest.approx(
        reg.best_validation_score_, rel=1e-12
    )


@pytest.mark.parametrize("tol", [0.0, 1e-3])
@pytest.mark.parametrize("patience", [1, 3])
def test_stops_after_n_iter_no_change_epochs_without_improvement(tol, patience):
    X, y = overfitting_problem(seed=2)
    reg = quiet_fit(early(tol=tol, n_iter_no_change=patience), X, y)
    stop, best = reference_rule(reg.validation_scores_, tol, patience)
    assert reg.n_iter_ == stop
    np.testing.assert_array_equal(reg.coef_, reg.coef_path_[best])
    if tol == 0.0:  # every epoch after the peak is worse: the count never restarts
        assert reg.n_iter_ == best + patience


def test_a_fit_stopped_by_the_score_raises_no_convergence_warning():
    X, y = overfitting_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = early().fit(X, y)
    assert reg.n_iter_ < 10_000 and not reg.converged_


def test_max_iter_without_the_score_stopping_still_warns():
    X, y = overfitting_problem()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        reg = early(max_iter=3, tol=1e-12).fit(X, y)
    assert reg.n_iter_ == 3


def test_tol_none_never_stops_by_the_score_but_keeps_the_best_epoch():
    X, y = overfitting_problem()
    reg = early(tol=None, max_iter=40).fit(X, y)
    scores = reg.validation_scores_
    assert reg.n_iter_ == 40
    assert np.argmax(scores) + 1 < 40  # scores fell, and the fit went on
    np.testing.assert_array_equal(reg.coef_, reg.coef_path_[np.argmax(scores) + 1])


def test_a_fit_that_converges_first_equals_the_plain_fit_on_the_training_rows():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 3) * [1.0, 10.0, 0.1] + 5.0
    y = X @ [1.0, -0.2, 3.0] + 2.0  # no noise: the score rises up to the exact fit
    # a patience the score never runs out of: the error bound stops the fit
    reg = GradientDescentRegressor(
        early_stopping=True, n_iter_no_change=10_000, random_state=3
    ).fit(X, y)
    train, _ = validation_split(400, 0.1, random_state=3)
    ref = GradientDescentRegressor().fit(X[train], y[train])
    assert reg.converged_ and reg.n_iter_ == ref.n_iter_
    assert np.argmax(reg.validation_scores_) + 1 == reg.n_iter_
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-10)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-10)


def test_reproducible_with_a_seed_and_different_with_another():
    X, y = overfitting_problem()
    params = {"optimizer": "minibatch", "batch_size": 8, "record_path": False}
    a = quiet_fit(early(**params), X, y)
    b = quiet_fit(early(**params), X, y)
    for name in ("coef_", "intercept_", "n_iter_", "validation_scores_", "best_validation_score_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = quiet_fit(early(**params, random_state=1), X, y)
    assert not np.array_equal(a.validation_scores_[:3], c.validation_scores_[:3])


def test_the_split_is_sklearn_shuffle_split():
    train, val = validation_split(50, 0.15, random_state=4)
    ref_train, ref_val = next(ShuffleSplit(test_size=0.15, random_state=4).split(np.zeros(50)))
    np.testing.assert_array_equal(train, np.sort(ref_train))
    np.testing.assert_array_equal(val, np.sort(ref_val))


def test_without_shuffle_the_training_rows_keep_their_order():
    X, y = overfitting_problem()
    params = {"optimizer": "stochastic", "shuffle": False, "max_iter": 4, "tol": None}
    reg = early(**params).fit(X, y)
    train, _ = validation_split(len(y), FRACTION, random_state=0)
    assert np.all(np.diff(train) > 0)
    ref = early(**params, early_stopping=False).fit(X[train], y[train])
    np.testing.assert_allclose(reg.coef_path_, ref.coef_path_, rtol=1e-12, atol=1e-14)


def test_hold_out_splits_rows_targets_and_weights_along():
    X, Y = overfitting_problem(n=20, d=3, k=2)
    weights = np.arange(1.0, 21.0)
    problem = Problem(sp.csr_matrix(X), Y, weights, False, X.dtype, None, None)
    (X_train, y_train, w_train), held = hold_out(problem, 0.25, random_state=0)
    train, val = validation_split(20, 0.25, random_state=0)
    np.testing.assert_array_equal(X_train.toarray(), X[train])
    np.testing.assert_array_equal(y_train, Y[train])
    np.testing.assert_array_equal(w_train, weights[train])
    np.testing.assert_array_equal(held.X.toarray(), X[val])
    np.testing.assert_array_equal(held.Y, Y[val])
    np.testing.assert_array_equal(held.weights, weights[val])


@pytest.mark.parametrize("weighted", [False, True])
def test_r2_is_sklearn_r2_score(weighted):
    rng = np.random.RandomState(0)
    Y = rng.randn(12, 3)
    Y[:, 2] = 1.5  # a constant target: r2_score's force_finite convention
    pred = Y + 0.3 * rng.randn(12, 3)
    weights = rng.uniform(0.1, 2.0, size=12) if weighted else None
    for p in (pred, Y, np.where(np.arange(3) == 2, 1.5, pred)):
        assert r2(Y, p, weights) == pytest.approx(r2_score(Y, p, sample_weight=weights), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert math.isnan(r2_score(Y[:1], pred[:1]))
    assert math.isnan(r2(Y[:1], pred[:1]))


def test_next_patience_is_the_replayed_rule():
    rng = np.random.RandomState(0)
    scores = np.cumsum(rng.randn(200) * 0.01) + 0.5
    for tol in (0.0, 0.002, 0.01):
        for patience in (1, 4):
            state, stop = Patience(), None
            for epoch, score in enumerate(scores, start=1):
                state = next_patience(state, score, epoch, tol)
                if state.no_improvement >= patience:
                    stop = epoch
                    break
            expected_stop, expected_best = reference_rule(scores, tol, patience)
            assert (stop, state.best_epoch) == (expected_stop, expected_best)


def test_multi_output_targets():
    X, Y = overfitting_problem(k=2)
    reg = quiet_fit(early(), X, Y)
    _, val = validation_split(len(Y), FRACTION, random_state=0)
    best = int(np.argmax(reg.validation_scores_)) + 1
    assert reg.coef_.shape == (2, X.shape[1]) and reg.intercept_.shape == (2,)
    np.testing.assert_array_equal(reg.coef_, reg.coef_path_[best])
    assert reg.score(X[val], Y[val]) == pytest.approx(reg.best_validation_score_, rel=1e-12)


def test_sparse_rows_are_held_out_as_the_dense_ones():
    X, y = overfitting_problem()
    X[np.abs(X) < 0.5] = 0.0
    dense = quiet_fit(early(), X, y)
    sparse = quiet_fit(early(), sp.csr_matrix(X), y)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sparse.validation_scores_, dense.validation_scores_, rtol=1e-10)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


def test_float32_keeps_its_dtype():
    X, y = overfitting_problem()
    reg = quiet_fit(early(), X.astype(np.float32), y.astype(np.float32))
    assert reg.coef_.dtype == np.float32
    best = int(np.argmax(reg.validation_scores_)) + 1
    np.testing.assert_array_equal(reg.coef_, reg.coef_path_[best].astype(np.float32))


def test_feature_names_of_a_dataframe_are_kept():
    pd = pytest.importorskip("pandas")
    X, y = overfitting_problem()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    reg = quiet_fit(early(), frame, y)
    np.testing.assert_array_equal(reg.feature_names_in_, frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X does not have valid feature names"
        reg.predict(frame)


def test_attributes_exist_only_with_early_stopping():
    X, y = overfitting_problem()
    plain = GradientDescentRegressor().fit(X, y)
    assert not hasattr(plain, "validation_scores_")
    assert not hasattr(plain, "best_validation_score_")
    reg = quiet_fit(early(), X, y)
    assert hasattr(reg, "validation_scores_")
    reg.set_params(early_stopping=False).fit(X, y)
    assert not hasattr(reg, "validation_scores_")
    assert not hasattr(reg, "best_validation_score_")


def test_partial_fit_ignores_early_stopping():
    X, y = overfitting_problem()
    a = early(optimizer="stochastic").partial_fit(X, y)
    b = early(optimizer="stochastic", early_stopping=False).partial_fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not hasattr(a, "validation_scores_")


def test_one_held_out_row_warns_once_and_never_stops_by_the_score():
    X, y = overfitting_problem(n=10, d=2)  # ceil(0.1 * 10) = 1 row held out
    with pytest.warns(UndefinedMetricWarning, match="less than two samples") as caught:
        reg = GradientDescentRegressor(early_stopping=True, random_state=0).fit(X, y)
    assert len([w for w in caught if w.category is UndefinedMetricWarning]) == 1
    assert np.all(np.isnan(reg.validation_scores_)) and math.isnan(reg.best_validation_score_)
    assert reg.converged_  # the error bound stopped the fit


@pytest.mark.parametrize(
    ("n", "fraction", "match"),
    [
        (1, 0.1, r"Splitting 1 samples .* led to an empty set \(0 and 1 samples\)"),
        (5, 0.9, r"Splitting 5 samples .* validation_fraction=0.9 led to an empty set"),
    ],
)
def test_a_split_with_an_empty_part_is_refused(n, fraction, match):
    X, y = np.arange(2.0 * n).reshape(n, 2), np.arange(float(n))
    reg = GradientDescentRegressor(early_stopping=True, validation_fraction=fraction)
    with pytest.raises(ValueError, match=match):
        reg.fit(X, y)


def test_all_zero_weights_in_the_validation_rows_are_refused():
    X, y = overfitting_problem(n=20, d=2)
    _, val = validation_split(20, 0.1, random_state=0)
    weights = np.ones(20)
    weights[val] = 0.0
    reg = GradientDescentRegressor(early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match="sample weights for validation set are all zero"):
        reg.fit(X, y, sample_weight=weights)


def test_a_failed_fit_leaves_the_estimator_as_it_was():
    X, y = overfitting_problem()
    reg = quiet_fit(early(), X, y)
    before = {k: np.copy(v) for k, v in vars(reg).items() if k.endswith("_")}
    reg.set_params(validation_fraction=0.99)
    with pytest.raises(ValueError, match="empty set"):
        reg.fit(X[:50], y[:50])
    after = {k: v for k, v in vars(reg).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value)


def test_fit_from_statistics_refuses_early_stopping():
    X, y = overfitting_problem()
    stats = SufficientStatistics().update(X, y)
    with pytest.raises(ValueError, match=r"early_stopping=True .* fit_from_statistics"):
        fit_from_statistics(GradientDescentRegressor(early_stopping=True), stats)


def test_a_dask_fit_refuses_early_stopping():
    da = pytest.importorskip("dask.array")
    X, y = overfitting_problem()
    reg = GradientDescentRegressor(early_stopping=True)
    with pytest.raises(ValueError, match=r"early_stopping=True .* Dask"):
        reg.fit(da.from_array(X, chunks=20), da.from_array(y, chunks=20))


def test_monitor_keeps_a_copy_of_the_first_best_epoch():
    X = np.array([[0.0], [1.0], [2.0]])
    Y = np.array([[1.0], [3.0], [5.0]])
    monitor = ValidationMonitor(HeldOut(X, Y, None, np.array([8.0])), 0.0, 5)
    coef, intercept = np.array([[2.0]]), np.array([1.0])
    assert not monitor(1, {"coef": coef, "intercept": intercept})
    coef[0, 0] = 0.0  # the loop may reuse its arrays: the monitor kept a copy
    assert not monitor(2, {"coef": np.array([[2.0]]), "intercept": np.array([1.0])})
    assert not monitor(3, {"coef": np.array([[1.0]]), "intercept": np.array([0.0])})
    assert monitor.patience == Patience(best=1.0, best_epoch=1, no_improvement=1)
    fitted = Fitted(np.array([1.0]), 0.0, 3, 3, True, None, None, None, None)
    restored = monitor.restore(fitted, attributes_maker(True, np.float64, True))
    assert restored.coef_.tolist() == [2.0] and restored.intercept_ == 1.0
    assert not restored.converged_ and restored.n_iter_ == 3


class EpochCounter:
    """A scikit-learn callback that counts epoch tasks; stops after ``stop_after`` if given."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.begun = self.ended = 0

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        self.begun += context.task_name == "epoch"

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name != "epoch":
            return False
        self.ended += 1
        return self.stop_after is not None and self.ended >= self.stop_after


@pytest.mark.skipif(not AVAILABLE, reason="needs sklearn.callback (>= 1.9)")
@pytest.mark.parametrize("stop_after", [None, 3])
def test_user_callbacks_see_every_epoch_the_score_sees(stop_after):
    X, y = overfitting_problem()
    counter = EpochCounter(stop_after)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # both stops are requested ones
        reg = early().set_callbacks(counter).fit(X, y)
    assert reg.n_iter_ == len(reg.validation_scores_)
    if stop_after is None:  # the score stopped the fit; the epoch begun after it is closed
        assert counter.begun == counter.ended == reg.n_iter_ + 1
    else:
        assert reg.n_iter_ == counter.ended == counter.begun == stop_after


def test_verbose_prints_the_validation_score(capsys):
    X, y = overfitting_problem()
    reg = early(verbose=1).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if "validation" in line]
    assert len(lines) == reg.n_iter_
    assert lines[0] == f"Epoch 1, validation score {reg.validation_scores_[0]:.6g}"
