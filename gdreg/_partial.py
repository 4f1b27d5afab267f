"""``partial_fit``: one epoch of the configured optimizer per chunk, state kept between calls.

:func:`partial_fit` is a function of plain values: the chunk as a
:class:`~gdreg._problem.Problem`, the parameters as
:class:`~gdreg._problem.Settings`, the stream state of the previous call and
the model the estimator holds (its fitted attributes); it returns the new
fitted attributes and the new stream state, which the estimator sets (inside
its transactional wrapper, so a call that fails leaves it as it was).

What persists between calls, in the :class:`StreamState` and the fitted
attributes:

* the centring offsets, taken from the first chunk and then frozen, so that
  the intercept row ``b'`` of the centred problem is a learned parameter
  (``LeastSquares(learn_intercept=True)``);
* the raw iterate and the optimizer state (momentum, averages, ...);
* the resolved optimizer ``optimizer_`` and schedule ``learning_rate_``
  (``"auto"`` resolved on the first chunk, its step lowered when a later
  chunk shows more curvature), with the update count ``t_`` that positions
  the schedule, and the epoch count ``n_iter_``;
* the smallest chunk objective seen, which anchors the divergence test of
  the whole stream (each call's own test compares only with its own start,
  so a loss growing a few times per call would pass every one of them);
* a summary of the parameters the stream was resolved from, so that
  ``set_params`` between calls takes effect (see ``partial_fit``'s docstring).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from gdreg import _loop, _problem
from gdreg._objective import LeastSquares
from gdreg._problem import Fitted, Problem, Settings

__all__ = ["STREAM_DIVERGENCE_FACTOR", "PartialStep", "StreamState", "partial_fit"]

#: A call diverged when it raised its chunk's objective above this multiple of the
#: stream's reference: the smallest chunk objective seen so far, or this chunk's
#: objective at zero (the first chunk's mean as the prediction), whichever is larger.
#: A stable step lowers its chunk's objective, so only the margin over the noise of
#: stochastic steps at their floor is needed, not the 1e10 of one fit's own test.
STREAM_DIVERGENCE_FACTOR = 10.0

#: Parameters read when the stream resolves its optimizer and schedule (or its
#: shuffling seed); a change between calls is applied at the next call.
_RESOLVED = ("optimizer", "learning_rate", "eta0", "random_state")


class StreamState(NamedTuple):
    """What one ``partial_fit`` call hands to the next."""

    params: np.ndarray  # raw centred iterate, (n_features + 1, n_targets)
    optimizer_state: Any
    x_offset: np.ndarray  # frozen at the first chunk
    y_offset: np.ndarray
    one_d: bool
    seed: int  # shuffling of call k uses RandomState([seed, k])
    best_loss: float | None = None  # smallest chunk objective so far (None: no call yet)
    settings: tuple = ()  # ((name, _summary(value)), ...) for _RESOLVED and fit_intercept


class PartialStep(NamedTuple):
    """What one :func:`partial_fit` call returns."""

    fitted: Fitted  # the estimator's attributes after the call (running totals)
    stream: StreamState  # handed to the next call


def partial_fit(
    problem: Problem, settings: Settings, *, stream: StreamState | None, model: Fitted | None
) -> PartialStep:
    """Run one epoch of the configured optimizer on one chunk (see ``partial_fit``'s docstring).

    ``stream`` is the state the previous call returned (None: a new stream);
    ``model`` the estimator's fitted attributes (None: not fitted), from
    which a new stream continues and onto which the counters and curves add.
    """
    if stream is None:
        stream, optimizer = _start(problem, settings, model)
        resolve = True
    else:
        _check_targets(problem.Y.shape[1], stream.params.shape[1])
        stream, optimizer, resolve = _follow_settings(settings, stream, model.optimizer_)
    # The iterate keeps the dtype of the first chunk (read off the iterate itself, so the
    # stream state holds only arrays and gdreg types: skops trusts nothing else).
    dtype = stream.params.dtype
    X = problem.X.astype(dtype, copy=False)
    Y = problem.Y.astype(dtype, copy=False)
    weights = None if problem.weights is None else problem.weights.astype(dtype, copy=False)
    l2, l1 = settings.penalties
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=l2,
        x_offset=stream.x_offset,
        y_offset=stream.y_offset,
        learn_intercept=settings.fit_intercept,
        loss=settings.loss_object(),
        l1=l1,
    )
    _problem.check_penalty(optimizer, objective)
    batch_size = optimizer.batch_size or settings.batch_size
    n_updates = _loop.updates_per_epoch(X.shape[0], optimizer.sampling, batch_size)
    previous = None if resolve else model.learning_rate_
    schedule, watch = _schedule_for_chunk(
        settings, previous, objective, optimizer, batch_size, n_updates
    )
    done = 0 if model is None else model.n_iter_
    t0 = 0 if model is None else model.t_

    def epoch(schedule):
        raw = []  # the epoch's final raw iterate (``result.params`` is optimizer.output)
        result = _loop.run(
            objective,
            optimizer,
            schedule,
            params0=stream.params,
            max_iter=1,
            tol=None,
            batch_size=batch_size,
            shuffle=settings.shuffle,
            rng=np.random.RandomState([stream.seed, done]),
            # A copy: compiled epochs may update the state in place, and a failed
            # call must leave the previous state intact.
            state=copy.deepcopy(stream.optimizer_state),
            t0=t0,
            record_path=settings.record_path,
            verbose=settings.verbose,
            epoch_callback=lambda epoch, info: raw.append(info["params"].copy()),
            scale_short_batch=settings.auto,
        )
        values.finished(result, raw[-1])
        return result

    values = _ChunkValues(objective, stream.params, optimizer.sampling)
    failure = None
    try:
        result = epoch(schedule)
        rerun = watch and _rose(values, n_updates)
    except _loop.DivergenceError as error:  # the call's own divergence test
        if not watch:
            raise
        failure, rerun = error, True
    if rerun:
        # L costs far more than an epoch: it is computed only for a chunk on which the
        # step did not behave as a stable one does, and the epoch run again if it lowers it
        lowered = _lowered_for(schedule, objective, optimizer, batch_size)
        if lowered is not schedule:
            schedule = lowered
            result = epoch(schedule)
        elif failure is not None:
            raise failure  # the step was not the cause
    _check_stream_divergence(optimizer, stream, values, n_updates, done + 1)
    loss = float(result.loss_curve[-1])
    fitted = _problem.fitted_attributes(
        objective, optimizer, schedule, result, stream.one_d, dtype, settings
    )
    best = loss if stream.best_loss is None else min(stream.best_loss, loss)
    stream = stream._replace(params=values.last, optimizer_state=result.state, best_loss=best)
    return PartialStep(_accumulate(fitted, model, settings.tol), stream)


def _start(problem: Problem, settings: Settings, model: Fitted | None):
    """First call of a stream: offsets, optimizer and seed (the schedule follows the chunk)."""
    problem = _problem.centred(problem, settings.fit_intercept)
    x_offset, y_offset = problem.x_offset, problem.y_offset
    dtype = problem.X.dtype
    d, k = problem.X.shape[1], problem.Y.shape[1]
    params = np.zeros((d + 1, k), dtype=dtype)
    one_d = problem.one_d
    if model is not None:
        # After fit: continue from the fitted model, like SGDRegressor.partial_fit.
        _check_targets(k, _n_targets(model.coef_))
        params[:d] = _problem.previous_coef(model.coef_, d, k)
        if settings.fit_intercept:
            intercept = np.broadcast_to(np.asarray(model.intercept_, dtype=dtype), (k,))
            params[d] = intercept - y_offset + x_offset @ params[:d]
        one_d = np.ndim(model.coef_) == 1
    optimizer = _problem.resolve_optimizer(settings, stream=True)
    stream = StreamState(
        params=params,
        optimizer_state=optimizer.init(params),
        x_offset=x_offset,
        y_offset=y_offset,
        one_d=one_d,
        seed=_seed(settings.random_state),
        settings=_settings(settings),
    )
    return stream, optimizer


def _schedule_for_chunk(settings, schedule, objective, optimizer, batch_size, n_updates):
    """The schedule of this call, and whether the epoch must be watched for a rise.

    ``schedule`` is the stream's schedule, or None for a new stream or new
    schedule parameters: the schedule is then resolved on this chunk.
    Otherwise the stream's schedule goes on, its ``"auto"`` step lowered to
    this chunk's when one sample makes an update (``L_max`` costs one pass),
    or watched (see :func:`_rose`) when the chunk's ``L`` would be needed.
    """
    resolve = schedule is None
    if resolve:
        schedule = _loop.resolve_schedule(
            settings.learning_rate, settings.eta0, objective, optimizer, batch_size, n_updates
        )
    if not settings.auto:
        return schedule, False
    if _per_sample(objective.n_samples, optimizer, batch_size):
        return _lowered_for(schedule, objective, optimizer, batch_size), False
    return schedule, not resolve  # resolved on this chunk: already its own step


def _follow_settings(settings: Settings, stream: StreamState, optimizer):
    """Apply the parameters set since the last call: ``(stream, optimizer, resolve)``.

    ``optimizer`` is the stream's (``optimizer_``). A new ``optimizer``
    starts from the current model (what ``coef_`` and ``intercept_`` report)
    with a fresh state; a new ``optimizer``, ``learning_rate`` or ``eta0``
    has the schedule resolved again on this chunk (``resolve``); a new
    ``random_state`` reseeds the shuffling. A new ``fit_intercept`` raises:
    a stream keeps the form of its model (dropping the intercept would throw
    the learned one away, and the centring of a stream without one was
    chosen for that model).
    """
    now = _settings(settings)
    if not stream.settings:  # a stream saved before settings were recorded
        return stream._replace(settings=now), optimizer, False
    before = dict(stream.settings)
    changed = {name for name, value in now if before.get(name) != value}
    if not changed:
        return stream, optimizer, False
    if "fit_intercept" in changed:
        why = (
            "the learned intercept would be thrown away"
            if not settings.fit_intercept
            else "the stream's centring was chosen for a model without one"
        )
        raise ValueError(
            f"fit_intercept was set to {settings.fit_intercept} during a partial_fit stream "
            f"started with fit_intercept={not settings.fit_intercept}: {why}. Set it back, or "
            "start a new stream: call fit, or partial_fit on sklearn.base.clone(estimator)."
        )
    if "optimizer" in changed:
        current = optimizer.output(stream.params, stream.optimizer_state)
        optimizer = _problem.resolve_optimizer(settings, stream=True)
        params = np.array(current, dtype=stream.params.dtype, copy=True)
        stream = stream._replace(params=params, optimizer_state=optimizer.init(params))
    if "random_state" in changed:
        stream = stream._replace(seed=_seed(settings.random_state))
    resolve = bool(changed & {"optimizer", "learning_rate", "eta0"})
    return stream._replace(settings=now), optimizer, resolve


def _lowered_for(schedule, objective, optimizer, batch_size):
    """The ``"auto"`` schedule, its step lowered to this chunk's ``"auto"`` step if smaller.

    The step of ``"auto"`` is ``1/L`` (``1/L(B)`` for the stochastic modes)
    of the chunk it was resolved on; on a chunk with more curvature that step
    is unstable, so the smallest chunk step seen is kept (the step never
    grows). Returns ``schedule`` itself when it is kept.
    """
    step = _chunk_step(objective, optimizer, batch_size)
    if step < schedule.eta0:
        return clone(schedule).set_params(eta0=step)
    return schedule


def _per_sample(n_samples, optimizer, batch_size) -> bool:
    """Whether every update of the epoch uses one sample (its curvature is ``L_max``)."""
    sampling = optimizer.sampling
    return sampling != "batch" and _loop.effective_batch_size(n_samples, sampling, batch_size) == 1


def _chunk_step(objective, optimizer, batch_size) -> float:
    """The ``"auto"`` step of this chunk alone, as :func:`_loop.resolve_schedule` derives it."""
    n = objective.n_samples
    if _per_sample(n, optimizer, batch_size):
        # One sample per update: L_max. (resolve_schedule takes a one-row objective for
        # a full batch, whose L it leaves at zero in this mode: a step of 1.0.)
        smooth = objective.lipschitz_max()
        return optimizer.auto_step_size(smooth) if smooth > 0 else 1.0
    n_updates = _loop.updates_per_epoch(n, optimizer.sampling, batch_size)
    return _loop.resolve_schedule("auto", None, objective, optimizer, batch_size, n_updates).eta0


class _ChunkValues:
    """The chunk's objective at the start of the call, after it, and at zero, each once if asked.

    The value at zero (the first chunk's mean of ``y`` as the prediction) sets
    the scale of the chunk's objective; below a small fraction of it, changes
    are round-off and noise of an exact fit, not a rise.
    """

    def __init__(self, objective, params, sampling):
        self.objective, self.params, self.sampling = objective, params, sampling
        self._start = self._end = self._at_zero = None
        self.result = self.last = None

    def finished(self, result, last) -> None:
        """Record the epoch (a run again replaces the first one)."""
        self.result, self.last, self._end = result, last, None

    def reported(self) -> float:
        """What the loop reports: the end for the full batch, else the epoch's mean batch loss."""
        return float(self.result.loss_curve[-1])

    def start(self) -> float:
        if self._start is None:
            self._start = self._value(self.params)
        return self._start

    def end(self) -> float:
        if self._end is None:
            self._end = self.reported() if self.sampling == "batch" else self._value(self.last)
        return self._end

    def at_zero(self) -> float:
        if self._at_zero is None:
            with np.errstate(over="ignore", invalid="ignore"):
                self._at_zero = float(self.objective.value_at_zero())
        return self._at_zero

    def _value(self, params) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            return float(self.objective.value(params))


#: The stochastic modes report the mean loss of the epoch's batches, each before its
#: update: noisy, so it must exceed the start by this factor to count as a rise.
_STOCHASTIC_RISE = 2.0


def _rose(values, n_updates) -> bool:
    """Whether the epoch raised its chunk's objective, as no stable step does.

    A full-batch step of at most ``2/L`` never raises the objective of its
    chunk (beyond round-off). The stochastic modes report the mean loss of
    the epoch's batches before their updates, which a stable decaying step
    keeps near the start; with one update that mean *is* the start, so the
    objective after the update is computed instead (a chunk of at most
    ``batch_size`` rows: cheap).
    """
    precision = float(np.sqrt(np.finfo(values.last.dtype).eps))
    floor = precision * values.at_zero() + np.finfo(float).tiny
    if values.sampling == "batch" or n_updates == 1:
        return not values.end() <= (1.0 + precision) * values.start() + floor
    return not values.reported() <= _STOCHASTIC_RISE * values.start() + floor


def _check_stream_divergence(optimizer, stream, values, n_updates, call) -> None:
    """Raise when this call made its chunk's objective far worse than the stream has been.

    The reference is fixed by the stream, not by the call, so growth by a
    few times per call is caught (each call's own test in the loop compares
    only with its own start); and a call is blamed only if it raised the
    objective of its own chunk, which a stable step does not: a chunk unlike
    the earlier ones may start far above the reference, and a stable step
    brings it down.
    """
    reference = max(values.at_zero(), 0.0 if stream.best_loss is None else stream.best_loss)
    limit = STREAM_DIVERGENCE_FACTOR * reference + np.finfo(float).tiny
    # screen with what the loop reports (free), unless it is the start itself
    screen = values.end() if n_updates == 1 else values.reported()
    if not screen > limit:
        return
    end = values.end()
    if end > limit and end > values.start():
        raise _loop.DivergenceError(
            f"partial_fit diverged at call {call} of this stream: it raised its chunk's "
            f"objective from {values.start():.3g} to {end:.3g}, more than "
            f"{STREAM_DIVERGENCE_FACTOR:g} times the stream's reference {reference:.3g} (the "
            "smallest objective seen, or the chunk's objective at zero): the learning rate is "
            f"too large. {_loop.stable_step_message(values.objective, optimizer)}. The "
            "estimator keeps its state from before this call: set a smaller eta0 (set_params "
            "applies at the next call), use learning_rate='auto', or start a new stream with "
            "fit or a clone.",
            epoch=call,
        )


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _settings(settings: Settings) -> tuple:
    """``((name, summary), ...)`` of the parameters a stream is resolved from."""
    names = (*_RESOLVED, "fit_intercept")
    return tuple((name, _summary(getattr(settings, name))) for name in names)


def _summary(value):
    """A comparable, picklable stand-in for a parameter value.

    Numbers and strings stand for themselves; an object with ``get_params``
    (optimizers, schedules) is summarised by its type and nested parameters,
    so ``set_params(optimizer__momentum=...)`` counts as a change and a
    pickled or cloned twin does not; a function by its qualified name; a
    random generator by its kind (drawing from it changes it, not the setting).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return ("random generator", type(value).__name__)
    if isinstance(value, type) or inspect.isroutine(value):
        return ("callable", getattr(value, "__module__", ""), getattr(value, "__qualname__", ""))
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    get_params = getattr(value, "get_params", None)
    if callable(get_params):
        items = get_params(deep=False).items()
    elif hasattr(value, "__dict__"):
        items = vars(value).items()
    else:
        return (kind, repr(value))
    return (kind, tuple((name, _summary(item)) for name, item in sorted(items)))


def _accumulate(fitted: Fitted, model: Fitted | None, tol) -> Fitted:
    """Turn the attributes of this call's single epoch into running totals after ``model``."""
    fitted = fitted._replace(converged_=bool(tol is not None and fitted.change_curve_[-1] < tol))
    if model is None:
        return fitted
    totals = {"n_iter_": model.n_iter_ + fitted.n_iter_, "t_": model.t_ + fitted.t_}
    for name in ("loss_curve_", "change_curve_"):
        if getattr(model, name) is not None:
            totals[name] = np.concatenate([getattr(model, name), getattr(fitted, name)])
    old_coef, old_intercept = model.coef_path_, model.intercept_path_
    new_coef = fitted.coef_path_
    if new_coef is not None and old_coef is not None and old_coef.shape[1:] == new_coef.shape[1:]:
        # The new path starts where the old one ended: keep that point once.
        totals["coef_path_"] = np.concatenate([old_coef, new_coef[1:]])
        totals["intercept_path_"] = np.concatenate([old_intercept, fitted.intercept_path_[1:]])
    return fitted._replace(**totals)


def _n_targets(coef) -> int:
    return 1 if np.ndim(coef) == 1 else np.shape(coef)[0]


def _check_targets(got: int, expected: int) -> None:
    if got != expected:
        raise ValueError(
            f"y has {got} targets, but partial_fit was started with {expected}; "
            "every chunk must have the same targets."
        )
