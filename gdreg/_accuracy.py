r"""What ``converged_`` means: a scale-free bound on the distance to the exact solution.

Every fit is judged in *standardised coordinates*: coefficient :math:`j` is
measured as :math:`u_j = \sigma_j w_j`, with :math:`\sigma_j` the spread of
feature :math:`j` (the square root of the diagonal of the data's Hessian: the
weighted standard deviation when the intercept is fitted, the root mean square
otherwise), and errors are divided by :math:`\sigma_y`, the spread of the
target. In these units an error does not depend on the units of the features
or of ``y``.

The objective is a quadratic whose Hessian in these coordinates is
:math:`H_u = D H D` (:math:`D = \mathrm{diag}(1/\sigma)`). Its gradient at any
point bounds the distance to the minimiser:

.. math::

    \frac{\lVert u - u^\star \rVert_2}{\sigma_y}
    \le \frac{\lVert \nabla_u J(u) \rVert_2}{\mu\, \sigma_y} =: \beta(u),

where :math:`\mu` is the smallest eigenvalue of :math:`H_u` that is not
zero to working precision. When :math:`H_u` is singular (more features
than samples, duplicated or exactly collinear columns), the minimiser is not
unique: :math:`\beta` bounds the part of the error that changes the
predictions, and the fit removes the null-space part of its result at the
end, which leaves the minimiser of smallest norm in the user's units (the one
:class:`~sklearn.linear_model.LinearRegression` returns).

:math:`\beta` is the stopping quantity of every optimizer (``change_curve_``);
``converged_=True`` means :math:`\beta \le` ``tol`` after the last epoch, so
each coefficient satisfies
:math:`|w_j - w_j^\star|\, \sigma_j / \sigma_y \le` ``tol``.

The spectrum comes from the ``d x d`` Hessian, formed once per fit (one BLAS
pass over ``X``, or free when the fit already works on the sufficient
statistics), for up to ``GRAM_MAX_FEATURES`` features. Above that, both ends
of the spectrum are estimated with Lanczos iterations (``eigsh``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from gdreg._kernels._summaries import csr_column_summary
from gdreg._validation import sparse_pass_applies

__all__ = ["Certificate", "certificate", "error_bound", "precision_floor", "spreads"]

#: Eigenvalues below this many float rounding units of the largest one (times
#: the number of features) cannot be told from zero.
_NULL_ROUNDING_UNITS = 10.0

#: Bytes of centred rows per block when summing squares of the columns.
_BLOCK_BYTES = 1 << 20

#: Entries of a unit null vector (standardised coordinates) below this are round-off.
_NULL_VECTOR_ROUNDING = 1e-9


class Certificate(NamedTuple):
    """The data-dependent pieces of the bound (see the module docstring)."""

    column_scale: np.ndarray  # sigma_j (d,), float64; 1 for constant columns
    target_scale: np.ndarray  # sigma_y (k,), float64; 1 for a constant target
    lipschitz: float  # largest eigenvalue of H_u
    curvature: float  # mu: smallest eigenvalue of H_u above the null level (inf: none)
    null_dimension: int = 0  # directions of zero curvature, constant columns not counted
    null_space: np.ndarray | None = None  # (d, r) orthonormal basis of null(H_w), or None

    @property
    def condition_number(self) -> float:
        """:math:`L / \\mu` of the standardised problem (1 for a flat one)."""
        if not np.isfinite(self.curvature) or self.lipschitz <= 0:
            return 1.0
        return self.lipschitz / self.curvature


def column_spreads(hessian_w: np.ndarray, alpha: float) -> np.ndarray:
    """:math:`\\sigma_j`: square roots of the data part of the Hessian's diagonal.

    Constant columns (zero spread) get 1: their coefficient gets no gradient
    from the data, so their scale is immaterial.

    Examples
    --------
    >>> column_spreads(np.array([[4.0, 1.0], [1.0, 0.0]]), 0.0)
    array([2., 1.])
    """
    spread = np.sqrt(np.maximum(np.diag(hessian_w) - alpha, 0.0))
    spread[~(spread > 0)] = 1.0
    return spread


def target_spreads(yty) -> np.ndarray:
    """:math:`\\sigma_y` per target from the weighted centred sums of squares."""
    spread = np.sqrt(np.maximum(np.asarray(yty, dtype=np.float64).reshape(-1), 0.0))
    spread[~(spread > 0)] = 1.0
    return spread


def certificate(objective, yty, dtype=np.float64) -> Certificate:
    """The bound's pieces for ``objective`` (any coordinates: it is read in ``w``).

    Parameters
    ----------
    objective : LeastSquares
        The fit's objective; only its Hessian (or Hessian-vector products) is used.
    yty : ndarray of shape (n_targets,)
        Weighted sums of squares of the centred targets.
    dtype : dtype
        The data's precision, which sets the level below which an eigenvalue
        is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._objective import GramLeastSquares
    >>> X = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 0.0], [3.0, 10.0]])
    >>> Y = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> obj = GramLeastSquares(X, Y, None, alpha=0.0, x_offset=X.mean(0), y_offset=Y.mean(0))
    >>> cert = certificate(obj, obj.yty)
    >>> cert.column_scale.round(4), round(cert.condition_number, 4)
    (array([1.118, 5.   ]), 2.618)
    """
    base = objective.scaled(None)
    d = base.n_features
    hessian = base.hessian()
    if hessian is not None:
        spread = column_spreads(hessian, base.alpha)
        # constant columns (no data curvature, no penalty) are exact zeros of H_u
        # that no gradient ever moves: they are left out, not counted as null
        active = np.diag(hessian) > 0
        h_u = hessian  # a fresh array: scaled in place (d x d copies add up for wide X)
        h_u /= spread[:, None]
        h_u /= spread[None, :]
        if not np.all(active):
            h_u = h_u[np.ix_(active, active)]
        if not h_u.size:
            return Certificate(spread, target_spreads(yty), 0.0, np.inf)
        top, curvature, null_dimension = _spectrum(h_u, d, dtype)
        null_space = None
        if null_dimension:
            null_space = _null_space_w(h_u, spread, active, null_dimension)
        return Certificate(spread, target_spreads(yty), top, curvature, null_dimension, null_space)
    return _lanczos_certificate(base, yty, dtype)


#: From this size on, the spectrum's three numbers come from the tridiagonal form
#: by bisection rather than from all eigenvalues (at d = 100: 255 against 340 us).
_TRIDIAGONAL_MIN = 64


def _spectrum(h_u: np.ndarray, d: int, dtype) -> tuple[float, float, int]:
    """``(top, curvature, null_dimension)`` of the symmetric ``h_u``, which is left as it was.

    ``top`` is the largest eigenvalue (at least 0), ``null_dimension`` the
    number of eigenvalues at or below the null level (``d eps top`` times
    :data:`_NULL_ROUNDING_UNITS`) and ``curvature`` the smallest one above
    it (``inf`` if none). For larger matrices LAPACK reduces ``h_u`` to
    tridiagonal form (``sytrd``) and bisection (``stebz``) finds just these:
    the largest eigenvalue, the count below the level (a Sturm count) and
    the next one, each as accurate as when all eigenvalues are computed.

    Examples
    --------
    >>> import numpy as np
    >>> top, curvature, null = _spectrum(np.diag([0.0, 2.0, 5.0]), 3, np.float64)
    >>> float(top), float(curvature), null
    (5.0, 2.0, 1)
    """
    size = h_u.shape[0]
    eps = float(np.finfo(dtype).eps)
    if size >= _TRIDIAGONAL_MIN:
        found = _spectrum_by_bisection(h_u, _NULL_ROUNDING_UNITS * max(d, 1) * eps)
        if found is not None:
            return found
    eigenvalues = _eigenvalues(h_u)
    top = float(max(eigenvalues[-1], 0.0))
    null_level = _NULL_ROUNDING_UNITS * max(d, 1) * eps * top
    positive = eigenvalues[eigenvalues > null_level]
    curvature = float(positive[0]) if positive.size else np.inf
    return top, curvature, int(eigenvalues.size - positive.size)


def _spectrum_by_bisection(h_u: np.ndarray, relative_level: float):
    """:func:`_spectrum` through the tridiagonal form, or None if LAPACK reports a failure."""
    sytrd, stebz = scipy.linalg.get_lapack_funcs(("sytrd", "stebz"), (h_u,))
    _, diagonal, off_diagonal, _, info = sytrd(h_u, lower=1)
    if info != 0:
        return None
    size = diagonal.size

    def eigenvalues(kind, low, high, first, last):
        # kind 1: those in (low, high]; kind 2: those of 1-based indices first..last
        count, values, _, _, info = stebz(
            diagonal, off_diagonal, kind, low, high, first, last, 0.0, b"E"
        )
        return None if info != 0 else values[:count]

    largest = eigenvalues(2, 0.0, 0.0, size, size)
    if largest is None or largest.size != 1:
        return None
    top = float(max(largest[0], 0.0))
    below = eigenvalues(1, -np.inf, relative_level * top, 1, 1)
    if below is None:
        return None
    null_dimension = int(below.size)
    if null_dimension == size:
        return top, np.inf, null_dimension
    next_one = eigenvalues(2, 0.0, 0.0, null_dimension + 1, null_dimension + 1)
    if next_one is None or next_one.size != 1:
        return None
    return top, float(next_one[0]), null_dimension


def _eigenvalues(h_u: np.ndarray) -> np.ndarray:
    """The eigenvalues of the symmetric ``h_u`` (ascending); ``h_u`` is left as it was.

    LAPACK's divide-and-conquer ``syevd`` called directly: ``eigvalsh``'s
    argument handling and workspace queries cost more than the
    decomposition for the small matrices of most fits (37 against 5 us at
    d = 10, 640 against 270 us at d = 100, one thread), and every fit with
    ``tol`` pays it once. ``eigvalsh`` takes over (and raises) should LAPACK
    report a failure.
    """
    (syevd,) = scipy.linalg.get_lapack_funcs(("syevd",), (h_u,))
    # not overwritten: a singular h_u is the null space's input next
    eigenvalues, _, info = syevd(h_u, compute_v=0, overwrite_a=0)
    if info != 0:
        return scipy.linalg.eigvalsh(h_u, check_finite=False)
    return eigenvalues


def _null_space_w(h_u, spread, active, dimension) -> np.ndarray:
    """Orthonormal basis of the null space of the Hessian in the user's coordinates.

    ``h_u`` is the standardised Hessian restricted to the active columns. Its
    null vectors ``v`` give the user's null vectors ``v / sigma``.
    """
    vectors = scipy.linalg.eigh(h_u, subset_by_index=[0, dimension - 1], check_finite=False)[1]
    # entries at round-off level are zeros that dividing by very different spreads
    # would blow up (a duplicated column in units of 1e6 next to one in units of 1)
    vectors[np.abs(vectors) < _NULL_VECTOR_ROUNDING] = 0.0
    basis = np.zeros((spread.size, dimension))
    basis[active] = vectors / spread[active, None]
    return np.linalg.qr(basis)[0]


def minimum_norm(cert: Certificate, coef_w: np.ndarray) -> np.ndarray:
    """``coef_w`` without its null-space part: the minimiser of smallest norm in ``w``.

    Directions of zero curvature do not change the objective or the
    predictions; removing them gives the solution
    :class:`~sklearn.linear_model.LinearRegression` returns.
    """
    if cert is None or cert.null_space is None:
        return coef_w
    Q = cert.null_space.astype(coef_w.dtype, copy=False)
    return coef_w - Q @ (Q.T @ coef_w)


def spreads(objective) -> np.ndarray:
    r""":math:`\sigma_j` alone, from one pass over the data (no spectrum).

    What a fit with ``tol=None`` needs to descend in standardised coordinates.
    """
    base = objective.scaled(None)
    gram = getattr(base, "gram", None)
    if gram is not None:
        diag = np.diag(gram).astype(np.float64)
    else:
        diag = _hessian_diagonal(base) - base.alpha
    spread = np.sqrt(np.maximum(diag, 0.0))
    spread[~(spread > 0)] = 1.0
    return spread


#: Rows (at least; 8 per feature for wide X) of the sample from which a
#: stochastic fit without ``tol`` takes its coordinates and its "auto" step.
SAMPLE_ROWS = 2048
#: The sample is used only when X has this many times more rows: below that a
#: full pass is cheap next to an epoch, and the sample (a copy) would not be
#: small next to X.
SAMPLE_FRACTION = 32
#: The sample's largest curvature is multiplied by this before it sets a step.
SAMPLE_SAFETY = 1.5


def sample_rows(objective) -> np.ndarray | None:
    """Sorted indices of a fixed random sample of the rows, or None (use all rows).

    Only dense ``X`` with at least ``SAMPLE_FRACTION`` times more rows than
    the sample is sampled. The seed is fixed: the same data give the same
    sample, and so the same fit, whatever ``random_state``.
    """
    X = objective.scaled(None).X
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return None
    n, d = X.shape
    rows = max(SAMPLE_ROWS, 8 * d)
    if SAMPLE_FRACTION * rows > n:
        return None
    return np.sort(np.random.default_rng(0).choice(n, rows, replace=False))


def _sample_block(base, rows):
    """The sampled rows centred on the objective's offsets and scaled by sqrt(c) (float64)."""
    c = base.c[rows].astype(np.float64)
    block = base.X[rows].astype(np.float64, copy=False)  # a fresh copy: changed in place
    block -= base.x_offset.astype(np.float64)
    block *= np.sqrt(c / c.sum())[:, None]
    if base.constant is not None:
        block[:, base.constant] = 0.0
    return block


def sampled_spreads(objective, rows) -> np.ndarray:
    r""":math:`\sigma_j` estimated from the rows ``rows`` (see :func:`sample_rows`).

    For a fit without ``tol``, whose standardised coordinates are only a
    preconditioner (any positive scales give the same minimiser), this
    spares a pass over ``X`` that costs as much as an epoch.
    """
    base = objective.scaled(None)
    block = _sample_block(base, rows)
    spread = np.sqrt(np.einsum("ij,ij->j", block, block))
    spread[~(spread > 0)] = 1.0
    return spread


def sampled_lipschitz(objective, rows) -> float:
    """An estimate of the largest curvature ``L`` of ``objective`` from the rows ``rows``.

    The top eigenvalue of the sample's Hessian (in the objective's
    coordinates), times ``SAMPLE_SAFETY``: sample covariances of ``m`` rows
    are within about ``sqrt(d / m)`` of the full one (``m >= 8 d``), so the
    product is an upper estimate of ``L`` for all but heavy-tailed data.
    Costs ``m d^2`` instead of the ``n d^2`` of the full Gram matrix. The
    caller caps it by the largest per-sample curvature, which bounds ``L``
    exactly.
    """
    base = objective.scaled(None)
    block = _sample_block(base, rows)
    if objective.column_scale is not None:
        block /= objective.column_scale.astype(np.float64)
    hessian = block.T @ block
    penalty = base.alpha
    if objective.column_scale is not None:
        penalty = base.alpha / objective.column_scale.astype(np.float64) ** 2
    hessian[np.diag_indices_from(hessian)] += penalty
    if not hessian.size:
        return 0.0
    top = scipy.linalg.eigvalsh(hessian, subset_by_index=[len(hessian) - 1] * 2)[0]
    return SAMPLE_SAFETY * float(max(top, 0.0))


def _lanczos_certificate(base, yty, dtype) -> Certificate:
    """Both ends of the spectrum by Lanczos, for problems too wide for a dense Hessian."""
    spread = spreads(base)
    op = base.scaled(spread)._hessian_operator()
    size = op.shape[0]
    top = base.scaled(spread).lipschitz()
    if size == 0 or top <= 0:
        return Certificate(spread, target_spreads(yty), max(top, 0.0), np.inf)
    shifted = spla.LinearOperator(
        op.shape, matvec=lambda v: top * np.asarray(v).ravel() - op.matvec(v), dtype=np.float64
    )
    try:
        low = spla.eigsh(
            shifted,
            k=1,
            which="LA",
            v0=np.ones(size) / np.sqrt(size),
            tol=1e-8,
            maxiter=20 * size,
            return_eigenvectors=False,
        )
        curvature = float(top - low[0])
    except spla.ArpackNoConvergence:
        curvature = 0.0  # unknown: nothing can be certified
    null_level = _NULL_ROUNDING_UNITS * size * np.finfo(dtype).eps * top
    if curvature <= null_level:
        curvature = 0.0
    return Certificate(spread, target_spreads(yty), top, curvature, int(curvature == 0.0))


def _hessian_diagonal(base) -> np.ndarray:
    """Diagonal of the Hessian in ``w``: weighted sums of squares of the centred columns.

    Dense ``X`` is centred one cache-sized block of rows at a time (no copy of
    ``X``, no cancellation for columns far from zero); sparse ``X``
    algebraically, from one compiled pass over its stored entries when it is
    large (:func:`gdreg._validation.sparse_pass_applies`), else from SciPy's
    products.
    """
    X, c, m = base.X, base.c, base.x_offset.astype(np.float64)
    if sparse_pass_applies(X):
        # equal weights (the usual case) are applied at the end: the pass then
        # needs no weight per row and runs as one flat loop over the entries
        uniform = bool(np.all(c == c[0]))
        summary = csr_column_summary(X, None if uniform else c, ranges=False)
        diag = summary.squares - 2.0 * m * summary.sums + m * m * summary.weight
        if uniform:
            diag *= float(c[0])
    elif sp.issparse(X):
        sq = np.asarray(X.multiply(X).T @ c, dtype=np.float64).ravel()
        first = np.asarray(X.T @ c, dtype=np.float64).ravel()
        diag = sq - 2.0 * m * first + m * m * float(np.sum(c))
    else:
        n, d = X.shape
        diag = np.zeros(d)
        rows = max(1, _BLOCK_BYTES // max(1, 8 * d))
        buffer = np.empty((min(rows, n), d))
        uniform = n > 0 and bool(np.all(c == c[0]))
        for start in range(0, n, rows):
            block = buffer[: min(rows, n - start)]
            np.subtract(X[start : start + rows], m, out=block)
            if not uniform:
                block *= np.sqrt(c[start : start + rows])[:, None]
            diag += np.einsum("ij,ij->j", block, block)
        if uniform:
            diag *= c[0]
    if base.constant is not None:
        diag[base.constant] = 0.0
    return np.maximum(diag, 0.0) + base.alpha


def error_bound(cert: Certificate, grad_w: np.ndarray) -> float:
    """:math:`\\beta`: the largest, over targets, scale-free distance bound.

    ``grad_w`` holds the gradient of the coefficients in the user's units
    (shape ``(d, k)``); ``inf`` when nothing can be certified (``mu = 0``).

    Examples
    --------
    >>> cert = Certificate(np.array([2.0]), np.array([1.0]), 4.0, 0.5)
    >>> error_bound(cert, np.array([[0.1]]))  # |0.1 / 2| / 0.5
    0.1
    """
    if grad_w.shape[0] == 0:
        return 0.0
    # called after every epoch: a few array calls, since for the small problems
    # of a full-batch fit on X^T X they cost more than the arithmetic
    g_u = np.asarray(grad_w, dtype=np.float64) / cert.column_scale[:, None]
    if g_u.shape[1] == 1:
        column = g_u[:, 0]
        worst = math.sqrt(float(column @ column)) / float(cert.target_scale[0])
    else:
        norms = np.sqrt(np.einsum("ij,ij->j", g_u, g_u)) / cert.target_scale
        worst = float(np.max(norms))
    if worst == 0.0:
        return 0.0
    if not np.isfinite(cert.curvature):
        return 0.0 if worst == 0.0 else np.inf
    if cert.curvature <= 0.0:
        return np.inf
    return worst / cert.curvature


#: Rounding units a gradient evaluated in reduced precision is trusted to.
_FLOOR_ROUNDING_UNITS = 10.0


def precision_floor(cert: Certificate, coef_w: np.ndarray, dtype) -> float:
    """The smallest bound a gradient evaluated in ``dtype`` can certify (0 for float64).

    A gradient computed in precision :math:`\\epsilon` carries an error of
    about :math:`\\epsilon (L \\lVert u \\rVert + \\lVert \\nabla \\rVert)`, so
    :math:`\\beta` cannot be trusted below
    :math:`10\\, \\epsilon\\, \\kappa\\, (1 + \\lVert u \\rVert / \\sigma_y)`.
    Float64 fits use ``tol`` as given; a float32 fit stops at the larger of
    the two (a ``tol`` below float32's reach would never be met).

    Examples
    --------
    >>> cert = Certificate(np.array([1.0]), np.array([1.0]), 1.0, 1.0)
    >>> precision_floor(cert, np.array([[1.0]]), np.float64)
    0.0
    >>> float(np.round(precision_floor(cert, np.array([[1.0]]), np.float32), 9))
    2.384e-06
    """
    dtype = np.dtype(dtype)
    if dtype.itemsize >= 8:
        return 0.0
    u = np.asarray(coef_w, dtype=np.float64) * cert.column_scale[:, None]
    size = float(np.max(np.sqrt(np.einsum("ij,ij->j", u, u)) / cert.target_scale, initial=0.0))
    return _FLOOR_ROUNDING_UNITS * float(np.finfo(dtype).eps) * cert.condition_number * (1 + size)
