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
such steps (by default :math:`0.05/L, 1/L, 1.85/L, 2.1/L`, from the step that
``learning_rate="auto"`` picks) and labels each panel with what happened.
The estimator itself raises on divergence; the display catches it and shows
the epochs before.
"""

# %%
# One parameter first: the parabola of the previous example.
import numpy as np

from gdreg import GradientDescentRegressor
from gdreg.plotting import LearningRateDisplay

X1 = np.array([[1.0], [2.0], [3.0]])
y1 = 3.0 * X1[:, 0]
disp = LearningRateDisplay.from_data(
    X1, y1, estimator=GradientDescentRegressor(fit_intercept=False), kind="path", max_iter=20
)
print("steps:", np.round(disp.learning_rates, 4), "-> regimes:", disp.regimes)

# %%
# Two correlated features: now the path moves on a cost surface with
# elongated elliptic contours. The steep direction (across the ellipses) sets
# :math:`L`; the slow drift along the valley is what the "good" step still has
# to do, and what the oscillating one does faster while it zigzags across.
rng = np.random.RandomState(0)
X = rng.normal(size=(200, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])
y = X @ np.array([1.0, -2.0]) + 0.1 * rng.normal(size=200)
est = GradientDescentRegressor(fit_intercept=False)
disp = LearningRateDisplay.from_data(X, y, estimator=est, kind="path", max_iter=30)
for rate, label in zip(disp.learning_rates, disp.labels, strict=True):
    print(f"eta = {rate:.3f}: {label}")

# %%
# The same four fits as loss curves. A loss that falls by many decades is
# drawn on a log scale; the diverging loss grows geometrically.
disp = LearningRateDisplay.from_data(X, y, estimator=est, kind="loss", max_iter=30)
