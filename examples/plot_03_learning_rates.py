"""
Learning rates: slow, good, oscillating, diverging
==================================================

The step size decides everything in plain gradient descent. On a quadratic
with largest curvature :math:`L`, a constant step :math:`\\eta` multiplies the
error along the steepest direction by :math:`1 - \\eta L` each epoch:

* :math:`\\eta L \\ll 1`: tiny steps, **slow** progress;
* :math:`\\eta L = 1`: that direction is solved in one step (**good**);
* :math:`1 < \\eta L < 2`: the factor is negative, the iterates jump across
  the valley and back (**oscillating**), still converging;
* :math:`\\eta L > 2`: every jump overshoots by more than the last
  (**diverging**).

:class:`~gdreg.plotting.LearningRateDisplay` fits the same problem with four
constant steps (by default :math:`0.05/L, 1/L, 1.85/L, 2.1/L`) and titles
each panel with what the run *did*, measured on the run: whether the
objective rose or the steps kept reversing (oscillating), how far it ended
from the optimum (good or slow), or whether it blew up (diverged; the
estimator raises on divergence, and the display shows the epochs before).
A constant ``learning_rate`` runs textbook gradient descent, which is what
this example is about; the estimator's default is something else, shown at
the end.
"""

# %%
# One parameter first: the parabola of the previous example. The four paths
# show the four regimes directly.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes

from gdreg import GradientDescentRegressor
from gdreg.plotting import LearningRateDisplay

X1 = np.array([[1.0], [2.0], [3.0]])
y1 = 3.0 * X1[:, 0]
disp = LearningRateDisplay.from_data(
    X1, y1, estimator=GradientDescentRegressor(fit_intercept=False), kind="path", max_iter=20
)
plt.show()

# %%
# Two correlated features: now the path moves on a cost surface with
# elongated elliptic contours. The steep direction (across the ellipses) sets
# :math:`L`; the slow drift along the valley is what the "good" step still has
# to do, while the oscillating one zigzags across the valley.
rng = np.random.RandomState(0)
X = rng.normal(size=(200, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])
y = X @ np.array([1.0, -2.0]) + 0.1 * rng.normal(size=200)
est = GradientDescentRegressor(fit_intercept=False)
disp = LearningRateDisplay.from_data(X, y, estimator=est, kind="path", max_iter=30)
plt.show()

# %%
# The objective alone cannot tell "good" from "oscillating": for every step
# below :math:`2/L`, :math:`J` falls in every epoch. The error along the
# steepest direction (the top eigenvector of the Hessian) can: it is exactly
# :math:`(1 - \eta L)^k`, creeping down for the small step, gone after one
# epoch for :math:`1/L`, changing sign every epoch for :math:`1.85/L`, and
# growing while it changes sign for :math:`2.1/L`.
disp = LearningRateDisplay.from_data(X, y, estimator=est, kind="steepest", max_iter=30)
plt.show()

# %%
# Real data: the diabetes data set (442 patients, 10 features), whose
# condition number is about 470. The titles say what happened, and no panel
# is "good": in 50 epochs no constant step gets near the optimum, because
# the flat directions of the objective need about :math:`\kappa` epochs
# whatever the step. The panels share one log scale of :math:`J - J^*`: the
# step :math:`1.85/L` zigzags for its first epochs (its steep directions
# settle at the rate :math:`0.85^k`) and then drifts, ending closest to the
# optimum; :math:`1/L` stalls about as high; :math:`0.05/L` barely moved.
X_diabetes, y_diabetes = load_diabetes(return_X_y=True)
disp = LearningRateDisplay.from_data(X_diabetes, y_diabetes, kind="loss")
for rate, label in zip(disp.learning_rates, disp.labels, strict=True):
    print(f"eta = {rate:7.2f}: {label.replace(chr(10), ' ')}")
plt.show()

# %%
# What a user gets by default is not a constant step: ``learning_rate="auto"``
# descends in standardised coordinates with an accelerated rule
# (:class:`~gdreg.optimizers.AcceleratedGradient` for the full batch), and
# stops once its bound on the distance to the exact solution is below ``tol``
# (see :doc:`/convergence`).
default = GradientDescentRegressor().fit(X_diabetes, y_diabetes)
print(
    f"default fit: {default.optimizer_!r}, {default.n_iter_} epochs, "
    f"converged_={default.converged_}"
)
