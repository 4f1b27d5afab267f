"""The one-pass CSR summaries agree with the SciPy formulas they replace.

A one-epoch fit on a large CSR ``X`` reads its column range, weighted means,
sums of squares (the spreads) and largest row norm (the "auto" step) from
compiled passes over ``X.data`` and ``X.indices``
(:mod:`gdreg._kernels._summaries`) instead of SciPy's reductions, which copy
``X`` (to CSC for ``min``/``max``, ``X.multiply(X)`` for squares). Each pass
is compared here with the formula it replaced, on matrices with the cases
that break a careless pass: explicit zeros, empty rows and columns, columns
with no implicit zero, negative-only columns, weights (some zero), float32,
and non-canonical CSR (duplicated and unsorted columns). Fits on CSR are
compared with fits on the same data dense and with the SciPy path.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _accuracy, _kernels, _validation
from gdreg._kernels import _summaries
from gdreg._kernels._summaries import csr_column_summary, csr_max_weighted_row_norm
from gdreg._loss import Loss, SquaredLoss
from gdreg._objective import LeastSquares, _centred_row_norms
from gdreg.optimizers import GradientDescent

#: Thresholds that force the compiled CSR passes on small X, or the SciPy path.
COMPILED, SCIPY = 0, 10**18


def _awkward_csr(dtype=np.float64):
    """A CSR matrix holding every case a per-column or per-row pass can get wrong."""
    rng = np.random.default_rng(3)
    n, d = 40, 7
    dense = rng.standard_normal((n, d)) * 3.0 + 0.5
    dense[rng.random((n, d)) < 0.5] = 0.0
    dense[:, 1] = 0.0  # an empty column (explicit zeros only, below)
    dense[:, 2] = rng.uniform(1.0, 2.0, n)  # no implicit zero: its minimum is positive
    dense[:, 3] = -rng.uniform(1.0, 2.0, n) * (rng.random(n) < 0.5)  # negative or zero
    dense[:, 4] = 7.0  # constant, fully stored
    dense[:, 6] = 0.0  # an empty column, nothing stored
    dense[4] = 0.0  # an empty row
    coo = sp.coo_matrix(dense.astype(dtype))
    # explicit zeros: stored entries whose value is 0 (in the empty row, in column 1)
    extra_rows, extra_cols = [4, 11, 20], [1, 1, 5]
    assert dense[20, 5] == 0.0
    X = sp.csr_matrix(
        (
            np.append(coo.data, np.zeros(3, dtype=dtype)),
            (np.append(coo.row, extra_rows), np.append(coo.col, extra_cols)),
        ),
        shape=dense.shape,
    )
    assert X.has_canonical_format and np.sum(X.data == 0.0) == 3
    return X


def _non_canonical(X):
    """The same matrix as ``X``, with each row's columns reversed and one entry split in two."""
    data, indices = [], []
    indptr = [0]
    for i in range(X.shape[0]):
        row = slice(X.indptr[i], X.indptr[i + 1])
        d, j = X.data[row][::-1], X.indices[row][::-1]
        if len(d):  # split the first entry: v = 0.25 v + 0.75 v, stored twice
            d = np.concatenate([[0.25 * d[0], 0.75 * d[0]], d[1:]])
            j = np.concatenate([[j[0], j[0]], j[1:]])
        data.append(d)
        indices.append(j)
        indptr.append(indptr[-1] + len(d))
    Y = sp.csr_matrix(
        (np.concatenate(data).astype(X.dtype), np.concatenate(indices), np.array(indptr)),
        shape=X.shape,
    )
    assert not Y.has_canonical_format
    return Y


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(params=["canonical", "non-canonical"])
def matrix(request, dtype):
    X = _awkward_csr(dtype)
    return X if request.param == "canonical" else _non_canonical(X)


def _scipy_range(X):
    return X.min(axis=0).toarray().ravel(), X.max(axis=0).toarray().ravel()


# -- the kernels against SciPy ---------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_csr_column_summary_equals_scipy(matrix, weighted):
    X = matrix
    rng = np.random.default_rng(1)
    scale = rng.uniform(0.0, 2.0, X.shape[0]) if weighted else None
    if weighted:
        scale[[0, 4]] = 0.0  # zero weights: their rows still count in the range
    summary = csr_column_summary(X, scale)
    sums_only = csr_column_summary(X, scale, ranges=False)
    assert sums_only.low is None and sums_only.high is None
    np.testing.assert_array_equal(sums_only.sums, summary.sums)
    np.testing.assert_array_equal(sums_only.squares, summary.squares)
    low, high = _scipy_range(X)
    assert summary.low.dtype == X.dtype and summary.high.dtype == X.dtype
    np.testing.assert_array_equal(summary.low, low)
    np.testing.assert_array_equal(summary.high, high)
    weights = np.ones(X.shape[0]) if scale is None else scale
    Xd = X.copy()
    Xd.sum_duplicates()  # in X.dtype, as SciPy reads a duplicate
    Xd = Xd.astype(np.float64)
    np.testing.assert_allclose(summary.sums, Xd.T @ weights, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(summary.squares, Xd.multiply(Xd).T @ weights, rtol=1e-12, atol=1e-12)
    assert summary.weight == pytest.approx(weights.sum(), rel=1e-15)


def test_csr_column_summary_implicit_zeros():
    dense = np.array([[2.0, 0.0, -1.0, 0.0], [3.0, 0.0, -4.0, 5.0], [4.0, 0.0, 0.0, 0.0]])
    X = sp.csr_matrix(dense)
    summary = csr_column_summary(X)
    np.testing.assert_array_equal(summary.low, dense.min(axis=0))
    np.testing.assert_array_equal(summary.high, dense.max(axis=0))
    # a stored explicit zero counts as an entry: column 0 stays without zero
    X = sp.csr_matrix((np.array([2.0, 3.0, 0.0]), np.array([0, 0, 1]), np.array([0, 1, 2, 3])))
    assert X.shape == (3, 2)
    summary = csr_column_summary(X)
    np.testing.assert_array_equal(summary.low, [0.0, 0.0])
    np.testing.assert_array_equal(summary.high, [3.0, 0.0])


@pytest.mark.parametrize("plus", [0.0, 1.0])
@pytest.mark.parametrize("scaled", [False, True])
def test_csr_row_norm_equals_the_scipy_formula(matrix, plus, scaled):
    X = matrix
    rng = np.random.default_rng(2)
    offset = rng.standard_normal(X.shape[1])
    weight = rng.uniform(0.0, 3.0, X.shape[0])
    inv = rng.uniform(0.5, 2.0, X.shape[1]) if scaled else None
    expected = np.max(weight * (_centred_row_norms(X, offset, inv) + plus))
    got = csr_max_weighted_row_norm(X, offset, weight, plus, inv)
    # SciPy squares float32 entries in float32; the pass squares them in float64
    assert got == pytest.approx(expected, rel=1e-12 if X.dtype == np.float64 else 1e-6)
    canonical = X.copy()
    canonical.sum_duplicates()
    dense = canonical.toarray().astype(np.float64)
    rows = (dense - offset) * (1.0 if inv is None else inv)
    assert got == pytest.approx(np.max(weight * (np.sum(rows**2, axis=1) + plus)), rel=1e-10)


def test_the_passes_run_as_python_too():
    """What ``NUMBA_DISABLE_JIT=1`` runs: the kernels' Python functions give the same."""
    X = _awkward_csr()
    scale = np.linspace(0.0, 2.0, X.shape[0])
    for weighted in (False, True):
        for ranges in (False, True):
            results = []
            for kernel in (_summaries._csr_column_pass, _summaries._csr_column_pass.py_func):
                acc = np.zeros((X.shape[1], 5))
                acc[:, 0], acc[:, 1] = np.inf, -np.inf
                kernel(X.data, X.indices, X.indptr, scale, weighted, ranges, acc)
                results.append(acc)
            np.testing.assert_allclose(results[0], results[1], rtol=1e-13)
    columns = np.column_stack([np.full(X.shape[1], 2.0), np.linspace(-1.0, 1.0, X.shape[1])])
    args = (X.data, X.indices, X.indptr, columns, 0.5, scale, 1, 1.0)
    assert _summaries._csr_row_norm_pass(*args) == pytest.approx(
        _summaries._csr_row_norm_pass.py_func(*args), rel=1e-13
    )


# -- the consumers: compiled path against the SciPy path -------------------------------
def _both_paths(monkeypatch, func):
    """``func()`` with the compiled CSR passes and with SciPy's reductions."""
    out = []
    for threshold in (COMPILED, SCIPY):
        monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", threshold)
        out.append(func())
    return out


def test_validation_helpers_take_the_compiled_pass(monkeypatch, matrix):
    X = matrix
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", COMPILED)
    assert _validation.sparse_pass_applies(X) and _validation.one_pass_applies(X, batch=True)
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", SCIPY)
    assert not _validation.sparse_pass_applies(X) and not _validation.one_pass_applies(X)
    fast, slow = _both_paths(monkeypatch, lambda: _validation.column_range(X))
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    weights = np.random.default_rng(4).uniform(0.0, 2.0, X.shape[0]).astype(X.dtype)
    rtol = 1e-12 if X.dtype == np.float64 else 1e-5
    for w in (None, weights):
        fast, slow = _both_paths(monkeypatch, lambda w=w: _validation.weighted_column_means(X, w))
        assert fast.dtype == slow.dtype == X.dtype
        np.testing.assert_allclose(fast, slow, rtol=rtol, atol=rtol)
        monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", COMPILED)
        summary = _validation.summarize_columns(X, w)
        np.testing.assert_array_equal(summary.low, _scipy_range(X)[0])
        np.testing.assert_array_equal(summary.high, _scipy_range(X)[1])
        np.testing.assert_allclose(summary.means, slow, rtol=rtol, atol=rtol)
        assert summary.finite


def _objective(X, weights=None, *, learn_intercept=False, alpha=0.0):
    Y = np.asarray(X @ np.arange(1.0, X.shape[1] + 1.0)).reshape(-1, 1).astype(X.dtype)
    c = np.full(X.shape[0], 1.0 / X.shape[0]) if weights is None else weights / weights.sum()
    x_offset = np.asarray(X.T @ c).ravel().astype(X.dtype)
    low, high = _scipy_range(X)
    x_offset[low == high] = low[low == high]
    return LeastSquares(
        X,
        Y,
        weights,
        alpha=alpha,
        x_offset=x_offset,
        y_offset=Y.T @ c,
        learn_intercept=learn_intercept,
        constant_features=low == high,
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_spreads_and_hessian_diagonal_equal_the_scipy_path(monkeypatch, matrix, weighted):
    weights = None
    if weighted:
        weights = np.random.default_rng(5).uniform(0.0, 2.0, matrix.shape[0])
        weights = weights.astype(matrix.dtype)
    objective = _objective(matrix, weights, alpha=0.3)
    # float32: SciPy sums the squares in float32, and the algebraic centring of
    # a column far from zero (column 4: 7 but for one row) loses digits to it
    rtol = 1e-10 if matrix.dtype == np.float64 else 1e-3
    fast, slow = _both_paths(monkeypatch, lambda: _accuracy._hessian_diagonal(objective))
    np.testing.assert_allclose(fast, slow, rtol=rtol, atol=rtol)
    fast, slow = _both_paths(monkeypatch, lambda: _accuracy.spreads(objective))
    np.testing.assert_allclose(fast, slow, rtol=rtol, atol=rtol)
    # the pass sums in float64: the centred weighted sums of squares of the dense columns
    canonical = matrix.copy()
    canonical.sum_duplicates()
    centred = canonical.toarray().astype(np.float64) - objective.x_offset.astype(np.float64)
    expected = np.sqrt(objective.c.astype(np.float64) @ centred**2)
    expected[objective.constant] = 0.0
    expected[~(expected > 0)] = 1.0
    np.testing.assert_allclose(fast, expected, rtol=1e-9)


@pytest.mark.parametrize("learn_intercept", [False, True])
@pytest.mark.parametrize("scaled", [False, True])
def test_lipschitz_max_equals_the_scipy_path(monkeypatch, matrix, learn_intercept, scaled):
    weights = np.random.default_rng(6).uniform(0.0, 2.0, matrix.shape[0]).astype(matrix.dtype)
    objective = _objective(matrix, weights, learn_intercept=learn_intercept, alpha=0.1)
    if scaled:
        objective = objective.scaled(np.linspace(0.5, 3.0, matrix.shape[1]))
    fast, slow = _both_paths(monkeypatch, objective.lipschitz_max)
    assert fast == pytest.approx(slow, rel=1e-10 if matrix.dtype == np.float64 else 1e-5)


def test_squared_start_value_equals_the_generic_loss():
    rng = np.random.default_rng(7)
    for k in (1, 3):
        centred = rng.standard_normal((500, k))
        weights = rng.uniform(0.0, 1.0, 500)
        weights /= weights.sum()
        generic = Loss.start_value(SquaredLoss(), centred, weights)  # through weighted_value
        expected = 0.5 * float(np.sum(weights[:, None] * centred**2))
        assert SquaredLoss().start_value(centred, weights) == pytest.approx(expected, rel=1e-13)
        assert generic == pytest.approx(expected, rel=1e-13)


# -- whole fits -------------------------------------------------------------------------
ESTIMATORS = {
    "plain, constant": dict(
        optimizer=GradientDescent(sampling="stochastic"), learning_rate="constant", eta0=0.01
    ),
    'plain, "auto"': dict(optimizer=GradientDescent(sampling="stochastic")),
    "SVRG": dict(optimizer="stochastic"),
    "mini-batch": dict(optimizer="minibatch", batch_size=8),
    "batch": dict(optimizer="batch"),
}


def _fit(X, y, weights, **params):
    model = GradientDescentRegressor(max_iter=3, tol=None, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("weighted", [False, True])
def test_csr_fits_equal_dense_fits(monkeypatch, name, weighted, dtype):
    X = _awkward_csr(dtype)
    rng = np.random.default_rng(8)
    y = (X @ rng.standard_normal(X.shape[1]) + 0.1 * rng.standard_normal(X.shape[0])).astype(dtype)
    weights = rng.uniform(0.5, 2.0, X.shape[0]) if weighted else None
    params = ESTIMATORS[name]
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", COMPILED)
    sparse_fit = _fit(X, y, weights, **params)
    dense_fit = _fit(X.toarray(), y, weights, **params)
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", SCIPY)
    scipy_fit = _fit(X, y, weights, **params)
    for other in (dense_fit, scipy_fit):
        np.testing.assert_allclose(sparse_fit.coef_, other.coef_, rtol=1e-9, atol=1e-9)
        assert sparse_fit.intercept_ == pytest.approx(other.intercept_, rel=1e-9, abs=1e-9)


def test_non_canonical_csr_fits_like_its_canonical_form(monkeypatch):
    X = _awkward_csr()
    y = np.asarray(X @ np.arange(1.0, 8.0)) + 1.0
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", COMPILED)
    canonical = _fit(X, y, None, **ESTIMATORS['plain, "auto"'])
    messy = _non_canonical(X)
    other = _fit(messy, y, None, **ESTIMATORS['plain, "auto"'])
    np.testing.assert_allclose(other.coef_, canonical.coef_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("bad", "message"), [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")]
)
def test_non_finite_csr_gets_scikit_learns_message(monkeypatch, bad, message):
    """The summary pass replaces validate_data's finiteness check: it must catch NaN and inf."""
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", COMPILED)
    X = _awkward_csr()
    X.data[3] = bad
    weights = np.ones(X.shape[0])
    weights[np.searchsorted(X.indptr, 3, side="right") - 1] = 0.0  # a zero weight hides nothing
    for sample_weight in (None, weights):
        with pytest.raises(ValueError, match=message):
            GradientDescentRegressor(optimizer="stochastic", max_iter=1, tol=None).fit(
                X, np.ones(X.shape[0]), sample_weight=sample_weight
            )


def test_huge_csr_entries_get_the_magnitude_message(monkeypatch):
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", COMPILED)
    X = _awkward_csr()
    X.data[0] = 1e200  # finite, but its square overflows
    with pytest.raises(ValueError, match="values as large as 1e\\+200"):
        GradientDescentRegressor(optimizer="stochastic").fit(X, np.ones(X.shape[0]))
