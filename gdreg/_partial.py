"""``partial_fit``: one epoch of the configured optimizer per chunk, state kept between calls.

The estimator calls :func:`partial_fit` inside its transactional wrapper, so
a call that fails (bad chunk, divergence) leaves the estimator as it was.

What persists between calls, in the private ``_partial_fit_state`` and the
fitted attributes:

* the centring offsets, taken from the first chunk and then frozen, so that
  the intercept row ``b'`` of the centred problem is a learned parameter
  (``LeastSquares(learn_intercept=True)``);
* the raw iterate and the optimizer state (momentum, averages, ...);
* the resolved optimizer ``optimizer_`` and schedule ``learning_rate_``
  (``"auto"`` resolved on the first chunk), with the update count ``t_``
  that positions the schedule, and the epoch count ``n_iter_``.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils import check_random_state

from gdreg import _loop
from gdreg._objective import LeastSquares

__all__ = ["StreamState", "partial_fit"]


class StreamState(NamedTuple):
    """What one ``partial_fit`` call hands to the next."""

    params: np.ndarray  # raw centred iterate, (n_features + 1, n_targets)
    optimizer_state: Any
    x_offset: np.ndarray  # frozen at the first chunk
    y_offset: np.ndarray
    one_d: bool
    seed: int  # shuffling of call k uses RandomState([seed, k])


def partial_fit(estimator, X, y, sample_weight):
    """Run one epoch of ``estimator``'s optimizer on one chunk (see ``partial_fit``'s docstring)."""
    estimator._validate_params()
    stream = getattr(estimator, "_partial_fit_state", None)
    fitted = hasattr(estimator, "n_features_in_") and hasattr(estimator, "coef_")
    X, Y, weights, one_d = estimator._validate_training_data(X, y, sample_weight, reset=not fitted)
    if stream is None:
        stream = _start(estimator, X, Y, weights, one_d, fitted)
        previous = _counters(estimator) if fitted else None
    else:
        previous = _counters(estimator)
        _check_targets(Y.shape[1], stream.params.shape[1])
    # The iterate keeps the dtype of the first chunk (read off the iterate itself, so the
    # stream state holds only arrays and gdreg types: skops trusts nothing else).
    X = X.astype(stream.params.dtype, copy=False)
    Y = Y.astype(stream.params.dtype, copy=False)
    weights = None if weights is None else weights.astype(stream.params.dtype, copy=False)
    optimizer, schedule = estimator.optimizer_, estimator.learning_rate_

    objective = _chunk_objective(estimator, X, Y, weights, stream)
    done = 0 if previous is None else previous["n_iter_"]
    t0 = 0 if previous is None else previous["t_"]
    raw = []  # the epoch's final raw iterate (``result.params`` is optimizer.output)
    result = _loop.run(
        objective,
        optimizer,
        schedule,
        params0=stream.params,
        max_iter=1,
        tol=None,
        batch_size=optimizer.batch_size or estimator.batch_size,
        shuffle=estimator.shuffle,
        rng=np.random.RandomState([stream.seed, done]),
        # A copy: compiled epochs may update the state in place, and a failed
        # call must leave the previous state intact.
        state=copy.deepcopy(stream.optimizer_state),
        t0=t0,
        record_path=estimator.record_path,
        verbose=estimator.verbose,
        epoch_callback=lambda epoch, info: raw.append(info["params"].copy()),
    )
    estimator._set_fitted(objective, optimizer, schedule, result, stream.one_d, stream.params.dtype)
    _accumulate(estimator, result, previous)
    estimator._partial_fit_state = stream._replace(params=raw[-1], optimizer_state=result.state)
    return estimator


def _start(estimator, X, Y, weights, one_d, fitted) -> StreamState:
    """First call of a stream: offsets, optimizer and schedule from this chunk."""
    dtype = X.dtype
    d, k = X.shape[1], Y.shape[1]
    x_offset, y_offset = estimator._offsets(X, Y, weights)
    params = np.zeros((d + 1, k), dtype=dtype)
    if fitted:
        # After fit: continue from the fitted model, like SGDRegressor.partial_fit.
        _check_targets(k, _n_targets(estimator.coef_))
        params[:d] = estimator._previous_coef(d, k)
        if estimator.fit_intercept:
            intercept = np.broadcast_to(np.asarray(estimator.intercept_, dtype=dtype), (k,))
            params[d] = intercept - y_offset + x_offset @ params[:d]
        one_d = np.ndim(estimator.coef_) == 1
    optimizer = estimator._resolve_optimizer(stream=True)
    objective = LeastSquares(
        X,
        Y,
        weights,
        alpha=estimator.alpha,
        x_offset=x_offset,
        y_offset=y_offset,
        learn_intercept=estimator.fit_intercept,
    )
    batch_size = optimizer.batch_size or estimator.batch_size
    n_updates = _loop.updates_per_epoch(X.shape[0], optimizer.sampling, batch_size)
    estimator.optimizer_ = optimizer
    estimator.learning_rate_ = _loop.resolve_schedule(
        estimator.learning_rate, estimator.eta0, objective, optimizer, batch_size, n_updates
    )
    seed = int(check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max))
    return StreamState(
        params=params,
        optimizer_state=optimizer.init(params),
        x_offset=x_offset,
        y_offset=y_offset,
        one_d=one_d,
        seed=seed,
    )


def _chunk_objective(estimator, X, Y, weights, stream) -> LeastSquares:
    return LeastSquares(
        X,
        Y,
        weights,
        alpha=estimator.alpha,
        x_offset=stream.x_offset,
        y_offset=stream.y_offset,
        learn_intercept=estimator.fit_intercept,
    )


def _counters(estimator) -> dict:
    """The cumulative attributes a call extends rather than replaces."""
    names = ("n_iter_", "t_", "loss_curve_", "change_curve_", "coef_path_", "intercept_path_")
    return {name: getattr(estimator, name) for name in names if hasattr(estimator, name)}


def _accumulate(estimator, result, previous) -> None:
    """Turn the attributes of this call's single epoch into running totals."""
    tol = estimator.tol
    estimator.converged_ = bool(tol is not None and result.change_curve[-1] < tol)
    if previous is None:
        return
    estimator.n_iter_ = previous["n_iter_"] + int(result.n_iter)
    estimator.t_ = previous["t_"] + int(result.n_updates)
    for name in ("loss_curve_", "change_curve_"):
        if name in previous:
            setattr(estimator, name, np.concatenate([previous[name], getattr(estimator, name)]))
    if estimator.record_path and "coef_path_" in previous:
        old_coef, old_intercept = previous["coef_path_"], previous["intercept_path_"]
        if old_coef.shape[1:] == estimator.coef_path_.shape[1:]:
            # The new path starts where the old one ended: keep that point once.
            estimator.coef_path_ = np.concatenate([old_coef, estimator.coef_path_[1:]])
            estimator.intercept_path_ = np.concatenate(
                [old_intercept, estimator.intercept_path_[1:]]
            )


def _n_targets(coef) -> int:
    return 1 if np.ndim(coef) == 1 else np.shape(coef)[0]


def _check_targets(got: int, expected: int) -> None:
    if got != expected:
        raise ValueError(
            f"y has {got} targets, but partial_fit was started with {expected}; "
            "every chunk must have the same targets."
        )
