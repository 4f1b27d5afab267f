"""Variance-reduced (SVRG) epochs: dense and CSR."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gdreg._kernels._compile import _LINE, _PREFETCH_AHEAD, _SUMS, _jit, _prefetch
from gdreg._kernels._sparse import svrg_csr_epoch


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
        # O(non-zeros) an update with lazy coefficients, except where the L2 decay
        # differs per coordinate (then the O(d) kernel)
        if not svrg_csr_epoch(data, w, w_snap, mu_w, order, steps, batch_size, prec):
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
