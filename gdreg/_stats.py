r"""Mergeable sufficient statistics, and full-batch fits from them.

Full-batch gradient descent on least squares only ever needs

.. math::

    S = \sum_i s_i, \quad \bar x = \tfrac1S \sum_i s_i x_i, \quad
    \bar y = \tfrac1S \sum_i s_i y_i, \quad
    M_{xx} = \sum_i s_i (x_i - \bar x)(x_i - \bar x)^\top, \quad
    M_{xy} = \sum_i s_i (x_i - \bar x)(y_i - \bar y)^\top, \quad
    m_{yy} = \sum_i s_i (y_i - \bar y)^2 ,

which take O(d^2) memory whatever the number of samples. They are built one
chunk at a time (each chunk centred on its own mean) and combined with the
pairwise update of Chan, Golub and LeVeque (1979): for two parts ``a`` and
``b`` with :math:`\delta = \bar x_b - \bar x_a`,

.. math::

    \bar x = \bar x_a + \tfrac{S_b}{S}\,\delta, \qquad
    M_{xx} = M_{xx,a} + M_{xx,b} + \tfrac{S_a S_b}{S}\,\delta\delta^\top .

Raw sums (:math:`\sum s_i x_i x_i^\top` minus :math:`S \bar x \bar x^\top` at
the end) lose every digit that the mean has over the spread: with features
around ``1e8`` and unit spread, float64 keeps nothing. The centred merge keeps
full precision, and it is associative, so the parts can be combined in any
tree (Dask reduces block statistics this way, :mod:`gdreg._dask`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.utils.validation import _get_feature_names, check_array, check_consistent_length

from gdreg._objective import GramLeastSquares, sufficient_statistics
from gdreg._validation import check_largest_magnitude, column_range, range_magnitude

__all__ = ["SufficientStatistics", "statistics_objective"]


class SufficientStatistics:
    r"""Weighted, centred sufficient statistics of ``(X, y)``, built chunk by chunk.

    Holds O(d^2) numbers however many samples are added, so that the
    full-batch optimizer can be fitted on data that never sit in memory at
    once (:func:`fit_from_statistics`). Chunks are merged with the
    numerically stable centred update of Chan et al. (module docstring), in
    float64 whatever the input dtype.

    Attributes
    ----------
    n_samples : int
        Rows added so far (rows of zero weight included).
    weight_sum : float
        :math:`S`, the sum of the sample weights.
    x_mean : ndarray of shape (n_features,)
        Weighted mean of the rows of ``X``.
    y_mean : ndarray of shape (n_targets,)
        Weighted mean of the targets.
    xx : ndarray of shape (n_features, n_features)
        :math:`M_{xx}`, the weighted scatter of the centred rows (not divided by ``S``).
    xy : ndarray of shape (n_features, n_targets)
        :math:`M_{xy}`.
    yy : ndarray of shape (n_targets,)
        :math:`m_{yy}`.
    x_max_abs, y_max_abs : float
        The largest magnitude of an entry of ``X`` and of ``y`` (rows of zero
        weight included): the fit from these statistics checks them as
        :meth:`GradientDescentRegressor.fit` checks ``X`` and ``y``.
    dtype : numpy.dtype
        The dtype of the first chunk; the fit runs in it.
    one_d : bool
        Whether the first chunk's ``y`` was 1-D.
    feature_names : ndarray of str or None
        Column names of the first chunk, when it had string column names.

    See Also
    --------
    fit_from_statistics : Fit a full-batch estimator from these statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
    >>> X = np.array([[2.0], [4.0], [5.0], [7.0]])
    >>> y = 20.0 * X[:, 0] + 5.0
    >>> stats = SufficientStatistics.from_chunks([(X[:2], y[:2]), (X[2:], y[2:])])
    >>> stats.n_samples, stats.x_mean
    (4, array([4.5]))
    >>> reg = fit_from_statistics(GradientDescentRegressor(), stats)
    >>> reg.coef_.round(6), round(reg.intercept_, 6)
    (array([20.]), 5.0)
    """

    def __init__(self):
        self.n_samples = 0
        self.weight_sum = 0.0
        self.x_mean = None
        self.y_mean = None
        self.xx = None
        self.xy = None
        self.yy = None
        self.x_max_abs = None
        self.y_max_abs = None
        self.dtype = None
        self.one_d = None
        self.feature_names = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_chunks(cls, chunks: Iterable) -> SufficientStatistics:
        """Accumulate an iterable of ``(X, y)`` or ``(X, y, sample_weight)`` chunks.

        Parameters
        ----------
        chunks : iterable of tuple
            Each item is ``(X, y)`` or ``(X, y, sample_weight)``; only one
            chunk is held at a time.

        Returns
        -------
        SufficientStatistics
            The statistics of all the chunks' rows.
        """
        stats = cls()
        for chunk in chunks:
            stats.update(*chunk)
        return stats

    @property
    def n_features(self) -> int | None:
        """Number of columns of ``X``; ``None`` before the first chunk."""
        return None if self.xx is None else self.xx.shape[0]

    @property
    def n_targets(self) -> int | None:
        """Number of targets (columns of 2-D ``y``, 1 for 1-D); ``None`` before the first chunk."""
        return None if self.xy is None else self.xy.shape[1]

    def update(
        self,
        X: ArrayLike | sp.spmatrix | sp.sparray,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
    ) -> SufficientStatistics:
        """Add one chunk of rows (in place).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of rows.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the chunk (zero weights are allowed here;
            a whole data set of zero weight is refused at fit time).

        Returns
        -------
        self : SufficientStatistics
            These statistics, now including the chunk.

        Raises
        ------
        ValueError
            On the inputs that ``fit`` refuses, with its messages (NaN or
            infinity, entries whose squares overflow the dtype, negative
            weights, ...); the statistics are then unchanged.
        """
        names = _get_feature_names(X)
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], input_name="X")
        y = check_array(y, ensure_2d=False, dtype=X.dtype, input_name="y")
        check_consistent_length(X, y)
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D, got {y.ndim} dimensions.")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        weights = _chunk_weights(sample_weight, X.shape[0])
        x_range, y_range = column_range(X), column_range(Y)
        part = _chunk_statistics(X, Y, weights, x_range, y_range)
        part.x_max_abs, part.y_max_abs = range_magnitude(*x_range), range_magnitude(*y_range)
        part.dtype, part.one_d, part.feature_names = X.dtype, y.ndim == 1, names
        _check_finite(part)
        merged = self.merge(part)
        self.__dict__.update(merged.__dict__)
        return self

    def merge(self, other: SufficientStatistics) -> SufficientStatistics:
        """The statistics of the union of the rows of ``self`` and ``other`` (a new object).

        Parameters
        ----------
        other : SufficientStatistics
            Statistics of more rows with the same features and targets.

        Returns
        -------
        SufficientStatistics
            The merged statistics; ``self`` and ``other`` are unchanged.
        """
        if other.xx is None:
            return _copy(self)
        if self.xx is None:
            return _copy(other)
        _check_compatible(self, other)
        out = _copy(self)
        out.n_samples = self.n_samples + other.n_samples
        for name in ("x_max_abs", "y_max_abs"):
            mine, theirs = getattr(self, name, None), getattr(other, name, None)
            setattr(out, name, None if mine is None or theirs is None else max(mine, theirs))
        with np.errstate(over="ignore", invalid="ignore"):
            total = self.weight_sum + other.weight_sum
            out.weight_sum = total
            if other.weight_sum == 0.0:
                return out
            if self.weight_sum == 0.0:
                for name in ("x_mean", "y_mean", "xx", "xy", "yy"):
                    setattr(out, name, getattr(other, name).copy())
                return out
            share = other.weight_sum / total
            dx = other.x_mean - self.x_mean
            dy = other.y_mean - self.y_mean
            cross = self.weight_sum * share  # S_a S_b / S
            out.x_mean = self.x_mean + share * dx
            out.y_mean = self.y_mean + share * dy
            out.xx = self.xx + other.xx + cross * np.outer(dx, dx)
            out.xy = self.xy + other.xy + cross * np.outer(dx, dy)
            out.yy = self.yy + other.yy + cross * dy * dy
        _check_finite(out)
        return out

    def to_objective(
        self, *, alpha: float, fit_intercept: bool, l1: float = 0.0
    ) -> GramLeastSquares:
        """The least-squares objective of all rows added, on the Gram matrix.

        With ``fit_intercept`` the offsets are the weighted means and the
        statistics are used as they are; without it the uncentred second
        moments are recovered as :math:`M_{xx}/S + \\bar x \\bar x^\\top`.

        Parameters
        ----------
        alpha : float
            L2 penalty (the smooth part of the estimator's penalty).
        fit_intercept : bool
            Whether the model has an intercept (centred statistics) or not.
        l1 : float, default=0.0
            The l1 part of the penalty (``penalty="l1"`` or ``"elasticnet"``),
            applied by its proximal step: a Lasso or elastic net from the
            statistics alone.

        Returns
        -------
        GramLeastSquares
            The objective the full-batch loop runs on.

        Raises
        ------
        ValueError
            If no rows were added or all their weights are zero.
        """
        if self.xx is None:
            raise ValueError("No samples were added: the statistics are empty.")
        if self.weight_sum <= 0.0:
            # fit's (scikit-learn's) message for all-zero weights
            raise ValueError("Sample weights must contain at least one non-zero number.")
        total = self.weight_sum
        gram, xty, yty = self.xx / total, self.xy / total, self.yy / total
        x_offset, y_offset = self.x_mean, self.y_mean
        if not fit_intercept:
            gram = gram + np.outer(x_offset, x_offset)
            xty = xty + np.outer(x_offset, y_offset)
            yty = yty + y_offset * y_offset
            x_offset, y_offset = np.zeros_like(x_offset), np.zeros_like(y_offset)
        gram = 0.5 * (gram + gram.T)
        dtype = self.dtype
        return GramLeastSquares.from_statistics(
            gram.astype(dtype),
            xty.astype(dtype),
            yty.astype(dtype),
            weight_sum=total,
            n_samples=self.n_samples,
            alpha=alpha,
            x_offset=x_offset,
            y_offset=y_offset,
            l1=l1,
        )

    def __repr__(self) -> str:
        return (
            f"SufficientStatistics(n_samples={self.n_samples}, n_features={self.n_features}, "
            f"n_targets={self.n_targets})"
        )


def _copy(stats: SufficientStatistics) -> SufficientStatistics:
    out = SufficientStatistics()
    for name, value in stats.__dict__.items():
        setattr(out, name, value.copy() if isinstance(value, np.ndarray) else value)
    return out


def _check_finite(stats: SufficientStatistics) -> None:
    """Raise when the sums overflowed: they are sums over rows, not means as ``fit`` uses.

    Entries whose squares overflow are not reported here but by the fit
    (:func:`_check_magnitudes`), with ``fit``'s message and the largest
    entry of all the chunks, not of the first chunk that has one.
    """
    if not np.isfinite(stats.weight_sum):
        raise _weight_sum_error()
    parts = (stats.x_mean, stats.y_mean, stats.xx, stats.xy, stats.yy)
    if all(np.all(np.isfinite(part)) for part in parts) or not _within_limits(stats):
        return
    raise ValueError(
        "The sufficient statistics overflow float64: they hold weighted sums of squares over "
        f"the rows (weight sum {stats.weight_sum:.3g}, largest |X| {_g(stats.x_max_abs)}, "
        f"largest |y| {_g(stats.y_max_abs)}), which fit never forms. Rescale X or y, or divide "
        "the sample weights by one common factor (only their ratios matter)."
    )


def _within_limits(stats: SufficientStatistics) -> bool:
    """Whether the largest entries pass ``fit``'s overflow test (unknown ones do)."""
    try:
        _check_magnitudes(stats, small=False)
    except ValueError:
        return False
    return True


def _weight_sum_error() -> ValueError:
    # fit scales such weights by a power of two; statistics merged from separate
    # chunks cannot, since each chunk would be scaled by its own power
    return ValueError(
        "The sample weights added to these statistics sum past the largest float64 "
        f"({np.finfo(np.float64).max:.3g}). Only their ratios matter: divide them all by "
        "one common factor (for example their maximum) before adding them."
    )


def _g(value) -> str:
    return "unknown" if value is None else f"{value:.3g}"


def _check_compatible(a: SufficientStatistics, b: SufficientStatistics) -> None:
    if a.n_features != b.n_features:
        raise ValueError(
            f"X has {b.n_features} features, but the statistics so far have {a.n_features}."
        )
    if a.n_targets != b.n_targets:
        raise ValueError(
            f"y has {b.n_targets} targets, but the statistics so far have {a.n_targets}."
        )
    if (a.feature_names is None) != (b.feature_names is None) or (
        a.feature_names is not None and not np.array_equal(a.feature_names, b.feature_names)
    ):
        raise ValueError("The feature names differ from those of the first chunk.")


def _chunk_weights(sample_weight, n_samples: int) -> np.ndarray:
    """Validated float64 weights of one chunk; unlike in ``fit``, all-zero is allowed."""
    if sample_weight is None:
        return np.ones(n_samples)
    weights = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
    )
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):  # fit's (scikit-learn's) message
        raise ValueError(f"sample_weight.shape == {weights.shape}, expected {(n_samples,)}!")
    if np.any(weights < 0):
        raise ValueError("sample_weight must be non-negative; got negative values.")
    return weights


def _chunk_statistics(X, Y, weights, x_range, y_range) -> SufficientStatistics:
    """Statistics of one chunk, centred on its own weighted mean (float64).

    ``x_range`` and ``y_range`` are the column-wise ``(min, max)`` of ``X`` and ``Y``.
    """
    stats = SufficientStatistics()
    n, d = X.shape
    k = Y.shape[1]
    stats.n_samples = n
    with np.errstate(over="ignore"):
        total = float(weights.sum())
    stats.weight_sum = total
    if total == 0.0:  # contributes rows but no weight: nothing to centre on
        stats.x_mean, stats.y_mean = np.zeros(d), np.zeros(k)
        stats.xx, stats.xy, stats.yy = np.zeros((d, d)), np.zeros((d, k)), np.zeros(k)
        return stats
    if not np.isfinite(total):
        raise _weight_sum_error()
    X = X.astype(np.float64, copy=False) if not sp.issparse(X) else X.astype(np.float64)
    Y = Y.astype(np.float64, copy=False)
    c = weights / total
    # entries too large for their squares make inf or NaN sums here, reported by the fit
    with np.errstate(over="ignore", invalid="ignore"):
        stats.x_mean = np.asarray(X.T @ c, dtype=np.float64).ravel()
        stats.y_mean = c @ Y
        gram, xty, yty = sufficient_statistics(X, Y, c, stats.x_mean, stats.y_mean)
        stats.xx, stats.xy, stats.yy = gram * total, xty * total, yty * total
    _snap_constant_columns(stats, x_range, y_range)
    return stats


def _snap_constant_columns(stats: SufficientStatistics, x_range, y_range) -> None:
    """Centre the chunk's constant columns on the constant itself, as ``fit`` does.

    Their weighted mean differs from the constant by round-off, which would
    leave a spurious spread of order ``eps * |x|`` (see
    :func:`gdreg._validation.snap_constant`); exact zeros stay exact zeros
    through the merges of chunks with the same constant.
    """
    for name, (low, high), row in (("x", x_range, True), ("y", y_range, False)):
        constant = low == high
        if not np.any(constant):
            continue
        getattr(stats, f"{name}_mean")[constant] = low[constant]
        if row:
            stats.xx[constant, :] = 0.0
            stats.xx[:, constant] = 0.0
            stats.xy[constant, :] = 0.0
        else:
            stats.xy[:, constant] = 0.0
            stats.yy[constant] = 0.0


def statistics_objective(
    statistics: SufficientStatistics,
    sampling: str,
    *,
    alpha: float,
    fit_intercept: bool,
    l1: float = 0.0,
    loss: str = "squared_error",
) -> GramLeastSquares:
    """The objective that ``fit_from_statistics`` runs the loop on, after ``fit``'s checks.

    Parameters
    ----------
    statistics : SufficientStatistics
        Statistics of all training rows.
    sampling : str
        The sampling mode of the fit's optimizer; only ``"batch"`` is served.
    alpha : float
        L2 penalty (the smooth part of the estimator's penalty).
    fit_intercept : bool
        Whether the model has an intercept.
    l1 : float, default=0.0
        The l1 part of the penalty, applied by its proximal step.
    loss : str, default="squared_error"
        The estimator's ``loss``; the statistics determine the squared error only.

    Returns
    -------
    GramLeastSquares
        The full-batch objective on the Gram matrix of the statistics.

    Raises
    ------
    ValueError
        If ``sampling`` is not ``"batch"``, ``loss`` is not the squared
        error, the statistics are empty, or the largest entries fail
        ``fit``'s magnitude checks (``fit``'s messages).
    TypeError
        If ``statistics`` is not a :class:`SufficientStatistics`.
    """
    if loss != "squared_error":
        raise ValueError(
            f"Sufficient statistics (X^T X, X^T y) determine the squared error only, not "
            f"loss={loss!r}: the loss of each residual needs the rows themselves. Fit the "
            "data in memory, or stream the chunks through partial_fit (on Dask: "
            "dask_ml.wrappers.Incremental(GradientDescentRegressor(loss=...)))."
        )
    if sampling != "batch":
        raise ValueError(
            "Sufficient statistics only serve the full-batch optimizer (sampling='batch'), "
            f"got sampling={sampling!r}. Stream the chunks through partial_fit instead."
        )
    if not isinstance(statistics, SufficientStatistics):
        raise TypeError(f"Expected SufficientStatistics, got {type(statistics).__name__}.")
    _check_magnitudes(statistics)
    return statistics.to_objective(alpha=alpha, fit_intercept=fit_intercept, l1=l1)


def _check_magnitudes(statistics: SufficientStatistics, *, small: bool = True) -> None:
    """``fit``'s magnitude checks of ``X`` and ``y``, on the largest entries the chunks held.

    ``small=False`` leaves out the underflow test of ``X``.
    """
    if statistics.xx is None:
        return  # nothing added: to_objective says so
    dtype = np.dtype(statistics.dtype)
    for name, largest, columns, tiny in (
        ("X", getattr(statistics, "x_max_abs", None), statistics.n_features, small),
        ("y", getattr(statistics, "y_max_abs", None), statistics.n_targets, False),
    ):
        if largest is not None:  # None: statistics assembled by hand or by an older gdreg
            check_largest_magnitude(name, largest, dtype, columns, small=tiny)
