"""Variance-reduced (SVRG) epochs: dense and CSR.

Each batch B makes ``theta -= eta * prec * (g_B(theta) - g_B(snap) + mu)``,
``g_B`` the batch mean of the gradient and ``mu`` the full gradient at the
anchor ``snap``. For the squared loss with the intercept eliminated by
centring, ``g_i(theta) - g_i(snap)`` is ``s_i`` times the residual difference
``(x_i - x_off) . (theta - snap)``: one dot product, in which neither ``y``
nor the intercept enters. Any other case (a loss ``kind`` other than the
squared one, see :func:`gdreg._loss.residual_value`, or a learned intercept)
needs the loss's derivative at both residuals, ``s_i (l'(r_i(theta)) -
l'(r_i(snap)))``: two dot products in the same pass over the row. ``l1 > 0``
soft-thresholds the coefficients after each update (prox-SVRG). The kernels
take ``kind``, ``epsilon`` and ``l1`` from
:func:`gdreg._kernels._compile.loss_arguments`: None for the first case,
which numba compiles on its own (the residual difference alone), numbers
for the others.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gdreg._kernels._compile import (
    _LINE,
    _PREFETCH_AHEAD,
    _SUMS,
    _jit,
    _prefetch,
    _shrink,
    loss_arguments,
)
from gdreg._kernels._sparse import _derivative_change, _prefetch_ahead, svrg_csr_epoch


# -- variance-reduced epochs (SVRG) ----------------------------------------------------
@_jit(nogil=True)
def _svrg_epoch_dense(
    X, Y, scale, x_off, y_off, alpha, learn_b, theta, snap, mu, order, steps, bsz, prec, acc,
    kind, epsilon, l1,
):  # fmt: skip
    """One SVRG epoch in the user's coordinates ``w``, preconditioned by ``prec``.

    ``theta``, ``snap`` and ``mu`` are (d + 1, k): coefficients and the
    intercept row, which moves where ``learn_b``. The gradient's penalty part
    is ``alpha * (theta - snap)`` plus the one in ``mu``; ``acc`` is a
    (d + 1, k) buffer (module docstring for the rest).
    """
    n = order.shape[0]
    d = x_off.shape[0]
    k = Y.shape[1]
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for f in range(d + 1):
            for j in range(k):
                acc[f, j] = 0.0
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                if kind is not None:
                    at_w = 0.0
                    at_snap = 0.0
                    for f in range(d):
                        centred = X[i, f] - x_off[f]
                        at_w += centred * theta[f, j]
                        at_snap += centred * snap[f, j]
                    at_w += theta[d, j] + y_off[j] - Y[i, j]
                    at_snap += snap[d, j] + y_off[j] - Y[i, j]
                    g = si * _derivative_change(kind, epsilon, at_w, at_snap)
                else:
                    diff = 0.0
                    for f in range(d):
                        diff += (X[i, f] - x_off[f]) * (theta[f, j] - snap[f, j])
                    g = si * diff
                for f in range(d):
                    acc[f, j] += g * (X[i, f] - x_off[f])
                acc[d, j] += g
        eta = steps[bi]
        for f in range(d):
            for j in range(k):
                moved = theta[f, j] - snap[f, j]
                theta[f, j] -= eta * prec[f] * (acc[f, j] / size + mu[f, j] + alpha * moved)
        if l1 is not None and l1 != 0.0:
            for f in range(d):
                for j in range(k):
                    theta[f, j] = _shrink(theta[f, j], eta * l1 * prec[f])
        if kind is not None and learn_b:
            for j in range(k):
                theta[d, j] -= eta * (acc[d, j] / size + mu[d, j])


@_jit(nogil=True, fastmath=_SUMS)
def _svrg_dense_1d(
    flat, y, scale, x_off, y_off, alpha, learn_b, w, snap, mu, order, steps, bsz, prec, acc,
    kind, epsilon, l1,
):  # fmt: skip
    """:func:`_svrg_epoch_dense` for one target on C-ordered X, written out on 1-D views.

    As fast as the plain per-sample kernel: one pass over the row forms the
    residual difference (or, in the general case, both residuals), one
    applies the update. ``w``, ``snap`` and ``mu`` are (d + 1,); ``acc`` is a
    (2 d,) buffer for batches > 1 (the batch sum, then ``theta - snap``).
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
                if kind is not None:
                    _prefetch(y, k)
            i = order[start]
            base = i * d
            if kind is not None:
                at_w = 0.0
                at_snap = 0.0
                for f in range(d):
                    centred = flat[base + f] - x_off[f]
                    at_w += centred * w[f]
                    at_snap += centred * snap[f]
                at_w += w[d] + y_off - y[i]
                at_snap += snap[d] + y_off - y[i]
                g = scale[i] * _derivative_change(kind, epsilon, at_w, at_snap)
            else:
                diff = 0.0
                for f in range(d):
                    diff += (flat[base + f] - x_off[f]) * (w[f] - snap[f])
                g = scale[i] * diff
            for f in range(d):
                grad = g * (flat[base + f] - x_off[f]) + mu[f] + alpha * (w[f] - snap[f])
                w[f] -= eta * prec[f] * grad
            if l1 is not None and l1 != 0.0:
                for f in range(d):
                    w[f] = _shrink(w[f], eta * l1 * prec[f])
            if kind is not None and learn_b:
                w[d] -= eta * (g + mu[d])
            continue
        # a batch: theta - snap is fixed within it, and the centring is applied once
        shift = 0.0
        for f in range(d):
            acc[d + f] = w[f] - snap[f]
            acc[f] = 0.0
            shift += x_off[f] * acc[d + f]
        snap_shift = 0.0
        if kind is not None:  # both residuals: each point's own centring shift
            shift = 0.0
            for f in range(d):
                shift += x_off[f] * w[f]
                snap_shift += x_off[f] * snap[f]
            shift = shift - w[d] - y_off
            snap_shift = snap_shift - snap[d] - y_off
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
            if kind is not None:
                at_w = 0.0
                at_snap = 0.0
                for f in range(d):
                    at_w += flat[base + f] * w[f]
                    at_snap += flat[base + f] * snap[f]
                at_w = at_w - shift - y[i]
                at_snap = at_snap - snap_shift - y[i]
                g = scale[i] * _derivative_change(kind, epsilon, at_w, at_snap)
            else:
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
        if l1 is not None and l1 != 0.0:
            for f in range(d):
                w[f] = _shrink(w[f], eta * l1 * prec[f])
        if kind is not None and learn_b:
            w[d] -= eta * (g_sum / size + mu[d])


@_jit(nogil=True)
def _svrg_epoch_csr(
    data, indices, indptr, Y, scale, x_off, y_off, alpha, learn_b, theta, snap, mu, order, steps,
    bsz, prec, acc, kind, epsilon, l1,
):  # fmt: skip
    """:func:`_svrg_epoch_dense` for CSR rows at O(d) an update; the centring is applied
    per batch."""
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
            snap_shift = 0.0
            if kind is not None:
                for f in range(d):
                    shift += x_off[f] * theta[f, j]
                    snap_shift += x_off[f] * snap[f, j]
                shift = shift - theta[d, j] - y_off[j]
                snap_shift = snap_shift - snap[d, j] - y_off[j]
            else:
                for f in range(d):
                    shift += x_off[f] * (theta[f, j] - snap[f, j])
            for p in range(start, stop):
                i = order[p]
                if kind is not None:
                    at_w = -shift - Y[i, j]
                    at_snap = -snap_shift - Y[i, j]
                    for q in range(indptr[i], indptr[i + 1]):
                        f = indices[q]
                        at_w += data[q] * theta[f, j]
                        at_snap += data[q] * snap[f, j]
                    g = scale[i] * _derivative_change(kind, epsilon, at_w, at_snap)
                else:
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
        if l1 is not None and l1 != 0.0:
            for f in range(d):
                for j in range(k):
                    theta[f, j] = _shrink(theta[f, j], eta * l1 * prec[f])
        if kind is not None and learn_b:
            for j in range(k):
                theta[d, j] -= eta * (sg[j] / size + mu[d, j])


@_jit(nogil=True, fastmath=_SUMS)
def _svrg_csr_1d(
    data, indices, indptr, y, scale, x_off, y_off, alpha, learn_b, w, snap, mu, order, steps,
    bsz, prec, kind, epsilon, l1, acc,
):  # fmt: skip
    """:func:`_svrg_epoch_csr` for one target with an l1 part: O(d) an update, in one pass.

    As :func:`gdreg._kernels._plain._plain_csr_1d`: the batch's ``sum_i g_i
    x_i`` is scattered into ``acc`` (a (d,) float64 buffer of zeros, cleared
    again at the batch's non-zeros), then one pass over the coefficients
    applies the update and the threshold and sums ``x_off . w`` for the next
    batch's residuals. ``w``, ``snap`` and ``mu`` are (d + 1,).
    """
    n = order.shape[0]
    d = x_off.shape[0]
    mw = 0.0
    ms = 0.0
    for f in range(d):
        mw += x_off[f] * w[f]
        ms += x_off[f] * snap[f]
    snap_shift = ms - snap[d] - y_off
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        shift = mw - w[d] - y_off
        g_sum = 0.0
        for p in range(start, stop):
            _prefetch_ahead(order, p, n, data, indices, indptr, scale, y, 1)
            i = order[p]
            xw = 0.0
            xs = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                xw += data[q] * w[f]
                xs += data[q] * snap[f]
            at_w = xw - shift - y[i]
            at_snap = xs - snap_shift - y[i]
            g = scale[i] * _derivative_change(kind, epsilon, at_w, at_snap)
            g_sum += g
            for q in range(indptr[i], indptr[i + 1]):
                acc[indices[q]] += g * data[q]
        eta = steps[bi]
        mw = 0.0
        for f in range(d):
            grad = (acc[f] - x_off[f] * g_sum) / size + mu[f] + alpha * (w[f] - snap[f])
            shrunk = _shrink(w[f] - eta * prec[f] * grad, eta * l1 * prec[f])
            w[f] = shrunk
            mw += x_off[f] * shrunk
        for p in range(start, stop):
            i = order[p]
            for q in range(indptr[i], indptr[i + 1]):
                acc[indices[q]] = 0.0
        if learn_b:
            w[d] -= eta * (g_sum / size + mu[d])


def svrg_epoch(data, theta, snap, mu, order, steps, batch_size) -> None:
    """One epoch of SVRG on ``theta`` (updated in place), in ``data``'s coordinates.

    ``snap`` is the anchor point and ``mu`` the full gradient of the
    objective there, both in the same coordinates as ``theta`` (standardised when
    ``data.column_scale`` is set). The intercept row moves where
    ``data.learn_intercept`` (by the batch's gradient difference plus
    ``mu``'s intercept row); otherwise it is fixed (the intercept eliminated
    by centring). The loss is ``data.loss_kind``; ``data.l1 > 0`` applies the
    l1 penalty's soft-threshold after each update (prox-SVRG).

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> X, Y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    >>> ls = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> theta = np.zeros((2, 1)); snap = theta.copy()
    >>> mu = ls.value_and_gradient(snap)[1]  # -28 / 3, and 0 for the intercept
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
    # the kernels work in w = u / sigma with the preconditioner 1 / sigma^2 (the
    # intercept row is the same in both coordinates)
    w = np.array(theta, dtype=dtype, order="C", copy=True)
    w[:d] /= factor
    w_snap = np.array(snap, dtype=dtype, order="C", copy=True)
    w_snap[:d] /= factor
    mu_w = np.array(mu, dtype=dtype, order="C", copy=True)
    mu_w[:d] *= factor
    prec = np.ascontiguousarray(1.0 / factor[:, 0] ** 2, dtype=dtype)
    steps = np.ascontiguousarray(steps, dtype=dtype)
    alpha = dtype.type(data.alpha)
    learn_b = bool(data.learn_intercept)
    # None for the squared loss with the intercept eliminated and no l1 part: the
    # residual difference alone, its own specialisation (loss_arguments)
    loss = loss_arguments(data, general=learn_b)
    X = data.X
    if sp.issparse(X):
        # O(non-zeros) an update with lazy coefficients, except where every
        # coefficient moves at every update (an L2 decay that differs per
        # coordinate, or the l1 threshold): then the O(d) kernel
        if data.l1 and w.shape[1] == 1:
            # the l1 threshold moves every coefficient at every update: O(d), in one pass
            args = (X.data, X.indices, X.indptr, np.ascontiguousarray(data.Y[:, 0]), data.scale)
            args = (*args, data.x_offset, float(data.y_offset[0]), float(alpha), learn_b)
            args = (*args, w[:, 0], w_snap[:, 0], mu_w[:, 0], order, steps, batch_size, prec)
            _svrg_csr_1d(*args, *loss, np.zeros(d))
        elif not svrg_csr_epoch(data, w, w_snap, mu_w, order, steps, batch_size, prec):
            args = (X.data, X.indices, X.indptr, data.Y, data.scale, data.x_offset)
            args = (*args, data.y_offset, alpha, learn_b, w, w_snap, mu_w, order, steps)
            _svrg_epoch_csr(*args, batch_size, prec, np.empty_like(w), *loss)
    elif w.shape[1] == 1 and X.flags.c_contiguous:
        flat = X.reshape(-1)  # a view
        args = (flat, data.Y[:, 0], data.scale, data.x_offset, dtype.type(data.y_offset[0]))
        args = (*args, alpha, learn_b, w[:, 0], w_snap[:, 0], mu_w[:, 0], order, steps)
        _svrg_dense_1d(*args, batch_size, prec, np.empty(2 * d, dtype=dtype), *loss)
    else:
        args = (X, data.Y, data.scale, data.x_offset, data.y_offset, alpha, learn_b)
        args = (*args, w, w_snap, mu_w, order, steps, batch_size, prec, np.empty_like(w))
        _svrg_epoch_dense(*args, *loss)
    theta[:d] = w[:d] * factor
    theta[d] = w[d]
