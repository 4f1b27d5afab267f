r"""The one loop: sampling x update rule x schedule, stopping and history.

:func:`run` is a plain function of an objective, an optimizer and a schedule;
it is tested on its own, without the estimator.

Stopping rule
-------------
After every epoch the loop evaluates the full gradient at the reported
parameters (free for the full batch, one extra pass over the data for the
stochastic modes) and turns it into :math:`\beta`, a scale-free bound on the
distance to the exact solution (:mod:`gdreg._accuracy`):

.. math:: \frac{\lVert u - u^\star \rVert_2}{\sigma_y} \le
          \beta = \frac{\lVert \nabla_u J \rVert_2}{\mu\, \sigma_y}

in standardised coordinates :math:`u_j = \sigma_j w_j`. The run stops, and
``converged`` is True, at the first epoch with :math:`\beta \le` ``tol``.
The bound holds whatever the optimizer, the schedule or the units of the
features, so a stalled or slow run cannot look converged. For data in a
precision below float64 the run also stops once the bound is below what that
precision can certify (:func:`gdreg._accuracy.precision_floor`), without
claiming convergence when that floor is above ``tol``.

Divergence
----------
A run diverged when the objective or the parameters stop being finite, or
the objective grows past ``1e10`` times its reference (the larger of its value
at the start and at zero, :meth:`LeastSquares.value_at_zero`, which the loss
computes). :func:`verdict` is that rule and the stopping rule, written once;
:class:`DivergenceError` is what a diverged run raises.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from gdreg import _accuracy, _kernels
from gdreg._loss import compiled_kind, is_squared
from gdreg._objective import GramLeastSquares
from gdreg._penalty import min_norm_subgradient
from gdreg.schedules import Constant, InverseSqrt, as_schedule, steps_for

#: A run whose objective grows past this multiple of its reference value diverged.
_DIVERGENCE_FACTOR = 1e10

#: What :func:`verdict` says of an epoch: the status codes of the compiled Gram loop.
RUNNING, CONVERGED, DIVERGED = _kernels.RUNNING, _kernels.CONVERGED, _kernels.DIVERGED


class DivergenceError(ValueError):
    """The iterates of a fit diverged: the step size is too large for the data.

    A ``ValueError``, as before it had a type of its own, so ``except
    ValueError`` still catches it.

    Parameters
    ----------
    message : str
        What diverged, and the largest stable step for the data.
    epoch : int or None, default=None
        The epoch at which the divergence was detected.

    Attributes
    ----------
    epoch : int or None
        The epoch (of the fit, or of the ``partial_fit`` call) at which the
        divergence was detected.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg import DivergenceError, GradientDescentRegressor
    >>> X = np.arange(10.0).reshape(-1, 1); y = X.ravel()
    >>> try:
    ...     GradientDescentRegressor(learning_rate="constant", eta0=100.0).fit(X, y)
    ... except DivergenceError as error:
    ...     print(isinstance(error, ValueError), error.epoch)
    True 2
    """

    def __init__(self, message: str, *, epoch: int | None = None):
        super().__init__(message)
        self.epoch = epoch

    def __reduce__(self):
        return type(self), (str(self),), {"epoch": self.epoch}


def divergence_limit(reference: float) -> float:
    """The objective above which a run whose reference value is ``reference`` diverged."""
    return _DIVERGENCE_FACTOR * reference + np.finfo(float).tiny


def verdict(value: float, parameters, limit: float, bound: float, threshold) -> int:
    """The loop's rule after one epoch: ``DIVERGED``, ``CONVERGED`` or ``RUNNING``.

    Parameters
    ----------
    value : float
        The objective after the epoch (at the iterate).
    parameters : sequence of ndarray
        The parameters after the epoch (coefficients, intercept); all must be finite.
    limit : float
        :func:`divergence_limit` of the run's reference value.
    bound : float
        The error bound of the reported parameters (NaN when not evaluated).
    threshold : float or None
        The bound at or below which the run stops; None never stops.

    Returns
    -------
    int
        ``DIVERGED`` (non-finite, or ``value > limit``), else ``CONVERGED``
        when ``bound <= threshold``, else ``RUNNING``. The compiled Gram loop
        (:func:`gdreg._kernels.gram_descent`) inlines the same rule; the
        tests hold the two equal.

    Examples
    --------
    >>> import numpy as np
    >>> verdict(1.0, [np.ones(2)], 10.0, 1e-3, 1e-2) == CONVERGED
    True
    >>> verdict(np.inf, [np.ones(2)], 10.0, 1e-3, 1e-2) == DIVERGED
    True
    """
    if not (np.isfinite(value) and value <= limit):
        return DIVERGED
    if not all(np.all(np.isfinite(p)) for p in parameters):
        return DIVERGED
    if threshold is not None and bound <= threshold:
        return CONVERGED
    return RUNNING


class _NumpyOnly:
    """An optimizer seen without its compiled hooks.

    The compiled epochs compute the built-in losses only
    (:func:`gdreg._loss.compiled_kind`); an objective with a loss defined
    elsewhere must run every update through ``optimizer.update`` (or the
    rule's own ``numpy_epoch``), which use the objective's gradient.
    """

    def __init__(self, optimizer):
        self._optimizer = optimizer

    def __getattr__(self, name):
        return getattr(self._optimizer, name)

    def compiled_epoch(self, *args, **kwargs):
        return None

    def compiled_full_batch(self, *args, **kwargs):
        return None


class LoopResult(NamedTuple):
    """What :func:`run` hands back (``params`` in centred coordinates)."""

    params: np.ndarray
    state: Any
    n_iter: int
    n_updates: int
    converged: bool
    loss_curve: np.ndarray
    change_curve: np.ndarray
    coef_path: list | None
    intercept_path: list | None
    #: The run stopped where reduced precision cannot certify less (bound above tol).
    precision_limited: bool = False
    #: The schedule of the last stage, where a fit ran several (the continuation).
    schedule: Any = None
    #: The epoch callback asked the run to stop.
    stopped: bool = False


def updates_per_epoch(n_samples: int, sampling: str, batch_size: int) -> int:
    """1 for ``"batch"``, ``n`` for ``"stochastic"``, ``ceil(n / B)`` for ``"minibatch"``."""
    if sampling == "batch":
        return 1
    return math.ceil(n_samples / effective_batch_size(n_samples, sampling, batch_size))


def effective_batch_size(n_samples: int, sampling: str, batch_size: int) -> int:
    if sampling == "batch":
        return n_samples
    if sampling == "stochastic":
        return 1
    return max(1, min(int(batch_size), n_samples))


def expected_smoothness(lipschitz: float, lipschitz_max: float, n: int, batch: int) -> float:
    """Smoothness constant of a mini-batch of ``batch`` out of ``n`` samples.

    ``L(B) = n (B - 1) / (B (n - 1)) L + (n - B) / (B (n - 1)) L_max``
    (Gower et al., 2019, "SGD: general analysis and improved rates"): it is
    ``L_max`` for one sample and ``L`` for the full batch.
    """
    if n <= 1 or batch >= n:
        return lipschitz
    return (
        n * (batch - 1) / (batch * (n - 1)) * lipschitz
        + (n - batch) / (batch * (n - 1)) * lipschitz_max
    )


def resolve_schedule(learning_rate, eta0, objective, optimizer, batch_size, n_updates_epoch):
    """The schedule a fit uses; ``"auto"`` is derived from the data.

    * ``"batch"``: ``Constant(1 / L)``, ``L`` the largest eigenvalue of the
      Hessian of J (the optimizer may scale it, see ``auto_step_size``).
    * ``"stochastic"`` / ``"minibatch"``: ``InverseSqrt(1 / L(B), t0=T)``
      with ``L(B)`` the expected smoothness of a batch (``L_max``, the
      largest per-sample curvature, for one sample) and ``T`` the updates in
      one epoch: a safe first step that decays as ``1/sqrt(epoch)``, so the
      iterates converge to the optimum instead of hovering around it.
      Variance-reduced rules keep the constant ``auto_step_size(L(B))``.

    ``L_max`` is always exact (one pass over X). ``L`` is the objective's
    own: exact when a certificate has computed the spectrum (``tol`` set) or
    the objective forms it; for a stochastic fit without ``tol`` the
    estimator records a sampled estimate with a safety factor
    (:func:`gdreg._accuracy.sampled_lipschitz`), which costs a small fraction
    of an epoch where the exact ``L`` costs a Gram pass (``n d^2``). Either
    is capped by ``L_max``, an exact upper bound of ``L``: the step is never
    below ``auto_step_size(L_max)``, and an estimate too low for the data is
    caught by the loop's divergence test.
    """
    if not (isinstance(learning_rate, str) and learning_rate == "auto"):
        return as_schedule(learning_rate, eta0)
    sampling = optimizer.sampling
    if sampling == "batch":
        smooth = objective.lipschitz()
    else:
        batch = effective_batch_size(objective.n_samples, sampling, batch_size)
        largest = objective.lipschitz_max()
        smooth = expected_smoothness(
            min(objective.lipschitz(), largest) if batch > 1 else 0.0,
            largest,
            objective.n_samples,
            batch,
        )
    # A zero curvature means a zero gradient everywhere: any step is exact.
    step = optimizer.auto_step_size(smooth) if smooth > 0 else 1.0
    if not getattr(getattr(objective, "loss", None), "smooth", True):
        # a subgradient method: the derivative of the loss is at most 1, so the step
        # carries the units of y (its spread), and decays as 1/sqrt(epochs) at any sampling
        spread = float(np.sqrt(np.max(objective_yty(objective), initial=0.0)))
        return InverseSqrt(step * (spread if spread > 0 else 1.0), t0=float(n_updates_epoch))
    if sampling == "batch" or optimizer.uses_full_gradient:
        # variance reduction removes the gradient noise: no decay needed
        return Constant(step)
    return InverseSqrt(step, t0=float(n_updates_epoch))


def stable_step_message(objective, optimizer) -> str:
    """The largest stable constant step for this data, for the divergence error."""
    if optimizer.sampling == "batch":
        smooth, what = objective.lipschitz(), "L, the largest eigenvalue of the loss Hessian"
    else:
        smooth, what = objective.lipschitz_max(), "L, the largest per-sample curvature"
    if smooth <= 0:
        return "the objective is flat, so any step is stable"
    stable = optimizer.stable_step_size(smooth)
    return (
        f"the largest stable step size for this data is {stable:.4g} (from {what} = {smooth:.4g})"
    )


def user_parameters(objective, params):
    """``(coef, intercept)`` of shape ``(d, k)`` and ``(k,)`` from centred ``params``."""
    d = objective.n_features
    coef = np.array(objective.coef(params), copy=True)
    return coef, objective.y_offset - objective.x_offset @ coef + params[d]


def run(
    objective,
    optimizer,
    schedule,
    *,
    params0: np.ndarray,
    max_iter: int,
    tol: float | None,
    batch_size: int = 32,
    shuffle: bool = True,
    rng: np.random.RandomState | None = None,
    state=None,
    t0: int = 0,
    record_path: bool = False,
    verbose: int = 0,
    epoch_callback=None,
    certificate=None,
    n_iter_no_change: int = 5,
    scale_short_batch: bool = False,
) -> LoopResult:
    """Run epochs until the stopping rule holds or ``max_iter`` epochs are done.

    Parameters
    ----------
    objective : LeastSquares
        The objective (see :mod:`gdreg._objective`), in the coordinates the
        optimizer works in (standardised when ``objective.column_scale`` is set).
    optimizer : Optimizer
        Update rule and sampling mode.
    schedule : callable
        Step size as a function of the update count (already resolved).
    params0 : ndarray of shape (n_features + 1, n_targets)
        Starting point in the objective's centred coordinates; not modified.
    max_iter : int
        Largest number of epochs.
    tol : float or None
        Tolerance of the stopping rule (module docstring); ``None`` runs
        ``max_iter`` epochs and evaluates no bound.
    batch_size : int
        Samples per update for ``"minibatch"``.
    shuffle : bool
        Visit samples in a fresh random order every epoch.
    rng : RandomState
        Source of the shuffling.
    state : object or None
        Optimizer state to continue from; ``None`` calls ``optimizer.init``.
    t0 : int
        Updates already made (the schedule continues from ``t0 + 1``).
    record_path : bool
        Keep the user's parameters at the start and after every epoch.
    verbose : int
        Print one line per epoch when > 0.
    epoch_callback : callable or None
        ``epoch_callback(epoch, info) -> bool``, called after each epoch;
        returning True stops the run. ``info`` holds ``params`` (centred),
        ``coef`` and ``intercept`` (the user's, after ``optimizer.output``),
        ``loss``, ``change`` (the stopping quantity) and ``t``.
    certificate : Certificate or None
        The pieces of the error bound (:func:`gdreg._accuracy.certificate`);
        computed here when ``tol`` is set and none is given.
    scale_short_batch : bool
        Mini-batches: scale the step of an epoch's last, shorter batch of
        ``b < B`` samples by ``b / B``, so that its samples move the
        parameters as much as any other batch's (its gradient summed over its
        samples and divided by ``B``). The ``"auto"`` step is that of a batch
        of ``B``; a batch of a few samples is far noisier, and at that step
        could make the iterates diverge.
    n_iter_no_change : int
        For a loss that is not smooth (no error bound): the run stops once the
        objective has not improved by ``tol`` times its value at zero for this
        many epochs in a row.

    Returns
    -------
    LoopResult

    Raises
    ------
    DivergenceError
        If the iterates diverge (non-finite, or the objective grows by a
        factor of 1e10, see :func:`verdict`); the message gives the largest
        stable step.
    """
    loss = getattr(objective, "loss", None)
    compiled = compiled_kind(loss) is not None
    if not compiled:
        # the one place a fast path is refused for a loss the kernels do not compute
        optimizer = _NumpyOnly(optimizer)
    # a loss with kinks has no error bound: the run stops when the objective stalls
    stall = None if getattr(loss, "smooth", True) or tol is None else _Stall(n_iter_no_change, tol)
    sampling = optimizer.sampling
    n = objective.n_samples
    batch = effective_batch_size(n, sampling, batch_size)
    n_updates = updates_per_epoch(n, sampling, batch_size)
    last_fraction = 1.0
    if scale_short_batch and sampling == "minibatch" and n % batch:
        last_fraction = (n % batch) / batch
    params = np.array(params0, dtype=params0.dtype, order="C", copy=True)
    if state is None:
        state = optimizer.init(params)
    judge = None if stall is not None else _Judge.build(objective, tol, certificate, params.dtype)
    anchored = optimizer.uses_full_gradient

    def report(p, s):
        return user_parameters(objective, optimizer.output(p, s))

    if _compiled_gram_applies(objective, record_path, verbose, epoch_callback, judge):
        # first, before the starting point's report and gradient that only the loop
        # below reads: the compiled loop needs J(params0), for its divergence reference
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            at_zero = objective.value_at_zero()
            start = objective.value(params) if np.any(params) else at_zero
            done = _run_gram_compiled(
                objective,
                optimizer,
                schedule,
                params,
                state,
                max_iter,
                judge,
                t0,
                max(start, at_zero),
            )
        if done is not None:
            return done

    coef, intercept = report(params, state)
    coef_path = [coef] if record_path else None
    intercept_path = [intercept] if record_path else None
    losses, changes = [], []
    converged = precision_limited = stop_requested = False
    t = t0

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        at_zero = objective.value_at_zero()
        full_grad = None
        if sampling == "batch":
            value, grad = objective.value_and_gradient(params)
        else:
            # the loss gives J(0) without a pass over X: the usual start is from zero
            if not n:
                value = 0.0
            elif not np.any(params):
                value = at_zero
            else:
                value = objective.value(params)
            data = objective.stochastic_data() if compiled else None
        reference = max(value, at_zero)
        limit = divergence_limit(reference)
        epoch = 0
        for epoch in range(1, max_iter + 1):
            steps = EpochSteps(schedule, t + 1, n_updates, params.dtype, last_fraction)
            if sampling == "batch":
                updates, state = optimizer.update(grad, state, params, steps[0])
                params = params + updates
                _prox(objective, params, steps[0])
                value, grad = objective.value_and_gradient(params)
                output = optimizer.output(params, state)
                reported_value, out_grad = value, grad
                if output is not params:
                    # the reported parameters (an average, say) are what the curve and the
                    # bound describe; the iterate's value still guards against divergence
                    reported_value, out_grad = objective.value_and_gradient(output)
            else:
                if anchored:  # None before the first epoch: it runs plain
                    state = optimizer.anchor(state, params, full_grad)
                order = _kernels.shuffled_order(rng, n) if shuffle else np.arange(n)
                order = order.astype(np.int64, copy=False)
                done = _kernels.compiled_epoch(optimizer, data, params, state, order, steps, batch)
                if done is None:
                    state, value = _numpy_epoch(
                        objective, optimizer, params, state, order, steps, batch
                    )
                else:
                    state, value = done
                out_grad = None
                reported_value = value
                # the bound, or the next epoch's anchor, needs the full gradient
                # (an SVRG epoch reports no running loss: its value is the exact one)
                needs_full = judge is not None or stall is not None
                if needs_full or (anchored and (epoch < max_iter or np.isnan(value))):
                    output = optimizer.output(params, state)
                    full_value, out_grad = objective.value_and_gradient(output)
                    reported_full = full_value
                    if anchored:
                        # the anchor of the next epoch; its objective is exact
                        value, full_grad = full_value, out_grad
                        reported_value = value
            t += n_updates

            new_coef, new_intercept = report(params, state)
            if stall is not None:
                full = reported_value if sampling == "batch" else reported_full
                change, stop = stall.step(full, reference)
                threshold = change if stop else None
            elif judge is None:
                change, threshold = math.nan, None
            else:
                output = params if sampling == "batch" else optimizer.output(params, state)
                change = judge.bound(objective, out_grad, output)
                threshold = judge.threshold(new_coef)
            status = verdict(value, (new_coef, new_intercept), limit, change, threshold)
            if status == DIVERGED:
                raise _divergence_error(epoch, objective, optimizer)
            coef, intercept = new_coef, new_intercept
            losses.append(reported_value)
            changes.append(change)
            if record_path:
                coef_path.append(coef)
                intercept_path.append(intercept)
            if verbose:
                print(
                    f"Epoch {epoch}, objective {value:.6g}, error bound {change:.3g}, "
                    f"step {steps.last:.3g}, updates {t}",
                    flush=True,
                )
            # a callback that asks to stop on the epoch that converged does not hide it
            stop_requested = epoch_callback is not None and epoch_callback(
                epoch,
                {
                    "params": params,
                    "coef": coef,
                    "intercept": intercept,
                    "loss": reported_value,
                    "change": change,
                    "t": t,
                },
            )
            if stop_requested and status != CONVERGED:
                break
            if status == CONVERGED:
                if stall is not None:
                    converged = True
                    break
                # a bound that only reached the precision floor stops the run without
                # claiming tol: converged_ always means "at most tol"
                converged = change <= judge.tol
                precision_limited = not converged
                break

    return LoopResult(
        params=optimizer.output(params, state),
        state=state,
        n_iter=epoch,
        n_updates=t - t0,
        converged=converged,
        loss_curve=np.asarray(losses, dtype=np.float64),
        change_curve=np.asarray(changes, dtype=np.float64),
        coef_path=coef_path,
        intercept_path=intercept_path,
        precision_limited=precision_limited,
        stopped=bool(stop_requested),
    )


def _prox(objective, params, step) -> None:
    """The l1 penalty's proximal step after an update (nothing without one)."""
    if getattr(objective, "l1", 0.0):
        objective.prox(params, step)


class _Stall:
    """The stopping rule of a loss with kinks, as ``SGDRegressor`` has it.

    The run stops once the full objective has not fallen below its best
    value so far by ``tol`` times the reference (its value at zero) for
    ``patience`` epochs in a row. :meth:`step` returns the scale-free
    improvement of the epoch (the entry of ``change_curve_``; NaN for the
    first) and whether the run stops.
    """

    def __init__(self, patience: int, tol: float):
        self.patience = int(patience)
        self.tol = float(tol)
        self.best = math.inf
        self.count = 0

    def step(self, value: float, reference: float) -> tuple[float, bool]:
        scale = reference if reference > 0 else 1.0
        improvement = (self.best - value) / scale if math.isfinite(self.best) else math.nan
        if not improvement <= self.tol:  # NaN (the first epoch) counts as progress
            self.count = 0
        else:
            self.count += 1
        self.best = min(self.best, value)
        return improvement, self.count >= self.patience


class _Judge(NamedTuple):
    """The stopping test: the error bound of the reported parameters against ``tol``."""

    tol: float
    certificate: Any
    dtype: Any

    @classmethod
    def build(cls, objective, tol, certificate, dtype):
        if tol is None:
            return None
        if certificate is None:
            certificate = _accuracy.certificate(objective, objective_yty(objective), dtype)
        return cls(float(tol), certificate, np.dtype(dtype))

    def bound(self, objective, grad, params=None) -> float:
        """The bound from a gradient in ``objective``'s coordinates (at ``params``).

        With an l1 penalty the gradient is that of the smooth part, and the
        bound is taken from the subgradient of smallest norm of the whole
        objective at ``params``, which bounds the distance to the minimiser
        in the same way for a strongly convex objective. A learned intercept
        (losses other than the squared error) adds its own gradient, whose
        curvature is at most 1 in units of ``y``.
        """
        d = objective.n_features
        grad_w = grad[:d]
        if getattr(objective, "l1", 0.0) and params is not None:
            grad_w = min_norm_subgradient(grad_w, params[:d], objective.l1_thresholds())
        if objective.column_scale is not None:
            grad_w = grad_w * objective.column_scale[:, None]
        bound = _accuracy.error_bound(self.certificate, grad_w)
        if objective.learn_intercept and not is_squared(objective.loss):
            scale = self.certificate.target_scale
            intercept = np.abs(np.asarray(grad[d], dtype=np.float64)) / scale
            bound = max(bound, float(np.max(intercept, initial=0.0)))
        return bound

    def threshold(self, coef) -> float:
        floor = _accuracy.precision_floor(self.certificate, coef, self.dtype)
        return max(self.tol, floor)

    def met(self, bound, coef) -> bool:
        return bound <= self.threshold(coef)


#: Updates whose step sizes are evaluated at once (bounds the schedule's temporaries).
_STEP_CHUNK = 1 << 16


class EpochSteps:
    """The step sizes of one epoch: updates ``t_first .. t_first + count - 1``.

    Array-like (``np.asarray(steps)``, ``len``, indexing), but evaluated only
    when asked: the compiled per-sample kernel computes the built-in
    :class:`~gdreg.schedules.Constant` and :class:`~gdreg.schedules.InverseSqrt`
    steps itself (``rule``), bitwise as the schedule does, which spares an
    n-long array per epoch, a large part of a narrow epoch's time
    (docs/performance.rst, "Why the code is shaped this way").

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.schedules import InverseSqrt
    >>> steps = EpochSteps(InverseSqrt(1.0), 1, 4, np.float64)
    >>> np.asarray(steps), steps.last, steps.rule
    (array([1.        , 0.70710678, 0.57735027, 0.5       ]), 0.5, (2, 1.0, 1.0))
    """

    def __init__(self, schedule, t_first: int, count: int, dtype, last_fraction: float = 1.0):
        self.schedule = schedule
        self.t_first = int(t_first)
        self.count = int(count)
        self.dtype = np.dtype(dtype)
        #: The last update's step is the schedule's times this (a short last batch).
        self.last_fraction = float(last_fraction)
        self._values = None

    @property
    def shape(self) -> tuple[int]:
        return (self.count,)

    def __len__(self) -> int:
        return self.count

    def __array__(self, dtype=None, copy=None):
        if self._values is None:
            self._values = _epoch_steps(self.schedule, self.t_first, self.count, self.dtype)
            if self.last_fraction != 1.0 and self.count:
                self._values[-1] *= self.last_fraction
        return self._values if dtype is None else self._values.astype(dtype, copy=False)

    def __getitem__(self, key):
        return np.asarray(self)[key]

    @property
    def last(self) -> float:
        """The step of the epoch's last update."""
        if self._values is None and self.rule is not None:
            return float(steps_for(self.schedule, self.t_first + self.count - 1, 1, self.dtype)[0])
        return float(np.asarray(self)[-1])

    @property
    def rule(self) -> tuple[int, float, float] | None:
        """``(kind, eta0, t0)`` of a schedule the kernels evaluate, else None.

        ``kind`` 1 is :class:`Constant`, 2 :class:`InverseSqrt` (exact types
        only: a subclass may change ``__call__``). None also when ``eta0`` or
        ``t0`` is not in ``(0, inf)``: the steps are then left to the schedule
        itself, whose parameter check names the bad value, and when the last
        step is scaled (``last_fraction``): the kernels then read the array.
        """
        if self.last_fraction != 1.0:
            return None
        if type(self.schedule) is Constant:
            rule = (1, float(self.schedule.eta0), 1.0)
        elif type(self.schedule) is InverseSqrt:
            rule = (2, float(self.schedule.eta0), float(self.schedule.t0))
        else:
            return None
        return rule if 0 < rule[1] < math.inf and 0 < rule[2] < math.inf else None


def _epoch_steps(schedule, t_first: int, count: int, dtype) -> np.ndarray:
    """``steps_for`` over one epoch, evaluated in chunks.

    A per-sample epoch has ``n`` updates; evaluating a schedule on all of them
    at once holds several float64 temporaries of length ``n`` (the counts, the
    intermediate results), which for narrow data is a sizeable fraction of X.
    """
    if count <= _STEP_CHUNK:
        return steps_for(schedule, t_first, count, dtype=dtype)
    steps = np.empty(count, dtype=dtype)
    for start in range(0, count, _STEP_CHUNK):
        size = min(_STEP_CHUNK, count - start)
        steps[start : start + size] = steps_for(schedule, t_first + start, size, dtype=dtype)
    return steps


def _divergence_error(epoch, objective, optimizer) -> DivergenceError:
    return DivergenceError(
        f"The iterates diverged at epoch {epoch}: the learning rate is too large. "
        f"{stable_step_message(objective, optimizer)}; use learning_rate='auto' "
        "or a smaller eta0.",
        epoch=epoch,
    )


#: Epochs handed to the compiled full-batch loop per call (bounds the step array).
_GRAM_EPOCH_CHUNK = 4096


def _compiled_gram_applies(objective, record_path, verbose, epoch_callback, judge) -> bool:
    """Whether full-batch epochs on ``GramLeastSquares`` may run in compiled code.

    Its epochs cost O(d^2), so Python's per-epoch overhead would dominate; the
    optimizer's ``compiled_full_batch`` hook (plain and accelerated gradient
    descent have one, in any coordinates, with an l1 penalty's proximal step
    too: ISTA and FISTA) makes the same updates and applies the same
    stopping and divergence rules. Anything that needs to look at
    every epoch (paths, printing, callbacks), or data below float64 (whose
    stopping threshold moves with the iterate) keeps the generic loop.

    The Python loop costs the same ~25 us an epoch whatever the size of X,
    so the compiled one is worth it at any size once nothing has to be
    compiled for it (:func:`gdreg._kernels._gram.code_ready`: its code is in
    the process or in the disk cache, a load of a few tens of ms of CPU once
    per process); before that it waits, like every compiled path, for
    ``COMPILED_MIN_SIZE`` entries of X, so small fits never compile it.
    """
    if not isinstance(objective, GramLeastSquares):
        return False
    entries = objective.n_samples * objective.n_features
    if _kernels._gram.code_ready(objective.x_offset.dtype):
        entries *= _kernels._gram.READY_SCALE
    return (
        is_squared(objective.loss)
        and _kernels.worth_compiling(entries)
        and not objective.learn_intercept
        and (judge is None or judge.dtype == np.float64)
        and not record_path
        and not verbose
        and epoch_callback is None
    )


def _run_gram_compiled(
    objective, optimizer, schedule, params, state, max_iter, judge, t0, reference
):
    """The batch branch of :func:`run` for :func:`_compiled_gram_applies` cases.

    Returns None when the optimizer has no compiled full-batch loop. The
    kernel stops at the first epoch its inlined copy of :func:`verdict`
    stops at; the epoch it stopped at is then judged here by :func:`verdict`
    itself, so the rule that decides the outcome is the one written above.
    A hook whose rule has a state returns the new state after the curves.
    """
    limit = divergence_limit(reference)
    losses, changes = [], []
    t, status, epoch = t0, _kernels.RUNNING, 0
    while epoch < max_iter and status == _kernels.RUNNING:
        # chunks that double from 256 epochs: most fits stop within the first, whose
        # steps and curves then cost a few microseconds rather than 4,096 epochs' worth
        count = min(_GRAM_EPOCH_CHUNK, max_iter - epoch, max(256, epoch))
        steps = steps_for(schedule, t + 1, count, dtype=params.dtype)
        ran = optimizer.compiled_full_batch(
            objective,
            params,
            state,
            steps,
            certificate=None if judge is None else judge.certificate,
            tol=None if judge is None else judge.tol,
            limit=limit,
        )
        if ran is None:  # no compiled loop for this rule: nothing was changed yet
            return None
        done, status, chunk_losses, chunk_changes = ran[:4]
        if len(ran) > 4:
            state = ran[4]
        losses.append(chunk_losses)
        changes.append(chunk_changes)
        epoch += done
        t += done
    if epoch:
        last_loss, last_change = float(losses[-1][-1]), float(changes[-1][-1])
        threshold = None if judge is None else judge.threshold(objective.coef(params))
        status = verdict(last_loss, (params,), limit, last_change, threshold)
    if status == DIVERGED:
        raise _divergence_error(epoch, objective, optimizer)
    return LoopResult(
        params=optimizer.output(params, state),
        state=state,
        n_iter=epoch,
        n_updates=t - t0,
        converged=status == CONVERGED,
        loss_curve=np.concatenate(losses),
        change_curve=np.concatenate(changes),
        coef_path=None,
        intercept_path=None,
    )


def objective_yty(objective):
    """Weighted sum of squares of the centred targets, per target (their spread, squared).

    A statistic of the targets that scales the error bound
    (:func:`gdreg._accuracy.certificate`), whatever the loss; the objective
    at zero is the loss's (:meth:`LeastSquares.value_at_zero`).
    """
    if getattr(objective, "yty", None) is not None:
        return objective.yty
    if not objective.n_samples:
        return np.zeros(1)
    yc = objective.Y - objective.y_offset
    np.multiply(yc, yc, out=yc)  # in place: one n-long temporary, not two
    return objective.c @ yc


def _numpy_epoch(objective, optimizer, params, state, order, steps, batch):
    """The readable path: one epoch of batches through ``optimizer.update``.

    ``params`` is updated in place so that both paths share one calling
    convention with the compiled kernels. An optimizer with its own
    ``numpy_epoch`` (one that needs more than the batch gradient) runs it.
    """
    own = getattr(optimizer, "numpy_epoch", None)
    if own is not None:
        return own(objective, params, state, order, steps, batch), math.nan
    n = len(order)
    steps = np.asarray(steps)
    total = 0.0
    for bi, start in enumerate(range(0, n, batch)):
        idx = order[start : start + batch]
        value, grad = objective.batch_value_and_gradient(params, idx)
        updates, state = optimizer.update(grad, state, params, steps[bi])
        params += updates
        _prox(objective, params, steps[bi])
        total += value * len(idx)
    return state, total / n
