"""
Batch, stochastic, mini-batch, and a decaying step
==================================================

Five ways to fit the same least-squares problem, each for the same number of
epochs (passes over the data):

* **batch**: one step per epoch along the full gradient, step :math:`1/L`
  (``learning_rate="auto"``, which runs
  :class:`~gdreg.optimizers.AcceleratedGradient`);
* **stochastic, constant step**: one step per sample;
* **mini-batch, constant step**: one step per 64 samples;
* **stochastic, 1/sqrt(t) decay**: plain stochastic gradient descent
  (:class:`~gdreg.optimizers.GradientDescent`) with its ``"auto"`` step
  shrinking as :math:`1/\\sqrt{\\text{epoch}}`
  (``InverseSqrt(1/L_max, t0=n)``);
* **stochastic, SVRG**: what ``optimizer="stochastic"`` runs by default,
  :class:`~gdreg.optimizers.SVRG`, whose variance-reduced gradient allows a
  constant step.

A constant stochastic step keeps the gradient noise alive: the iterates stop
improving at a noise floor whose height grows with the step. A decaying step
lowers that floor, but only as fast as the step decays. Variance reduction
removes the noise at the optimum, so SVRG converges like a full-batch method.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import GradientDescent
from gdreg.plotting import ConvergenceDisplay

rng = np.random.RandomState(0)
n, d = 20_000, 10
X = rng.normal(size=(n, d))
y = X @ rng.normal(size=d) + 3.0 + 0.5 * rng.normal(size=n)
coef_star, intercept_star = normal_equation(X, y)

models = {
    "batch (1/L)": GradientDescentRegressor(optimizer="batch"),
    "stochastic, constant 0.01": GradientDescentRegressor(
        optimizer="stochastic", learning_rate="constant", eta0=0.01
    ),
    "mini-batch 64, constant 0.05": GradientDescentRegressor(
        optimizer="minibatch", batch_size=64, learning_rate="constant", eta0=0.05
    ),
    "stochastic, 1/sqrt(t) decay": GradientDescentRegressor(
        optimizer=GradientDescent(sampling="stochastic")
    ),
    "stochastic, SVRG (default)": GradientDescentRegressor(optimizer="stochastic"),
}

# %%
# Fit each for 20 epochs (``tol=None``: no early stop, so the work is equal),
# timing the fit and recording the coefficients after every epoch. A first tiny
# fit compiles the stochastic kernels, so that compilation is not timed.
for sampling in ("stochastic", "minibatch"):
    for rate in ("auto", "constant"):  # SVRG's kernels, and plain descent's
        tiny = GradientDescentRegressor(optimizer=sampling, learning_rate=rate, tol=None)
        tiny.set_params(max_iter=1).fit(X[:50], y[:50])

print(f"{'model':<32}{'time (s)':>10}{'updates':>10}{'coef error':>12}")
for name, model in models.items():
    model.set_params(max_iter=20, tol=None, random_state=0, record_path=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    elapsed = time.perf_counter() - start
    error = np.linalg.norm(model.coef_ - coef_star) / np.linalg.norm(coef_star)
    print(f"{name:<32}{elapsed:>10.3f}{model.t_:>10}{error:>12.2e}")

# %%
# Loss curves. For the stochastic modes ``loss_curve_`` is the running
# average of the batch losses over each epoch (as ``SGDRegressor`` reports),
# so it carries the noise of the iterates within the epoch.
disp = ConvergenceDisplay.from_estimators(models, log_scale=True)
disp.ax_.set_title("Objective per epoch")
plt.show()

# %%
# The distance to the closed-form solution tells the story more directly. On
# this well-conditioned problem full-batch descent reaches round-off within
# a few epochs, and it is also the fastest in wall time (one pass per step,
# vectorised). The three plain stochastic variants reach a few percent in the
# first epoch and then hover: their error is set by the gradient noise, which a
# constant step never removes and the 1/sqrt(t) step removes slowly (the step
# falls only by a factor sqrt(20) = 4.5 over 20 epochs). SVRG pays one extra
# pass per epoch for the full gradient at its anchor and, with the noise gone,
# its error falls geometrically, as the full batch's does. Without
# ``tol=None`` every fit here stops by itself once its error bound reaches
# ``tol`` (see :doc:`/convergence`); the plain stochastic ones would run all
# ``max_iter`` epochs and warn.
fig, ax = plt.subplots(layout="constrained")
for name, model in models.items():
    errors = np.linalg.norm(model.coef_path_[1:] - coef_star, axis=1)
    ax.semilogy(np.arange(1, len(errors) + 1), errors / np.linalg.norm(coef_star), label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("relative coefficient error")
ax.legend()
plt.show()
