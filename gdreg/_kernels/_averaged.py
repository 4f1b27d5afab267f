"""Averaged SGD: per-sample epochs that keep the running average of the iterates."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gdreg._kernels._compile import _LINE, _PREFETCH_AHEAD, _SUMS, _jit, _prefetch


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
