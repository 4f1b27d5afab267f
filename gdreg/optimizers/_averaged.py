r"""Averaged stochastic gradient descent (Polyak and Juditsky, 1992; Ruppert, 1988)."""

from __future__ import annotations

from numbers import Integral
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from gdreg import _kernels
from gdreg._kernels._rules import register_piece
from gdreg.optimizers._base import SAMPLINGS, Optimizer

__all__ = ["AveragedSGD", "AveragedState"]


class AveragedState(NamedTuple):
    """Updates made so far and the running average :math:`\\bar\\theta`."""

    count: int
    average: np.ndarray


class AveragedHyper(NamedTuple):
    """:class:`AveragedSGD`'s hyperparameter, as its compiled update piece reads it."""

    start: float


# The compiled update piece (gdreg._kernels._rules): one coordinate of ``update``.
# The piece sees no parameters, only its state, so its first state entry ``a`` is
# the iterate itself (a copy of the parameters, in the optimizer's coordinates) and
# ``b`` the running average.
def _averaged_factors(hyper, t):
    # the weight of the new iterate in the average of update t, and whether the
    # average is still the iterate itself (update t at most ``start``)
    if t <= hyper.start:
        return 1.0, 1.0
    return 1.0 / (t - hyper.start), 0.0


def _averaged_piece(hyper, factors, g, a, b, eta):
    delta = -eta * g
    iterate = a + delta
    # a multiplication by the weight, not update()'s division: round-off apart the
    # same, and a division per coordinate and update would cost more than the step
    average = iterate if factors[1] != 0.0 else b + (iterate - b) * factors[0]
    return delta, iterate, average


register_piece(AveragedHyper, _averaged_factors, _averaged_piece)


class AveragedSGD(Optimizer):
    r"""Stochastic gradient descent with Polyak-Ruppert averaging of the iterates.

    .. math::

        \theta_t &= \theta_{t-1} - \eta_t\, g_t, \\
        \bar\theta_t &= \bar\theta_{t-1}
            + \frac{\theta_t - \bar\theta_{t-1}}{t - t_s}
            \quad (t > t_s), \qquad \bar\theta_{t_s} = \theta_{t_s},

    where :math:`t_s` is ``start``. The fitted parameters are
    :math:`\bar\theta` (before averaging starts, the iterate itself).

    Parameters
    ----------
    sampling : {"stochastic", "batch", "minibatch"}, default="stochastic"
        How each gradient is formed. Averaging is a stochastic method, so it
        defaults to one sample per update.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.
    start : int, default=0
        Updates :math:`t_s` left out of the average; >= 0. ``0`` averages
        every iterate, like ``SGDRegressor(average=True)``;
        ``SGDRegressor(average=k)``, whose average begins *at* sample ``k``,
        is ``start=k - 1`` with ``sampling="stochastic"``.

    Notes
    -----
    **Why average.** With a step decaying more slowly than :math:`1/t`, the
    average of the SGD iterates converges at the optimal statistical rate
    whatever the conditioning, while the last iterate still jitters at the
    scale of the step. The estimator's stopping rule, ``n_iter_`` and
    ``coef_path_`` see the average, as ``SGDRegressor(average=True)``
    reports it.

    **Full batch.** Averaging deterministic gradient-descent iterates
    converges only as :math:`O(1/t)`: after :math:`T` steps of size
    :math:`1/L` the average is within
    :math:`\lVert\theta_0 - \theta^*\rVert\, \kappa / T` of the optimum
    (:math:`\kappa` the condition number). Use ``start`` to skip the
    transient, or plain :class:`GradientDescent`.

    **learning_rate="auto"** is that of :class:`GradientDescent`:
    :math:`1/L` for the full batch, ``InverseSqrt(1/L(B), t0=T)`` otherwise,
    the classical :math:`t^{-1/2}` decay for which averaging is designed.

    **Compiled epochs.** The stochastic and mini-batch epochs run in the
    compiled kernels of every rule with an update piece (dense X in any
    layout, CSR, any number of targets), with the iterates and average of
    :meth:`update` up to round-off (the average's weight :math:`1/(t - t_s)`
    is multiplied, not divided by). A subclass that overrides :meth:`update`
    runs the NumPy path.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import AveragedSGD
    >>> opt = AveragedSGD()
    >>> params = np.zeros((1, 1))
    >>> state = opt.init(params)
    >>> for target in (4.0, 2.0):  # iterates 4 then 2
    ...     updates, state = opt.update(params - target, state, params, 1.0)
    ...     params = params + updates
    >>> float(opt.output(params, state)[0, 0])
    3.0
    """

    _parameter_constraints: dict = {
        "sampling": [StrOptions(set(SAMPLINGS))],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "start": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, sampling: str = "stochastic", batch_size: int | None = None, start: int = 0):
        super().__init__(sampling=sampling, batch_size=batch_size)
        self.start = start

    def init(self, params: np.ndarray) -> AveragedState:
        self._validate_params()
        return AveragedState(0, params.copy())

    def update(
        self, grad: np.ndarray, state: AveragedState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, AveragedState]:
        updates = -step_size * grad
        count = state.count + 1
        new_params = params + updates
        if count <= self.start:
            average = new_params
        else:
            average = state.average + (new_params - state.average) / (count - self.start)
        return updates, AveragedState(count, average)

    def output(self, params: np.ndarray, state: AveragedState) -> np.ndarray:
        return state.average

    def compiled_epoch(
        self,
        data: Any,
        params: np.ndarray,
        state: AveragedState,
        order: np.ndarray,
        steps: Any,
        batch_size: int,
    ) -> tuple[AveragedState, float] | None:
        # the kernels make exactly update()'s iterates and averages (to round-off); a
        # subclass that changes update() gets the NumPy path
        if not _kernels.ENABLED or type(self).update is not AveragedSGD.update:
            return None
        self._validate_params()
        average = np.array(state.average, dtype=params.dtype, order="C", copy=True)
        hyper = AveragedHyper(float(self.start))
        loss = _kernels.averaged_epoch(
            data, params, average, hyper, state.count, order, steps, batch_size
        )
        updates = -(-len(order) // batch_size)
        return AveragedState(state.count + updates, average), loss
