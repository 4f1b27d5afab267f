"""Step-size schedules: plain callables of the update count.

A schedule maps the update count ``t`` (1 for the first parameter update of a
fit, 2 for the second, ...) to a step size. Schedules hold no state that
changes during a fit, so one object can be shared, cloned and pickled freely.
They accept either an integer or a NumPy array of counts, so the loop can ask
for a whole epoch of step sizes at once. Each checks its parameters when it is
made (``Constant(-1)`` raises), and again when it is called and when a fit
resolves it (:func:`as_schedule`), since ``set_params`` changes them without
a check (scikit-learn's convention, which ``clone`` and ``GridSearchCV`` rely
on); the loop checks every step it takes (:func:`steps_for`): a step must be
finite and >= 0.

Any picklable callable ``f(t) -> float`` can be passed to
:class:`~gdreg.GradientDescentRegressor` as ``learning_rate``; the classes
below add a readable ``repr`` and ``get_params``/``set_params`` so that
``GridSearchCV`` can reach ``learning_rate__eta0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from gdreg._repr import ReadableRepr

__all__ = [
    "Constant",
    "ExponentialDecay",
    "InvScaling",
    "InverseSqrt",
    "Schedule",
    "StepDecay",
    "as_schedule",
]


class Schedule(ReadableRepr, BaseEstimator):
    """Base class of the built-in schedules.

    Subclasses implement ``__call__(t)`` for integer or array ``t >= 1``.
    ``BaseEstimator`` supplies ``get_params``/``set_params`` and ``clone``
    support; the ``repr`` prints computed floats to four significant digits
    (``Constant(eta0=0.2485)``), the parameters keep every digit.

    See Also
    --------
    as_schedule : Turn the estimator's ``learning_rate`` into a schedule.

    Examples
    --------
    A schedule of your own: store the arguments in ``__init__`` (so that
    ``clone`` and ``GridSearchCV`` work) and map update counts to steps.

    >>> import numpy as np
    >>> from gdreg.schedules import Schedule
    >>> class Warmup(Schedule):
    ...     def __init__(self, eta0=0.1, warmup=10):
    ...         self.eta0 = eta0
    ...         self.warmup = warmup
    ...
    ...     def __call__(self, t):
    ...         return self.eta0 * np.minimum(1.0, np.asarray(t) / self.warmup)
    >>> Warmup(warmup=4)([1, 2, 8])
    array([0.025, 0.05 , 0.1  ])
    >>> Warmup(eta0=1 / 3)
    Warmup(eta0=0.3333)
    """

    def __call__(self, t: int | np.ndarray) -> float | np.ndarray:  # pragma: no cover - abstract
        """Step sizes of the updates ``t``.

        Parameters
        ----------
        t : int or ndarray of int
            Update counts, starting at 1 for the first update of a fit.

        Returns
        -------
        float or ndarray of float
            The step of update ``t``, or one step per entry of ``t``.
        """
        raise NotImplementedError

    def _check_params(self) -> None:
        """Raise scikit-learn's ``InvalidParameterError`` for parameters out of range.

        The constructors of the built-in schedules and every fit call it.
        Schedules whose valid values have a cheap test run that first and
        leave scikit-learn's validation (about 10 us a call) to name the
        error; the outcome is the same.
        """
        self._validate_params()


def _positive_finite(value) -> bool:
    """``value`` is a real number in ``(0, inf)``: the cheap test run at every call."""
    return isinstance(value, Real) and 0 < value < math.inf


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

    _parameter_constraints: dict = {"eta0": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, eta0: float = 0.01):
        self.eta0 = eta0
        self._check_params()

    def _check_params(self) -> None:
        # scikit-learn's validation (about 10 us: it reads the signature) only when the
        # cheap test fails, to raise its error: every "auto" fit builds one of these
        if not _positive_finite(self.eta0):
            self._validate_params()

    def __call__(self, t: int | np.ndarray) -> float | np.ndarray:
        self._check_params()  # the loop calls this every epoch
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

    _parameter_constraints: dict = {
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "t0": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, eta0: float = 0.01, t0: float = 1.0):
        self.eta0 = eta0
        self.t0 = t0
        self._check_params()

    def _check_params(self) -> None:
        # as Constant's: scikit-learn's validation only to raise its error
        if not (_positive_finite(self.eta0) and _positive_finite(self.t0)):
            self._validate_params()

    def __call__(self, t: int | np.ndarray) -> float | np.ndarray:
        self._check_params()
        if np.ndim(t) == 0:
            return float(self.eta0 / np.sqrt(1.0 + (float(t) - 1.0) / self.t0))
        # eta0 / sqrt(1 + (t - 1) / t0), operation by operation in one buffer: a
        # per-sample epoch asks for n steps, and n-long temporaries cost page faults
        value = np.array(t, dtype=float)
        value -= 1.0
        value /= self.t0
        value += 1.0
        np.sqrt(value, out=value)
        return np.divide(self.eta0, value, out=value)


def _as_float(value):
    return float(value) if np.ndim(value) == 0 else value


class InvScaling(Schedule):
    r"""An inverse-scaling decay, the ``learning_rate="invscaling"`` of ``SGDRegressor``.

    .. math:: \eta_t = \frac{\eta_0}{t^{p}}

    Parameters
    ----------
    eta0 : float, default=0.01
        Step size of the first update, > 0.
    power_t : float, default=0.25
        The exponent :math:`p`, >= 0 (``SGDRegressor``'s default 0.25).
        ``0.5`` is :class:`InverseSqrt` with ``t0=1``.

    Notes
    -----
    ``SGDRegressor`` counts :math:`t` from 1 at the first sample, as here, so
    with ``optimizer="stochastic"`` and ``shuffle=False`` the two use the same
    step sequence.

    Examples
    --------
    >>> from gdreg.schedules import InvScaling
    >>> InvScaling(1.0, power_t=0.5)(4)
    0.5
    >>> InvScaling(0.1)([1, 16])
    array([0.1 , 0.05])
    """

    _parameter_constraints: dict = {
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, eta0: float = 0.01, power_t: float = 0.25):
        self.eta0 = eta0
        self.power_t = power_t
        self._validate_params()

    def __call__(self, t: int | np.ndarray) -> float | np.ndarray:
        self._validate_params()
        return _as_float(self.eta0 / np.power(np.asarray(t, dtype=float), self.power_t))


class StepDecay(Schedule):
    r"""A piecewise-constant decay: the step is multiplied by ``drop`` every ``every`` updates.

    .. math:: \eta_t = \eta_0 \cdot \text{drop}^{\lfloor (t - 1) / \text{every} \rfloor}

    Parameters
    ----------
    eta0 : float, default=0.01
        Step size of the first ``every`` updates, > 0.
    drop : float, default=0.5
        Factor applied at each drop, in ``(0, 1]``.
    every : int, default=1000
        Updates between drops, >= 1. To drop every ``k`` epochs, pass ``k``
        times the updates per epoch (1 for ``"batch"``, ``n_samples`` for
        ``"stochastic"``, ``ceil(n_samples / batch_size)`` for ``"minibatch"``).

    Notes
    -----
    This is PyTorch's ``StepLR(step_size=every, gamma=drop)`` and optax's
    ``exponential_decay(..., staircase=True)``, counted in updates. Because
    the estimator's stopping rule divides the change by the current step, a
    fit with a decaying step needs the iterates, not the step, to settle.

    Examples
    --------
    >>> from gdreg.schedules import StepDecay
    >>> StepDecay(1.0, drop=0.5, every=10)([1, 10, 11, 25])
    array([1.  , 1.  , 0.5 , 0.25])
    """

    _parameter_constraints: dict = {
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "drop": [Interval(Real, 0, 1, closed="right")],
        "every": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, eta0: float = 0.01, drop: float = 0.5, every: int = 1000):
        self.eta0 = eta0
        self.drop = drop
        self.every = every
        self._validate_params()

    def __call__(self, t: int | np.ndarray) -> float | np.ndarray:
        self._validate_params()
        drops = np.floor_divide(np.asarray(t, dtype=np.int64) - 1, self.every)
        return _as_float(self.eta0 * np.power(float(self.drop), drops))


class ExponentialDecay(Schedule):
    r"""A smooth exponential decay of the step size.

    .. math:: \eta_t = \eta_0 \cdot \gamma^{t - 1}

    Parameters
    ----------
    eta0 : float, default=0.01
        Step size of the first update, > 0.
    gamma : float, default=0.999
        Factor per update, in ``(0, 1]``. To halve the step every ``k``
        updates use ``gamma = 0.5 ** (1 / k)``.

    Notes
    -----
    This is PyTorch's ``ExponentialLR(gamma)`` stepped once per update, and
    optax's ``exponential_decay(eta0, transition_steps=1, decay_rate=gamma)``.
    The sum of the steps is finite (:math:`\eta_0 / (1 - \gamma)`), so with
    ``gamma < 1`` gradient descent stops short of the optimum when that sum
    is too small to reach it: choose ``gamma`` close to 1.

    Examples
    --------
    >>> from gdreg.schedules import ExponentialDecay
    >>> ExponentialDecay(1.0, gamma=0.5)([1, 2, 3])
    array([1.  , 0.5 , 0.25])
    """

    _parameter_constraints: dict = {
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, eta0: float = 0.01, gamma: float = 0.999):
        self.eta0 = eta0
        self.gamma = gamma
        self._validate_params()

    def __call__(self, t: int | np.ndarray) -> float | np.ndarray:
        self._validate_params()
        exponent = np.asarray(t, dtype=float) - 1.0
        return _as_float(self.eta0 * np.power(float(self.gamma), exponent))


def as_schedule(learning_rate: str | Callable[[int], float], eta0: float) -> Callable[[int], float]:
    """Turn the estimator's ``learning_rate`` argument into a schedule.

    ``"constant"`` and ``"invsqrt"`` become :class:`Constant` and
    :class:`InverseSqrt` with ``eta0``; a callable is returned unchanged.
    ``"auto"`` is resolved by the loop, which needs the data, so it is not
    accepted here. The parameters of a :class:`Schedule` are validated here,
    once per fit; the steps of any other callable are checked as the loop
    takes them (:func:`steps_for`).

    Parameters
    ----------
    learning_rate : {"constant", "invsqrt"} or callable
        The estimator's ``learning_rate``, other than ``"auto"``.
    eta0 : float
        The estimator's ``eta0``, used by the two names.

    Returns
    -------
    callable
        A schedule: a :class:`Schedule`, or the callable passed in.

    Raises
    ------
    ValueError
        If ``learning_rate`` is an unknown name.
    TypeError
        If it is neither a name nor a callable.
    sklearn.utils._param_validation.InvalidParameterError
        If a :class:`Schedule`'s parameters are out of range.

    Examples
    --------
    >>> as_schedule("invsqrt", 0.5)
    InverseSqrt(eta0=0.5)
    >>> as_schedule(Constant(0.1).set_params(eta0=-1.0), 0.01)
    Traceback (most recent call last):
    ...
    sklearn...InvalidParameterError: The 'eta0' parameter of Constant must be ... Got -1.0 instead.
    """
    if isinstance(learning_rate, str):
        if learning_rate == "constant":
            schedule = Constant(eta0)
        elif learning_rate == "invsqrt":
            schedule = InverseSqrt(eta0)
        else:
            raise ValueError(f"Unknown learning_rate {learning_rate!r}.")
        return schedule  # the constructor validated it
    if not callable(learning_rate):
        raise TypeError(f"learning_rate must be a string or a callable, got {learning_rate!r}.")
    if isinstance(learning_rate, Schedule) and hasattr(learning_rate, "_parameter_constraints"):
        # a user's subclass may declare no constraints: its steps are checked as taken
        learning_rate._check_params()
    return learning_rate


def steps_for(schedule, t_first: int, count: int, dtype=np.float64) -> np.ndarray:
    """Step sizes for the updates ``t_first, ..., t_first + count - 1``.

    Built-in schedules are evaluated on the whole range at once; any other
    callable is called once per update (it only has to accept an ``int``).

    Raises
    ------
    ValueError
        If a step is not finite or is negative; the message names the update.
        A zero step is allowed (warm-up schedules start at 0, and a decaying
        step may underflow to 0).

    Examples
    --------
    >>> steps_for(Constant(0.5), 1, 3)
    array([0.5, 0.5, 0.5])
    >>> steps_for(lambda t: 0.1 if t < 3 else float("nan"), 1, 4)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate gave the step size nan for update 3: a step size must be finite. ...
    """
    t = np.arange(t_first, t_first + count, dtype=np.int64)
    if isinstance(schedule, Schedule):
        steps = np.asarray(schedule(t), dtype=dtype)
    else:
        steps = np.fromiter((float(schedule(int(i))) for i in t), dtype=np.float64, count=count)
        with np.errstate(over="ignore"):  # a step past float32's range is reported below
            steps = steps.astype(dtype, copy=False)
    if steps.shape != (count,):
        steps = np.broadcast_to(steps, (count,)).astype(dtype)
    # min() propagates NaN, so one comparison per bound covers NaN, inf and negatives
    if count and not (steps.min() >= 0 and steps.max() < np.inf):
        raise _bad_step_error(schedule, steps, t_first)
    return steps


def _bad_step_error(schedule, steps, t_first: int) -> ValueError:
    """Name the first update whose step is not finite or is negative."""
    first = int(np.flatnonzero(~(np.isfinite(steps) & (steps >= 0)))[0])
    value = steps[first]
    problem = "must not be negative" if value < 0 else "must be finite"
    name = getattr(schedule, "__qualname__", None) or repr(schedule)
    return ValueError(
        f"learning_rate gave the step size {float(value)!r} for update {t_first + first}: a step "
        f"size {problem}. The schedule is {name}; fix it, or use learning_rate='auto'."
    )
