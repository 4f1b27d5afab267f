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

    # -- the readable O(n d) path -------------------------------------------------
    def _residual(self, theta, rows=slice(None)):
        d = self.n_features
        w, b = theta[:d], theta[d]
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
        grad[:d] += self.alpha * theta[:d]
        grad[d] = col_sum if self.learn_intercept else 0.0
        return grad

    def penalty(self, theta) -> float:
        w = theta[: self.n_features]
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
        return self.y_offset - self.x_offset @ theta[:d] + theta[d]

    def stochastic_data(self) -> StochasticData:
        return StochasticData(
            self.X,
            self.Y,
            self.c * self.n_samples,
            self.x_offset,
            self.y_offset,
            self.alpha,
            self.learn_intercept,
        )

    # -- curvature -----------------------------------------------------------------
    def _hessian_operator(self):
        d = self.n_features
        size = d + 1 if self.learn_intercept else d
        X, c, m, alpha = self.X, self.c, self.x_offset.astype(np.float64), self.alpha
        constant = self.constant

        def matvec(v):
            v = np.asarray(v, dtype=np.float64).ravel()
            w = v[:d]
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
            out[:d] += alpha * v[:d]
            if self.learn_intercept:
                out[d] = cu.sum()
            return out

        return spla.LinearOperator((size, size), matvec=matvec, dtype=np.float64)

    def lipschitz(self) -> float:
        """Largest eigenvalue of the Hessian of J (the full-batch smoothness L)."""
        if self._lipschitz_from_gram():
            gram = _dense_statistics(self.X, self.Y, self.c, self.x_offset, self.y_offset, False)[0]
            constant = getattr(self, "constant", None)
            if constant is not None:
                gram[constant, :] = 0.0
                gram[:, constant] = 0.0
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
        """Largest per-sample smoothness ``max_i n c_i (||x_i - xbar||^2 [+1]) + alpha``."""
        X = self.X
        plus = 1.0 if self.learn_intercept else 0.0
        if (
            isinstance(X, np.ndarray)
            and X.flags.c_contiguous
            and _kernels.worth_compiling(X.size, _kernels.ONE_PASS_MIN_SIZE)
        ):
            return (
                self.n_samples * _kernels.max_weighted_row_norm(X, self.x_offset, self.c, plus)
                + self.alpha
            )
        if isinstance(X, np.ndarray):
            # chunk by chunk, so that no array of n norms is held (8 bytes a
            # row: 10 % of X at d = 10)
            offset = np.asarray(self.x_offset, dtype=np.float64)
            best = 0.0
            for rows in _row_chunks(X):
                block = X[rows] - offset
                norms = np.einsum("ij,ij->i", block, block) + plus
                best = max(best, float(np.max(self.c[rows] * norms, initial=0.0)))
            return self.n_samples * best + self.alpha
        norms = _centred_row_norms(self.X, self.x_offset)
        if self.learn_intercept:
            norms += 1.0
        return float(np.max(self.n_samples * self.c * norms, initial=0.0)) + self.alpha


def _centred_row_norms(X, offset) -> np.ndarray:
    """``||x_i - offset||^2`` for every row, without a full centred copy."""
    offset = np.asarray(offset, dtype=np.float64)
    if sp.issparse(X):
        sq = np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
        cross = np.asarray(X @ offset, dtype=np.float64).ravel()
        return np.maximum(sq - 2.0 * cross + offset @ offset, 0.0)
    out = np.empty(X.shape[0])
    for rows in _row_chunks(X):
        block = X[rows] - offset
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
        return self

    def value_and_gradient(self, theta):
        d = self.n_features
        w = theta[:d]
        gw = self.gram @ w
        value = 0.5 * float(self.yty.sum() - 2.0 * np.vdot(w, self.xty) + np.vdot(w, gw))
        value += self.penalty(theta)
        grad = np.zeros_like(theta)
        grad[:d] = gw - self.xty + self.alpha * w
        return value, grad

    def value(self, theta) -> float:
        return self.value_and_gradient(theta)[0]

    def lipschitz(self) -> float:
        if self.n_features == 0:
            return 0.0
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
    cx = X.multiply(c[:, None]).tocsr()
    xtx = np.asarray((X.T @ cx).todense(), dtype=dtype)
    mean = np.asarray(cx.sum(axis=0), dtype=dtype).ravel()  # = X^T c
    sw = c.sum()
    gram = (
        xtx
        - np.outer(mean, x_offset)
        - np.outer(x_offset, mean)
        + sw * np.outer(x_offset, x_offset)
    )
    xty = np.asarray(cx.T @ yc, dtype=dtype) - np.outer(x_offset, c @ yc)
    # Algebraic centring cancels: a column whose centred variance is within
    # the summation round-off (n eps) of its second moment is constant to
    # working precision; its round-off would otherwise become a spurious
    # curvature, and 1/curvature the "auto" step.
    flat = np.diag(gram) <= max(16, X.shape[0]) * np.finfo(dtype).eps * np.diag(xtx)
    gram[flat, :] = 0.0
    gram[:, flat] = 0.0
    xty[flat] = 0.0
    return 0.5 * (gram + gram.T), xty, yty


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
