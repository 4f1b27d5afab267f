r"""The penalty: ``SGDRegressor``'s ``penalty``, ``alpha`` and ``l1_ratio``, written once.

.. math::

    R(w) = \alpha \left( \rho \lVert w \rVert_1
           + \frac{1 - \rho}{2} \lVert w \rVert_2^2 \right),

with :math:`\rho` = ``l1_ratio`` for ``"elasticnet"``, 1 for ``"l1"``, 0 for
``"l2"``; ``None`` is no penalty. These are the definitions of
:class:`~sklearn.linear_model.SGDRegressor` and, with the squared loss, of
:class:`~sklearn.linear_model.Lasso` and
:class:`~sklearn.linear_model.ElasticNet` with the same ``alpha`` and
``l1_ratio``.

The smooth part (:math:`\alpha (1 - \rho)`, the objective's ``alpha``) is part
of every gradient. The :math:`\ell_1` part (the objective's ``l1``) is not
differentiable at zero; it enters through its *proximal operator*, the
soft-threshold :func:`soft_threshold`, applied after each update with the
update's step (proximal gradient descent: ISTA, and FISTA with
:class:`~gdreg.optimizers.AcceleratedGradient`; proximal SGD and prox-SVRG in
the stochastic modes), which sets coefficients to exact zeros.

In standardised coordinates :math:`u_j = \sigma_j w_j` the penalty
:math:`\lambda |w_j| = (\lambda / \sigma_j) |u_j|`: the threshold of
coordinate :math:`j` is :math:`\eta \lambda / \sigma_j`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PENALTIES", "min_norm_subgradient", "soft_threshold", "split"]

#: The estimator's ``penalty`` values, as in ``SGDRegressor``.
PENALTIES = ("l2", "l1", "elasticnet", None)


def split(penalty: str | None, alpha: float, l1_ratio: float) -> tuple[float, float]:
    """``(l2, l1)``: the strengths of the smooth and the :math:`\\ell_1` parts.

    Examples
    --------
    >>> split("l2", 0.5, 0.15), split("l1", 0.5, 0.15), split(None, 0.5, 0.15)
    ((0.5, 0.0), (0.0, 0.5), (0.0, 0.0))
    >>> split("elasticnet", 1.0, 0.25)
    (0.75, 0.25)
    """
    alpha = float(alpha)
    if penalty is None:
        return 0.0, 0.0
    if penalty == "l2":
        return alpha, 0.0
    if penalty == "l1":
        return 0.0, alpha
    if penalty == "elasticnet":
        if l1_ratio is None:
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'; got None.")
        return alpha * (1.0 - float(l1_ratio)), alpha * float(l1_ratio)
    raise ValueError(f"penalty must be one of {PENALTIES}; got {penalty!r}.")


def soft_threshold(values: np.ndarray, thresholds) -> None:
    """``sign(v) * max(|v| - t, 0)`` in place: the proximal operator of ``t |v|``.

    Parameters
    ----------
    values : ndarray of shape (d, k)
        Updated in place.
    thresholds : float or ndarray of shape (d, 1)
        Non-negative thresholds, broadcast over the targets.

    Examples
    --------
    >>> v = np.array([[3.0], [-0.5], [-2.0]])
    >>> soft_threshold(v, 1.0)
    >>> v.ravel()
    array([ 2.,  0., -1.])
    """
    shrunk = np.abs(values) - thresholds
    np.maximum(shrunk, 0.0, out=shrunk)
    np.copysign(shrunk, values, out=values)


def min_norm_subgradient(grad: np.ndarray, values: np.ndarray, thresholds) -> np.ndarray:
    """The element of smallest norm of ``grad + thresholds * d|values|`` (the distance to 0).

    For coordinates away from zero the subdifferential of ``t |v|`` is
    ``t sign(v)``; at zero it is ``[-t, t]``, so the closest point to zero is
    ``grad`` shrunk towards zero by ``t``. It is zero exactly at a minimiser
    of the penalised objective.

    Examples
    --------
    >>> g = np.array([[0.5], [2.0], [0.5]]); v = np.array([[0.0], [0.0], [1.0]])
    >>> min_norm_subgradient(g, v, 1.0).ravel()
    array([0. , 1. , 1.5])
    """
    grad = np.asarray(grad, dtype=np.float64)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), grad.shape)
    out = grad + thresholds * np.sign(values)
    at_zero = values == 0
    shrunk = np.maximum(np.abs(grad) - thresholds, 0.0) * np.sign(grad)
    out[at_zero] = shrunk[at_zero]
    return out
