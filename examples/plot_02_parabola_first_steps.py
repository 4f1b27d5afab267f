"""
One parameter: the cost is a parabola
=====================================

Fit :math:`y = w x` (no intercept) to the points x = 1, 2, 3 and y = 3, 6, 9.
With one parameter the objective is a parabola,

.. math:: J(w) = \\frac{1}{2n} \\sum_i (y_i - w x_i)^2 = \\frac{14}{6} (3 - w)^2 ,

its gradient is :math:`J'(w) = -\\frac{14}{3}(3 - w)`, and gradient descent
from :math:`w_0 = 0` with step :math:`\\eta` takes
:math:`w_{k} = w_{k-1} - \\eta J'(w_{k-1})`. Each step closes the same
fraction :math:`\\eta L` of the gap to :math:`w^* = 3`, with
:math:`L = J'' = 14/3`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from gdreg import GradientDescentRegressor
from gdreg.plotting import CostSurfaceDisplay

X = np.array([[1.0], [2.0], [3.0]])
y = 3.0 * X[:, 0]

# %%
# Five epochs of full-batch descent with the constant step 0.1, recording the
# path; ``tol=None`` runs exactly ``max_iter`` epochs.
reg = GradientDescentRegressor(
    fit_intercept=False, learning_rate="constant", eta0=0.1, max_iter=5, tol=None, record_path=True
).fit(X, y)

# %%
# The iterates match the update written out by hand.
w = 0.0
print(f"{'epoch':>5} {'w (gdreg)':>12} {'w (by hand)':>12} {'J(w)':>10}")
for k, w_fit in enumerate(reg.coef_path_[:, 0]):
    print(f"{k:>5} {w_fit:>12.6f} {w:>12.6f} {14 / 6 * (3 - w) ** 2:>10.5f}")
    w = w - 0.1 * (-14 / 3 * (3 - w))

# %%
# The first steps on the parabola: large where the slope is steep, shorter as
# the slope flattens near the minimum (the star, from the normal equation).
disp = CostSurfaceDisplay.from_estimator(reg, X, y)
for k, (w_k, j_k) in enumerate(
    zip(disp.path[:, 0], 14 / 6 * (3 - disp.path[:, 0]) ** 2, strict=True)
):
    disp.ax_.annotate(f"$w_{k}$", (w_k, j_k), textcoords="offset points", xytext=(4, 6))
disp.ax_.set_title("J(w) and five steps of gradient descent (step 0.1)")
plt.show()
