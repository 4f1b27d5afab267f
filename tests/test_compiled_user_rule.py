"""A rule written outside the package opts into the compiled epochs (the documented recipe).

The rules here are defined in this file, registered with
``gdreg.optimizers.register_update_piece`` and run through
``gdreg.optimizers.piece_epoch``, as ``examples/plot_08_compiled_rule.py``
shows; the NumPy path (``gdreg._kernels.ENABLED = False``) is the reference.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import Optimizer, piece_epoch, register_update_piece


class SignHyper(NamedTuple):
    unused: float = 0.0


def sign_piece(hyper, factors, g, a, b, eta):
    return -eta * ((g > 0.0) * 1.0 - (g < 0.0) * 1.0), a, b


class DecayedHyper(NamedTuple):
    decay: float


def decayed_factors(hyper, t):
    return 1.0 / t, 1.0


def decayed_piece(hyper, factors, g, a, b, eta):
    # a running mean of the gradients (weight 1/t) with a decayed second buffer:
    # exercises both buffers and the per-update factors
    mean = a + factors[0] * (g - a)
    slow = hyper.decay * b + (1.0 - hyper.decay) * g
    return -eta * 0.5 * (mean + slow), mean, slow


register_update_piece(SignHyper, sign_piece)
register_update_piece(DecayedHyper, decayed_piece, decayed_factors)


class SignDescent(Optimizer):
    def init(self, params):
        return ()

    def update(self, grad, state, params, step_size):
        return -step_size * np.sign(grad), state

    def compiled_epoch(self, data, params, state, order, steps, batch_size):
        if type(self).update is not SignDescent.update:
            return None
        return state, piece_epoch(data, params, SignHyper(), order, steps, batch_size)


class DecayedState(NamedTuple):
    mean: np.ndarray
    slow: np.ndarray
    count: int


class DecayedMean(Optimizer):
    def __init__(self, sampling="batch", batch_size=None, decay=0.5):
        super().__init__(sampling=sampling, batch_size=batch_size)
        self.decay = decay

    def init(self, params):
        return DecayedState(np.zeros_like(params), np.zeros_like(params), 0)

    def update(self, grad, state, params, step_size):
        t = state.count + 1
        mean = state.mean + (1.0 / t) * (grad - state.mean)
        slow = self.decay * state.slow + (1.0 - self.decay) * grad
        return -step_size * 0.5 * (mean + slow), DecayedState(mean, slow, t)

    def compiled_epoch(self, data, params, state, order, steps, batch_size):
        if type(self).update is not DecayedMean.update:
            return None
        mean = np.array(state.mean, dtype=params.dtype, order="C", copy=True)
        slow = np.array(state.slow, dtype=params.dtype, order="C", copy=True)
        hyper = DecayedHyper(float(self.decay))
        loss = piece_epoch(
            data, params, hyper, order, steps, batch_size, buffers=(mean, slow), count=state.count
        )
        updates = -(-len(order) // batch_size)
        return DecayedState(mean, slow, state.count + updates), loss


def _data(k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, 5)) * [1.0, 3.0, 0.5, 10.0, 1.0] + 2.0
    X[rng.random(X.shape) < 0.3] = 0.0
    Y = X @ rng.standard_normal((5, k)) + 1.5 + 0.1 * rng.standard_normal((300, k))
    return X, Y[:, 0] if k == 1 else Y


def _fit(rule, X, y, weights, enabled, monkeypatch):
    monkeypatch.setattr("gdreg._kernels.ENABLED", enabled)
    model = GradientDescentRegressor(
        optimizer=rule, learning_rate="invsqrt", eta0=0.01, max_iter=4, tol=None, random_state=0
    )
    return model.fit(X, y, sample_weight=weights)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
@pytest.mark.parametrize("make_rule", [SignDescent, DecayedMean])
def test_user_rule_compiled_equals_its_numpy_path(
    make_rule, sampling, sparse, k, weighted, monkeypatch
):
    X, y = _data(k)
    X = sp.csr_matrix(X) if sparse else X
    weights = np.random.default_rng(1).uniform(0.5, 2.0, 300) if weighted else None
    calls = []
    rule = make_rule(sampling=sampling, batch_size=16)
    original = type(rule).compiled_epoch

    def spy(self, *args):
        done = original(self, *args)
        calls.append(done is not None)
        return done

    monkeypatch.setattr(type(rule), "compiled_epoch", spy)
    fast = _fit(rule, X, y, weights, True, monkeypatch)
    assert calls and all(calls)  # the compiled epoch ran every time
    reference = _fit(rule, X, y, weights, False, monkeypatch)
    np.testing.assert_allclose(fast.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.intercept_, reference.intercept_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.loss_curve_, reference.loss_curve_, rtol=1e-9)


def test_sign_descent_gets_near_the_normal_equation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]) + 1.0 + 0.1 * rng.standard_normal(2000)
    model = GradientDescentRegressor(
        optimizer=SignDescent(sampling="minibatch", batch_size=16),
        learning_rate="invsqrt",
        eta0=0.05,
        max_iter=15,
        tol=None,
        random_state=0,
    ).fit(X, y)
    coef, _ = normal_equation(X, y)
    # scale-free: each coefficient times its feature's spread over y's spread
    assert np.abs((model.coef_ - coef) * X.std(axis=0) / y.std()).max() < 0.01


USER_SCRIPT = """
import numpy as np
from typing import NamedTuple
from gdreg import GradientDescentRegressor
from gdreg.optimizers import Optimizer, piece_epoch, register_update_piece

class ScriptHyper(NamedTuple):
    unused: float = 0.0

def script_piece(hyper, factors, g, a, b, eta):
    return -eta * g, a, b

register_update_piece(ScriptHyper, script_piece)

class ScriptRule(Optimizer):
    def init(self, params):
        return ()
    def update(self, grad, state, params, step_size):
        return -step_size * grad, state
    def compiled_epoch(self, data, params, state, order, steps, batch_size):
        return state, piece_epoch(data, params, ScriptHyper(), order, steps, batch_size)

X = np.random.default_rng(0).standard_normal((200, 3))
for sampling in ("stochastic", "minibatch"):
    GradientDescentRegressor(optimizer=ScriptRule(sampling=sampling), learning_rate="constant",
                             max_iter=2, tol=None).fit(X, X @ [1.0, 2.0, 3.0])
print("ok")
"""

BUILTIN_SCRIPT = """
import numpy as np
from gdreg import GradientDescentRegressor
from gdreg.optimizers import Momentum
X = np.random.default_rng(0).standard_normal((200, 3))
for sampling in ("stochastic", "minibatch"):
    GradientDescentRegressor(optimizer=Momentum(sampling=sampling), learning_rate="constant",
                             max_iter=2, tol=None).fit(X, X @ [1.0, 2.0, 3.0])
print("ok")
"""


def test_a_script_rule_never_enters_the_shared_disk_cache(tmp_path):
    """A rule whose type lives in a script runs on in-memory kernels: had its
    specialisation been written to the on-disk cache, the next process loading
    that kernel (any built-in rule) would fail to unpickle the script's type."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    script = tmp_path / "user_rule.py"
    script.write_text(USER_SCRIPT)
    run = functools.partial(subprocess.run, env=env, cwd=tmp_path, capture_output=True, text=True)
    first = run([sys.executable, str(script)])
    assert first.stdout.strip() == "ok", first.stderr
    script.unlink()  # the script's module is gone, as for any other process
    for _ in range(2):  # compiles (or loads) the built-in specialisations, then loads them
        second = run([sys.executable, "-c", BUILTIN_SCRIPT])
        assert second.stdout.strip() == "ok", second.stderr
    indexes = list((tmp_path / "cache").rglob("*.nbi"))
    assert indexes
    assert not any(b"ScriptHyper" in path.read_bytes() for path in indexes)
