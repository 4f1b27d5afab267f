"""partial_fit: one epoch per call, state carried across calls, checked against NumPy loops."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_estimators_partial_fit_n_features,
    check_fit_score_takes_y,
    check_n_features_in_after_fitting,
    check_param_validation,
)

from gdreg import GradientDescentRegressor, normal_equation, optimizers
from gdreg.optimizers import Optimizer
from gdreg.schedules import Constant, InverseSqrt

CONFIGS = [
    {},
    {"optimizer": "stochastic"},
    {"optimizer": "minibatch", "batch_size": 8},
    {"optimizer": "batch", "learning_rate": "invsqrt", "eta0": 0.1},
]


def _problem(n=200, d=4, k=None, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d) + shift
    coef = rng.normal(size=(d,) if k is None else (d, k))
    y = X @ coef + 1.5 + 0.1 * rng.normal(size=(n,) if k is None else (n, k))
    return X, y


def _chunks(n, size):
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


# -- scikit-learn's partial_fit checks -----------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "params", CONFIGS, ids=lambda p: "-".join(map(str, p.values())) or "default"
)
@pytest.mark.parametrize(
    "check",
    [
        check_estimators_partial_fit_n_features,
        check_n_features_in_after_fitting,
        check_fit_score_takes_y,
        check_dataframe_column_names_consistency,
        check_param_validation,
    ],
    ids=lambda c: c.__name__,
)
def test_sklearn_partial_fit_checks(params, check):
    check("GradientDescentRegressor", GradientDescentRegressor(**params))


# -- a tiny NumPy reference of the centred, intercept-learning updates -------------------------
def _reference_stream(chunks, *, sampling, eta, alpha=0.0, batch=1, fit_intercept=True):
    """Plain updates over chunks in order, offsets from the first chunk, b' learned.

    ``eta`` is a function of the update count ``t = 1, 2, ...``.
    """
    X0, Y0 = chunks[0]
    m = X0.mean(axis=0) if fit_intercept else np.zeros(X0.shape[1])
    my = Y0.mean(axis=0) if fit_intercept else np.zeros(Y0.shape[1])
    d, k = X0.shape[1], Y0.shape[1]
    w, b = np.zeros((d, k)), np.zeros(k)
    t = 0
    for X, Y in chunks:
        Xc, Yc = X - m, Y - my
        n = len(X)
        size = n if sampling == "batch" else batch
        for start in range(0, n, size):
            rows = slice(start, start + size)
            r = Xc[rows] @ w + b - Yc[rows]
            t += 1
            grad_w = Xc[rows].T @ r / len(r) + alpha * w
            grad_b = r.mean(axis=0) if fit_intercept else 0.0
            w, b = w - eta(t) * grad_w, b - eta(t) * grad_b
    return w, my - m @ w + b


@pytest.mark.parametrize(
    "sampling, batch, schedule",
    [
        ("batch", None, Constant(0.05)),
        ("stochastic", 1, Constant(0.01)),
        ("minibatch", 7, InverseSqrt(0.05)),
    ],
)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_numpy_reference_across_calls(sampling, batch, schedule, fit_intercept):
    X, y = _problem(n=90, d=3, k=2)
    parts = [slice(0, 40), slice(40, 65), slice(65, 90), slice(0, 40)]
    reg = GradientDescentRegressor(
        optimizer=sampling,
        batch_size=batch or 32,
        learning_rate=schedule,
        alpha=0.01,
        shuffle=False,
        fit_intercept=fit_intercept,
    )
    for rows in parts:
        reg.partial_fit(X[rows], y[rows])
    w, b = _reference_stream(
        [(X[rows], y[rows]) for rows in parts],
        sampling=sampling,
        eta=schedule,
        alpha=0.01,
        batch=batch or 1,
        fit_intercept=fit_intercept,
    )
    np.testing.assert_allclose(reg.coef_, w.T, rtol=1e-10, atol=1e-12)
    if fit_intercept:
        np.testing.assert_allclose(reg.intercept_, b, rtol=1e-10, atol=1e-12)
    else:
        assert reg.intercept_ == 0.0
    per_call = [
        1 if sampling == "batch" else int(np.ceil((r.stop - r.start) / (batch or 1))) for r in parts
    ]
    assert reg.n_iter_ == len(parts)
    assert reg.t_ == sum(per_call)
    assert reg.loss_curve_.shape == reg.change_curve_.shape == (len(parts),)


def test_numpy_path_matches_compiled_path(monkeypatch):
    X, y = _problem(n=120, d=5)
    fitted = []
    for enabled in (True, False):
        monkeypatch.setattr("gdreg._kernels.ENABLED", enabled)
        reg = GradientDescentRegressor(optimizer="minibatch", batch_size=5, random_state=3)
        for rows in _chunks(120, 50) * 3:
            reg.partial_fit(X[rows], y[rows])
        fitted.append(reg)
    np.testing.assert_allclose(fitted[0].coef_, fitted[1].coef_, rtol=1e-10)
    np.testing.assert_allclose(fitted[0].intercept_, fitted[1].intercept_, rtol=1e-10)


# -- the "auto" step is resolved on the first chunk --------------------------------------------
def _centred_hessian_top(X, offset):
    """Top eigenvalue of the (d+1)x(d+1) Hessian with a learned intercept."""
    Z = np.hstack([X - offset, np.ones((len(X), 1))])
    return np.linalg.eigvalsh(Z.T @ Z / len(X))[-1]


def test_auto_step_batch_from_first_chunk():
    X, y = _problem(n=100, d=3)
    reg = GradientDescentRegressor().partial_fit(X[:30], y[:30])
    L = _centred_hessian_top(X[:30], X[:30].mean(axis=0))
    assert isinstance(reg.learning_rate_, Constant)
    assert reg.learning_rate_.eta0 == pytest.approx(1.0 / L, rel=1e-8)
    reg.partial_fit(X[30:], y[30:])
    assert reg.learning_rate_.eta0 == pytest.approx(1.0 / L, rel=1e-8)


def test_auto_step_stochastic_from_first_chunk():
    X, y = _problem(n=100, d=3)
    reg = GradientDescentRegressor(optimizer="stochastic").partial_fit(X[:30], y[:30])
    Xc = X[:30] - X[:30].mean(axis=0)
    L_max = np.max(np.einsum("ij,ij->i", Xc, Xc) + 1.0)  # +1: the learned intercept
    assert isinstance(reg.learning_rate_, InverseSqrt)
    assert reg.learning_rate_.eta0 == pytest.approx(1.0 / L_max, rel=1e-10)
    assert reg.learning_rate_.t0 == 30


# -- convergence to the reference solutions ------------------------------------------------
def test_repeated_batch_calls_equal_fit():
    # On the whole data the first-chunk offsets are the exact means, so the learned
    # intercept row stays at zero and N calls are N epochs of fit.
    X, y = _problem(n=150, d=4)
    stream = GradientDescentRegressor(learning_rate="constant", eta0=0.05)
    for _ in range(50):
        stream.partial_fit(X, y)
    full = GradientDescentRegressor(learning_rate="constant", eta0=0.05, max_iter=50, tol=None)
    full.fit(X, y)
    np.testing.assert_allclose(stream.coef_, full.coef_, rtol=1e-10)
    np.testing.assert_allclose(stream.intercept_, full.intercept_, rtol=1e-10)
    np.testing.assert_allclose(stream.loss_curve_, full.loss_curve_, rtol=1e-10)
    assert stream.n_iter_ == full.n_iter_ == 50 and stream.t_ == full.t_ == 50


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_chunked_epochs_approach_ridge(optimizer):
    X, y = _problem(n=400, d=3, seed=1)
    alpha = 0.01
    reg = GradientDescentRegressor(optimizer=optimizer, alpha=alpha, random_state=0)
    epochs = 100 if optimizer == "batch" else 40
    for _ in range(epochs):
        for rows in _chunks(400, 100):
            reg.partial_fit(X[rows], y[rows])
    ridge = Ridge(alpha=alpha * len(X)).fit(X, y)
    np.testing.assert_allclose(reg.coef_, ridge.coef_, rtol=0, atol=1e-2)
    assert reg.intercept_ == pytest.approx(ridge.intercept_, abs=1e-2)


# -- state handling --------------------------------------------------------------------------
class HeavyBall(Optimizer):
    """Momentum kept in an array: checks that optimizer state survives across calls."""

    def __init__(self, sampling="batch", batch_size=None, beta=0.5):
        self.sampling = sampling
        self.batch_size = batch_size
        self.beta = beta

    def init(self, params):
        return np.zeros_like(params)

    def update(self, grad, state, params, step_size):
        velocity = self.beta * state - step_size * grad
        return velocity, velocity


def test_optimizer_state_carries_over():
    X, y = _problem(n=120, d=3)
    stream = GradientDescentRegressor(optimizer=HeavyBall(), learning_rate="constant", eta0=0.05)
    for _ in range(30):
        stream.partial_fit(X, y)
    full = GradientDescentRegressor(
        optimizer=HeavyBall(), learning_rate="constant", eta0=0.05, max_iter=30, tol=None
    ).fit(X, y)
    np.testing.assert_allclose(stream.coef_, full.coef_, rtol=1e-9)
    np.testing.assert_allclose(stream.intercept_, full.intercept_, rtol=1e-9)
    # Fresh state at every call would differ once momentum has built up.
    restarted = GradientDescentRegressor(optimizer=HeavyBall(), learning_rate="constant", eta0=0.05)
    for _ in range(30):
        restarted.partial_fit(X, y)
        restarted._partial_fit_state = restarted._partial_fit_state._replace(
            optimizer_state=np.zeros((4, 1))
        )
    assert not np.allclose(restarted.coef_, full.coef_, rtol=1e-6)


@pytest.mark.parametrize(
    "name", ["Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AveragedSGD"]
)
def test_shipped_optimizers_keep_state_across_calls(name):
    # Full batch on the whole data: N calls must be N epochs of fit, state and all.
    # Without an intercept both run the same updates on the same parameters. (With
    # one, partial_fit learns b' from a round-off-sized gradient, which Adam's
    # per-coordinate normalisation turns into steps of size eta: a real difference
    # between the two problems, not a loss of state.)
    optimizer = getattr(optimizers, name)(sampling="batch")
    X, y = _problem(n=120, d=3)
    params = {
        "optimizer": optimizer,
        "learning_rate": "constant",
        "eta0": 0.02,
        "fit_intercept": False,
    }
    stream = GradientDescentRegressor(**params)
    for _ in range(25):
        stream.partial_fit(X, y)
    full = GradientDescentRegressor(**params, max_iter=25, tol=None).fit(X, y)
    np.testing.assert_allclose(stream.coef_, full.coef_, rtol=1e-12)
    assert stream.t_ == full.t_ == 25


@pytest.mark.parametrize("name", ["Momentum", "AveragedSGD"])
def test_stochastic_optimizer_state_survives_a_failed_call(name):
    X, y = _problem(n=100, d=3)

    def make():
        optimizer = getattr(optimizers, name)(sampling="minibatch", batch_size=10)
        return GradientDescentRegressor(
            optimizer=optimizer, learning_rate="constant", eta0=0.01, random_state=0
        )

    reg, twin = make(), make()
    for est in (reg, twin):
        est.partial_fit(X[:50], y[:50])
    with pytest.raises(ValueError):
        reg.partial_fit(X[50:], y[50:] * np.nan)
    with pytest.raises(ValueError, match="diverged"):
        reg.partial_fit(1e8 * X[50:], y[50:])
    for est in (reg, twin):
        est.partial_fit(X[50:], y[50:]).partial_fit(X[:50], y[:50])
    np.testing.assert_array_equal(reg.coef_, twin.coef_)


def test_fit_ends_the_stream_and_partial_fit_continues_from_fit():
    X, y = _problem(n=200, d=3)
    reg = GradientDescentRegressor(tol=1e-10, max_iter=5000)
    reg.partial_fit(X[:50], y[:50]).partial_fit(X[50:], y[50:])
    reg.fit(X, y)
    assert not hasattr(reg, "_partial_fit_state")
    fitted_iter, fitted_t = reg.n_iter_, reg.t_
    lr = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.coef_, lr.coef_, rtol=1e-7)
    # One more full-gradient step at the optimum changes nothing; counters go on.
    reg.partial_fit(X, y)
    np.testing.assert_allclose(reg.coef_, lr.coef_, rtol=1e-7)
    assert reg.intercept_ == pytest.approx(lr.intercept_, rel=1e-7)
    assert (reg.n_iter_, reg.t_) == (fitted_iter + 1, fitted_t + 1)
    assert reg.loss_curve_.shape == (reg.n_iter_,)


def test_failed_call_leaves_state_unchanged():
    X, y = _problem(n=100, d=3)
    params = {"optimizer": "stochastic", "learning_rate": "constant", "eta0": 0.01}
    reg = GradientDescentRegressor(**params, random_state=0)
    twin = GradientDescentRegressor(**params, random_state=0)
    for est in (reg, twin):
        est.partial_fit(X[:50], y[:50])
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(reg).items()}
    with pytest.raises(ValueError, match="diverged"):
        reg.partial_fit(1e6 * X[50:], y[50:])
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[50:, :2], y[50:])
    with pytest.raises(ValueError, match="targets"):
        reg.partial_fit(X[50:], np.c_[y[50:], y[50:]])
    assert set(vars(reg)) == set(before)
    np.testing.assert_array_equal(reg.coef_, before["coef_"])
    assert (reg.t_, reg.n_iter_) == (before["t_"], before["n_iter_"])
    # ... and the stream goes on exactly as if nothing had happened.
    for est in (reg, twin):
        est.partial_fit(X[50:], y[50:])
    np.testing.assert_array_equal(reg.coef_, twin.coef_)
    assert reg.intercept_ == twin.intercept_


def test_pickle_mid_stream_continues_identically():
    X, y = _problem(n=120, d=3)
    reg = GradientDescentRegressor(optimizer="minibatch", batch_size=10, random_state=0)
    reg.partial_fit(X[:60], y[:60])
    copy = pickle.loads(pickle.dumps(reg))
    for est in (reg, copy):
        est.partial_fit(X[60:], y[60:]).partial_fit(X[:60], y[:60])
    np.testing.assert_array_equal(reg.coef_, copy.coef_)


def test_random_state_reproducible_and_shuffles_each_call():
    X, y = _problem(n=80, d=3)
    runs = []
    for _ in range(2):
        reg = GradientDescentRegressor(optimizer="stochastic", random_state=7)
        for _ in range(3):
            reg.partial_fit(X, y)
        runs.append(reg.coef_)
    np.testing.assert_array_equal(runs[0], runs[1])
    ordered = GradientDescentRegressor(optimizer="stochastic", shuffle=False)
    for _ in range(3):
        ordered.partial_fit(X, y)
    assert not np.allclose(ordered.coef_, runs[0], rtol=1e-8)


# -- data variants ---------------------------------------------------------------------------
def test_sample_weight_equals_repeated_rows_batch():
    X, y = _problem(n=40, d=3)
    w = np.ones(40)
    w[:10] = 2.0
    weighted = GradientDescentRegressor()
    repeated = GradientDescentRegressor()
    Xr, yr = np.vstack([X, X[:10]]), np.concatenate([y, y[:10]])
    for _ in range(5):
        weighted.partial_fit(X, y, sample_weight=w)
        repeated.partial_fit(Xr, yr)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-10)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, rel=1e-10)


def test_sparse_chunks_match_dense():
    X, y = _problem(n=100, d=5)
    X[X < 3.0] = 0.0
    dense = GradientDescentRegressor(optimizer="minibatch", batch_size=4, shuffle=False)
    sparse = GradientDescentRegressor(optimizer="minibatch", batch_size=4, shuffle=False)
    for rows in _chunks(100, 30) * 2:
        dense.partial_fit(X[rows], y[rows])
        sparse.partial_fit(sp.csr_matrix(X[rows]), y[rows])
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10)
    assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-10)


def test_float32_stream_stays_float32():
    X, y = _problem(n=60, d=3)
    reg = GradientDescentRegressor(optimizer="minibatch")
    reg.partial_fit(X[:30].astype(np.float32), y[:30].astype(np.float32))
    reg.partial_fit(X[30:], y[30:])  # a float64 chunk joins the float32 stream
    assert reg.coef_.dtype == np.float32
    assert reg._partial_fit_state.params.dtype == np.float32


def test_record_path_grows_with_calls():
    X, y = _problem(n=60, d=3, k=2)
    reg = GradientDescentRegressor(record_path=True)
    for rows in _chunks(60, 20):
        reg.partial_fit(X[rows], y[rows])
    assert reg.coef_path_.shape == (4, 2, 3)
    assert reg.intercept_path_.shape == (4, 2)
    np.testing.assert_array_equal(reg.coef_path_[0], 0.0)
    np.testing.assert_array_equal(reg.coef_path_[-1], reg.coef_)


def test_stream_reaches_normal_equation_with_weights_multi_target():
    X, y = _problem(n=300, d=3, k=2, seed=4)
    w = np.random.default_rng(4).uniform(0.2, 2.0, size=300)
    reg = GradientDescentRegressor()
    for _ in range(400):
        reg.partial_fit(X, y, sample_weight=w)
    coef, intercept = normal_equation(X, y, sample_weight=w)
    np.testing.assert_allclose(reg.coef_, coef, rtol=1e-6)
    np.testing.assert_allclose(reg.intercept_, intercept, rtol=1e-6)
