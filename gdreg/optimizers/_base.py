"""The optimizer protocol.

An optimizer is an *update rule* plus the *sampling mode* that feeds it
gradients. It keeps no state of its own during a fit: ``init`` builds a small
state object and ``update`` hands a new one back (the optax convention).

A user-written optimizer needs only this::

    class MyRule(Optimizer):
        def __init__(self, sampling="batch", batch_size=None, my_knob=1.0):
            ...  # store arguments only

        def init(self, params):
            return ()                                  # any state object

        def update(self, grad, state, params, step_size):
            return -step_size * grad, state            # (updates, new state)

``params`` and ``grad`` are arrays of shape ``(n_features + 1, n_targets)``;
the last row is the intercept. The loop adds ``updates`` to ``params``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods

__all__ = ["SAMPLINGS", "Optimizer"]

SAMPLINGS = ("batch", "stochastic", "minibatch")


class Optimizer(BaseEstimator):
    """Base class: stores the sampling mode and defines the protocol.

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed: from all samples, from one sample, or
        from ``batch_size`` samples.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.

    Notes
    -----
    Subclasses implement :meth:`init` and :meth:`update`. They may also
    override :meth:`auto_step_size` (what ``learning_rate="auto"`` means for
    the rule), :meth:`stable_step_size` (used in the divergence message),
    :meth:`output` (the parameters to report, e.g. an average),
    :meth:`compiled_epoch` (a compiled epoch for the stochastic modes) and
    :meth:`compiled_full_batch` (compiled full-batch epochs on ``X^T X``).
    """

    #: Whether the loop hands each epoch the full gradient at its start (:meth:`anchor`).
    uses_full_gradient = False

    def __init__(self, sampling: str = "batch", batch_size: int | None = None):
        self.sampling = sampling
        self.batch_size = batch_size

    def anchor(self, state: Any, params: np.ndarray, full_grad: np.ndarray) -> Any:
        """Take the full gradient at the start of an epoch (``uses_full_gradient`` rules)."""
        return state

    def init(self, params: np.ndarray) -> Any:
        """Return the initial optimizer state for ``params``."""
        raise NotImplementedError

    def update(
        self, grad: np.ndarray, state: Any, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, Any]:
        """Return ``(updates, new_state)``; the loop applies ``params + updates``."""
        raise NotImplementedError

    def auto_step_size(self, smoothness: float) -> float:
        """Initial step for ``learning_rate="auto"`` given the smoothness ``L``."""
        return 1.0 / smoothness

    def stable_step_size(self, smoothness: float) -> float:
        """Largest constant step that keeps the rule stable on a quadratic of curvature L."""
        return 2.0 / smoothness

    def output(self, params: np.ndarray, state: Any) -> np.ndarray:
        """The parameters to report after an epoch (the iterate itself by default)."""
        return params

    def compiled_epoch(self, data, params, state, order, steps, batch_size):
        """Run one stochastic/mini-batch epoch in compiled code, or return None.

        Returning ``None`` makes the loop use the readable NumPy path.
        """
        return None

    def compiled_full_batch(self, objective, params, state, steps, *, certificate, tol, limit):
        """Run full-batch epochs on sufficient statistics in compiled code, or return None.

        ``objective`` is a :class:`gdreg._objective.GramLeastSquares`; one
        epoch per entry of ``steps``, stopping early on the loop's stopping
        rule or divergence test (see :func:`gdreg._kernels.gram_descent`,
        whose ``(epochs, status, losses, changes)`` this returns).
        Returning ``None`` makes the loop run the epochs in Python.
        """
        return None


class _DuckOptimizer(Optimizer):
    """Adapter giving a duck-typed optimizer (``init``/``update`` only) the hooks."""

    def __init__(self, wrapped):
        self.wrapped = wrapped

    @property
    def sampling(self):
        return getattr(self.wrapped, "sampling", "batch")

    @property
    def batch_size(self):
        return getattr(self.wrapped, "batch_size", None)

    def init(self, params):
        return self.wrapped.init(params)

    def update(self, grad, state, params, step_size):
        return self.wrapped.update(grad, state, params, step_size)

    def __getattribute__(self, name):
        hooks = (
            "uses_full_gradient",
            "anchor",
            "numpy_epoch",
            "auto_step_size",
            "stable_step_size",
            "output",
            "compiled_epoch",
            "compiled_full_batch",
        )
        if name in hooks:
            wrapped = object.__getattribute__(self, "wrapped")
            if hasattr(wrapped, name):
                return getattr(wrapped, name)
        return object.__getattribute__(self, name)


class OptimizerInstance(HasMethods):
    """The ``optimizer`` constraint: an object with ``init`` and ``update``, not a class.

    A class such as ``Adam`` has both methods too (unbound), so ``HasMethods``
    alone lets it through and the fit fails later on a missing argument.
    """

    def __init__(self):
        super().__init__(["init", "update"])

    def is_satisfied_by(self, val):
        return not isinstance(val, type) and super().is_satisfied_by(val)

    def __str__(self):
        return (
            "an optimizer object implementing 'init' and 'update' (an instance such as "
            "Adam(), not the class Adam)"
        )


def as_optimizer(obj) -> Optimizer:
    """Return ``obj`` with every protocol hook available, checking its sampling.

    Examples
    --------
    >>> from gdreg.optimizers import Adam
    >>> as_optimizer(Adam)
    Traceback (most recent call last):
    ...
    TypeError: optimizer=Adam is a class, not an optimizer: pass an instance, Adam().
    """
    if isinstance(obj, type):
        raise TypeError(
            f"optimizer={obj.__name__} is a class, not an optimizer: "
            f"pass an instance, {obj.__name__}()."
        )
    opt = obj if isinstance(obj, Optimizer) else _DuckOptimizer(obj)
    if opt.sampling not in SAMPLINGS:
        raise ValueError(
            f"The optimizer's sampling must be one of {SAMPLINGS}, got {opt.sampling!r}."
        )
    batch_size = opt.batch_size
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"The optimizer's batch_size must be a positive int, got {batch_size!r}.")
    return opt
