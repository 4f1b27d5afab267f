"""The full-batch fit at every size: one pass over X for the Gram route, same answers.

The default fit forms the d x d Hessian anyway (the certificate of ``tol``, the
"auto" step), so it runs on the sufficient statistics from the first sizes on,
and takes the column ranges, the means and the centred statistics from one
pass (:func:`gdreg._objective.dense_moments`). These tests hold that pass to a
float64 NumPy reference, the fits to ``LinearRegression``, and check that the
passes it replaces are not made. The sampled step of stochastic fits without
``tol`` (:func:`gdreg._accuracy.sampled_lipschitz`) is held to the exact one.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from gdreg import GradientDescentRegressor, _accuracy, _estimator, _problem, _validation
from gdreg._objective import GramLeastSquares, LeastSquares, dense_moments


def _reference_moments(X, Y, c):
    """Weighted means and centred moments in float64, by explicit centring."""
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    x_mean, y_mean = c @ X64, c @ Y64
    Xc, Yc = X64 - x_mean, Y64 - y_mean
    return x_mean, y_mean, (Xc * c[:, None]).T @ Xc, (Xc * c[:, None]).T @ Yc, c @ Yc**2


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(7, 3), (5000, 4), (70_001, 11)])
def test_dense_moments_match_explicit_centring(shape, dtype, weighted):
    n, d = shape
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-2, 2, d) + rng.uniform(-50, 50, d)
    X = np.sort(X, axis=0)  # the chunks' means drift: the merges matter
    X = X.astype(dtype)
    Y = (rng.standard_normal((n, 2)) + 3.0).astype(dtype)
    c = rng.uniform(0.0, 2.0, n) if weighted else np.ones(n)
    if weighted:
        c[: n // 3] = 0.0  # whole chunks of zero weight
    c /= c.sum()
    m = dense_moments(X, Y, c.astype(dtype) if weighted else None)
    x_mean, y_mean, xx, xy, yy = _reference_moments(X, Y, c)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(m.x_mean, x_mean, rtol=rtol, atol=0)
    np.testing.assert_allclose(m.y_mean, y_mean, rtol=rtol, atol=0)
    scale = np.sqrt(np.outer(np.diag(xx), np.diag(xx)))
    assert np.max(np.abs(m.xx - xx) / scale) < rtol
    np.testing.assert_allclose(m.yy, yy, rtol=rtol)
    assert np.max(np.abs(m.xy - xy) / np.sqrt(np.outer(np.diag(xx), yy))) < rtol
    if weighted:  # the ranges are exact, rows of zero weight included
        np.testing.assert_array_equal(m.x_low, X.min(axis=0))
        np.testing.assert_array_equal(m.x_high, X.max(axis=0))
    else:  # every entry is in the moments, which bound the largest magnitude
        assert m.x_low is None and m.x_high is None
        lower, upper = m.largest_magnitude_bounds(n)
        largest = np.max(np.abs(X.astype(np.float64)))
        assert lower * (1 - 1e-6) <= largest <= upper * (1 + 1e-6)
    np.testing.assert_array_equal(m.y_low, Y.min(axis=0))
    np.testing.assert_array_equal(m.y_high, Y.max(axis=0))
    assert m.finite


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_moments_where_chunk_means_jump(dtype):
    """Each chunk is centred on the mean so far: a jump far beyond the chunks' spread
    (a step, a trend, one outlying block) costs no digits."""
    n = 300_000
    rng = np.random.default_rng(11)
    noise = rng.standard_normal((n, 4)) * 1e-3
    step = np.where(np.arange(n) >= n - 1000, 1e6, 0.0)
    X = np.column_stack([step, np.arange(n) * 1e3, 5e7 + step, np.zeros(n)]) + noise
    X[: n // 2, 3] = -1e5  # half the rows far from the rest
    X = X.astype(dtype)
    Y = X[:, :1] * 2.0 + 1.0
    m = dense_moments(X, Y)
    x_mean, y_mean, xx, xy, yy = _reference_moments(X, Y, np.full(n, 1.0 / n))
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    scale = np.sqrt(np.outer(np.diag(xx), np.diag(xx)))
    assert np.max(np.abs(m.xx - xx) / scale) < rtol
    np.testing.assert_allclose(m.x_mean, x_mean, rtol=rtol)
    np.testing.assert_allclose(m.y_mean, y_mean, rtol=rtol)
    np.testing.assert_allclose(m.yy, yy, rtol=rtol)
    assert np.max(np.abs(m.xy - xy) / np.sqrt(np.outer(np.diag(xx), yy))) < rtol


def test_dense_moments_constant_columns_are_exact():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3001, 3))
    X[:, 1] = 0.1  # its mean is not 0.1 in floating point
    Y = np.full((3001, 1), 7.3)
    m = dense_moments(X, Y)
    assert m.x_mean[1] == 0.1 and m.y_mean[0] == 7.3
    assert not np.any(m.xx[1]) and not np.any(m.xx[:, 1]) and not np.any(m.xy)
    assert m.yy[0] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [5, 3001, 200_001])
def test_constant_columns_without_ranges_are_exactly_the_constant_ones(n, dtype):
    """Without weights no range is taken: the moments single out the columns to compare."""
    rng = np.random.default_rng(n)
    base = np.array([0.1, 1e8 + 0.3, -7.0, 0.0, 1e-300, 123.456, 1e8, 2.0e3, 5.0])
    X = np.tile(base, (n, 1)).astype(dtype)
    # columns 5-8 vary: one entry, a spread at the last digits, a trend, sorted noise
    X[n // 2, 5] = np.nextafter(X[n // 2, 5], np.inf, dtype=dtype)
    X[:, 6] += np.arange(n) % 3 * np.spacing(X[0, 6])
    X[:, 7] += np.linspace(0.0, 1.0, n, dtype=dtype)
    X[:, 8] = np.sort(rng.standard_normal(n)).astype(dtype) + 5.0
    Y = X[:, -1:].copy()
    m = dense_moments(X, Y)
    constant = X.min(axis=0) == X.max(axis=0)
    assert constant.tolist() == [True] * 5 + [False] * 4 or n < 3
    for j in np.flatnonzero(constant):
        assert m.x_mean[j] == X[0, j]
        assert not np.any(m.xx[j]) and not np.any(m.xx[:, j]) and not np.any(m.xy[j])
    # a varying column keeps its computed moment (a single ulp's spread is round-off)
    assert np.all(np.diag(m.xx)[7:] > 0)


def test_largest_magnitude_bounds_decide_the_magnitude_check_only_when_they_can():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4000, 3))
    m = dense_moments(X, X[:, :1])
    assert _validation.magnitude_within_limits(
        *m.largest_magnitude_bounds(4000), np.float64, 3, small=True
    )
    tiny = dense_moments(X * 1e-160, X[:, :1])  # squares underflow: the bounds cannot tell
    assert not _validation.magnitude_within_limits(
        *tiny.largest_magnitude_bounds(4000), np.float64, 3, small=True
    )
    with pytest.raises(ValueError, match="no value larger than"):
        GradientDescentRegressor().fit(X * 1e-160, X[:, 0])


def test_moments_about_any_offset_equal_the_sums_about_it():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((2000, 4)) + 5.0, rng.standard_normal((2000, 1))
    m = dense_moments(X, Y)
    offset, y_offset = np.array([1.0, -2.0, 0.0, 5.0]), np.array([0.5])
    gram, xty, yty = m.about(offset, y_offset, np.float64)
    Xo, Yo = X - offset, Y - y_offset
    np.testing.assert_allclose(gram, Xo.T @ Xo / 2000, rtol=1e-12)
    np.testing.assert_allclose(xty, Xo.T @ Yo / 2000, rtol=1e-12)
    np.testing.assert_allclose(yty, (Yo**2).mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_entries_show_in_the_moments(bad):
    X = np.ones((5000, 3)) + np.arange(5000)[:, None]
    X[4321, 2] = bad
    assert not dense_moments(X, X[:, :1]).finite


def _scale_free_error(est, X, y, sample_weight=None):
    ref = LinearRegression().fit(X, y, sample_weight=sample_weight)
    w = np.ones(len(y)) if sample_weight is None else sample_weight
    std_x = np.sqrt(np.cov(X.T, aweights=w, bias=True).diagonal())
    std_y = np.sqrt(np.cov(y, aweights=w, bias=True))
    return np.max(np.abs(est.coef_ - ref.coef_) * std_x) / std_y


@pytest.mark.parametrize(
    ("n", "d"), [(1_000, 10), (10_000, 10), (1_000, 100), (20_000, 30), (300, 2)]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_default_fit_matches_linear_regression_to_its_bound(n, d, weighted):
    rng = np.random.default_rng(n + d)
    X = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 3, d) + 1e4
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n) - 3.0
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    est = GradientDescentRegressor().fit(X, y, sample_weight=weights)
    assert est.converged_
    assert _scale_free_error(est, X, y, weights) <= 1.001e-6
    # the intercept follows from the centring: the predictions agree to the bound
    ref = LinearRegression().fit(X, y, sample_weight=weights)
    gap = est.predict(X) - ref.predict(X)
    assert np.sqrt(np.mean(gap**2)) <= 1e-5 * np.std(y)


def test_default_fit_of_small_float32_and_no_intercept():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2_000, 6)) + 2.0
    y = X @ rng.standard_normal(6) + 1.0
    est = GradientDescentRegressor().fit(X.astype(np.float32), y.astype(np.float32))
    assert est.coef_.dtype == np.float32 and est.converged_
    np.testing.assert_allclose(est.coef_, LinearRegression().fit(X, y).coef_, atol=1e-5)
    flat = GradientDescentRegressor(fit_intercept=False, tol=1e-10).fit(X, y)
    ref = LinearRegression(fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(flat.coef_, ref.coef_, rtol=1e-8)
    assert flat.intercept_ == 0.0


def test_constant_column_in_a_small_default_fit():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((1_000, 3))
    X[:, 0] = 0.1
    y = X[:, 1] - 2 * X[:, 2] + 4.0
    est = GradientDescentRegressor().fit(X, y)
    assert est.converged_ and est.coef_[0] == 0.0
    np.testing.assert_allclose(est.coef_[1:], [1.0, -2.0], atol=1e-6)


def test_gram_route_from_the_smallest_sizes_when_the_hessian_is_formed_anyway():
    def kind(est, n, d):
        settings = _problem.Settings(**est.get_params(deep=False))
        X = np.random.default_rng(0).standard_normal((n, d))
        Y = X[:, :1].copy()
        problem = _problem.prepare(
            X, Y, None, validate=lambda X, y, **_: (X, y), estimator_name="est"
        )._replace(x_offset=np.zeros(d), y_offset=np.zeros(1))
        sampling = _problem.resolve_optimizer(settings).sampling
        return type(_problem.build_objective(problem, sampling, settings))

    default = GradientDescentRegressor()
    assert kind(default, 500, 5) is GramLeastSquares  # the certificate forms X^T X
    assert kind(GradientDescentRegressor(tol=None), 500, 5) is GramLeastSquares  # "auto": L
    plain = GradientDescentRegressor(tol=None, learning_rate="constant")
    assert kind(plain, 500, 5) is LeastSquares  # nothing needs it: a pass is cheaper
    assert kind(plain, 50_000, 5) is GramLeastSquares
    assert kind(default, 2_000, 400) is LeastSquares  # n < 10 d
    assert kind(GradientDescentRegressor(optimizer="stochastic"), 50_000, 5) is LeastSquares


def test_small_dense_fit_reads_X_in_one_pass(monkeypatch):
    """The checks, the offsets and the statistics come from dense_moments alone."""

    def refuse(*args, **kwargs):
        raise AssertionError("a separate pass over X")

    for name in ("weighted_column_means", "summarize_columns", "snap_constant"):
        monkeypatch.setattr(_problem, name, refuse)
    monkeypatch.setattr(_validation, "_compute_column_range", refuse)
    monkeypatch.setattr(GramLeastSquares, "__init__", refuse)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5_000, 8))
    y = X @ rng.standard_normal(8)
    for weights in (None, rng.uniform(0.5, 2.0, 5_000)):
        est = GradientDescentRegressor().fit(X, y, sample_weight=weights)
        assert est.converged_
        assert _scale_free_error(est, X, y, weights) <= 1.001e-6


@pytest.mark.parametrize(
    ("bad", "message"), [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")]
)
def test_non_finite_X_gets_scikit_learns_message_on_the_fused_route(bad, message):
    X = np.random.default_rng(8).standard_normal((2_000, 3))
    X[1_234, 1] = bad
    with pytest.raises(ValueError, match=message):
        GradientDescentRegressor().fit(X, np.ones(2_000))


def test_huge_entries_get_the_magnitude_message_on_the_fused_route():
    X = np.random.default_rng(9).standard_normal((2_000, 3))
    X[7, 0] = 1e200  # finite, but its square overflows
    with pytest.raises(ValueError, match="values as large as 1e\\+200"):
        GradientDescentRegressor().fit(X, np.ones(2_000))


def _exact_and_sampled(monkeypatch, X, y, **params):
    est = GradientDescentRegressor(max_iter=1, tol=None, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sampled = est.fit(X, y).learning_rate_.eta0
        with monkeypatch.context() as m:
            m.setattr(_accuracy, "sample_rows", lambda objective: None)
            exact = est.fit(X, y).learning_rate_.eta0
    return sampled, exact


@pytest.mark.parametrize("optimizer", ["minibatch", "stochastic"])
def test_sampled_auto_step_is_close_to_the_exact_one_and_never_larger(monkeypatch, optimizer):
    rng = np.random.default_rng(10)
    n, d = 70_000, 6
    X = rng.standard_normal((n, d)) * [1.0, 10.0, 0.1, 1e3, 1.0, 5.0]
    X[:, 4] = 0.8 * X[:, 0] / 1.0 + 0.6 * X[:, 4]  # correlated: L > 1 when standardised
    y = X @ rng.standard_normal(d)
    sampled, exact = _exact_and_sampled(monkeypatch, X, y, optimizer=optimizer)
    assert (
        _accuracy.sample_rows(
            LeastSquares(
                X,
                y[:, None],
                None,
                alpha=0.0,
                x_offset=X.mean(0),
                y_offset=np.zeros(1),
                learn_intercept=False,
            )
        )
        is not None
    )
    # the safety factor makes the step smaller, at most by that factor
    assert exact / _accuracy.SAMPLE_SAFETY / 1.2 <= sampled <= exact * 1.05


def test_sampled_spreads_and_curvature_estimate_the_exact_ones():
    rng = np.random.default_rng(11)
    n, d = 100_000, 5
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0
    Y = rng.standard_normal((n, 1))
    objective = LeastSquares(
        X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0), learn_intercept=False
    )
    rows = _accuracy.sample_rows(objective)
    assert rows is not None and len(rows) == _accuracy.SAMPLE_ROWS
    assert np.array_equal(rows, _accuracy.sample_rows(objective))  # a fixed sample
    spread = _accuracy.sampled_spreads(objective, rows)
    np.testing.assert_allclose(spread, X.std(axis=0), rtol=0.1)
    scaled = objective.scaled(spread)
    estimate = _accuracy.sampled_lipschitz(scaled, rows)
    exact = scaled.lipschitz()
    assert exact <= estimate <= 1.3 * _accuracy.SAMPLE_SAFETY * exact


def test_small_data_are_not_sampled():
    X = np.random.default_rng(12).standard_normal((30_000, 4))
    objective = LeastSquares(
        X,
        X[:, :1],
        None,
        alpha=0.0,
        x_offset=X.mean(0),
        y_offset=np.zeros(1),
        learn_intercept=False,
    )
    assert _accuracy.sample_rows(objective) is None


# -- the cheap validation of a small fit: same outcome as scikit-learn's ---------------
def _sklearn_validated(X, y, ensure_all_finite=True):
    from sklearn.utils.validation import validate_data

    reference = GradientDescentRegressor()
    out = validate_data(
        reference,
        X,
        y,
        reset=True,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        multi_output=True,
        y_numeric=True,
        ensure_all_finite=ensure_all_finite,
    )
    return reference, out


@pytest.mark.parametrize(
    "X, y",
    [
        (np.ones((5, 3)), np.arange(5.0)),  # the fast case
        (np.ones((5, 3), dtype=np.float32), np.arange(10.0).reshape(5, 2)),  # fast, 2-D y
        (np.ones((5, 3)), np.arange(5)),  # integer y: scikit-learn's path
        (np.ones((5, 3)).tolist(), np.arange(5.0)),  # a list: converted by scikit-learn
        (np.ones((5, 3), dtype=np.int64), np.arange(5.0)),  # converted to float64
    ],
)
def test_training_data_validation_matches_scikit_learns(X, y):
    reference, (X_ref, y_ref) = _sklearn_validated(X, y)
    ours = GradientDescentRegressor()
    ours.feature_names_in_ = np.array(["stale"], dtype=object)  # dropped, as on reset
    X_ours, y_ours = _estimator.validate_training_data(ours, X, y, reset=True)
    np.testing.assert_array_equal(X_ours, X_ref)
    np.testing.assert_array_equal(y_ours, y_ref)
    assert X_ours.dtype == X_ref.dtype and y_ours.dtype == y_ref.dtype
    assert ours.n_features_in_ == reference.n_features_in_
    assert not hasattr(ours, "feature_names_in_")


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.ones((5, 3)), np.array([0.0, np.nan, 1, 2, 3]), "Input y contains NaN"),
        (np.ones((5, 3)), np.array([0.0, np.inf, 1, 2, 3]), "Input y contains infinity"),
        (np.full((5, 3), np.nan), np.arange(5.0), "Input X contains NaN"),
        (np.ones((5, 3)), np.arange(4.0), "inconsistent numbers of samples"),
        (np.ones((0, 3)), np.arange(0.0), "0 sample"),
        (np.ones((5, 0)), np.arange(5.0), "0 feature"),
        (np.ones(5), np.arange(5.0), "Expected 2D array"),
    ],
)
def test_invalid_training_data_gets_scikit_learns_errors(X, y, message):
    with pytest.raises(ValueError, match=message):
        _sklearn_validated(X, y)
    with pytest.raises(ValueError, match=message):
        _estimator.validate_training_data(GradientDescentRegressor(), X, y, reset=True)


def test_unchecked_X_is_passed_through_for_the_fused_pass():
    X = np.full((5, 3), np.nan)
    X_out, _ = _estimator.validate_training_data(
        GradientDescentRegressor(), X, np.arange(5.0), reset=True, ensure_all_finite=False
    )
    assert X_out is X


@pytest.mark.parametrize(
    "params",
    [
        {"eta0": 0.0},
        {"alpha": -1.0},
        {"batch_size": 0},
        {"max_iter": 0},
        {"tol": -1.0},
        {"learning_rate": "fast"},
        {"fit_intercept": 1},
        {"eta0": np.nan},
    ],
)
def test_remembered_parameter_checks_still_reject_bad_values(params):
    X, y = np.random.RandomState(0).randn(20, 2), np.arange(20.0)
    GradientDescentRegressor().fit(X, y)  # valid plain values: remembered
    for _ in range(2):  # a failed check is never remembered
        reg = GradientDescentRegressor(**params)
        with pytest.raises(ValueError, match="parameter of GradientDescentRegressor"):
            reg.fit(X, y)
        assert not hasattr(reg, "coef_")


@pytest.mark.parametrize("size", [64, 100, 160])
@pytest.mark.parametrize("kind", ["full rank", "null space", "clustered", "zero"])
def test_spectrum_by_bisection_equals_the_one_from_all_eigenvalues(size, kind):
    """The certificate's three numbers from the tridiagonal form, against numpy's eigvalsh."""
    rng = np.random.default_rng(size)
    A = rng.standard_normal((3 * size, size)) * 10.0 ** rng.uniform(-2, 2, size)
    if kind == "null space":
        A[:, :5] = A[:, 5:10] @ rng.standard_normal((5, 5))  # five dependent columns
    elif kind == "clustered":
        A = np.linalg.qr(A)[0] * 3.0  # every eigenvalue 9
    elif kind == "zero":
        A = np.zeros_like(A)
    h = A.T @ A
    h = (h + h.T) / 2
    saved = h.copy()
    top, curvature, null = _accuracy._spectrum(h, size, np.float64)
    assert np.array_equal(h, saved)  # left as it was: the null space is computed from it
    eigenvalues = np.linalg.eigvalsh(h)
    level = _accuracy._NULL_ROUNDING_UNITS * size * np.finfo(float).eps * max(eigenvalues[-1], 0)
    positive = eigenvalues[eigenvalues > level]
    assert null == eigenvalues.size - positive.size
    assert top == pytest.approx(max(eigenvalues[-1], 0.0), rel=1e-12, abs=0)
    if positive.size:  # both are backward stable: to a few eps times the largest
        rounding = 100 * size * np.finfo(float).eps * eigenvalues[-1]
        assert curvature == pytest.approx(positive[0], rel=1e-12, abs=rounding)
    else:
        assert curvature == np.inf


@pytest.mark.parametrize("d", [6, 70])  # all eigenvalues, and bisection from 64 features on
def test_constant_column_next_to_a_null_space(d):
    """A constant column (left out of the certificate) beside dependent ones (a null space).

    ``PolynomialFeatures`` gives both: its bias column, and on raw data with few rows
    combinations that repeat. The null space is computed on the active columns only.
    """
    rng = np.random.default_rng(d)
    Z = rng.standard_normal((3_000, d - 2))
    X = np.column_stack([np.full(3_000, 1.0), Z, Z[:, 0] + 2.0 * Z[:, 1]])
    y = Z @ rng.standard_normal(d - 2) + 0.1 * rng.standard_normal(3_000)
    est = GradientDescentRegressor().fit(X, y)
    ref = LinearRegression().fit(X, y)
    assert est.converged_
    assert est.coef_[0] == 0.0
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-5)  # the minimum-norm solution
    gap = est.predict(X) - ref.predict(X)
    assert np.sqrt(np.mean(gap**2)) <= 1e-5 * np.std(y)
