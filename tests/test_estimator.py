"""The estimator as a scikit-learn citizen: API, input types, errors, composition."""

import pickle
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import GradientDescent, Optimizer
from gdreg.schedules import Constant, InverseSqrt


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(80, 4)
    y = X @ [1.0, -1.0, 2.0, 0.0] + 0.5 + 0.1 * rng.randn(80)
    return X, y


def test_diabetes_in_a_scaling_pipeline_matches_linear_regression():
    X, y = load_diabetes(return_X_y=True)
    ref = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    # Condition number ~470: plain full-batch GD needs ~kappa*log(1/eps) steps to pin the
    # coefficients to 1e-6; the stochastic modes get the predictions right long before
    # they resolve the ill-conditioned direction (s1/s2 are strongly correlated), so they
    # are compared on R^2.
    batch = make_pipeline(
        StandardScaler(), GradientDescentRegressor(tol=1e-10, max_iter=20000)
    ).fit(X, y)
    coef, ref_coef = batch[-1].coef_, ref[-1].coef_
    assert np.linalg.norm(coef - ref_coef) / np.linalg.norm(ref_coef) < 1e-6
    for optimizer in ("minibatch", "stochastic"):
        pipe = make_pipeline(
            StandardScaler(),
            GradientDescentRegressor(optimizer=optimizer, random_state=0, tol=None, max_iter=300),
        ).fit(X, y)
        assert pipe.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-2)


def test_cross_val_score_and_grid_search(data):
    X, y = data
    scores = cross_val_score(GradientDescentRegressor(), X, y, cv=3)
    assert np.all(scores > 0.95)
    grid = GridSearchCV(
        GradientDescentRegressor(max_iter=50, tol=None, random_state=0),
        {
            "optimizer": ["batch", "stochastic", "minibatch"],
            "learning_rate": ["auto", "constant", "invsqrt"],
            "eta0": [0.01, 0.05],
            "batch_size": [8, 16],
            "alpha": [0.0, 0.01],
        },
        cv=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.95
    assert len(grid.cv_results_["params"]) == 3 * 3 * 2 * 2 * 2


def test_grid_search_reaches_nested_optimizer_and_schedule_parameters(data):
    X, y = data
    est = GradientDescentRegressor(
        optimizer=GradientDescent(sampling="minibatch"),
        learning_rate=InverseSqrt(0.05),
        random_state=0,
        tol=None,
        max_iter=30,
    )
    grid = GridSearchCV(
        est,
        {"optimizer__batch_size": [4, 16], "learning_rate__eta0": [0.01, 0.1]},
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["optimizer__batch_size"] in (4, 16)
    assert grid.best_estimator_.optimizer_.batch_size == grid.best_params_["optimizer__batch_size"]


def test_optimizer_and_schedule_repr_clone_pickle():
    opt = GradientDescent(sampling="minibatch", batch_size=7)
    assert repr(opt) == "GradientDescent(batch_size=7, sampling='minibatch')"
    assert repr(InverseSqrt(0.5)) == "InverseSqrt(eta0=0.5)"
    for obj in (opt, InverseSqrt(0.5, t0=3), Constant(0.2)):
        copy = pickle.loads(pickle.dumps(obj))
        assert copy.get_params() == obj.get_params()
        assert clone(obj).get_params() == obj.get_params()
    assert InverseSqrt(2.0)(4) == 1.0 and Constant(0.3)(10) == 0.3


def test_fit_never_modifies_the_optimizer_it_was_given(data):
    X, y = data
    opt = GradientDescent(sampling="stochastic")
    est = GradientDescentRegressor(optimizer=opt, max_iter=3, tol=None).fit(X, y)
    assert est.optimizer is opt and est.optimizer_ is not opt
    assert opt.get_params() == {"sampling": "stochastic", "batch_size": None}


def test_clone_pickle_and_determinism(data):
    X, y = data
    est = GradientDescentRegressor(optimizer="stochastic", random_state=3, max_iter=20, tol=None)
    first = clone(est).fit(X, y)
    second = clone(est).fit(X, y)
    np.testing.assert_array_equal(first.coef_, second.coef_)
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict(X), first.predict(X))
    other_seed = clone(est).set_params(random_state=4).fit(X, y)
    assert not np.array_equal(other_seed.coef_, first.coef_)


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_sparse_equals_dense(data, optimizer):
    X, y = data
    X = X.copy()
    X[X < 0.3] = 0.0
    params = dict(optimizer=optimizer, random_state=0, max_iter=40, tol=None)
    dense = GradientDescentRegressor(**params).fit(X, y)
    sparse = GradientDescentRegressor(**params).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-10)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-10)


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_float32_stays_float32(data, optimizer):
    X, y = data
    est = GradientDescentRegressor(optimizer=optimizer, random_state=0, max_iter=50, tol=None)
    est.fit(X.astype(np.float32), y.astype(np.float32))
    assert est.coef_.dtype == np.float32
    assert est.predict(X.astype(np.float32)).dtype == np.float32
    reference = clone(est).fit(X, y)
    np.testing.assert_allclose(est.coef_, reference.coef_, rtol=1e-3, atol=1e-4)


def test_multi_output_fits_every_target(data):
    X, y = data
    Y = np.column_stack([y, -2 * y + 1, X[:, 0]])
    est = GradientDescentRegressor(tol=1e-10).fit(X, Y)
    coef, intercept = normal_equation(X, Y)
    assert est.coef_.shape == (3, 4) and est.intercept_.shape == (3,)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(est.intercept_, intercept, rtol=1e-6, atol=1e-8)
    assert est.predict(X).shape == (80, 3)


def test_dataframe_feature_names(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = GradientDescentRegressor().fit(frame, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame.rename(columns={"a": "z"}))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"optimizer": "newton"}, "optimizer"),
        ({"learning_rate": "adaptive"}, "learning_rate"),
        ({"eta0": 0.0}, "eta0"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"alpha": -0.1}, "alpha"),
    ],
)
def test_invalid_parameters(data, params, message):
    X, y = data
    with pytest.raises(InvalidParameterError, match=message):
        GradientDescentRegressor(**params).fit(X, y)


def test_optimizer_with_unknown_sampling_is_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match="sampling"):
        GradientDescentRegressor(optimizer=GradientDescent(sampling="full")).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected_and_nothing_is_half_fitted(data, bad):
    X, y = data
    est = GradientDescentRegressor().fit(X, y)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}
    X_bad = X.copy()
    X_bad[3, 1] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        est.fit(X_bad, y)
    y_bad = y.copy()
    y_bad[0] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        est.fit(X, y_bad)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"n_features|features"):
        est.predict(X[:, :2])
    assert set(vars(est)) == set(before)
    for key, value in before.items():
        np.testing.assert_array_equal(vars(est)[key], value)


def test_fresh_estimator_failing_fit_stays_unfitted(data):
    X, y = data
    est = GradientDescentRegressor(learning_rate="constant", eta0=10.0)
    with pytest.raises(ValueError):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "n_features_in_")


def test_divergence_raises_with_the_largest_stable_step(data):
    X, y = data
    est = GradientDescentRegressor(learning_rate="constant", eta0=10.0)
    with pytest.raises(ValueError, match="learning rate is too large") as info:
        est.fit(X, y)
    stable = float(
        re.search(r"largest stable step size for this data is ([0-9.e+-]+)", str(info.value)).group(
            1
        )
    )
    centred = X - X.mean(axis=0)
    L = np.linalg.eigvalsh(centred.T @ centred / len(y))[-1]
    assert stable == pytest.approx(2.0 / L, rel=1e-3)
    # just below the bound converges, just above diverges
    GradientDescentRegressor(learning_rate="constant", eta0=0.95 * stable, max_iter=5000).fit(X, y)
    with pytest.raises(ValueError, match="too large"):
        GradientDescentRegressor(learning_rate="constant", eta0=1.05 * stable).fit(X, y)


@pytest.mark.parametrize("optimizer", ["stochastic", "minibatch"])
def test_stochastic_divergence_is_reported(data, optimizer):
    X, y = data
    with pytest.raises(ValueError, match="learning rate is too large"):
        GradientDescentRegressor(optimizer=optimizer, learning_rate="constant", eta0=50.0).fit(X, y)


def test_convergence_warning_and_tol_none(data):
    X, y = data
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GradientDescentRegressor(max_iter=2, learning_rate="constant").fit(X, y)
    est = GradientDescentRegressor(tol=None, max_iter=7).fit(X, y)
    assert est.n_iter_ == 7 and est.t_ == 7 and not est.converged_
    assert est.loss_curve_.shape == (7,)
    assert np.all(np.diff(est.loss_curve_) <= 1e-12)  # 1/L steps never increase J


def test_verbose_prints_one_line_per_epoch(data, capsys):
    X, y = data
    GradientDescentRegressor(verbose=1, tol=None, max_iter=4).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Epoch 1, objective")
    assert "error bound" in lines[0] and "step" in lines[0]


def test_warm_start_continues_from_previous_coef(data):
    X, y = data
    est = GradientDescentRegressor(warm_start=True, tol=None, max_iter=3, record_path=True)
    est.fit(X, y)
    first = est.coef_.copy()
    est.fit(X, y)
    np.testing.assert_allclose(est.coef_path_[0], first)
    cold = GradientDescentRegressor(tol=None, max_iter=6).fit(X, y)
    np.testing.assert_allclose(est.coef_, cold.coef_, rtol=1e-12)


def test_record_path_shapes_for_two_targets(data):
    X, y = data
    Y = np.column_stack([y, 2 * y])
    est = GradientDescentRegressor(record_path=True, tol=None, max_iter=5).fit(X, Y)
    assert est.coef_path_.shape == (6, 2, 4)
    assert est.intercept_path_.shape == (6, 2)
    assert not hasattr(GradientDescentRegressor().fit(X, y), "coef_path_")


def test_user_defined_optimizer_following_the_protocol(data):
    X, y = data

    class SignDescent(Optimizer):
        """Steps of fixed length in the direction of the gradient's sign."""

        def __init__(self, sampling="batch", batch_size=None, shrink=1.0):
            self.sampling = sampling
            self.batch_size = batch_size
            self.shrink = shrink

        def init(self, params):
            return 0

        def update(self, grad, state, params, step_size):
            return -self.shrink * step_size * np.sign(grad), state + 1

    est = GradientDescentRegressor(
        optimizer=SignDescent(), learning_rate="invsqrt", eta0=0.5, tol=None, max_iter=2000
    ).fit(X, y)
    coef, _ = normal_equation(X, y)
    np.testing.assert_allclose(est.coef_, coef, atol=0.05)
    grid = GridSearchCV(est.set_params(max_iter=20), {"optimizer__shrink": [0.5, 1.0]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["optimizer__shrink"] in (0.5, 1.0)

    class DuckTyped:
        """Not a subclass: only init/update (sampling defaults to full batch)."""

        def init(self, params):
            return None

        def update(self, grad, state, params, step_size):
            return -step_size * grad, state

    duck = GradientDescentRegressor(optimizer=DuckTyped(), tol=1e-10).fit(X, y)
    np.testing.assert_allclose(duck.coef_, coef, rtol=1e-6)


def test_alpha_is_ridge_times_weight_sum(data):
    from sklearn.linear_model import Ridge

    X, y = data
    weights = np.linspace(0.5, 1.5, len(y))
    est = GradientDescentRegressor(alpha=0.2, tol=1e-10).fit(X, y, sample_weight=weights)
    ridge = Ridge(alpha=0.2 * weights.sum()).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(est.coef_, ridge.coef_, rtol=1e-6)
    np.testing.assert_allclose(est.intercept_, ridge.intercept_, rtol=1e-6)


def test_bad_sample_weight(data):
    X, y = data
    with pytest.raises(ValueError, match="non-negative"):
        GradientDescentRegressor().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match=r"all zero|non-zero"):
        GradientDescentRegressor().fit(X, y, sample_weight=np.zeros(len(y)))
