"""Input checks shared by the fits: magnitudes, weights, constant columns.

Each needs the column range of ``X`` (and of ``y``). A pass over a large
``X`` costs as much as an SGD epoch, so a fit computes the range of an array
once and passes it to these helpers (:class:`gdreg._problem.Problem` holds
it); nothing here remembers anything between calls.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import safe_sparse_dot

from gdreg import _kernels
from gdreg._kernels._summaries import csr_column_summary

#: The dtypes a fit accepts as they are (others are converted to float64 by validation).
FIT_DTYPES = (np.float64, np.float32)


def plain_training_arrays(X, y, check_x_finite: bool) -> bool:
    """Whether ``validate_data`` would pass ``(X, y)`` through unchanged and without a warning."""
    if type(X) is not np.ndarray or type(y) is not np.ndarray:  # no subclass, no DataFrame
        return False
    if X.ndim != 2 or X.dtype not in FIT_DTYPES or 0 in X.shape:
        return False
    if y.ndim not in (1, 2) or y.dtype not in FIT_DTYPES or y.shape[0] != X.shape[0]:
        return False
    if y.ndim == 2 and y.shape[1] == 0:
        return False
    # a sum is finite only when every entry is (an overflowing one just takes the long way)
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(np.sum(y)):
            return False
        return not check_x_finite or bool(np.isfinite(np.sum(X)))


def _column_range(A):
    """Column-wise ``(min, max)`` of a dense or CSR array, without a copy."""
    return _compute_column_range(A)


#: A full-batch fit uses the compiled one-pass summaries only for an X this many
#: times larger: its own passes (the Gram matrix, or a gradient per epoch) cost
#: far more than the summaries, so below that compiling them (a fifth of a
#: second, paid by the first fit of a process) would not pay.
BATCH_ONE_PASS_FACTOR = 10


def one_pass_applies(X, *, batch: bool = False) -> bool:
    """Whether the compiled one-pass summaries of ``X`` are used (``batch``: full batch).

    A large CSR ``X`` (:func:`sparse_pass_applies`) is summarised whatever
    ``batch``: SciPy's reductions copy it, so the pass pays in any fit.
    """
    if sparse_pass_applies(X):
        return True
    factor = BATCH_ONE_PASS_FACTOR if batch else 1
    return (
        isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.flags.c_contiguous
        and _kernels.worth_compiling(X.size, factor * _kernels.ONE_PASS_MIN_SIZE)
    )


#: A CSR X is summarised by the compiled one-pass helpers from this many times
#: fewer stored entries than a dense X has entries: SciPy's own reductions copy
#: X (to CSC, once for the minima and once for the maxima; ``X.multiply(X)``
#: for the squares), about four times the cost of a NumPy pass per entry.
SPARSE_ONE_PASS_FACTOR = 4


def sparse_pass_applies(X) -> bool:
    """Whether the compiled one-pass summaries of a CSR ``X`` are used.

    True for a float CSR matrix with at least one row and enough stored
    entries (``SPARSE_ONE_PASS_FACTOR``); the passes read ``X.data`` and
    ``X.indices`` once, O(stored entries), and copy nothing.
    """
    return (
        sp.issparse(X)
        and X.format == "csr"
        and X.dtype in (np.float32, np.float64)
        and X.shape[0] > 0
        and _kernels.worth_compiling(X.nnz * SPARSE_ONE_PASS_FACTOR, _kernels.ONE_PASS_MIN_SIZE)
    )


def sample_fractions(weights, n_samples: int, dtype) -> np.ndarray:
    """``c_i = s_i / S`` (``1 / n`` without weights), in ``dtype``."""
    c = np.full(n_samples, 1.0 / n_samples) if weights is None else weights / weights.sum()
    return c.astype(dtype, copy=False)


class ColumnSummary(NamedTuple):
    """What :func:`summarize_columns` reads off ``X`` in its one pass."""

    low: np.ndarray  # column minima
    high: np.ndarray  # column maxima
    means: np.ndarray  # weighted column means, in X.dtype
    finite: bool  # every entry seen was finite


def summarize_columns(X, weights, *, batch: bool = False) -> ColumnSummary | None:
    """Column range and weighted column means of ``X`` in one compiled pass.

    The fit keeps both (the range for the magnitude check and the constant
    columns, the means for the centring offsets), so that ``X`` is read once
    for all of them. ``finite`` says whether every entry seen was finite (a
    non-finite sum can only come from a NaN or an infinity, or from an
    overflow that the magnitude check reports). Returns None when the pass
    does not apply (:func:`one_pass_applies`, ``batch`` as there, or
    :func:`sparse_pass_applies` for a CSR ``X``, whichever ``batch``).
    """
    if sparse_pass_applies(X):
        summary = _sparse_summary(X, weights)
        means = summary.sums.astype(X.dtype)
        return ColumnSummary(summary.low, summary.high, means, bool(np.isfinite(means).all()))
    if not one_pass_applies(X, batch=batch) or X.shape[0] == 0:
        return None
    scale = None if weights is None else weights / np.sum(weights, dtype=np.float64)
    low, high, means = _kernels.column_summary(X, scale)
    return ColumnSummary(low, high, means.astype(X.dtype), bool(np.isfinite(means).all()))


def _sparse_summary(X, weights):
    """:func:`~gdreg._kernels._summaries.csr_column_summary` with sums weighted by ``s_i / S``."""
    if weights is None:
        summary = csr_column_summary(X)
        return summary._replace(sums=summary.sums / X.shape[0])
    return csr_column_summary(X, weights / np.sum(weights, dtype=np.float64))


def weighted_column_means(X, weights) -> np.ndarray:
    """``sum_i c_i x_i`` in ``X.dtype`` (accumulated in float64 for a large CSR ``X``)."""
    if sparse_pass_applies(X):
        return _sparse_summary(X, weights).sums.astype(X.dtype)
    c = sample_fractions(weights, X.shape[0], X.dtype)
    return np.asarray(safe_sparse_dot(X.T, c), dtype=X.dtype).ravel()


def _compute_column_range(A):
    if sparse_pass_applies(A):
        summary = csr_column_summary(A)  # one pass over the stored entries, no CSC copies
        return summary.low, summary.high
    if one_pass_applies(A):
        return _kernels.column_range(A)  # one compiled pass instead of two row-by-row ones
    low, high = A.min(axis=0), A.max(axis=0)
    if hasattr(low, "toarray"):
        low, high = low.toarray(), high.toarray()
    return np.asarray(low).ravel(), np.asarray(high).ravel()


def column_range(A):
    """Column-wise ``(min, max)`` of a dense or CSR ``A`` as float arrays."""
    return _column_range(A)


def constant_columns(A):
    """Boolean mask of the columns of ``A`` whose entries are all equal."""
    low, high = _column_range(A)
    return low == high


def snap_constant(offset, low, high):
    """Set the offset of every constant column (``low == high``) to that constant, exactly.

    ``low`` and ``high`` are the column-wise range of the array. The weighted
    mean of a constant column differs from the constant by round-off;
    centring would then leave ``x - mean`` of order ``eps * |x|``, a spurious
    curvature of order ``eps**2`` whose inverse becomes the "auto" step, and
    the fit diverges or returns huge coefficients.

    Examples
    --------
    >>> snap_constant(np.array([0.30000000000000004, 1.5]), np.array([0.3, 1.0]),
    ...               np.array([0.3, 2.0]))
    array([0.3, 1.5])
    """
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


def _magnitude_limits(dtype, n_columns: int) -> tuple[float, float]:
    """``(too_small, too_large)``: the largest magnitude must lie between them."""
    info = np.finfo(dtype)
    too_large = math.sqrt(float(info.max) / (16.0 * max(n_columns, 1)))
    return math.sqrt(float(info.tiny)) * 2.0**10, too_large


def magnitude_within_limits(lower: float, upper: float, dtype, n_columns: int, *, small) -> bool:
    """Whether :func:`check_largest_magnitude` passes for every largest magnitude in the bounds.

    With a factor of 2 to spare on each side, for bounds computed in floating
    point. False means only that the bounds cannot tell.

    Examples
    --------
    >>> magnitude_within_limits(1.0, 1e3, np.float64, 10, small=True)
    True
    >>> magnitude_within_limits(1e-160, 1.0, np.float64, 10, small=True)
    False
    """
    too_small, too_large = _magnitude_limits(dtype, n_columns)
    return 2.0 * upper <= too_large and (not small or lower >= 2.0 * too_small)


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
    too_small, too_large = _magnitude_limits(dtype, n_columns)
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
