"""The compiled kernels against the readable NumPy path.

Every fast path sits behind the same seam as the NumPy reference: with
``_kernels.ENABLED = False`` the loop runs ``LeastSquares.batch_value_and_gradient``
followed by ``GradientDescent.update``. For the same seed both must give the
same coefficients up to round-off.
"""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _kernels, _loop
from gdreg._kernels import _plain, _summaries
from gdreg._objective import LeastSquares, _centred_row_norms
from gdreg.optimizers import GradientDescent
from gdreg.schedules import Constant, InverseSqrt, InvScaling


def _data(n=300, d=7, k=1, dtype=np.float64, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 2.0  # offsets far from zero: centring matters
    if sparse:
        X[rng.random((n, d)) < 0.6] = 0.0
    Y = X @ rng.standard_normal((d, k)) + 0.5 + 0.1 * rng.standard_normal((n, k))
    X, Y = X.astype(dtype), Y.astype(dtype)
    y = Y[:, 0] if k == 1 else Y
    return (sp.csr_matrix(X) if sparse else X), y


CASES = {
    "dense": {},
    "csr": {"sparse": True},
    "float32": {"dtype": np.float32},
    "multi-target": {"k": 3},
    "csr multi-target": {"sparse": True, "k": 2},
    "float32 multi-target": {"dtype": np.float32, "k": 2},
}


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_epochs_match_numpy_path(monkeypatch, case, weighted, alpha, batch_size):
    opts = CASES[case]
    X, y = _data(**opts)
    weights = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    optimizer = "stochastic" if batch_size == 1 else "minibatch"
    params = dict(
        optimizer=optimizer,
        batch_size=batch_size,
        learning_rate="invsqrt",
        eta0=0.01,
        alpha=alpha,
        max_iter=4,
        tol=None,
    )
    fits = []
    for enabled in (True, False):
        monkeypatch.setattr(_kernels, "ENABLED", enabled)
        est = GradientDescentRegressor(random_state=0, **params)
        fits.append(est.fit(X, y, sample_weight=weights))
    fast, reference = fits
    rtol = 2e-4 if opts.get("dtype") == np.float32 else 1e-9
    assert fast.coef_.dtype == reference.coef_.dtype == X.dtype
    np.testing.assert_allclose(fast.coef_, reference.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fast.intercept_, reference.intercept_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fast.loss_curve_, reference.loss_curve_, rtol=10 * rtol)
    assert fast.t_ == reference.t_


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("learn_intercept", [False, True])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_plain_epoch_matches_numpy_epoch(batch_size, learn_intercept, layout):
    """The kernels directly, including a learned intercept row and Fortran-ordered X."""
    X, y = _data(n=101, d=6)
    X = np.asarray(X, order=layout)
    Y = y.reshape(-1, 1)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=0.03,
        x_offset=X[:10].mean(axis=0),  # offsets from a first chunk, as a stream fixes them
        y_offset=Y[:10].mean(axis=0),
        learn_intercept=learn_intercept,
    )
    order = np.random.default_rng(3).permutation(X.shape[0]).astype(np.int64)
    n_updates = _loop.updates_per_epoch(X.shape[0], "minibatch", batch_size)
    steps = np.linspace(0.02, 0.01, n_updates)
    optimizer = GradientDescent()
    theta_fast = np.zeros((X.shape[1] + 1, 1))
    theta_fast[0] = 0.3
    theta_ref = theta_fast.copy()
    loss_fast = _kernels.plain_epoch(
        objective.stochastic_data(), theta_fast, order, steps, batch_size
    )
    _, loss_ref = _loop._numpy_epoch(
        objective, optimizer, theta_ref, optimizer.init(theta_ref), order, steps, batch_size
    )
    np.testing.assert_allclose(theta_fast, theta_ref, rtol=1e-11, atol=1e-12)
    assert loss_fast == pytest.approx(loss_ref, rel=1e-11)
    assert learn_intercept or theta_fast[-1, 0] == 0.0


def test_fused_single_target_matches_general_kernel():
    """The 1-D fused kernels give what the general (n_targets) kernel gives."""
    X, y = _data(n=257, d=9)
    Y = y.reshape(-1, 1)
    objective = LeastSquares(
        X, Y, None, alpha=0.1, x_offset=X.mean(0), y_offset=Y.mean(0), learn_intercept=True
    )
    data = objective.stochastic_data()
    order = np.random.default_rng(4).permutation(X.shape[0]).astype(np.int64)
    for batch_size in (1, 32):
        steps = np.full(-(-X.shape[0] // batch_size), 0.01)
        fused, general = np.zeros((10, 1)), np.zeros((10, 1))
        loss_fused = _kernels.plain_epoch(data, fused, order, steps, batch_size)
        loss_general = _plain._plain_epoch_dense(
            X,
            Y,
            data.scale,
            data.x_offset,
            data.y_offset,
            0.1,
            True,
            general,
            order,
            steps,
            batch_size,
            np.ones(X.shape[1]),
            None,  # the squared loss without an l1 part (loss_arguments)
            None,
            None,
        )
        np.testing.assert_allclose(fused, general, rtol=1e-11, atol=1e-13)
        assert loss_fused == pytest.approx(loss_general, rel=1e-11)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_column_range_matches_numpy(dtype):
    X = np.random.default_rng(5).standard_normal((1001, 13)).astype(dtype)
    low, high = _kernels.column_range(X)
    np.testing.assert_array_equal(low, X.min(axis=0))
    np.testing.assert_array_equal(high, X.max(axis=0))
    assert low.dtype == dtype


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("learn_intercept", [False, True])
@pytest.mark.parametrize("d", [1, 4, 33])
def test_lipschitz_max_matches_explicit_formula(monkeypatch, d, learn_intercept, compiled):
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", 0 if compiled else 10**18)
    rng = np.random.default_rng(d)
    X = rng.standard_normal((3000, d)) + 1.0
    Y = rng.standard_normal((3000, 1))
    weights = rng.uniform(0.1, 2.0, 3000)
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=0.3,
        x_offset=X[:5].mean(0),
        y_offset=Y[:5].mean(0),
        learn_intercept=learn_intercept,
    )
    norms = _centred_row_norms(X, objective.x_offset) + (1.0 if learn_intercept else 0.0)
    expected = np.max(3000 * weights / weights.sum() * norms) + 0.3
    assert objective.lipschitz_max() == pytest.approx(expected, rel=1e-12)


def test_compiled_helpers_do_not_change_the_fit(monkeypatch):
    """Column range and L_max from the compiled helpers (forced on a small X) change nothing."""
    X, y = _data(n=400, d=8)
    fits = []
    for threshold in (0, 10**12):
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", threshold)
        monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", threshold)
        est = GradientDescentRegressor(optimizer="stochastic", max_iter=3, tol=None, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(est.fit(X, y))
    assert fits[0].learning_rate_.eta0 == pytest.approx(fits[1].learning_rate_.eta0, rel=1e-12)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-12)


def test_same_seed_same_result():
    X, y = _data()
    a = GradientDescentRegressor(optimizer="stochastic", max_iter=2, tol=None, random_state=7)
    b = GradientDescentRegressor(optimizer="stochastic", max_iter=2, tol=None, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(a.fit(X, y).coef_, b.fit(X, y).coef_)


def test_column_range_is_computed_once_per_array_per_fit(monkeypatch):
    """The magnitude check, constant snap and constant mask share one pass over X."""
    from gdreg import _validation

    calls = []
    original = _validation._compute_column_range

    def counting(A):
        calls.append(id(A))
        return original(A)

    monkeypatch.setattr(_validation, "_compute_column_range", counting)
    X, y = _data(n=200, d=4)
    est = GradientDescentRegressor(optimizer="stochastic", max_iter=2, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        assert calls.count(id(X)) == 1
        # a new fit sees the data as they are now, not a range remembered from before
        X[:, 0] = 5.0
        calls.clear()
        est.fit(X, y)
    assert calls.count(id(X)) == 1
    assert est.coef_[0] == 0.0  # column 0 is now constant: no gradient reaches it


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1003, 7), (131, 1), (9, 3), (300, 70)])
def test_column_summary_matches_numpy(monkeypatch, dtype, weighted, split, shape):
    """Also for narrow X, where unweighted rows are grouped into wider ones."""
    monkeypatch.setattr(_summaries, "SPLIT_MIN_SIZE", 0 if split else 10**18)
    rng = np.random.default_rng(11)
    X = rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 10.0, 100.0], shape[1]) + 3.0
    X = X.astype(dtype)
    scale = rng.uniform(0.0, 2.0, shape[0]) if weighted else None
    low, high, sums = _kernels.column_summary(X, scale)
    np.testing.assert_array_equal(low, X.min(axis=0))
    np.testing.assert_array_equal(high, X.max(axis=0))
    assert low.dtype == dtype and sums.dtype == np.float64
    expected = X.astype(np.float64).T @ scale if weighted else X.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(sums, expected, rtol=1e-13)


def test_split_passes_do_not_depend_on_the_number_of_threads(monkeypatch):
    """The blocks are fixed, so the summed means are bitwise the same on any core count."""
    monkeypatch.setattr(_summaries, "SPLIT_MIN_SIZE", 0)
    X = np.random.default_rng(3).standard_normal((5001, 9))
    results = []
    for workers in (1, 2, 4):
        monkeypatch.setattr(
            _summaries, "_pool", lambda workers=workers: ThreadPoolExecutor(max_workers=workers)
        )
        results.append(_kernels.column_summary(X)[2])
        results.append(np.array([_kernels.max_weighted_row_norm(X, X[0], np.ones(5001))]))
    for other in results[2:]:
        np.testing.assert_array_equal(other, results[len(other) == 1])


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
@pytest.mark.parametrize(
    "bad, message", [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")]
)
def test_the_summary_pass_reports_nan_and_infinity_as_sklearn_does(
    monkeypatch, optimizer, bad, message
):
    """Large dense X skips validate_data's finiteness pass: the summary pass must catch it."""
    from gdreg import _validation

    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", 0)
    X, y = _data(n=300, d=5)
    assert _validation.one_pass_applies(X)
    weights = np.ones(300)
    weights[17] = 0.0  # a zero weight does not hide the bad value (0 * inf is NaN)
    for row in (0, 17, 299):
        Xb = X.copy()
        Xb[row, 2] = bad
        est = GradientDescentRegressor(optimizer=optimizer, max_iter=2, tol=None)
        with pytest.raises(ValueError, match=message):
            est.fit(Xb, y, sample_weight=weights)
        assert not hasattr(est, "coef_")


def test_the_summary_pass_replaces_the_separate_passes(monkeypatch):
    """One compiled pass gives the range, the means and the finiteness check of X."""
    from sklearn.utils import validation as sk_validation

    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", 0)
    calls = []
    original = _kernels.column_summary
    monkeypatch.setattr(
        _kernels, "column_summary", lambda A, s=None: calls.append(A.shape) or original(A, s)
    )
    finite_checks = []
    original_finite = sk_validation._assert_all_finite
    monkeypatch.setattr(
        sk_validation,
        "_assert_all_finite",
        lambda A, *a, **k: finite_checks.append(np.shape(A)) or original_finite(A, *a, **k),
    )
    X, y = _data(n=400, d=6)
    est = GradientDescentRegressor(optimizer="stochastic", max_iter=2, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert calls.count(X.shape) == 1
    assert X.shape not in finite_checks  # y is still checked by scikit-learn
    reference = GradientDescentRegressor(
        optimizer="stochastic", max_iter=2, tol=None, random_state=0
    )
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", 10**18)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X, y)
    np.testing.assert_allclose(est.coef_, reference.coef_, rtol=1e-12)


@pytest.mark.parametrize("n", [_kernels.SHUFFLE_MIN_SAMPLES, 50_001])
def test_shuffled_order_is_a_reproducible_permutation(n):
    first = _kernels.shuffled_order(np.random.RandomState(0), n)
    assert first.dtype == np.int64
    np.testing.assert_array_equal(np.sort(first), np.arange(n))
    np.testing.assert_array_equal(first, _kernels.shuffled_order(np.random.RandomState(0), n))
    assert not np.array_equal(first, _kernels.shuffled_order(np.random.RandomState(1), n))
    rng = np.random.RandomState(0)
    assert not np.array_equal(_kernels.shuffled_order(rng, n), _kernels.shuffled_order(rng, n))


def test_shuffled_order_is_uniform():
    """Where each of 8 tracked samples lands, over 400 shuffles: a chi-square test."""
    from scipy import stats

    n = _kernels.SHUFFLE_MIN_SAMPLES
    rng = np.random.RandomState(7)
    tracked = np.array([0, 1, n // 2, n - 1, 17, 999, 4096, n - 2])
    counts = np.zeros((len(tracked), 16))
    for _ in range(400):
        position = np.argsort(_kernels.shuffled_order(rng, n))[tracked]
        counts[np.arange(len(tracked)), position * 16 // n] += 1
    for row in counts:
        assert stats.chisquare(row).pvalue > 1e-4
    # consecutive samples are not kept together
    order = _kernels.shuffled_order(rng, n)
    assert abs(np.corrcoef(order[:-1], order[1:])[0, 1]) < 0.05


def test_compiled_and_numpy_paths_visit_the_same_shuffled_order(monkeypatch):
    """The order comes from rng alone, so both paths still give the same fit."""
    X, y = _data(n=_kernels.SHUFFLE_MIN_SAMPLES + 3, d=2)
    fits = []
    for enabled in (True, False):
        monkeypatch.setattr(_kernels, "ENABLED", enabled)
        monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0)
        est = GradientDescentRegressor(optimizer="stochastic", max_iter=2, tol=None, random_state=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(est.fit(X, y).coef_)
    np.testing.assert_allclose(fits[0], fits[1], rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("schedule", [InverseSqrt(0.05, t0=37.0), Constant(0.03)])
def test_kernel_evaluates_built_in_schedules_bitwise(schedule, dtype):
    """Steps computed inside the per-sample kernel equal the materialised ones exactly."""
    X, y = _data(n=500, d=6, dtype=dtype)
    objective = LeastSquares(
        X,
        y.reshape(-1, 1),
        None,
        alpha=0.01,
        x_offset=X.mean(0),
        y_offset=np.atleast_1d(y.mean()),
        learn_intercept=True,
    )
    data = objective.stochastic_data()
    order = np.random.default_rng(2).permutation(500).astype(np.int64)
    lazy = _loop.EpochSteps(schedule, 1001, 500, dtype)
    assert lazy.rule is not None
    results = []
    for steps in (lazy, np.asarray(_loop.EpochSteps(schedule, 1001, 500, dtype))):
        theta = np.zeros((7, 1), dtype=dtype)
        loss = _kernels.plain_epoch(data, theta, order, steps, 1)
        results.append((theta, loss))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    assert lazy._values is None  # never materialised
    assert lazy.last == np.asarray(_loop.EpochSteps(schedule, 1001, 500, dtype))[-1]


def test_other_schedules_are_materialised():
    steps = _loop.EpochSteps(InvScaling(0.1), 1, 5, np.float64)
    assert steps.rule is None
    np.testing.assert_array_equal(np.asarray(steps), InvScaling(0.1)(np.arange(1, 6)))
    assert steps.last == float(np.asarray(steps)[-1]) and steps.shape == (5,)


class _HalfStep(GradientDescent):
    """Plain GD with every step halved: a subclass that changes the rule."""

    def update(self, grad, state, params, step_size):
        return -0.5 * step_size * grad, state


@pytest.mark.parametrize("sampling", ["batch", "stochastic"])
def test_a_subclass_that_changes_the_rule_does_not_get_the_kernels(monkeypatch, sampling):
    """The compiled loops make theta - eta * grad; an overridden update must be used."""
    monkeypatch.setattr(_kernels, "COMPILED_MIN_SIZE", 0)
    X, y = _data(n=2000, d=5)
    common = dict(learning_rate="constant", max_iter=3, tol=None, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        half = GradientDescentRegressor(
            optimizer=_HalfStep(sampling=sampling), eta0=0.02, **common
        ).fit(X, y)
        plain = GradientDescentRegressor(
            optimizer=GradientDescent(sampling=sampling), eta0=0.01, **common
        ).fit(X, y)
    np.testing.assert_allclose(half.coef_, plain.coef_, rtol=1e-10)
    assert isinstance(half.optimizer_, _HalfStep)
