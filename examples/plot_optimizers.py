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
optimizers = {
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

print(f"{'rule':<26}{'epochs to 1e-6 rel. error':>28}")
for name, reg in fits.items():
    errors = np.linalg.norm(reg.coef_path_ - coef_star, axis=1) / np.linalg.norm(coef_star)
    hit = np.flatnonzero(errors < 1e-6)
    print(f"{name:<26}{hit[0] if hit.size else '> 1500':>28}")

# %%
# The curves. :class:`~gdreg.plotting.ConvergenceDisplay` takes any loss
# curves; here the suboptimality, so that a log scale shows the rates.
display = ConvergenceDisplay(
    loss_curves=[np.maximum(reg.loss_curve_ - optimum, 1e-16) for reg in fits.values()],
    names=list(fits),
)
display.plot(log_scale=True)
display.ax_.set_ylabel("J(theta_k) - J*")
display.ax_.set_title(f"AR(1) rho = {rho}, kappa = {kappa:.0f}")
plt.show()

# %%
# What the curves say:
#
# * Plain gradient descent at :math:`1/L` contracts by about
#   :math:`1 - 1/\kappa` per epoch.
# * Momentum and Nesterov with the default :math:`\mu = 0.9` contract by about
#   :math:`\sqrt{0.9}` per epoch whatever :math:`\kappa` (until :math:`\kappa`
#   passes a few hundred); Nesterov with
#   :math:`\mu = (\sqrt\kappa - 1)/(\sqrt\kappa + 1)` contracts by about
#   :math:`1 - 1/\sqrt\kappa`, the accelerated rate.
# * AdaGrad, RMSProp and Adam rescale each coordinate, which does not undo a
#   correlation between features; RMSProp and Adam with a constant step
#   hover near the optimum (see their ``eps`` notes).
# * Averaging full-batch iterates converges only as :math:`O(1/k)`: it is a
#   tool for the stochastic modes, where it removes the gradient noise.
