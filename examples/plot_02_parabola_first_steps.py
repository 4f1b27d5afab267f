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
# Left: the first steps on the parabola, large where the slope is steep and
# shorter as it flattens near the minimum (the star, from the normal
# equation); the inset magnifies the last three. Right: the same iterates as
# their distance to :math:`w^*` on a log scale. Every step multiplies that
# distance by :math:`1 - \\eta L = 1 - 0.1 \\cdot 14/3 \\approx 0.53`, so the
# points fall on a straight line: the geometric (linear) convergence of
# gradient descent on a quadratic.
fig, (ax_parabola, ax_gap) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
disp = CostSurfaceDisplay.from_estimator(reg, X, y, ax=ax_parabola)
path = disp.path[:, 0]
heights = 14 / 6 * (3 - path) ** 2
for k, (w_k, j_k) in enumerate(zip(path[:3], heights[:3], strict=True)):
    ax_parabola.annotate(f"$w_{k}$", (w_k, j_k), textcoords="offset points", xytext=(5, 6))
ax_parabola.set_title("J(w) and five steps of gradient descent (step 0.1)")
ax_parabola.set_xlabel("w (coef_[0])")
ax_parabola.legend(loc="upper right")

inset = ax_parabola.inset_axes([0.5, 0.33, 0.45, 0.35])  # magnify the last steps
grid = np.linspace(2.45, 3.1, 100)
inset.plot(grid, 14 / 6 * (3 - grid) ** 2, color="C0")
inset.plot(path[2:], heights[2:], ":o", color="C3", markersize=4)
inset.plot(3.0, 0.0, "*", color="black", markersize=12)
for k in range(2, len(path)):
    inset.annotate(f"$w_{k}$", (path[k], heights[k]), textcoords="offset points", xytext=(2, 5))
inset.set_xlim(2.45, 3.1)
inset.set_ylim(-0.12, 0.75)
inset.tick_params(labelsize=8)
ax_parabola.indicate_inset_zoom(inset, edgecolor="gray")

k = np.arange(len(path))
ax_gap.semilogy(k, 3 - path, "o", color="C3", label="$|w_k - w^*|$ (gdreg)")
ax_gap.semilogy(k, 3 * (1 - 0.1 * 14 / 3) ** k, color="gray", label="$3\\,(1 - \\eta L)^k$")
ax_gap.set_yticks([0.2, 0.5, 1, 2, 3], labels=["0.2", "0.5", "1", "2", "3"])
ax_gap.minorticks_off()
ax_gap.set_xlabel("epoch k")
ax_gap.set_ylabel("distance to the optimum")
ax_gap.set_title("Each step closes the same fraction of the gap")
ax_gap.legend()
plt.show()
