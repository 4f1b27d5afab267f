"""Plain SGD / mini-batch gradient descent epochs: dense (1 and k targets) and CSR."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gdreg import _loss
from gdreg._kernels._compile import (
    _LINE,
    _PREFETCH_AHEAD,
    _SUMS,
    _batch_penalty,
    _jit,
    _prefetch,
    _shrink,
    loss_arguments,
)
from gdreg._kernels._sparse import _prefetch_ahead, plain_csr_epoch


# -- single target, per sample -------------------------------------------------------
# The per-sample loops below are written out by hand, with no call to a helper
# that takes an array: numba adds a reference-count increment and decrement
# (atomic operations) around every such call, and at d = 10 those cost more
# than the arithmetic (200 ns a sample instead of 45).
@_jit(nogil=True, fastmath=_SUMS, _nrt=False)
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
    kind,
    epsilon,
    l1,
):
    """Per-sample SGD, one target: ``w`` is the (d + 1,) column of ``theta``.

    ``prec`` is the diagonal preconditioner (ones, or ``1 / sigma^2`` for
    gradient descent in standardised coordinates).

    ``kind``, ``epsilon`` and ``l1`` come from
    :func:`gdreg._kernels._compile.loss_arguments`: all None for the squared
    loss alone (numba compiles that case without the code below that tests
    them), else the loss (:func:`gdreg._loss.residual_value`) and the l1
    strength. ``l1 > 0`` soft-thresholds every coefficient after each update
    by ``eta * l1 * prec``: in ``w`` the threshold ``eta * l1 / sigma`` of
    ``u = sigma * w`` is ``eta * l1 / sigma^2``.

    ``rule`` 0 reads the step of update ``p`` from ``steps[p]``; 1 and 2 compute
    it (constant ``eta0``, or ``eta0 / sqrt(1 + (t - 1) / t0)`` with ``t =
    t_first + p``) into ``eta``, a 1-element buffer of the parameters' dtype
    (which rounds it as a steps array of that dtype would).
    """
    d = x_off.shape[0]
    n = order.shape[0]
    total = 0.0
    eta[0] = eta0
    # |w|_1, the l1 part of the objective, is summed as the threshold is applied:
    # one pass over w a sample for the l1 part, not two
    w1 = zero
    if l1 is not None and l1 != 0.0:
        for f in range(d):
            w1 += abs(w[f])
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
        if kind is None:
            loss = 0.5 * si * r * r
            g = si * r
        else:
            loss = si * _loss.residual_value(kind, epsilon, r)
            # in the parameters' dtype, as NumPy's derivative of float32 residuals
            g = si * w.dtype.type(_loss.residual_derivative(kind, epsilon, r))
        if alpha != 0.0:
            u = zero
            for f in range(d):
                u += w[f] * w[f]
            loss += 0.5 * alpha * u
        if l1 is not None:
            loss += l1 * w1
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
        # one loop for both alpha = 0 and alpha > 0 (adding 0 * w changes no
        # finite value): a second copy of the loop cost a third of the compile time
        for f in range(d):
            w[f] -= step * prec[f] * (g * (flat[base + f] - x_off[f]) + alpha * w[f])
        if l1 is not None and l1 != 0.0:
            w1 = zero
            for f in range(d):
                shrunk = _shrink(w[f], step * l1 * prec[f])
                w[f] = shrunk
                w1 += abs(shrunk)
        if learn_b:
            w[d] -= step * g
    return total / n


# -- single target, mini-batch -------------------------------------------------------
@_jit(nogil=True, fastmath=_SUMS, _nrt=False)
def _minibatch_dense(
    flat, y, scale, x_off, y_off, alpha, learn_b, w, order, steps, bsz, zero, grad, prec,
    kind, epsilon, l1,
):  # fmt: skip
    """Mini-batch GD, one target; centring is applied to the batch sum.

    ``grad`` is a (d,) buffer from the caller (no allocation in the kernel,
    which halves its compile time). The loss and the l1 part as in
    :func:`_sgd_dense`.
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
            if kind is None:
                g = scale[i] * r
                batch_loss += 0.5 * g * r
            else:
                g = scale[i] * w.dtype.type(_loss.residual_derivative(kind, epsilon, r))
                batch_loss += scale[i] * _loss.residual_value(kind, epsilon, r)
            sr_sum += g
            for f in range(d):
                grad[f] += g * flat[base + f]
        if alpha != 0.0:
            u = zero
            for f in range(d):
                u += w[f] * w[f]
            batch_loss += 0.5 * alpha * u * size
        if l1 is not None and l1 != 0.0:
            u = zero
            for f in range(d):
                u += abs(w[f])
            batch_loss += l1 * u * size
        total += batch_loss
        eta = steps[bi]
        for f in range(d):
            w[f] -= eta * prec[f] * ((grad[f] - x_off[f] * sr_sum) / size + alpha * w[f])
        if l1 is not None and l1 != 0.0:
            for f in range(d):
                w[f] = _shrink(w[f], eta * l1 * prec[f])
        if learn_b:
            w[d] -= eta * (sr_sum / size)
    return total / n


# -- any number of targets (and CSR) -------------------------------------------------
@_jit(nogil=True)
def _plain_epoch_dense(
    X, Y, scale, x_off, y_off, alpha, learn_b, theta, order, steps, bsz, prec, kind, epsilon, l1
):
    """Plain SGD / mini-batch epoch, any targets, any layout of X; the loss and l1 as
    :func:`_sgd_dense`."""
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
                if kind is None:
                    batch_loss += 0.5 * si * r[j] * r[j]
                else:  # r becomes the loss's derivative (cast to the dtype as it is stored)
                    batch_loss += si * _loss.residual_value(kind, epsilon, r[j])
                    r[j] = _loss.residual_derivative(kind, epsilon, r[j])
            for f in range(d):
                xc = si * (X[i, f] - x_off[f])
                for j in range(k):
                    grad[f, j] += xc * r[j]
            for j in range(k):
                grad[d, j] += si * r[j]
        total += batch_loss + _batch_penalty(theta, d, k, alpha, l1, size)
        _plain_step(theta, grad, prec, d, k, alpha, l1, learn_b, steps[bi], size)
    return total / n


@_jit(inline="always", nogil=True)
def _plain_step(theta, grad, prec, d, k, alpha, l1, learn_b, eta, size):
    """One batch's step of the any-target kernels: the mean gradient ``grad / size``
    plus the l2 part, then the l1 part's soft-threshold (``l1`` None: none)."""
    for f in range(d):
        for j in range(k):
            theta[f, j] -= eta * prec[f] * (grad[f, j] / size + alpha * theta[f, j])
    if l1 is not None and l1 != 0.0:
        for f in range(d):
            for j in range(k):
                theta[f, j] = _shrink(theta[f, j], eta * l1 * prec[f])
    if learn_b:
        for j in range(k):
            theta[d, j] -= eta * (grad[d, j] / size)


@_jit(nogil=True)
def _plain_epoch_csr(
    data, indices, indptr, Y, scale, x_off, y_off, alpha, learn_b, theta, order, steps, bsz, prec,
    kind, epsilon, l1,
):  # fmt: skip
    """Plain SGD / mini-batch epoch on CSR rows at O(d) an update, any targets.

    The loss and the l1 part as :func:`_sgd_dense`.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    k = Y.shape[1]
    grad = np.zeros((d + 1, k), dtype=theta.dtype)
    r = np.empty(k, dtype=theta.dtype)
    shift = np.empty(k, dtype=theta.dtype)
    sr_sum = np.zeros(k)
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
        sr_sum[:] = 0.0
        batch_loss = 0.0
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                acc = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    acc += data[q] * theta[indices[q], j]
                r[j] = acc - shift[j] - Y[i, j]
                if kind is None:
                    batch_loss += 0.5 * si * r[j] * r[j]
                else:
                    batch_loss += si * _loss.residual_value(kind, epsilon, r[j])
                    r[j] = _loss.residual_derivative(kind, epsilon, r[j])
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
        total += batch_loss + _batch_penalty(theta, d, k, alpha, l1, size)
        _plain_step(theta, grad, prec, d, k, alpha, l1, learn_b, steps[bi], size)
    return total / n


@_jit(nogil=True, fastmath=_SUMS)
def _plain_csr_1d(
    data, indices, indptr, y, scale, x_off, y_off, alpha, learn_b, w, order, steps, bsz, prec,
    kind, epsilon, l1, acc,
):  # fmt: skip
    """Plain SGD / mini-batch epoch on CSR rows, one target, O(d) an update (``w`` (d + 1,)).

    For the l1 penalty, whose soft-threshold after every update moves every
    coefficient (the centring term ``x_off * sum g`` makes each one change at
    every update, so no lazy form of the thresholds is exact). The batch's
    ``sum_i g_i x_i`` is scattered into ``acc`` (a (d,) float64 buffer of
    zeros, cleared again at the batch's non-zeros), then one pass over the
    coefficients applies the update and the threshold and sums, for the next
    batch, ``x_off . w``, ``|w|^2`` and ``|w|_1``. The loss and the l1 part
    as :func:`_sgd_dense`.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    mw = 0.0
    ww = 0.0
    w1 = 0.0
    for f in range(d):
        mw += x_off[f] * w[f]
        ww += w[f] * w[f]
        w1 += abs(w[f])
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        shift = mw - w[d] - y_off
        batch_loss = 0.0
        g_sum = 0.0
        for p in range(start, stop):
            _prefetch_ahead(order, p, n, data, indices, indptr, scale, y, 1)
            i = order[p]
            xw = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                xw += data[q] * w[indices[q]]
            r = xw - shift - y[i]
            si = scale[i]
            g = si * _loss.residual_derivative(kind, epsilon, r)
            batch_loss += si * _loss.residual_value(kind, epsilon, r)
            g_sum += g
            for q in range(indptr[i], indptr[i + 1]):
                acc[indices[q]] += g * data[q]
        total += batch_loss + (0.5 * alpha * ww + l1 * w1) * size
        eta = steps[bi]
        mw = 0.0
        ww = 0.0
        w1 = 0.0
        for f in range(d):
            grad = (acc[f] - x_off[f] * g_sum) / size + alpha * w[f]
            shrunk = _shrink(w[f] - eta * prec[f] * grad, eta * l1 * prec[f])
            w[f] = shrunk
            mw += x_off[f] * shrunk
            ww += shrunk * shrunk
            w1 += abs(shrunk)
        for p in range(start, stop):
            i = order[p]
            for q in range(indptr[i], indptr[i + 1]):
                acc[indices[q]] = 0.0
        if learn_b:
            w[d] -= eta * (g_sum / size)
    return total / n


def plain_epoch(data, theta, order, steps, batch_size) -> float:
    """One epoch of plain SGD / mini-batch GD on ``theta`` (updated in place).

    The loss is ``data.loss_kind`` (with ``data.epsilon``); ``data.l1 > 0``
    soft-thresholds the coefficients after each update (proximal SGD). On
    CSR X an update costs O(non-zeros) without an l1 part, O(d) with one.

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
    # None for the squared loss alone (its own specialisation), else runtime numbers
    loss = loss_arguments(data)
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
            return float(_sgd_dense(*args, values, kind, eta0, t0, first, eta, zero, prec, *loss))
        steps = np.ascontiguousarray(steps, dtype=dtype)
        grad = np.empty(X.shape[1], dtype=dtype)
        return float(_minibatch_dense(*args, steps, batch_size, zero, grad, prec, *loss))
    steps = np.ascontiguousarray(steps, dtype=dtype)
    if sp.issparse(X):
        return _plain_csr(data, theta, order, steps, batch_size, prec, loss)
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
            *loss,
        )
    )


def _plain_csr(data, theta, order, steps, batch_size, prec, loss) -> float:
    """The CSR branch of :func:`_plain_epoch_w`: lazy O(non-zeros) where it applies."""
    X = data.X
    if not data.l1:
        # O(non-zeros) an update with lazy coefficients; None where the L2 decay
        # differs per coordinate, which keeps the O(d) kernel below
        done = plain_csr_epoch(data, theta, order, steps, batch_size, prec)
        if done is not None:
            return done
    elif theta.shape[1] == 1:
        # the l1 threshold moves every coefficient at every update: O(d), in one pass
        w = np.ascontiguousarray(theta[:, 0])
        y = np.ascontiguousarray(data.Y[:, 0])
        args = (X.data, X.indices, X.indptr, y, data.scale, data.x_offset)
        args = (*args, float(data.y_offset[0]), float(data.alpha), bool(data.learn_intercept))
        acc = np.zeros(X.shape[1])
        value = _plain_csr_1d(*args, w, order, steps, batch_size, prec, *loss, acc)
        theta[:, 0] = w
        return float(value)
    alpha = theta.dtype.type(data.alpha)
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
            *loss,
        )
    )
