"""The lazy CSR epoch kernels (``gdreg._kernels._sparse``) against the readable paths.

The kernels hold the coefficients as ``sigma (v + beta a [+ gamma c])`` so that
an update costs the row's non-zeros, not the number of features. They must
give what the NumPy path gives (``LeastSquares.batch_value_and_gradient``
followed by the rule's update, or ``SVRG.numpy_epoch``) up to round-off:
one and two targets, weights, with and without the penalty, in the user's and
in standardised coordinates, with and without a learned intercept, per sample
and in mini-batches. Where the penalty's decay differs per coordinate
(standardised coordinates with ``alpha > 0``) the O(d) kernels run instead,
and must agree as well.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import gdreg
from gdreg import GradientDescentRegressor, _kernels, _loop
from gdreg._accuracy import spreads
from gdreg._kernels import _sparse
from gdreg._objective import LeastSquares
from gdreg.optimizers import SVRG, GradientDescent
from gdreg.optimizers._svrg import SVRGState

RTOL = 1e-10


def _data(n=120, d=9, k=1, seed=0, density=0.35):
    """CSR X whose columns have means far from zero (centring matters), and Y (n, k)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.3, 3.0, d) + 2.0
    X[rng.random((n, d)) > density] = 0.0
    X[:, 3] = 0.0  # an empty column
    Y = X @ rng.standard_normal((d, k)) + 0.5 + 0.1 * rng.standard_normal((n, k))
    return sp.csr_matrix(X), Y


def _objective(X, Y, *, weighted, alpha, scaled, learn_intercept):
    n = X.shape[0]
    weights = np.random.default_rng(1).uniform(0.2, 3.0, n) if weighted else None
    c = np.full(n, 1.0 / n) if weights is None else weights / weights.sum()
    x_offset = np.asarray(X.T @ c).ravel()
    y_offset = c @ Y
    if learn_intercept:  # offsets fixed from a first chunk, as a stream fixes them
        x_offset, y_offset = x_offset * 0.9, y_offset + 0.3
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=alpha,
        x_offset=x_offset,
        y_offset=y_offset,
        learn_intercept=learn_intercept,
    )
    return objective.scaled(spreads(objective)) if scaled else objective


def _start(objective, k, seed=5):
    rng = np.random.default_rng(seed)
    theta = np.zeros((objective.n_features + 1, k))
    theta[: objective.n_features] = 0.1 * rng.standard_normal((objective.n_features, k))
    if objective.learn_intercept:
        theta[-1] = 0.2
    return theta


def _steps(objective, batch_size, epoch):
    """Decaying steps, stable for this objective (half of 1 / L_max)."""
    n_updates = _loop.updates_per_epoch(objective.n_samples, "minibatch", batch_size)
    first = 0.5 / objective.lipschitz_max()
    return first / np.sqrt(1.0 + epoch + np.arange(n_updates) / n_updates)


class _Spy:
    """Counts the calls of a kernel and forwards them."""

    def __init__(self, kernel):
        self.kernel, self.calls = kernel, 0

    def __call__(self, *args):
        self.calls += 1
        return self.kernel(*args)


def _uses_lazy(alpha, scaled):
    # the decay of the penalty is one scalar unless the preconditioner varies
    return alpha == 0.0 or not scaled


def _lazy_kernel(family, k, batch_size):
    """The name of the lazy kernel that runs ``family`` ("plain" or "svrg") for k targets."""
    if k > 1:
        return f"_{family}_csr_lazy"
    if family == "svrg":
        return "_svrg_csr_lazy_1d"
    return "_sgd_csr_lazy_1d" if batch_size == 1 else "_minibatch_csr_lazy_1d"


LAZY_KERNELS = [
    "_plain_csr_lazy",
    "_svrg_csr_lazy",
    "_sgd_csr_lazy_1d",
    "_minibatch_csr_lazy_1d",
    "_svrg_csr_lazy_1d",
]


def _spy_all(monkeypatch):
    """Spies on every lazy kernel, by name."""
    spies = {name: _Spy(getattr(_sparse, name)) for name in LAZY_KERNELS}
    for name, spy in spies.items():
        monkeypatch.setattr(_sparse, name, spy)
    return spies


@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("learn_intercept", [False, True])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 2])
def test_plain_epochs_match_numpy_path(
    monkeypatch, k, weighted, alpha, scaled, learn_intercept, batch_size
):
    X, Y = _data(k=k)
    objective = _objective(
        X, Y, weighted=weighted, alpha=alpha, scaled=scaled, learn_intercept=learn_intercept
    )
    spies = _spy_all(monkeypatch)
    data = objective.stochastic_data()
    optimizer = GradientDescent()
    theta_fast = _start(objective, k)
    theta_ref = theta_fast.copy()
    rng = np.random.default_rng(3)
    for epoch in range(3):
        order = rng.permutation(X.shape[0]).astype(np.int64)
        steps = _steps(objective, batch_size, epoch)
        loss_fast = _kernels.plain_epoch(data, theta_fast, order, steps, batch_size)
        _, loss_ref = _loop._numpy_epoch(
            objective, optimizer, theta_ref, optimizer.init(theta_ref), order, steps, batch_size
        )
        assert loss_fast == pytest.approx(loss_ref, rel=RTOL)
    size = np.abs(theta_ref).max()
    np.testing.assert_allclose(theta_fast, theta_ref, rtol=0, atol=RTOL * size)
    assert learn_intercept or np.all(theta_fast[-1] == 0.0)
    # one target runs the 1-D kernel of its sampling mode, more targets the general one
    expected = _lazy_kernel("plain", k, batch_size) if _uses_lazy(alpha, scaled) else None
    assert {name: spy.calls for name, spy in spies.items() if spy.calls} == (
        {expected: 3} if expected else {}
    )


@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 2])
def test_svrg_epochs_match_numpy_path(monkeypatch, k, weighted, alpha, scaled, batch_size):
    X, Y = _data(k=k, seed=2)
    objective = _objective(
        X, Y, weighted=weighted, alpha=alpha, scaled=scaled, learn_intercept=False
    )
    spies = _spy_all(monkeypatch)
    data = objective.stochastic_data()
    snap = _start(objective, k)
    snap[-1] = 0.0  # SVRG runs with the intercept eliminated by centring
    optimizer = SVRG(sampling="minibatch")
    theta_fast = snap.copy()
    theta_ref = snap.copy()
    rng = np.random.default_rng(4)
    for epoch in range(3):
        anchor = theta_ref.copy()
        state = SVRGState(anchor, objective.value_and_gradient(anchor)[1])
        order = rng.permutation(X.shape[0]).astype(np.int64)
        steps = _steps(objective, batch_size, epoch)
        # the fast path starts each epoch from the reference's anchor: each
        # epoch is compared on its own, not the drift of a few epochs of round-off
        theta_fast = anchor.copy()
        _kernels.svrg_epoch(
            data, theta_fast, state.anchor, state.anchor_grad, order, steps, batch_size
        )
        optimizer.numpy_epoch(objective, theta_ref, state, order, steps, batch_size)
        size = np.abs(theta_ref).max()
        np.testing.assert_allclose(theta_fast, theta_ref, rtol=0, atol=RTOL * size)
    expected = _lazy_kernel("svrg", k, batch_size) if _uses_lazy(alpha, scaled) else None
    assert {name: spy.calls for name, spy in spies.items() if spy.calls} == (
        {expected: 3} if expected else {}
    )


@pytest.mark.parametrize("step_times_alpha", [0.5, 1.0])
def test_decay_is_folded_in_when_it_gets_tiny(step_times_alpha):
    """A penalty strong enough for ``sigma`` to fall under 1e-9 (and to exactly 0).

    A step of ``0.5 / alpha`` halves ``sigma`` each update (it is folded into
    ``v`` every 30 updates); a step of ``1 / alpha`` zeroes it at once.
    """
    X, Y = _data(n=150, d=6, k=2, seed=7)
    X = X * 0.05  # small rows: the data's curvature stays below the penalty's
    alpha = 4.0
    for plain in (True, False):
        objective = _objective(
            X, Y, weighted=True, alpha=alpha, scaled=False, learn_intercept=plain
        )
        data = objective.stochastic_data()
        theta_fast = _start(objective, 2)
        if not plain:
            theta_fast[-1] = 0.0
        theta_ref = theta_fast.copy()
        order = np.random.default_rng(8).permutation(X.shape[0]).astype(np.int64)
        steps = np.full(X.shape[0], step_times_alpha / alpha)
        if plain:
            optimizer = GradientDescent()
            loss_fast = _kernels.plain_epoch(data, theta_fast, order, steps, 1)
            _, loss_ref = _loop._numpy_epoch(
                objective, optimizer, theta_ref, optimizer.init(theta_ref), order, steps, 1
            )
            assert loss_fast == pytest.approx(loss_ref, rel=RTOL)
        else:
            snap = theta_ref.copy() * 0.5
            state = SVRGState(snap, objective.value_and_gradient(snap)[1])
            _kernels.svrg_epoch(data, theta_fast, snap, state.anchor_grad, order, steps, 1)
            SVRG().numpy_epoch(objective, theta_ref, state, order, steps, 1)
        size = np.abs(theta_ref).max()
        assert np.all(np.isfinite(theta_fast))
        np.testing.assert_allclose(theta_fast, theta_ref, rtol=0, atol=RTOL * size)


def test_scalar_decay_needs_a_uniform_preconditioner():
    assert _sparse._uniform_decay(0.0, np.array([1.0, 4.0])) == 0.0
    assert _sparse._uniform_decay(0.5, np.full(3, 4.0)) == 2.0
    assert _sparse._uniform_decay(0.5, np.array([1.0, 4.0])) is None
    X, Y = _data()
    objective = _objective(X, Y, weighted=False, alpha=0.3, scaled=True, learn_intercept=False)
    prec = 1.0 / objective.column_scale**2
    theta = _start(objective, 1)
    order = np.arange(X.shape[0], dtype=np.int64)
    steps = np.full(X.shape[0], 1e-3)
    data = objective.stochastic_data()
    before = theta.copy()
    assert _sparse.plain_csr_epoch(data, theta, order, steps, 1, prec) is None
    assert not _sparse.svrg_csr_epoch(data, theta, before, before, order, steps, 1, prec)
    np.testing.assert_array_equal(theta, before)  # untouched: the caller runs the O(d) kernel


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_one_target_kernels_match_the_general_kernels(batch_size, alpha):
    """The 1-D kernels against the (d, k) kernels called with k = 1, on a strided column.

    The mini-batch and SVRG kernels add in the same order as the general ones
    (equal to the last bit); the per-sample one follows ``m . v`` through the
    row's ``x . a`` (round-off). ``theta`` and ``w`` are the first column of
    wider arrays, so the dispatchers run the kernels on a copy and write it back.
    """
    X, Y = _data(k=1, seed=9)
    objective = _objective(X, Y, weighted=True, alpha=alpha, scaled=False, learn_intercept=True)
    data = objective.stochastic_data()
    n, d = X.shape
    order = np.random.default_rng(10).permutation(n).astype(np.int64)
    steps = _steps(objective, batch_size, 0)
    prec = np.ones(d)
    a = prec * data.x_offset
    gbuf = np.empty((batch_size, 1))
    exact = batch_size > 1  # same summation order
    tol = dict(rtol=0, atol=0) if exact else dict(rtol=0, atol=1e-12)

    wide = np.hstack([_start(objective, 1), np.full((d + 1, 2), 7.0)])
    theta = wide[:, :1]  # a strided column
    general = theta.copy()
    loss = _sparse.plain_csr_epoch(data, theta, order, steps, batch_size, prec)
    args = (X.data, X.indices, X.indptr, data.Y, data.scale, data.x_offset, data.y_offset)
    args = (*args, alpha, alpha, True, general, order, steps, batch_size, prec, a)
    loss_general = _sparse._plain_csr_lazy(*args, np.empty((5, 1)), gbuf, 1, None, None)
    assert loss == pytest.approx(loss_general, rel=0 if exact else 1e-13)
    np.testing.assert_allclose(theta, general, **tol)
    np.testing.assert_array_equal(wide[:, 1:], 7.0)  # the other columns untouched
    assert not np.array_equal(theta, _start(objective, 1))  # the epoch was written back

    wide = np.hstack([_start(objective, 1, seed=6), np.full((d + 1, 2), 7.0)])
    w, snap = wide[:, :1], _start(objective, 1)
    general = w.copy()
    mu = objective.value_and_gradient(snap)[1]
    assert _sparse.svrg_csr_epoch(data, w, snap, mu, order, steps, batch_size, prec)
    args = (X.data, X.indices, X.indptr, data.Y, data.scale, data.x_offset, data.y_offset)
    args = (*args, alpha, True, general, snap, order, steps, batch_size, prec, a)
    # a learned intercept: the general form (loss_arguments), here of the squared loss
    args = (*args, prec[:, None] * mu[:d], mu[d], np.empty((8, 1)), gbuf, 1, 0, 0.0)
    _sparse._svrg_csr_lazy(*args)
    np.testing.assert_array_equal(w, general)  # same order of additions: bitwise
    np.testing.assert_array_equal(wide[:, 1:], 7.0)


# -- whole fits ------------------------------------------------------------------------
FITS = {
    "default stochastic (SVRG, auto)": dict(optimizer="stochastic"),
    "default minibatch (SVRG, auto)": dict(optimizer="minibatch", batch_size=16),
    "plain stochastic, constant": dict(
        optimizer=GradientDescent(sampling="stochastic"), learning_rate="constant", eta0=0.002
    ),
    "plain stochastic, auto, alpha": dict(
        optimizer=GradientDescent(sampling="stochastic"), alpha=0.05
    ),
    "plain minibatch, invsqrt, alpha": dict(
        optimizer=GradientDescent(sampling="minibatch"),
        learning_rate="invsqrt",
        eta0=0.005,
        batch_size=8,
        alpha=0.05,
    ),
    "SVRG constant, alpha": dict(
        optimizer=SVRG(sampling="stochastic"), learning_rate="constant", eta0=0.002, alpha=0.05
    ),
}


def _fit(X, y, weights, **params):
    model = GradientDescentRegressor(**{"max_iter": 4, "tol": None, "random_state": 0, **params})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", list(FITS))
def test_csr_fit_matches_dense_fit(monkeypatch, case, weighted, k):
    """A CSR fit (lazy kernels) gives the dense fit (dense kernels) and the NumPy path."""
    X, Y = _data(n=200, d=8, k=k, seed=11)
    X = X.toarray()
    X[:, 5] = 3.0  # a constant column, stored: LeastSquares zeroes its gradient
    X = sp.csr_matrix(X)
    y = Y[:, 0] if k == 1 else Y
    weights = np.random.default_rng(12).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    params = FITS[case]
    spies = _spy_all(monkeypatch)
    sparse_fit = _fit(X, y, weights, **params)
    dense_fit = _fit(X.toarray(), y, weights, **params)
    monkeypatch.setattr(_kernels, "ENABLED", False)
    reference = _fit(X, y, weights, **params)
    size = np.abs(reference.coef_).max()
    for fit in (sparse_fit, dense_fit):
        np.testing.assert_allclose(fit.coef_, reference.coef_, rtol=0, atol=1e-9 * size)
        np.testing.assert_allclose(fit.intercept_, reference.intercept_, rtol=0, atol=1e-9 * size)
    assert sparse_fit.t_ == dense_fit.t_ == reference.t_
    # every fit's first epoch is plain SGD (SVRG's too): the kernel for k targets ran
    optimizer = params["optimizer"]
    sampling = optimizer if isinstance(optimizer, str) else optimizer.sampling
    batch_size = 1 if sampling == "stochastic" else 2  # 2: any mini-batch
    plain = spies[_lazy_kernel("plain", k, batch_size)]
    assert plain.calls > 0 or (params.get("alpha", 0.0) > 0 and "auto" in case)
    kernels_of_other_k = {_lazy_kernel(f, 3 - k, b) for f in ("plain", "svrg") for b in (1, 2)}
    assert all(spies[name].calls == 0 for name in kernels_of_other_k)


def test_csr_fit_float32_matches_dense_fit():
    X, Y = _data(n=30_000, d=40, seed=13, density=0.1)  # large enough to stay float32
    X, y = X.astype(np.float32), Y[:, 0].astype(np.float32)
    params = dict(optimizer="stochastic", max_iter=2)
    sparse_fit = _fit(X, y, None, **params)
    dense_fit = _fit(X.toarray(), y, None, **params)
    assert sparse_fit.coef_.dtype == dense_fit.coef_.dtype == np.float32
    size = np.abs(dense_fit.coef_).max()
    np.testing.assert_allclose(sparse_fit.coef_, dense_fit.coef_, rtol=0, atol=1e-4 * size)


def test_wide_sparse_fit_reaches_the_normal_equation():
    """Many more columns than non-zeros a row: the lazy SVRG fit converges."""
    rng = np.random.default_rng(14)
    X = sp.random(3000, 300, density=0.02, format="csr", random_state=rng) * 3.0
    X = (
        X + sp.csr_matrix((np.ones(3000), (np.arange(3000), np.zeros(3000))), shape=X.shape)
    ).tocsr()
    w = rng.standard_normal(300)
    y = X @ w + 1.5
    model = GradientDescentRegressor(optimizer="stochastic", alpha=1e-3, tol=1e-8, max_iter=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    exact = gdreg.normal_equation(X.toarray(), y, alpha=1e-3)
    np.testing.assert_allclose(model.coef_, exact[0], atol=1e-5 * np.abs(exact[0]).max())


# -- without numba's JIT -----------------------------------------------------------------
JIT_DISABLED_SCRIPT = """
    import json, numpy as np, numba
    from gdreg import _kernels, _loop
    from gdreg._kernels import _plain, _sparse, _svrg
    from gdreg.optimizers import SVRG, GradientDescent
    from gdreg.optimizers._svrg import SVRGState
    import test_sparse_epochs as t

    assert numba.config.DISABLE_JIT
    worst = 0.0
    for alpha, scaled in [(0.0, True), (0.3, False), (0.3, True)]:  # lazy, lazy, O(d)
        for batch, k in [(1, 1), (5, 1), (1, 2), (5, 2)]:  # 1-D and general kernels
            X, Y = t._data(n=40, d=6, k=k)
            obj = t._objective(X, Y, weighted=True, alpha=alpha, scaled=scaled,
                               learn_intercept=False)
            order = np.random.default_rng(0).permutation(40).astype(np.int64)
            steps = t._steps(obj, batch, 0)
            fast = t._start(obj, k); fast[-1] = 0.0; ref = fast.copy()
            _kernels.plain_epoch(obj.stochastic_data(), fast, order, steps, batch)
            opt = GradientDescent()
            _loop._numpy_epoch(obj, opt, ref, opt.init(ref), order, steps, batch)
            snap = ref.copy()
            state = SVRGState(snap, obj.value_and_gradient(snap)[1])
            fast = snap * 1.1; ref = fast.copy()
            _kernels.svrg_epoch(obj.stochastic_data(), fast, snap, state.anchor_grad, order,
                                steps, batch)
            SVRG().numpy_epoch(obj, ref, state, order, steps, batch)
            worst = max(worst, float(np.abs(fast - ref).max() / np.abs(ref).max()))
    kernels = [getattr(_sparse, name) for name in t.LAZY_KERNELS]
    kernels += [_plain._plain_epoch_csr, _svrg._svrg_epoch_csr]
    kinds = [type(f).__name__ for f in kernels]
    print(json.dumps({"worst": worst, "kinds": kinds}))
"""


def test_lazy_and_fallback_kernels_run_with_the_jit_disabled(tmp_path):
    """``NUMBA_DISABLE_JIT=1``: the lazy kernels and the O(d) fallbacks run as Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHON"))}
    tests = Path(__file__).parent
    env.update(
        NUMBA_DISABLE_JIT="1",
        PYTHONPATH=os.pathsep.join([str(Path(gdreg.__file__).parent.parent), str(tests)]),
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JIT_DISABLED_SCRIPT)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["kinds"] == ["function"] * (len(LAZY_KERNELS) + 2)  # Python, not dispatchers
    assert out["worst"] < RTOL
