"""
Robust losses and sparse coefficients
=====================================

:class:`~gdreg.GradientDescentRegressor` has the losses and penalties of
:class:`~sklearn.linear_model.SGDRegressor`, with the same names and the
same definitions (``r`` is the residual, prediction minus target):

* ``loss="squared_error"`` (the default): :math:`r^2 / 2`. One point far from
  the others pulls the whole fit towards it;
* ``loss="huber"``: :math:`r^2 / 2` up to :math:`|r| = \\epsilon`, then
  linear. A gross error costs in proportion to its size, not its square;
* ``loss="epsilon_insensitive"``: :math:`\\max(0, |r| - \\epsilon)`, the loss
  of linear support vector regression;
* ``penalty="l1"``: :math:`\\alpha \\lVert w \\rVert_1`, the objective of
  :class:`~sklearn.linear_model.Lasso` with the same ``alpha``. Its
  proximal step sets coefficients to exact zeros.

:math:`\\epsilon` is in the units of ``y``. The first half of this example
fits a line through data with a few gross outliers; the second fits a design
in which most features are irrelevant, and compares the result with
scikit-learn's ``Lasso``.
"""

# %%
# Outliers
# --------
# Sixty points on the line :math:`y = 2x + 1` with noise of spread 0.5, and
# the five rightmost points pushed 30 units down: gross errors at the end of
# the range, where they have the most leverage on the slope.
import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linprog
from sklearn.linear_model import Lasso

from gdreg import GradientDescentRegressor

rng = np.random.default_rng(0)
n = 60
x = rng.uniform(0.0, 10.0, size=n)
y = 2.0 * x + 1.0 + rng.normal(scale=0.5, size=n)
outliers = np.argsort(x)[-5:]
y[outliers] -= 30.0
X = x[:, None]

fits = {
    "squared error": GradientDescentRegressor(),
    "huber, epsilon=1": GradientDescentRegressor(loss="huber", epsilon=1.0),
    "epsilon_insensitive, epsilon=0.1": GradientDescentRegressor(loss="epsilon_insensitive"),
}
for name, model in fits.items():
    model.fit(X, y)
    print(
        f"{name:34s} slope {model.coef_[0]:6.3f}  intercept {model.intercept_:6.3f}  "
        f"epochs {model.n_iter_:3d}  {type(model.optimizer_).__name__}"
    )

# %%
# The squared error trades a worse fit of the 55 good points for smaller
# squares at the five bad ones and tilts the line. Huber and the
# epsilon-insensitive loss charge the outliers only in proportion to their
# distance, and stay close to the true line.
fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
inliers = np.setdiff1d(np.arange(n), outliers)
ax.scatter(x[inliers], y[inliers], color="0.4", s=18, label="data")
ax.scatter(x[outliers], y[outliers], color="C3", marker="x", s=40, label="gross outliers")
grid = np.linspace(0.0, 10.0, 2)
styles = [("C1", "-", 2), ("C0", "-", 6), ("C2", "--", 2)]  # huber wide: the others lie on it
for (name, model), (color, style, width) in zip(fits.items(), styles, strict=True):
    line = model.predict(grid[:, None])
    ax.plot(grid, line, color=color, ls=style, lw=width, alpha=0.6 if width > 2 else 1, label=name)
ax.plot(grid, 2.0 * grid + 1.0, color="black", linestyle=":", linewidth=2, label="true line")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("The same line fitted with three losses")
ax.legend()
plt.show()


# %%
# What ``converged_`` means depends on the loss. Huber is smooth, and its fit
# stops on the same error bound as least squares. The epsilon-insensitive
# loss has kinks and no gradient to test. With the full batch the fit
# descends on smoothed versions of the loss, the last one of width ``tol``
# times the spread of ``y``, which leaves its objective within about
# ``tol * y.std()`` of the minimum. With one sample per update it runs
# :class:`~gdreg.optimizers.AveragedSGD` and stops once the objective has not
# improved for ``n_iter_no_change`` epochs, as ``SGDRegressor`` does: a stall
# test, not a certificate. This objective is a linear programme, so its
# exact minimum is at hand (:func:`scipy.optimize.linprog`) to see how close
# each fit ends.
def epsilon_insensitive_objective(model, epsilon=0.1):
    return np.mean(np.maximum(np.abs(model.predict(X) - y) - epsilon, 0.0))


def exact_epsilon_insensitive(epsilon=0.1):
    """min mean(s) over w, b, s subject to |x w + b - y| <= epsilon + s, s >= 0."""
    ones, eye = np.ones((n, 1)), np.eye(n)
    cost = np.r_[0.0, 0.0, np.full(n, 1.0 / n)]
    bounds = [(None, None), (None, None)] + [(0.0, None)] * n
    above = np.hstack([X, ones, -eye])  # x w + b - y <= epsilon + s
    below = np.hstack([-X, -ones, -eye])  # y - x w - b <= epsilon + s
    result = linprog(
        cost, A_ub=np.vstack([above, below]), b_ub=np.r_[y + epsilon, epsilon - y], bounds=bounds
    )
    return result.fun


best = exact_epsilon_insensitive()
tol = GradientDescentRegressor().tol  # the default
print(f"exact minimum {best:.6f}; tol * y.std() = {tol * y.std():.1e}")
for optimizer in ("batch", "stochastic"):
    model = GradientDescentRegressor(
        loss="epsilon_insensitive", optimizer=optimizer, random_state=0
    ).fit(X, y)
    gap = epsilon_insensitive_objective(model) - best
    print(
        f"{optimizer:10s} {type(model.optimizer_).__name__:19s} {model.n_iter_:4d} epochs, "
        f"converged_={model.converged_}, objective {gap:.1e} above the minimum"
    )


# %%
# Sparse coefficients
# -------------------
# 200 samples of 50 features, of which only the first five enter the target.
# ``penalty="l1"`` minimises the Lasso objective
#
# .. math::
#
#    \frac{1}{2n} \lVert y - X w - b \rVert_2^2 + \alpha \lVert w \rVert_1 ,
#
# the same as ``Lasso(alpha=alpha)``. gdreg reaches it by proximal gradient
# steps (here FISTA, the accelerated full batch that ``"auto"`` picks): after
# every gradient step, each coefficient within the step's threshold of zero
# is set to exactly zero. Lasso runs coordinate descent, which also leaves
# exact zeros; the printout compares the two sets. The difference is
# measured without units, :math:`\max_j |w_j - w^{\text{Lasso}}_j|\, \sigma_j / \sigma_y`, the
# measure of gdreg's ``tol``; Lasso gets a tight ``tol`` so that it is the
# reference.
n, d = 200, 50
X = rng.normal(size=(n, d))
true_coef = np.zeros(d)
true_coef[:5] = [3.0, -2.0, 1.5, -1.0, 0.5]
y = X @ true_coef + 1.0 + rng.normal(scale=0.5, size=n)
alpha = 0.1

sparse = GradientDescentRegressor(penalty="l1", alpha=alpha).fit(X, y)
lasso = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
ridge_like = GradientDescentRegressor(penalty="l2", alpha=alpha).fit(X, y)

difference = np.max(np.abs(sparse.coef_ - lasso.coef_) * X.std(axis=0)) / y.std()
print(f"gdreg penalty='l1': {sparse.n_iter_} epochs, converged_={sparse.converged_}")
print(f"largest scale-free difference from Lasso: {difference:.1e}")
print("non-zero coefficients, gdreg:", np.flatnonzero(sparse.coef_))
print("non-zero coefficients, Lasso:", np.flatnonzero(lasso.coef_))
print("same zero set:", np.array_equal(sparse.coef_ == 0, lasso.coef_ == 0))
print("exact zeros with penalty='l2':", np.count_nonzero(ridge_like.coef_ == 0), "of", d)

# %%
# The coefficients side by side, all of them on the left and the 45
# irrelevant ones enlarged on the right. With ``penalty="l2"`` (ridge) every
# coefficient is shrunk but none is zero. With ``penalty="l1"`` most
# irrelevant ones are exactly zero, the others are shrunk towards zero (by
# about ``alpha`` for these unit-variance features), and gdreg's dots sit in
# Lasso's circles.
fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), layout="constrained", width_ratios=[1, 2])
index = np.arange(d)
for ax, shown in zip(axes, [index, index[5:]], strict=True):
    ax.axhline(0.0, color="0.8", linewidth=1)
    ax.plot(shown, ridge_like.coef_[shown], "s", color="0.6", ms=4, label="gdreg, penalty='l2'")
    ax.plot(shown, lasso.coef_[shown], "o", color="C1", ms=9, fillstyle="none", label="Lasso")
    ax.plot(shown, sparse.coef_[shown], ".", color="C0", ms=8, label="gdreg, penalty='l1'")
    ax.plot(shown, true_coef[shown], "_", color="black", ms=12, label="true coefficient")
    ax.set_xlabel("feature")
axes[0].set_ylabel("coefficient")
axes[0].set_title("all features")
axes[1].set_title("the irrelevant features, enlarged")
axes[1].legend(loc="upper right", ncols=2)
fig.suptitle(f"alpha = {alpha}: exact zeros from the proximal step")
plt.show()
