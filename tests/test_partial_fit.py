"""partial_fit: one epoch per call, state carried across calls, checked against NumPy loops."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
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


# -- a stream cannot run away (issue 13, item 1) ---------------------------------------------
def _issue_stream(first_spread=1.0):
    """The issue's stream: 2 rows, then 500-row chunks of unscaled features.

    ``first_spread`` shrinks the spread of the 2 first rows about their mean, so
    the first chunk shows even less of the curvature to come.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 5)) * 10
    X[:2] = X[:2].mean(axis=0) + first_spread * (X[:2] - X[:2].mean(axis=0))
    y = X @ [1.0, 2.0, 3.0, 4.0, 5.0] + 7.0
    chunks = [slice(0, 2)] + [slice(s, s + 500) for s in range(2, 5000, 500)] * 2
    return X, y, chunks


def _half_mse(reg, X, y):
    """The chunk objective of the stream's model (the intercept learned: the plain MSE / 2)."""
    return 0.5 * float(np.mean((y - reg.predict(X)) ** 2))


@pytest.mark.parametrize("first_spread", [1.0, 0.2])
@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_stream_lowers_auto_step_on_more_curvature_and_matches_sgdregressor(
    optimizer, first_spread
):
    # On the committed code: batch R^2 = -8e11 (spread 1) and -3e74 (spread 0.2) without
    # a word; stochastic and mini-batch raise "learning rate is too large" (spread 0.2).
    X, y, chunks = _issue_stream(first_spread)
    reg = GradientDescentRegressor(optimizer=optimizer, random_state=0)
    sgd = SGDRegressor(random_state=0)
    for rows in chunks:
        reg.partial_fit(X[rows], y[rows])
        sgd.partial_fit(X[rows], y[rows])
        assert np.isfinite(reg.loss_curve_[-1])
    first_step = GradientDescentRegressor(optimizer=optimizer).partial_fit(X[:2], y[:2])
    assert sgd.score(X, y) > 1 - 1e-6  # the same stream, scikit-learn's SGD
    assert reg.score(X, y) > 1 - 1e-4
    assert reg.learning_rate_.eta0 <= first_step.learning_rate_.eta0
    if not (optimizer == "minibatch" and first_spread == 1.0):  # there 1/L(2 rows) is stable
        assert reg.learning_rate_.eta0 < first_step.learning_rate_.eta0 / 2


def test_stochastic_auto_step_is_the_smallest_chunk_step_seen():
    X, y, chunks = _issue_stream(0.2)
    reg = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    steps = []
    for rows in chunks[:4]:
        reg.partial_fit(X[rows], y[rows])
        Xc = X[rows] - reg._partial_fit_state.x_offset  # centred on the first chunk
        L_max = np.max(np.einsum("ij,ij->i", Xc, Xc) + 1.0)  # +1: the learned intercept
        steps.append(1.0 / L_max)
        assert reg.learning_rate_.eta0 == pytest.approx(min(steps), rel=1e-10)
        assert reg.learning_rate_.t0 == 2  # the decay keeps the first chunk's time scale
    assert min(steps) < steps[0] / 10


def test_batch_auto_step_lowered_to_the_chunk_that_raised_its_objective():
    X, y, chunks = _issue_stream(0.2)
    reg = GradientDescentRegressor().partial_fit(X[:2], y[:2])
    first = reg.learning_rate_.eta0
    rows = chunks[1]
    before = _half_mse(reg, X[rows], y[rows])
    reg.partial_fit(X[rows], y[rows])
    offset = reg._partial_fit_state.x_offset
    assert reg.learning_rate_.eta0 == pytest.approx(
        1.0 / _centred_hessian_top(X[rows], offset), rel=1e-8
    )
    assert reg.learning_rate_.eta0 < first / 3
    # the call was run again with the lowered step: its objective went down
    assert reg.loss_curve_[-1] < before
    assert reg.loss_curve_[-1] == pytest.approx(_half_mse(reg, X[rows], y[rows]), rel=1e-10)
    assert (reg.n_iter_, reg.t_) == (2, 2)


@pytest.mark.parametrize("optimizer", ["batch", "minibatch"])
def test_auto_stream_of_unlike_chunks_never_raises_a_chunk_objective_much(optimizer):
    rng = np.random.default_rng(3)
    X, y = _problem(n=3000, d=4, seed=3)
    reg = GradientDescentRegressor(optimizer=optimizer, batch_size=8, random_state=0)
    sizes, scales = rng.choice([2, 5, 40, 300], 80), rng.choice([0.1, 1, 3], 80)
    for size, scale in zip(sizes, scales, strict=True):
        rows = rng.integers(0, 3000, size=size)
        Xs, ys = scale * X[rows], scale * y[rows]
        before = _half_mse(reg, Xs, ys) if hasattr(reg, "coef_") else np.inf
        reg.partial_fit(Xs, ys)
        if optimizer == "batch":  # a stable full-batch step never raises it
            assert _half_mse(reg, Xs, ys) <= before * (1 + 1e-8) + 1e-12
    assert reg.score(X, y) > 0.9


@pytest.mark.parametrize(
    "optimizer, eta_times_L", [("batch", 3.5), ("minibatch", 2.3)], ids=["batch", "minibatch"]
)
def test_stream_diverging_across_calls_raises_and_keeps_the_last_state(optimizer, eta_times_L):
    # Each call grows the loss a few times, which each call's own test (against its
    # own start) lets through: on the committed code R^2 reaches -1e38 / -1e113 in 60
    # calls without a word.
    X, y, chunks = _issue_stream(1.0)
    Z = np.c_[X[2:502] - X[2:502].mean(axis=0), np.ones(500)]
    eta0 = eta_times_L / np.linalg.eigvalsh(Z.T @ Z / 500)[-1]
    reg = GradientDescentRegressor(
        optimizer=optimizer, learning_rate="constant", eta0=eta0, random_state=0
    )
    with pytest.raises(ValueError, match="partial_fit diverged at call") as error:
        for call in range(60):
            rows = chunks[1 + call % 10]
            kept = pickle.dumps(reg)
            reg.partial_fit(X[rows], y[rows])
    assert call < 10
    assert "largest stable step size" in str(error.value)
    assert pickle.dumps(reg) == kept  # the state from before the failing call
    assert reg.score(X, y) > -100  # bounded by 10x the loss of the mean, not exploded
    # a smaller step continues the same stream
    reg.set_params(eta0=eta0 / 10).partial_fit(X[rows], y[rows])
    assert reg.n_iter_ == call + 1


def test_stream_divergence_test_lets_a_chunk_unlike_the_first_start_high():
    # A chunk where the model is far worse than ever (the relation changed) is no
    # divergence as long as the call brings its objective down.
    X, y = _problem(n=400, d=3)
    reg = GradientDescentRegressor(learning_rate="constant", eta0=0.05)
    for _ in range(30):
        reg.partial_fit(X[:200], y[:200])
    shifted = -20.0 * y[200:]
    assert _half_mse(reg, X[200:], shifted) > 1e3 * reg.loss_curve_.min()
    for _ in range(5):
        reg.partial_fit(X[200:], shifted)
    assert reg.loss_curve_[-1] < reg.loss_curve_[-5]


def test_one_row_chunks_get_their_own_per_sample_step():
    # resolve_schedule takes a one-row objective for a full batch and gives it a step
    # of 1.0; without an intercept one row of norm 10 then overshoots by 100x.
    reg = GradientDescentRegressor(optimizer="stochastic", fit_intercept=False)
    reg.partial_fit([[10.0]], [1.0])
    assert reg.learning_rate_.eta0 == pytest.approx(0.01)
    np.testing.assert_allclose(reg.coef_, [0.1])


# -- set_params between calls (issue 13, item 3) ---------------------------------------------
def _reference_calls(calls, fit_intercept=True):
    """Plain updates, one call after another, each with its own settings.

    ``calls`` holds ``(X, Y, sampling, batch, eta, alpha)``, ``eta`` a function of
    the stream's update count ``t = 1, 2, ...``; offsets from the first call.
    """
    X0, Y0 = calls[0][0], calls[0][1]
    m = X0.mean(axis=0) if fit_intercept else np.zeros(X0.shape[1])
    my = Y0.mean(axis=0) if fit_intercept else np.zeros(Y0.shape[1])
    w, b = np.zeros((X0.shape[1], Y0.shape[1])), np.zeros(Y0.shape[1])
    t = 0
    for X, Y, sampling, batch, eta, alpha in calls:
        Xc, Yc = X - m, Y - my
        size = len(X) if sampling == "batch" else batch
        for start in range(0, len(X), size):
            rows = slice(start, start + size)
            r = Xc[rows] @ w + b - Yc[rows]
            t += 1
            grad_w = Xc[rows].T @ r / len(r) + alpha * w
            grad_b = r.mean(axis=0) if fit_intercept else 0.0
            w, b = w - eta(t) * grad_w, b - eta(t) * grad_b
    return w, my - m @ w + b


#: (parameter, value from the start, value set before the third call) and the
#: settings of the reference stream before and after.
APPLIED_BETWEEN_CALLS = {
    "eta0": (
        {"eta0": 0.05},
        {"eta0": 0.01},
        ("batch", None, Constant(0.05), 0.0),
        ("batch", None, Constant(0.01), 0.0),
    ),
    "learning_rate": (
        {"learning_rate": "constant", "eta0": 0.05},
        {"learning_rate": InverseSqrt(0.2, t0=3.0)},
        ("batch", None, Constant(0.05), 0.0),
        ("batch", None, InverseSqrt(0.2, t0=3.0), 0.0),
    ),
    "optimizer": (
        {"optimizer": "batch"},
        {"optimizer": optimizers.GradientDescent(sampling="minibatch", batch_size=7)},
        ("batch", None, Constant(0.05), 0.0),
        ("minibatch", 7, Constant(0.05), 0.0),
    ),
    "alpha": (
        {"alpha": 0.0},
        {"alpha": 0.3},
        ("batch", None, Constant(0.05), 0.0),
        ("batch", None, Constant(0.05), 0.3),
    ),
    "batch_size": (
        {"optimizer": "minibatch", "batch_size": 7},
        {"batch_size": 11},
        ("minibatch", 7, Constant(0.05), 0.0),
        ("minibatch", 11, Constant(0.05), 0.0),
    ),
}


@pytest.mark.parametrize("name", list(APPLIED_BETWEEN_CALLS))
def test_set_params_between_calls_applies_at_the_next_call(name):
    # On the committed code optimizer, learning_rate and eta0 were silently ignored.
    start, change, before, after = APPLIED_BETWEEN_CALLS[name]
    X, y = _problem(n=90, d=3, k=2)
    parts = [slice(0, 40), slice(40, 65), slice(65, 90), slice(0, 40)]
    params = {"learning_rate": "constant", "eta0": 0.05, "shuffle": False, **start}
    reg = GradientDescentRegressor(**params)
    for rows in parts[:2]:
        reg.partial_fit(X[rows], y[rows])
    reg.set_params(**change)
    for rows in parts[2:]:
        reg.partial_fit(X[rows], y[rows])
    settings = [before, before, after, after]
    calls = [
        (X[rows], y[rows], sampling, batch, eta, alpha)
        for rows, (sampling, batch, eta, alpha) in zip(parts, settings, strict=True)
    ]
    w, b = _reference_calls(calls)
    np.testing.assert_allclose(reg.coef_, w.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reg.intercept_, b, rtol=1e-10, atol=1e-12)
    updates = [
        1 if sampling == "batch" else int(np.ceil((rows.stop - rows.start) / batch))
        for rows, (sampling, batch, *_) in zip(parts, settings, strict=True)
    ]
    assert (reg.n_iter_, reg.t_) == (4, sum(updates))


def test_set_learning_rate_auto_mid_stream_is_resolved_on_the_next_chunk():
    X, y = _problem(n=100, d=3)
    reg = GradientDescentRegressor(learning_rate="constant", eta0=0.001)
    reg.partial_fit(X[:50], y[:50])
    reg.set_params(learning_rate="auto").partial_fit(X[50:], y[50:])
    L = _centred_hessian_top(X[50:], reg._partial_fit_state.x_offset)
    assert isinstance(reg.learning_rate_, Constant)
    assert reg.learning_rate_.eta0 == pytest.approx(1.0 / L, rel=1e-8)


def test_set_optimizer_mid_stream_starts_from_the_current_model_with_a_fresh_state():
    X, y = _problem(n=200, d=3)
    params = {"learning_rate": "constant", "eta0": 0.02}
    reg = GradientDescentRegressor(optimizer=optimizers.Momentum(momentum=0.5), **params)
    for _ in range(10):
        reg.partial_fit(X, y)
    plain = pickle.loads(pickle.dumps(reg))
    plain.set_params(optimizer="batch")
    momentum = optimizers.Momentum(momentum=0.9)
    reg.set_params(optimizer=momentum)
    for est in (reg, plain):
        est.partial_fit(X, y)
    assert isinstance(reg.optimizer_, optimizers.Momentum) and reg.optimizer_.momentum == 0.9
    assert reg.optimizer_ is not momentum  # a clone: the parameter is never modified
    # From the current model with a zero velocity, the first momentum step is a plain one
    # (the velocity built up with momentum 0.5 is dropped).
    np.testing.assert_array_equal(reg.coef_, plain.coef_)
    assert reg.intercept_ == plain.intercept_
    for est in (reg, plain):
        est.partial_fit(X, y)
    assert not np.allclose(reg.coef_, plain.coef_, rtol=1e-9)  # now the velocity counts
    # A nested parameter is a change too.
    reg.set_params(optimizer__momentum=0.0)
    plain.set_params(optimizer=optimizers.GradientDescent())
    for est in (reg, plain):
        est.partial_fit(X, y)
    assert reg.optimizer_.momentum == 0.0
    assert (reg.n_iter_, reg.t_) == (13, 13)


@pytest.mark.parametrize("start", [True, False])
def test_set_fit_intercept_mid_stream_raises_and_keeps_the_model(start):
    # On the committed code True -> False threw the learned intercept away (MSE 8e-30
    # -> 1e4) without a word.
    X, y = _problem(n=120, d=3, shift=5.0)
    y = y + 100.0
    reg = GradientDescentRegressor(fit_intercept=start)
    for _ in range(20):
        reg.partial_fit(X, y)
    before = pickle.dumps(reg)
    prediction = reg.predict(X)
    reg.set_params(fit_intercept=not start)
    with pytest.raises(
        ValueError, match=r"fit_intercept was set to .* start a new stream: call fit"
    ):
        reg.partial_fit(X, y)
    reg.set_params(fit_intercept=start)
    assert pickle.dumps(reg) == before
    np.testing.assert_array_equal(reg.predict(X), prediction)
    reg.partial_fit(X, y)  # set back, the stream goes on
    assert reg.n_iter_ == 21
    # a new stream on a clone, with the new setting, is what the message asks for
    fresh = clone(reg).set_params(fit_intercept=not start).partial_fit(X, y)
    assert fresh.n_iter_ == 1


def test_set_random_state_mid_stream_reseeds_the_shuffling():
    X, y = _problem(n=60, d=3)
    changed = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    seeded = GradientDescentRegressor(optimizer="stochastic", random_state=1)
    kept = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    for est in (changed, seeded, kept):
        est.partial_fit(X[:1], y[:1])  # one row: the same whatever the order
    changed.set_params(random_state=1)
    for est in (changed, seeded, kept):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(changed.coef_, seeded.coef_)
    assert not np.array_equal(changed.coef_, kept.coef_)


def test_set_shuffle_mid_stream_applies():
    X, y = _problem(n=60, d=3)
    changed = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    ordered = GradientDescentRegressor(optimizer="stochastic", random_state=0, shuffle=False)
    for est in (changed, ordered):
        est.partial_fit(X[:1], y[:1])
    changed.set_params(shuffle=False)
    for est in (changed, ordered):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(changed.coef_, ordered.coef_)


@pytest.mark.parametrize(
    "change", [{"max_iter": 3}, {"tol": None}, {"tol": 1e-2}, {"warm_start": True}]
)
def test_parameters_partial_fit_does_not_use_change_nothing(change):
    X, y = _problem(n=80, d=3)
    changed = GradientDescentRegressor(optimizer="minibatch", random_state=0)
    unchanged = GradientDescentRegressor(optimizer="minibatch", random_state=0)
    for est in (changed, unchanged):
        est.partial_fit(X[:40], y[:40])
    changed.set_params(**change)
    for est in (changed, unchanged):
        est.partial_fit(X[40:], y[40:]).partial_fit(X[:40], y[:40])
    np.testing.assert_array_equal(changed.coef_, unchanged.coef_)
    assert changed.converged_ is unchanged.converged_ is False


def test_set_verbose_and_record_path_mid_stream_apply(capsys):
    X, y = _problem(n=60, d=3)
    reg = GradientDescentRegressor()
    reg.partial_fit(X[:30], y[:30])
    assert capsys.readouterr().out == "" and not hasattr(reg, "coef_path_")
    reg.set_params(verbose=1, record_path=True).partial_fit(X[30:], y[30:])
    assert capsys.readouterr().out.count("Epoch") == 1
    assert reg.coef_path_.shape == (2, 3)  # the path starts at the call that set it
    reg.partial_fit(X[:30], y[:30])
    assert reg.coef_path_.shape == (3, 3)
    np.testing.assert_array_equal(reg.coef_path_[-1], reg.coef_)


def test_set_loss_and_penalty_mid_stream_apply_at_the_next_call():
    # one full-batch step of the Huber loss, then the l1 soft-threshold, written out here
    X, y = _problem(n=90, d=3)
    reg = GradientDescentRegressor(learning_rate="constant", eta0=0.05, shuffle=False)
    reg.partial_fit(X[:45], y[:45])
    x_off, y_off = X[:45].mean(axis=0), y[:45].mean()
    w = reg.coef_.copy()
    b = reg.intercept_ - y_off + x_off @ w  # the stream's centred intercept
    reg.set_params(loss="huber", epsilon=0.5, penalty="l1", alpha=0.2)
    reg.partial_fit(X[45:], y[45:])
    Xc, yc = X[45:] - x_off, y[45:] - y_off
    psi = np.clip(Xc @ w + b - yc, -0.5, 0.5)
    w = w - 0.05 * (Xc.T @ psi) / 45
    b = b - 0.05 * psi.mean()
    w = np.sign(w) * np.maximum(np.abs(w) - 0.05 * 0.2, 0.0)
    np.testing.assert_allclose(reg.coef_, w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(reg.intercept_, b + y_off - x_off @ w, rtol=1e-12)


def test_early_stopping_parameters_do_not_change_a_stream():
    # like SGDRegressor.partial_fit: no validation split is held out of a chunk
    X, y = _problem(n=90, d=3)
    plain = GradientDescentRegressor(optimizer="minibatch", random_state=0)
    early = GradientDescentRegressor(
        optimizer="minibatch", random_state=0, early_stopping=True, validation_fraction=0.5,
        n_iter_no_change=1,
    )  # fmt: skip
    for rows in _chunks(90, 30) * 3:
        plain.partial_fit(X[rows], y[rows])
        early.partial_fit(X[rows], y[rows])
    np.testing.assert_array_equal(plain.coef_, early.coef_)
    assert not hasattr(early, "validation_scores_")


def test_every_parameter_has_a_mid_stream_test():
    covered = set(APPLIED_BETWEEN_CALLS) | {
        "loss",
        "epsilon",
        "penalty",
        "l1_ratio",
        "early_stopping",
        "validation_fraction",
        "n_iter_no_change",
        "fit_intercept",
        "random_state",
        "shuffle",
        "max_iter",
        "tol",
        "warm_start",
        "verbose",
        "record_path",
    }
    assert covered == set(GradientDescentRegressor().get_params(deep=False))
