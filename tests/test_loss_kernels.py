"""The compiled epochs with every built-in loss and the l1 proximal step, against the NumPy path.

Every per-sample and mini-batch kernel computes the loss of the objective
(``gdreg._loss.residual_value`` and ``residual_derivative``, inlined) and, for
an l1 part, soft-thresholds the coefficients after each update, as
``LeastSquares.batch_value_and_gradient`` followed by the rule's update and
``LeastSquares.prox`` do (``_kernels.ENABLED = False``). The two must make the
same iterates, states and running objectives to round-off: for each loss,
plain and variance-reduced descent per sample and per mini-batch, an update
rule with a compiled piece (Adam) and AveragedSGD, dense and CSR X, one and
two targets, with and without sample weights, with and without an l1 part
(where the rule takes a proximal step), in the user's and in standardised
coordinates, and for X in any memory order.
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
from _problems import compiled_and_numpy_fits
from sklearn.exceptions import ConvergenceWarning

import gdreg
from gdreg import GradientDescentRegressor, _kernels, _loop
from gdreg._loss import EpsilonInsensitive, Huber, SquaredEpsilonInsensitive, SquaredLoss
from gdreg._objective import LeastSquares
from gdreg.optimizers import SVRG, Adam, AveragedSGD, GradientDescent
from gdreg.schedules import Constant, InverseSqrt

#: One loss of each kind, with widths inside the spread of the residuals (both
#: sides of every kink are visited).
LOSSES = {
    "squared": SquaredLoss(),
    "huber": Huber(epsilon=1.0),
    "epsilon_insensitive": EpsilonInsensitive(epsilon=0.3),
    "squared_epsilon_insensitive": SquaredEpsilonInsensitive(epsilon=0.3),
}
OPTIMIZERS = {
    "GD-stochastic": lambda: GradientDescent(sampling="stochastic"),
    "GD-minibatch": lambda: GradientDescent(sampling="minibatch"),
    "SVRG-stochastic": lambda: SVRG(sampling="stochastic"),
    "SVRG-minibatch": lambda: SVRG(sampling="minibatch"),
    "Adam-minibatch": lambda: Adam(sampling="minibatch", beta2=0.99),
    "AveragedSGD": lambda: AveragedSGD(sampling="stochastic", start=20),
}
#: The rules that take the l1 penalty's proximal step (``Optimizer.proximal``).
PROXIMAL = [name for name, make in OPTIMIZERS.items() if make().proximal]
#: A step every rule takes on this data without diverging.
STEP = {"Adam-minibatch": 0.02}
L1 = 0.05


def _data(n=64, d=4, k=1, seed=0, sparse=False):
    """Columns far from centred and of different spreads; the last one is irrelevant
    (the l1 penalty sets its coefficient to exact zeros)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.array([1.0, 2.0, 0.5, 1.5])[:d] + 1.5
    if sparse:
        X[rng.random((n, d)) < 0.5] = 0.0
    coef = rng.standard_normal((d, k))
    coef[-1] = 0.0
    Y = X @ coef + 0.5 + 0.5 * rng.standard_normal((n, k))
    return (sp.csr_matrix(X) if sparse else X), Y


def _objective(X, Y, loss, *, weighted, l1, scaled=False, alpha=0.05):
    """The objective as a fit builds it: centred on the weighted means; a loss other
    than the squared one learns the intercept."""
    n = X.shape[0]
    weights = np.random.default_rng(1).uniform(0.2, 3.0, n) if weighted else None
    c = np.full(n, 1.0 / n) if weights is None else weights / weights.sum()
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=alpha,
        x_offset=c @ dense,
        y_offset=c @ Y,
        learn_intercept=type(loss) is not SquaredLoss,
        loss=loss,
        l1=l1,
    )
    return objective.scaled(dense.std(axis=0) + 0.5) if scaled else objective


def _run_both(monkeypatch, objective, optimizer, schedule, batch_size=8, **options):
    """Three epochs with the kernels on, then off (the NumPy path), from one start."""
    runs = []
    for enabled in (True, False):
        monkeypatch.setattr(_kernels, "ENABLED", enabled)
        params0 = np.zeros((objective.n_features + 1, objective.n_targets), dtype=objective.Y.dtype)
        params0[0] = 0.2  # not from zero: the first residuals involve every coordinate
        runs.append(
            _loop.run(
                objective,
                optimizer,
                schedule,
                params0=params0,
                max_iter=3,
                tol=None,
                batch_size=batch_size,
                rng=np.random.RandomState(0),
                **options,
            )
        )
    return runs


def _assert_same_run(fast, reference, rtol=1e-10):
    scale = np.abs(reference.params).max()
    np.testing.assert_allclose(fast.params, reference.params, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(fast.loss_curve, reference.loss_curve, rtol=rtol)
    for a, b in zip(fast.state, reference.state, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
        else:
            assert a == b
    assert fast.n_updates == reference.n_updates
    assert not np.allclose(fast.params, 0.0)  # the rule moved: the comparison means something


def _cases():
    for loss in LOSSES:
        for name in OPTIMIZERS:
            for l1 in (0.0, L1) if name in PROXIMAL else (0.0,):
                yield pytest.param(loss, name, l1, id=f"{loss}-{name}-l1={l1}")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("layout", ["C", "csr"])
@pytest.mark.parametrize(("loss", "name", "l1"), list(_cases()))
def test_loop_matches_numpy_path(monkeypatch, loss, name, l1, layout, k, weighted):
    """Each loss x rule x sampling x layout x targets x weights x l1, in the user's coordinates.

    With ``alpha > 0`` and no l1 part, CSR X runs the lazy O(non-zeros)
    kernels; an l1 part sends it to the O(d) kernels that threshold every
    coefficient after each update.
    """
    X, Y = _data(k=k, sparse=layout == "csr")
    objective = _objective(X, Y, LOSSES[loss], weighted=weighted, l1=l1)
    schedule = Constant(STEP.get(name, 0.01))
    fast, reference = _run_both(monkeypatch, objective, OPTIMIZERS[name](), schedule)
    _assert_same_run(fast, reference)
    if l1:
        # the soft-threshold makes exact zeros, at the same coordinates on both paths
        np.testing.assert_array_equal(fast.params == 0.0, reference.params == 0.0)


@pytest.mark.parametrize("l1", [0.0, L1])
@pytest.mark.parametrize("layout", ["C", "csr"])
@pytest.mark.parametrize("name", PROXIMAL)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_standardised_coordinates(monkeypatch, loss, name, layout, l1):
    """In ``u = sigma * w`` (what ``learning_rate="auto"`` descends in) the threshold of
    coordinate j is ``eta * l1 / sigma_j``; with ``alpha > 0`` the decay differs per
    coordinate, so CSR X runs the O(d) kernels. Steps from InverseSqrt, which the
    per-sample kernels evaluate themselves."""
    X, Y = _data(sparse=layout == "csr", seed=3)
    objective = _objective(X, Y, LOSSES[loss], weighted=True, l1=l1, scaled=True)
    schedule = InverseSqrt(0.02, t0=30.0)
    fast, reference = _run_both(monkeypatch, objective, OPTIMIZERS[name](), schedule)
    _assert_same_run(fast, reference)


@pytest.mark.parametrize("name", ["GD-stochastic", "SVRG-minibatch", "Adam-minibatch"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_any_memory_order(monkeypatch, loss, name):
    """F-ordered and strided X run the same kernels on row blocks: a C-ordered copy's
    iterates, to round-off, and the NumPy path's."""
    X, Y = _data(n=80, seed=4)
    l1 = L1 if name in PROXIMAL else 0.0
    runs = {}
    for layout, data in {
        "C": X,
        "F": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
    }.items():
        objective = _objective(data, Y, LOSSES[loss], weighted=True, l1=l1, scaled=True)
        runs[layout] = _run_both(monkeypatch, objective, OPTIMIZERS[name](), Constant(0.01))
    for layout in ("F", "strided"):
        fast, reference = runs[layout]
        _assert_same_run(fast, reference)
        np.testing.assert_allclose(fast.params, runs["C"][0].params, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["GD-stochastic", "GD-minibatch", "SVRG-stochastic"])
@pytest.mark.parametrize("loss", ["huber", "squared_epsilon_insensitive"])
def test_float32_stays_float32(monkeypatch, loss, name):
    """float32 data: the kernels keep the parameters in float32 and agree with NumPy's
    float32 path to float32 round-off."""
    X, Y = _data(n=80, seed=5)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    objective = _objective(X, Y, LOSSES[loss], weighted=True, l1=L1)
    fast, reference = _run_both(monkeypatch, objective, OPTIMIZERS[name](), Constant(0.01))
    assert fast.params.dtype == reference.params.dtype == np.float32
    _assert_same_run(fast, reference, rtol=2e-4)


class _ProximalAdam(Adam):
    """Adam declared proximal: the estimator then lets it take an l1 part."""

    proximal = True


def test_a_proximal_rule_with_an_update_piece(monkeypatch):
    """The generic rule kernels threshold too, for a rule with an update piece that
    declares itself proximal (the NumPy path applies the prox after any rule's update)."""
    for k, layout in [(1, "C"), (2, "C"), (1, "csr")]:  # the 1-D and the general kernels
        X, Y = _data(k=k, seed=6, sparse=layout == "csr")
        objective = _objective(X, Y, LOSSES["huber"], weighted=True, l1=L1, scaled=True)
        for sampling in ("stochastic", "minibatch"):
            optimizer = _ProximalAdam(sampling=sampling, beta2=0.99)
            fast, reference = _run_both(monkeypatch, objective, optimizer, Constant(0.01))
            _assert_same_run(fast, reference)


# -- through the estimator -------------------------------------------------------------
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("name", ["GD-stochastic", "SVRG-minibatch"])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
@pytest.mark.parametrize("loss", ["squared_error", *list(LOSSES)[1:]])
def test_estimator_matches_numpy_path(monkeypatch, loss, penalty, name, sparse):
    """``fit`` with ``learning_rate="auto"``, which descends in standardised coordinates
    (with sampled spreads, ``tol=None``)."""
    X, Y = _data(n=90, seed=7, sparse=sparse)
    weights = np.random.default_rng(8).uniform(0.5, 2.0, 90)
    fast, reference = compiled_and_numpy_fits(
        monkeypatch,
        OPTIMIZERS[name],
        X,
        Y[:, 0],
        weights,
        "fit",
        loss=loss,
        penalty=penalty,
        alpha=0.01,
        epsilon=0.3,
    )
    np.testing.assert_allclose(fast.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.intercept_, reference.intercept_, rtol=1e-9)
    np.testing.assert_allclose(fast.loss_curve_, reference.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        {"loss": "huber"},  # "auto": SVRG, learning the intercept
        {"loss": "huber", "learning_rate": "constant", "eta0": 0.01},
        {"loss": "epsilon_insensitive", "epsilon": 0.3},
        {"loss": "squared_epsilon_insensitive", "optimizer": "minibatch"},
        {"penalty": "elasticnet", "alpha": 0.01},
        {"penalty": "l1", "alpha": 0.01, "loss": "huber", "optimizer": "minibatch"},
    ],
    ids=str,
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_fits_take_the_compiled_path(monkeypatch, params, sparse):
    """No epoch of these fits runs on the NumPy path (no per-batch Python)."""

    def refuse(*args, **kwargs):
        raise AssertionError("an epoch ran on the NumPy path")

    monkeypatch.setattr(_loop, "_numpy_epoch", refuse)
    X, Y = _data(n=90, seed=9, sparse=sparse)
    options = {"optimizer": "stochastic", "max_iter": 3, "tol": None, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GradientDescentRegressor(**{**options, **params}).fit(X, Y[:, 0])
    assert np.all(np.isfinite(model.coef_)) and model.n_iter_ == 3


# -- NUMBA_DISABLE_JIT ----------------------------------------------------------------
JIT_DISABLED_SCRIPT = """
    import json, warnings
    import numba, numpy as np
    from gdreg import _kernels
    import test_loss_kernels as t

    class Patch:  # what monkeypatch.setattr does, outside pytest
        def setattr(self, owner, name, value):
            setattr(owner, name, value)

    assert numba.config.DISABLE_JIT
    warnings.simplefilter("error")
    worst = 0.0
    for loss in t.LOSSES:
        for name in ("GD-stochastic", "SVRG-minibatch", "Adam-minibatch"):
            for sparse, k in ((False, 1), (True, 2)):
                X, Y = t._data(n=30, k=k, sparse=sparse)
                l1 = t.L1 if name in t.PROXIMAL else 0.0
                obj = t._objective(X, Y, t.LOSSES[loss], weighted=True, l1=l1, scaled=True)
                fast, ref = t._run_both(Patch(), obj, t.OPTIMIZERS[name](), t.Constant(0.01))
                _kernels.ENABLED = True
                worst = max(worst, float(np.abs(fast.params - ref.params).max()))
    print(json.dumps({"worst": worst}))
"""


def test_kernels_run_as_python_with_the_jit_disabled(tmp_path):
    """``NUMBA_DISABLE_JIT=1``: the loss and the threshold run as plain Python too."""
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
    assert json.loads(done.stdout.strip().splitlines()[-1])["worst"] < 1e-10
