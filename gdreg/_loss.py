r"""The loss: what a prediction costs, the one place that knows its form.

A loss is a small object in the manner of scikit-learn's ``_plain_sgd`` loss
objects (``loss``/``dloss``) and skglm's datafits (``value``, ``gradient``,
per-sample pieces). It owns

* the per-sample value :math:`\ell(p, y)` and its derivative with respect to
  the prediction, vectorised (:meth:`Loss.value`, :meth:`Loss.derivative`) and,
  for :class:`SquaredLoss`, as scalar numba functions marked
  ``inline="always"`` (:func:`squared_value`, :func:`squared_derivative`) that
  a kernel can compose without a call per sample;
* :attr:`Loss.curvature`, a bound on :math:`\partial^2 \ell / \partial p^2`;
* the objective from zero (:meth:`Loss.start_value`), which sets the scale of
  the loop's divergence test;
* the full objective from predictions (:meth:`Loss.objective_value`): the
  weighted mean loss plus :math:`\tfrac{\alpha}{2}\lVert w \rVert^2`, which
  the plots and the stream use instead of writing the formula again.

The data side (centring, weights, ``X @ w``) lives in
:class:`gdreg._objective.LeastSquares`, which holds a loss as ``loss``. The
compiled fast paths (the per-sample kernels and the Gram form) are written
for :class:`SquaredLoss` only; :func:`is_squared` is what they are chosen by,
so a different loss runs on the readable NumPy path.
"""

from __future__ import annotations

import numpy as np

from gdreg._kernels._compile import _jit

__all__ = ["Loss", "SquaredLoss", "is_squared", "squared_derivative", "squared_value"]


@_jit(inline="always", nogil=True)
def squared_value(prediction, target):
    """``(prediction - target) ** 2 / 2`` for scalars (inlined into a kernel)."""
    r = prediction - target
    return 0.5 * r * r


@_jit(inline="always", nogil=True)
def squared_derivative(prediction, target):
    """``prediction - target``, the derivative of :func:`squared_value` in the prediction."""
    return prediction - target


class Loss:
    r"""Base class of the losses: a per-sample :math:`\ell(p, y)` and its derivative.

    A subclass defines :meth:`value`, :meth:`derivative` and
    :attr:`curvature`; the weighted sums, the objective from zero and the
    full objective follow from them (a subclass may override them with faster
    forms). The objective of the fit is

    .. math::

        J(w, b) = \frac{1}{S} \sum_i s_i \sum_j \ell(x_i^\top w_j + b_j, y_{ij})
                  + \frac{\alpha}{2} \lVert w \rVert^2, \qquad S = \sum_i s_i .
    """

    #: Bound on the second derivative of the per-sample loss in the prediction.
    curvature: float = 1.0

    def value(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Per-sample losses :math:`\\ell(p, y)`, elementwise."""
        raise NotImplementedError

    def derivative(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        """:math:`\\partial \\ell / \\partial p`, elementwise."""
        raise NotImplementedError

    def weighted_value(self, prediction, target, weights) -> float:
        """``sum_i weights_i sum_j l(prediction_ij, target_ij)``; ``prediction`` may be overwritten.

        Parameters
        ----------
        prediction, target : ndarray of shape (n_samples, n_targets)
            ``prediction`` is scratch space: the loss may write into it.
        weights : ndarray of shape (n_samples,)
        """
        return float(weights @ self.value(prediction, target).sum(axis=1))

    def weighted_value_and_derivative(self, prediction, target, weights):
        """``(weighted_value, weights[:, None] * derivative)`` from one pass.

        ``prediction`` is scratch space: the loss may write into it (and
        return it as the weighted derivative).
        """
        value = self.weighted_value(prediction.copy(), target, weights)
        return value, weights[:, None] * self.derivative(prediction, target)

    def start_value(self, centred_targets: np.ndarray, weights: np.ndarray) -> float:
        """The objective at zero parameters: ``sum_i weights_i sum_j l(0, centred_targets_ij)``.

        In the centred coordinates of the fit, zero parameters predict the
        target offset, so the centred prediction is 0. ``weights`` sum to one.
        """
        centred_targets = np.asarray(centred_targets)
        zeros = np.zeros_like(centred_targets)
        return self.weighted_value(zeros, centred_targets, np.asarray(weights))

    def affine_values(self, prediction, target, weights, directions, deltas) -> np.ndarray:
        """Weighted losses along the predictions ``prediction + directions @ delta``.

        Used to draw the objective on a slice of parameter space: moving
        parameters by ``delta`` moves the predictions by ``directions @ delta``.

        Parameters
        ----------
        prediction, target, weights : ndarray of shape (n_samples,)
            Predictions at ``delta = 0``, targets and weights summing to one.
        directions : ndarray of shape (n_samples, m)
            How the predictions move with each of the ``m`` parameters.
        deltas : ndarray of shape (m, n_points)
            The parameter moves to evaluate.

        Returns
        -------
        ndarray of shape (n_points,)
            ``sum_i weights_i l(prediction_i + directions_i @ delta, target_i)`` per point.
        """
        out = np.empty(deltas.shape[1])
        # points in blocks, so that the n x block predictions stay about 8 MiB
        block = max(1, 2**20 // max(1, len(prediction)))
        for start in range(0, deltas.shape[1], block):
            moved = prediction[:, None] + directions @ deltas[:, start : start + block]
            out[start : start + block] = weights @ self.value(moved, target[:, None])
        return out

    def objective_value(self, prediction, target, sample_weight, coef, alpha: float) -> float:
        """The full objective from predictions: weighted mean loss + ``alpha |coef|^2 / 2``.

        Parameters
        ----------
        prediction, target : array-like of shape (n_samples,) or (n_samples, n_targets)
            Predictions in the user's units (intercept included) and targets.
        sample_weight : array-like of shape (n_samples,) or None
            Non-negative weights (normalised here); ``None`` means all ones.
        coef : array-like
            The penalised coefficients.
        alpha : float
            L2 penalty strength.

        Returns
        -------
        float
        """
        prediction = np.array(prediction, dtype=np.float64, copy=True)
        target = np.asarray(target, dtype=np.float64)
        if prediction.ndim == 1:
            prediction, target = prediction[:, None], target.reshape(-1, 1)
        n = prediction.shape[0]
        if sample_weight is None:
            weights = np.full(n, 1.0 / n) if n else np.zeros(0)
        else:
            weights = np.asarray(sample_weight, dtype=np.float64)
            weights = weights / weights.sum()
        coef = np.asarray(coef, dtype=np.float64)
        penalty = 0.5 * float(alpha) * float(np.vdot(coef, coef))
        return self.weighted_value(prediction, target, weights) + penalty

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(type(self))


class SquaredLoss(Loss):
    r"""The squared loss of least squares.

    .. math::

        \ell(p, y) = \tfrac12 (p - y)^2, \qquad
        \frac{\partial \ell}{\partial p} = p - y, \qquad
        \frac{\partial^2 \ell}{\partial p^2} = 1 .

    The scalar pieces are :func:`squared_value` and :func:`squared_derivative`
    (numba, ``inline="always"``), also reachable as :attr:`value_scalar` and
    :attr:`derivative_scalar`.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._loss import SquaredLoss
    >>> loss = SquaredLoss()
    >>> loss.value(np.array([3.0, 1.0]), np.array([1.0, 1.0]))
    array([2., 0.])
    >>> loss.derivative(np.array([3.0]), np.array([1.0]))
    array([2.])
    >>> float(loss.value_scalar(3.0, 1.0)), loss.curvature
    (2.0, 1.0)
    >>> loss.objective_value([3.0, 1.0], [1.0, 1.0], None, coef=[2.0], alpha=0.5)
    2.0
    """

    curvature = 1.0
    value_scalar = staticmethod(squared_value)
    derivative_scalar = staticmethod(squared_derivative)

    def value(self, prediction, target):
        r = np.subtract(prediction, target)
        r *= r
        r *= 0.5
        return r

    def derivative(self, prediction, target):
        return np.subtract(prediction, target)

    def weighted_value(self, prediction, target, weights) -> float:
        # the residual is formed in the scratch array: no n x k temporary
        r = np.subtract(prediction, target, out=prediction)
        return 0.5 * float(np.vdot(weights, np.einsum("ij,ij->i", r, r)))

    def weighted_value_and_derivative(self, prediction, target, weights):
        r = np.subtract(prediction, target, out=prediction)
        wr = weights[:, None] * r
        return 0.5 * float(np.vdot(wr, r)), wr

    def affine_values(self, prediction, target, weights, directions, deltas) -> np.ndarray:
        # the loss is a quadratic in delta: its coefficients are a few weighted sums,
        # and the points cost nothing beyond them (no n x points array)
        r = np.subtract(prediction, target)
        wr = weights * r
        linear = directions.T @ wr
        quadratic = directions.T @ (weights[:, None] * directions)
        return 0.5 * (
            float(r @ wr)
            + 2.0 * (linear @ deltas)
            + np.einsum("jp,jk,kp->p", deltas, quadratic, deltas)
        )

    def start_value(self, centred_targets, weights) -> float:
        # l(0, y) = y^2 / 2: no array of zeros is needed. einsum rather than
        # `weights @ (yc * yc)`: that product is a BLAS gemv, for which OpenBLAS
        # wakes its worker threads; on a busy machine waiting for them took 7 to
        # 20 ms for a 100,000-vector (0.1 ms of arithmetic), and the spinning
        # workers then slow what runs next. einsum sums in NumPy, with no temporary.
        yc = np.asarray(centred_targets)
        return 0.5 * float(np.einsum("i,ij,ij->", np.asarray(weights), yc, yc))


def is_squared(loss) -> bool:
    """Whether ``loss`` is exactly :class:`SquaredLoss`, the loss the fast paths are written for.

    The exact type, not a subclass: a subclass may change :meth:`Loss.value`,
    which the compiled kernels would not see.
    """
    return type(loss) is SquaredLoss
