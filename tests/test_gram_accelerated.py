"""The compiled full-batch loop of AcceleratedGradient on the Gram form mirrors the Python loop."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from _problems import compiled_and_python_gram_runs, standardised_gram_objective
from sklearn.linear_model import LinearRegression

from gdreg import DivergenceError, GradientDescentRegressor, _kernels, _loop
from gdreg._accuracy import _eigenvalues
from gdreg._kernels import _gram
from gdreg.optimizers import AcceleratedGradient, GradientDescent
from gdreg.schedules import Constant

pytestmark = pytest.mark.skipif(not _kernels.ENABLED, reason="the compiled kernels are disabled")


def _data(n=600, d=6, k=1, seed=0, weighted=False):
    """Correlated columns in very different units, far from centred."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    X = X * rng.uniform(0.01, 100.0, d) + rng.uniform(-5, 5, d)
    Y = X @ rng.standard_normal((d, k)) + 0.1 * rng.standard_normal((n, k)) + 2.0
    s = rng.uniform(0.2, 3.0, n) if weighted else None
    return X, Y, s


def _standardised_problem(alpha=0.01, k=1, weighted=False):
    return standardised_gram_objective(*_data(k=k, weighted=weighted), alpha=alpha)


_both_loops = compiled_and_python_gram_runs


@pytest.mark.parametrize(
    ("alpha", "k", "weighted"), [(0.0, 1, False), (0.01, 2, False), (1.0, 1, True)]
)
def test_compiled_accelerated_loop_makes_the_python_loops_iterates(monkeypatch, alpha, k, weighted):
    objective, cert = _standardised_problem(alpha, k, weighted)
    schedule = Constant(1.0 / objective.lipschitz())
    params0 = np.zeros((objective.n_features + 1, k))
    fast, slow = _both_loops(
        objective,
        AcceleratedGradient(),
        schedule,
        monkeypatch,
        params0=params0,
        max_iter=5000,
        tol=1e-9,
        certificate=cert,
    )
    assert fast.converged and slow.converged
    assert fast.n_iter == slow.n_iter == fast.n_updates
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-9, atol=1e-12)
    # the objective is a difference of terms of the size of J(0): round-off is relative to it
    np.testing.assert_allclose(
        fast.loss_curve, slow.loss_curve, rtol=1e-9, atol=1e-13 * objective.value_at_zero()
    )
    # the bound compares gradients of size ~tol: round-off shows relative to them
    np.testing.assert_allclose(fast.change_curve, slow.change_curve, rtol=1e-4, atol=1e-13)
    # the state it hands back is the one update() would have built
    assert (fast.state.count, fast.state.restarts) == (slow.state.count, slow.state.restarts)
    assert fast.state.restarts > 0  # the restart branch ran
    np.testing.assert_allclose(fast.state.previous, slow.state.previous, rtol=1e-9, atol=1e-12)
    # a gradient near the optimum is a difference of terms of the size of the first one
    first_grad = np.max(np.abs(_gram.standardised_statistics(objective, np.float64)[1]))
    np.testing.assert_allclose(
        fast.state.previous_grad, slow.state.previous_grad, rtol=1e-9, atol=1e-12 * first_grad
    )


def test_state_carries_across_chunks_and_max_iter_stops(monkeypatch):
    """tol=None: 700 epochs in chunks of 256, 256, 188, with the state carried through."""
    objective, _ = _standardised_problem(alpha=0.0)
    schedule = Constant(0.05 / objective.lipschitz())  # slow: far from converged after 700
    params0 = np.zeros((objective.n_features + 1, 1))
    fast, slow = _both_loops(
        objective,
        AcceleratedGradient(),
        schedule,
        monkeypatch,
        params0=params0,
        max_iter=700,
        tol=None,
    )
    assert fast.n_iter == slow.n_iter == 700 and not fast.converged
    assert np.all(np.isnan(fast.change_curve)) and np.all(np.isnan(slow.change_curve))
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        fast.loss_curve, slow.loss_curve, rtol=1e-10, atol=1e-13 * objective.value_at_zero()
    )
    assert fast.state.count == slow.state.count


@pytest.mark.parametrize("optimizer", [AcceleratedGradient(), GradientDescent()])
def test_both_rules_report_divergence_at_the_same_epoch(monkeypatch, optimizer):
    objective, cert = _standardised_problem()
    schedule = Constant(5.0 / objective.lipschitz())
    epochs = []
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if compiled else 10**18)
        with pytest.raises(DivergenceError) as info:
            _loop.run(
                objective,
                optimizer,
                schedule,
                params0=np.zeros((objective.n_features + 1, 1)),
                max_iter=2000,
                tol=1e-8,
                certificate=cert,
            )
        epochs.append(info.value.epoch)
    assert epochs[0] == epochs[1] >= 1


@pytest.mark.parametrize(
    ("scale", "tol", "expected"),
    [
        (1.0, 1e-6, _kernels.CONVERGED),
        (1.0, None, _kernels.RUNNING),
        (1e-3, 1e-6, _kernels.RUNNING),  # too few epochs at a tiny step
        (5.0, 1e-6, _kernels.DIVERGED),
    ],
)
def test_the_accelerated_kernels_inlined_rule_is_the_verdict(scale, tol, expected):
    objective, cert = _standardised_problem()
    theta = np.zeros((objective.n_features + 1, 1))
    previous, previous_grad = np.empty_like(theta), np.empty_like(theta)
    counts = np.array([-1, 0])
    limit = _loop.divergence_limit(objective.value_at_zero())
    _, status, losses, changes = _gram.accelerated_gram_descent(
        objective,
        theta,
        previous,
        previous_grad,
        counts,
        np.full(400, scale / objective.lipschitz()),
        certificate=None if tol is None else cert,
        tol=tol,
        limit=limit,
    )
    assert status == expected
    for loss, change in zip(losses[:-1], changes[:-1], strict=True):
        assert _loop.verdict(loss, (), limit, change, tol) == _kernels.RUNNING
    assert _loop.verdict(losses[-1], (theta,), limit, changes[-1], tol) == status


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_default_fit_compiled_equals_python_and_linear_regression(monkeypatch, k, weighted):
    X, Y, s = _data(n=800, d=7, k=k, weighted=weighted)
    y = Y[:, 0] if k == 1 else Y
    fits = []
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0 if compiled else 10**18)
        fits.append(GradientDescentRegressor(tol=1e-8).fit(X, y, sample_weight=s))
    fast, slow = fits
    assert fast.converged_ and slow.converged_ and fast.n_iter_ == slow.n_iter_
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.intercept_, slow.intercept_, rtol=1e-9)
    exact = LinearRegression().fit(X, y, sample_weight=s)
    scale = np.max(np.abs(exact.coef_))
    np.testing.assert_allclose(fast.coef_, exact.coef_, atol=1e-6 * scale)
    np.testing.assert_allclose(fast.intercept_, exact.intercept_, rtol=1e-6, atol=1e-6)


def test_paths_printing_and_callbacks_keep_the_python_loop(monkeypatch, capsys):
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0)
    X, Y, _ = _data()
    y = Y[:, 0]
    compiled = GradientDescentRegressor().fit(X, y)
    for params in ({"record_path": True}, {"verbose": 1}):
        est = GradientDescentRegressor(**params).fit(X, y)
        assert est.n_iter_ == compiled.n_iter_
        np.testing.assert_allclose(est.coef_, compiled.coef_, rtol=1e-9, atol=1e-12)
    assert len(est.coef_path_ if hasattr(est, "coef_path_") else []) in (0, est.n_iter_ + 1)
    assert capsys.readouterr().out.count("Epoch") == compiled.n_iter_
    objective, _ = _standardised_problem()
    assert not _loop._compiled_gram_applies(objective, True, 0, None, None)
    assert not _loop._compiled_gram_applies(objective, False, 1, None, None)
    assert not _loop._compiled_gram_applies(objective, False, 0, lambda *a: False, None)


def test_a_subclass_that_changes_update_gets_the_python_loop():
    class Plain(AcceleratedGradient):
        def update(self, grad, state, params, step_size):
            return -step_size * grad, state

    objective, cert = _standardised_problem()
    params = np.zeros((objective.n_features + 1, 1))
    hook = Plain().compiled_full_batch(
        objective, params, Plain().init(params), np.ones(3), certificate=cert, tol=1e-8, limit=1e10
    )
    assert hook is None and not np.any(params)


def test_ready_code_lowers_the_size_at_which_the_compiled_loop_runs(monkeypatch):
    objective, _ = _standardised_problem()  # 600 x 6: far below COMPILED_MIN_SIZE
    for ready in (False, True):
        monkeypatch.setattr(_gram, "code_ready", lambda dtype, ready=ready: ready)
        assert _loop._compiled_gram_applies(objective, False, 0, None, None) == ready
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 10**18)  # still switches it off
    assert not _loop._compiled_gram_applies(objective, False, 0, None, None)


def test_code_ready_only_for_float64_and_once_compiled(monkeypatch):
    assert not _gram.code_ready(np.float32)
    objective, cert = _standardised_problem()
    theta = np.zeros((objective.n_features + 1, 1))
    _gram.gram_descent(objective, theta, np.ones(1), certificate=cert, tol=1e-8, limit=1e10)
    assert _gram.code_ready(np.float64)  # compiled (or loaded) in this process


@pytest.mark.parametrize("d", [1, 5, 60])
def test_certificate_eigenvalues_are_eigvalsh(d):
    rng = np.random.default_rng(d)
    A = rng.standard_normal((2 * d, d))
    h_u = A.T @ A
    kept = h_u.copy()
    np.testing.assert_allclose(
        _eigenvalues(h_u), scipy.linalg.eigvalsh(kept), rtol=1e-12, atol=1e-12 * d
    )
    np.testing.assert_array_equal(h_u, kept)  # left as it was
