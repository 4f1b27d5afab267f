"""The objective (gdreg/_objective.py) against its definition: values, gradients,
curvatures, sufficient statistics.

Each test checks one piece against an explicit formula (a centred copy of the
data, a dense Hessian), never against numbers copied from gdreg's own output.
Many were first written to kill mutants that survived a mutmut run (branches a
fast subset of the suite did not reach: the learned intercept of
``partial_fit``, the ``eigsh`` curvature beyond 64 parameters, the chunked
statistics, the statistics-only Gram objective).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from _problems import objective_of, weighted_problem

from gdreg import _loop
from gdreg._objective import (
    GramLeastSquares,
    LeastSquares,
    _centred_row_norms,
    _row_chunks,
    sufficient_statistics,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


_problem = weighted_problem
_objective = objective_of


def _yty(X, Y, s):
    c = s / s.sum()
    Yc = Y - c @ Y
    return np.sum(c[:, None] * Yc * Yc, axis=0)


def _explicit(objective, X, Y, s, theta):
    """J and its gradient written out with a centred copy (the definition)."""
    Xd = X.toarray() if sp.issparse(X) else X
    d = Xd.shape[1]
    c = s / s.sum()
    Xc, Yc = Xd - objective.x_offset, Y - objective.y_offset
    r = Xc @ theta[:d] + theta[d] - Yc
    value = 0.5 * np.sum(c[:, None] * r * r) + 0.5 * objective.alpha * np.sum(theta[:d] ** 2)
    grad = np.zeros_like(theta)
    grad[:d] = Xc.T @ (c[:, None] * r) + objective.alpha * theta[:d]
    if objective.learn_intercept:
        grad[d] = (c[:, None] * r).sum(axis=0)
    return value, grad


def _explicit_hessian(objective, X, s):
    Xd = X.toarray() if sp.issparse(X) else X
    c = s / s.sum()
    Xc = Xd - objective.x_offset
    if objective.learn_intercept:
        Xc = np.c_[Xc, np.ones(len(Xc))]
    H = Xc.T @ (c[:, None] * Xc)
    H[: Xd.shape[1], : Xd.shape[1]] += objective.alpha * np.eye(Xd.shape[1])
    return H


@pytest.mark.parametrize("offsets", ["mean", "fixed"])
@pytest.mark.parametrize("learn_intercept", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_value_and_gradient_match_the_definition(sparse, learn_intercept, offsets):
    X, Y, s = _problem(sparse=sparse)
    obj = _objective(X, Y, s, learn_intercept=learn_intercept, offsets=offsets)
    theta = np.random.RandomState(1).randn(X.shape[1] + 1, Y.shape[1])
    value, grad = _explicit(obj, X, Y, s, theta)
    got_value, got_grad = obj.value_and_gradient(theta)
    assert got_value == pytest.approx(value, rel=1e-12)
    assert obj.value(theta) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(got_grad, grad, rtol=1e-10, atol=1e-12)
    b = obj.intercept_(theta)
    np.testing.assert_allclose(b, obj.y_offset - obj.x_offset @ theta[:-1] + theta[-1])
    coef, intercept = _loop.user_parameters(obj, theta)
    np.testing.assert_array_equal(coef, theta[:-1])
    np.testing.assert_allclose(intercept, b)


@pytest.mark.parametrize("learn_intercept", [False, True])
def test_batch_estimates_are_unbiased(learn_intercept):
    X, Y, s = _problem(n=12)
    obj = _objective(X, Y, s, learn_intercept=learn_intercept, offsets="fixed")
    theta = np.random.RandomState(2).randn(X.shape[1] + 1, Y.shape[1])
    value, grad = obj.value_and_gradient(theta)
    # averaging the one-sample estimates over every sample gives the full quantities
    singles = [obj.batch_value_and_gradient(theta, np.array([i])) for i in range(12)]
    assert np.mean([v for v, _ in singles]) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(np.mean([g for _, g in singles], axis=0), grad, atol=1e-12)
    # and a batch of all samples is the full objective
    all_value, all_grad = obj.batch_value_and_gradient(theta, np.arange(12))
    assert all_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(all_grad, grad, atol=1e-12)


def test_unweighted_objective_uses_equal_weights():
    X, Y, _ = _problem()
    obj = LeastSquares(
        X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0), learn_intercept=False
    )
    assert obj.weight_sum == len(X)
    np.testing.assert_allclose(obj.c, np.full(len(X), 1 / len(X)))
    data = obj.stochastic_data()
    np.testing.assert_allclose(data.scale, 1.0)
    assert data.learn_intercept is False and data.alpha == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_objective_keeps_the_data_dtype(dtype):
    X, Y, s = _problem(dtype=dtype)
    obj = _objective(X, Y, s, learn_intercept=True)
    assert obj.c.dtype == dtype and obj.x_offset.dtype == dtype and obj.y_offset.dtype == dtype
    theta = np.zeros((X.shape[1] + 1, Y.shape[1]), dtype=dtype)
    assert obj.value_and_gradient(theta)[1].dtype == dtype
    assert obj.weight_sum == pytest.approx(float(np.sum(s, dtype=np.float64)), rel=1e-12)


@pytest.mark.parametrize("learn_intercept", [False, True])
@pytest.mark.parametrize("d", [3, 70])  # 70 > 64: the eigsh path
def test_lipschitz_is_the_largest_hessian_eigenvalue(d, learn_intercept):
    X, Y, s = _problem(n=150, d=d, k=1)
    obj = _objective(X, Y, s, learn_intercept=learn_intercept, offsets="fixed")
    top = scipy.linalg.eigvalsh(_explicit_hessian(obj, X, s))[-1]
    assert obj.lipschitz() == pytest.approx(top, rel=1e-3 if d > 64 else 1e-10)


def test_lipschitz_ignores_constant_features():
    rng = np.random.RandomState(0)
    X = np.c_[rng.randn(40, 2), np.full(40, 5.0)]
    Y = rng.randn(40, 1)
    obj = LeastSquares(
        X,
        Y,
        None,
        alpha=0.25,
        x_offset=np.r_[X[:, :2].mean(0), 5.0],
        y_offset=Y.mean(0),
        learn_intercept=False,
        constant_features=np.array([False, False, True]),
    )
    H = _explicit_hessian(obj, X, np.ones(40))
    assert obj.lipschitz() == pytest.approx(scipy.linalg.eigvalsh(H)[-1], rel=1e-10)
    theta = rng.randn(4, 1)
    theta[2] = 0.0
    np.testing.assert_allclose(
        obj.value_and_gradient(theta)[1], _explicit(obj, X, Y, np.ones(40), theta)[1], atol=1e-12
    )
    # all constant: only the penalty curves the objective
    flat = LeastSquares(
        X[:, 2:],
        Y,
        None,
        alpha=0.25,
        x_offset=np.array([5.0]),
        y_offset=Y.mean(0),
        learn_intercept=False,
        constant_features=np.array([True]),
    )
    assert flat.lipschitz() == pytest.approx(0.25)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("learn_intercept", [False, True])
def test_lipschitz_max_is_the_largest_per_sample_curvature(learn_intercept, sparse):
    X, Y, s = _problem(sparse=sparse)
    obj = _objective(X, Y, s, learn_intercept=learn_intercept, offsets="fixed")
    Xd = X.toarray() if sparse else X
    norms = np.sum((Xd - obj.x_offset) ** 2, axis=1) + (1.0 if learn_intercept else 0.0)
    expected = np.max(len(s) * s / s.sum() * norms) + obj.alpha
    assert obj.lipschitz_max() == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(
        _centred_row_norms(X, obj.x_offset), np.sum((Xd - obj.x_offset) ** 2, axis=1)
    )


@pytest.mark.parametrize("shape", [(1, 1), (10, 3), (1000, 2), (100_000, 1), (10_000, 10_000)])
def test_row_chunks_cover_every_row_once(shape):
    X = np.lib.stride_tricks.as_strided(np.zeros(1), shape=shape, strides=(0, 0))
    chunks = list(_row_chunks(X))
    rows = np.concatenate([np.arange(shape[0])[c] for c in chunks])
    np.testing.assert_array_equal(rows, np.arange(shape[0]))
    nbytes = shape[0] * shape[1] * 8
    if nbytes > 2**17:  # large inputs are really split (temporaries stay small) ...
        assert len(chunks) > 1
    for c in chunks:  # ... to 64 KiB or 2% of X, whichever is larger (at least 256 rows)
        size = (c.stop - c.start) * shape[1] * 8
        assert size <= max(2**16, 0.02 * nbytes, 256 * shape[1] * 8)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n", [40, 6000])  # 6000 rows: several chunks of 300
def test_sufficient_statistics_match_the_definition(n, sparse):
    X, Y, s = _problem(n=n, d=3, sparse=sparse)
    Xd = X.toarray() if sparse else X
    c = s / s.sum()
    x_off, y_off = Xd[:5].mean(0), Y[:5].mean(0)  # not the means: no term cancels
    gram, xty, yty = sufficient_statistics(X, Y, c, x_off, y_off)
    Xc, Yc = Xd - x_off, Y - y_off
    np.testing.assert_allclose(gram, Xc.T @ (c[:, None] * Xc), rtol=1e-10)
    np.testing.assert_allclose(xty, Xc.T @ (c[:, None] * Yc), rtol=1e-10)
    np.testing.assert_allclose(yty, np.sum(c[:, None] * Yc * Yc, axis=0), rtol=1e-10)
    np.testing.assert_allclose(_loop.objective_yty(_objective(X, Y, s)), _yty(X, Y, s))


@pytest.mark.parametrize("sparse", [False, True])
def test_gram_objective_equals_the_data_objective(sparse):
    X, Y, s = _problem(n=200, sparse=sparse)
    data = _objective(X, Y, s, alpha=0.3)
    gram = _objective(X, Y, s, alpha=0.3, kind=GramLeastSquares)
    stats = GramLeastSquares.from_statistics(
        gram.gram,
        gram.xty,
        gram.yty,
        weight_sum=float(s.sum()),
        n_samples=len(s),
        alpha=0.3,
        x_offset=gram.x_offset,
        y_offset=gram.y_offset,
    )
    assert (stats.n_samples, stats.n_features, stats.n_targets) == (200, 4, 2)
    assert stats.weight_sum == pytest.approx(s.sum()) and stats.alpha == 0.3
    assert stats.learn_intercept is False
    theta = np.random.RandomState(3).randn(5, 2)
    theta[-1] = 0.0  # the intercept row is eliminated in the Gram objective
    value, grad = data.value_and_gradient(theta)
    for obj in (gram, stats):
        v, g = obj.value_and_gradient(theta)
        assert v == pytest.approx(value, rel=1e-10)
        assert obj.value(theta) == pytest.approx(value, rel=1e-10)
        np.testing.assert_allclose(g, grad, atol=1e-10)
        assert obj.lipschitz() == pytest.approx(data.lipschitz(), rel=1e-10)
        np.testing.assert_allclose(obj.intercept_(theta), data.intercept_(theta))
    np.testing.assert_allclose(_loop.objective_yty(stats), _yty(X, Y, s))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("learn_intercept", [False, True])
def test_constant_features_add_no_curvature_or_gradient(sparse, learn_intercept):
    """A column flagged constant contributes nothing, even when its offset is not exact."""
    rng = np.random.RandomState(4)
    X = np.c_[rng.randn(40, 2), np.full(40, 5.0)]
    Y = rng.randn(40, 1)
    x_off = np.r_[X[:, :2].mean(0), 4.0]  # 1.0 away from the constant: a real curvature
    flagged = LeastSquares(
        sp.csr_matrix(X) if sparse else X,
        Y,
        None,
        alpha=0.25,
        x_offset=x_off,
        y_offset=Y.mean(0),
        learn_intercept=learn_intercept,
        constant_features=np.array([False, False, True]),
    )
    without = LeastSquares(
        X[:, :2],
        Y,
        None,
        alpha=0.25,
        x_offset=x_off[:2],
        y_offset=Y.mean(0),
        learn_intercept=learn_intercept,
    )
    assert flagged.lipschitz() == pytest.approx(max(without.lipschitz(), 0.25), rel=1e-10)
    theta = rng.randn(4, 1)
    theta[2] = 0.0
    reduced = np.delete(theta, 2, axis=0)
    grad = flagged.value_and_gradient(theta)[1]
    np.testing.assert_allclose(np.delete(grad, 2, axis=0), without.value_and_gradient(reduced)[1])
    assert grad[2, 0] == 0.0


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("learn_intercept", [False, True])
def test_small_curvatures_are_not_floored(sparse, learn_intercept):
    """Curvatures below 1 come out as they are (no max(., 1) anywhere)."""
    X, Y, s = _problem(n=30, d=3)
    X = X * 0.01
    Xs = sp.csr_matrix(X) if sparse else X
    obj = _objective(Xs, Y, s, alpha=0.0, learn_intercept=False, offsets="fixed")
    top = scipy.linalg.eigvalsh(_explicit_hessian(obj, X, s))[-1]
    assert top < 1e-2 and obj.lipschitz() == pytest.approx(top, rel=1e-10)
    obj = _objective(Xs, Y, s, alpha=0.0, learn_intercept=learn_intercept, offsets="fixed")
    norms = np.sum((X - obj.x_offset) ** 2, axis=1) + (1.0 if learn_intercept else 0.0)
    assert obj.lipschitz_max() == pytest.approx(np.max(len(s) * s / s.sum() * norms), rel=1e-10)
    np.testing.assert_allclose(
        _centred_row_norms(Xs, obj.x_offset), np.sum((X - obj.x_offset) ** 2, axis=1), atol=1e-18
    )


def test_eigsh_curvature_is_deterministic():
    """The iterative eigensolver starts from a fixed vector: same data, same bits."""
    X, Y, s = _problem(n=200, d=70, k=1, sparse=True)
    obj = _objective(X, Y, s, learn_intercept=True, offsets="fixed")
    first = obj.lipschitz()
    assert all(obj.lipschitz() == first for _ in range(3))


def test_float32_objective_converts_its_offsets_and_weights():
    X, Y, _ = _problem(dtype=np.float32)
    obj = LeastSquares(
        X,
        Y,
        None,
        alpha=0.0,
        x_offset=X.mean(0).astype(np.float64),
        y_offset=Y.mean(0).astype(np.float64),
        learn_intercept=False,
    )
    assert obj.c.dtype == obj.x_offset.dtype == obj.y_offset.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize("n", [40, 6000])
def test_dense_statistics_every_branch(n, uniform, dtype):
    """Equal weights (scaled once at the end), float32 (accumulated in float64), chunks."""
    X, Y, s = _problem(n=n, d=3, dtype=dtype)
    if uniform:
        s = np.ones(n, dtype=dtype)
    c = s / s.sum()
    x_off, y_off = X[:5].mean(0), Y[:5].mean(0)
    gram, xty, yty = sufficient_statistics(X, Y, c, x_off, y_off, uniform=uniform)
    assert gram.dtype == xty.dtype == yty.dtype == dtype
    X64, Y64, c64 = X.astype(np.float64), Y.astype(np.float64), c.astype(np.float64)
    Xc, Yc = X64 - x_off, Y64 - y_off
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(gram, Xc.T @ (c64[:, None] * Xc), rtol=rtol)
    np.testing.assert_allclose(xty, Xc.T @ (c64[:, None] * Yc), rtol=rtol)
    np.testing.assert_allclose(yty, np.sum(c64[:, None] * Yc * Yc, axis=0), rtol=rtol)


def test_sparse_statistics_zero_only_the_constant_columns():
    rng = np.random.RandomState(6)
    X = np.c_[rng.randn(500, 2), np.full(500, 0.3), rng.randn(500)]
    zeros = rng.rand(500, 4) < 0.3
    zeros[:, 2] = False  # column 2 stays the constant 0.3
    X[zeros] = 0.0
    Y = rng.randn(500, 1)
    c = np.full(500, 1 / 500)
    x_off = np.r_[X[:, :2].mean(0), 0.3, X[:, 3].mean()]
    gram, xty, _ = sufficient_statistics(sp.csr_matrix(X), Y, c, x_off, Y.mean(0))
    Xc = X - x_off
    expected = Xc.T @ (c[:, None] * Xc)
    expected[2, :] = expected[:, 2] = 0.0
    np.testing.assert_allclose(gram, expected, atol=1e-12)
    assert np.all(gram[2] == 0.0) and np.all(gram[:, 2] == 0.0) and xty[2, 0] == 0.0
    np.testing.assert_allclose(np.delete(xty, 2, 0), np.delete(Xc.T @ (c[:, None] * Y), 2, 0))
