"""One-pass summaries of X (column range, spreads, row norms) and the row-part thread pool."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from gdreg._kernels._compile import _SUMS, _jit
from gdreg._threads import available_cores, thread_budget

# -- one-pass summaries of X ---------------------------------------------------------
#: A one-pass summary of an X with at least this many entries is computed as
#: _ROW_PARTS blocks of rows on up to that many threads (the kernels release the
#: GIL), within the thread budget of gdreg._threads. One thread does not
#: saturate the memory bandwidth: on 2 cores, a 1,000,000 x 100 pass takes
#: 0.065 s instead of 0.12 s.
SPLIT_MIN_SIZE = 4_000_000
#: Entries per row of the vector loop below which the column summary of an
#: unweighted X treats several consecutive rows as one.
_WIDE = 64
#: Blocks per split pass: fixed, so that the partial sums are added in the
#: same order whatever the number of cores (bitwise reproducible results).
_ROW_PARTS = 4


@functools.cache
def _pool() -> ThreadPoolExecutor:
    # as many threads as there could ever be parts to run at once; how many of
    # them a pass keeps busy is decided per call (map_row_parts)
    return ThreadPoolExecutor(max_workers=min(_ROW_PARTS, available_cores()))


def _run_group(func, group: list) -> list:
    return [func(rows) for rows in group]


def map_row_parts(func, n_rows: int, X) -> list:
    """``[func(rows) for rows in blocks]``: one block, or ``_ROW_PARTS`` on up to as many threads.

    The blocks are fixed (so results do not depend on the machine); the
    number of threads that run them is :func:`gdreg._threads.thread_budget`
    at the time of the call, at most ``_ROW_PARTS``: inside
    ``threadpoolctl.threadpool_limits(1)``, or in a joblib worker that may
    use one thread, every block runs in the calling thread. Each thread runs
    a contiguous group of blocks, and the results come back in block order.

    Examples
    --------
    >>> import numpy as np
    >>> map_row_parts(lambda rows: rows, 5, np.zeros((5, 1)))
    [slice(0, 5, None)]
    """
    if X.size < SPLIT_MIN_SIZE or n_rows < 2 * _ROW_PARTS:
        return [func(slice(0, n_rows))]
    bounds = [n_rows * part // _ROW_PARTS for part in range(_ROW_PARTS + 1)]
    blocks = [slice(bounds[p], bounds[p + 1]) for p in range(_ROW_PARTS)]
    threads = min(_ROW_PARTS, thread_budget())
    if threads == 1:  # no hand-off to the pool: the caller is the one thread allowed
        return _run_group(func, blocks)
    cuts = [_ROW_PARTS * g // threads for g in range(threads + 1)]
    groups = [blocks[cuts[g] : cuts[g + 1]] for g in range(threads)]
    done = _pool().map(functools.partial(_run_group, func), groups)
    return [result for group in done for result in group]


def column_range(X):
    """Column-wise ``(min, max)`` of a dense 2-D array in one pass, without a copy.

    NumPy's ``X.min(axis=0)`` and ``X.max(axis=0)`` take one pass each and,
    for C-ordered data, one ufunc call per row.

    Examples
    --------
    >>> import numpy as np
    >>> low, high = column_range(np.array([[1.0, 5.0], [3.0, -2.0]]))
    >>> low, high
    (array([ 1., -2.]), array([3., 5.]))
    """
    low, high, _ = column_summary(X)
    return low, high


#: Modes of :func:`_row_pass`.
_SUMMARY, _LARGEST_NORM = 0, 1


@_jit(nogil=True, fastmath=_SUMS, _nrt=False)
def _row_pass(flat, d, scale, step, low, high, sums, plus, mode):
    # One pass over the rows of a C-ordered X given flat, in one of two modes;
    # both live in one jitted function because each jitted function compiles
    # on its own (0.1 to 0.2 s each, paid by the first fit of a process).
    # Outputs come in from the caller: a kernel that allocates compiles slower.
    # scale[i * step] is row i's weight (step 0: one shared weight, no n-long
    # vector of ones).
    #  _SUMMARY: column min / max into low / high (element-wise over the row,
    #    so it vectorises) and sum_i scale_i x_i into sums; returns 0.
    #  _LARGEST_NORM: returns max_i scale_i (||(x_i - sums) * low||^2 + plus),
    #    with the offset in sums and column multipliers in low (high is not used).
    n = flat.shape[0] // d
    best = 0.0
    if mode == _SUMMARY:
        for i in range(n):
            base = i * d  # flat indexing: a row view per row costs reference counting
            si = scale[i * step]
            for f in range(d):
                v = flat[base + f]
                low[f] = v if v < low[f] else low[f]
                high[f] = v if v > high[f] else high[f]
                sums[f] += si * v
        return best
    for i in range(n):
        base = i * d
        s = 0.0  # reassociated into vector partial sums (see _SUMS)
        for f in range(d):
            t = (flat[base + f] - sums[f]) * low[f]
            s += t * t
        value = scale[i * step] * (s + plus)
        best = value if value > best else best
    return best


def column_summary(X, scale=None):
    """Column range and weighted column sums of dense ``X`` in one pass.

    Returns ``(low, high, sums)``: the column-wise minimum and maximum (in
    ``X.dtype``) and ``sum_i scale_i x_i`` accumulated in float64, or the
    column means when ``scale`` is ``None``. A NaN or an infinity anywhere in
    ``X`` makes its column's sum non-finite (``0 * inf`` is NaN too), so the
    sums double as the finiteness check. Nothing of size ``n`` is allocated.

    Examples
    --------
    >>> import numpy as np
    >>> low, high, means = column_summary(np.array([[1.0, 5.0], [3.0, -2.0]]))
    >>> low, high, means
    (array([ 1., -2.]), array([3., 5.]), array([2. , 1.5]))
    >>> column_summary(np.array([[1.0], [3.0]]), np.array([0.25, 0.75]))[2]
    array([2.5])
    """
    X = np.ascontiguousarray(X)
    n = X.shape[0]
    if n == 0 or X.shape[1] == 0:
        return X.min(axis=0), X.max(axis=0), np.zeros(X.shape[1])  # NumPy's error
    weighted = scale is not None
    scale = np.ascontiguousarray(scale, dtype=np.float64) if weighted else np.ones(1)

    d = X.shape[1]

    def block(rows):
        flat = X[rows].reshape(-1)
        low, high, sums = flat[:d].copy(), flat[:d].copy(), np.zeros(d)
        done = 0
        group = -(-_WIDE // d)  # rows per group of at least _WIDE entries
        if not weighted and group > 1 and flat.shape[0] >= 2 * group * d:
            # narrow X: m consecutive rows are one row of m * d columns, so the
            # vector loop is long enough to pay (100,000 x 10: 2.2 -> 1.0 ms)
            done = flat.shape[0] // (group * d) * (group * d)
            wide = [flat[: group * d].copy(), flat[: group * d].copy(), np.zeros(group * d)]
            _row_pass(flat[:done], group * d, scale, 0, *wide, 0.0, _SUMMARY)
            low, high = wide[0].reshape(group, d).min(0), wide[1].reshape(group, d).max(0)
            sums = wide[2].reshape(group, d).sum(0)
        _row_pass(
            flat[done:],
            d,
            scale[rows] if weighted else scale,
            int(weighted),
            low,
            high,
            sums,
            0.0,
            _SUMMARY,
        )
        return low, high, sums

    parts = map_row_parts(block, n, X)
    low = functools.reduce(np.minimum, [part[0] for part in parts])
    high = functools.reduce(np.maximum, [part[1] for part in parts])
    sums = functools.reduce(np.add, [part[2] for part in parts])  # a fixed order
    if not weighted:
        sums /= n
    return low, high, sums


def max_weighted_row_norm(X, offset, weight, plus: float = 0.0, multipliers=None) -> float:
    """``max_i weight_i (||(x_i - offset) * multipliers||^2 + plus)`` in one pass over dense ``X``.

    Nothing of size ``n`` is allocated.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 1.0], [3.0, 1.0]])
    >>> max_weighted_row_norm(X, np.array([1.0, 0.0]), np.array([1.0, 0.5]))
    2.5
    """
    X = np.ascontiguousarray(X)
    d = X.shape[1]
    if X.shape[0] == 0 or d == 0:
        return float(np.max(np.asarray(weight) * plus, initial=0.0))
    # in the parameters' dtype: one compiled signature per dtype of X
    offset = np.ascontiguousarray(offset, dtype=X.dtype)
    weight = np.ascontiguousarray(weight)
    if multipliers is None:
        multipliers = np.ones(d, dtype=X.dtype)
    multipliers = np.ascontiguousarray(multipliers, dtype=X.dtype)
    spare = offset[:1].copy()  # high, unused in this mode

    def block(rows):
        flat = X[rows].reshape(-1)
        return _row_pass(
            flat, d, weight[rows], 1, multipliers, spare, offset, float(plus), _LARGEST_NORM
        )

    return float(max(map_row_parts(block, X.shape[0], X)))


# -- one-pass summaries of CSR X ------------------------------------------------------
#: Slots of the per-column accumulator of :func:`_csr_column_pass`. They sit side
#: by side in one (d, 5) array: the stored entries visit the columns in no
#: order, and one cache line per entry instead of one per statistic halves the
#: pass (100,000 x 10,000 at 0.1 %: 5.7 -> 2.9 ms with weights).
_LOW, _HIGH, _COUNT, _SUM, _SQUARE = range(5)


@_jit(nogil=True)
def _csr_column_pass(data, indices, indptr, scale, weighted, ranges, acc):
    # Per column j, over the stored entries x of a canonical CSR X: min and max
    # (acc[j, _LOW], acc[j, _HIGH]), how many are stored, sum_i s_i x_ij and
    # sum_i s_i x_ij^2, with s_i = scale[i] (weighted) or 1. SciPy's
    # X.min(axis=0) and X.max(axis=0) each convert X to CSC first (a copy and
    # a sort), and X.multiply(X) copies it. Without weights and without
    # `ranges`, only the two sums (1.3 instead of 2.2 ms at a million entries).
    if not weighted and not ranges:
        for p in range(indptr[0], indptr[indptr.shape[0] - 1]):
            j = indices[p]
            v = np.float64(data[p])
            acc[j, _SUM] += v
            acc[j, _SQUARE] += v * v
        return
    if not weighted:
        # one flat loop: a loop per row of ~10 entries costs a mispredicted exit
        # per row (1.5 instead of 2.9 ms at a million entries)
        for p in range(indptr[0], indptr[indptr.shape[0] - 1]):
            j = indices[p]
            v = np.float64(data[p])  # float32 entries squared in float64
            low = acc[j, _LOW]
            high = acc[j, _HIGH]
            acc[j, _LOW] = v if v < low else low
            acc[j, _HIGH] = v if v > high else high
            acc[j, _COUNT] += 1.0
            acc[j, _SUM] += v
            acc[j, _SQUARE] += v * v
        return
    for i in range(indptr.shape[0] - 1):
        si = scale[i]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = np.float64(data[p])  # float32 entries squared in float64
            low = acc[j, _LOW]
            high = acc[j, _HIGH]
            acc[j, _LOW] = v if v < low else low
            acc[j, _HIGH] = v if v > high else high
            acc[j, _COUNT] += 1.0
            sv = si * v
            acc[j, _SUM] += sv
            acc[j, _SQUARE] += sv * v


@_jit(nogil=True)
def _csr_row_norm_pass(data, indices, indptr, columns, base, scale, step, plus):
    # max_i scale_i (||(x_i - offset) * multipliers||^2 + plus) over the rows of
    # a canonical CSR X, with columns[j] = (multipliers_j^2, 2 offset_j): a
    # centred row's norm is base = sum_j multipliers_j^2 offset_j^2 (every
    # column at x = 0), corrected on the stored entries by
    # multipliers_j^2 x (x - 2 offset_j). Nothing of size n is formed.
    best = 0.0
    for i in range(indptr.shape[0] - 1):
        s = base
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = np.float64(data[p])  # float32 entries squared in float64
            s += columns[j, 0] * v * (v - columns[j, 1])
        s = s if s > 0.0 else 0.0  # cancellation: a norm is never negative
        value = scale[i * step] * (s + plus)
        best = value if value > best else best
    return best


class CsrColumnSummary(NamedTuple):
    """What one pass over a CSR matrix gives per column (see :func:`csr_column_summary`)."""

    low: np.ndarray | None  # (d,) column minima in X.dtype, the zeros that are not stored included
    high: np.ndarray | None  # (d,) column maxima (both None when not asked for)
    sums: np.ndarray  # (d,) sum_i scale_i x_ij, float64
    squares: np.ndarray  # (d,) sum_i scale_i x_ij^2, float64
    weight: float  # sum_i scale_i


def canonical_csr(X):
    """``X`` itself when its rows hold sorted, distinct columns; else a canonical copy.

    SciPy reads a column stored twice in a row as the sum of the two entries;
    the one-pass summaries read stored entries one by one, so they need
    distinct columns per row (a min, a max or a square of each part would
    not be that of the sum). SciPy remembers the answer on ``X`` (a CSR made
    by ``tocsr()`` or ``scipy.sparse.random`` already knows it); otherwise the
    check is one pass over the indices. The copy, made only for a CSR with
    unsorted or duplicated columns, sums the duplicates.
    """
    if X.has_canonical_format:
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


def _scale_arguments(scale, n: int):
    """``(scale, step)`` as the CSR passes read them: ones with step 0 when ``scale`` is None."""
    if scale is None:
        return np.ones(1), 0
    scale = np.ascontiguousarray(scale, dtype=np.float64)
    if scale.shape != (n,):
        raise ValueError(f"scale has shape {scale.shape}, expected ({n},)")
    return scale, 1


def csr_column_summary(X, scale=None, *, ranges: bool = True) -> CsrColumnSummary:
    """Column range and weighted sums and sums of squares of CSR ``X`` in one pass.

    One compiled pass over ``X.data`` and ``X.indices``, O(stored entries),
    ``X`` not copied (unless its format is not canonical: see
    :func:`canonical_csr`): the magnitude check, the constant columns, the
    centring offsets and the spreads each need some of these columns, and
    SciPy's reductions convert ``X`` to CSC (twice, for min and max) or copy
    it (``X.multiply(X)``). Explicit zeros count as entries; a column with
    fewer stored entries than rows also holds a zero. ``scale`` (``None``:
    ones) weights the sums, accumulated in float64 whatever ``X.dtype``; a
    NaN or an infinity makes its column's sums non-finite. ``ranges=False``
    leaves ``low`` and ``high`` None, for a faster pass when only the sums
    are needed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [3.0, -2.0, 0.0]]))
    >>> s = csr_column_summary(X)
    >>> s.low, s.high, s.weight
    (array([ 1., -2.,  0.]), array([3., 0., 0.]), 2.0)
    >>> s.sums, s.squares
    (array([ 4., -2.,  0.]), array([10.,  4.,  0.]))
    """
    n, d = X.shape
    if n == 0:
        raise ValueError("csr_column_summary needs at least one row")
    X = canonical_csr(X)
    scale, step = _scale_arguments(scale, n)
    acc = np.zeros((d, 5))
    # every column ends up with a stored entry or an implicit zero, so these
    # starting values are always replaced
    acc[:, _LOW], acc[:, _HIGH] = np.inf, -np.inf
    _csr_column_pass(X.data, X.indices, X.indptr, scale, bool(step), bool(ranges), acc)
    weight = float(n) if step == 0 else float(np.sum(scale))
    sums, squares = acc[:, _SUM].copy(), acc[:, _SQUARE].copy()
    if not ranges:
        return CsrColumnSummary(None, None, sums, squares, weight)
    sparse = acc[:, _COUNT] < n  # a zero that is not stored
    low = np.where(sparse, np.minimum(acc[:, _LOW], 0.0), acc[:, _LOW]).astype(X.dtype)
    high = np.where(sparse, np.maximum(acc[:, _HIGH], 0.0), acc[:, _HIGH]).astype(X.dtype)
    return CsrColumnSummary(low, high, sums, squares, weight)


def csr_max_weighted_row_norm(X, offset, weight, plus: float = 0.0, multipliers=None) -> float:
    """:func:`max_weighted_row_norm` of CSR ``X``: one pass over its stored entries.

    ``max_i weight_i (||(x_i - offset) * multipliers||^2 + plus)``, computed
    on the stored entries (the zeros of a row contribute the same
    ``offset_j^2 multipliers_j^2`` to every row) in float64, clipped at zero
    where the algebraic centring cancels. Nothing of size ``n`` is
    allocated and ``X`` is not copied (unless its format is not canonical:
    see :func:`canonical_csr`).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1.0, 1.0], [3.0, 1.0]]))
    >>> csr_max_weighted_row_norm(X, np.array([1.0, 0.0]), np.array([1.0, 0.5]))
    2.5
    """
    n, d = X.shape
    weight, step = _scale_arguments(weight, n)
    if n == 0:
        return 0.0
    X = canonical_csr(X)
    offset = np.asarray(offset, dtype=np.float64).reshape(-1)
    columns = np.empty((d, 2))
    columns[:, 0] = 1.0 if multipliers is None else np.asarray(multipliers, np.float64) ** 2
    columns[:, 1] = 2.0 * offset
    # einsum, not a BLAS dot: OpenBLAS wakes its threads for a long vector, which
    # costs milliseconds on a busy machine
    base = float(np.einsum("i,i,i->", columns[:, 0], offset, offset))
    return float(
        _csr_row_norm_pass(X.data, X.indices, X.indptr, columns, base, weight, step, float(plus))
    )
