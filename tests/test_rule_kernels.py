"""The compiled epochs of Momentum, Nesterov, AdaGrad, RMSProp and Adam against the NumPy path.

Each rule's compiled update piece (``gdreg._kernels._rules``) must make the
very iterates, states and running losses of its ``update`` method driven by
``LeastSquares.batch_value_and_gradient`` (``_kernels.ENABLED = False``), to
round-off, for every sampling mode, X layout, number of targets, with and
without sample weights and standardised coordinates.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _problems import compiled_and_numpy_fits
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, _kernels, _loop
from gdreg._kernels import _rules
from gdreg._objective import LeastSquares
from gdreg.optimizers import AdaGrad, Adam, Momentum, Nesterov, RMSProp
from gdreg.optimizers._adaptive import AUTO_STEP
from gdreg.schedules import Constant, InverseSqrt

RULES = {
    "Momentum": lambda sampling: Momentum(sampling=sampling, momentum=0.7),
    "Nesterov": lambda sampling: Nesterov(sampling=sampling, momentum=0.6),
    "AdaGrad": lambda sampling: AdaGrad(sampling=sampling, initial_accumulator_value=0.1),
    "RMSProp": lambda sampling: RMSProp(sampling=sampling, rho=0.9),
    "Adam": lambda sampling: Adam(sampling=sampling, beta2=0.99),
}
#: A step each rule takes without diverging on this data.
STEP = {"Momentum": 0.003, "Nesterov": 0.003, "AdaGrad": 0.05, "RMSProp": 0.005, "Adam": 0.01}


def _data(n=61, d=4, k=1, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.5, 2.0])[:d] + 2.0
    if sparse:
        X[rng.random((n, d)) < 0.5] = 0.0
    Y = X @ rng.standard_normal((d, k)) + 0.5 + 0.1 * rng.standard_normal((n, k))
    return (sp.csr_matrix(X) if sparse else X), Y


def _objective(X, Y, weighted, scaled):
    weights = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    dense = X.toarray() if sp.issparse(X) else X
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=0.02,
        x_offset=dense[:10].mean(axis=0),  # offsets from a first chunk: the intercept is learned
        y_offset=Y[:10].mean(axis=0),
        learn_intercept=True,
    )
    return objective.scaled(dense.std(axis=0) + 0.5) if scaled else objective


def _run_both(monkeypatch, objective, optimizer, schedule, **options):
    runs = []
    for enabled in (True, False):
        monkeypatch.setattr(_kernels, "ENABLED", enabled)
        params0 = np.zeros((objective.n_features + 1, objective.n_targets))
        params0[0] = 0.2  # not from zero: the first residuals involve every coordinate
        runs.append(
            _loop.run(
                objective,
                optimizer,
                schedule,
                params0=params0,
                max_iter=3,
                tol=None,
                rng=np.random.RandomState(0),
                **options,
            )
        )
    return runs


def _assert_states_equal(fast, reference):
    assert type(fast) is type(reference)
    for a, b in zip(fast, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scaled", [False, True], ids=["w", "u"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("layout", ["C", "csr"])
@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
@pytest.mark.parametrize("rule", list(RULES))
def test_loop_matches_numpy_path(monkeypatch, rule, sampling, layout, k, weighted, scaled):
    X, Y = _data(k=k, sparse=layout == "csr")
    objective = _objective(X, Y, weighted, scaled)
    optimizer = RULES[rule](sampling)
    # the per-sample kernels compute InverseSqrt's steps themselves: both paths meet
    schedule = (
        InverseSqrt(STEP[rule], t0=20.0) if sampling == "stochastic" else Constant(STEP[rule])
    )
    fast, reference = _run_both(monkeypatch, objective, optimizer, schedule, batch_size=8)
    np.testing.assert_allclose(fast.params, reference.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.loss_curve, reference.loss_curve, rtol=1e-10)
    _assert_states_equal(fast.state, reference.state)
    assert fast.n_updates == reference.n_updates
    assert not np.allclose(fast.params, 0.0)  # the rule moved: the comparison means something


@pytest.mark.parametrize("rule", list(RULES))
def test_fortran_ordered_and_constant_column(monkeypatch, rule):
    """The general dense kernel on F-ordered X; a constant column's data gradient is zero."""
    X, Y = _data(k=1)
    X[:, 2] = 3.0
    X = np.asfortranarray(X)
    objective = LeastSquares(
        X,
        Y,
        None,
        alpha=0.0,
        x_offset=np.r_[X[:, :2].mean(0), 3.0, X[:, 3].mean()],
        y_offset=Y.mean(0),
        learn_intercept=False,
        constant_features=np.array([False, False, True, False]),
    )
    for sampling in ("stochastic", "minibatch"):
        fast, reference = _run_both(
            monkeypatch, objective, RULES[rule](sampling), Constant(STEP[rule]), batch_size=5
        )
        np.testing.assert_allclose(fast.params, reference.params, rtol=1e-10, atol=1e-12)
        assert fast.params[2, 0] == 0.0 and fast.params[-1, 0] == 0.0


def _estimators(monkeypatch, rule, sampling, X, y, weights, method):
    return compiled_and_numpy_fits(
        monkeypatch, lambda: RULES[rule](sampling), X, y, weights, method
    )


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("layout", ["C", "csr"])
@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
@pytest.mark.parametrize("rule", list(RULES))
def test_estimator_matches_numpy_path(monkeypatch, rule, sampling, layout, k, method):
    X, Y = _data(k=k, sparse=layout == "csr")
    y = Y[:, 0] if k == 1 else Y
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    fast, reference = _estimators(monkeypatch, rule, sampling, X, y, weights, method)
    np.testing.assert_allclose(fast.coef_, reference.coef_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.intercept_, reference.intercept_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.loss_curve_, reference.loss_curve_, rtol=1e-9)
    assert fast.t_ == reference.t_
    assert np.abs(fast.coef_).max() > 0.1  # the 'auto' steps moved the coefficients


@pytest.mark.parametrize("rule", list(RULES))
def test_compiled_epoch_is_used_and_subclass_with_own_update_is_not(monkeypatch, rule):
    X, Y = _data()
    data = _objective(X, Y, False, False).stochastic_data()
    optimizer = RULES[rule]("stochastic")
    params = np.zeros((5, 1))
    order = np.arange(X.shape[0], dtype=np.int64)
    steps = np.full(X.shape[0], 1e-3)
    done = optimizer.compiled_epoch(data, params, optimizer.init(params), order, steps, 1)
    assert done is not None and np.isfinite(done[1])
    monkeypatch.setattr(_kernels, "ENABLED", False)
    assert optimizer.compiled_epoch(data, params, optimizer.init(params), order, steps, 1) is None
    monkeypatch.setattr(_kernels, "ENABLED", True)

    base = type(optimizer)

    class HalfStep(base):
        def update(self, grad, state, params, step_size):
            return super().update(grad, state, params, 0.5 * step_size)

    class Renamed(base):  # inherits update: still compiled
        pass

    assert HalfStep().compiled_epoch(data, params, optimizer.init(params), order, steps, 1) is None
    assert Renamed().compiled_epoch(data, params, optimizer.init(params), order, steps, 1)

    # and the subclass's own update is what a fit runs
    def fit(opt):
        est = GradientDescentRegressor(optimizer=opt, learning_rate="constant", eta0=STEP[rule])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.set_params(max_iter=2, tol=None, random_state=0).fit(X, Y[:, 0]).coef_

    half = fit(HalfStep(sampling="stochastic"))
    monkeypatch.setattr(_kernels, "ENABLED", False)
    np.testing.assert_allclose(half, fit(HalfStep(sampling="stochastic")), rtol=1e-12)
    assert not np.allclose(half, fit(base(sampling="stochastic")), rtol=1e-6)


@pytest.mark.parametrize("rule", ["AdaGrad", "RMSProp", "Adam"])
def test_subclass_of_adaptive_rule_keeps_its_auto_step(rule):
    """A subclass inherits the base step (it raised KeyError: the table was keyed by name)."""
    base = type(RULES[rule]("batch"))
    subclass = type("My" + rule, (base,), {})
    assert subclass().auto_step_size(123.0) == AUTO_STEP[rule]
    assert subclass().stable_step_size(123.0) == AUTO_STEP[rule]
    X, Y = _data()
    est = GradientDescentRegressor(optimizer=subclass(sampling="minibatch"), max_iter=2, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert est.fit(X, Y[:, 0]).learning_rate_.eta0 == AUTO_STEP[rule]


def test_register_piece_checks_parameter_names():
    def piece(hyper, factors, grad, a, b, eta):  # "grad", not "g"
        return -eta * grad, a, b

    with pytest.raises(TypeError, match="must take the parameters"):
        _rules.register_piece(tuple, _rules.no_factors, piece)


@pytest.mark.parametrize("moment", [0.0, 4.0])
def test_scaled_step_guards_zero_over_zero(moment):
    expected = 0.0 if moment == 0.0 else 2.0 / (2.0 + 1e-8)
    assert _rules.scaled_step(2.0 if moment else 0.0, moment, 1e-8 if moment else 0.0) == (
        pytest.approx(expected, rel=1e-15)
    )


# -- fresh processes: NUMBA_DISABLE_JIT=1, and the on-disk cache -----------------------
PYTHONPATH = os.path.dirname(os.path.dirname(os.path.abspath(_rules.__file__)))
PYTHONPATH = os.path.dirname(PYTHONPATH)

KERNELS = [
    "_rule_sgd_dense",
    "_rule_minibatch_dense",
    "_rule_epoch_dense",
    "_rule_epoch_csr",
]

JIT_DISABLED = """
    import collections, json, warnings
    import numba, numpy as np, scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning
    from gdreg import GradientDescentRegressor, _kernels
    from gdreg._kernels import _rules
    from gdreg.optimizers import AdaGrad, Adam, Momentum, Nesterov, RMSProp

    assert numba.config.DISABLE_JIT
    calls = collections.Counter()

    def counting(name, kernel):
        assert not isinstance(kernel, numba.core.dispatcher.Dispatcher), name
        def run(*args):
            calls[name] += 1
            return kernel(*args)
        return run

    for name in KERNELS:
        setattr(_rules, name, counting(name, getattr(_rules, name)))
    warnings.simplefilter("error")
    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3)) + 2.0
    Y = X @ rng.standard_normal((3, 2)) + 0.5
    worst = 0.0
    for rule in (Momentum, Nesterov, AdaGrad, RMSProp, Adam):
        for sampling in ("stochastic", "minibatch"):
            for Xf, y in ((X, Y[:, 0]), (sp.csr_matrix(X), Y), (X, Y)):
                fits = []
                for enabled in (True, False):
                    _kernels.ENABLED = enabled
                    est = GradientDescentRegressor(
                        optimizer=rule(sampling=sampling), batch_size=8, max_iter=2,
                        random_state=0,
                    )
                    fits.append(est.fit(Xf, y).coef_)
                worst = max(worst, float(np.abs(fits[0] - fits[1]).max()))
    print(json.dumps({"calls": dict(calls), "worst": worst}))
"""


def _fresh(script, **env_changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHON"))}
    env.update(PYTHONPATH=PYTHONPATH, **env_changes)
    done = subprocess.run(
        [sys.executable, "-c", f"KERNELS = {KERNELS!r}\n" + textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rule_kernels_run_as_python_with_the_jit_disabled(tmp_path):
    out = _fresh(JIT_DISABLED, NUMBA_DISABLE_JIT="1")
    assert sorted(out["calls"]) == sorted(KERNELS), out["calls"]
    assert out["worst"] < 1e-10


CACHED = """
    import json, time
    import numpy as np
    from gdreg import GradientDescentRegressor, _kernels
    from gdreg._kernels import _rules
    from gdreg.optimizers import Adam

    X = np.random.default_rng(0).standard_normal((200, 4))
    y = X @ np.arange(1.0, 5.0)
    start = time.perf_counter()
    GradientDescentRegressor(optimizer=Adam(sampling="stochastic"), max_iter=1, tol=None).fit(X, y)
    stats = _rules._rule_sgd_dense.stats
    print(json.dumps({
        "seconds": time.perf_counter() - start,
        "hits": sum(stats.cache_hits.values()),
        "misses": sum(stats.cache_misses.values()),
        "cache_dir": _kernels.CACHE_DIR,
    }))
"""


def test_rule_kernel_is_loaded_from_the_disk_cache(tmp_path):
    """A second process loads the compiled kernel (with its inlined piece) from the cache."""
    cache = str(tmp_path / "cache")
    first = _fresh(CACHED, NUMBA_CACHE_DIR=cache)
    second = _fresh(CACHED, NUMBA_CACHE_DIR=cache)
    assert os.path.dirname(first["cache_dir"]) == cache  # one subdirectory per source version
    assert first["misses"] >= 1 and first["hits"] == 0
    assert second["hits"] >= 1 and second["misses"] == 0
