"""Reference solver: the closed-form solution of the same objective."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.utils.validation import _check_sample_weight, check_array, check_consistent_length

__all__ = ["normal_equation"]


def normal_equation(
    X: ArrayLike | sp.spmatrix | sp.sparray,
    y: ArrayLike,
    *,
    fit_intercept: bool = True,
    alpha: float = 0.0,
    sample_weight: ArrayLike | None = None,
) -> tuple[np.ndarray, float | np.ndarray]:
    r"""Solve the gradient-descent objective in closed form.

    Minimises

    .. math::

        J(w, b) = \frac{1}{2S} \sum_i s_i (y_i - x_i^\top w - b)^2
                  + \frac{\alpha}{2} \lVert w \rVert^2,

    whose normal equations are :math:`(X_c^\top W X_c + \alpha S I)\, w =
    X_c^\top W y_c` with :math:`X_c, y_c` centred by their weighted means
    (when ``fit_intercept``), :math:`W = \mathrm{diag}(s)` and
    :math:`b = \bar y - \bar x^\top w`. They are solved through a least-squares
    factorisation of :math:`[W^{1/2} X_c; \sqrt{\alpha S} I]` rather than by
    forming :math:`X^\top X`, which is more accurate; with ``alpha=0`` and a
    rank-deficient ``X`` it returns the minimum-norm solution, the point
    gradient descent from zero converges to.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Training data (sparse input is densified: this is a reference solver).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    alpha : float, default=0.0
        L2 penalty, as in :class:`~gdreg.GradientDescentRegressor`; equal to
        ``Ridge(alpha=alpha * S)``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.

    Returns
    -------
    coef : ndarray of shape (n_features,) or (n_targets, n_features)
        The exact coefficients, shaped as ``LinearRegression.coef_``, in
        the dtype of ``X`` (float32 or float64).
    intercept : float or ndarray of shape (n_targets,)
        The exact intercept, shaped as ``LinearRegression.intercept_`` (the
        scalar ``0.0`` when ``fit_intercept=False``, whatever the shape of ``y``).

    Examples
    --------
    >>> from gdreg import normal_equation
    >>> coef, intercept = normal_equation([[2.0], [4.0], [5.0]], [45.0, 85.0, 105.0])
    >>> coef, round(intercept, 10)
    (array([20.]), 5.0)
    """
    X = check_array(X, accept_sparse=True, dtype=[np.float64, np.float32])
    if sp.issparse(X):
        X = X.toarray()
    y = check_array(y, ensure_2d=False, dtype=X.dtype)
    check_consistent_length(X, y)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}.")
    one_d = y.ndim == 1
    Y = y.reshape(-1, 1) if one_d else y
    s = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if np.any(s < 0) or not np.any(s > 0):
        raise ValueError("sample_weight must be non-negative and not all zero.")
    S = s.sum()
    Xd, Yd = X.astype(np.float64), Y.astype(np.float64)
    if fit_intercept:
        x_mean, y_mean = s @ Xd / S, s @ Yd / S
    else:
        x_mean, y_mean = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    root = np.sqrt(s)[:, None]
    A = (Xd - x_mean) * root
    B = (Yd - y_mean) * root
    if alpha > 0:
        A = np.vstack([A, np.sqrt(alpha * S) * np.eye(X.shape[1])])
        B = np.vstack([B, np.zeros((X.shape[1], Y.shape[1]))])
    W = scipy.linalg.lstsq(A, B, lapack_driver="gelsd")[0]  # (d, k)
    intercept = y_mean - x_mean @ W if fit_intercept else np.zeros(Y.shape[1])
    coef = W.T.astype(X.dtype)
    intercept = intercept.astype(X.dtype)
    if not fit_intercept:
        return (coef[0] if one_d else coef), 0.0  # as LinearRegression, for 1-D and 2-D y
    if one_d:
        return coef[0], float(intercept[0])
    return coef, intercept
