"""Full-batch epochs on the sufficient statistics (the Gram form), many per call."""

from __future__ import annotations

import numpy as np

from gdreg._kernels._compile import _jit

#: Status codes returned by :func:`gram_descent`.
RUNNING, CONVERGED, DIVERGED = 0, 1, 2


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
