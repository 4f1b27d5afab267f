"""
A compiled update rule: sign descent
====================================

:doc:`plot_06_custom_optimizer` writes a rule in NumPy: the loop calls its
``update`` once per batch. That is all a rule needs, and it is the reference
the fast path is checked against, but one Python call per sample makes a
stochastic epoch hundreds of times slower than a compiled one.

A rule becomes fast by handing the kernels an *update piece*: the arithmetic
of one coordinate, on scalars. The kernels form each sample's (or batch's)
gradient, whatever the data (dense or sparse, weighted, standardised), and
inline the piece into their loop, so the rule never sees the data. Three
steps:

1. a :class:`~typing.NamedTuple` of the rule's hyperparameters; its type
   picks the piece when numba compiles the kernel;
2. the piece, ``update(hyper, factors, g, a, b, eta) -> (delta, a, b)``,
   registered with :func:`gdreg.optimizers.register_update_piece`;
3. a ``compiled_epoch`` method that hands the epoch to
   :func:`gdreg.optimizers.piece_epoch`.

Here the rule is *sign descent* (signSGD, Bernstein et al. 2018): every
coordinate moves by the step size in the direction opposite to the sign of
its gradient,

.. math:: \\theta_t = \\theta_{t-1} - \\eta_t\\, \\operatorname{sign}(g_t).

It has no state, so both of the piece's state entries pass through unchanged.
The kernels are compiled once per process for a rule defined in a script
(rules inside the package are also cached on disk).
"""

# %%
import time
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from gdreg import GradientDescentRegressor, _kernels, normal_equation
from gdreg.optimizers import Optimizer, piece_epoch, register_update_piece


class SignHyper(NamedTuple):
    """Sign descent has no hyperparameter; the type alone selects the piece."""

    unused: float = 0.0


def sign_piece(hyper, factors, g, a, b, eta):
    # the sign without a branch: numba inlines this into the kernel's inner loop
    sign = (g > 0.0) * 1.0 - (g < 0.0) * 1.0
    return -eta * sign, a, b


register_update_piece(SignHyper, sign_piece)


class SignDescent(Optimizer):
    """Move each coordinate by the step size against the sign of its gradient."""

    def init(self, params):
        return ()

    def update(self, grad, state, params, step_size):
        # the readable reference: the NumPy path calls this once per batch
        return -step_size * np.sign(grad), state

    def compiled_epoch(self, data, params, state, order, steps, batch_size):
        if type(self).update is not SignDescent.update:
            return None  # a subclass with its own update runs the NumPy path
        loss = piece_epoch(data, params, SignHyper(), order, steps, batch_size)
        return state, loss


# %%
# The same rule, compiled and in NumPy
# ------------------------------------
# With the kernels switched off (``gdreg._kernels.ENABLED = False``) every
# update goes through ``SignDescent.update``. Both paths take the same steps.

rng = np.random.default_rng(0)
n, d = 20_000, 8
X = rng.standard_normal((n, d))
true_coef = np.linspace(-2.0, 2.0, d)
y = X @ true_coef + 1.0 + 0.3 * rng.standard_normal(n)


def fit(enabled):
    _kernels.ENABLED = enabled
    try:
        start = time.perf_counter()
        model = GradientDescentRegressor(
            optimizer=SignDescent(sampling="minibatch"),
            learning_rate="invsqrt",
            eta0=0.02,
            batch_size=64,
            max_iter=15,
            tol=None,
            random_state=0,
        ).fit(X, y)
        return model, time.perf_counter() - start
    finally:
        _kernels.ENABLED = True


fit(True)  # the first fit compiles the kernel for this rule
compiled, compiled_time = fit(True)
reference, numpy_time = fit(False)
exact_coef, exact_intercept = normal_equation(X, y)
print(f"compiled: {compiled_time:.3f} s, NumPy path: {numpy_time:.3f} s")
print("largest difference between the two:", np.abs(compiled.coef_ - reference.coef_).max())
print("largest error against the normal equation:", np.abs(compiled.coef_ - exact_coef).max())

# %%
# What the fit did
# ----------------
# Sign descent's steps do not shrink with the gradient, so near the optimum it
# hops around it by about a step; the 1/sqrt(t) schedule (``"invsqrt"``) lets
# the hops die down.

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(np.arange(1, compiled.n_iter_ + 1), compiled.loss_curve_, marker="o")
ax.set_xlabel("epoch")
ax.set_ylabel("mean objective over the epoch")
ax.set_title("Sign descent, mini-batches of 64, compiled")
fig.tight_layout()
plt.show()
