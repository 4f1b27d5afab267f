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

from gdreg._repr import ReadableRepr

__all__ = ["SAMPLINGS", "Optimizer"]

SAMPLINGS = ("batch", "stochastic", "minibatch")


class Optimizer(ReadableRepr, BaseEstimator):
    r"""Base class: stores the sampling mode and defines the protocol.

    An optimizer is an update rule (:meth:`init` and :meth:`update`) plus the
    sampling mode that feeds it gradients. It keeps no state of its own
    during a fit: :meth:`init` builds a state object, :meth:`update` hands a
    new one back. The other methods are hooks with working defaults.

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed: from all samples, from one sample, or
        from ``batch_size`` samples.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.

    See Also
    --------
    GradientDescent : The plain rule, and the shorthand optimizers' rule.
    gdreg.GradientDescentRegressor : The estimator that runs optimizers.

    Notes
    -----
    Subclasses implement :meth:`init` and :meth:`update`. They may also
    override :meth:`auto_step_size` (what ``learning_rate="auto"`` means for
    the rule), :meth:`stable_step_size` (used in the divergence message),
    :meth:`output` (the parameters to report, e.g. an average),
    :meth:`compiled_epoch` (a compiled epoch for the stochastic modes) and
    :meth:`compiled_full_batch` (compiled full-batch epochs on ``X^T X``).

    Examples
    --------
    Sign descent, :math:`\theta_t = \theta_{t-1} - \eta_t\, \mathrm{sign}(g_t)`:

    >>> import numpy as np
    >>> from gdreg import GradientDescentRegressor
    >>> from gdreg.optimizers import Optimizer
    >>> class SignDescent(Optimizer):
    ...     def init(self, params):
    ...         return ()  # no state
    ...
    ...     def update(self, grad, state, params, step_size):
    ...         return -step_size * np.sign(grad), state
    >>> X, y = [[2.0], [4.0], [5.0]], [45.0, 85.0, 105.0]
    >>> reg = GradientDescentRegressor(
    ...     optimizer=SignDescent(), learning_rate="invsqrt", eta0=0.5, tol=1e-4
    ... ).fit(X, y)
    >>> reg.converged_, reg.coef_.round(2)
    (True, array([20.]))
    """

    #: Whether the loop hands each epoch the full gradient at its start (:meth:`anchor`).
    uses_full_gradient = False
    #: Whether an l1 penalty may be applied by its proximal step (a soft-threshold
    #: by ``step * l1``) after each update: true where the update is a plain
    #: gradient step from the point it is applied to, so that the fixed point is
    #: the penalised minimiser (gradient descent, FISTA, prox-SVRG). A rule
    #: that rescales or accumulates its gradients (momentum, AdaGrad, Adam)
    #: would converge elsewhere: a fit with ``penalty="l1"`` or
    #: ``"elasticnet"`` refuses it.
    proximal = False

    def __init__(self, sampling: str = "batch", batch_size: int | None = None):
        self.sampling = sampling
        self.batch_size = batch_size

    def anchor(self, state: Any, params: np.ndarray, full_grad: np.ndarray) -> Any:
        """Take the full gradient at the start of an epoch.

        Called only for rules with ``uses_full_gradient = True`` (such as
        :class:`~gdreg.optimizers.SVRG`), before each stochastic or
        mini-batch epoch; the default keeps the state as it is.

        Parameters
        ----------
        state : object
            The state from :meth:`init` or the last :meth:`update`.
        params : ndarray of shape (n_features + 1, n_targets)
            The parameters at the start of the epoch; the last row is the
            intercept.
        full_grad : ndarray of shape (n_features + 1, n_targets)
            The gradient of the full objective at ``params``.

        Returns
        -------
        object
            The state to start the epoch with.
        """
        return state

    def init(self, params: np.ndarray) -> Any:
        """Return the initial optimizer state for ``params``.

        Parameters
        ----------
        params : ndarray of shape (n_features + 1, n_targets)
            The starting parameters; the last row is the intercept.

        Returns
        -------
        object
            Any small object (a NamedTuple of arrays, say) that
            :meth:`update` accepts; ``()`` for a rule without state.
        """
        raise NotImplementedError

    def update(
        self, grad: np.ndarray, state: Any, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, Any]:
        """Return ``(updates, new_state)``; the loop applies ``params + updates``.

        Parameters
        ----------
        grad : ndarray of shape (n_features + 1, n_targets)
            The gradient at ``params`` (full batch, one sample or a
            mini-batch, as ``sampling`` says).
        state : object
            The state from :meth:`init` or the previous call.
        params : ndarray of shape (n_features + 1, n_targets)
            The current parameters; read them, do not modify them.
        step_size : float
            The step of this update, from the schedule.

        Returns
        -------
        updates : ndarray of shape (n_features + 1, n_targets)
            What to add to ``params``.
        new_state : object
            The state for the next call.
        """
        raise NotImplementedError

    def auto_step_size(self, smoothness: float) -> float:
        """Initial step for ``learning_rate="auto"`` given the smoothness ``L``.

        Parameters
        ----------
        smoothness : float
            ``L``: the largest curvature of the standardised objective (full
            batch) or the expected smoothness ``L(B)`` of a batch.

        Returns
        -------
        float
            The step; ``1 / L`` by default.
        """
        return 1.0 / smoothness

    def stable_step_size(self, smoothness: float) -> float:
        """Largest constant step that keeps the rule stable on a quadratic of curvature L.

        Parameters
        ----------
        smoothness : float
            ``L``, the largest curvature of the objective.

        Returns
        -------
        float
            The step the divergence message recommends; ``2 / L`` by default.
        """
        return 2.0 / smoothness

    def output(self, params: np.ndarray, state: Any) -> np.ndarray:
        """The parameters to report after an epoch (the iterate itself by default).

        Parameters
        ----------
        params : ndarray of shape (n_features + 1, n_targets)
            The current iterate.
        state : object
            The current state.

        Returns
        -------
        ndarray of shape (n_features + 1, n_targets)
            What the stopping rule judges and the estimator reports, such as
            :class:`~gdreg.optimizers.AveragedSGD`'s running average.
        """
        return params

    def compiled_epoch(
        self,
        data: Any,
        params: np.ndarray,
        state: Any,
        order: np.ndarray,
        steps: Any,
        batch_size: int,
    ) -> tuple[Any, float] | None:
        """Run one stochastic/mini-batch epoch in compiled code, or return None.

        Returning ``None`` (the default) makes the loop use the readable
        NumPy path, which calls :meth:`update` once per batch.

        Parameters
        ----------
        data : object
            The data as the compiled kernels read them
            (``gdreg._objective.LeastSquares.stochastic_data``).
        params : ndarray of shape (n_features + 1, n_targets)
            The parameters, C-contiguous; updated in place.
        state : object
            The current state.
        order : ndarray of int64 of shape (n_samples,)
            The order in which the epoch visits the samples.
        steps : array-like of shape (n_updates,)
            The step of each update of the epoch.
        batch_size : int
            Samples per update (1 for ``"stochastic"``).

        Returns
        -------
        tuple of (object, float) or None
            The new state and the epoch's mean batch objective (NaN when not
            computed), or ``None`` when the rule has no compiled epoch.
        """
        return None

    def compiled_full_batch(
        self,
        objective: Any,
        params: np.ndarray,
        state: Any,
        steps: np.ndarray,
        *,
        certificate: Any,
        tol: float | None,
        limit: float,
    ) -> tuple[int, int, np.ndarray, np.ndarray] | None:
        """Run full-batch epochs on sufficient statistics in compiled code, or return None.

        One epoch per entry of ``steps``, stopping early on the loop's
        stopping rule or divergence test (see
        ``gdreg._kernels.gram_descent``). Returning ``None`` (the default)
        makes the loop run the epochs in Python.

        An objective with an l1 part (``objective.l1 > 0``, reached only by
        rules with ``proximal = True``) needs its proximal step after every
        update and the bound of the subgradient of smallest norm, as the
        Python loop applies them: a hook that does not implement them must
        return ``None`` for such an objective.

        Parameters
        ----------
        objective : object
            The objective on the Gram matrix,
            ``gdreg._objective.GramLeastSquares``.
        params : ndarray of shape (n_features + 1, n_targets)
            The parameters; updated in place.
        state : object
            The current state.
        steps : ndarray of shape (max_epochs,)
            The step of each epoch.
        certificate : object or None
            The error bound's certificate (``None`` when ``tol=None``).
        tol : float or None
            The stopping tolerance.
        limit : float
            The objective above which the iterates count as diverging.

        Returns
        -------
        tuple of (int, int, ndarray, ndarray) or (..., state) or None
            ``(epochs, status, losses, changes)`` as ``gram_descent`` returns
            them, optionally followed by the rule's new state (a rule whose
            state changes across epochs, such as
            :class:`~gdreg.optimizers.AcceleratedGradient`, returns it), or
            ``None`` when the rule has no compiled full-batch path.
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
            "proximal",
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


def as_optimizer(obj: Any) -> Optimizer:
    """Return ``obj`` with every protocol hook available, checking its sampling.

    Parameters
    ----------
    obj : Optimizer or object
        An :class:`Optimizer`, or any object with ``init`` and ``update``
        methods (and optionally ``sampling``, ``batch_size`` and the hooks).

    Returns
    -------
    Optimizer
        ``obj`` itself if it is an :class:`Optimizer`, otherwise an adapter
        that supplies the default hooks it lacks.

    Raises
    ------
    TypeError
        If ``obj`` is a class rather than an instance.
    ValueError
        If its ``sampling`` or ``batch_size`` is invalid.

    Examples
    --------
    >>> from gdreg.optimizers import Adam
    >>> as_optimizer(Adam(sampling="minibatch"))
    Adam(sampling='minibatch')
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
