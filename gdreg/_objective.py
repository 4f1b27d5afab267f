r"""The objective, written once: weighted least squares plus an L2 penalty.

.. math::

    J(w, b) = \frac{1}{2S} \sum_i s_i \lVert y_i - x_i^\top w - b \rVert^2
              + \frac{\alpha}{2} \lVert w \rVert^2, \qquad S = \sum_i s_i .

The data are never copied. The parameters are held in one array ``theta`` of
shape ``(n_features + 1, n_targets)``: rows ``0..d-1`` are the coefficients in
*centred* coordinates and row ``d`` is the intercept ``b'`` of the centred
problem

.. math:: \tilde y_i = y_i - \bar y, \qquad \tilde x_i = x_i - \bar x ,
          \qquad r_i = \tilde x_i^\top w + b' - \tilde y_i .

Centring happens inside each product (``X @ w - x_offset @ w``) rather than on
a copy of ``X``. When the offsets are the weighted means (``fit``), the
optimal ``b'`` is exactly zero for every ``w``; the intercept row is then
frozen (``learn_intercept=False``) and the user's intercept is recovered as
``b = y_offset - x_offset @ w``. When the offsets are fixed from a first chunk
of a stream, ``b'`` is a learned parameter (``learn_intercept=True``).

Two implementations sit behind the same methods: :class:`LeastSquares` works
on ``X`` at O(n d) per gradient, and :class:`GramLeastSquares` on the
sufficient statistics ``X^T W X``, ``X^T W y`` at O(d^2) per gradient. Both
produce the same iterates up to round-off.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from gdreg import _kernels
from gdreg._kernels._summaries import csr_max_weighted_row_norm
from gdreg._loss import Loss, SquaredLoss, compiled_kind, is_squared
from gdreg._penalty import soft_threshold
from gdreg._validation import sparse_pass_applies

#: Largest number of features for which the d x d Gram matrix is formed.
GRAM_MAX_FEATURES = 2048
#: Rows per chunk when a pass over X needs a temporary (centred rows): small
#: enough to stay in cache, so the temporary costs no extra memory traffic.
_CHUNK_BYTES = 2**20
#: Bytes of dense temporaries that any chunked pass may hold, however small X is.
_MIN_CHUNK_BYTES = 2**16
#: Bytes of centred rows per chunk of the Gram pass: X / 32 within these
#: bounds. An absolute cap (not a fraction of X alone) keeps the buffer in
#: cache; the floor keeps the chunks few (each costs tens of microseconds of
#: calls): the buffer is within 5 % of any X from 10 MB up. The chunk read and
#: its centred copy together stay within a 2 MiB L2 cache: at 1,000,000 x 10
#: and 100,000 x 100, 512 KiB chunks make the pass 13 % faster than 2 MiB ones.
_GRAM_CHUNK_BYTES = 2**19
_GRAM_MIN_CHUNK_BYTES = 2**18
#: (Not one chunk for a small X either: a 1,000 x 100 chunk is large enough for
#: OpenBLAS to split its syrk over two threads, which made that fit and the
#: next Ridge fit 2.5 x slower on two cores.)
#: Stored entries of sparse X per block of rows when forming X^T C X.
_SPARSE_BLOCK_ENTRIES = 20_000
#: Up to this many features, the full-batch L comes from X^T C X rather than eigsh.
_GRAM_LIPSCHITZ_MAX_FEATURES = 512


def _row_chunks(X, max_fraction: float = 0.02):
    """Row slices whose dense temporaries stay small next to ``X`` itself."""
    n, d = X.shape
    itemsize = X.dtype.itemsize
    rows = max(1, min(_CHUNK_BYTES // max(1, d * itemsize), int(n * max_fraction)))
    rows = max(rows, 256) if n * max_fraction >= 256 else max(rows, 1)
    # temporaries of up to 64 KiB are always allowed: a small X is one chunk, not
    # fifty chunks of a few rows (each chunk costs tens of microseconds)
    rows = max(rows, _MIN_CHUNK_BYTES // max(1, d * itemsize))
    for start in range(0, n, rows):
        yield slice(start, min(start + rows, n))


class StochasticData(NamedTuple):
    """The arrays the compiled per-sample kernels read (nothing is copied)."""

    X: object  # ndarray (n, d) or scipy.sparse CSR
    Y: np.ndarray  # (n, k)
    scale: np.ndarray  # (n,) unbiased per-sample weights n * s_i / S
    x_offset: np.ndarray  # (d,)
    y_offset: np.ndarray  # (k,)
    alpha: float
    learn_intercept: bool
    column_scale: np.ndarray | None = None  # (d,) spreads of standardised coordinates
    loss_kind: int = 0  # the loss's code (gdreg._loss.residual_value)
    epsilon: float = 0.0  # the loss's width
    l1: float = 0.0  # strength of the l1 penalty, applied by soft-thresholding after each update


class LeastSquares:
    """Weighted, centred least squares with an L2 penalty on the coefficients.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or CSR matrix
        Design matrix; used as is, never copied.
    Y : ndarray of shape (n_samples, n_targets)
        Targets.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights, not all zero. ``None`` means all ones.
    alpha : float
        L2 penalty strength (the intercept is not penalised).
    x_offset, y_offset : ndarray
        Centring offsets of shape (n_features,) and (n_targets,).
    learn_intercept : bool
        Whether the intercept row of ``theta`` is a free parameter.
    constant_features : ndarray of bool of shape (n_features,) or None
        Columns known to be constant and centred by that constant: their
        centred values are exactly zero, so their data gradient is set to
        zero instead of the round-off that centring inside the products
        leaves (which, with no other feature, would set the "auto" step).
    loss : Loss or None
        The per-sample loss (:mod:`gdreg._loss`); ``None`` means
        :class:`~gdreg._loss.SquaredLoss`. The value and gradient below are
        written through it, as are the compiled per-sample kernels (the
        built-in losses, :func:`gdreg._loss.compiled_kind`); ``hessian`` is
        that of the squared loss, and ``lipschitz`` scales it by the loss's
        curvature.
    l1 : float, default=0.0
        Strength of the l1 penalty, applied by :meth:`prox` after each update.

    Notes
    -----
    **Standardised coordinates.** :meth:`scaled` returns the same objective
    whose parameters are ``u = sigma * w`` (``sigma`` the column spreads): the
    coordinates of the standardised features ``(x - xbar) / sigma``, applied
    inside each product, never on a copy of ``X``. The objective's *value* is
    unchanged (the L2 term stays ``alpha |w|^2 / 2`` in the user's units);
    gradients, curvatures and steps are those of ``u``, so gradient descent in
    these coordinates is invariant to the units of the features.
    """

    def __init__(
        self,
        X,
        Y,
        sample_weight,
        *,
        alpha,
        x_offset,
        y_offset,
        learn_intercept,
        constant_features=None,
        loss: Loss | None = None,
        l1: float = 0.0,
    ):
        self.X = X
        self.Y = Y
        self.loss = SquaredLoss() if loss is None else loss
        n = X.shape[0]
        dtype = Y.dtype
        if sample_weight is None:
            self.weight_sum = float(n)
            self.c = np.full(n, 1.0 / n, dtype=dtype)
        else:
            self.weight_sum = float(np.sum(sample_weight, dtype=np.float64))
            self.c = (sample_weight / self.weight_sum).astype(dtype, copy=False)
        self.alpha = float(alpha)
        self.l1 = float(l1)
        self.x_offset = np.asarray(x_offset, dtype=dtype)
        self.y_offset = np.asarray(y_offset, dtype=dtype)
        self.learn_intercept = bool(learn_intercept)
        self.n_features = X.shape[1]
        self.n_targets = Y.shape[1]
        self.n_samples = n
        self.constant = None
        if constant_features is not None and np.any(constant_features):
            self.constant = np.asarray(constant_features, dtype=bool)
        self.column_scale = None

    # -- coordinates ----------------------------------------------------------------
    def scaled(self, column_scale) -> LeastSquares:
        """The same objective in standardised coordinates ``u = column_scale * w``.

        ``column_scale`` holds positive spreads, one per feature. Nothing is
        copied but the small arrays; ``None`` gives the user's coordinates.
        """
        new = copy.copy(self)
        new.column_scale = (
            None
            if column_scale is None
            else np.asarray(column_scale, dtype=self.x_offset.dtype).reshape(-1)
        )
        new.__dict__.pop("_lipschitz", None)
        return new

    def coef(self, theta) -> np.ndarray:
        """The coefficients ``w`` (user's units, centred problem) held in ``theta``."""
        w = theta[: self.n_features]
        return w if self.column_scale is None else w / self.column_scale[:, None]

    def params_from_coef(self, coef, intercept_row) -> np.ndarray:
        """``theta`` holding coefficients ``coef`` (d, k) and the intercept row."""
        theta = np.empty((self.n_features + 1, coef.shape[1]), dtype=self.x_offset.dtype)
        theta[: self.n_features] = (
            coef if self.column_scale is None else coef * self.column_scale[:, None]
        )
        theta[self.n_features] = intercept_row
        return theta

    def _to_own_coordinates(self, grad_w) -> None:
        """Turn the coefficient rows of a gradient in ``w`` into one in ``theta``, in place."""
        if self.column_scale is not None:
            grad_w[: self.n_features] /= self.column_scale[:, None]

    # -- the readable O(n d) path -------------------------------------------------
    def _prediction(self, theta, rows=slice(None)):
        """Predictions in the user's units (a fresh array the loss may overwrite)."""
        d = self.n_features
        w, b = self.coef(theta), theta[d]
        X = self.X[rows]
        shift = self.x_offset @ w - b - self.y_offset
        return np.asarray(X @ w) - shift

    def _gradient_from(self, theta, weighted_residual, rows=slice(None)):
        d = self.n_features
        grad = np.empty_like(theta)
        X = self.X[rows]
        col_sum = weighted_residual.sum(axis=0)
        grad[:d] = np.asarray(X.T @ weighted_residual) - np.outer(self.x_offset, col_sum)
        if self.constant is not None:
            grad[:d][self.constant] = 0.0
        grad[:d] += self.alpha * self.coef(theta)
        grad[d] = col_sum if self.learn_intercept else 0.0
        self._to_own_coordinates(grad)
        return grad

    def penalty(self, theta) -> float:
        """``alpha |w|^2 / 2 + l1 |w|_1`` (:mod:`gdreg._penalty`)."""
        w = self.coef(theta)
        value = 0.5 * self.alpha * float(np.vdot(w, w))
        if self.l1:
            value += self.l1 * float(np.abs(w).sum())
        return value

    def l1_thresholds(self):
        """The l1 strength per coefficient row in this objective's coordinates, shape (d, 1).

        ``l1 / sigma_j`` in standardised coordinates (``l1 |w_j| = (l1 / sigma_j) |u_j|``).
        """
        if self.column_scale is None:
            return np.full((self.n_features, 1), self.l1)
        return (self.l1 / self.column_scale.astype(np.float64))[:, None]

    def prox(self, theta, step) -> None:
        """The proximal step of the l1 penalty with step ``step``, on ``theta`` in place.

        Soft-thresholds each coefficient by ``step * l1_thresholds()``; the
        intercept row is not penalised. Nothing happens without an l1 part.
        """
        if not self.l1:
            return
        d = self.n_features
        soft_threshold(theta[:d], step * self.l1_thresholds())

    def value(self, theta) -> float:
        """Objective value J at ``theta``."""
        loss = self.loss.weighted_value(self._prediction(theta), self.Y, self.c)
        return loss + self.penalty(theta)

    def value_and_gradient(self, theta):
        """``(J(theta), grad J(theta))`` with one pass over ``X``."""
        loss, weighted_derivative = self.loss.weighted_value_and_derivative(
            self._prediction(theta), self.Y, self.c
        )
        return loss + self.penalty(theta), self._gradient_from(theta, weighted_derivative)

    def batch_value_and_gradient(self, theta, idx):
        """Unbiased estimate of ``(J, grad J)`` from the samples ``idx``.

        Each sample counts with weight ``n * s_i / S`` and the batch is
        averaged, so the expectation over a uniformly drawn batch is the full
        objective and gradient.
        """
        prediction = self._prediction(theta, idx)
        scale = self.c[idx] * (self.n_samples / len(prediction))
        loss, weighted_derivative = self.loss.weighted_value_and_derivative(
            prediction, self.Y[idx], scale
        )
        return loss + self.penalty(theta), self._gradient_from(theta, weighted_derivative, idx)

    def value_at_zero(self) -> float:
        """J at zero parameters (the prediction is the target offset), from the loss.

        Needs no pass over ``X``: it is the loss of predicting the offset.
        """
        if not self.n_samples:
            return 0.0
        return self.loss.start_value(self.Y - self.y_offset, self.c)

    def intercept_(self, theta):
        """The user's intercept for ``theta``."""
        d = self.n_features
        return self.y_offset - self.x_offset @ self.coef(theta) + theta[d]

    def stochastic_data(self) -> StochasticData:
        """The arrays the compiled per-sample kernels read.

        The kernels compute the built-in losses (:func:`gdreg._loss.compiled_kind`):
        asking for them with another loss is an error, not a silent
        squared-loss fit.
        """
        kind = compiled_kind(self.loss)
        if kind is None:
            raise TypeError(
                f"The compiled per-sample kernels compute the built-in losses, not {self.loss!r}; "
                "run this objective on the NumPy path."
            )
        return StochasticData(
            self.X,
            self.Y,
            self.c * self.n_samples,
            self.x_offset,
            self.y_offset,
            self.alpha,
            self.learn_intercept,
            self.column_scale,
            kind,
            float(self.loss.epsilon),
            self.l1,
        )

    # -- curvature -----------------------------------------------------------------
    def _hessian_operator(self):
        d = self.n_features
        size = d + 1 if self.learn_intercept else d
        X, c, m, alpha = self.X, self.c, self.x_offset.astype(np.float64), self.alpha
        constant = self.constant
        inv = None if self.column_scale is None else 1.0 / self.column_scale.astype(np.float64)

        def matvec(v):
            v = np.asarray(v, dtype=np.float64).ravel()
            w = v[:d] if inv is None else v[:d] * inv
            if constant is not None:
                w = np.where(constant, 0.0, w)
            u = np.asarray(X @ w).ravel() - m @ w
            if self.learn_intercept:
                u = u + v[d]
            cu = c * u
            out = np.empty(size)
            out[:d] = np.asarray(X.T @ cu).ravel() - m * cu.sum()
            if constant is not None:
                out[:d][constant] = 0.0
            out[:d] += alpha * w
            if inv is not None:
                out[:d] *= inv
            if self.learn_intercept:
                out[d] = cu.sum()
            return out

        return spla.LinearOperator((size, size), matvec=matvec, dtype=np.float64)

    def hessian(self) -> np.ndarray | None:
        """The Hessian of J in the user's coordinates ``w`` (d x d, float64), or None.

        Formed from the centred, weighted Gram matrix (one BLAS pass over
        ``X``) when ``d <= GRAM_MAX_FEATURES`` and the intercept is not a
        learned parameter; None otherwise.
        """
        d = self.X.shape[1]
        if self.learn_intercept or d > GRAM_MAX_FEATURES or d == 0:
            return None
        gram = sufficient_statistics(
            self.X, self.Y, self.c, self.x_offset, self.y_offset, uniform=False
        )[0].astype(np.float64, copy=False)
        if self.constant is not None:
            gram[self.constant, :] = 0.0
            gram[:, self.constant] = 0.0
        gram[np.diag_indices(d)] += self.alpha
        return gram

    def own_hessian(self, hessian_w) -> np.ndarray:
        """The Hessian in this objective's coordinates from the one in ``w``."""
        if self.column_scale is None:
            return hessian_w
        inv = 1.0 / self.column_scale.astype(np.float64)
        return hessian_w * inv[:, None] * inv[None, :]

    def lipschitz(self) -> float:
        """Largest eigenvalue of the Hessian of J (the full-batch smoothness L)."""
        cached = self.__dict__.get("_lipschitz")
        if cached is not None:
            return cached
        self._lipschitz = self._compute_lipschitz()
        if not is_squared(self.loss):
            self._lipschitz = self._loss_curvature(self._lipschitz)
        return self._lipschitz

    def _loss_curvature(self, squared_lipschitz: float) -> float:
        """``L`` of this loss from the squared loss's: the data part times the loss's curvature.

        A loss that is not smooth (``curvature`` 0) keeps the squared loss's
        ``L``, the scale of its decaying step.
        """
        curvature = self.loss.curvature if self.loss.smooth else 1.0
        if self.learn_intercept:
            # the intercept's own curvature is 1 (centred columns: no cross terms)
            squared_lipschitz = max(squared_lipschitz, 1.0)
        # c G + a I <= max(c, 1) (G + a I): an upper bound in any coordinates
        return max(curvature, 1.0) * squared_lipschitz

    def set_lipschitz(self, value: float) -> None:
        """Record ``L`` when it is already known (from a full spectrum of the squared loss)."""
        value = float(value)
        self._lipschitz = value if is_squared(self.loss) else self._loss_curvature(value)

    def _compute_lipschitz(self) -> float:
        if self._lipschitz_from_gram():
            gram = _dense_statistics(self.X, self.Y, self.c, self.x_offset, self.y_offset, False)[0]
            constant = getattr(self, "constant", None)
            if constant is not None:
                gram[constant, :] = 0.0
                gram[:, constant] = 0.0
            if self.column_scale is not None:
                return _top_eigenvalue(self.own_hessian(gram + self.alpha * np.eye(len(gram))))
            return _top_eigenvalue(gram) + self.alpha
        op = self._hessian_operator()
        size = op.shape[0]
        if size == 0:
            return 0.0
        if size <= 64:
            H = op.matmat(np.eye(size))
            return float(max(scipy.linalg.eigvalsh(0.5 * (H + H.T))[-1], 0.0))
        v0 = np.ones(size) / np.sqrt(size)
        value = spla.eigsh(op, k=1, which="LA", v0=v0, tol=1e-4, return_eigenvectors=False)
        return float(max(value[0], 0.0))

    def _lipschitz_from_gram(self) -> bool:
        """Whether one BLAS-3 pass forming ``X^T C X`` beats the Hessian-vector products.

        ``eigsh`` needs about 20 products (40 memory-bound passes over X), and
        up to 64 features the matrix is built from ``d`` of them; the Gram
        matrix costs one compute-bound pass for moderate ``d``.
        """
        X = self.X
        n, d = X.shape
        return (
            isinstance(X, np.ndarray)
            and not self.learn_intercept
            and 0 < d <= _GRAM_LIPSCHITZ_MAX_FEATURES
            and n >= d
        )

    def lipschitz_max(self) -> float:
        """Largest per-sample smoothness ``max_i n c_i (||x_i - xbar||^2 [+1]) + alpha``.

        In standardised coordinates the row norms are those of
        ``(x_i - xbar) / sigma`` and the penalty's curvature is
        ``alpha / min(sigma)^2``.
        """
        X = self.X
        plus = 1.0 if self.learn_intercept else 0.0
        inv = None if self.column_scale is None else 1.0 / self.column_scale.astype(np.float64)
        alpha = self.alpha if inv is None else self.alpha * float(np.max(inv**2, initial=0.0))
        if not is_squared(self.loss):
            curvature = self.loss.curvature if self.loss.smooth else 1.0
            return curvature * (self._data_lipschitz_max(X, plus, inv, 0.0)) + alpha
        return self._data_lipschitz_max(X, plus, inv, alpha)

    def _data_lipschitz_max(self, X, plus, inv, alpha) -> float:
        if (
            isinstance(X, np.ndarray)
            and X.flags.c_contiguous
            and _kernels.worth_compiling(X.size, _kernels.ONE_PASS_MIN_SIZE)
        ):
            norm = _kernels.max_weighted_row_norm(X, self.x_offset, self.c, plus, inv)
            return self.n_samples * norm + alpha
        if isinstance(X, np.ndarray):
            # chunk by chunk, so that no array of n norms is held (8 bytes a
            # row: 10 % of X at d = 10)
            offset = np.asarray(self.x_offset, dtype=np.float64)
            best = 0.0
            for rows in _row_chunks(X):
                block = X[rows] - offset
                if inv is not None:
                    block *= inv
                norms = np.einsum("ij,ij->i", block, block) + plus
                best = max(best, float(np.max(self.c[rows] * norms, initial=0.0)))
            return self.n_samples * best + alpha
        if sparse_pass_applies(X):
            # one pass over the stored entries: no X.multiply(X), no n norms
            norm = csr_max_weighted_row_norm(X, self.x_offset, self.c, plus, inv)
            return self.n_samples * norm + alpha
        norms = _centred_row_norms(self.X, self.x_offset, inv)
        if self.learn_intercept:
            norms += 1.0
        return float(np.max(self.n_samples * self.c * norms, initial=0.0)) + alpha


def _centred_row_norms(X, offset, inv=None) -> np.ndarray:
    """``||(x_i - offset) * inv||^2`` for every row, without a full centred copy."""
    offset = np.asarray(offset, dtype=np.float64)
    if sp.issparse(X):
        w2 = np.ones(X.shape[1]) if inv is None else inv**2
        sq = np.asarray(X.multiply(X) @ w2, dtype=np.float64).ravel()
        cross = np.asarray(X @ (w2 * offset), dtype=np.float64).ravel()
        return np.maximum(sq - 2.0 * cross + offset @ (w2 * offset), 0.0)
    out = np.empty(X.shape[0])
    for rows in _row_chunks(X):
        block = X[rows] - offset
        if inv is not None:
            block *= inv
        out[rows] = np.einsum("ij,ij->i", block, block)
    return out


class GramLeastSquares(LeastSquares):
    """The same objective evaluated on sufficient statistics, O(d^2) per gradient.

    ``G = Xc^T C Xc``, ``q = Xc^T C Yc`` and ``yy = diag(Yc^T C Yc)`` are
    formed once (``C = diag(s_i / S)``), centring each chunk of rows on the
    fly so that no copy of ``X`` is made. Only used with the intercept
    eliminated (``learn_intercept=False``), where the intercept row of the
    gradient is zero. The statistics suffice for the squared loss only: any
    other ``loss`` is refused.
    """

    def __init__(
        self,
        X,
        Y,
        sample_weight,
        *,
        alpha,
        x_offset,
        y_offset,
        learn_intercept=False,
        loss: Loss | None = None,
        l1: float = 0.0,
    ):
        _check_squared(loss)
        super().__init__(
            X,
            Y,
            sample_weight,
            alpha=alpha,
            x_offset=x_offset,
            y_offset=y_offset,
            learn_intercept=False,
            l1=l1,
        )
        self.gram, self.xty, self.yty = sufficient_statistics(
            X, Y, self.c, self.x_offset, self.y_offset, uniform=sample_weight is None
        )

    @classmethod
    def from_statistics(
        cls, gram, xty, yty, *, weight_sum, n_samples, alpha, x_offset, y_offset, l1=0.0
    ):
        """Build from precomputed centred statistics (used by streaming and Dask)."""
        self = cls.__new__(cls)
        self.X = None
        self.Y = None
        self.c = None
        self.weight_sum = float(weight_sum)
        self.alpha = float(alpha)
        self.l1 = float(l1)
        dtype = gram.dtype
        self.x_offset = np.asarray(x_offset, dtype=dtype)
        self.y_offset = np.asarray(y_offset, dtype=dtype)
        self.learn_intercept = False
        self.n_features = gram.shape[0]
        self.n_targets = xty.shape[1]
        self.n_samples = int(n_samples)
        self.gram, self.xty, self.yty = gram, xty, yty
        self.constant = None
        self.column_scale = None
        self.loss = SquaredLoss()
        return self

    def value_and_gradient(self, theta):
        d = self.n_features
        w = self.coef(theta)
        gw = self.gram @ w
        value = 0.5 * float(self.yty.sum() - 2.0 * np.vdot(w, self.xty) + np.vdot(w, gw))
        value += self.penalty(theta)
        grad = np.zeros_like(theta)
        grad[:d] = gw - self.xty + self.alpha * w
        self._to_own_coordinates(grad)
        return value, grad

    def value(self, theta) -> float:
        return self.value_and_gradient(theta)[0]

    def value_at_zero(self) -> float:
        # the squared loss of the centred targets, held by the statistics
        return 0.5 * float(np.sum(self.yty))

    def hessian(self) -> np.ndarray | None:
        d = self.n_features
        if d == 0:
            return None
        hessian = self.gram.astype(np.float64)  # a copy: callers may change it
        hessian[np.diag_indices(d)] += self.alpha
        return hessian

    def _compute_lipschitz(self) -> float:
        if self.n_features == 0:
            return 0.0
        if self.column_scale is not None:
            return _top_eigenvalue(self.own_hessian(self.hessian()))
        return _top_eigenvalue(self.gram) + self.alpha


def _check_squared(loss) -> None:
    """Refuse a loss the sufficient statistics cannot represent."""
    if loss is not None and not is_squared(loss):
        raise TypeError(
            f"GramLeastSquares holds X^T X and X^T y, which determine the squared loss only, "
            f"not {loss!r}; use LeastSquares(..., loss=loss)."
        )


def _top_eigenvalue(gram) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite matrix (0 if empty)."""
    d = gram.shape[0]
    if d == 0:
        return 0.0
    top = scipy.linalg.eigvalsh(gram.astype(np.float64), subset_by_index=[d - 1, d - 1])
    return float(max(top[0], 0.0))


def sufficient_statistics(X, Y, c, x_offset, y_offset, *, uniform=False):
    """Centred, weighted ``(Xc^T C Xc, Xc^T C Yc, diag(Yc^T C Yc))`` without copying X.

    Dense ``X`` is centred one small chunk of rows at a time (see
    :func:`_dense_statistics`); sparse ``X`` is centred algebraically.
    ``uniform=True`` promises that all entries of ``c`` are equal; ``c=None``
    means ``1 / n`` each, without an n-long vector (10 % of X at d = 10).
    """
    if not sp.issparse(X):
        return _dense_statistics(X, Y, c, x_offset, y_offset, uniform or c is None)
    if c is None:
        c = np.full(X.shape[0], 1.0 / max(X.shape[0], 1), dtype=Y.dtype)
    dtype = Y.dtype
    yc = Y - y_offset
    yty = np.einsum("ij,ij->j", c[:, None] * yc, yc)
    d = X.shape[1]
    # X^T C X by blocks of rows: the sparse product's temporaries scale with the
    # block's entries, not with all of X's (a fit must not cost a dense copy)
    xtx = np.zeros((d, d), dtype=np.float64)
    xty = np.zeros((d, Y.shape[1]), dtype=np.float64)
    mean = np.zeros(d, dtype=np.float64)  # X^T c
    rows = max(1, -(-X.shape[0] // max(1, -(-X.nnz // _SPARSE_BLOCK_ENTRIES))))
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows]
        cx = block.multiply(c[start : start + rows, None]).tocsr()
        xtx += (block.T @ cx).toarray()
        mean += np.asarray(cx.sum(axis=0), dtype=np.float64).ravel()
        xty += np.asarray(cx.T @ yc[start : start + rows], dtype=np.float64)
    sw = c.sum()
    gram = xtx.copy()
    offset = np.asarray(x_offset, dtype=np.float64)
    gram -= np.outer(mean, offset)
    gram -= np.outer(offset, mean)
    gram += sw * np.outer(offset, offset)
    xty -= np.outer(offset, c @ yc)
    # Algebraic centring cancels: a column whose centred variance is within
    # the summation round-off (n eps) of its second moment is constant to
    # working precision; its round-off would otherwise become a spurious
    # curvature, and 1/curvature the "auto" step.
    flat = np.diag(gram) <= max(16, X.shape[0]) * np.finfo(dtype).eps * np.diag(xtx)
    del xtx
    gram[flat, :] = 0.0
    gram[:, flat] = 0.0
    xty[flat] = 0.0
    gram += gram.T
    gram *= 0.5
    return gram.astype(dtype, copy=False), xty.astype(dtype, copy=False), yty


def _dense_statistics(X, Y, c, x_offset, y_offset, uniform):
    """The dense branch of :func:`sufficient_statistics`: one pass, BLAS ``syrk``.

    Each chunk of rows is centred into one reused buffer small enough to stay
    in cache (about 1 MiB) and added to the Gram matrix with ``syrk``, which
    computes one triangle of ``B^T B`` (half the work of ``B.T @ B``). Chunk
    results are accumulated in float64 whatever the input precision, so
    float32 data lose nothing to the sum over millions of rows. With uniform
    weights the rows are not scaled at all: ``c`` is one number applied at
    the end.
    """
    n, d = X.shape
    k = Y.shape[1]
    dtype = Y.dtype
    syrk = scipy.linalg.blas.get_blas_funcs("syrk", dtype=dtype)
    in_place = dtype == np.float64
    gram = np.zeros((d, d), dtype=np.float64, order="F")
    xty = np.zeros((d, k), dtype=np.float64)
    yty = np.zeros(k, dtype=np.float64)
    rows = _gram_chunk_rows(n, d, X.dtype.itemsize)
    buffer = np.empty((min(rows, n), d), dtype=dtype)
    if c is None:  # uniform weights, given as one number
        weight = 1.0 / max(n, 1)
    else:
        weight = float(c[0]) if (uniform and n) else 1.0
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = buffer[: stop - start]
        np.subtract(X[start:stop], x_offset, out=block)
        y_block = Y[start:stop] - y_offset
        if uniform:
            yty += np.einsum("ij,ij->j", y_block, y_block)
        else:
            root = np.sqrt(c[start:stop])[:, None]
            block *= root
            y_block *= root
            yty += np.einsum("ij,ij->j", y_block, y_block)
        # block.T is Fortran-ordered: syrk reads it without a copy
        if in_place:
            gram = syrk(1.0, block.T, beta=1.0, c=gram, trans=0, overwrite_c=True)
        else:
            gram += syrk(1.0, block.T, trans=0)
        xty += block.T @ y_block
    gram = np.triu(gram) + np.triu(gram, 1).T  # syrk fills the upper triangle
    return (
        (weight * gram).astype(dtype),
        (weight * xty).astype(dtype),
        (weight * yty).astype(dtype),
    )


def _gram_chunk_rows(n: int, d: int, itemsize: int) -> int:
    """Rows per chunk of the Gram pass: ``X.nbytes / 32`` between 256 and 512 KiB
    (cache-resident; an absolute cap rather than a fraction of X alone, whose
    small chunks cost more in calls than in arithmetic), and at least 256 rows so that syrk is
    compute- rather than memory-bound when d is large (the X of such a d is
    then far larger than the buffer: it has at least 10 d rows)."""
    row = max(1, d * itemsize)
    size = min(_GRAM_CHUNK_BYTES, max(_GRAM_MIN_CHUNK_BYTES, n * row // 32))
    return max(256, min(size // row, max(n, 1)))


class DenseMoments(NamedTuple):
    """What one pass over dense ``(X, Y)`` gives the full-batch fit (see :func:`dense_moments`).

    Sums are weighted by ``c`` as given (``1/n`` each without weights), in
    float64; ``xx``, ``xy`` and ``yy`` are centred on the weighted means.
    """

    # (d,) column minima and maxima in X.dtype, rows of zero weight included; None
    # without weights, where every entry is in the moments (see :func:`dense_moments`)
    x_low: np.ndarray | None
    x_high: np.ndarray | None
    y_low: np.ndarray  # (k,)
    y_high: np.ndarray  # (k,)
    weight: float  # sum of c
    x_mean: np.ndarray  # (d,) weighted means; a constant column's is the constant itself
    y_mean: np.ndarray  # (k,)
    xx: np.ndarray  # (d, d) sum_i c_i (x_i - xbar)(x_i - xbar)^T
    xy: np.ndarray  # (d, k)
    yy: np.ndarray  # (k,)

    @property
    def finite(self) -> bool:
        """Whether every entry of X and Y was finite (and, without ranges, no square overflowed).

        A NaN or an infinity shows in a range; without ranges it makes the
        column's mean or centred second moment NaN or infinite, as does a
        finite entry whose square overflows (the magnitude check names it).
        """
        if self.x_low is None:
            x_finite = np.isfinite(self.x_mean).all() and np.isfinite(np.diag(self.xx)).all()
        else:
            x_finite = np.isfinite(self.x_low).all() and np.isfinite(self.x_high).all()
        return bool(x_finite and np.isfinite(self.y_low).all() and np.isfinite(self.y_high).all())

    def largest_magnitude_bounds(self, n_samples: int) -> tuple[float, float]:
        """Bounds ``(lower, upper)`` on the largest ``|x|`` of X, from unweighted moments.

        Each column's root mean square ``r_j = sqrt(xx_jj + mean_j**2)`` is at
        most its largest magnitude, and ``n r_j**2`` (the sum of its squares)
        at least that magnitude's square: ``max r_j <= max |x| <= sqrt(n) max
        r_j``. Enough to tell that the magnitude check cannot fail, without
        the ranges.
        """
        with np.errstate(over="ignore"):
            rms = float(np.sqrt(np.max(np.diag(self.xx) + self.x_mean**2, initial=0.0)))
        return rms, math.sqrt(n_samples) * rms

    def about(self, x_offset, y_offset, dtype):
        """``(Xc^T C Xc, Xc^T C Yc, diag(Yc^T C Yc))`` centred on the given offsets.

        Sums about any point follow from the centred ones exactly:
        ``sum c (x - m)(x - m)^T = xx + S (xbar - m)(xbar - m)^T``; with the
        means as offsets the correction is zero, and with zero offsets (no
        intercept) it adds positive terms, so nothing cancels.
        """
        dx = self.x_mean - np.asarray(x_offset, dtype=np.float64)
        dy = self.y_mean - np.asarray(y_offset, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # the magnitude check reports it
            gram = self.xx + self.weight * np.outer(dx, dx)
            xty = self.xy + self.weight * np.outer(dx, dy)
            yty = self.yy + self.weight * dy * dy
            return gram.astype(dtype), xty.astype(dtype), yty.astype(dtype)


@functools.lru_cache(maxsize=8)
def _strict_lower(d: int) -> np.ndarray:
    """The read-only mask of the entries below the diagonal of a ``d x d`` matrix."""
    mask = np.tril(np.ones((d, d), dtype=bool), -1)
    mask.flags.writeable = False
    return mask


def _block_range(block):
    """Column-wise ``(min, max)`` of a block of rows, exact, without a per-row loop.

    NumPy reduces a C-ordered array over axis 0 one row at a time; for
    narrow rows the call per row dominates (about 5 ns per entry at d = 10),
    so ``g`` consecutive rows are viewed as one row of ``g * d`` entries.
    """
    m, d = block.shape
    group = -(-64 // max(d, 1))
    if group == 1 or m < 2 * group or not block.flags.c_contiguous:
        return block.min(axis=0), block.max(axis=0)
    full = m // group * group
    wide = block[:full].reshape(full // group, group * d)
    low = wide.min(axis=0).reshape(group, d).min(axis=0)
    high = wide.max(axis=0).reshape(group, d).max(axis=0)
    if full < m:
        low = np.minimum(low, block[full:].min(axis=0))
        high = np.maximum(high, block[full:].max(axis=0))
    return low, high


def _constant_columns(X, xx, x_mean, terms: int) -> np.ndarray:
    """Which columns of X are constant, given their centred second moments ``diag(xx)``.

    A constant column's pivots are its value to within ``terms * eps``
    relative (sums of at most ``rows`` entries, one per chunk merge), so its
    computed second moment is below ``(4 terms eps mean)**2``; any column
    above that bound varies. The columns at or under it (few: constant ones,
    or ones with at most ``1e-12``-relative spread at realistic sizes) are
    compared entry by entry.
    """
    factor = (4.0 * terms * float(np.finfo(X.dtype).eps)) ** 2
    suspect = np.flatnonzero(~(xx.diagonal() > factor * np.square(x_mean)))
    constant = np.zeros(X.shape[1], dtype=bool)
    if suspect.size and X.shape[0]:
        columns = X[:, suspect]
        constant[suspect] = (columns == columns[:1]).all(axis=0)
    return constant


def dense_moments(X, Y, c=None) -> DenseMoments:
    """Column ranges, weighted means and centred second moments of dense ``(X, Y)``: one pass.

    Everything the full-batch fit needs from the data (the magnitude check,
    the constant columns, the centring offsets, the Gram matrix, ``X^T y``,
    ``y^T y``) from one read of ``X``. Each cache-sized chunk of rows is
    centred on its own approximate mean into one reused buffer (the chunk is
    then read from cache, not memory), its exact first moment about that
    pivot removes the pivot's error, and the chunks are merged with the
    update of Chan, Golub and LeVeque (see :mod:`gdreg._stats`), so columns
    far from zero keep every digit of their spread. Columns (and targets)
    whose minimum equals their maximum get their constant as mean and exact
    zeros as moments.

    With weights, the column ranges are taken chunk by chunk (rows of zero
    weight are in no moment, but their entries must still be checked).
    Without, every entry is in the moments, which tell what the ranges would:
    a NaN or infinity makes them non-finite (:attr:`DenseMoments.finite`),
    they bound the largest magnitude
    (:meth:`DenseMoments.largest_magnitude_bounds`), and a constant column's
    centred second moment is the round-off of its pivots, at most
    ``(4 (rows + chunks) eps)**2 mean**2``: only the columns under that
    bound have their range taken, to decide exactly. This saves a third of
    the pass (at 133,333 x 50: 12 of 43 ms, one thread).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Any layout; never copied.
    Y : ndarray of shape (n_samples, n_targets)
        Targets, in ``X.dtype``.
    c : ndarray of shape (n_samples,) or None
        Sample fractions ``s_i / S``; ``None`` means ``1 / n`` each (no
        weight vector is formed).

    Returns
    -------
    DenseMoments

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 5.0], [3.0, 5.0]]); Y = np.array([[1.0], [2.0]])
    >>> m = dense_moments(X, Y)
    >>> m.x_mean, m.xx, m.xy.ravel()
    (array([2., 5.]), array([[1., 0.],
           [0., 0.]]), array([0.5, 0. ]))
    """
    n, d = X.shape
    k = Y.shape[1]
    dtype = X.dtype
    x_low = x_high = None
    ranges = c is not None
    if k == 1:  # a reduction over all entries: contiguous, not one call per sample
        y_low, y_high = Y.min(axis=None, keepdims=True)[0], Y.max(axis=None, keepdims=True)[0]
    else:
        y_low, y_high = _block_range(Y)
    # X and Y side by side in one buffer: one syrk gives X^T X, X^T Y and Y^T Y
    p = d + k
    total = 0.0
    z_mean = np.zeros(p)
    in_place = dtype == np.float64  # float32 chunks are added up in float64
    zz = np.zeros((p, p), dtype=np.float64, order="F")
    syrk = scipy.linalg.blas.get_blas_funcs("syrk", dtype=dtype)
    rows = _gram_chunk_rows(n, p, dtype.itemsize)
    chunks = -(-n // rows)
    # rank-one terms of the merges, applied at the end in one product (a p x p
    # update per chunk would cost as much as the chunk's syrk at small d):
    # zz = sum of chunk syrks + added^T added - removed^T removed
    added, removed = np.zeros((chunks, p)), np.zeros((chunks, p))
    buffer = np.empty((min(rows, n), p), dtype=dtype)
    ones = np.ones(min(rows, n), dtype=dtype)
    c0 = 1.0 / max(n, 1)
    # NaN, infinity or overflowing entries make NaN sums here; the caller reports them
    # from the ranges, with scikit-learn's message or the magnitude check's
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for chunk, start in enumerate(range(0, n, rows)):
            stop = min(start + rows, n)
            m = stop - start
            Xb, Yb = X[start:stop], Y[start:stop]
            if ranges:
                low, high = _block_range(Xb)
                if x_low is None:
                    x_low, x_high = low, high
                else:
                    x_low, x_high = np.minimum(x_low, low), np.maximum(x_high, high)
            cb = None if c is None else c[start:stop]
            part = m * c0 if cb is None else float(np.sum(cb, dtype=np.float64))
            if not part > 0.0:
                continue  # rows of zero weight: only their ranges count
            weights = ones[:m] if cb is None else cb
            # the pivot: the mean of the chunks so far, or the first chunk's own
            # (one read of the chunk more); its distance from this chunk's mean is
            # removed exactly below
            if total > 0.0:
                pivot = z_mean.astype(dtype)
            else:
                scale = 1.0 / m if cb is None else 1.0 / part
                pivot = np.concatenate([weights @ Xb, weights @ Yb]) * scale
                pivot = pivot.astype(dtype)
            block = buffer[:m]
            np.subtract(Xb, pivot[:d], out=block[:, :d])
            np.subtract(Yb, pivot[d:], out=block[:, d:])
            # first moments about the pivot: small, so nothing cancels below
            unit = c0 if cb is None else 1.0  # uniform sums are made with weight 1
            a = unit * np.asarray(weights @ block, dtype=np.float64)
            if cb is not None:
                block *= np.sqrt(cb)[:, None]
            # upper triangle of sum c (z - pivot)(z - pivot)^T, accumulated in place
            if in_place:
                zz = syrk(unit, block.T, beta=1.0, c=zz, trans=0, overwrite_c=True)
            else:
                zz += syrk(unit, block.T, trans=0)
            # about the chunk's exact mean: minus a a^T / part
            removed[chunk] = a / np.sqrt(part)
            # merged with the chunks so far (Chan et al.): plus cross dz dz^T
            merged = total + part
            share = part / merged
            dz = pivot.astype(np.float64) + a / part - z_mean
            added[chunk] = np.sqrt(total * share) * dz
            z_mean += share * dz
            total = merged
        if chunks > 1:  # the first chunk's merge term is zero
            zz += added.T @ added
            zz -= removed.T @ removed
        else:  # upper triangle only, in place (an outer product costs 10 x more)
            zz = scipy.linalg.blas.dsyr(-1.0, removed[0], a=zz, overwrite_a=True)
    xx = zz[:d, :d]
    xx = np.where(_strict_lower(d), xx.T, xx)  # the upper triangle mirrored (np.triu: 10 us)
    xy, yy = zz[:d, d:].copy(), np.diag(zz[d:, d:]).copy()
    x_mean, y_mean = z_mean[:d].copy(), z_mean[d:].copy()
    if ranges and x_low is None:  # no rows
        x_low = x_high = np.zeros(d, dtype=dtype)
    # constant columns: exact means, exact zeros (round-off would be a spurious curvature)
    if ranges:
        constant = x_low == x_high
        x_mean[constant] = x_low[constant]
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # reported by the caller
            constant = _constant_columns(X, xx, x_mean, rows + chunks)
        x_mean[constant] = X[0, constant] if n else 0.0
    xx[constant, :] = 0.0
    xx[:, constant] = 0.0
    xy[constant, :] = 0.0
    flat = y_low == y_high
    y_mean[flat] = y_low[flat]
    xy[:, flat] = 0.0
    yy[flat] = 0.0
    return DenseMoments(x_low, x_high, y_low, y_high, total, x_mean, y_mean, xx, xy, yy)
