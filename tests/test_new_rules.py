"""SVRG and AcceleratedGradient: compiled kernels against the NumPy path, rules against
hand-written loops, and the error bound against the exact solution."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _accuracy, _kernels
from gdreg._objective import LeastSquares
from gdreg.optimizers import SVRG, AcceleratedGradient


def _problem(n=120, d=5, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.geomspace(1e-2, 1e2, d) + rng.uniform(-3, 3, d)
    Y = X @ rng.normal(size=(d, k)) + 0.3 * rng.normal(size=(n, k))
    weights = rng.uniform(0.5, 2.0, n)
    return X, Y, weights


@pytest.mark.parametrize("layout", ["C", "F", "csr"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("scaled", [False, True])
def test_svrg_kernel_matches_the_numpy_path(layout, k, batch, scaled):
    X, Y, weights = _problem(k=k)
    if layout == "csr":
        X = X.copy()
        X[np.abs(X) < np.median(np.abs(X))] = 0.0
        X = sp.csr_matrix(X)
    elif layout == "F":
        X = np.asfortranarray(X)
    Xd = X.toarray() if sp.issparse(X) else X
    c = weights / weights.sum()
    objective = LeastSquares(
        X, Y, weights, alpha=0.05, x_offset=c @ Xd, y_offset=c @ Y, learn_intercept=False
    )
    if scaled:
        objective = objective.scaled(np.sqrt(c @ (Xd - c @ Xd) ** 2))
    rng = np.random.default_rng(1)
    theta = np.zeros((X.shape[1] + 1, k))
    theta[:-1] = rng.normal(size=(X.shape[1], k))
    anchor = theta + 0.1 * rng.normal(size=theta.shape)
    anchor[-1] = 0.0
    full = objective.value_and_gradient(anchor)[1]
    order = rng.permutation(X.shape[0]).astype(np.int64)
    steps = np.full(-(-X.shape[0] // batch), 1e-3)
    opt = SVRG(sampling="stochastic" if batch == 1 else "minibatch")
    state = opt.anchor(opt.init(theta), anchor, full)
    compiled, reference = theta.copy(), theta.copy()
    opt.compiled_epoch(objective.stochastic_data(), compiled, state, order, steps, batch)
    opt.numpy_epoch(objective, reference, state, order, steps, batch)
    np.testing.assert_allclose(compiled, reference, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(compiled, theta)


def test_svrg_is_refused_by_partial_fit():
    X, Y, _ = _problem()
    est = GradientDescentRegressor(optimizer=SVRG())
    with pytest.raises(ValueError, match="partial_fit cannot run SVRG"):
        est.partial_fit(X, Y[:, 0])
    assert not hasattr(est, "coef_")


def test_svrg_numpy_and_compiled_fits_agree(monkeypatch):
    X, Y, _ = _problem(n=300)
    fast = GradientDescentRegressor(optimizer="stochastic", random_state=0).fit(X, Y[:, 0])
    monkeypatch.setattr(_kernels, "ENABLED", False)
    slow = GradientDescentRegressor(optimizer="stochastic", random_state=0).fit(X, Y[:, 0])
    assert fast.converged_ and slow.converged_
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-6)


def test_accelerated_gradient_is_nesterov_with_gradient_restart():
    """The rule against Nesterov written with the gradient at the look-ahead point."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    H = A @ A.T + 0.1 * np.eye(6)
    q = rng.normal(size=(6, 1))
    step = 1.0 / np.linalg.eigvalsh(H)[-1]
    opt = AcceleratedGradient()
    params, state = np.zeros((6, 1)), opt.init(np.zeros((6, 1)))
    x_prev = x = np.zeros((6, 1))
    k = 0
    for _ in range(40):
        updates, state = opt.update(H @ params - q, state, params, step)
        params = params + updates
        # reference: y = x + beta (x - x_prev), x_next = y - step grad(y), restart uphill
        g = H @ x - q
        if _ > 0 and float(np.vdot(g, x - x_prev)) > 0:
            k = 0
        beta = k / (k + 3.0) if _ > 0 else 0.0
        y = x + beta * (x - x_prev)
        x_prev, x = x, y - step * (H @ y - q)
        k = k + 1 if _ > 0 else 1
        np.testing.assert_allclose(params, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_error_bound_holds_along_the_way(optimizer):
    """After any number of epochs the reported bound is at least the true error."""
    X, Y, _ = _problem(n=200, d=6)
    y = Y[:, 0]
    Xc = X - X.mean(0)
    exact = np.linalg.lstsq(Xc, y - y.mean(), rcond=None)[0]
    for epochs in (1, 3, 10):
        est = GradientDescentRegressor(optimizer=optimizer, max_iter=epochs, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        distance = np.linalg.norm((est.coef_ - exact) * X.std(0)) / y.std()
        assert distance <= est.change_curve_[-1] * (1 + 1e-8)


def test_certificate_reads_the_standardised_spectrum():
    X, Y, _ = _problem(n=200, d=4)
    c = np.full(200, 1 / 200)
    objective = LeastSquares(
        X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0), learn_intercept=False
    )
    cert = _accuracy.certificate(objective, np.array([np.var(Y)]))
    Z = (X - X.mean(0)) / X.std(0)
    eigenvalues = np.linalg.eigvalsh(Z.T @ (c[:, None] * Z))
    np.testing.assert_allclose(cert.column_scale, X.std(0), rtol=1e-10)
    assert cert.lipschitz == pytest.approx(eigenvalues[-1], rel=1e-10)
    assert cert.curvature == pytest.approx(eigenvalues[0], rel=1e-8)
    assert cert.null_dimension == 0


def test_duplicated_columns_reach_the_minimum_norm_solution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2)) * [1.0, 1e3]
    X = np.c_[x, x[:, 1]]  # a duplicated column: the minimiser is not unique
    y = x @ [2.0, 1e-3] + 0.1 * rng.normal(size=100)
    est = GradientDescentRegressor().fit(X, y)
    minimum_norm = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    assert est.converged_
    np.testing.assert_allclose(est.coef_ * X.std(0), minimum_norm * X.std(0), atol=1e-5)


def test_duplicated_column_in_large_units_gives_equal_halves():
    """The null direction is found in standardised units without amplifying round-off."""
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=200), rng.normal(size=200)
    X = np.c_[1e6 * x, 1e6 * x, z]
    y = 3 * x + 2 * z + 0.1 * rng.normal(size=200)
    est = GradientDescentRegressor().fit(X, y)
    assert est.converged_
    assert est.coef_[0] == pytest.approx(est.coef_[1], rel=1e-12)
    single = np.linalg.lstsq(
        np.c_[X[:, 0], z] - np.c_[X[:, 0], z].mean(0), y - y.mean(), rcond=None
    )[0]
    np.testing.assert_allclose(est.coef_, [single[0] / 2, single[0] / 2, single[1]], rtol=1e-6)


def test_large_float32_data_do_not_claim_what_float32_cannot_certify():
    rng = np.random.default_rng(0)
    n = 60_000  # 300,000 entries: above the size fitted in float64
    latent = rng.normal(size=(n, 1))
    X = (latent + 1e-2 * rng.normal(size=(n, 5))) * 10.0 ** np.arange(5)
    y = X @ (1 / 10.0 ** np.arange(5)) + rng.normal(size=n)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    with pytest.warns(ConvergenceWarning, match="float32 gradients can certify"):
        est = GradientDescentRegressor().fit(X32, y32)
    assert not est.converged_ and est.n_iter_ < 10_000  # stopped at the floor
    assert est.change_curve_[-1] > est.tol
    exact = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    error = np.max(np.abs(est.coef_ - exact) * X.std(0)) / y.std()
    assert error <= est.change_curve_[-1]
    assert GradientDescentRegressor().fit(X, y).converged_  # float64: tol is reached


def test_full_batch_averaged_loss_curve_is_the_objective_of_the_average():
    from gdreg.optimizers import AveragedSGD

    X, Y, _ = _problem(n=80, d=3)
    y = Y[:, 0]
    est = GradientDescentRegressor(
        optimizer=AveragedSGD(sampling="batch"), max_iter=4, tol=None, record_path=True
    ).fit(X, y)
    for loss, coef, intercept in zip(
        est.loss_curve_, est.coef_path_[1:], est.intercept_path_[1:], strict=True
    ):
        residual = X @ coef + intercept - y
        assert loss == pytest.approx(0.5 * np.mean(residual**2), rel=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_spreads_are_the_weighted_standard_deviations(weighted):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3)) * [1.0, 1e-3, 1.0] + [0.0, 5.0, 1e8]  # one column far from 0
    w = rng.uniform(0.5, 2.0, 3000) if weighted else None
    c = np.full(3000, 1 / 3000) if w is None else w / w.sum()
    mean = c @ X
    objective = LeastSquares(
        X, X[:, :1], w, alpha=0.0, x_offset=mean, y_offset=np.zeros(1), learn_intercept=False
    )
    expected = np.sqrt(c @ (X - mean) ** 2)
    np.testing.assert_allclose(_accuracy.spreads(objective), expected, rtol=1e-9)


@pytest.mark.parametrize("learning_rate", ["auto", "constant"])
@pytest.mark.parametrize("start", [0, 50])
@pytest.mark.parametrize("weighted", [False, True])
def test_averaged_sgd_kernel_matches_the_numpy_path(monkeypatch, learning_rate, start, weighted):
    from gdreg.optimizers import AveragedSGD

    X, Y, weights = _problem(n=150, d=4)
    w = weights if weighted else None
    params = dict(
        optimizer=AveragedSGD(start=start),
        learning_rate=learning_rate,
        eta0=1e-5,
        alpha=0.01,
        max_iter=3,
        tol=None,
        random_state=0,
    )
    fast = GradientDescentRegressor(**params).fit(X, Y[:, 0], sample_weight=w)
    stream_fast = GradientDescentRegressor(**params)
    for chunk in range(0, 150, 50):
        stream_fast.partial_fit(X[chunk : chunk + 50], Y[chunk : chunk + 50, 0])
    monkeypatch.setattr(_kernels, "ENABLED", False)
    slow = GradientDescentRegressor(**params).fit(X, Y[:, 0], sample_weight=w)
    stream_slow = GradientDescentRegressor(**params)
    for chunk in range(0, 150, 50):
        stream_slow.partial_fit(X[chunk : chunk + 50], Y[chunk : chunk + 50, 0])
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.intercept_, slow.intercept_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(stream_fast.coef_, stream_slow.coef_, rtol=1e-9, atol=1e-12)
    assert fast.t_ == slow.t_ == 450
