r"""Per-sample and mini-batch epochs on CSR rows at O(non-zeros) an update.

A centred update touches every coefficient: with the offsets ``m`` (the
weighted column means) and the diagonal preconditioner ``p``,

.. math::

    w \leftarrow (1 - \eta \alpha p) \odot w
        - \frac{\eta}{|B|} \sum_{i \in B} g_i \, p \odot x_i
        + \frac{\eta}{|B|} \Big(\sum_{i \in B} g_i\Big) \, p \odot m ,

with ``g_i = s_i r_i``. Only the middle term is sparse; the last one is a
multiple of the fixed dense vector ``a = p * m``, and where ``p`` is uniform
the decay is one scalar. As in scikit-learn's ``_plain_sgd`` (whose
``WeightVector`` keeps ``w = wscale * v``), the kernels here hold the
coefficients lazily,

.. math:: w = \sigma \, (v + \beta a) ,

and keep ``m . v`` up to date as ``v`` changes, so that a residual needs only
the row's non-zeros:
``x_i . w - m . w = sigma (x_i . v - m . v + beta (x_i . a - m . a))``
(``m . a`` is a constant). When ``sigma`` gets tiny (a long run of decays),
it is folded into ``v`` (O(d), rarely). SVRG adds one more lazy direction,
the constant ``c = p * mu`` of the anchor's full gradient ``mu``:
``w - snap = sigma (v + beta a + gamma c)``. ``w`` is written out at the end
of the epoch.

Where the preconditioner is *not* uniform (standardised coordinates,
``p = 1 / sd^2``) *and* ``alpha > 0``, the decay differs per coordinate and
cannot be one scalar: the dispatchers return None / False there and the
caller runs the O(d)-an-update kernels of :mod:`gdreg._kernels._plain` and
:mod:`gdreg._kernels._svrg` (``alpha`` is 0 by default). So do they with an
l1 part: its soft-threshold after every update moves every coefficient
(the centring term ``p * m`` changes each one at every update, so whether
it is thresholded to zero depends on its value then), and no lazy form of
it is exact.

The loss only changes ``g_i``: ``s_i`` times its derivative at the residual
(``kind`` and ``epsilon``, see :func:`gdreg._loss.residual_value`; None for
the squared loss, whose specialisation is that of the code above, see
:func:`gdreg._kernels._compile.loss_arguments`). SVRG with another loss, or
with a learned intercept, needs the residual at the anchor too:
``x_i . snap`` is one more sparse dot product, and the residual at ``w`` is
that plus the lazy difference.

One target (the common case) runs 1-D copies of the kernels on the column of
the parameters, with scalars where the general kernels keep k-arrays
(``_sgd_csr_lazy_1d``, ``_minibatch_csr_lazy_1d``, ``_svrg_csr_lazy_1d``).

Results agree with those kernels and with the NumPy path up to round-off: the
lazy form adds in a different order. Columns that
:class:`gdreg._objective.LeastSquares` knows are constant (their gradient is
set to zero there) get round-off here, as in the O(d) CSR kernels, unless
they are stored as zeros.
"""

from __future__ import annotations

import numpy as np

from gdreg import _loss
from gdreg._kernels._compile import _PREFETCH_AHEAD, _jit, _prefetch, loss_arguments

#: When the decay factor ``sigma`` falls below this (in absolute value), it is
#: folded into ``v`` (scikit-learn rescales its ``wscale`` at the same bound):
#: ``v`` grows as ``1 / sigma`` and would lose the small updates otherwise.
_RESCALE = 1e-9


@_jit(nogil=True)
def _derivative_change(kind, epsilon, at_w, at_snap):
    """``l'(at_w) - l'(at_snap)``: an SVRG update's change of the loss's derivative.

    Compiled once as a function of scalars, which LLVM inlines into each
    SVRG kernel that calls it (no array argument: no reference counting);
    inlining the loss's scalar derivative by numba at each of a kernel's call
    sites instead cost a fifth of a second more to compile the dense kernel.
    """
    return _loss.residual_derivative(kind, epsilon, at_w) - _loss.residual_derivative(
        kind, epsilon, at_snap
    )


@_jit(inline="always")
def _prefetch_ahead(order, p, n, data, indices, indptr, scale, y, k):
    """Ask for the rows a few samples ahead of sample ``p`` of ``order``.

    Samples come in a random order, so each row is a cache miss that the
    hardware prefetcher cannot guess. Two stages: the row's extent (``indptr``)
    ``2 * _PREFETCH_AHEAD`` samples ahead, then its entries ``_PREFETCH_AHEAD``
    ahead, when that extent has arrived (and the sample's weight and, for
    ``k > 0``, its ``k`` targets in the C-ordered ``y``). Inlined: a call that
    takes arrays would pay reference counting per sample.
    """
    far = p + 2 * _PREFETCH_AHEAD
    if far < n:
        _prefetch(indptr, order[far])
    near = p + _PREFETCH_AHEAD
    if near < n:
        i = order[near]
        lo = indptr[i]
        hi = indptr[i + 1]
        if hi > lo:
            _prefetch(data, lo)
            _prefetch(data, hi - 1)
            _prefetch(indices, lo)
            _prefetch(indices, hi - 1)
        _prefetch(scale, i)
        if k:
            _prefetch(y, i * k)


@_jit(nogil=True)
def _plain_csr_lazy(
    data,
    indices,
    indptr,
    Y,
    scale,
    x_off,
    y_off,
    alpha,
    decay,
    learn_b,
    theta,
    order,
    steps,
    bsz,
    prec,
    a,
    work,
    gbuf,
    y_line,
    kind,
    epsilon,
):
    """Plain SGD / mini-batch epoch on CSR rows with lazy coefficients (in place).

    ``theta`` (d + 1, k) holds ``w`` in and out and ``v`` in between; ``a`` is
    ``prec * x_off``; ``decay`` is ``alpha * p`` for the uniform
    preconditioner ``p`` (0 without a penalty). ``work`` is a (5, k) float64
    buffer (rows: ``beta``, ``m . v``, ``v . v``, ``v . a``, the row's
    ``x . v``) and ``gbuf`` a (bsz, k) float64 buffer (the batch's
    ``s_i r_i``); ``y_line`` is ``k`` where ``Y`` is C-ordered (sample ``i``'s
    targets start at flat index ``i k``, which is prefetched), else 0.
    ``kind`` and ``epsilon`` are the loss (:func:`gdreg._loss.residual_value`):
    only ``g_i``, the derivative of the loss at the residual, depends on it.
    Returns the mean of the batch objectives before each update.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    k = theta.shape[1]
    beta = work[0]
    mv = work[1]
    vv = work[2]
    va = work[3]
    xv = work[4]
    # |w|^2 is only needed for the penalty's share of the running objective
    track = alpha != 0.0
    ma = 0.0
    aa = 0.0
    for f in range(d):
        ma += x_off[f] * a[f]
        aa += a[f] * a[f]
    for j in range(k):
        beta[j] = 0.0
        mv[j] = 0.0
        vv[j] = 0.0
        va[j] = 0.0
    for f in range(d):
        for j in range(k):
            mv[j] += x_off[f] * theta[f, j]
            vv[j] += theta[f, j] * theta[f, j]
            va[j] += a[f] * theta[f, j]
    sigma = 1.0
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        batch_loss = 0.0
        # residuals of the whole batch at the current w, before any update
        for p in range(start, stop):
            _prefetch_ahead(order, p, n, data, indices, indptr, scale, Y, y_line)
            i = order[p]
            xa = 0.0
            for j in range(k):
                xv[j] = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                xq = data[q]
                xa += xq * a[f]
                for j in range(k):
                    xv[j] += xq * theta[f, j]
            si = scale[i]
            for j in range(k):
                r = sigma * ((xv[j] - mv[j]) + beta[j] * (xa - ma)) + theta[d, j] + y_off[j]
                r -= Y[i, j]
                if kind is None:
                    g = si * r
                    batch_loss += 0.5 * g * r
                else:
                    g = si * _loss.residual_derivative(kind, epsilon, r)
                    batch_loss += si * _loss.residual_value(kind, epsilon, r)
                gbuf[p - start, j] = g
        if track:
            penalty = 0.0
            for j in range(k):
                penalty += vv[j] + 2.0 * beta[j] * va[j] + beta[j] * beta[j] * aa
            batch_loss += 0.5 * alpha * penalty * sigma * sigma * size
        total += batch_loss
        eta = steps[bi]
        sigma = sigma * (1.0 - eta * decay)
        if abs(sigma) < _RESCALE:
            # fold the scale into v (O(d), once in many updates); sigma = 0 (a
            # step of exactly 1 / decay) leaves w = 0 before the data's part
            for j in range(k):
                mv[j] = 0.0
                vv[j] = 0.0
                va[j] = 0.0
            for f in range(d):
                for j in range(k):
                    value = sigma * (theta[f, j] + beta[j] * a[f])
                    theta[f, j] = value
                    mv[j] += x_off[f] * value
                    vv[j] += value * value
                    va[j] += a[f] * value
            for j in range(k):
                beta[j] = 0.0
            sigma = 1.0
        coef = eta / (size * sigma)
        for p in range(start, stop):
            i = order[p]
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                u = coef * prec[f] * data[q]
                for j in range(k):
                    old = theta[f, j]
                    delta = -gbuf[p - start, j] * u
                    theta[f, j] = old + delta
                    mv[j] += x_off[f] * delta
                    if track:
                        vv[j] += delta * (old + old + delta)
                        va[j] += a[f] * delta
        for j in range(k):
            g_sum = 0.0
            for p in range(size):
                g_sum += gbuf[p, j]
            beta[j] += coef * g_sum
            if learn_b:
                theta[d, j] -= eta * (g_sum / size)
    for f in range(d):
        for j in range(k):
            theta[f, j] = sigma * (theta[f, j] + beta[j] * a[f])
    return total / n


@_jit(nogil=True)
def _svrg_csr_lazy(
    data, indices, indptr, Y, scale, x_off, y_off, decay, learn_b, w, snap, order, steps, bsz,
    prec, a, c, mu_b, work, gbuf, y_line, kind, epsilon,
):  # fmt: skip
    """SVRG epoch on CSR rows with lazy coefficients (``w`` (d + 1, k) in place).

    Each batch makes ``w -= eta * prec * (g_B(w) - g_B(snap) + mu + alpha (w
    - snap))``; ``c`` is ``prec * mu`` (the coefficient rows of the anchor's
    full gradient ``mu``), ``a`` is ``prec * x_off`` and ``decay`` ``alpha *
    p`` (uniform ``p``). The coefficient rows of ``w - snap`` are held as
    ``sigma (v + beta a + gamma c)`` with ``v`` in ``w``. ``work`` is an (8, k)
    float64 buffer (``beta``, ``gamma``, ``m . v``, the row's ``x . v`` and
    ``x . c``, ``m . c``, the row's ``x . snap``, ``m . snap``), ``gbuf`` a
    (bsz, k) float64 buffer.

    For the squared loss with the intercept eliminated, ``g_i(w) - g_i(snap)``
    is ``s_i`` times the residual difference, ``x_i . (w - snap)`` centred (one
    lazy dot product). For another loss (``kind``, ``epsilon``: see
    :func:`gdreg._loss.residual_value`), or a learned intercept (row ``d``,
    moved by the batch's mean ``g`` plus ``mu_b``, the intercept row of
    ``mu``), it is ``s_i (l'(r_i(w)) - l'(r_i(snap)))``: the residual at the
    anchor needs the row's ``x . snap`` as well, and the one at ``w`` is that
    plus the difference.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    k = w.shape[1]
    beta = work[0]
    gamma = work[1]
    mv = work[2]
    xv = work[3]
    xc = work[4]
    mc = work[5]
    xs = work[6]
    ms = work[7]
    ma = 0.0
    for f in range(d):
        ma += x_off[f] * a[f]
    for j in range(k):
        beta[j] = 0.0
        gamma[j] = 0.0
        mv[j] = 0.0
        mc[j] = 0.0
        ms[j] = 0.0
    for f in range(d):
        for j in range(k):
            ms[j] += x_off[f] * snap[f, j]
            w[f, j] -= snap[f, j]
            mv[j] += x_off[f] * w[f, j]
            mc[j] += x_off[f] * c[f, j]
    sigma = 1.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for p in range(start, stop):
            if kind is None:  # the squared loss's specialisation reads no target
                _prefetch_ahead(order, p, n, data, indices, indptr, scale, scale, 0)
            else:
                _prefetch_ahead(order, p, n, data, indices, indptr, scale, Y, y_line)
            i = order[p]
            xa = 0.0
            for j in range(k):
                xv[j] = 0.0
                xc[j] = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                xq = data[q]
                xa += xq * a[f]
                for j in range(k):
                    xv[j] += xq * w[f, j]
                    xc[j] += xq * c[f, j]
            if kind is not None:
                for j in range(k):
                    xs[j] = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    f = indices[q]
                    for j in range(k):
                        xs[j] += data[q] * snap[f, j]
            for j in range(k):
                diff = (xv[j] - mv[j]) + beta[j] * (xa - ma) + gamma[j] * (xc[j] - mc[j])
                if kind is not None:
                    at_snap = xs[j] + (snap[d, j] + y_off[j] - ms[j]) - Y[i, j]
                    at_w = at_snap + sigma * diff + (w[d, j] - snap[d, j])
                    g = _derivative_change(kind, epsilon, at_w, at_snap)
                    gbuf[p - start, j] = scale[i] * g
                else:
                    gbuf[p - start, j] = scale[i] * sigma * diff
        eta = steps[bi]
        sigma = sigma * (1.0 - eta * decay)
        if abs(sigma) < _RESCALE:
            for j in range(k):
                mv[j] = 0.0
            for f in range(d):
                for j in range(k):
                    value = sigma * (w[f, j] + beta[j] * a[f] + gamma[j] * c[f, j])
                    w[f, j] = value
                    mv[j] += x_off[f] * value
            for j in range(k):
                beta[j] = 0.0
                gamma[j] = 0.0
            sigma = 1.0
        coef = eta / (size * sigma)
        for p in range(start, stop):
            i = order[p]
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                u = coef * prec[f] * data[q]
                for j in range(k):
                    delta = -gbuf[p - start, j] * u
                    w[f, j] += delta
                    mv[j] += x_off[f] * delta
        for j in range(k):
            g_sum = 0.0
            for p in range(size):
                g_sum += gbuf[p, j]
            beta[j] += coef * g_sum
            gamma[j] -= eta / sigma
            if kind is not None and learn_b:
                w[d, j] -= eta * (g_sum / size + mu_b[j])
    for f in range(d):
        for j in range(k):
            w[f, j] = snap[f, j] + sigma * (w[f, j] + beta[j] * a[f] + gamma[j] * c[f, j])


# -- one target: 1-D views, scalars instead of k-arrays -----------------------------
# The kernels above loop over the k targets inside every non-zero and keep their
# running sums in small arrays; with one target (the common case) that loop and
# those loads and stores cost a third of the epoch. These copies of them hold
# ``beta``, ``m . v``, ... in registers. The mini-batch and SVRG ones add in the
# same order as the general kernels (the results agree to the last bit); the
# per-sample one updates ``m . v`` in one step a sample (round-off apart).


@_jit(nogil=True)
def _sgd_csr_lazy_1d(
    data, indices, indptr, y, scale, x_off, y_off, alpha, decay, learn_b, w, order, steps, prec, a,
    kind, epsilon,
):  # fmt: skip
    """Plain per-sample SGD epoch on CSR rows, one target (``w`` (d + 1,) in place).

    :func:`_plain_csr_lazy` with ``k = 1`` and ``bsz = 1``: ``y`` is the
    contiguous (n,) target, ``y_off`` a scalar, ``w`` holds the coefficients
    and the intercept. The gradient of a sample is applied as soon as it is
    formed (no batch buffer), and ``m . v`` follows it through the row's
    ``x . a``. Returns the mean objective before each update.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    track = alpha != 0.0
    ma = 0.0
    aa = 0.0
    for f in range(d):
        ma += x_off[f] * a[f]
        aa += a[f] * a[f]
    mv = 0.0
    vv = 0.0
    va = 0.0
    for f in range(d):
        mv += x_off[f] * w[f]
        vv += w[f] * w[f]
        va += a[f] * w[f]
    beta = 0.0
    sigma = 1.0
    total = 0.0
    for p in range(n):
        _prefetch_ahead(order, p, n, data, indices, indptr, scale, y, 1)
        i = order[p]
        lo = indptr[i]
        hi = indptr[i + 1]
        xa = 0.0
        xv = 0.0
        for q in range(lo, hi):
            f = indices[q]
            xq = data[q]
            xa += xq * a[f]
            xv += xq * w[f]
        r = sigma * ((xv - mv) + beta * (xa - ma)) + w[d] + y_off
        r -= y[i]
        if kind is None:
            g = scale[i] * r
            loss = 0.5 * g * r
        else:
            g = scale[i] * _loss.residual_derivative(kind, epsilon, r)
            loss = scale[i] * _loss.residual_value(kind, epsilon, r)
        if track:
            loss += 0.5 * alpha * (vv + 2.0 * beta * va + beta * beta * aa) * sigma * sigma
        total += loss
        eta = steps[p]
        sigma = sigma * (1.0 - eta * decay)
        if abs(sigma) < _RESCALE:
            # fold the scale into v, as in _plain_csr_lazy
            mv = 0.0
            vv = 0.0
            va = 0.0
            for f in range(d):
                value = sigma * (w[f] + beta * a[f])
                w[f] = value
                mv += x_off[f] * value
                vv += value * value
                va += a[f] * value
            beta = 0.0
            sigma = 1.0
        coef = eta / sigma
        for q in range(lo, hi):
            f = indices[q]
            old = w[f]
            delta = -g * (coef * prec[f] * data[q])
            w[f] = old + delta
            if track:
                vv += delta * (old + old + delta)
                va += a[f] * delta
        # m . delta = -g coef sum_q x_off[f] prec[f] x_q = -g coef (x . a): no
        # load of x_off[f] a non-zero (sklearn's update loads w[f] only)
        mv -= g * coef * xa
        beta += coef * g
        if learn_b:
            w[d] -= eta * g
    for f in range(d):
        w[f] = sigma * (w[f] + beta * a[f])
    return total / n


@_jit(nogil=True)
def _minibatch_csr_lazy_1d(
    data,
    indices,
    indptr,
    y,
    scale,
    x_off,
    y_off,
    alpha,
    decay,
    learn_b,
    w,
    order,
    steps,
    bsz,
    prec,
    a,
    gbuf,
    kind,
    epsilon,
):
    """Plain mini-batch epoch on CSR rows, one target (``w`` (d + 1,) in place).

    :func:`_plain_csr_lazy` with ``k = 1``: ``y`` is the contiguous (n,)
    target, ``y_off`` a scalar and ``gbuf`` a (bsz,) float64 buffer (the
    batch's ``s_i r_i``). Returns the mean of the batch objectives before each
    update.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    track = alpha != 0.0
    ma = 0.0
    aa = 0.0
    for f in range(d):
        ma += x_off[f] * a[f]
        aa += a[f] * a[f]
    mv = 0.0
    vv = 0.0
    va = 0.0
    for f in range(d):
        mv += x_off[f] * w[f]
        vv += w[f] * w[f]
        va += a[f] * w[f]
    beta = 0.0
    sigma = 1.0
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        batch_loss = 0.0
        # residuals of the whole batch at the current w, before any update
        for p in range(start, stop):
            _prefetch_ahead(order, p, n, data, indices, indptr, scale, y, 1)
            i = order[p]
            xa = 0.0
            xv = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                xq = data[q]
                xa += xq * a[f]
                xv += xq * w[f]
            r = sigma * ((xv - mv) + beta * (xa - ma)) + w[d] + y_off
            r -= y[i]
            if kind is None:
                g = scale[i] * r
                batch_loss += 0.5 * g * r
            else:
                g = scale[i] * _loss.residual_derivative(kind, epsilon, r)
                batch_loss += scale[i] * _loss.residual_value(kind, epsilon, r)
            gbuf[p - start] = g
        if track:
            penalty = vv + 2.0 * beta * va + beta * beta * aa
            batch_loss += 0.5 * alpha * penalty * sigma * sigma * size
        total += batch_loss
        eta = steps[bi]
        sigma = sigma * (1.0 - eta * decay)
        if abs(sigma) < _RESCALE:
            mv = 0.0
            vv = 0.0
            va = 0.0
            for f in range(d):
                value = sigma * (w[f] + beta * a[f])
                w[f] = value
                mv += x_off[f] * value
                vv += value * value
                va += a[f] * value
            beta = 0.0
            sigma = 1.0
        coef = eta / (size * sigma)
        g_sum = 0.0
        for p in range(start, stop):
            i = order[p]
            g = gbuf[p - start]
            g_sum += g
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                old = w[f]
                delta = -g * (coef * prec[f] * data[q])
                w[f] = old + delta
                mv += x_off[f] * delta
                if track:
                    vv += delta * (old + old + delta)
                    va += a[f] * delta
        beta += coef * g_sum
        if learn_b:
            w[d] -= eta * (g_sum / size)
    for f in range(d):
        w[f] = sigma * (w[f] + beta * a[f])
    return total / n


@_jit(nogil=True)
def _svrg_csr_lazy_1d(
    data, indices, indptr, y, scale, x_off, y_off, decay, learn_b, w, snap, order, steps, bsz,
    prec, a, c, mu_b, gbuf, kind, epsilon,
):  # fmt: skip
    """SVRG epoch on CSR rows, one target (``w`` (d + 1,) in place).

    :func:`_svrg_csr_lazy` with ``k = 1``: ``w`` and ``snap`` are (d + 1,)
    vectors (coefficients and intercept), ``c = prec * mu`` the (d,)
    coefficient part of the anchor's gradient, ``mu_b`` its intercept part,
    ``y`` the contiguous (n,) target and ``gbuf`` a (bsz,) float64 buffer.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    ma = 0.0
    for f in range(d):
        ma += x_off[f] * a[f]
    mv = 0.0
    mc = 0.0
    ms = 0.0
    for f in range(d):
        ms += x_off[f] * snap[f]
        w[f] -= snap[f]
        mv += x_off[f] * w[f]
        mc += x_off[f] * c[f]
    # the anchor's residual without the row: x_i . snap - m . snap + b_snap + y_off - y_i
    snap_shift = snap[d] + y_off - ms
    beta = 0.0
    gamma = 0.0
    sigma = 1.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for p in range(start, stop):
            if kind is None:  # the squared loss's specialisation reads no target
                _prefetch_ahead(order, p, n, data, indices, indptr, scale, scale, 0)
            else:
                _prefetch_ahead(order, p, n, data, indices, indptr, scale, y, 1)
            i = order[p]
            xa = 0.0
            xv = 0.0
            xc = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                xq = data[q]
                xa += xq * a[f]
                xv += xq * w[f]
                xc += xq * c[f]
            diff = (xv - mv) + beta * (xa - ma) + gamma * (xc - mc)
            if kind is not None:
                xs = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    xs += data[q] * snap[indices[q]]
                at_snap = xs + snap_shift - y[i]
                at_w = at_snap + sigma * diff + (w[d] - snap[d])
                gbuf[p - start] = scale[i] * _derivative_change(kind, epsilon, at_w, at_snap)
            else:
                gbuf[p - start] = scale[i] * sigma * diff
        eta = steps[bi]
        sigma = sigma * (1.0 - eta * decay)
        if abs(sigma) < _RESCALE:
            mv = 0.0
            for f in range(d):
                value = sigma * (w[f] + beta * a[f] + gamma * c[f])
                w[f] = value
                mv += x_off[f] * value
            beta = 0.0
            gamma = 0.0
            sigma = 1.0
        coef = eta / (size * sigma)
        g_sum = 0.0
        for p in range(start, stop):
            i = order[p]
            g = gbuf[p - start]
            g_sum += g
            for q in range(indptr[i], indptr[i + 1]):
                f = indices[q]
                delta = -g * (coef * prec[f] * data[q])
                w[f] += delta
                mv += x_off[f] * delta
        beta += coef * g_sum
        gamma -= eta / sigma
        if kind is not None and learn_b:
            w[d] -= eta * (g_sum / size + mu_b)
    for f in range(d):
        w[f] = snap[f] + sigma * (w[f] + beta * a[f] + gamma * c[f])


def _column(params: np.ndarray) -> np.ndarray:
    """The single column of ``params`` (m, 1) as a contiguous (m,) array.

    A view where the column is contiguous (always, for a C- or F-ordered
    (m, 1) array), so that the kernel updates ``params`` in place; else a copy,
    which the caller writes back. A strided view would compile a second
    specialisation of the kernel.
    """
    column = params[:, 0]
    return column if column.flags.c_contiguous else np.ascontiguousarray(column)


def _uniform_decay(alpha: float, prec: np.ndarray) -> float | None:
    """``alpha * p`` where the preconditioner ``prec`` is one value ``p``; None otherwise.

    Without a penalty there is no decay (0), whatever ``prec`` is.
    """
    if alpha == 0.0 or prec.shape[0] == 0:
        return 0.0
    if np.all(prec == prec[0]):
        return alpha * float(prec[0])
    return None


def plain_csr_epoch(data, theta, order, steps, batch_size: int, prec) -> float | None:
    """One plain SGD / mini-batch epoch on CSR ``data.X`` at O(non-zeros) an update.

    Parameters
    ----------
    data : StochasticData
        Arrays from :meth:`gdreg._objective.LeastSquares.stochastic_data`;
        ``data.X`` is a CSR matrix.
    theta : ndarray of shape (n_features + 1, n_targets)
        Parameters in the user's coordinates ``w`` (and the intercept row);
        updated in place.
    order : ndarray of int64
        Sample visiting order.
    steps : array-like
        Step size of each update.
    batch_size : int
        Samples per update.
    prec : ndarray of shape (n_features,)
        Diagonal preconditioner (ones, or ``1 / sd^2`` in standardised coordinates).

    Returns
    -------
    float or None
        The epoch's mean batch objective before each update, as
        :func:`gdreg._kernels._plain.plain_epoch` returns it; None, with
        ``theta`` untouched, where the L2 decay differs per coordinate
        (``alpha > 0`` with a non-uniform ``prec``) or an l1 part is
        thresholded after every update (both touch every coefficient).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from gdreg._objective import LeastSquares
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> Y = np.array([[1.0], [2.0], [3.0]])
    >>> ls = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(2),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> theta = np.zeros((3, 1))
    >>> loss = plain_csr_epoch(ls.stochastic_data(), theta, np.arange(3), np.full(3, 0.1), 1,
    ...                        np.ones(2))
    >>> theta[:, 0].round(4)  # w_0: 0.1, then 0.1 + 0.1 * 3 * (3 - 0.3) = 0.91
    array([0.91, 0.4 , 0.  ])
    """
    decay = _uniform_decay(float(data.alpha), prec)
    if decay is None or data.l1:
        return None
    X = data.X
    n, k = order.shape[0], theta.shape[1]
    dtype = theta.dtype
    a = np.asarray(prec, dtype=np.float64) * data.x_offset
    steps = np.ascontiguousarray(steps, dtype=dtype)
    prec = np.ascontiguousarray(prec, dtype=dtype)
    loss = loss_arguments(data)[:2]  # (None, None): the squared loss's own specialisation
    if k == 1:
        w = _column(theta)
        args = (X.data, X.indices, X.indptr, np.ascontiguousarray(data.Y[:, 0]), data.scale)
        args = (*args, data.x_offset, float(data.y_offset[0]), float(data.alpha), decay)
        args = (*args, bool(data.learn_intercept), w, order, steps)
        if batch_size == 1:
            value = _sgd_csr_lazy_1d(*args, prec, a, *loss)
        else:
            gbuf = np.empty(max(1, min(batch_size, n)))
            value = _minibatch_csr_lazy_1d(*args, batch_size, prec, a, gbuf, *loss)
        if not np.may_share_memory(w, theta):  # a copy of a strided column: write it back
            theta[:, 0] = w
        return float(value)
    value = _plain_csr_lazy(
        X.data,
        X.indices,
        X.indptr,
        data.Y,
        data.scale,
        data.x_offset,
        data.y_offset,
        float(data.alpha),
        decay,
        bool(data.learn_intercept),
        theta,
        order,
        steps,
        batch_size,
        prec,
        a,
        np.empty((5, k)),
        np.empty((max(1, min(batch_size, n)), k)),
        k if data.Y.flags.c_contiguous else 0,
        *loss,
    )
    return float(value)


def svrg_csr_epoch(data, w, snap, mu, order, steps, batch_size: int, prec) -> bool:
    """One SVRG epoch on CSR ``data.X`` at O(non-zeros) an update, in the user's ``w``.

    Parameters
    ----------
    data : StochasticData
        Arrays from :meth:`gdreg._objective.LeastSquares.stochastic_data`;
        ``data.X`` is a CSR matrix.
    w : ndarray of shape (n_features + 1, n_targets)
        Coefficients and the intercept row, C-contiguous; updated in place
        (the intercept row moves where ``data.learn_intercept``).
    snap, mu : ndarray of shape (n_features + 1, n_targets)
        The anchor and the full gradient of the objective there, in ``w``.
    order : ndarray of int64
        Sample visiting order.
    steps : array-like
        Step size of each update.
    batch_size : int
        Samples per update.
    prec : ndarray of shape (n_features,)
        Diagonal preconditioner (ones, or ``1 / sd^2`` in standardised coordinates).

    Returns
    -------
    bool
        Whether the epoch ran; False, with ``w`` untouched, where the L2
        decay differs per coordinate (``alpha > 0`` with a non-uniform
        ``prec``) or an l1 part is thresholded after every update.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from gdreg._objective import LeastSquares
    >>> X = sp.csr_matrix(np.array([[1.0], [2.0], [3.0]]))
    >>> Y = np.array([[2.0], [4.0], [6.0]])
    >>> ls = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> w = np.zeros((2, 1)); snap = w.copy()
    >>> mu = ls.value_and_gradient(snap)[1]  # -28 / 3, and 0 for the intercept
    >>> svrg_csr_epoch(ls.stochastic_data(), w, snap, mu, np.arange(3), np.full(1, 0.1), 3,
    ...                np.ones(1))
    True
    >>> w.round(4)
    array([[0.9333],
           [0.    ]])
    """
    decay = _uniform_decay(float(data.alpha), prec)
    if decay is None or data.l1:
        return False
    X = data.X
    d = X.shape[1]
    n, k = order.shape[0], w.shape[1]
    prec64 = np.asarray(prec, dtype=np.float64)
    args = (X.data, X.indices, X.indptr)
    learn_b = bool(data.learn_intercept)
    # (None, None) for the squared loss with the intercept eliminated: one residual difference
    loss = loss_arguments(data, general=learn_b)[:2]
    steps = np.ascontiguousarray(steps, dtype=w.dtype)
    prec = np.ascontiguousarray(prec, dtype=w.dtype)
    a = prec64 * data.x_offset
    if k == 1:
        w_1d = _column(w)
        y = np.ascontiguousarray(data.Y[:, 0])
        args = (*args, y, data.scale, data.x_offset, float(data.y_offset[0]), decay, learn_b)
        args = (*args, w_1d, np.ascontiguousarray(snap[:, 0]), order, steps, batch_size, prec)
        args = (*args, a, prec64 * mu[:d, 0], float(mu[d, 0]))
        _svrg_csr_lazy_1d(*args, np.empty(max(1, min(batch_size, n))), *loss)
        if not np.may_share_memory(w_1d, w):
            w[:, 0] = w_1d
        return True
    _svrg_csr_lazy(
        *args,
        data.Y,
        data.scale,
        data.x_offset,
        data.y_offset,
        decay,
        learn_b,
        w,
        snap,
        order,
        steps,
        batch_size,
        prec,
        a,
        prec64[:, None] * mu[:d],
        np.ascontiguousarray(mu[d], dtype=np.float64),
        np.empty((8, k)),
        np.empty((max(1, min(batch_size, n)), k)),
        k if data.Y.flags.c_contiguous else 0,
        *loss,
    )
    return True
