"""Step-size schedules: plain callables of the update count.

A schedule maps the update count ``t`` (1 for the first parameter update of a
fit, 2 for the second, ...) to a step size. Schedules hold no state that
changes during a fit, so one object can be shared, cloned and pickled freely.
They accept either an integer or a NumPy array of counts, so the loop can ask
for a whole epoch of step sizes at once.

Any picklable callable ``f(t) -> float`` can be passed to
:class:`~gdreg.GradientDescentRegressor` as ``learning_rate``; the classes
below add a readable ``repr`` and ``get_params``/``set_params`` so that
``GridSearchCV`` can reach ``learning_rate__eta0``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["Constant", "InverseSqrt", "Schedule", "as_schedule"]


class Schedule(BaseEstimator):
    """Base class of the built-in schedules.

    Subclasses implement ``__call__(t)`` for integer or array ``t >= 1``.
    ``BaseEstimator`` supplies ``get_params``/``set_params``, ``clone`` support
    and the ``repr``.
    """

    def __call__(self, t):  # pragma: no cover - abstract
        raise NotImplementedError


class Constant(Schedule):
    r"""A constant step size.

    .. math:: \eta_t = \eta_0

    Parameters
    ----------
    eta0 : float, default=0.01
        The step size, > 0.

    Examples
    --------
    >>> from gdreg.schedules import Constant
    >>> Constant(0.1)(7)
    0.1
    """

    def __init__(self, eta0: float = 0.01):
        self.eta0 = eta0

    def __call__(self, t):
        if np.ndim(t) == 0:
            return float(self.eta0)
        return np.full(np.shape(t), float(self.eta0))


class InverseSqrt(Schedule):
    r"""An inverse-square-root decay of the step size.

    .. math:: \eta_t = \frac{\eta_0}{\sqrt{1 + (t - 1) / t_0}}

    With the default ``t0=1`` this is :math:`\eta_0 / \sqrt{t}`. A larger
    ``t0`` stretches the decay: with ``t0`` equal to the number of updates in
    one epoch, the step falls by :math:`\sqrt{k}` over ``k`` epochs rather than
    over ``k`` updates.

    Parameters
    ----------
    eta0 : float, default=0.01
        Step size of the first update, > 0.
    t0 : float, default=1.0
        Time scale of the decay, in updates, > 0.

    Examples
    --------
    >>> from gdreg.schedules import InverseSqrt
    >>> InverseSqrt(1.0)(4)
    0.5
    >>> InverseSqrt(1.0, t0=10)(11)  # one "epoch" of 10 updates later
    0.7071...
    """

    def __init__(self, eta0: float = 0.01, t0: float = 1.0):
        self.eta0 = eta0
        self.t0 = t0

    def __call__(self, t):
        value = self.eta0 / np.sqrt(1.0 + (np.asarray(t, dtype=float) - 1.0) / self.t0)
        return float(value) if np.ndim(value) == 0 else value


def as_schedule(learning_rate, eta0: float):
    """Turn the estimator's ``learning_rate`` argument into a schedule.

    ``"constant"`` and ``"invsqrt"`` become :class:`Constant` and
    :class:`InverseSqrt` with ``eta0``; a callable is returned unchanged.
    ``"auto"`` is resolved by the loop, which needs the data, so it is not
    accepted here.

    Examples
    --------
    >>> as_schedule("invsqrt", 0.5)
    InverseSqrt(eta0=0.5)
    """
    if isinstance(learning_rate, str):
        if learning_rate == "constant":
            return Constant(eta0)
        if learning_rate == "invsqrt":
            return InverseSqrt(eta0)
        raise ValueError(f"Unknown learning_rate {learning_rate!r}.")
    if not callable(learning_rate):
        raise TypeError(f"learning_rate must be a string or a callable, got {learning_rate!r}.")
    return learning_rate


def steps_for(schedule, t_first: int, count: int, dtype=np.float64) -> np.ndarray:
    """Step sizes for the updates ``t_first, ..., t_first + count - 1``.

    Built-in schedules are evaluated on the whole range at once; any other
    callable is called once per update (it only has to accept an ``int``).
    """
    t = np.arange(t_first, t_first + count, dtype=np.int64)
    if isinstance(schedule, Schedule):
        steps = np.asarray(schedule(t), dtype=dtype)
    else:
        steps = np.fromiter((float(schedule(int(i))) for i in t), dtype=dtype, count=count)
    if steps.shape != (count,):
        steps = np.broadcast_to(steps, (count,)).astype(dtype)
    return steps
