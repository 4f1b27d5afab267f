"""Compiled inner loops (numba), behind the same seam as the NumPy path.

Each kernel runs one epoch of per-sample or mini-batch updates in place on
``params`` and returns the epoch's running objective. They compute exactly
what :meth:`gdreg._objective.LeastSquares.batch_value_and_gradient` followed
by the optimizer's ``update`` computes, in a different summation order, so
the two paths agree to round-off (``tests/test_kernels.py``).

Set ``ENABLED = False`` (tests do, through ``monkeypatch``) to force the
readable NumPy path everywhere.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

ENABLED = True


@njit(cache=True, nogil=True)
def _plain_epoch_dense(X, Y, scale, x_off, y_off, alpha, learn_b, theta, order, steps, bsz):
    n, d = X.shape
    k = Y.shape[1]
    grad = np.zeros((d + 1, k), dtype=theta.dtype)
    r = np.empty(k, dtype=theta.dtype)
    shift = np.empty(k, dtype=theta.dtype)
    total = 0.0
    n_batches = steps.shape[0]
    for bi in range(n_batches):
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
            if si == 0.0:
                continue
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
                theta[f, j] -= eta * (grad[f, j] / size + alpha * theta[f, j])
        if learn_b:
            for j in range(k):
                theta[d, j] -= eta * (grad[d, j] / size)
    return total / n


@njit(cache=True, nogil=True)
def _plain_epoch_csr(
    data, indices, indptr, Y, scale, x_off, y_off, alpha, learn_b, theta, order, steps, bsz
):
    n = indptr.shape[0] - 1
    d = x_off.shape[0]
    k = Y.shape[1]
    grad = np.zeros((d + 1, k), dtype=theta.dtype)
    r = np.empty(k, dtype=theta.dtype)
    shift = np.empty(k, dtype=theta.dtype)
    total = 0.0
    n_batches = steps.shape[0]
    for bi in range(n_batches):
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
                for q in range(indptr[i], indptr[i + 1]):
                    acc += data[q] * theta[indices[q], j]
                r[j] = acc - shift[j] - Y[i, j]
                batch_loss += 0.5 * si * r[j] * r[j]
            if si == 0.0:
                continue
            # centred row = sparse row - x_off: the dense part first, then the nonzeros
            for f in range(d):
                xc = -si * x_off[f]
                for j in range(k):
                    grad[f, j] += xc * r[j]
            for q in range(indptr[i], indptr[i + 1]):
                xq = si * data[q]
                f = indices[q]
                for j in range(k):
                    grad[f, j] += xq * r[j]
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
                theta[f, j] -= eta * (grad[f, j] / size + alpha * theta[f, j])
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
        Sample visiting order.
    steps : ndarray
        Step size of each update of the epoch.
    batch_size : int
        Samples per update (1 for per-sample SGD).

    Returns
    -------
    float
        Mean over the epoch of the objective on each batch before its update.
    """
    X = data.X
    alpha = theta.dtype.type(data.alpha)
    steps = steps.astype(theta.dtype, copy=False)
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
        )
    )
