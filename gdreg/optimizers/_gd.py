"""Plain gradient descent."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdreg import _kernels
from gdreg.optimizers._base import Optimizer


class EmptyState(NamedTuple):
    """Plain gradient descent carries no state."""


class GradientDescent(Optimizer):
    r"""Plain (stochastic / mini-batch) gradient descent.

    .. math:: \theta_{t} = \theta_{t-1} - \eta_t\, g_t

    where :math:`g_t` is the full gradient (``sampling="batch"``), the
    gradient of one sample (``"stochastic"``) or the mean over
    ``batch_size`` samples (``"minibatch"``), and :math:`\eta_t` comes from
    the schedule.

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.

    Notes
    -----
    The estimator's ``optimizer="batch"``, ``"stochastic"`` and
    ``"minibatch"`` are shorthands for this class with that ``sampling``.
    The stochastic modes run in a compiled numba kernel that gives the same
    iterates as the NumPy path up to round-off.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import GradientDescent
    >>> opt = GradientDescent()
    >>> params = np.zeros((2, 1))
    >>> updates, state = opt.update(np.ones((2, 1)), opt.init(params), params, 0.5)
    >>> updates.ravel()
    array([-0.5, -0.5])
    """

    #: An l1 penalty's soft-threshold after each step makes proximal gradient descent (ISTA).
    proximal = True

    def init(self, params: np.ndarray) -> EmptyState:
        return EmptyState()

    def update(
        self, grad: np.ndarray, state: EmptyState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, EmptyState]:
        return -step_size * grad, state

    def _rule_is_plain(self) -> bool:
        # the kernels make exactly theta - eta * grad: a subclass that changes
        # update() gets the NumPy path, not the kernels of the rule it replaced
        return _kernels.ENABLED and type(self).update is GradientDescent.update

    def compiled_epoch(
        self,
        data: Any,
        params: np.ndarray,
        state: EmptyState,
        order: np.ndarray,
        steps: Any,
        batch_size: int,
    ) -> tuple[EmptyState, float] | None:
        if not self._rule_is_plain():
            return None
        loss = _kernels.plain_epoch(data, params, order, steps, batch_size)
        return state, loss

    def compiled_full_batch(
        self,
        objective: Any,
        params: np.ndarray,
        state: EmptyState,
        steps: np.ndarray,
        *,
        certificate: Any,
        tol: float | None,
        limit: float,
    ) -> tuple[int, int, np.ndarray, np.ndarray] | None:
        if not self._rule_is_plain():
            return None
        return _kernels.gram_descent(
            objective, params, steps, certificate=certificate, tol=tol, limit=limit
        )
