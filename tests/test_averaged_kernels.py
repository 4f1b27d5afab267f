"""AveragedSGD's compiled epochs against the NumPy path, in every stochastic mode.

The compiled epochs (the generic rule kernels of ``gdreg._kernels._rules``
with AveragedSGD's update piece, whose state is the iterate and the average)
must make the very iterates, running averages, update counts and running
losses of ``AveragedSGD.update`` driven by
``LeastSquares.batch_value_and_gradient`` (``_kernels.ENABLED = False``), to
round-off: per sample and mini-batch, dense and CSR, one and two targets,
with and without sample weights and standardised coordinates, through the
loop, ``fit`` and ``partial_fit``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from _problems import compiled_and_numpy_fits

from gdreg import _kernels, _loop
from gdreg._objective import LeastSquares
from gdreg.optimizers import AveragedSGD
from gdreg.optimizers._averaged import AveragedState
from gdreg.schedules import Constant, InverseSqrt

#: ``start`` in epochs of the loop tests (61 samples, batches of 8): every iterate
#: averaged, and an average that begins inside the second epoch.
STARTS = [0, 1.3]


def _data(n=61, d=4, k=1, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.5, 2.0])[:d] + 2.0
    if sparse:
        X[rng.random((n, d)) < 0.5] = 0.0
    Y = X @ rng.standard_normal((d, k)) + 0.5 + 0.1 * rng.standard_normal((n, k))
    return (sp.csr_matrix(X) if sparse else X), Y


def _objective(X, Y, weighted, scaled, alpha=0.02):
    weights = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    dense = X.toarray() if sp.issparse(X) else X
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=alpha,
        x_offset=dense[:10].mean(axis=0),  # offsets from a first chunk: the intercept is learned
        y_offset=Y[:10].mean(axis=0),
        learn_intercept=True,
    )
    return objective.scaled(dense.std(axis=0) + 0.5) if scaled else objective


def _params0(objective):
    params0 = np.zeros((objective.n_features + 1, objective.n_targets))
    params0[0] = 0.2  # not from zero: the first residuals involve every coordinate
    return params0


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("scaled", [False, True], ids=["w", "u"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("layout", ["C", "F", "csr"])
@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
def test_loop_matches_numpy_path(monkeypatch, sampling, layout, k, weighted, scaled, start):
    X, Y = _data(k=k, sparse=layout == "csr")
    X = np.asfortranarray(X) if layout == "F" else X
    objective = _objective(X, Y, weighted, scaled)
    updates_per_epoch = 61 if sampling == "stochastic" else 8
    optimizer = AveragedSGD(sampling=sampling, start=int(start * updates_per_epoch))
    # the per-sample kernels compute InverseSqrt's steps themselves: both paths meet
    schedule = InverseSqrt(0.01, t0=20.0) if sampling == "stochastic" else Constant(0.02)
    runs = []
    for enabled in (True, False):
        monkeypatch.setattr(_kernels, "ENABLED", enabled)
        runs.append(
            _loop.run(
                objective,
                optimizer,
                schedule,
                params0=_params0(objective),
                max_iter=3,
                tol=None,
                batch_size=8,
                rng=np.random.RandomState(0),
            )
        )
    fast, reference = runs
    # params is the running average (what the fit reports)
    np.testing.assert_allclose(fast.params, reference.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.state.average, reference.state.average, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.loss_curve, reference.loss_curve, rtol=1e-10)
    assert fast.state.count == reference.state.count == fast.n_updates == reference.n_updates
    assert not np.allclose(fast.params, _params0(objective))  # the rule moved


@pytest.mark.parametrize("layout", ["C", "csr"])
@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("start", [0, 20, 1000])
def test_epoch_iterate_and_average_match_update(monkeypatch, layout, batch_size, start):
    """One epoch, from a state with updates behind it: the iterate and the average."""
    X, Y = _data(k=2, sparse=layout == "csr")
    objective = _objective(X, Y, weighted=True, scaled=True)
    optimizer = AveragedSGD(sampling="minibatch", start=start)
    rng = np.random.default_rng(3)
    params0 = rng.standard_normal((5, 2))
    average0 = rng.standard_normal((5, 2))
    state0 = AveragedState(13, average0.copy())  # 13 updates already made
    order = rng.permutation(X.shape[0]).astype(np.int64)
    n_updates = -(-X.shape[0] // batch_size)
    steps = np.linspace(0.02, 0.01, n_updates)

    fast = params0.copy()
    done = _kernels.compiled_epoch(
        optimizer, objective.stochastic_data(), fast, state0, order, steps, batch_size
    )
    assert done is not None
    fast_state, fast_loss = done
    reference = params0.copy()
    ref_state, ref_loss = _loop._numpy_epoch(
        objective, optimizer, reference, state0, order, steps, batch_size
    )
    np.testing.assert_allclose(fast, reference, rtol=1e-10, atol=1e-12)  # the iterate
    np.testing.assert_allclose(fast_state.average, ref_state.average, rtol=1e-10, atol=1e-12)
    assert fast_state.count == ref_state.count == 13 + n_updates
    assert fast_loss == pytest.approx(ref_loss, rel=1e-10)
    np.testing.assert_array_equal(state0.average, average0)  # the state handed in is kept
    if start + 1 >= 13 + n_updates:  # the last update has weight 1: the average is the iterate
        np.testing.assert_allclose(fast_state.average, fast, rtol=1e-12, atol=1e-14)
    else:
        assert not np.allclose(fast_state.average, fast)


def _estimators(monkeypatch, sampling, X, y, weights, method, **params):
    def make():
        return AveragedSGD(sampling=sampling, start=5)

    return compiled_and_numpy_fits(monkeypatch, make, X, y, weights, method, **params)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("layout", ["C", "csr"])
@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
def test_estimator_matches_numpy_path(monkeypatch, sampling, layout, k, weighted, method):
    X, Y = _data(k=k, sparse=layout == "csr")
    y = Y[:, 0] if k == 1 else Y
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    fast, reference = _estimators(monkeypatch, sampling, X, y, weights, method)
    np.testing.assert_allclose(fast.coef_, reference.coef_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.intercept_, reference.intercept_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.loss_curve_, reference.loss_curve_, rtol=1e-9)
    assert fast.t_ == reference.t_
    assert np.abs(fast.coef_).max() > 0.1  # the 'auto' steps moved the coefficients


def test_compiled_epoch_is_used_and_subclass_with_own_update_is_not(monkeypatch):
    X, Y = _data()
    data = _objective(X, Y, False, False).stochastic_data()
    order = np.arange(X.shape[0], dtype=np.int64)
    params = np.zeros((5, 1))
    for sampling, batch_size in (("stochastic", 1), ("minibatch", 8)):
        optimizer = AveragedSGD(sampling=sampling)
        steps = np.full(-(-X.shape[0] // batch_size), 1e-3)
        state = optimizer.init(params)
        done = optimizer.compiled_epoch(data, params.copy(), state, order, steps, batch_size)
        assert done is not None and np.isfinite(done[1])
        monkeypatch.setattr(_kernels, "ENABLED", False)
        assert optimizer.compiled_epoch(data, params, state, order, steps, batch_size) is None
        monkeypatch.setattr(_kernels, "ENABLED", True)

    class HalfStep(AveragedSGD):
        def update(self, grad, state, params, step_size):
            return super().update(grad, state, params, 0.5 * step_size)

    steps = np.full(X.shape[0], 1e-3)
    state = AveragedSGD().init(params)
    assert HalfStep().compiled_epoch(data, params, state, order, steps, 1) is None


def test_float32_fit_matches_numpy_path(monkeypatch):
    X, Y = _data(k=1)
    X32, y32 = X.astype(np.float32), Y[:, 0].astype(np.float32)
    fast, reference = _estimators(monkeypatch, "minibatch", X32, y32, None, "fit")
    assert fast.coef_.dtype == np.float32
    np.testing.assert_allclose(fast.coef_, reference.coef_, rtol=1e-4, atol=1e-5)
