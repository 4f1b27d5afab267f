"""
Writing your own optimizer
==========================

An optimizer is an update rule plus the sampling mode that feeds it
gradients. The protocol (:class:`gdreg.optimizers.Optimizer`) is two methods,
in the style of optax:

* ``init(params) -> state``: the per-fit state, a small immutable object;
* ``update(grad, state, params, step_size) -> (updates, state)``: the change
  to add to the parameters, and the next state.

``params`` and ``grad`` are arrays of shape ``(n_features + 1, n_targets)``
(the last row is the intercept of the centred problem). The optimizer never
changes itself during a fit, so it clones, pickles and grid-searches like any
scikit-learn estimator. Optional hooks tell the estimator what
``learning_rate="auto"`` means for the rule (``auto_step_size``), which step
is stable (``stable_step_size``, quoted in the divergence error), and what to
report (``output``).

Here we write gradient descent with *gradient clipping*: when the gradient
norm exceeds ``max_norm``, the gradient is scaled down to that norm,

.. math::

   \\theta_t = \\theta_{t-1} - \\eta_t\\, g_t \\min\\left(1, \\frac{c}{\\lVert g_t \\rVert}\\right),

which tames the first steps from a far-away start. The state counts how often
the clip was active.
"""

# %%
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import GradientDescent, Optimizer
from gdreg.plotting import ConvergenceDisplay


class ClipState(NamedTuple):
    """Per-fit state: how many updates were clipped so far."""

    n_clipped: int


class ClippedGradientDescent(Optimizer):
    """Gradient descent with the gradient norm clipped to ``max_norm``."""

    def __init__(self, sampling="batch", batch_size=None, max_norm=1.0):
        # scikit-learn convention: __init__ only stores its arguments.
        self.sampling = sampling
        self.batch_size = batch_size
        self.max_norm = max_norm

    def init(self, params):
        return ClipState(n_clipped=0)

    def update(self, grad, state, params, step_size):
        norm = float(np.linalg.norm(grad))
        if norm > self.max_norm:
            return -step_size * (self.max_norm / norm) * grad, ClipState(state.n_clipped + 1)
        return -step_size * grad, state


# %%
# A problem whose solution is far from the starting point 0.
rng = np.random.RandomState(0)
X = rng.normal(size=(500, 3))
y = X @ np.array([40.0, -25.0, 10.0]) + 7.0 + rng.normal(size=500)
coef_star, _ = normal_equation(X, y)

clipped = GradientDescentRegressor(optimizer=ClippedGradientDescent(max_norm=20.0)).fit(X, y)
plain = GradientDescentRegressor().fit(X, y)
print("clipped GD :", clipped.coef_.round(4), f"in {clipped.n_iter_} epochs")
print("plain GD   :", plain.coef_.round(4), f"in {plain.n_iter_} epochs")
print("normal eq. :", coef_star.round(4))

# %%
# The estimator cloned the optimizer (``optimizer_``) and never touched the
# one we passed; the last state is not kept, but the count is easy to get
# by running the protocol by hand, exactly as the loop does.
print(clipped.optimizer_, "is a clone:", clipped.optimizer_ is not clipped.optimizer)
opt = ClippedGradientDescent(max_norm=20.0)
params, state = np.zeros((4, 1)), opt.init(np.zeros((4, 1)))
grad = np.ones((4, 1)) * 30.0
updates, state = opt.update(grad, state, params, step_size=0.1)
print("clipped update norm:", np.linalg.norm(updates).round(6), "state:", state)

# %%
# Because the optimizer is a scikit-learn estimator, its parameters are
# reachable from a grid search as ``optimizer__max_norm``. Clipping only
# changes the path, not the minimiser, so every ``max_norm`` scores the same.
search = GridSearchCV(
    GradientDescentRegressor(optimizer=ClippedGradientDescent()),
    {"optimizer__max_norm": [1.0, 10.0, 100.0]},
    cv=3,
).fit(X, y)
print("mean R^2 per max_norm:", search.cv_results_["mean_test_score"].round(6))

# %%
# It works with every sampling mode, here mini-batches of 50 for 100 epochs.
sgd = GradientDescentRegressor(
    optimizer=ClippedGradientDescent(sampling="minibatch", batch_size=50, max_norm=50.0),
    max_iter=100,
    tol=None,
    random_state=0,
).fit(X, y)
print("mini-batch clipped:", sgd.coef_.round(3), clone(sgd.optimizer))

# %%
# Clipping slows the first epochs (the step is capped) and changes nothing
# near the solution, where the gradient is small: the curves join.
fits = {
    f"clipped, max_norm={c:g}": GradientDescentRegressor(
        optimizer=ClippedGradientDescent(max_norm=c), tol=1e-8
    ).fit(X, y)
    for c in (5.0, 20.0)
}
fits["plain gradient descent"] = GradientDescentRegressor(
    optimizer=GradientDescent(), tol=1e-8
).fit(X, y)
disp = ConvergenceDisplay.from_estimators(fits, log_scale=True)
disp.ax_.set_title("Loss per epoch")
plt.show()
