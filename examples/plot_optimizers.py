"""
Update rules compared: momentum, Nesterov, AdaGrad, RMSProp, Adam, averaging
=============================================================================

Every rule in :mod:`gdreg.optimizers` fits the same correlated least-squares
problem with the estimator's default ``learning_rate="auto"``, one full-batch
step per epoch. The features are AR(1)-correlated (rho = 0.9), which makes the
problem ill-conditioned: plain gradient descent needs on the order of the
condition number :math:`\\kappa` steps, Nesterov's method with its momentum
tuned to :math:`\\kappa` on the order of :math:`\\sqrt\\kappa`.

We plot the suboptimality :math:`J(\\theta_k) - J^*` of each fit, with
:math:`J^*` from :func:`gdreg.normal_equation`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import (
    AcceleratedGradient,
    AdaGrad,
    Adam,
    AveragedSGD,
    GradientDescent,
    Momentum,
    Nesterov,
    RMSProp,
    accelerated_momentum,
)
from gdreg.plotting import ConvergenceDisplay

rng = np.random.RandomState(0)
n, d, rho = 2_000, 20, 0.9
X = rng.normal(size=(n, d))
for j in range(1, d):  # corr(x_i, x_j) = rho ** |i - j|
    X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * X[:, j]
y = X @ rng.normal(size=d) + 1.0 + 0.1 * rng.normal(size=n)

coef_star, intercept_star = normal_equation(X, y)
optimum = 0.5 * np.mean((y - X @ coef_star - intercept_star) ** 2)
Xc = X - X.mean(axis=0)
eigenvalues = np.linalg.eigvalsh(Xc.T @ Xc / n)
kappa = eigenvalues[-1] / eigenvalues[0]
print(f"condition number kappa = {kappa:.0f}, sqrt(kappa) = {np.sqrt(kappa):.1f}")

# %%
# One fit per rule, 1500 epochs each (``tol=None``: the same work for all).
# The first is what ``GradientDescentRegressor()`` runs by default:
# :class:`~gdreg.optimizers.AcceleratedGradient` (Nesterov's method with
# restarts), which needs no momentum to be tuned.
optimizers = {
    "AcceleratedGradient (default)": AcceleratedGradient(),
    "GradientDescent": GradientDescent(),
    "Momentum(0.9)": Momentum(),
    "Nesterov(0.9)": Nesterov(),
    "Nesterov, tuned to kappa": Nesterov(momentum=accelerated_momentum(kappa)),
    "AdaGrad": AdaGrad(),
    "RMSProp": RMSProp(),
    "Adam": Adam(),
    "AveragedSGD (batch)": AveragedSGD(sampling="batch"),
}
fits = {
    name: GradientDescentRegressor(optimizer=opt, max_iter=1500, tol=None, record_path=True).fit(
        X, y
    )
    for name, opt in optimizers.items()
}

print(f"{'rule':<32}{'epochs to 1e-6 rel. error':>28}")
for name, reg in fits.items():
    errors = np.linalg.norm(reg.coef_path_ - coef_star, axis=1) / np.linalg.norm(coef_star)
    hit = np.flatnonzero(errors < 1e-6)
    print(f"{name:<32}{hit[0] if hit.size else '> 1500':>28}")


# %%
# The curves, in two panels: the momentum family on the left, the rules that
# rescale each coordinate or average the iterates on the right, with plain
# gradient descent in grey on both for reference.
# :class:`~gdreg.plotting.ConvergenceDisplay` takes any curves; here the
# suboptimality :math:`J(\theta_k) - J^*` of the coefficients each fit
# reports after epoch :math:`k` (``coef_path_``, the average for
# ``AveragedSGD``), so that a log scale shows the rates. A curve ends where it
# reaches round-off (:math:`10^{-13}` of :math:`J^*`): below that,
# :math:`J - J^*` is noise. The momentum family is shown over its first 400
# epochs, where all of it happens.
def suboptimality(reg):
    residuals = y[:, None] - X @ reg.coef_path_[1:].T - reg.intercept_path_[1:]
    gap = 0.5 * np.mean(residuals**2, axis=0) - optimum
    below = np.flatnonzero(gap < 1e-13 * optimum)
    return gap[: below[0]] if below.size else gap


groups = {
    "Momentum family": [
        "AcceleratedGradient (default)",
        "Momentum(0.9)",
        "Nesterov(0.9)",
        "Nesterov, tuned to kappa",
    ],
    "Per-coordinate steps and averaging": ["AdaGrad", "RMSProp", "Adam", "AveragedSGD (batch)"],
}
fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), sharey=True, layout="constrained")
axes[0].set_xlim(-10, 400)
for ax, (title, names) in zip(axes, groups.items(), strict=True):
    reference = ConvergenceDisplay(
        loss_curves=[suboptimality(fits["GradientDescent"])], names=["GradientDescent"]
    )
    reference.plot(ax=ax, log_scale=True, color="gray", linewidth=2.5, alpha=0.6)
    display = ConvergenceDisplay(
        loss_curves=[suboptimality(fits[name]) for name in names], names=names
    )
    display.plot(ax=ax, log_scale=True)
    ax.set_title(title)
    ax.set_ylabel("J(theta_k) - J*")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, frameon=False)
axes[1].set_ylabel("")
fig.suptitle(f"Full-batch fits of an AR(1) design, rho = {rho}, kappa = {kappa:.0f}")
plt.show()

# %%
# What the curves say:
#
# * Plain gradient descent at :math:`1/L` contracts by about
#   :math:`1 - 1/\kappa` per epoch.
# * :class:`~gdreg.optimizers.AcceleratedGradient`, the default, keeps up
#   with the momentum methods without being told :math:`\kappa`: each restart
#   (a bump in its curve) resets a momentum that has grown too large.
# * Momentum and Nesterov with the default :math:`\mu = 0.9` contract by about
#   :math:`\sqrt{0.9}` per epoch whatever :math:`\kappa` (until :math:`\kappa`
#   passes a few hundred); Nesterov with
#   :math:`\mu = (\sqrt\kappa - 1)/(\sqrt\kappa + 1)` contracts by about
#   :math:`1 - 1/\sqrt\kappa`, the accelerated rate.
# * AdaGrad, RMSProp and Adam rescale each coordinate, which does not undo a
#   correlation between features. RMSProp with a constant step ends up
#   hovering at a distance from the optimum set by its step (see its ``eps``
#   note); Adam, whose first moment acts like momentum, gets there, several
#   times slower than the momentum family.
# * Averaging full-batch iterates converges only as :math:`O(1/k)`, slower
#   than the iterates themselves (the grey line): it is a tool for the
#   stochastic modes, where it removes the gradient noise (see
#   :ref:`sphx_glr_auto_examples_plot_07_streaming_partial_fit.py`).
