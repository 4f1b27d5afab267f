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
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from gdreg import _kernels

#: Largest number of features for which the d x d Gram matrix is formed.
GRAM_MAX_FEATURES = 2048
#: Rows per chunk when a pass over X needs a temporary (centred rows): small
#: enough to stay in cache, so the temporary costs no extra memory traffic.
_CHUNK_BYTES = 2**20
#: Bytes of dense temporaries that any chunked pass may hold, however small X is.
_MIN_CHUNK_BYTES = 2**16
#: Bytes of centred rows per chunk of the Gram pass.
_GRAM_CHUNK_BYTES = 2**20
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
    ):
        self.X = X
        self.Y = Y
        n = X.shape[0]
        dtype = Y.dtype
        if sample_weight is None:
            self.weight_sum = float(n)
            self.c = np.full(n, 1.0 / n, dtype=dtype)
        else:
            self.weight_sum = float(np.sum(sample_weight, dtype=np.float64))
            self.c = (sample_weight / self.weight_sum).astype(dtype, copy=False)
        self.alpha = float(alpha)
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
    def _residual(self, theta, rows=slice(None)):
        d = self.n_features
        w, b = self.coef(theta), theta[d]
        X = self.X[rows]
        shift = self.x_offset @ w - b - self.y_offset
        return np.asarray(X @ w) - shift - self.Y[rows]

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
        w = self.coef(theta)
        return 0.5 * self.alpha * float(np.vdot(w, w))

    def value(self, theta) -> float:
        """Objective value J at ``theta``."""
        r = self._residual(theta)
        return 0.5 * float(np.vdot(self.c, np.einsum("ij,ij->i", r, r))) + self.penalty(theta)

    def value_and_gradient(self, theta):
        """``(J(theta), grad J(theta))`` with one pass over ``X``."""
        r = self._residual(theta)
        cr = self.c[:, None] * r
        value = 0.5 * float(np.vdot(cr, r)) + self.penalty(theta)
        return value, self._gradient_from(theta, cr)

    def batch_value_and_gradient(self, theta, idx):
        """Unbiased estimate of ``(J, grad J)`` from the samples ``idx``.

        Each sample counts with weight ``n * s_i / S`` and the batch is
        averaged, so the expectation over a uniformly drawn batch is the full
        objective and gradient.
        """
        r = self._residual(theta, idx)
        scale = self.c[idx] * (self.n_samples / len(r))
        sr = scale[:, None] * r
        value = 0.5 * float(np.vdot(sr, r)) + self.penalty(theta)
        return value, self._gradient_from(theta, sr, idx)

    def intercept_(self, theta):
        """The user's intercept for ``theta``."""
        d = self.n_features
        return self.y_offset - self.x_offset @ self.coef(theta) + theta[d]

    def stochastic_data(self) -> StochasticData:
        return StochasticData(
            self.X,
            self.Y,
            self.c * self.n_samples,
            self.x_offset,
            self.y_offset,
            self.alpha,
            self.learn_intercept,
            self.column_scale,
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
        return self._lipschitz

    def set_lipschitz(self, value: float) -> None:
        """Record ``L`` when it is already known (from a full spectrum)."""
        self._lipschitz = float(value)

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
    gradient is zero.
    """

    def __init__(self, X, Y, sample_weight, *, alpha, x_offset, y_offset, learn_intercept=False):
        super().__init__(
            X,
            Y,
            sample_weight,
            alpha=alpha,
            x_offset=x_offset,
            y_offset=y_offset,
            learn_intercept=False,
        )
        self.gram, self.xty, self.yty = sufficient_statistics(
            X, Y, self.c, self.x_offset, self.y_offset, uniform=sample_weight is None
        )

    @classmethod
    def from_statistics(cls, gram, xty, yty, *, weight_sum, n_samples, alpha, x_offset, y_offset):
        """Build from precomputed centred statistics (used by streaming and Dask)."""
        self = cls.__new__(cls)
        self.X = None
        self.Y = None
        self.c = None
        self.weight_sum = float(weight_sum)
        self.alpha = float(alpha)
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
    ``uniform=True`` promises that all entries of ``c`` are equal.
    """
    if not sp.issparse(X):
        return _dense_statistics(X, Y, c, x_offset, y_offset, uniform)
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
    """Rows per chunk of the Gram pass: about 1 MiB (cache-resident), at most
    2 % of the rows once there are many, and enough rows for syrk to be
    compute- rather than memory-bound when d is large."""
    rows = _GRAM_CHUNK_BYTES // max(1, d * itemsize)
    rows = min(rows, max(1, n // 50))
    return max(256, rows)
