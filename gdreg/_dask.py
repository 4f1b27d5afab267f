"""Fitting on Dask arrays: sufficient statistics in one distributed pass.

Imported only when :meth:`GradientDescentRegressor.fit` is given a dask
collection (dask is the optional extra ``gdreg[dask]``).

Design
------
Full-batch gradient descent touches the data only through the sufficient
statistics of :mod:`gdreg._stats` (O(d^2) numbers). So the fit is

1. one distributed pass: every row block of ``X`` (with its ``y`` and
   weights) becomes a :class:`~gdreg.SufficientStatistics` *on the worker
   that holds the block*; the blocks' statistics are merged in a tree
   (``split_every`` at a time, Chan's centred update, so the result does not
   depend on the tree) and only the final d x d statistics reach the client;
2. the usual loop on the client, on :class:`GramLeastSquares`, at O(d^2) per
   iteration, after ``fit``'s magnitude checks on the largest entries of all
   the blocks (kept in the statistics). The result equals the in-memory fit
   up to round-off, and bad input gets fit's messages (the exceptions are in
   the "Entry points" table of ``docs/bad_input.rst``).

The stochastic and mini-batch optimizers need the rows themselves at every
update, and so do not reduce to statistics. For them gdreg does not ship its
own block scheduler: ``dask_ml.wrappers.Incremental(GradientDescentRegressor(
optimizer="stochastic"))`` already streams the blocks through
:meth:`~GradientDescentRegressor.partial_fit`, moving the (small) model to the
worker holding each block instead of moving blocks to the client, with block
shuffling (``shuffle_blocks``, ``random_state``), distributed ``predict`` and
``score``. ``fit`` refuses dask input for those optimizers and says so.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from gdreg._stats import SufficientStatistics

__all__ = ["distributed_statistics", "statistics_for_fit"]

#: Block statistics merged per task of the tree reduction.
SPLIT_EVERY = 8


def statistics_for_fit(
    X, y, sample_weight=None, *, sampling: str, loss: str = "squared_error"
) -> SufficientStatistics:
    """The statistics ``fit`` runs on for dask ``X``, ``y`` (and weights), with feature names.

    ``sampling`` is that of the fit's optimizer: only the full batch reduces
    to statistics, and the others are refused before any pass over the data,
    as is a ``loss`` other than the squared error. Any penalty works: an l1
    part makes this a one-pass distributed Lasso or elastic net.
    """
    if loss != "squared_error":
        raise ValueError(
            f"fit on dask arrays reduces the data to sufficient statistics (X^T X, X^T y), "
            f"which determine the squared error only, not loss={loss!r}. Stream the blocks "
            "through partial_fit with dask_ml.wrappers.Incremental(GradientDescentRegressor("
            f"loss={loss!r}, ...), scoring='neg_mean_squared_error')."
        )
    if sampling != "batch":
        raise ValueError(
            f"fit on dask arrays supports the full-batch optimizer only, got "
            f"sampling={sampling!r}. For stochastic or mini-batch descent stream the "
            "blocks through partial_fit with dask_ml.wrappers.Incremental("
            "GradientDescentRegressor(...), scoring='neg_mean_squared_error')."
        )
    X, names = _as_dask_matrix(X)
    stats = distributed_statistics(X, y, sample_weight)
    stats.feature_names = names
    return stats


def distributed_statistics(X, y, sample_weight=None, *, split_every: int = SPLIT_EVERY):
    """Sufficient statistics of dask ``(X, y, sample_weight)``, in one pass over the blocks.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Row blocks of any size; column blocks are joined first.
    y : dask.array.Array or ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets; rechunked to the row blocks of ``X`` when they differ.
    sample_weight : dask.array.Array, ndarray or None
        Non-negative weights, aligned like ``y``.
    split_every : int, default=8
        Fan-in of the tree reduction.

    Returns
    -------
    SufficientStatistics
        Computed with the current Dask scheduler (a ``distributed.Client`` if one is active).
    """
    X, _ = _as_dask_matrix(X)
    y = _aligned(y, X, "y")
    weights = None if sample_weight is None else _aligned(sample_weight, X, "sample_weight")
    x_blocks = X.to_delayed().ravel()
    y_blocks = y.to_delayed().ravel()
    w_blocks = [None] * len(x_blocks) if weights is None else weights.to_delayed().ravel()
    block = dask.delayed(_block_statistics, pure=True)
    merge = dask.delayed(_merge_all, pure=True)
    parts = [block(xb, yb, wb) for xb, yb, wb in zip(x_blocks, y_blocks, w_blocks, strict=True)]
    while len(parts) > 1:
        parts = [merge(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    (stats,) = dask.compute(parts[0])
    return stats


def _block_statistics(X, y, sample_weight) -> SufficientStatistics:
    return SufficientStatistics().update(X, y, sample_weight)


def _merge_all(*parts: SufficientStatistics) -> SufficientStatistics:
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part)
    return out


def _as_dask_matrix(X):
    """A 2-D dask array with known row blocks and one column block, plus feature names."""
    names = None
    if hasattr(X, "columns") and hasattr(X, "to_dask_array"):  # dask DataFrame
        columns = list(X.columns)
        if columns and all(isinstance(c, str) for c in columns):
            names = np.asarray(columns, dtype=object)
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        X = da.asarray(X)
    _check_dimensions(X.ndim)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X, names


def _check_dimensions(ndim: int) -> None:
    """``fit``'s (scikit-learn's) messages for an ``X`` that is not 2-D, without its data."""
    if ndim == 1:
        raise ValueError(
            "Expected 2D array, got 1D array instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample."
        )
    if ndim != 2:
        raise ValueError(
            f"Found array with dim {ndim}, while dim <= 2 is required by GradientDescentRegressor."
        )


def _aligned(a, X, name: str):
    """``a`` (dask or in-memory, 1-D or 2-D) as a dask array on ``X``'s row blocks."""
    if hasattr(a, "to_dask_array"):
        a = a.to_dask_array(lengths=True)
    if not isinstance(a, da.Array):
        a = np.asarray(a)
    elif any(np.isnan(c) for c in a.chunks[0]):
        a = a.compute_chunk_sizes()
    # fit's (scikit-learn's) messages
    if a.ndim == 0:
        raise ValueError(f"{name} must hold one value per sample, got the scalar {a}.")
    if name == "sample_weight" and (a.ndim != 1 or a.shape[0] != X.shape[0]):
        raise ValueError(f"sample_weight.shape == {a.shape}, expected {(X.shape[0],)}!")
    if a.ndim > 2:
        raise ValueError(f"Found array with dim {a.ndim}, while dim <= 2 is required.")
    if a.shape[0] != X.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{X.shape[0]}, {a.shape[0]}]"
        )
    if not isinstance(a, da.Array):
        return da.from_array(a, chunks=(X.chunks[0], *((s,) for s in a.shape[1:])))
    if a.chunks[0] != X.chunks[0] or (a.ndim == 2 and len(a.chunks[1]) > 1):
        a = a.rechunk((X.chunks[0],) + ((-1,) if a.ndim == 2 else ()))
    return a
