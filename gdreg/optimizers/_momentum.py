r"""Momentum methods: Polyak's heavy ball and Nesterov's accelerated gradient.

Both keep one buffer, the velocity, and are written in PyTorch's form (the
velocity accumulates gradients, the step size multiplies it when it is
applied). See each class's Notes for how this relates to Polyak's and
Sutskever's forms.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from gdreg import _kernels
from gdreg._kernels._rules import no_factors, register_piece
from gdreg.optimizers._base import SAMPLINGS, Optimizer

__all__ = ["Momentum", "MomentumState", "Nesterov"]

_COMMON_CONSTRAINTS = {
    "sampling": [StrOptions(set(SAMPLINGS))],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
}


class MomentumState(NamedTuple):
    """The velocity :math:`v`, shaped like the parameters."""

    velocity: np.ndarray


class MomentumHyper(NamedTuple):
    """:class:`Momentum`'s hyperparameter, as its compiled update piece reads it."""

    momentum: float


class NesterovHyper(NamedTuple):
    """:class:`Nesterov`'s hyperparameter, as its compiled update piece reads it."""

    momentum: float


# The compiled update pieces (gdreg._kernels._rules): one coordinate of ``update``,
# operation by operation; ``a`` is the velocity, ``b`` is unused.
def _momentum_piece(hyper, factors, g, a, b, eta):
    velocity = hyper.momentum * a + g
    return -eta * velocity, velocity, b


def _nesterov_piece(hyper, factors, g, a, b, eta):
    velocity = hyper.momentum * a + g
    return -eta * (g + hyper.momentum * velocity), velocity, b


register_piece(MomentumHyper, no_factors, _momentum_piece)
register_piece(NesterovHyper, no_factors, _nesterov_piece)


class _MomentumBase(Optimizer):
    #: The ``update`` the compiled piece reproduces, and the piece's hyperparameter type:
    #: a subclass that overrides ``update`` runs the NumPy path.
    _piece_update = None
    _piece_hyper: type | None = None

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "momentum": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self, sampling: str = "batch", batch_size: int | None = None, momentum: float = 0.9
    ):
        super().__init__(sampling=sampling, batch_size=batch_size)
        self.momentum = momentum

    def init(self, params: np.ndarray) -> MomentumState:
        self._validate_params()
        return MomentumState(velocity=np.zeros_like(params))

    def auto_step_size(self, smoothness: float) -> float:
        # Full batch: 1/L keeps every eigen-direction with L/lambda below about
        # 4 / (1 - sqrt(mu))^2 in the regime where the error contracts by sqrt(mu)
        # per step. Stochastic: (1 - mu)/L(B) gives the same long-run step
        # eta / (1 - mu) as plain SGD's 1/L(B), so momentum does not amplify
        # the gradient noise.
        if self.sampling == "batch":
            return 1.0 / smoothness
        return (1.0 - float(self.momentum)) / smoothness

    def compiled_epoch(
        self,
        data: Any,
        params: np.ndarray,
        state: MomentumState,
        order: np.ndarray,
        steps: Any,
        batch_size: int,
    ) -> tuple[MomentumState, float] | None:
        if not _kernels.ENABLED or type(self).update is not type(self)._piece_update:
            return None
        velocity = np.array(state.velocity, dtype=params.dtype, order="C", copy=True)
        hyper = self._piece_hyper(float(self.momentum))
        loss = _kernels.rule_epoch(data, params, hyper, velocity, None, 0, order, steps, batch_size)
        return MomentumState(velocity), loss


class Momentum(_MomentumBase):
    r"""Gradient descent with heavy-ball momentum (Polyak, 1964).

    .. math::

        v_t &= \mu\, v_{t-1} + g_t, \qquad v_0 = 0, \\
        \theta_t &= \theta_{t-1} - \eta_t\, v_t ,

    where :math:`g_t` is the gradient at :math:`\theta_{t-1}` (full batch,
    one sample or a mini-batch) and :math:`\eta_t` comes from the schedule.

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.
    momentum : float, default=0.9
        The momentum factor :math:`\mu`, in ``[0, 1)``. ``0`` is plain
        gradient descent.

    Notes
    -----
    **Conventions.** This is PyTorch's ``torch.optim.SGD(momentum=mu)`` form
    (with ``dampening=0``). Polyak's heavy ball and Sutskever et al. (2013)
    write :math:`v_t = \mu v_{t-1} - \eta_t g_t,\ \theta_t = \theta_{t-1} + v_t`,
    i.e. :math:`\theta_t = \theta_{t-1} - \eta_t g_t + \mu(\theta_{t-1} -
    \theta_{t-2})`. The two give the same iterates for a constant step; with
    a decaying schedule PyTorch's form rescales the whole velocity by the
    current step, Sutskever's keeps each past gradient at the step it was
    taken with.

    **learning_rate="auto".** Full batch: :math:`\eta = 1/L`. On a
    quadratic every eigen-direction with
    :math:`L/\lambda < (1 + \sqrt\mu)^2 / (1 - \sqrt\mu)^2` (about 1400 for
    :math:`\mu = 0.9`) then contracts by :math:`\sqrt\mu` per step, so
    momentum pays off only on ill-conditioned problems; the rate can never
    beat :math:`\sqrt\mu` whatever the step. Stochastic and mini-batch:
    :math:`\eta_0 = (1 - \mu)/L(B)`, the same long-run step
    :math:`\eta / (1 - \mu)` as plain SGD's ``auto``, decaying as
    :math:`1/\sqrt{\text{epoch}}`.

    **Stability.** On a quadratic of curvature :math:`L` a constant step is
    stable for :math:`\eta < 2 (1 + \mu) / L`.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import Momentum
    >>> opt = Momentum(momentum=0.5)
    >>> params, grad = np.zeros((2, 1)), np.ones((2, 1))
    >>> state = opt.init(params)
    >>> updates, state = opt.update(grad, state, params, 0.1)
    >>> updates, state = opt.update(grad, state, params, 0.1)
    >>> state.velocity.ravel(), updates.ravel()
    (array([1.5, 1.5]), array([-0.15, -0.15]))
    """

    def update(
        self, grad: np.ndarray, state: MomentumState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, MomentumState]:
        velocity = self.momentum * state.velocity + grad
        return -step_size * velocity, MomentumState(velocity)

    _piece_update = update
    _piece_hyper = MomentumHyper

    def stable_step_size(self, smoothness: float) -> float:
        return 2.0 * (1.0 + float(self.momentum)) / smoothness


class Nesterov(_MomentumBase):
    r"""Nesterov's accelerated gradient, in the momentum form of PyTorch.

    .. math::

        v_t &= \mu\, v_{t-1} + g_t, \qquad v_0 = 0, \\
        \theta_t &= \theta_{t-1} - \eta_t\, (g_t + \mu\, v_t) ,

    where :math:`g_t` is the gradient at :math:`\theta_{t-1}`.

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.
    momentum : float, default=0.9
        The momentum factor :math:`\mu`, in ``[0, 1)``.

    Notes
    -----
    **Conventions.** This is ``torch.optim.SGD(momentum=mu, nesterov=True)``.
    Sutskever et al. (2013) write the method with a look-ahead gradient,
    :math:`v_t = \mu v_{t-1} - \eta \nabla f(\phi_{t-1} + \mu v_{t-1}),\
    \phi_t = \phi_{t-1} + v_t`; the parameters here are their look-ahead
    points :math:`\theta = \phi + \mu v` (Bengio et al., 2013), so the two
    forms give the same sequence of gradients and the same limit for a
    constant step. Nesterov's (1983) original uses a momentum
    :math:`\mu_t = (t - 1)/(t + 2)` that grows to 1; a constant :math:`\mu`
    is the strongly convex variant.

    **Acceleration.** On a quadratic with curvatures in
    :math:`[\lambda_{min}, L]` (condition number :math:`\kappa`), the step
    :math:`1/L` with :math:`\mu = (\sqrt\kappa - 1)/(\sqrt\kappa + 1)`
    contracts the error by about :math:`1 - 1/\sqrt\kappa` per step, so
    :math:`O(\sqrt\kappa \log(1/\epsilon))` iterations reach accuracy
    :math:`\epsilon` where gradient descent needs
    :math:`O(\kappa \log(1/\epsilon))`. The default :math:`\mu = 0.9` is
    that tuning for :math:`\kappa = 361`.

    **learning_rate="auto".** Full batch: :math:`\eta = 1/L`. Stochastic and
    mini-batch: :math:`\eta_0 = (1 - \mu)/L(B)` decaying as
    :math:`1/\sqrt{\text{epoch}}`, the long-run step of plain SGD's ``auto``.

    **Stability.** On a quadratic of curvature :math:`L` a constant step is
    stable for :math:`\eta < 2 (1 + \mu) / ((1 + 2\mu) L)`.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import Nesterov
    >>> opt = Nesterov(momentum=0.5)
    >>> params, grad = np.zeros((2, 1)), np.ones((2, 1))
    >>> updates, state = opt.update(grad, opt.init(params), params, 0.1)
    >>> updates.ravel()
    array([-0.15, -0.15])
    """

    def update(
        self, grad: np.ndarray, state: MomentumState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, MomentumState]:
        velocity = self.momentum * state.velocity + grad
        return -step_size * (grad + self.momentum * velocity), MomentumState(velocity)

    _piece_update = update
    _piece_hyper = NesterovHyper

    def stable_step_size(self, smoothness: float) -> float:
        mu = float(self.momentum)
        return 2.0 * (1.0 + mu) / ((1.0 + 2.0 * mu) * smoothness)


def accelerated_momentum(condition_number: float) -> float:
    r"""Compute Nesterov's momentum for a quadratic of condition number ``kappa``.

    Parameters
    ----------
    condition_number : float
        :math:`\kappa = L / \lambda_{min}`; values below 1 are taken as 1.

    Returns
    -------
    float
        :math:`\mu = (\sqrt\kappa - 1) / (\sqrt\kappa + 1)`, the momentum
        of :class:`Nesterov` that contracts the error by about
        :math:`1 - 1/\sqrt\kappa` per step with the step :math:`1/L`.

    Examples
    --------
    >>> round(accelerated_momentum(361.0), 6)
    0.9
    """
    root = math.sqrt(max(float(condition_number), 1.0))
    return (root - 1.0) / (root + 1.0)
