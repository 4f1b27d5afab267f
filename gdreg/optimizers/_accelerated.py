r"""Nesterov's accelerated gradient with adaptive restart, for the full batch."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.utils._param_validation import StrOptions

from gdreg.optimizers._base import Optimizer

__all__ = ["AcceleratedGradient", "AcceleratedState"]


class AcceleratedState(NamedTuple):
    """The previous iterate and gradient, and the updates since the last restart."""

    previous: np.ndarray | None
    previous_grad: np.ndarray | None
    count: int
    restarts: int


class AcceleratedGradient(Optimizer):
    r"""Accelerated full-batch gradient descent with adaptive restart.

    Nesterov's method (FISTA's momentum sequence, Beck and Teboulle 2009)
    with the gradient restart of O'Donoghue and Candès (2015):

    .. math::

        y_t &= \theta_t + \beta_k (\theta_t - \theta_{t-1}), \qquad
        \beta_k = \frac{k}{k + 3}, \\
        \theta_{t+1} &= y_t - \eta\, \nabla J(y_t),

    where :math:`k` counts the updates since the last restart, and the
    momentum restarts (:math:`k = 0`) whenever
    :math:`\nabla J(\theta_t)^\top (\theta_t - \theta_{t-1}) > 0`, that is
    when the last move went uphill. The objective is quadratic, so
    :math:`\nabla J(y_t) = \nabla J(\theta_t) + \beta_k (\nabla J(\theta_t) -
    \nabla J(\theta_{t-1}))`: one gradient per epoch, at the reported iterate
    :math:`\theta_t`, which is also the one the stopping rule checks.

    This is what ``optimizer="batch"`` runs with ``learning_rate="auto"``
    (step :math:`1/L` in standardised coordinates). It needs about
    :math:`\sqrt{\kappa}` times fewer epochs than plain gradient descent on
    a problem of condition number :math:`\kappa` (diabetes, :math:`\kappa =
    470`: about 260 epochs instead of 6,300), and restarts make it adapt to
    the strong convexity it does not know.

    Parameters
    ----------
    sampling : {"batch"}, default="batch"
        Full-batch gradients only: the extrapolated gradient is exact only
        when every gradient comes from the same objective.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import AcceleratedGradient
    >>> opt = AcceleratedGradient()
    >>> params = np.zeros((1, 1))
    >>> state = opt.init(params)
    >>> for _ in range(3):  # J = (theta - 1)^2 / 2, step 0.5
    ...     updates, state = opt.update(params - 1.0, state, params, 0.5)
    ...     params = params + updates
    >>> params.round(4).ravel()
    array([0.9688])
    """

    _parameter_constraints: dict = {"sampling": [StrOptions({"batch"})]}

    def __init__(self, sampling: str = "batch"):
        super().__init__(sampling=sampling, batch_size=None)

    def init(self, params: np.ndarray) -> AcceleratedState:
        self._validate_params()
        return AcceleratedState(None, None, 0, 0)

    def update(
        self, grad: np.ndarray, state: AcceleratedState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, AcceleratedState]:
        count, restarts = state.count, state.restarts
        if state.previous is None:
            return -step_size * grad, AcceleratedState(params.copy(), grad.copy(), 1, 0)
        moved = params - state.previous
        if float(np.vdot(grad, moved)) > 0.0:  # the last move went uphill: restart
            count, restarts = 0, restarts + 1
        beta = count / (count + 3.0)
        look_ahead_grad = grad + beta * (grad - state.previous_grad)
        updates = beta * moved - step_size * look_ahead_grad
        return updates, AcceleratedState(params.copy(), grad.copy(), count + 1, restarts)

    def stable_step_size(self, smoothness: float) -> float:
        return 1.0 / smoothness
