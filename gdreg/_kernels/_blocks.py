"""Compiled epochs on dense X in any memory layout: rows gathered in blocks.

The fast per-sample and mini-batch kernels read X as one C-ordered run of
rows (``X.reshape(-1)``). A Fortran-ordered array (what ``validate_data``
makes of a pandas DataFrame) or a strided view (``X[::2]``, ``X[:, ::2]``)
sends them to a generic kernel that reads one scattered element at a time,
or, for some rules, to the NumPy path: a 200,000 x 100 column-major fit ran
6 to 7 times slower per stochastic epoch.

:func:`compiled_epoch` is the one place that handles layout for every
optimizer. For such X it runs the epoch in row blocks: the rows that the next
``B`` samples of the visiting order read (and their targets and weights) are
gathered, in that order, into a reused C-ordered buffer, and the optimizer's
own ``compiled_epoch`` runs on the buffer with the order ``0 .. B - 1`` and
the steps of those updates. The state it returns is handed to the next
block, so the epoch makes exactly the updates of one call on the whole data,
in the same order, and the iterates match a fit on a C-ordered copy (bitwise
for the plain rules in the user's coordinates; to round-off where the
optimizer converts to and from standardised coordinates once per call).

``B`` is a multiple of the batch size, so every mini-batch lies inside one
block, and the buffer holds at most ``max(0.1 X.nbytes, 64 KiB)`` and at most
2 MiB (or one mini-batch, where a batch is larger): X itself is never copied.
Built-in schedules stay evaluated inside the kernels: each block gets an
``EpochSteps`` that starts at its first update.

What the gather cannot remove: samples come in a random order and a row of
a column-major X has its entries a column apart, so every entry gathered is
a cache miss of its own (a C-ordered row is one run of lines, fetched
together). On 200,000 x 100 (``benchmarks/bench_layouts.py``, a busy
2-core host) a 5-epoch constant-step SGD fit went from 8.5 to 2.9 times the
C-ordered fit, AveragedSGD (then on the NumPy path; compiled since) from 59
to 3.7 times, and the default "auto" fits, whose full-gradient passes do not
depend on the layout, to 1.5 to 1.9 times. For many stochastic epochs on
data that fit in memory twice, ``np.ascontiguousarray(X)`` before the fit
is still the fastest input.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from gdreg._kernels._compile import _jit

__all__ = ["block_rows", "compiled_epoch", "gather_rows"]

#: Largest row block, in bytes: it stays in the L2 cache while the kernel reads it.
BLOCK_BYTES = 2 << 20
#: The buffer may take this fraction of X ...
BLOCK_FRACTION = 0.1
#: ... or this much, whichever is larger: smaller blocks would pay the per-call
#: overhead of the optimizer's compiled epoch (tens of microseconds) too often.
MIN_BLOCK_BYTES = 64 << 10


def needs_blocks(X) -> bool:
    """Whether ``X`` is dense but not C-contiguous (the kernels' fast layout)."""
    return isinstance(X, np.ndarray) and X.ndim == 2 and not X.flags.c_contiguous


def block_rows(n_rows: int, row_bytes: int, x_bytes: int, batch_size: int) -> int:
    """Rows per block: within the memory budget, a multiple of ``batch_size``.

    Parameters
    ----------
    n_rows : int
        Samples in the epoch.
    row_bytes : int
        Bytes one gathered sample takes in the buffers (row of X, targets, weight).
    x_bytes : int
        ``X.nbytes``.
    batch_size : int
        Samples per update; a block never splits a mini-batch.

    Returns
    -------
    int
        At least ``min(batch_size, n_rows)``, at most ``n_rows``.

    Examples
    --------
    >>> block_rows(200_000, 808, 160_000_000, 1)  # 2 MiB of 808-byte rows
    2595
    >>> block_rows(200_000, 808, 160_000_000, 32)  # a multiple of the batch
    2592
    >>> block_rows(1_000, 88, 80_000, 1)  # 64 KiB, above a tenth of X
    744
    """
    budget = min(BLOCK_BYTES, max(BLOCK_FRACTION * x_bytes, MIN_BLOCK_BYTES))
    rows = int(budget // max(row_bytes, 1))
    rows = max(batch_size, rows - rows % batch_size)
    return max(1, min(rows, n_rows))


@_jit(nogil=True)
def _gather_by_column(X, idx, out):
    """``out[r] = X[idx[r]]``, four columns at a time (X column-major or near it).

    Each entry is a cache miss of its own (the rows come in a random order,
    and a row's entries lie a column apart), so what counts is how many
    misses are in flight: four independent columns per sample gave 1.6 times
    the throughput of one (200,000 x 100). A few columns at a time, not all
    ``d``, keep the pages being read few enough for the TLB.
    """
    m = idx.shape[0]
    d = X.shape[1]
    f = 0
    while f + 4 <= d:
        for r in range(m):
            i = idx[r]
            out[r, f] = X[i, f]
            out[r, f + 1] = X[i, f + 1]
            out[r, f + 2] = X[i, f + 2]
            out[r, f + 3] = X[i, f + 3]
        f += 4
    for g in range(f, d):
        for r in range(m):
            out[r, g] = X[idx[r], g]


@_jit(nogil=True)
def _gather_by_row(X, idx, out):
    """``out[r] = X[idx[r]]``, a row at a time (rows contiguous, strided between)."""
    for r in range(idx.shape[0]):
        i = idx[r]
        for f in range(X.shape[1]):
            out[r, f] = X[i, f]


def gather_rows(X: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Copy the rows ``X[idx]`` into ``out`` (C-ordered), in any layout of X.

    ``np.take(X, idx, axis=0, out=out)`` would first copy the whole of a
    non-C-contiguous X (NumPy's ``take`` works on a C-ordered input), so
    the gather is compiled, in the loop order X's strides favour.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Any strides.
    idx : ndarray of int64 of shape (m,)
        Rows to take, in order.
    out : ndarray of shape (m, d)
        C-contiguous buffer of X's dtype; overwritten.

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.asfortranarray(np.arange(12.0).reshape(4, 3))
    >>> gather_rows(X, np.array([2, 0]), np.empty((2, 3)))
    array([[6., 7., 8.],
           [0., 1., 2.]])
    """
    if numba.config.DISABLE_JIT:
        # as plain Python the loops would cost a microsecond an entry
        np.copyto(out, X[idx])
    elif abs(X.strides[0]) >= abs(X.strides[1]):
        _gather_by_row(X, idx, out)
    else:
        _gather_by_column(X, idx, out)
    return out


def _block_steps(steps, values, first: int, count: int):
    """The steps of updates ``first .. first + count - 1`` of the epoch.

    A schedule the kernels evaluate themselves gets an ``EpochSteps`` of the
    same type starting at the block's first update (never materialised);
    any other schedule was evaluated once for the whole epoch (``values``),
    as the kernels would, and the block gets its slice.
    """
    if values is None:
        return type(steps)(steps.schedule, steps.t_first + first, count, steps.dtype)
    return values[first : first + count]


def compiled_epoch(
    optimizer: Any,
    data: Any,
    params: np.ndarray,
    state: Any,
    order: np.ndarray,
    steps: Any,
    batch_size: int,
) -> tuple[Any, float] | None:
    """``optimizer.compiled_epoch``, in row blocks where X is dense but not C-ordered.

    Parameters
    ----------
    optimizer : Optimizer
        The update rule; its ``compiled_epoch`` runs each block.
    data : StochasticData
        The data as the kernels read them
        (:meth:`gdreg._objective.LeastSquares.stochastic_data`).
    params : ndarray of shape (n_features + 1, n_targets)
        The parameters, C-contiguous; updated in place.
    state : object
        The optimizer's state at the start of the epoch.
    order : ndarray of int64 of shape (n_samples,)
        The order in which the epoch visits the samples.
    steps : EpochSteps or array-like of shape (n_updates,)
        The step of each update of the epoch.
    batch_size : int
        Samples per update.

    Returns
    -------
    tuple of (object, float) or None
        The state after the epoch and the epoch's mean batch objective (NaN
        when the rule computes none), or None when the rule has no compiled
        epoch for these data (nothing was updated: the loop runs the NumPy
        path).

    Raises
    ------
    RuntimeError
        If the rule declines a block after it ran an earlier one (the epoch
        cannot be completed consistently).

    Examples
    --------
    A column-major X gives the iterates of its C-ordered copy:

    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> from gdreg.optimizers import GradientDescent
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(300, 4)), rng.normal(size=(300, 1))
    >>> opt, order, steps = GradientDescent("stochastic"), rng.permutation(300), np.full(300, 0.01)
    >>> thetas = []
    >>> for layout in (np.ascontiguousarray(X), np.asfortranarray(X)):
    ...     ls = LeastSquares(layout, Y, None, alpha=0.0, x_offset=np.zeros(4),
    ...                       y_offset=np.zeros(1), learn_intercept=True)
    ...     theta = np.zeros((5, 1))
    ...     _ = compiled_epoch(opt, ls.stochastic_data(), theta, (), order, steps, 1)
    ...     thetas.append(theta)
    >>> bool(np.array_equal(thetas[0], thetas[1]))
    True
    """
    X = data.X
    n = order.shape[0]
    if sp.issparse(X) or not needs_blocks(X) or n == 0:
        return optimizer.compiled_epoch(data, params, state, order, steps, batch_size)
    X = np.asarray(X)  # a memmap or other subclass: a plain view for the gather
    Y, scale = data.Y, np.ascontiguousarray(data.scale)
    d, k = X.shape[1], Y.shape[1]
    row_bytes = d * X.itemsize + k * Y.itemsize + scale.itemsize
    rows = block_rows(n, row_bytes, X.nbytes, batch_size)
    x_block = np.empty((rows, d), dtype=X.dtype)
    y_block = np.empty((rows, k), dtype=Y.dtype)
    scale_block = np.empty(rows, dtype=scale.dtype)
    visit = np.arange(rows, dtype=np.int64)
    # steps the kernels cannot evaluate are computed once, as for an unsplit epoch
    # (a bad step then fails before any update, and every block sees the same values)
    values = None if getattr(steps, "rule", None) is not None else np.asarray(steps)
    total, first = 0.0, 0
    for start in range(0, n, rows):
        size = min(rows, n - start)
        idx = order[start : start + size]
        gather_rows(X, idx, x_block[:size])
        gather_rows(Y, idx, y_block[:size])
        np.take(scale, idx, out=scale_block[:size])
        block = data._replace(X=x_block[:size], Y=y_block[:size], scale=scale_block[:size])
        count = math.ceil(size / batch_size)
        block_steps = _block_steps(steps, values, first, count)
        done = optimizer.compiled_epoch(block, params, state, visit[:size], block_steps, batch_size)
        if done is None:
            if start == 0:
                return None
            raise RuntimeError(
                f"{type(optimizer).__name__}.compiled_epoch declined a row block after "
                "running the first one; it must decide from the layout-free properties "
                "of the data alone."
            )
        state, loss = done
        total += float(loss) * size  # NaN (no running loss) stays NaN
        first += count
    return state, total / n
