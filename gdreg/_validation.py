"""Input checks shared by the fits: magnitudes, weights, constant columns.

Each needs the column range of ``X`` (and of ``y``); within one ``fit`` the
range of an array is computed once (:func:`column_ranges_shared`), since each
pass over a large ``X`` costs as much as an SGD epoch.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np
from sklearn.utils.extmath import safe_sparse_dot

from gdreg import _kernels

#: Column ranges already computed by the fit running in this thread, by array:
#: the magnitude check, the constant-column snap and the constant mask all need
#: the range of X, and each pass over a large X costs as much as an SGD epoch.
_fit_ranges = threading.local()


def column_ranges_shared(fit):
    """Let every ``_column_range`` call of one ``fit`` share one pass per array."""

    @functools.wraps(fit)
    def wrapped(*args, **kwargs):
        # a fit inside a fit keeps its own
        outer = getattr(_fit_ranges, "memo", None), getattr(_fit_ranges, "batch", False)
        _fit_ranges.memo, _fit_ranges.batch = {}, False
        try:
            return fit(*args, **kwargs)
        finally:
            _fit_ranges.memo, _fit_ranges.batch = outer

    return wrapped


def _memo_entry(A):
    """This fit's memo dict for array ``A`` (``None`` outside a fit)."""
    memo = getattr(_fit_ranges, "memo", None)
    if memo is None:
        return None
    seen = memo.get(id(A))
    if seen is None or seen[0] is not A:  # the same object, not a recycled id
        seen = memo[id(A)] = (A, {})
    return seen[1]


def _column_range(A):
    """Column-wise ``(min, max)`` of a dense or CSR array, without a copy."""
    entry = _memo_entry(A)
    if entry is None:
        return _compute_column_range(A)
    if "range" not in entry:
        entry["range"] = _compute_column_range(A)
    return entry["range"]


#: A full-batch fit uses the compiled one-pass summaries only for an X this many
#: times larger: its own passes (the Gram matrix, or a gradient per epoch) cost
#: far more than the summaries, so below that compiling them (a fifth of a
#: second, paid by the first fit of a process) would not pay.
BATCH_ONE_PASS_FACTOR = 10


def full_batch_fit(batch: bool) -> None:
    """Tell the running fit whether its optimizer is full batch (see above)."""
    if getattr(_fit_ranges, "memo", None) is not None:
        _fit_ranges.batch = bool(batch)


def one_pass_applies(X) -> bool:
    """Whether the compiled one-pass summaries of ``X`` are used."""
    factor = BATCH_ONE_PASS_FACTOR if getattr(_fit_ranges, "batch", False) else 1
    return (
        isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.flags.c_contiguous
        and _kernels.worth_compiling(X.size, factor * _kernels.ONE_PASS_MIN_SIZE)
    )


def summary_will_run(X) -> bool:
    """Whether :func:`summarize_columns` will read raw input ``X`` as it is.

    True for a C-contiguous float ndarray large enough for the compiled pass,
    passed to a running fit: validation then keeps it as it is, and its
    finiteness is checked by that pass instead of a pass of its own.
    """
    return getattr(_fit_ranges, "memo", None) is not None and one_pass_applies(X)


def sample_fractions(weights, n_samples: int, dtype) -> np.ndarray:
    """``c_i = s_i / S`` (``1 / n`` without weights), in ``dtype``."""
    c = np.full(n_samples, 1.0 / n_samples) if weights is None else weights / weights.sum()
    return c.astype(dtype, copy=False)


def summarize_columns(X, weights) -> bool | None:
    """Column range and weighted column means of ``X`` in one compiled pass.

    Both are remembered for the running fit (the range for the magnitude
    check and the constant columns, the means for the centring offsets), so
    that ``X`` is read once for all of them. Returns whether every entry
    seen was finite (a non-finite sum can only come from a NaN or an
    infinity, or from an overflow that the magnitude check reports). Does
    nothing (and returns None) outside a fit or when the pass does not apply.
    """
    entry = _memo_entry(X)
    if entry is None or not one_pass_applies(X) or X.shape[0] == 0:
        return None
    scale = None if weights is None else weights / np.sum(weights, dtype=np.float64)
    low, high, means = _kernels.column_summary(X, scale)
    entry["range"] = (low, high)
    entry["means"] = (weights, means.astype(X.dtype))
    return bool(np.isfinite(means).all())


def remember_range(A, low, high) -> None:
    """Record the column range of ``A`` computed elsewhere (a fused pass) for the running fit.

    The magnitude check, the constant columns and the constant-offset snap
    then read it instead of passing over ``A`` again. Nothing outside a fit.
    """
    entry = _memo_entry(A)
    if entry is not None:
        entry["range"] = (low, high)


def weighted_column_means(X, weights) -> np.ndarray:
    """``sum_i c_i x_i`` in ``X.dtype`` (from :func:`summarize_columns` when it ran)."""
    entry = _memo_entry(X)
    if entry is not None and "means" in entry and entry["means"][0] is weights:
        return entry["means"][1]
    c = sample_fractions(weights, X.shape[0], X.dtype)
    return np.asarray(safe_sparse_dot(X.T, c), dtype=X.dtype).ravel()


def _compute_column_range(A):
    if one_pass_applies(A):
        return _kernels.column_range(A)  # one compiled pass instead of two row-by-row ones
    low, high = A.min(axis=0), A.max(axis=0)
    if hasattr(low, "toarray"):
        low, high = low.toarray(), high.toarray()
    return np.asarray(low).ravel(), np.asarray(high).ravel()


def column_range(A):
    """Column-wise ``(min, max)`` of a dense or CSR ``A`` as float arrays (shared in a fit)."""
    return _column_range(A)


def constant_columns(A):
    """Boolean mask of the columns of ``A`` whose entries are all equal."""
    low, high = _column_range(A)
    return low == high


def snap_constant(A, offset):
    """Set the offset of every constant column to that constant, exactly.

    The weighted mean of a constant column differs from the constant by
    round-off; centring would then leave ``x - mean`` of order ``eps * |x|``,
    a spurious curvature of order ``eps**2`` whose inverse becomes the
    "auto" step, and the fit diverges or returns huge coefficients.
    """
    low, high = _column_range(A)
    constant = low == high
    if np.any(constant):
        offset = offset.copy()
        offset[constant] = low[constant]
    return offset


def finite_sum_weights(weights):
    """Scale ``weights`` by a power of two (exact) when their sum overflows.

    Only the ratios ``s_i / S`` enter the objective.
    """
    with np.errstate(over="ignore"):
        total = np.sum(weights, dtype=np.float64)
    if np.isfinite(total):
        return weights
    return np.ldexp(weights, -int(np.frexp(weights.max())[1]) - 1)


def check_magnitude(name, A, n_columns, *, small):
    """Raise ValueError when squares of the entries of ``A`` over- or underflow.

    The gradient and the curvature need sums of squares and cross products
    of the entries, so the largest magnitude ``M`` must keep
    ``16 * n_columns * M**2`` finite in ``A.dtype``; with ``small``, a non-zero
    ``M`` must also keep ``M**2`` a normal number, with 20 bits of headroom.
    """
    check_largest_magnitude(name, largest_magnitude(A), A.dtype, n_columns, small=small)


def largest_magnitude(A) -> float:
    """The largest ``|a|`` over the entries of a dense or CSR ``A`` (0.0 when empty)."""
    return range_magnitude(*_column_range(A))


def range_magnitude(low, high) -> float:
    """The largest ``|a|`` given the column-wise minima and maxima of an array."""
    return float(max(np.max(high, initial=0.0), -np.min(low, initial=0.0)))


def check_largest_magnitude(name, largest, dtype, n_columns, *, small):
    """:func:`check_magnitude` given the largest magnitude ``largest`` of the entries.

    The fits that never hold the whole array (sufficient statistics, Dask)
    keep the largest magnitude of their chunks and check it here, so that
    every entry point gives the in-memory fit's messages.

    Examples
    --------
    >>> check_largest_magnitude("X", 1e-200, np.float64, 3, small=True)
    Traceback (most recent call last):
    ...
    ValueError: X has no value larger than 1e-200 in magnitude: their squares underflow ...
    """
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    too_large = math.sqrt(float(info.max) / (16.0 * max(n_columns, 1)))
    too_small = math.sqrt(float(info.tiny)) * 2.0**10
    fix = "for example with sklearn.preprocessing.MaxAbsScaler or StandardScaler"
    if name == "y":
        fix = "for example with sklearn.compose.TransformedTargetRegressor"
    if largest > too_large:
        raise ValueError(
            f"{name} has values as large as {largest:.3g} in magnitude: their squares overflow "
            f"{dtype} (the limit for this shape is {too_large:.3g}). Rescale {name}, {fix}."
        )
    if small and 0.0 < largest < too_small:
        raise ValueError(
            f"{name} has no value larger than {largest:.3g} in magnitude: their squares "
            f"underflow {dtype} (the limit is {too_small:.3g}). Rescale {name}, {fix}."
        )
