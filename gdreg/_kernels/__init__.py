"""Compiled inner loops (numba), behind the same seam as the NumPy path.

Each epoch kernel runs one epoch of per-sample or mini-batch updates in place
on ``params`` and returns the epoch's running objective. They compute exactly
what :meth:`gdreg._objective.LeastSquares.batch_value_and_gradient` followed
by the optimizer's ``update`` (and, for an l1 part, ``LeastSquares.prox``)
computes, in a different summation order, so the two paths agree to
round-off (``tests/test_kernels.py``, ``tests/test_loss_kernels.py``).

Every built-in loss runs in the same kernels: the loss's scalar value and
derivative (:func:`gdreg._loss.residual_value`, ``residual_derivative``) are
compiled into them, with the loss's code a runtime number, and an l1 part is
a soft-threshold of the coefficients after each update. The squared loss
without an l1 part is a specialisation of its own, compiled and run as fast
as before the other losses existed
(:func:`gdreg._kernels._compile.loss_arguments`).

What makes them fast:

* single-target problems (the common case) run on 1-D views, so the update
  loops are unit-stride and vectorise;
* the per-sample kernel makes two passes over the row: one forms the centred
  residual, one applies the update, with no gradient buffer;
* the next rows are prefetched (samples come in a random order, which the
  hardware prefetcher cannot guess);
* the hot loops call no helper that takes an array (numba wraps each such
  call in atomic reference counting, which cost four times the arithmetic
  at d = 10);
* LLVM may reassociate sums and contract multiply-adds (``fastmath`` limited
  to ``{"reassoc", "contract"}``), so dot products vectorise with several
  accumulators. This changes results by round-off only; the flags that
  assume no NaN or infinity are not given, so divergence is still detected.

:func:`gram_descent` runs many full-batch epochs on the sufficient
statistics in one call, so the O(d^2) iterations of
:class:`gdreg._objective.GramLeastSquares` do not pay Python's per-epoch
overhead.

Set ``ENABLED = False`` (tests do, through ``monkeypatch``) to force the
readable NumPy path everywhere.

The kernels compile on first use and are cached on disk in :data:`CACHE_DIR`
(``NUMBA_CACHE_DIR`` if set, else the user's cache directory), never inside
the installed package; where no such directory is writable they compile in
memory only. With ``NUMBA_DISABLE_JIT=1`` they run as plain Python.
"""

from __future__ import annotations

import numpy as np

from gdreg._kernels import _blocks, _order
from gdreg._kernels._averaged import averaged_epoch
from gdreg._kernels._compile import CACHE_DIR
from gdreg._kernels._gram import CONVERGED, DIVERGED, RUNNING, gram_descent
from gdreg._kernels._plain import plain_epoch
from gdreg._kernels._rules import rule_epoch
from gdreg._kernels._summaries import (
    column_range,
    column_summary,
    map_row_parts,
    max_weighted_row_norm,
)
from gdreg._kernels._svrg import svrg_epoch

__all__ = [
    "CACHE_DIR",
    "CONVERGED",
    "DIVERGED",
    "ENABLED",
    "RUNNING",
    "averaged_epoch",
    "column_range",
    "column_summary",
    "compiled_epoch",
    "gram_descent",
    "map_row_parts",
    "max_weighted_row_norm",
    "plain_epoch",
    "rule_epoch",
    "shuffled_order",
    "svrg_epoch",
    "worth_compiling",
]

ENABLED = True

#: Samples ahead of the current one whose rows are prefetched.
_PREFETCH_AHEAD = 8
#: float64 entries per 64-byte cache line (float32 rows just get two hints per line).
_LINE = 8

#: Below this many entries of X, the compiled full-batch loop is not worth
#: numba's start-up cost (about half a second of CPU per process to set up, and
#: about a second to compile when the on-disk cache is empty): the loop runs in
#: Python instead.
COMPILED_MIN_SIZE = 1_000_000
#: The same for the one-pass summaries of X (column range, largest row norm):
#: NumPy's chunked passes cost less than compiling them until X is this large.
ONE_PASS_MIN_SIZE = 1_000_000

#: From this many samples on, the order of an epoch is shuffled in compiled code
#: (:func:`shuffled_order`) rather than by ``RandomState.permutation``: below it
#: the permutation costs under a millisecond, less than compiling the shuffle
#: (a third of a second, once per installation) is worth to a first fit.
SHUFFLE_MIN_SAMPLES = 1 << 16


def shuffled_order(rng, n: int) -> np.ndarray:
    """A uniformly random order of ``range(n)`` (int64), drawn from ``rng``.

    For ``n >= SHUFFLE_MIN_SAMPLES`` one 63-bit seed is drawn from ``rng`` and
    a Fisher-Yates shuffle driven by splitmix64 (Steele et al. 2014) runs in
    compiled code: 0.3 ms instead of 1.6 ms for ``rng.permutation`` at
    100,000 samples, 9 ms instead of 27 ms at 1,000,000 (where it is a tenth
    of a per-sample epoch). Bounded draws use the top bits of a 64 x 32-bit
    product, so the bias is below ``n / 2**64``. Smaller ``n`` (and ``n >=
    2**32``) use ``rng.permutation``. The order depends only on ``rng``,
    never on :data:`ENABLED`, so the compiled and NumPy paths visit the same
    samples.

    Examples
    --------
    >>> import numpy as np
    >>> order = shuffled_order(np.random.RandomState(0), 50_000)
    >>> bool(np.array_equal(np.sort(order), np.arange(50_000)))
    True
    >>> shuffled_order(np.random.RandomState(0), 5)
    array([2, 0, 1, 3, 4])
    """
    if n < SHUFFLE_MIN_SAMPLES or n >= 1 << 32:
        return rng.permutation(n).astype(np.int64, copy=False)
    order = np.empty(n, dtype=np.int64)
    seed = int(rng.randint(0, 2**63 - 1, dtype=np.int64))
    # splitmix64 wraps around by design; run as Python (NUMBA_DISABLE_JIT=1) on
    # NumPy scalars, each wrap-around would warn (the order is the same)
    with np.errstate(over="ignore"):
        _order._shuffle(seed, order)
    return order


def worth_compiling(n_entries: int, threshold: int | None = None) -> bool:
    """Whether a pass over this many entries should use a compiled helper."""
    return ENABLED and n_entries >= (COMPILED_MIN_SIZE if threshold is None else threshold)


def compiled_epoch(optimizer, data, params, state, order, steps, batch_size):
    """Run one stochastic or mini-batch epoch compiled, or return None: the table's entry.

    The one place where the loop asks for a compiled epoch. ``None`` (run the
    NumPy epoch) when the kernels are switched off (:data:`ENABLED`), when
    ``data`` is None (the objective's loss has no kernel: the loop passes no
    data then) or when the rule has no compiled epoch for these data. Dense X
    in any memory order runs through :func:`gdreg._kernels._blocks.compiled_epoch`
    (row blocks for X that is not C-ordered); the rule's own
    ``compiled_epoch`` picks its kernel family (it alone knows whether its
    ``update`` was overridden).

    Parameters
    ----------
    optimizer : Optimizer
        The update rule.
    data : StochasticData or None
        The data as the kernels read them.
    params : ndarray of shape (n_features + 1, n_targets)
        The parameters, C-contiguous; updated in place.
    state : object
        The rule's state at the start of the epoch.
    order : ndarray of int64
        The visiting order.
    steps : EpochSteps or array-like
        The step of each update.
    batch_size : int
        Samples per update.

    Returns
    -------
    tuple of (object, float) or None
        The new state and the epoch's mean batch objective, or None.
    """
    if not ENABLED or data is None:
        return None
    return _blocks.compiled_epoch(optimizer, data, params, state, order, steps, batch_size)
