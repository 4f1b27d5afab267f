"""Full-batch epochs on the sufficient statistics (the Gram form), many per call."""

from __future__ import annotations

import os

import numpy as np

from gdreg._kernels._compile import _jit

#: Status codes returned by :func:`gram_descent`.
RUNNING, CONVERGED, DIVERGED = 0, 1, 2

#: How much cheaper the loop is to start when its code is ready (:func:`code_ready`)
#: than when it must be compiled (a load of tens of ms once per process, or nothing,
#: against about a second): the loop counts X as this many times larger against
#: ``COMPILED_MIN_SIZE``, so from 100 entries at the default threshold, while a
#: threshold of 0 or a huge one still switches every compiled path on or off.
READY_SCALE = 10_000


# -- full batch on the sufficient statistics -----------------------------------------
@_jit(nogil=True, _nrt=False)
def _gram_descent(
    hessian_t,
    xty,
    yty_sum,
    theta,
    steps,
    nesterov,
    previous,
    previous_grad,
    counts,
    grad_scale,
    bound_factor,
    tol,
    limit,
    losses,
    changes,
    hu,
    thresholds,
    proposal,
    last_step,
):
    # One njit function that allocates nothing and calls no other njit function:
    # each of those compiles on its own, and the first fit of a process pays for
    # it. hessian_t (penalty included) and xty are in the optimizer's coordinates,
    # so an epoch needs no scaling; hu is a (d, k) buffer from the caller.
    # thresholds (d,) are the l1 strengths in those coordinates (all zero: no l1
    # part); proposal holds the last update before its proximal step and
    # last_step[0] that update's step (the accelerated rule's restart test).
    d, k = xty.shape
    epochs = steps.shape[0]
    shrink = False
    for f in range(d):
        if thresholds[f] != 0.0:
            shrink = True
    for e in range(epochs + 1):
        # hu = H @ theta[:d], a sum of scaled rows of H^T (unit stride, vectorises)
        for f in range(d):
            for j in range(k):
                hu[f, j] = 0.0
        for f2 in range(d):
            for j in range(k):
                uf = theta[f2, j]
                for f in range(d):
                    hu[f, j] += hessian_t[f2, f] * uf
        if e > 0:
            # J = (yty - 2 u.q + u.Hu) / 2 + sum_f t_f |u_f|: what GramLeastSquares
            # computes, the smooth penalty being part of H
            cross = 0.0
            quad = 0.0
            norm = 0.0
            absolute = 0.0
            for f in range(d):
                row = 0.0
                for j in range(k):
                    cross += theta[f, j] * xty[f, j]
                    quad += theta[f, j] * hu[f, j]
                    norm += theta[f, j] * theta[f, j]
                    row += abs(theta[f, j])
                absolute += thresholds[f] * row
            value = 0.5 * (yty_sum - 2.0 * cross + quad) + absolute
            # the error bound of gdreg._accuracy.error_bound at the new theta, from
            # the subgradient of smallest norm (gdreg._penalty.min_norm_subgradient)
            change = 0.0
            for j in range(k):
                sq = 0.0
                for f in range(d):
                    g = hu[f, j] - xty[f, j]
                    if shrink:
                        u = theta[f, j]
                        if u == 0.0:
                            shrunk = abs(g) - thresholds[f]
                            # not max(): NaN must stay NaN, as np.maximum keeps it
                            g = (0.0 if shrunk <= 0.0 else shrunk) * np.sign(g)
                        else:
                            g = g + thresholds[f] * np.sign(u)
                    g = g * grad_scale[f]
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
        if not nesterov:
            for j in range(k):
                for f in range(d):
                    # the update GradientDescent makes: theta + (-eta * grad)
                    theta[f, j] = theta[f, j] + (-eta * (hu[f, j] - xty[f, j]))
        elif counts[0] < 0:
            # AcceleratedGradient's first update (no previous iterate): a plain step
            for j in range(k):
                for f in range(d):
                    g = hu[f, j] - xty[f, j]
                    previous[f, j] = theta[f, j]
                    previous_grad[f, j] = g
                    theta[f, j] = theta[f, j] + (-eta * g)
            counts[0] = 1
        else:
            # AcceleratedGradient.update: restart when the last move went uphill, judged
            # by the subgradient the proximal step certifies (the smooth gradient plus
            # what the step removed; just the gradient without an l1 part)
            count = counts[0]
            uphill = 0.0
            for f in range(d):
                for j in range(k):
                    g = hu[f, j] - xty[f, j]
                    if shrink:
                        g = g + (proposal[f, j] - theta[f, j]) / last_step[0]
                    uphill += g * (theta[f, j] - previous[f, j])
            if uphill > 0.0:
                count = 0
                counts[1] += 1
            beta = count / (count + 3.0)
            for j in range(k):
                for f in range(d):
                    g = hu[f, j] - xty[f, j]
                    moved = theta[f, j] - previous[f, j]
                    look_ahead = g + beta * (g - previous_grad[f, j])
                    previous[f, j] = theta[f, j]
                    previous_grad[f, j] = g
                    theta[f, j] = theta[f, j] + (beta * moved - eta * look_ahead)
            counts[0] = count + 1
        if shrink:
            # the l1 penalty's proximal step (gdreg._penalty.soft_threshold), after
            # keeping the update it shrinks for the next restart test
            for f in range(d):
                cut = eta * thresholds[f]
                for j in range(k):
                    z = theta[f, j]
                    if nesterov:
                        proposal[f, j] = z
                    shrunk = abs(z) - cut
                    theta[f, j] = np.copysign(0.0 if shrunk <= 0.0 else shrunk, z)
            last_step[0] = eta
    return epochs, RUNNING


def standardised_statistics(objective, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(H^T, q)``: the Hessian (penalty included) and ``X^T C y`` in ``objective``'s coordinates.

    In standardised coordinates ``u = D w`` (``D = diag(column_scale)``) the
    gradient is ``D^-1 (G + alpha I) D^-1 u - D^-1 q``: scaling the ``d x d``
    statistics once spares every epoch the scaling that
    :meth:`~gdreg._objective.GramLeastSquares.value_and_gradient` does.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import GramLeastSquares
    >>> X = np.array([[0.0], [1.0], [2.0]]); Y = np.array([[1.0], [3.0], [5.0]])
    >>> obj = GramLeastSquares(X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0))
    >>> hessian_t, q = standardised_statistics(obj.scaled(np.array([2.0])), np.float64)
    >>> float(hessian_t[0, 0] * 4), float(q[0, 0] * 2)  # back in the user's units
    (0.6666666666666666, 1.3333333333333333)
    """
    hessian = objective.own_hessian(objective.hessian())
    xty = objective.xty.astype(np.float64)
    if objective.column_scale is not None:
        xty = xty / objective.column_scale.astype(np.float64)[:, None]
    return np.ascontiguousarray(hessian.T, dtype=dtype), np.ascontiguousarray(xty, dtype=dtype)


def _bound_pieces(objective, certificate) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature and per-target factors turning the kernel's gradient into the bound.

    The loop's bound (:meth:`gdreg._loop._Judge.bound`, then
    :func:`gdreg._accuracy.error_bound`) takes the gradient back to the
    user's units and then to the certificate's standardised ones, and divides
    by ``mu sigma_y``; a curvature that is not positive and finite certifies
    nothing (``inf``), as there.
    """
    d, k = objective.xty.shape
    if certificate is None:
        return np.zeros(d), np.full(k, np.nan)
    scale = np.ones(d) if objective.column_scale is None else objective.column_scale
    grad_scale = np.asarray(scale, dtype=np.float64) / certificate.column_scale
    mu = float(certificate.curvature)
    if 0.0 < mu < np.inf:
        factor = 1.0 / (mu * np.asarray(certificate.target_scale, dtype=np.float64))
    else:
        factor = np.full(k, np.inf)
    return grad_scale, factor


def l1_thresholds(objective) -> np.ndarray:
    """The l1 strength of each coefficient in ``objective``'s coordinates, shape (d,), float64.

    Those of :meth:`~gdreg._objective.LeastSquares.l1_thresholds` (``l1 /
    sigma_j`` in standardised coordinates), all zero without an l1 part.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import GramLeastSquares
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]); Y = np.array([[1.0], [3.0], [5.0]])
    >>> obj = GramLeastSquares(
    ...     X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0), l1=0.5)
    >>> l1_thresholds(obj.scaled(np.array([2.0, 0.5])))
    array([0.25, 1.  ])
    """
    d = objective.xty.shape[0]
    if not getattr(objective, "l1", 0.0):
        return np.zeros(d)
    return np.ascontiguousarray(objective.l1_thresholds(), dtype=np.float64).reshape(d)


def _run(objective, theta, steps, nesterov, state, certificate, tol, limit):
    # state: (previous, previous_grad, counts, proposal, last_step), the accelerated
    # rule's arrays, updated in place
    dtype = theta.dtype
    d, k = objective.xty.shape
    losses = np.empty(len(steps))
    changes = np.empty(len(steps))
    hessian_t, xty = standardised_statistics(objective, dtype)
    grad_scale, factor = _bound_pieces(objective, certificate)
    previous, previous_grad, counts, proposal, last_step = state
    epochs, status = _gram_descent(
        hessian_t,
        xty,
        float(np.sum(objective.yty)),
        theta,
        np.ascontiguousarray(steps, dtype=dtype),
        nesterov,
        previous,
        previous_grad,
        counts,
        np.ascontiguousarray(grad_scale, dtype=np.float64),
        np.ascontiguousarray(factor, dtype=np.float64),
        -1.0 if tol is None else float(tol),
        float(limit),
        losses,
        changes,
        np.empty((d, k), dtype=dtype),
        l1_thresholds(objective),
        proposal,
        last_step,
    )
    if certificate is None:
        changes[:] = np.nan  # not evaluated, as in the loop
    return int(epochs), int(status), losses[:epochs], changes[:epochs]


def gram_descent(objective, theta, steps, *, certificate, tol, limit):
    """Full-batch gradient descent epochs on the sufficient statistics, in one call.

    Makes, for each step ``eta`` in ``steps``, the update ``theta -= eta *
    grad J(theta)`` that :class:`~gdreg.optimizers.GradientDescent` makes on
    :class:`~gdreg._objective.GramLeastSquares` (in the objective's
    coordinates: standardised when ``objective.column_scale`` is set),
    followed, with an l1 part (``objective.l1``), by the proximal step
    :meth:`~gdreg._objective.LeastSquares.prox` (ISTA), and evaluates the
    loop's error bound (from the subgradient of smallest norm with an l1
    part) and divergence test after each one, stopping at the first epoch
    that meets either.

    Parameters
    ----------
    objective : GramLeastSquares
        Sufficient statistics (``gram``, ``xty``, ``yty``), ``alpha`` and ``l1``.
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
    unused = np.empty((1, 1), dtype=theta.dtype)  # the momentum buffers of the kernel
    state = (unused, unused, np.zeros(2, dtype=np.int64), unused, np.ones(1))
    return _run(objective, theta, steps, False, state, certificate, tol, limit)


def accelerated_gram_descent(
    objective,
    theta,
    previous,
    previous_grad,
    counts,
    steps,
    *,
    certificate,
    tol,
    limit,
    proposal=None,
    last_step=None,
):
    """Epochs of :class:`~gdreg.optimizers.AcceleratedGradient` on the sufficient statistics.

    The updates ``AcceleratedGradient.update`` makes (Nesterov's momentum
    with gradient restart, one gradient per epoch), each followed by the l1
    proximal step when the objective has an l1 part (FISTA), with the
    stopping and divergence tests of :func:`gram_descent`, in one compiled
    call.

    Parameters
    ----------
    objective : GramLeastSquares
        Sufficient statistics, in the optimizer's coordinates.
    theta : ndarray of shape (n_features + 1, n_targets)
        Parameters, C-contiguous; updated in place (the intercept row stays).
    previous, previous_grad : ndarray of shape (n_features + 1, n_targets)
        The previous iterate and its gradient, C-contiguous; updated in place
        (their intercept rows are left to the caller).
    counts : ndarray of int64 of shape (2,)
        Updates since the last restart (``-1``: no previous iterate yet, the
        next update is a plain step) and restarts so far; updated in place.
    steps, certificate, tol, limit
        As for :func:`gram_descent`.
    proposal : ndarray of shape (n_features + 1, n_targets) or None, default=None
        The last update before its proximal step, C-contiguous; updated in
        place (the restart test's subgradient is ``grad + (proposal -
        theta) / last_step``; its intercept row is left to the caller).
        None: ``theta`` itself (no proximal step to account for), not kept.
    last_step : ndarray of float64 of shape (1,) or None, default=None
        The step of that update; updated in place. Given with ``proposal``.

    Returns
    -------
    epochs, status, losses, changes
        As for :func:`gram_descent`.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._accuracy import certificate
    >>> from gdreg._objective import GramLeastSquares
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.5]]); Y = np.array([[1.0], [3.0], [6.0]])
    >>> obj = GramLeastSquares(X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0))
    >>> theta = np.zeros((3, 1))
    >>> previous, previous_grad = np.empty_like(theta), np.empty_like(theta)
    >>> counts = np.array([-1, 0])
    >>> epochs, status, losses, changes = accelerated_gram_descent(
    ...     obj, theta, previous, previous_grad, counts, np.full(500, 0.5),
    ...     certificate=certificate(obj, obj.yty), tol=1e-10, limit=1e10)
    >>> exact = np.linalg.solve(obj.gram, obj.xty)  # the normal equation
    >>> bool(status == CONVERGED), bool(np.allclose(theta[:2], exact, atol=1e-8))
    (True, True)
    """
    if proposal is None:  # no update before a proximal step to remember: none removed
        proposal, last_step = np.array(theta, order="C"), np.ones(1)
    state = (previous, previous_grad, counts, proposal, last_step)
    return _run(objective, theta, steps, True, state, certificate, tol, limit)


def code_ready(dtype) -> bool:
    """Whether running the loop on ``dtype`` parameters compiles nothing.

    True when its machine code is in this process already or in the on-disk
    cache (the index numba writes next to it), for float64, the precision of
    every fit that has a certificate; False with ``NUMBA_DISABLE_JIT=1``
    (the kernel is then plain Python). Loading cached code costs a few tens
    of milliseconds of CPU once per process where compiling costs about a
    second: the loop decides from this how small a problem may use it.
    """
    if np.dtype(dtype) != np.float64:
        return False
    # the dispatcher's compiled overloads (a dict: its ``signatures`` list
    # hashes every argument type, 35 us a fit)
    if getattr(_gram_descent, "overloads", None):
        return True
    cache_file = getattr(getattr(_gram_descent, "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    return index is not None and os.path.exists(index)
