"""
A line through three points
===========================

The smallest regression problem there is: three points on the line
:math:`y = 20 x + 5`. Gradient descent should recover the slope 20 and the
intercept 5, exactly as the closed-form solution
(:func:`gdreg.normal_equation`) and scikit-learn's
:class:`~sklearn.linear_model.LinearRegression` do.
"""

# %%
# The data: x = 2, 4, 5 and y = 45, 85, 105.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LinearRegression

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.plotting import ConvergenceDisplay, CostSurfaceDisplay

X = np.array([[2.0], [4.0], [5.0]])
y = np.array([45.0, 85.0, 105.0])

# %%
# Fit by gradient descent, record the path, and compare the three solutions.
reg = GradientDescentRegressor(record_path=True).fit(X, y)
coef_ne, intercept_ne = normal_equation(X, y)
ols = LinearRegression().fit(X, y)

print(f"{'method':<28}{'slope':>10}{'intercept':>12}")
print(f"{'GradientDescentRegressor':<28}{reg.coef_[0]:>10.6f}{reg.intercept_:>12.6f}")
print(f"{'normal_equation':<28}{coef_ne[0]:>10.6f}{intercept_ne:>12.6f}")
print(f"{'LinearRegression':<28}{ols.coef_[0]:>10.6f}{ols.intercept_:>12.6f}")
print(f"epochs: {reg.n_iter_}, converged: {reg.converged_}")

# %%
# Why so few epochs? The estimator centres the data, as ``LinearRegression``
# does: the intercept follows from the slope (:math:`b = \bar y - \bar x w`), so
# the descent moves along the valley floor of the cost surface and, with one
# feature and the step :math:`1/L`, lands on the optimum. The path drawn on
# the surface starts at slope 0 (intercept :math:`\bar y`) and ends on the star.
fig, (ax_fit, ax_surface) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
grid = np.linspace(0, 6, 50)
ax_fit.scatter(X[:, 0], y, color="black", zorder=3, label="data")
label = f"y = {reg.coef_[0]:.3g} x + {reg.intercept_:.3g}"
ax_fit.plot(grid, reg.predict(grid[:, None]), label=label)
ax_fit.set_xlabel("x")
ax_fit.set_ylabel("y")
ax_fit.legend()
ax_fit.set_title("The fitted line")
CostSurfaceDisplay.from_estimator(reg, X, y, ax=ax_surface)
ax_surface.set_title("Cost surface J(slope, intercept)")
plt.show()

# %%
# The automatic step is as large as is safe. A smaller constant step shows the
# descent itself: with step :math:`\eta` and curvature :math:`L` the distance to
# the optimum shrinks by the factor :math:`1 - \eta L` each epoch, so the loss
# falls geometrically (a straight line on the log scale), and so does the
# stopping quantity ``change_curve_``: a bound on the scale-free distance to the
# exact solution, which ends the fit once it is below ``tol`` (see
# :doc:`/convergence`).
slow = GradientDescentRegressor(learning_rate="constant", eta0=0.05, tol=1e-10, max_iter=500)
slow.fit(X, y)
disp = ConvergenceDisplay.from_estimator(slow, name="constant step 0.05", show_change=True)
disp.figure_.suptitle(f"Converged in {slow.n_iter_} epochs to slope {slow.coef_[0]:.6f}")
plt.show()
