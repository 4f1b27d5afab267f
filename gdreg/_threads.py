"""How many threads gdreg's own parallel passes may keep busy: the thread budget.

gdreg runs a few one-pass summaries of a large X (column range and means,
largest row norm) on a small thread pool of its own
(:func:`gdreg._kernels._summaries.map_row_parts`). That pool is no native
library, so neither ``threadpoolctl`` nor joblib can limit it directly. It
follows the limits they set on the libraries they do control instead, as
scikit-learn's OpenMP code follows ``omp_get_max_threads()``
(``sklearn.utils._openmp_helpers._openmp_effective_n_threads``):

* the CPUs this process may use (``joblib.cpu_count()``: the CPUs it may
  be scheduled on, and a container's CPU quota);
* the thread-count variables a user exports, and that joblib's loky
  backend sets in every worker it starts (``cpu_count() // n_jobs``, or
  ``inner_max_num_threads`` of ``joblib.parallel_config``):
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``,
  ``BLIS_NUM_THREADS``, ``VECLIB_MAXIMUM_THREADS``, ``NUMBA_NUM_THREADS``,
  ``NUMEXPR_NUM_THREADS``;
* the OpenMP thread count in force (:func:`library_limit`), which is what
  ``threadpoolctl.threadpool_limits(limits=...)`` changes for the duration
  of a ``with`` block (and what joblib's workers start with).

The budget is the smallest of these. It is read at every parallel pass
(microseconds, against the milliseconds a split pass takes), so a
``with threadpool_limits(1):`` around a fit holds for that fit.
"""

from __future__ import annotations

import os

#: The variables that name a thread count, as joblib's loky backend sets them
#: in its workers (``joblib._parallel_backends.ParallelBackendBase``).
LIMIT_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def available_cores() -> int:
    """The number of CPUs this process may use (at least 1).

    joblib's ``cpu_count()`` where joblib is installed (as scikit-learn's
    OpenMP code uses it): it also counts a container's CPU quota (cgroups),
    not just the CPUs the process may be scheduled on.
    """
    try:
        from joblib import cpu_count
    except ImportError:  # scikit-learn requires joblib, but gdreg's kernels do not
        cpu_count = None
    if cpu_count is not None:
        return max(1, cpu_count())
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _variable_limit(value: str | None) -> int | None:
    """The thread count a variable names, or None for unset or unreadable values.

    ``OMP_NUM_THREADS`` may list one count per nesting level (``"4,2"``): the
    first is the outer one.
    """
    try:
        count = int((value or "").split(",")[0])
    except ValueError:
        return None
    return count if count >= 1 else None


def environment_limit() -> int | None:
    """The smallest thread count set by :data:`LIMIT_VARIABLES`, or None if none is set."""
    limits = [_variable_limit(os.environ.get(name)) for name in LIMIT_VARIABLES]
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


def library_limit() -> int | None:
    """The OpenMP thread count in force now (what ``threadpool_limits`` sets), or None.

    scikit-learn's own answer (``_openmp_effective_n_threads``: OpenMP's
    ``omp_get_max_threads()``, which ``threadpoolctl.threadpool_limits`` and
    joblib's workers lower, capped by the CPUs), asked every time for a few
    microseconds. Scanning every loaded library with a ``ThreadpoolController``
    instead cost about 17 ms, paid again whenever a module was imported: most
    of what a process's first fit cost more than its second. Like
    scikit-learn's OpenMP code, a limit set on BLAS alone
    (``threadpool_limits(..., user_api="blas")``) does not bind this pool.
    """
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # a scikit-learn that moved it: no library limit is known
        return None
    try:
        count = int(_openmp_effective_n_threads())
    except Exception:  # a build without OpenMP, or an unreadable answer: no limit
        return None
    return count if count >= 1 else None


def thread_budget() -> int:
    """How many threads a parallel pass of gdreg may keep busy now (at least 1).

    The smallest of the available cores, the thread-count environment
    variables and the thread counts of the loaded BLAS and OpenMP libraries
    (see the module's docstring for why these).

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> with threadpool_limits(limits=1):
    ...     thread_budget()
    1
    >>> 1 <= thread_budget() <= available_cores()
    True
    """
    budget = available_cores()
    for limit in (environment_limit(), library_limit()):
        if limit is not None:
            budget = min(budget, limit)
    return max(1, budget)
