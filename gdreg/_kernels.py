"""Compiled inner loops (numba), behind the same seam as the NumPy path.

Each epoch kernel runs one epoch of per-sample or mini-batch updates in place
on ``params`` and returns the epoch's running objective. They compute exactly
what :meth:`gdreg._objective.LeastSquares.batch_value_and_gradient` followed
by the optimizer's ``update`` computes, in a different summation order, so
the two paths agree to round-off (``tests/test_kernels.py``).

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

import functools
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.sparse as sp
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

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

#: Status codes returned by :func:`gram_descent`.
RUNNING, CONVERGED, DIVERGED = 0, 1, 2


# -- where the compiled kernels are cached -------------------------------------------
def _user_cache_dir() -> str | None:
    """The platform's per-user cache directory, or None where it cannot be named.

    ``$XDG_CACHE_HOME`` (if absolute) or ``~/.cache`` on Linux and other
    Unix-likes, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(base):  # unset, or relative (which the XDG spec says to ignore)
            base = os.path.join(os.path.expanduser("~"), ".cache")
    # without a home directory, expanduser leaves "~" and the path is relative:
    # never cache into the current directory
    return base if os.path.isabs(base) else None


def _writable_dir(path: str) -> bool:
    """Whether ``path`` is, or can be made, a directory this process can write in."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _cache_dir() -> str | None:
    """Where the compiled kernels are cached: see :data:`CACHE_DIR`."""
    if numba.config.CACHE_DIR:  # NUMBA_CACHE_DIR: the user's choice
        where = numba.config.CACHE_DIR
    else:
        base = _user_cache_dir()
        where = None if base is None else os.path.join(base, "gdreg", "numba")
    return where if where is not None and _writable_dir(where) else None


#: The directory the compiled kernels are cached in, chosen at import:
#: ``NUMBA_CACHE_DIR`` if set, else ``gdreg/numba`` under the user's cache
#: directory (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches``
#: on macOS, ``%LOCALAPPDATA%`` on Windows), never the installed package, so that
#: a read-only install works and ``pip uninstall`` leaves nothing inside
#: ``site-packages``. ``None`` when that directory cannot be written (a read-only
#: home, a service account without one): the kernels then compile in memory,
#: once per process, and nothing is written anywhere.
CACHE_DIR = _cache_dir()


def _cached(dispatcher):
    """Give a numba dispatcher an on-disk cache in :data:`CACHE_DIR`, if there is one.

    ``njit(cache=True)`` would cache next to the source file (inside
    ``site-packages``) and raise "no locator available" at import where
    neither that nor numba's own user cache directory is writable. numba puts
    the cache of a function in ``numba.config.CACHE_DIR`` when that is set, so
    it is set to :data:`CACHE_DIR` while this function's cache is created (at
    import, before anything is compiled) and restored at once.
    """
    if CACHE_DIR is None:
        return dispatcher
    saved = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = CACHE_DIR
    try:
        dispatcher.enable_caching()
    except (RuntimeError, OSError):
        pass  # the directory went away since import: compile in memory only
    finally:
        numba.config.CACHE_DIR = saved
    return dispatcher


def _jit(**options):
    """``numba.njit(**options)``, cached in :data:`CACHE_DIR` (see :func:`_cached`).

    With ``NUMBA_DISABLE_JIT=1`` this returns the Python function unchanged,
    as ``njit`` does.
    """

    def decorate(func):
        compiled = numba.njit(**options)(func)
        if isinstance(compiled, numba.core.dispatcher.Dispatcher):
            compiled = _cached(compiled)
        return compiled

    return decorate


# -- prefetch hint -------------------------------------------------------------------
@intrinsic
def _prefetch_line(typingctx, array, index):
    """Hint the CPU to load the cache line of ``array[index]`` (1-D, contiguous).

    Samples are visited in a random order, so the hardware prefetcher cannot
    guess the next row and each one is a cache miss; the kernels know the order
    in advance and ask for the row a few samples early. A prefetch never
    faults and never changes a result.
    """
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        # the intrinsic is mangled by pointer type: "p0" with opaque pointers
        name = "llvm.prefetch.p0" if str(byte_ptr) == "ptr" else "llvm.prefetch.p0i8"
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        address = builder.bitcast(builder.gep(ary.data, [args[1]]), byte_ptr)
        # read access, high temporal locality, data cache
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def _no_prefetch(array, index):
    """What :func:`_prefetch_line` does when the kernels run as Python: nothing.

    An intrinsic only exists in compiled code, and a prefetch is a hint that
    never changes a result.
    """


#: What the kernels call: the compiled hint, or nothing with NUMBA_DISABLE_JIT=1
#: (which numba reads at its import, as ``njit`` does when it decorates).
_prefetch = _no_prefetch if numba.config.DISABLE_JIT else _prefetch_line


#: Floating-point freedom given to LLVM in the epoch kernels: reassociation
#: (so that dot products and row sums vectorise with several accumulators) and
#: contraction into fused multiply-adds. Both change results by round-off only;
#: "nnan"/"ninf" are not given, so divergence (NaN, inf) is still seen.
_SUMS = {"reassoc", "contract"}


# -- single target, per sample -------------------------------------------------------
# The per-sample loops below are written out by hand, with no call to a helper
# that takes an array: numba adds a reference-count increment and decrement
# (atomic operations) around every such call, and at d = 10 those cost more
# than the arithmetic (200 ns a sample instead of 45).
@_jit(nogil=True, fastmath=_SUMS)
def _sgd_dense(
    flat,
    y,
    scale,
    x_off,
    y_off,
    alpha,
    learn_b,
    w,
    order,
    steps,
    rule,
    eta0,
    t0,
    t_first,
    eta,
    zero,
    prec,
):
    """Per-sample SGD, one target: ``w`` is the (d + 1,) column of ``theta``.

    ``prec`` is the diagonal preconditioner (ones, or ``1 / sigma^2`` for
    gradient descent in standardised coordinates).

    ``rule`` 0 reads the step of update ``p`` from ``steps[p]``; 1 and 2 compute
    it (constant ``eta0``, or ``eta0 / sqrt(1 + (t - 1) / t0)`` with ``t =
    t_first + p``) into ``eta``, a 1-element buffer of the parameters' dtype
    (which rounds it as a steps array of that dtype would).
    """
    d = x_off.shape[0]
    n = order.shape[0]
    total = 0.0
    eta[0] = eta0
    for p in range(n):
        ahead = p + _PREFETCH_AHEAD
        if ahead < n:
            k = order[ahead]
            for f in range(0, d, _LINE):
                _prefetch(flat, k * d + f)
            _prefetch(flat, k * d + d - 1)
            _prefetch(y, k)
            _prefetch(scale, k)
        i = order[p]
        base = i * d
        s = zero
        for f in range(d):
            s += (flat[base + f] - x_off[f]) * w[f]
        r = s + w[d] + y_off - y[i]
        si = scale[i]
        loss = 0.5 * si * r * r
        if alpha != 0.0:
            u = zero
            for f in range(d):
                u += w[f] * w[f]
            loss += 0.5 * alpha * u
        total += loss
        if rule == 0:
            eta[0] = steps[p]
        elif rule == 2:
            # InverseSqrt.__call__ operation by operation (no multiply-add to
            # contract, nothing to reassociate): bitwise the schedule's steps.
            # Written here, not in a helper: each njit function compiles on its
            # own, which the first fit of a fresh process pays for.
            value = float(t_first + p) - 1.0
            value = value / t0
            value = value + 1.0
            eta[0] = eta0 / np.sqrt(value)
        step = eta[0]
        g = si * r
        # one loop for both alpha = 0 and alpha > 0 (adding 0 * w changes no
        # finite value): a second copy of the loop cost a third of the compile time
        for f in range(d):
            w[f] -= step * prec[f] * (g * (flat[base + f] - x_off[f]) + alpha * w[f])
        if learn_b:
            w[d] -= step * g
    return total / n


# -- single target, mini-batch -------------------------------------------------------
@_jit(nogil=True, fastmath=_SUMS)
def _minibatch_dense(
    flat, y, scale, x_off, y_off, alpha, learn_b, w, order, steps, bsz, zero, grad, prec
):
    """Mini-batch GD, one target; centring is applied to the batch sum.

    ``grad`` is a (d,) buffer from the caller (no allocation in the kernel,
    which halves its compile time).
    """
    d = x_off.shape[0]
    n = order.shape[0]
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        shift = zero
        for f in range(d):
            shift += x_off[f] * w[f]
        shift = shift - w[d] - y_off
        for f in range(d):
            grad[f] = zero
        sr_sum = zero
        batch_loss = 0.0
        for p in range(start, stop):
            ahead = p + _PREFETCH_AHEAD
            if ahead < n:
                k = order[ahead]
                for f in range(0, d, _LINE):
                    _prefetch(flat, k * d + f)
                _prefetch(flat, k * d + d - 1)
                _prefetch(y, k)
                _prefetch(scale, k)
            i = order[p]
            base = i * d
            s = zero
            for f in range(d):
                s += flat[base + f] * w[f]
            r = s - shift - y[i]
            g = scale[i] * r
            batch_loss += 0.5 * g * r
            sr_sum += g
            for f in range(d):
                grad[f] += g * flat[base + f]
        if alpha != 0.0:
            u = zero
            for f in range(d):
                u += w[f] * w[f]
            batch_loss += 0.5 * alpha * u * size
        total += batch_loss
        eta = steps[bi]
        for f in range(d):
            w[f] -= eta * prec[f] * ((grad[f] - x_off[f] * sr_sum) / size + alpha * w[f])
        if learn_b:
            w[d] -= eta * (sr_sum / size)
    return total / n


# -- any number of targets (and CSR) -------------------------------------------------
@_jit(nogil=True)
def _plain_epoch_dense(X, Y, scale, x_off, y_off, alpha, learn_b, theta, order, steps, bsz, prec):
    n = order.shape[0]
    d = X.shape[1]
    k = Y.shape[1]
    grad = np.zeros((d + 1, k), dtype=theta.dtype)
    r = np.empty(k, dtype=theta.dtype)
    shift = np.empty(k, dtype=theta.dtype)
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for j in range(k):
            acc = 0.0
            for f in range(d):
                acc += x_off[f] * theta[f, j]
            shift[j] = acc - theta[d, j] - y_off[j]
        grad[:, :] = 0.0
        batch_loss = 0.0
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                acc = 0.0
                for f in range(d):
                    acc += X[i, f] * theta[f, j]
                r[j] = acc - shift[j] - Y[i, j]
                batch_loss += 0.5 * si * r[j] * r[j]
            for f in range(d):
                xc = si * (X[i, f] - x_off[f])
                for j in range(k):
                    grad[f, j] += xc * r[j]
            for j in range(k):
                grad[d, j] += si * r[j]
        penalty = 0.0
        if alpha != 0.0:
            for f in range(d):
                for j in range(k):
                    penalty += theta[f, j] * theta[f, j]
        total += batch_loss + 0.5 * alpha * penalty * size
        eta = steps[bi]
        for f in range(d):
            for j in range(k):
                theta[f, j] -= eta * prec[f] * (grad[f, j] / size + alpha * theta[f, j])
        if learn_b:
            for j in range(k):
                theta[d, j] -= eta * (grad[d, j] / size)
    return total / n


@_jit(nogil=True)
def _plain_epoch_csr(
    data, indices, indptr, Y, scale, x_off, y_off, alpha, learn_b, theta, order, steps, bsz, prec
):
    n = order.shape[0]
    d = x_off.shape[0]
    k = Y.shape[1]
    grad = np.zeros((d + 1, k), dtype=theta.dtype)
    r = np.empty(k, dtype=theta.dtype)
    shift = np.empty(k, dtype=theta.dtype)
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for j in range(k):
            acc = 0.0
            for f in range(d):
                acc += x_off[f] * theta[f, j]
            shift[j] = acc - theta[d, j] - y_off[j]
        grad[:, :] = 0.0
        batch_loss = 0.0
        sr_sum = np.zeros(k)
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                acc = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    acc += data[q] * theta[indices[q], j]
                r[j] = acc - shift[j] - Y[i, j]
                batch_loss += 0.5 * si * r[j] * r[j]
                sr_sum[j] += si * r[j]
            for q in range(indptr[i], indptr[i + 1]):
                xq = si * data[q]
                f = indices[q]
                for j in range(k):
                    grad[f, j] += xq * r[j]
        # the centred row is the sparse row minus x_off: its dense part is applied
        # once per batch (sum of s_i r_i times x_off), keeping the pass O(nnz)
        for f in range(d):
            for j in range(k):
                grad[f, j] -= x_off[f] * sr_sum[j]
        for j in range(k):
            grad[d, j] = sr_sum[j]
        penalty = 0.0
        if alpha != 0.0:
            for f in range(d):
                for j in range(k):
                    penalty += theta[f, j] * theta[f, j]
        total += batch_loss + 0.5 * alpha * penalty * size
        eta = steps[bi]
        for f in range(d):
            for j in range(k):
                theta[f, j] -= eta * prec[f] * (grad[f, j] / size + alpha * theta[f, j])
        if learn_b:
            for j in range(k):
                theta[d, j] -= eta * (grad[d, j] / size)
    return total / n


def plain_epoch(data, theta, order, steps, batch_size) -> float:
    """One epoch of plain SGD / mini-batch GD on ``theta`` (updated in place).

    Parameters
    ----------
    data : StochasticData
        Arrays from :meth:`LeastSquares.stochastic_data`.
    theta : ndarray of shape (n_features + 1, n_targets)
        Parameters, C-contiguous; updated in place.
    order : ndarray of int64
        Sample visiting order (one epoch: every sample once).
    steps : ndarray or EpochSteps
        Step size of each update of the epoch (an
        :class:`gdreg._loop.EpochSteps` of a built-in schedule is evaluated
        inside the per-sample kernel, never materialised).
    batch_size : int
        Samples per update (1 for per-sample SGD).

    Returns
    -------
    float
        Mean over the epoch of the objective on each batch before its update.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> X, y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    >>> ls = LeastSquares(X, y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> theta = np.zeros((2, 1))
    >>> loss = plain_epoch(ls.stochastic_data(), theta, np.arange(3), np.full(3, 0.1), 1)
    >>> theta[:, 0].round(4)  # w: 0.2, then 0.92, then 1.892
    array([1.892, 0.   ])
    """
    scale = getattr(data, "column_scale", None)
    if scale is None:
        prec = np.ones(data.x_offset.shape[0], dtype=theta.dtype)
        return _plain_epoch_w(data, theta, order, steps, batch_size, prec)
    # theta holds u = sigma * w: the kernels update w with the preconditioner
    # 1 / sigma^2, which is exactly gradient descent in u (O(d) conversions)
    d = data.x_offset.shape[0]
    scale = scale.astype(theta.dtype, copy=False)[:, None]
    w_theta = theta.copy()
    w_theta[:d] /= scale
    loss = _plain_epoch_w(data, w_theta, order, steps, batch_size, (1.0 / scale[:, 0]) ** 2)
    theta[:d] = w_theta[:d] * scale
    theta[d] = w_theta[d]
    return loss


def _plain_epoch_w(data, theta, order, steps, batch_size, prec) -> float:
    X = data.X
    dtype = theta.dtype
    alpha = dtype.type(data.alpha)
    prec = np.ascontiguousarray(prec, dtype=dtype)
    rule = getattr(steps, "rule", None)  # an EpochSteps the kernel can evaluate itself
    zero = dtype.type(0)
    if not sp.issparse(X) and theta.shape[1] == 1 and X.flags.c_contiguous:
        # one target: 1-D views (no copies) so that the update loops vectorise
        w = theta[:, 0]
        y = data.Y[:, 0]
        y_off = dtype.type(data.y_offset[0])
        flat = X.reshape(-1)  # a view: X is C-contiguous
        args = (flat, y, data.scale, data.x_offset, y_off, alpha, data.learn_intercept, w)
        args = (*args, order)
        if batch_size == 1:
            kind, eta0, t0 = rule if rule is not None else (0, 0.0, 1.0)
            values = np.ascontiguousarray(steps, dtype=dtype) if rule is None else flat[:0]
            first = getattr(steps, "t_first", 1)
            eta = np.zeros(1, dtype=dtype)
            return float(_sgd_dense(*args, values, kind, eta0, t0, first, eta, zero, prec))
        steps = np.ascontiguousarray(steps, dtype=dtype)
        grad = np.empty(X.shape[1], dtype=dtype)
        return float(_minibatch_dense(*args, steps, batch_size, zero, grad, prec))
    steps = np.ascontiguousarray(steps, dtype=dtype)
    if sp.issparse(X):
        return float(
            _plain_epoch_csr(
                X.data,
                X.indices,
                X.indptr,
                data.Y,
                data.scale,
                data.x_offset,
                data.y_offset,
                alpha,
                data.learn_intercept,
                theta,
                order,
                steps,
                batch_size,
                prec,
            )
        )
    return float(
        _plain_epoch_dense(
            X,
            data.Y,
            data.scale,
            data.x_offset,
            data.y_offset,
            alpha,
            data.learn_intercept,
            theta,
            order,
            steps,
            batch_size,
            prec,
        )
    )


# -- averaged SGD ---------------------------------------------------------------------
@_jit(nogil=True, fastmath=_SUMS)
def _asgd_dense(
    flat, y, scale, x_off, y_off, alpha, learn_b, w, avg, order, steps, count0, start, prec
):
    """Per-sample SGD with a running average of the iterates, one target, C-ordered X.

    The update of ``w`` is :func:`_sgd_dense`'s; after it, update ``count0 + p + 1``
    sets ``avg = w`` while it is at most ``start`` and ``avg += (w - avg) / (count -
    start)`` afterwards (:class:`~gdreg.optimizers.AveragedSGD`). Returns the
    epoch's running objective (before each update), as the plain kernel does.
    """
    d = x_off.shape[0]
    n = order.shape[0]
    total = 0.0
    for p in range(n):
        ahead = p + _PREFETCH_AHEAD
        if ahead < n:
            k = order[ahead]
            for f in range(0, d, _LINE):
                _prefetch(flat, k * d + f)
            _prefetch(flat, k * d + d - 1)
            _prefetch(y, k)
            _prefetch(scale, k)
        i = order[p]
        base = i * d
        s = 0.0
        for f in range(d):
            s += (flat[base + f] - x_off[f]) * w[f]
        r = s + w[d] + y_off - y[i]
        si = scale[i]
        loss = 0.5 * si * r * r
        if alpha != 0.0:
            u = 0.0
            for f in range(d):
                u += w[f] * w[f]
            loss += 0.5 * alpha * u
        total += loss
        step = steps[p]
        g = si * r
        for f in range(d):
            w[f] -= step * prec[f] * (g * (flat[base + f] - x_off[f]) + alpha * w[f])
        if learn_b:
            w[d] -= step * g
        count = count0 + p + 1
        if count <= start:
            for f in range(d + 1):
                avg[f] = w[f]
        else:
            weight = 1.0 / (count - start)
            for f in range(d + 1):
                avg[f] += (w[f] - avg[f]) * weight
    return total / n


def averaged_epoch(data, theta, average, order, steps, count0: int, start: int) -> float | None:
    """One per-sample epoch of :class:`~gdreg.optimizers.AveragedSGD`, in place.

    ``theta`` and ``average`` (shape ``(n_features + 1, 1)``) are updated in
    the objective's coordinates; ``count0`` updates were made before. Returns
    the epoch's running objective, or None for data the kernel does not take
    (sparse, several targets, non-C-ordered X: the NumPy path runs them).

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> X, Y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    >>> ls = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> theta, average = np.zeros((2, 1)), np.zeros((2, 1))
    >>> _ = averaged_epoch(ls.stochastic_data(), theta, average, np.arange(3),
    ...                    np.full(3, 0.1), 0, 0)
    >>> theta[0, 0].round(4), average[0, 0].round(4)  # iterates 0.2, 0.92, 1.892
    (np.float64(1.892), np.float64(1.004))
    """
    X = data.X
    if sp.issparse(X) or theta.shape[1] != 1 or not X.flags.c_contiguous:
        return None
    d = data.x_offset.shape[0]
    dtype = theta.dtype
    scale = getattr(data, "column_scale", None)
    factor = np.ones((d, 1), dtype=dtype) if scale is None else scale.astype(dtype)[:, None]
    w = theta.copy()
    avg = average.copy()
    w[:d] /= factor
    avg[:d] /= factor
    loss = _asgd_dense(
        X.reshape(-1),
        data.Y[:, 0],
        data.scale,
        data.x_offset,
        dtype.type(data.y_offset[0]),
        dtype.type(data.alpha),
        data.learn_intercept,
        w[:, 0],
        avg[:, 0],
        order,
        np.ascontiguousarray(steps, dtype=dtype),
        int(count0),
        int(start),
        np.ascontiguousarray(1.0 / factor[:, 0] ** 2, dtype=dtype),
    )
    theta[:d] = w[:d] * factor
    theta[d] = w[d]
    average[:d] = avg[:d] * factor
    average[d] = avg[d]
    return float(loss)


# -- variance-reduced epochs (SVRG) ----------------------------------------------------
@_jit(nogil=True)
def _svrg_epoch_dense(X, Y, scale, x_off, alpha, theta, snap, mu, order, steps, bsz, prec, acc):
    """One SVRG epoch in the user's coordinates ``w``, preconditioned by ``prec``.

    Each batch B makes ``theta -= eta * prec * (g_B(theta) - g_B(snap) + mu)``
    with ``g_B`` the batch mean of the gradient (the penalty's part
    ``alpha * theta`` included) and ``mu`` the full gradient at ``snap``; the
    residual difference
    ``r_i(theta) - r_i(snap)`` is ``(x_i - x_off) . (theta - snap)``, so
    neither ``y`` nor the intercept enters. ``acc`` is a (d, k) buffer.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    k = Y.shape[1]
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for f in range(d):
            for j in range(k):
                acc[f, j] = 0.0
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                diff = 0.0
                for f in range(d):
                    diff += (X[i, f] - x_off[f]) * (theta[f, j] - snap[f, j])
                g = si * diff
                for f in range(d):
                    acc[f, j] += g * (X[i, f] - x_off[f])
        eta = steps[bi]
        for f in range(d):
            for j in range(k):
                moved = theta[f, j] - snap[f, j]
                theta[f, j] -= eta * prec[f] * (acc[f, j] / size + mu[f, j] + alpha * moved)


@_jit(nogil=True, fastmath=_SUMS)
def _svrg_dense_1d(flat, scale, x_off, alpha, w, snap, mu, order, steps, bsz, prec, acc):
    """:func:`_svrg_epoch_dense` for one target on C-ordered X, written out on 1-D views.

    As fast as the plain per-sample kernel: one pass over the row forms the
    residual difference, one applies the update. ``acc`` is a (2 d,) buffer
    for batches > 1 (the batch sum, then ``theta - snap``).
    """
    d = x_off.shape[0]
    n = order.shape[0]
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        eta = steps[bi]
        if size == 1:
            ahead = start + _PREFETCH_AHEAD
            if ahead < n:
                k = order[ahead]
                for f in range(0, d, _LINE):
                    _prefetch(flat, k * d + f)
                _prefetch(flat, k * d + d - 1)
                _prefetch(scale, k)
            i = order[start]
            base = i * d
            diff = 0.0
            for f in range(d):
                diff += (flat[base + f] - x_off[f]) * (w[f] - snap[f])
            g = scale[i] * diff
            for f in range(d):
                grad = g * (flat[base + f] - x_off[f]) + mu[f] + alpha * (w[f] - snap[f])
                w[f] -= eta * prec[f] * grad
            continue
        # a batch: theta - snap is fixed within it, and the centring is applied once
        shift = 0.0
        for f in range(d):
            acc[d + f] = w[f] - snap[f]
            acc[f] = 0.0
            shift += x_off[f] * acc[d + f]
        g_sum = 0.0
        for p in range(start, stop):
            ahead = p + _PREFETCH_AHEAD
            if ahead < n:
                k = order[ahead]
                for f in range(0, d, _LINE):
                    _prefetch(flat, k * d + f)
                _prefetch(flat, k * d + d - 1)
            i = order[p]
            base = i * d
            diff = 0.0
            for f in range(d):
                diff += flat[base + f] * acc[d + f]
            g = scale[i] * (diff - shift)
            g_sum += g
            for f in range(d):
                acc[f] += g * flat[base + f]
        for f in range(d):
            grad = (acc[f] - x_off[f] * g_sum) / size + mu[f] + alpha * acc[d + f]
            w[f] -= eta * prec[f] * grad


@_jit(nogil=True)
def _svrg_epoch_csr(
    data, indices, indptr, scale, x_off, alpha, theta, snap, mu, order, steps, bsz, prec, acc
):
    """:func:`_svrg_epoch_dense` for CSR rows; the centring is applied per batch."""
    n = order.shape[0]
    d = x_off.shape[0]
    k = theta.shape[1]
    sg = np.zeros(k)
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for f in range(d):
            for j in range(k):
                acc[f, j] = 0.0
        for j in range(k):
            sg[j] = 0.0
        for j in range(k):
            shift = 0.0
            for f in range(d):
                shift += x_off[f] * (theta[f, j] - snap[f, j])
            for p in range(start, stop):
                i = order[p]
                diff = -shift
                for q in range(indptr[i], indptr[i + 1]):
                    f = indices[q]
                    diff += data[q] * (theta[f, j] - snap[f, j])
                g = scale[i] * diff
                sg[j] += g
                for q in range(indptr[i], indptr[i + 1]):
                    acc[indices[q], j] += g * data[q]
        eta = steps[bi]
        for f in range(d):
            for j in range(k):
                moved = theta[f, j] - snap[f, j]
                grad = (acc[f, j] - x_off[f] * sg[j]) / size + mu[f, j] + alpha * moved
                theta[f, j] -= eta * prec[f] * grad


def svrg_epoch(data, theta, snap, mu, order, steps, batch_size) -> None:
    """One epoch of SVRG on ``theta`` (updated in place), in ``data``'s coordinates.

    ``snap`` is the anchor point and ``mu`` the full gradient of the
    objective there, both in the same coordinates as ``theta`` (standardised when
    ``data.column_scale`` is set). The intercept row does not move (SVRG is
    used with the intercept eliminated by centring).

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> X, Y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    >>> ls = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> theta = np.zeros((2, 1)); snap = theta.copy()
    >>> mu = ls.value_and_gradient(snap)[1][:1]  # -28 / 3
    >>> svrg_epoch(ls.stochastic_data(), theta, snap, mu, np.arange(3), np.full(1, 0.1), 3)
    >>> theta[:, 0].round(4)
    array([0.9333, 0.    ])
    """
    d = data.x_offset.shape[0]
    dtype = theta.dtype
    scale = getattr(data, "column_scale", None)
    if scale is None:
        factor = np.ones((d, 1), dtype=dtype)
    else:
        factor = scale.astype(dtype, copy=False)[:, None]
    # the kernels work in w = u / sigma with the preconditioner 1 / sigma^2
    w = np.ascontiguousarray(theta[:d] / factor)
    w_snap = np.ascontiguousarray(snap[:d] / factor)
    mu_w = np.ascontiguousarray(mu[:d] * factor)
    prec = np.ascontiguousarray(1.0 / factor[:, 0] ** 2, dtype=dtype)
    steps = np.ascontiguousarray(steps, dtype=dtype)
    acc = np.empty_like(w)
    alpha = dtype.type(data.alpha)
    X = data.X
    if sp.issparse(X):
        args = (X.data, X.indices, X.indptr, data.scale, data.x_offset, alpha)
        _svrg_epoch_csr(*args, w, w_snap, mu_w, order, steps, batch_size, prec, acc)
    elif w.shape[1] == 1 and X.flags.c_contiguous:
        flat = X.reshape(-1)  # a view
        args = (flat, data.scale, data.x_offset, alpha, w[:, 0], w_snap[:, 0], mu_w[:, 0])
        _svrg_dense_1d(*args, order, steps, batch_size, prec, np.empty(2 * d, dtype=dtype))
    else:
        args = (X, data.Y, data.scale, data.x_offset, alpha)
        _svrg_epoch_dense(*args, w, w_snap, mu_w, order, steps, batch_size, prec, acc)
    theta[:d] = w * factor


# -- full batch on the sufficient statistics -----------------------------------------
@_jit(nogil=True)
def _gram_descent(
    gram_t,
    xty,
    yty_sum,
    alpha,
    theta,
    steps,
    inv_spread,
    bound_factor,
    tol,
    limit,
    losses,
    changes,
    gw,
):
    # One njit function that allocates nothing and calls no other njit function:
    # each of those compiles on its own, and the first fit of a process pays for
    # it. gw is a (d, k) buffer from the caller.
    d, k = xty.shape
    epochs = steps.shape[0]
    for e in range(epochs + 1):
        # gw = G @ theta[:d], a sum of scaled rows of G^T (unit stride, vectorises)
        for f in range(d):
            for j in range(k):
                gw[f, j] = 0.0
        for f2 in range(d):
            for j in range(k):
                wf = theta[f2, j]
                for f in range(d):
                    gw[f, j] += gram_t[f2, f] * wf
        if e > 0:
            # J = (yty - 2 w.q + w.Gw) / 2 + alpha |w|^2 / 2, as GramLeastSquares computes it
            cross = 0.0
            quad = 0.0
            norm = 0.0
            for f in range(d):
                for j in range(k):
                    cross += theta[f, j] * xty[f, j]
                    quad += theta[f, j] * gw[f, j]
                    norm += theta[f, j] * theta[f, j]
            value = 0.5 * (yty_sum - 2.0 * cross + quad) + 0.5 * alpha * norm
            # the error bound of gdreg._accuracy.error_bound at the new theta
            change = 0.0
            for j in range(k):
                sq = 0.0
                for f in range(d):
                    g = (gw[f, j] - xty[f, j] + alpha * theta[f, j]) * inv_spread[f]
                    sq += g * g
                if sq > 0.0:
                    change = max(change, np.sqrt(sq) * bound_factor[j])
            losses[e - 1] = value
            changes[e - 1] = change
            if not (np.isfinite(value) and np.isfinite(norm) and value <= limit):
                return e, DIVERGED
            if tol >= 0.0 and change <= tol:
                return e, CONVERGED
        if e == epochs:
            break
        eta = steps[e]
        for j in range(k):
            for f in range(d):
                # the update GradientDescent makes: theta + (-eta * grad)
                theta[f, j] = theta[f, j] + (-eta * (gw[f, j] - xty[f, j] + alpha * theta[f, j]))
    return epochs, RUNNING


def gram_descent(objective, theta, steps, *, certificate, tol, limit):
    """Full-batch gradient descent epochs on the sufficient statistics, in one call.

    Makes, for each step ``eta`` in ``steps``, the update ``theta -= eta *
    grad J(theta)`` that :class:`~gdreg.optimizers.GradientDescent` makes on
    :class:`~gdreg._objective.GramLeastSquares` (in the user's coordinates),
    and evaluates the loop's error bound and divergence test after each
    one, stopping at the first epoch that meets either.

    Parameters
    ----------
    objective : GramLeastSquares
        Sufficient statistics (``gram``, ``xty``, ``yty``) and ``alpha``.
    theta : ndarray of shape (n_features + 1, n_targets)
        Parameters, C-contiguous; updated in place (the intercept row stays).
    steps : ndarray
        Step size of each epoch to run at most.
    certificate : Certificate or None
        The pieces of the error bound (:mod:`gdreg._accuracy`); None with
        ``tol=None`` (the bound is then not evaluated: NaN).
    tol : float or None
        Stopping tolerance on the bound; ``None`` never stops early.
    limit : float
        Objective values above this mean divergence.

    Returns
    -------
    epochs : int
        Epochs run (the last one is the one that stopped the run, if any).
    status : int
        ``RUNNING`` (steps exhausted), ``CONVERGED`` or ``DIVERGED``.
    losses, changes : ndarray of shape (epochs,)
        Objective after each epoch and the error bound after each epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._accuracy import certificate
    >>> from gdreg._objective import GramLeastSquares
    >>> X = np.array([[0.0], [1.0], [2.0]]); Y = np.array([[1.0], [3.0], [5.0]])
    >>> obj = GramLeastSquares(X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0))
    >>> theta = np.zeros((2, 1))
    >>> epochs, status, losses, changes = gram_descent(
    ...     obj, theta, np.full(100, 1.0), certificate=certificate(obj, obj.yty),
    ...     tol=1e-12, limit=1e10)
    >>> status == CONVERGED, round(float(theta[0, 0]), 8)
    (True, 2.0)
    """
    dtype = theta.dtype
    d, k = objective.xty.shape
    losses = np.empty(len(steps))
    changes = np.empty(len(steps))
    if certificate is None:
        inv_spread = np.zeros(d)
        factor = np.full(k, np.nan)
    else:
        inv_spread = 1.0 / certificate.column_scale
        mu = certificate.curvature
        with np.errstate(divide="ignore"):
            factor = np.full(k, np.inf) if mu <= 0 else 1.0 / (mu * certificate.target_scale)
    epochs, status = _gram_descent(
        np.ascontiguousarray(objective.gram.T, dtype=dtype),
        np.ascontiguousarray(objective.xty, dtype=dtype),
        float(np.sum(objective.yty)),
        dtype.type(objective.alpha),
        theta,
        np.ascontiguousarray(steps, dtype=dtype),
        np.ascontiguousarray(inv_spread, dtype=np.float64),
        np.ascontiguousarray(factor, dtype=np.float64),
        -1.0 if tol is None else float(tol),
        float(limit),
        losses,
        changes,
        np.empty(objective.xty.shape, dtype=dtype),
    )
    return int(epochs), int(status), losses[:epochs], changes[:epochs]


# -- the visiting order of an epoch ----------------------------------------------------
#: From this many samples on, the order of an epoch is shuffled in compiled code
#: (:func:`shuffled_order`) rather than by ``RandomState.permutation``: below it
#: the permutation costs under a millisecond, less than compiling the shuffle
#: (a third of a second, once per installation) is worth to a first fit.
SHUFFLE_MIN_SAMPLES = 1 << 16


@_jit(nogil=True)
def _shuffle(seed, out):
    """Fisher-Yates over ``out`` (filled with 0..n-1), driven by splitmix64."""
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    state = np.uint64(seed)
    golden = np.uint64(0x9E3779B97F4A7C15)
    mix1 = np.uint64(0xBF58476D1CE4E5B9)
    mix2 = np.uint64(0x94D049BB133111EB)
    low32 = np.uint64(0xFFFFFFFF)
    for i in range(n - 1, 0, -1):
        state = state + golden
        z = state
        z = (z ^ (z >> np.uint64(30))) * mix1
        z = (z ^ (z >> np.uint64(27))) * mix2
        z = z ^ (z >> np.uint64(31))
        # j = floor(z * (i + 1) / 2**64) in [0, i], exact in 64-bit pieces (i < 2**32)
        bound = np.uint64(i + 1)
        high = (z >> np.uint64(32)) * bound + (((z & low32) * bound) >> np.uint64(32))
        j = np.int64(high >> np.uint64(32))
        swap = out[i]
        out[i] = out[j]
        out[j] = swap


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
        _shuffle(seed, order)
    return order


# -- one-pass summaries of X ---------------------------------------------------------
#: A one-pass summary of an X with at least this many entries is computed as
#: _ROW_PARTS blocks of rows on up to that many threads (the kernels release the
#: GIL). One thread does not saturate the memory bandwidth: on 2 cores, a
#: 1,000,000 x 100 pass takes 0.065 s instead of 0.12 s.
SPLIT_MIN_SIZE = 4_000_000
#: Entries per row of the vector loop below which the column summary of an
#: unweighted X treats several consecutive rows as one.
_WIDE = 64
#: Blocks per split pass: fixed, so that the partial sums are added in the
#: same order whatever the number of cores (bitwise reproducible results).
_ROW_PARTS = 4


@functools.cache
def _pool() -> ThreadPoolExecutor:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ThreadPoolExecutor(max_workers=max(1, min(_ROW_PARTS, cores or 1)))


def map_row_parts(func, n_rows: int, X) -> list:
    """``[func(rows) for rows in blocks]``: one block, or ``_ROW_PARTS`` on threads.

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
    return list(_pool().map(func, blocks))


def worth_compiling(n_entries: int, threshold: int | None = None) -> bool:
    """Whether a pass over this many entries should use a compiled helper."""
    return ENABLED and n_entries >= (COMPILED_MIN_SIZE if threshold is None else threshold)


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


@_jit(nogil=True, fastmath=_SUMS)
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
