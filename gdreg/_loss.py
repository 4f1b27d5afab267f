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
  weighted mean loss plus :math:`\tfrac{\alpha}{2}\lVert w \rVert^2` and,
  optionally, :math:`\lambda_1 \lVert w \rVert_1`, which the plots and the
  stream use instead of writing the formula again.

The data side (centring, weights, ``X @ w``) lives in
:class:`gdreg._objective.LeastSquares`, which holds a loss as ``loss``. The
per-sample kernels compute every built-in loss through
:func:`residual_value` and :func:`residual_derivative` (chosen by
:func:`compiled_kind`); a loss defined elsewhere runs on the readable NumPy
path. The Gram form and the sufficient statistics describe the squared loss
only (:func:`is_squared`).
"""

from __future__ import annotations

import math

import numpy as np

from gdreg._kernels._compile import _jit

__all__ = [
    "LOSSES",
    "EpsilonInsensitive",
    "Huber",
    "Loss",
    "SquaredEpsilonInsensitive",
    "SquaredLoss",
    "compiled_kind",
    "is_squared",
    "make_loss",
    "residual_derivative",
    "residual_value",
    "squared_derivative",
    "squared_value",
]

#: Codes of the built-in losses in the compiled kernels (:func:`residual_value`).
SQUARED, HUBER, EPSILON_INSENSITIVE, SQUARED_EPSILON_INSENSITIVE = 0, 1, 2, 3


@_jit(inline="always", nogil=True)
def squared_value(prediction, target):
    """``(prediction - target) ** 2 / 2`` for scalars (inlined into a kernel)."""
    r = prediction - target
    return 0.5 * r * r


@_jit(inline="always", nogil=True)
def squared_derivative(prediction, target):
    """``prediction - target``, the derivative of :func:`squared_value` in the prediction."""
    return prediction - target


@_jit(inline="always", nogil=True)
def residual_value(kind, epsilon, r):
    """The per-sample loss of the built-in loss ``kind`` at the residual ``r = p - y``.

    One scalar function for every built-in loss, inlined into the compiled
    kernels; ``kind`` is one of the codes above (a branch the processor
    predicts: it is the same for every sample of a fit).
    """
    # branch-free within each loss: residuals fall on either side of a kink at random,
    # and a mispredicted branch per sample cost more than the arithmetic
    if kind == SQUARED:
        return 0.5 * r * r
    a = abs(r)
    if kind == HUBER:
        c = min(a, epsilon)
        return c * (a - 0.5 * c)
    excess = max(a - epsilon, 0.0 * r)
    if kind == EPSILON_INSENSITIVE:
        return excess
    return excess * excess


@_jit(inline="always", nogil=True)
def residual_derivative(kind, epsilon, r):
    """The derivative in the prediction of :func:`residual_value` (a subgradient at kinks)."""
    if kind == SQUARED:
        return r
    if kind == HUBER:
        return min(max(r, -epsilon), epsilon)
    excess = max(abs(r) - epsilon, 0.0 * r)
    if kind == EPSILON_INSENSITIVE:
        return math.copysign(1.0, r) * (excess > 0.0)
    return 2.0 * math.copysign(excess, r)


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

    #: Bound on the second derivative of the per-sample loss in the prediction
    #: (0 for a loss that is not differentiable everywhere: see :attr:`smooth`).
    curvature: float = 1.0
    #: Whether the loss has a Lipschitz derivative (gradient methods with a
    #: constant step and the error bound apply); False for a piecewise-linear loss.
    smooth: bool = True
    #: The code of a built-in loss in the compiled kernels; None for any other loss.
    kind: int | None = None
    #: The width of the insensitive or quadratic zone (0 when the loss has none).
    epsilon: float = 0.0

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

    def objective_value(
        self, prediction, target, sample_weight, coef, alpha: float, *, l1: float = 0.0
    ) -> float:
        """The full objective from predictions: weighted mean loss + the penalty.

        The penalty is ``alpha |coef|_2^2 / 2 + l1 |coef|_1``: ``(alpha, l1)``
        are the ``(l2, l1)`` of :func:`gdreg._penalty.split`.

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
        l1 : float, default=0.0
            L1 penalty strength.

        Returns
        -------
        float

        Examples
        --------
        >>> from gdreg._loss import Huber
        >>> loss = Huber(epsilon=1.0)  # (0.125 + 2.5) / 2 + 0.25 * (4 + 1) + 0.1 * 3
        >>> loss.objective_value([0.5, 3.0], [0.0, 0.0], None, [2.0, -1.0], 0.5, l1=0.1)
        2.8625
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
        if l1:  # no term at all without an l1 part: the L2-only value is unchanged to the bit
            penalty += float(l1) * float(np.abs(coef).sum())
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
    kind = SQUARED
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


class _ResidualLoss(Loss):
    """A built-in loss of the residual ``p - y`` with a width ``epsilon``."""

    def __init__(self, epsilon: float = 0.1):
        self.epsilon = float(epsilon)

    def value(self, prediction, target):
        r = np.subtract(prediction, target)
        return self._value_of_residual(r)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self.epsilon!r})"

    def __hash__(self) -> int:
        return hash((type(self), self.epsilon))


class Huber(_ResidualLoss):
    r"""The Huber loss of ``SGDRegressor(loss="huber")``: quadratic near zero, linear beyond.

    .. math::

        \ell(p, y) = \begin{cases} \tfrac12 r^2 & |r| \le \epsilon \\
        \epsilon |r| - \tfrac12 \epsilon^2 & |r| > \epsilon \end{cases},
        \qquad r = p - y .

    Its derivative is ``r`` clipped to ``[-epsilon, epsilon]``; its curvature is at most 1.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._loss import Huber
    >>> loss = Huber(epsilon=1.0)
    >>> loss.value(np.array([0.5, 3.0]), np.zeros(2))
    array([0.125, 2.5  ])
    >>> loss.derivative(np.array([0.5, 3.0]), np.zeros(2))
    array([0.5, 1. ])
    """

    curvature = 1.0
    kind = HUBER

    def _value_of_residual(self, r):
        a = np.abs(r)
        eps = self.epsilon
        return np.where(a <= eps, 0.5 * r * r, eps * a - 0.5 * eps * eps)

    def derivative(self, prediction, target):
        return np.clip(np.subtract(prediction, target), -self.epsilon, self.epsilon)


class EpsilonInsensitive(_ResidualLoss):
    r"""The loss of ``SGDRegressor(loss="epsilon_insensitive")`` (linear support vector regression).

    .. math:: \ell(p, y) = \max(0, |p - y| - \epsilon) .

    Not differentiable at :math:`|r| = \epsilon` (the derivative used there is
    0): :attr:`smooth` is False, so no constant step is stable in general and
    the fit uses a decaying one (see the user guide, "Losses and penalties").

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._loss import EpsilonInsensitive
    >>> loss = EpsilonInsensitive(epsilon=1.0)
    >>> loss.value(np.array([0.5, 3.0, -2.0]), np.zeros(3))
    array([0., 2., 1.])
    >>> loss.derivative(np.array([0.5, 3.0, -2.0]), np.zeros(3))
    array([ 0.,  1., -1.])
    """

    curvature = 0.0
    smooth = False
    kind = EPSILON_INSENSITIVE

    def _value_of_residual(self, r):
        return np.maximum(np.abs(r) - self.epsilon, 0.0)

    def derivative(self, prediction, target):
        r = np.subtract(prediction, target)
        return np.where(np.abs(r) > self.epsilon, np.sign(r), 0.0)


class SquaredEpsilonInsensitive(_ResidualLoss):
    r"""The loss of ``SGDRegressor(loss="squared_epsilon_insensitive")``.

    .. math:: \ell(p, y) = \max(0, |p - y| - \epsilon)^2

    (no factor 1/2, as in scikit-learn); curvature at most 2.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._loss import SquaredEpsilonInsensitive
    >>> loss = SquaredEpsilonInsensitive(epsilon=1.0)
    >>> loss.value(np.array([0.5, 3.0]), np.zeros(2))
    array([0., 4.])
    >>> loss.derivative(np.array([0.5, 3.0]), np.zeros(2))
    array([0., 4.])
    """

    curvature = 2.0
    kind = SQUARED_EPSILON_INSENSITIVE

    def _value_of_residual(self, r):
        excess = np.maximum(np.abs(r) - self.epsilon, 0.0)
        return excess * excess

    def derivative(self, prediction, target):
        r = np.subtract(prediction, target)
        excess = np.maximum(np.abs(r) - self.epsilon, 0.0)
        return 2.0 * np.sign(r) * excess


class SmoothedEpsilonInsensitive(EpsilonInsensitive):
    r"""The epsilon-insensitive loss, its kinks rounded off over a width ``tau`` for the gradient.

    The *value* is that of :class:`EpsilonInsensitive`, so objectives,
    curves and the divergence test see the loss being minimised. The
    *derivative* is that of its Moreau envelope (Nesterov's smoothing): with
    the excess :math:`e = |r| - \epsilon`,

    .. math::

        \ell_\tau(r) = \begin{cases} 0 & e \le 0 \\ e^2 / (2\tau) & 0 < e \le \tau
        \\ e - \tau / 2 & e > \tau \end{cases},
        \qquad \ell_\tau \le \ell \le \ell_\tau + \tau / 2 ,

    a smooth loss of curvature :math:`1/\tau`. Minimising it for a sequence of
    shrinking ``tau`` (continuation) reaches the minimum of the
    epsilon-insensitive objective to within ``tau / 2`` with accelerated
    gradient steps (:func:`gdreg._problem.solve`), far faster than
    subgradient steps. Not a loss of the estimator's ``loss`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._loss import SmoothedEpsilonInsensitive
    >>> loss = SmoothedEpsilonInsensitive(epsilon=1.0, tau=0.5)
    >>> loss.value(np.array([1.25, 3.0]), np.zeros(2))
    array([0.25, 2.  ])
    >>> loss.derivative(np.array([1.25, 3.0, -1.1]), np.zeros(3))
    array([ 0.5,  1. , -0.2])
    """

    smooth = True
    kind = None

    def __init__(self, epsilon: float = 0.1, tau: float = 1.0):
        super().__init__(epsilon)
        self.tau = float(tau)
        self.curvature = 1.0 / self.tau

    def derivative(self, prediction, target):
        r = np.subtract(prediction, target)
        excess = np.abs(r) - self.epsilon
        return np.sign(r) * np.clip(excess / self.tau, 0.0, 1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self.epsilon!r}, tau={self.tau!r})"


#: The estimator's ``loss`` names, as in ``SGDRegressor``.
LOSSES = {
    "squared_error": SquaredLoss,
    "huber": Huber,
    "epsilon_insensitive": EpsilonInsensitive,
    "squared_epsilon_insensitive": SquaredEpsilonInsensitive,
}


def make_loss(name: str, epsilon: float = 0.1) -> Loss:
    """The loss object of an estimator's ``loss`` and ``epsilon``.

    Examples
    --------
    >>> make_loss("squared_error"), make_loss("huber", 1.35)
    (SquaredLoss(), Huber(epsilon=1.35))
    """
    cls = LOSSES[name]
    return cls() if cls is SquaredLoss else cls(epsilon)


def compiled_kind(loss) -> int | None:
    """The kernel code of ``loss`` when it is exactly a built-in loss, else None.

    The exact type, not a subclass: a subclass may change :meth:`Loss.value`,
    which the compiled kernels would not see.
    """
    if loss is None:
        return SQUARED
    if type(loss) in LOSSES.values():
        return loss.kind
    return None


def is_squared(loss) -> bool:
    """Whether ``loss`` is exactly :class:`SquaredLoss`, the loss the fast paths are written for.

    The exact type, not a subclass: a subclass may change :meth:`Loss.value`,
    which the compiled kernels would not see.
    """
    return type(loss) is SquaredLoss
