"""Out-of-core recipes: np.memmap and pandas CSV chunks, and the mergeable statistics."""

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

from gdreg import (
    GradientDescentRegressor,
    SufficientStatistics,
    fit_from_statistics,
    normal_equation,
)


def _problem(n=2000, d=5, k=None, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d) + shift
    coef = rng.normal(size=(d,) if k is None else (d, k))
    y = X @ coef - 2.0 + 0.1 * rng.normal(size=(n,) if k is None else (n, k))
    return X, y


def _relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny)


def _one_shot(X, y, w=None):
    """Statistics of everything at once, by the textbook two-pass formulas."""
    w = np.ones(len(X)) if w is None else w
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    S = w.sum()
    xm, ym = w @ X / S, w @ Y / S
    Xc, Yc = X - xm, Y - ym
    return S, xm, ym, (Xc * w[:, None]).T @ Xc, (Xc * w[:, None]).T @ Yc, w @ (Yc * Yc)


# -- the recipes -------------------------------------------------------------------------------
@pytest.fixture
def memmapped(tmp_path):
    X, y = _problem(n=40_000, d=6)  # n * d large enough for fit to use the Gram path too
    Xm = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="w+", shape=X.shape)
    ym = np.memmap(tmp_path / "y.f64", dtype=np.float64, mode="w+", shape=y.shape)
    Xm[:], ym[:] = X, y
    Xm.flush()
    ym.flush()
    del Xm, ym
    Xr = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="r", shape=X.shape)
    yr = np.memmap(tmp_path / "y.f64", dtype=np.float64, mode="r", shape=y.shape)
    return X, y, Xr, yr


def test_memmap_statistics_equal_in_memory_fit(memmapped):
    X, y, Xr, yr = memmapped
    chunk = 3000
    stats = SufficientStatistics.from_chunks(
        (Xr[i : i + chunk], yr[i : i + chunk]) for i in range(0, len(Xr), chunk)
    )
    params = {"tol": None, "max_iter": 300, "alpha": 1e-3}
    streamed = fit_from_statistics(GradientDescentRegressor(**params), stats)
    in_memory = GradientDescentRegressor(**params).fit(X, y)
    assert _relative(streamed.coef_, in_memory.coef_) < 1e-10
    assert _relative(streamed.intercept_, in_memory.intercept_) < 1e-10
    np.testing.assert_allclose(streamed.loss_curve_, in_memory.loss_curve_, rtol=1e-10)
    assert (streamed.n_iter_, streamed.t_, streamed.n_features_in_) == (300, 300, 6)


def test_memmap_partial_fit_recipe(memmapped):
    X, y, Xr, yr = memmapped
    reg = GradientDescentRegressor(optimizer="minibatch", batch_size=64, random_state=0)
    chunk = 10_000
    for _ in range(5):
        for i in range(0, len(Xr), chunk):
            reg.partial_fit(Xr[i : i + chunk], yr[i : i + chunk])
    coef, intercept = normal_equation(X, y)
    # Stochastic iterates with a decaying step: near the optimum, not on it.
    np.testing.assert_allclose(reg.coef_, coef, atol=1.5e-2)
    assert reg.intercept_ == pytest.approx(intercept, abs=2e-2)
    assert reg.n_iter_ == 20 and reg.t_ == 20 * int(np.ceil(chunk / 64))


def test_csv_chunks_recipe(tmp_path):
    X, y = _problem(n=3000, d=4, seed=2)
    columns = ["a", "b", "c", "d"]
    frame = pd.DataFrame(X, columns=columns).assign(target=y)
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False, float_format="%.17g")

    def chunks():
        for part in pd.read_csv(path, chunksize=700):
            yield part[columns], part["target"]

    stats = SufficientStatistics.from_chunks(chunks())
    reg = fit_from_statistics(GradientDescentRegressor(tol=1e-12, max_iter=10_000), stats)
    lr = LinearRegression().fit(frame[columns], frame["target"])
    np.testing.assert_allclose(reg.coef_, lr.coef_, rtol=1e-8)
    assert reg.intercept_ == pytest.approx(lr.intercept_, rel=1e-8)
    np.testing.assert_array_equal(reg.feature_names_in_, columns)
    np.testing.assert_allclose(reg.predict(frame[columns]), lr.predict(frame[columns]), rtol=1e-8)

    sgd = GradientDescentRegressor(optimizer="stochastic", random_state=0)
    for _ in range(10):
        for X_part, y_part in chunks():
            sgd.partial_fit(X_part, y_part)
    np.testing.assert_array_equal(sgd.feature_names_in_, columns)
    np.testing.assert_allclose(sgd.coef_, lr.coef_, atol=1e-2)


# -- the statistics themselves ---------------------------------------------------------------
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_statistics_equal_one_shot(k, weighted):
    X, y = _problem(n=1000, d=4, k=k, seed=5)
    w = np.random.default_rng(5).uniform(0.0, 3.0, size=1000) if weighted else None
    stats = SufficientStatistics()
    for i in range(0, 1000, 137):
        stats.update(X[i : i + 137], y[i : i + 137], None if w is None else w[i : i + 137])
    S, xm, ym, xx, xy, yy = _one_shot(X, y, w)
    assert stats.n_samples == 1000
    assert stats.weight_sum == pytest.approx(S, rel=1e-13)
    for got, expected in [
        (stats.x_mean, xm),
        (stats.y_mean, ym.ravel()),
        (stats.xx, xx),
        (stats.xy, xy),
        (stats.yy, yy),
    ]:
        assert _relative(got, expected) < 1e-12


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 199), max_size=6, unique=True),
    tree=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_merge_is_independent_of_the_split(cuts, tree, seed):
    X, y = _problem(n=200, d=3, seed=seed)
    bounds = [0, *sorted(cuts), 200]
    parts = [SufficientStatistics().update(X[a:b], y[a:b]) for a, b in itertools.pairwise(bounds)]
    if tree:  # pairwise, as Dask's tree reduction does
        while len(parts) > 1:
            merged = [a.merge(b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
            parts = merged + ([parts[-1]] if len(parts) % 2 else [])
        stats = parts[0]
    else:
        stats = SufficientStatistics()
        for part in parts:
            stats = stats.merge(part)
    whole = SufficientStatistics().update(X, y)
    for name in ("x_mean", "y_mean", "xx", "xy", "yy"):
        assert _relative(getattr(stats, name), getattr(whole, name)) < 1e-11


def test_centred_merge_survives_large_offsets():
    # Features near 1e8 with unit spread: raw sums lose every digit of the spread.
    X, y = _problem(n=4000, d=3, shift=1e8, seed=3)
    stats = SufficientStatistics.from_chunks(
        (X[i : i + 500], y[i : i + 500]) for i in range(0, 4000, 500)
    )
    _, _, _, xx, xy, _ = _one_shot(X, y)
    assert _relative(stats.xx, xx) < 1e-8
    assert _relative(stats.xy, xy) < 1e-8
    reg = fit_from_statistics(GradientDescentRegressor(tol=1e-12, max_iter=10_000), stats)
    coef, _ = normal_equation(X, y)
    np.testing.assert_allclose(reg.coef_, coef, rtol=1e-6)


def test_zero_weight_chunks_count_rows_only():
    X, y = _problem(n=300, d=3)
    stats = SufficientStatistics()
    stats.update(X[:100], y[:100], np.zeros(100))
    stats.update(X[100:], y[100:])
    stats.update(X[:50], y[:50], np.zeros(50))
    whole = SufficientStatistics().update(X[100:], y[100:])
    assert stats.n_samples == 350
    for name in ("x_mean", "xx", "xy", "yy"):
        assert _relative(getattr(stats, name), getattr(whole, name)) < 1e-13


@pytest.mark.parametrize(
    "params",
    [
        {"fit_intercept": False},
        {"alpha": 0.1},
        {"learning_rate": "invsqrt", "eta0": 0.05},
    ],
)
def test_statistics_fit_equals_in_memory_fit_variants(params):
    X, y = _problem(n=600, d=4, k=2, seed=6)
    w = np.random.default_rng(6).uniform(0.1, 2.0, size=600)
    params = {"tol": None, "max_iter": 150, **params}
    in_memory = GradientDescentRegressor(**params).fit(X, y, sample_weight=w)
    stats = SufficientStatistics.from_chunks(
        (X[i : i + 250], y[i : i + 250], w[i : i + 250]) for i in range(0, 600, 250)
    )
    streamed = fit_from_statistics(GradientDescentRegressor(**params), stats)
    assert _relative(streamed.coef_, in_memory.coef_) < 1e-10
    assert _relative(streamed.intercept_, in_memory.intercept_) < 1e-10 or (
        streamed.intercept_ == in_memory.intercept_ == 0.0
    )
    assert streamed.coef_.shape == (2, 4)


def test_sparse_and_float32_chunks():
    X, y = _problem(n=500, d=4, seed=8)
    X[X < 3.0] = 0.0
    dense = SufficientStatistics.from_chunks([(X[:200], y[:200]), (X[200:], y[200:])])
    sparse = SufficientStatistics.from_chunks(
        [(sp.csr_matrix(X[:200]), y[:200]), (sp.csr_matrix(X[200:]), y[200:])]
    )
    for name in ("x_mean", "xx", "xy", "yy"):
        assert _relative(getattr(sparse, name), getattr(dense, name)) < 1e-10
    single = SufficientStatistics().update(X.astype(np.float32), y.astype(np.float32))
    reg = fit_from_statistics(GradientDescentRegressor(), single)
    assert reg.coef_.dtype == np.float32


def test_errors_leave_the_estimator_untouched():
    X, y = _problem(n=100, d=3)
    stats = SufficientStatistics().update(X, y)
    reg = GradientDescentRegressor().fit(X, y)
    coef = reg.coef_.copy()
    with pytest.raises(ValueError, match="full-batch"):
        fit_from_statistics(reg.set_params(optimizer="stochastic"), stats)
    with pytest.raises(ValueError, match="empty"):
        fit_from_statistics(reg.set_params(optimizer="batch"), SufficientStatistics())
    with pytest.raises(TypeError, match="SufficientStatistics"):
        fit_from_statistics(reg, (X, y))
    np.testing.assert_array_equal(reg.coef_, coef)
    with pytest.raises(ValueError, match="features"):
        SufficientStatistics().update(X, y).update(X[:, :2], y)
    with pytest.raises(ValueError, match="targets"):
        SufficientStatistics().update(X, y).update(X, np.c_[y, y])
    with pytest.raises(ValueError, match="feature names"):
        frame = pd.DataFrame(X, columns=["a", "b", "c"])
        SufficientStatistics().update(frame, y).update(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        SufficientStatistics().update(X, y, -np.ones(100))


# -- fit's checks, on data seen a chunk at a time (issue 13, item 2) ------------------------------
def _fit_error(X, y):
    with pytest.raises(ValueError) as error:
        GradientDescentRegressor().fit(X, y)
    return str(error.value)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize(
    "scale_X, scale_y, which",
    [(1e200, 1.0, "overflow"), (1.0, 1e200, "overflow"), (1e-200, 1.0, "underflow")],
    ids=["X_1e200", "y_1e200", "X_1e-200"],
)
def test_magnitude_checks_see_every_chunk_and_give_fits_message(scale_X, scale_y, which):
    # On the committed code: SciPy's "array must not contain infs or NaNs", "the
    # learning rate is too large", and for X ~ 1e-200 R^2 = 0 with converged_=True.
    X, y = _problem(n=600, d=3)
    X, y = X * scale_X, y * scale_y
    stats = SufficientStatistics.from_chunks(
        (X[i : i + 100], y[i : i + 100]) for i in range(0, 600, 100)
    )
    reg = GradientDescentRegressor()
    with pytest.raises(ValueError) as error:
        fit_from_statistics(reg, stats)
    assert str(error.value) == _fit_error(X, y)  # the largest entry of all the chunks
    assert which in str(error.value)
    assert not hasattr(reg, "coef_")


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_underflow_is_judged_on_all_chunks_not_one():
    X, y = _problem(n=400, d=3)
    tiny = X.copy()
    tiny[:200] *= 1e-200  # one chunk alone would underflow; the data do not
    stats = SufficientStatistics.from_chunks([(tiny[:200], y[:200]), (tiny[200:], y[200:])])
    streamed = fit_from_statistics(GradientDescentRegressor(tol=1e-10), stats)
    in_memory = GradientDescentRegressor(tol=1e-10).fit(tiny, y)
    assert _relative(streamed.coef_, in_memory.coef_) < 1e-8


def test_statistics_keep_the_largest_magnitudes_across_merges():
    X, y = _problem(n=300, d=3, k=2)
    X[17, 2], y[250, 1] = -1e6, 3e5
    parts = [SufficientStatistics().update(X[i : i + 100], y[i : i + 100]) for i in (0, 100, 200)]
    merged = parts[2].merge(parts[0]).merge(parts[1])
    for stats in (merged, SufficientStatistics.from_chunks([(X, y)])):
        assert stats.x_max_abs == 1e6 and stats.y_max_abs == 3e5


@pytest.mark.parametrize("k", [None, 2])
def test_constant_columns_are_centred_on_the_constant(k):
    # On the committed code the constant column of a 20-row chunk got the coefficient
    # 0.78 (its weighted mean differs from 3.7 by round-off) with converged_=True.
    X, y = _problem(n=20, d=3, k=k)
    X = np.c_[X, np.full(20, 3.7)]
    stats = SufficientStatistics().update(X, y)
    assert stats.x_mean[3] == 3.7
    np.testing.assert_array_equal(stats.xx[3], 0.0)
    np.testing.assert_array_equal(stats.xy[3], 0.0)
    both = stats.merge(SufficientStatistics().update(X[:7], y[:7]))
    np.testing.assert_array_equal(both.xx[:, 3], 0.0)  # the same constant: still exact
    reg = fit_from_statistics(GradientDescentRegressor(tol=1e-12, max_iter=10_000), stats)
    lr = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.coef_, lr.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(np.atleast_2d(reg.coef_)[:, 3], 0.0)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_sums_that_overflow_raise_a_clear_error_and_change_nothing():
    X, y = _problem(n=2000, d=3)
    stats = SufficientStatistics().update(X[:100], y[:100])
    before = {name: np.copy(value) for name, value in vars(stats).items() if value is not None}
    # every weight finite, their sum not: fit rescales them, chunk statistics cannot
    with pytest.raises(ValueError, match=r"sum past the largest float64.*common factor"):
        stats.update(X[100:], y[100:], np.full(1900, 1e306))
    # entries fit accepts (their squares are finite), whose sum over 2000 rows is not
    big = X / np.abs(X).max() * 1.9e153
    GradientDescentRegressor(tol=None, max_iter=3).fit(big, y)
    with pytest.raises(ValueError, match="sufficient statistics overflow float64"):
        SufficientStatistics().update(big, y)
    halves = [SufficientStatistics().update(big[i : i + 1000], y[i : i + 1000]) for i in (0, 1000)]
    with pytest.raises(ValueError, match="sufficient statistics overflow float64"):
        halves[0].merge(halves[1])
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(stats, name), value)
