"""Every memory layout of dense X fits as its C-ordered copy does, without copying X.

A Fortran-ordered array, a pandas DataFrame (column-major inside) and strided
views (``X[::2]``, ``X[:, ::2]``) run the compiled epochs in gathered row
blocks (:mod:`gdreg._kernels._blocks`). The updates and their order are those
of the C-ordered fit, so ``coef_`` agrees to round-off in every mode, for
``fit`` and ``partial_fit``, with sample weights; and the row-block buffer is
a small fraction of X.
"""

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _kernels
from gdreg._kernels import _blocks
from gdreg._loop import EpochSteps
from gdreg._objective import LeastSquares
from gdreg.optimizers import SVRG, Adam, AveragedSGD, GradientDescent, Momentum
from gdreg.schedules import Constant, InverseSqrt

N, D = 3_000, 12  # 288 KB: the 64 KiB blocks of this X take about 6 per epoch


def _data(n=N, d=D, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, d) + rng.uniform(-2.0, 2.0, d)
    y = X @ rng.standard_normal((d, k)) + 0.3 * rng.standard_normal((n, k))
    weights = rng.uniform(0.5, 2.0, n)
    return X, (y[:, 0] if k == 1 else y), weights


def _layouts(X):
    """The same values in each layout (strided views made from a wider array)."""
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    tall = np.zeros((2 * X.shape[0], X.shape[1]))
    tall[::2] = X
    return {
        "F": np.asfortranarray(X),
        "columns ::2": wide[:, ::2],
        "rows ::2": tall[::2],
        "F columns ::2": np.asfortranarray(wide)[:, ::2],
    }


MODES = {
    "batch": dict(optimizer="batch"),
    "stochastic": dict(optimizer="stochastic"),
    "minibatch": dict(optimizer="minibatch", batch_size=37),
    "GD stochastic constant": dict(
        optimizer=GradientDescent("stochastic"), learning_rate="constant", eta0=2e-3
    ),
    "GD minibatch constant": dict(
        optimizer=GradientDescent("minibatch"), batch_size=50, learning_rate="constant", eta0=5e-3
    ),
    "GD stochastic invsqrt": dict(
        optimizer=GradientDescent("stochastic"), learning_rate="invsqrt", eta0=2e-3
    ),
    "AveragedSGD": dict(optimizer=AveragedSGD(start=100), learning_rate="constant", eta0=2e-3),
    "SVRG minibatch": dict(optimizer=SVRG("minibatch"), batch_size=16),
    "Momentum": dict(
        optimizer=Momentum(sampling="stochastic"), learning_rate="constant", eta0=1e-3
    ),
    "Adam minibatch": dict(
        optimizer=Adam(sampling="minibatch"), batch_size=64, learning_rate="constant", eta0=1e-2
    ),
}


def _fit(X, y, weights, params, **extra):
    est = GradientDescentRegressor(max_iter=4, random_state=0, **params, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, sample_weight=weights)


def _assert_same_fit(est, ref):
    scale = np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-11, atol=1e-11 * scale)
    assert est.n_iter_ == ref.n_iter_
    assert est.t_ == ref.t_


@pytest.mark.parametrize("mode", list(MODES))
def test_every_layout_fits_as_its_c_ordered_copy(mode):
    X, y, weights = _data()
    ref = _fit(np.ascontiguousarray(X), y, weights, MODES[mode])
    assert np.all(np.isfinite(ref.coef_)) and np.any(ref.coef_ != 0)
    for layout, view in _layouts(X).items():
        assert not view.flags.c_contiguous, layout
        _assert_same_fit(_fit(view, y, weights, MODES[mode]), ref)


def test_only_x_that_is_not_c_ordered_is_gathered(monkeypatch):
    X, y, weights = _data()
    gathered = []

    def spy(source, idx, out):
        gathered.append(len(idx))
        return gather_rows(source, idx, out)

    gather_rows = _blocks.gather_rows
    monkeypatch.setattr(_blocks, "gather_rows", spy)
    params = MODES["GD stochastic constant"]
    _fit(np.ascontiguousarray(X), y, weights, params)
    assert not gathered
    _fit(np.asfortranarray(X), y, weights, params)
    # X and Y of every block, 4 epochs, every sample once per epoch
    assert sum(gathered) == 2 * 4 * N and max(gathered) < N


@pytest.mark.parametrize("mode", ["stochastic", "GD minibatch constant", "Momentum"])
def test_dataframe_fits_as_its_c_ordered_copy(mode):
    pd = pytest.importorskip("pandas")
    X, y, weights = _data()
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(D)])
    ref = _fit(np.ascontiguousarray(X), y, weights, MODES[mode])
    _assert_same_fit(_fit(frame, y, weights, MODES[mode]), ref)


@pytest.mark.parametrize(
    "mode", ["GD stochastic constant", "GD minibatch constant", "Adam minibatch"]
)
def test_several_targets(mode):
    X, Y, weights = _data(k=3)
    ref = _fit(np.ascontiguousarray(X), Y, weights, MODES[mode])
    _assert_same_fit(_fit(np.asfortranarray(X), Y, weights, MODES[mode]), ref)


@pytest.mark.parametrize("mode", ["GD stochastic constant", "GD minibatch constant", "AveragedSGD"])
def test_numpy_path_gives_the_same_fit(monkeypatch, mode):
    X, y, weights = _data(n=600)
    ref = _fit(np.ascontiguousarray(X), y, weights, MODES[mode])
    monkeypatch.setattr(_kernels, "ENABLED", False)
    for view in _layouts(X).values():
        est = _fit(view, y, weights, MODES[mode])
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        dict(optimizer=GradientDescent("stochastic"), learning_rate="constant", eta0=2e-3),
        dict(optimizer=GradientDescent("minibatch"), batch_size=45, learning_rate="invsqrt"),
        dict(optimizer=AveragedSGD(), learning_rate="invsqrt", eta0=2e-3),
    ],
    ids=["stochastic", "minibatch", "averaged"],
)
def test_partial_fit_fits_as_its_c_ordered_copy(params):
    X, y, weights = _data()
    chunks = np.array_split(np.arange(N), 3)
    fits = {}
    for layout, view in [("C", np.ascontiguousarray(X)), *_layouts(X).items()]:
        est = GradientDescentRegressor(random_state=0, **params)
        for rows in chunks:
            est.partial_fit(view[rows[0] : rows[-1] + 1], y[rows], sample_weight=weights[rows])
        fits[layout] = est
    for est in fits.values():
        _assert_same_fit(est, fits["C"])


# -- the epoch in blocks, against one call on C-ordered data -------------------------
def _stochastic_data(X, Y, weights, scaled):
    # offsets and spreads from a C-ordered copy: the same numbers for every layout
    c = weights / weights.sum()
    X_c = np.ascontiguousarray(X)
    ls = LeastSquares(
        X, Y, weights, alpha=0.01, x_offset=c @ X_c, y_offset=c @ Y, learn_intercept=True
    )
    return (ls.scaled(X_c.std(axis=0)) if scaled else ls).stochastic_data()


@pytest.mark.parametrize("scaled", [False, True], ids=["user units", "standardised"])
@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize("schedule", ["constant", "invsqrt", "callable"])
def test_blocked_epoch_matches_one_call(monkeypatch, scaled, batch, schedule):
    # blocks of 100 rows (7 does not divide them: the blocks hold 98), a short last block
    monkeypatch.setattr(_blocks, "BLOCK_BYTES", 100 * (D * 8 + 16))
    monkeypatch.setattr(_blocks, "MIN_BLOCK_BYTES", 0)
    X, y, weights = _data(n=1_013)
    Y = y[:, None]
    order = np.random.default_rng(3).permutation(len(X)).astype(np.int64)
    if schedule == "constant":
        rule = Constant(1e-3)
    elif schedule == "invsqrt":
        rule = InverseSqrt(1e-2, t0=50.0)
    else:
        rule = _HalvingStep()
    count = -(-len(X) // batch)
    optimizer = GradientDescent("stochastic" if batch == 1 else "minibatch")
    results = []
    for layout in (np.ascontiguousarray(X), np.asfortranarray(X)):
        data = _stochastic_data(layout, Y, weights, scaled)
        theta = np.zeros((D + 1, 1))
        steps = EpochSteps(rule, 11, count, np.float64)
        _, loss = _blocks.compiled_epoch(optimizer, data, theta, (), order, steps, batch)
        results.append((theta, loss))
    (theta_c, loss_c), (theta_f, loss_f) = results
    if scaled:  # one conversion to and from standardised coordinates per block
        np.testing.assert_allclose(theta_f, theta_c, rtol=1e-13, atol=1e-15)
    else:  # the same arithmetic on the same rows in the same order
        np.testing.assert_array_equal(theta_f, theta_c)
    assert loss_f == pytest.approx(loss_c, rel=1e-12)


class _HalvingStep:
    """A schedule the kernels cannot evaluate (it is no built-in): steps come as values."""

    def __call__(self, t):
        return 1e-3 / (1.0 + t / 500.0)


def test_state_passes_from_block_to_block(monkeypatch):
    """AveragedSGD's counter and average, and Adam's moments, continue across blocks."""
    monkeypatch.setattr(_blocks, "BLOCK_BYTES", 64 * (D * 8 + 16))
    monkeypatch.setattr(_blocks, "MIN_BLOCK_BYTES", 0)
    X, y, weights = _data(n=500)
    order = np.random.default_rng(4).permutation(len(X)).astype(np.int64)
    for optimizer, batch in [(AveragedSGD(start=30), 1), (Adam(sampling="minibatch"), 8)]:
        outcomes = []
        for layout in (np.ascontiguousarray(X), np.asfortranarray(X)):
            data = _stochastic_data(layout, y[:, None], weights, scaled=False)
            theta = np.zeros((D + 1, 1))
            state = optimizer.init(theta)
            steps = EpochSteps(Constant(1e-3), 1, -(-len(X) // batch), np.float64)
            state, _ = _blocks.compiled_epoch(optimizer, data, theta, state, order, steps, batch)
            outcomes.append((theta, state))
        (theta_c, state_c), (theta_f, state_f) = outcomes
        np.testing.assert_array_equal(theta_f, theta_c)
        for part_f, part_c in zip(state_f, state_c, strict=True):
            np.testing.assert_array_equal(part_f, part_c)


class _HalfStepAveraged(AveragedSGD):
    def update(self, grad, state, params, step_size):
        return super().update(grad, state, params, step_size / 2)


def test_a_rule_without_compiled_epoch_leaves_the_epoch_to_numpy():
    X, y, weights = _data(n=300)
    data = _stochastic_data(np.asfortranarray(X), y[:, None], weights, scaled=False)
    theta = np.zeros((D + 1, 1))
    optimizer = _HalfStepAveraged("minibatch")  # its own update: no compiled epoch
    steps = EpochSteps(Constant(1e-3), 1, 10, np.float64)
    order = np.arange(300, dtype=np.int64)
    done = _blocks.compiled_epoch(optimizer, data, theta, optimizer.init(theta), order, steps, 32)
    assert done is None
    assert not np.any(theta)  # nothing was updated


@pytest.mark.parametrize("gather", ["_gather_by_column", "_gather_by_row"])
@pytest.mark.parametrize("d", [1, 4, 7])
def test_gathers_take_the_rows_in_order(gather, d):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, d))
    idx = rng.integers(0, 50, 31)
    for layout in (np.asfortranarray(X), np.ascontiguousarray(X), X[::-1, ::-1], X[::2]):
        expected = layout[idx % len(layout)]
        rows = idx % len(layout)
        compiled = getattr(_blocks, gather)
        for kernel in (compiled, getattr(compiled, "py_func", compiled)):
            out = np.empty((31, d))
            kernel(layout, rows, out)
            np.testing.assert_array_equal(out, expected)
        out = _blocks.gather_rows(layout, rows, np.empty((31, d)))
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("batch", [1, 3, 32, 5_000])
@pytest.mark.parametrize("shape", [(10, 3), (3_000, 12), (200_000, 100)])
def test_block_rows_respect_the_budget_and_the_batches(shape, batch):
    n, d = shape
    row_bytes = 8 * d + 16
    rows = _blocks.block_rows(n, row_bytes, 8 * n * d, batch)
    assert 1 <= rows <= n
    if rows < n:
        assert rows % batch == 0  # no mini-batch straddles two blocks
    if batch * row_bytes <= _blocks.MIN_BLOCK_BYTES:  # one batch fits the floor
        budget = min(_blocks.BLOCK_BYTES, max(0.1 * 8 * n * d, _blocks.MIN_BLOCK_BYTES))
        assert rows * row_bytes <= budget


def test_stochastic_fit_on_column_major_x_allocates_a_small_fraction_of_it(monkeypatch):
    """tracemalloc, as tests/test_memory.py measures the C-ordered fits."""
    n, d = 40_000, 100  # X is 32 MB: the 2 MiB block buffer is 6.6 % of it
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.standard_normal((n, d)) + 1.0)
    y = X @ rng.standard_normal(d)
    weights = rng.uniform(0.5, 2.0, n)
    for params in (
        dict(optimizer="stochastic"),
        dict(optimizer=GradientDescent("stochastic"), learning_rate="constant", eta0=1e-4),
    ):
        est = GradientDescentRegressor(max_iter=2, tol=None, random_state=0, **params)

        def fit(est=est):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, y, sample_weight=weights)

        fit()  # compile
        tracemalloc.start()
        try:
            fit()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= 0.1 * X.nbytes + 4 * d * d * 8, f"peak {peak / X.nbytes:.3f} x X.nbytes"


def test_layouts_fit_with_the_jit_disabled():
    """``NUMBA_DISABLE_JIT=1``: the blocks run as Python, and still give the C fit."""
    script = """
        import json, warnings
        import numba, numpy as np
        from gdreg import GradientDescentRegressor
        from gdreg.optimizers import AveragedSGD, GradientDescent

        assert numba.config.DISABLE_JIT
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, 5)) + 1.0
        y = X @ rng.standard_normal(5)
        gaps = []
        for optimizer in (GradientDescent("stochastic"), AveragedSGD(), "minibatch"):
            coefs = [
                GradientDescentRegressor(optimizer=optimizer, max_iter=2, tol=None, random_state=0)
                .fit(layout, y)
                .coef_
                for layout in (X, np.asfortranarray(X), np.hstack([X, X])[:, :5])
            ]
            gaps += [float(np.max(np.abs(coef - coefs[0]))) for coef in coefs[1:]]
        print(json.dumps(gaps))
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["NUMBA_DISABLE_JIT"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    gaps = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(gaps) == 6 and max(gaps) < 1e-12
