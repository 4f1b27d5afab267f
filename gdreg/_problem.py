"""The problem as the fit sees it, and the full-batch-or-stochastic fit of it.

Everything here is a plain function of plain values: the estimator validates
its parameters, hands them in as a :class:`Settings`, and sets its attributes
from the :class:`Fitted` that comes back. Nothing here reads or writes an
estimator, and nothing is held in module or thread-local state.

* :class:`Problem`: ``X``, ``Y``, the weights (validated and normalised once),
  the column ranges of ``X`` and ``Y`` (read once per fit: the magnitude
  checks, the constant-column snap and the constant mask all need them, and a
  pass over a large ``X`` costs as much as an SGD epoch), and the centring
  offsets once :func:`centred` has set them.
* :func:`build_objective`: the least-squares objective of a problem, on ``X``
  or on the Gram matrix ``X^T X``.
* :func:`solve`: the scale, the schedule, the loop and the minimum-norm
  answer of a singular design, shared by the in-memory fit and the fits from
  sufficient statistics (:mod:`gdreg._stats`, :mod:`gdreg._dask`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_array

from gdreg import _accuracy, _loop
from gdreg._loss import (
    EpsilonInsensitive,
    SmoothedEpsilonInsensitive,
    SquaredLoss,
    is_squared,
    make_loss,
)
from gdreg._objective import (
    GRAM_MAX_FEATURES,
    DenseMoments,
    GramLeastSquares,
    LeastSquares,
    dense_moments,
    sufficient_statistics,
)
from gdreg._penalty import split as split_penalty
from gdreg._validation import (
    check_largest_magnitude,
    column_range,
    finite_sum_weights,
    magnitude_within_limits,
    one_pass_applies,
    range_magnitude,
    sample_fractions,
    snap_constant,
    summarize_columns,
    weighted_column_means,
)
from gdreg.optimizers import SVRG, AcceleratedGradient, AveragedSGD, GradientDescent, as_optimizer

__all__ = [
    "Fitted",
    "Problem",
    "Settings",
    "Solution",
    "build_objective",
    "centred",
    "prepare",
    "resolve_optimizer",
    "solve",
]

#: The full-batch optimizer runs on X^T X when there are this many samples per feature.
GRAM_MIN_SAMPLES_PER_FEATURE = 10
#: ... and, when nothing else needs the d x d Hessian (``tol=None`` with an
#: explicit schedule), the data hold at least this many entries: below it a
#: pass over X costs less than forming X^T X. With ``tol`` (the certificate) or
#: ``"auto"`` (the step) the Hessian is formed anyway, so the fit always uses it.
GRAM_MIN_SIZE = 200_000
#: Reduced-precision X up to this many entries is fitted in float64.
SMALL_REDUCED_PRECISION = 200_000
#: Epochs that ``max_iter=None`` allows: full-batch epochs are cheap (O(d^2) on the
#: sufficient statistics) and ill-conditioned problems need thousands of them.
DEFAULT_MAX_ITER = {"batch": 10_000, "stochastic": 1_000, "minibatch": 1_000}


class Settings(NamedTuple):
    """The estimator's parameters, validated, as the fit reads them (same names)."""

    optimizer: Any
    learning_rate: Any
    eta0: float
    batch_size: int
    max_iter: int | None
    tol: float | None
    alpha: float
    fit_intercept: bool
    shuffle: bool
    random_state: Any
    warm_start: bool
    record_path: bool
    verbose: int
    loss: str = "squared_error"
    epsilon: float = 0.1
    penalty: str | None = "l2"
    l1_ratio: float = 0.15
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int = 5

    @property
    def auto(self) -> bool:
        """Whether the step is derived from the data (``learning_rate="auto"``)."""
        return isinstance(self.learning_rate, str) and self.learning_rate == "auto"

    def loss_object(self):
        """The :class:`gdreg._loss.Loss` that ``loss`` and ``epsilon`` name."""
        return make_loss(self.loss, self.epsilon)

    @property
    def squared(self) -> bool:
        """Whether the loss is the squared error (the Gram and statistics routes need it)."""
        return self.loss == "squared_error"

    @property
    def penalties(self) -> tuple[float, float]:
        """``(l2, l1)`` strengths from ``penalty``, ``alpha`` and ``l1_ratio``."""
        return split_penalty(self.penalty, self.alpha, self.l1_ratio)

    def max_iter_for(self, sampling: str) -> int:
        """The epochs a fit may run: ``max_iter``, or the default of the sampling mode."""
        return DEFAULT_MAX_ITER[sampling] if self.max_iter is None else int(self.max_iter)


class Problem(NamedTuple):
    """The training data as the fit sees them, validated and summarised once."""

    X: Any  # (n, d) ndarray or CSR; float64 for small reduced-precision fits
    Y: np.ndarray  # (n, k), C-contiguous, in X's dtype
    weights: np.ndarray | None  # validated, sum finite; None for uniform weights
    one_d: bool  # y was 1-D
    dtype: np.dtype  # the data's own dtype: the coefficients are returned in it
    x_range: tuple | None  # column-wise (min, max) of X; None when the moments stand for it
    y_range: tuple  # ... and of Y
    x_means: np.ndarray | None = None  # weighted column means, when the summary pass gave them
    moments: DenseMoments | None = None  # the fused pass of the Gram route
    x_offset: np.ndarray | None = None  # the centring, once :func:`centred` set it
    y_offset: np.ndarray | None = None


class Fitted(NamedTuple):
    """The fitted attributes of the estimator; ``None`` paths are removed."""

    coef_: np.ndarray
    intercept_: Any
    n_iter_: int
    t_: int
    converged_: bool
    loss_curve_: np.ndarray
    change_curve_: np.ndarray
    optimizer_: Any
    learning_rate_: Any
    coef_path_: np.ndarray | None = None
    intercept_path_: np.ndarray | None = None


class Solution(NamedTuple):
    """What :func:`solve` hands back."""

    fitted: Fitted
    #: The ConvergenceWarning's message when ``tol`` was set and not reached, else None.
    warning: str | None


# -- resolution ----------------------------------------------------------------------
def resolve_optimizer(settings: Settings, *, stream: bool = False, sparse: bool = False):
    """The optimizer a fit runs (``stream=True``: one ``partial_fit`` pass per chunk).

    With ``learning_rate="auto"`` the names pick the best rule of their
    family for a whole fit: accelerated full-batch descent, or SVRG for the
    stochastic modes (whose anchor needs a full pass, so a stream keeps plain
    gradient descent). For ``loss="epsilon_insensitive"``, which has no
    variance reduction (it is not smooth), the stochastic modes average
    their iterates (:class:`AveragedSGD`), except on ``sparse`` data, where
    the average costs O(n_features) per update and plain gradient descent
    with a decaying step keeps the updates O(non-zeros). An optimizer object
    is cloned, never modified.
    """
    if isinstance(settings.optimizer, str):
        if settings.auto and not stream:
            smooth = settings.loss_object().smooth
            if settings.optimizer == "batch":
                # a loss with kinks: accelerated steps on smoothed losses (continuation)
                return AcceleratedGradient()
            if not smooth:  # no variance reduction without smoothness
                if sparse:
                    return GradientDescent(sampling=settings.optimizer)
                return AveragedSGD(sampling=settings.optimizer)
            return SVRG(sampling=settings.optimizer)
        return GradientDescent(sampling=settings.optimizer)
    optimizer = as_optimizer(clone(settings.optimizer, safe=False))
    if stream and optimizer.uses_full_gradient:
        raise ValueError(
            f"partial_fit cannot run {type(optimizer).__name__}: a variance-reduced rule "
            "needs the full gradient of the data, which one chunk does not have. "
            "Use fit, or a plain rule such as GradientDescent(sampling='stochastic')."
        )
    return optimizer


def uses_gram(sampling: str, n: int, d: int, settings: Settings) -> bool:
    """Whether a full-batch fit runs on the sufficient statistics ``X^T X`` (O(d^2) epochs).

    The certificate of ``tol`` and the ``"auto"`` step both need the
    ``d x d`` Hessian, which is those statistics: once they are formed,
    running the epochs on X as well would only add passes over it.
    """
    if sampling != "batch" or d > GRAM_MAX_FEATURES or n < GRAM_MIN_SAMPLES_PER_FEATURE * d:
        return False
    if settings is not None and not settings.squared:
        return False  # X^T X determines the squared loss only
    return settings.tol is not None or settings.auto or n * d >= GRAM_MIN_SIZE


# -- the data ------------------------------------------------------------------------
def prepare(
    X,
    y,
    sample_weight,
    *,
    validate: Callable,
    estimator_name: str,
    sampling: str | None = None,
    settings: Settings | None = None,
) -> Problem:
    """Validate the training data; for a fit (``sampling`` given) also summarise it.

    ``validate(X, y, ensure_all_finite=...)`` is the estimator's
    ``validate_data`` (the one step that records ``n_features_in_``). A
    dense ``X`` is checked for NaN and infinity by the pass that also takes
    its column range and means (the compiled :func:`summarize_columns` for
    a large ``X``, :func:`~gdreg._objective.dense_moments` on the Gram route
    below that), not by a pass of its own in ``validate``: the compiled pass
    runs on several threads, and above its threshold it and one syrk pass
    beat NumPy's column ranges in ``dense_moments``.

    In a fit, small reduced-precision data come back converted to float64
    (a copy of at most 1.6 MB: the float32 answer is then as exact as the
    data, not as float32 gradients allow); ``Problem.dtype`` stays the
    data's own. ``partial_fit`` (``sampling=None``) converts nothing.
    """
    batch = sampling == "batch"
    summary_applies = sampling is not None and one_pass_applies(X, batch=batch)
    fused = (
        not summary_applies
        and batch
        and isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and uses_gram(sampling, *X.shape, settings)
    )
    own_check = fused or summary_applies
    X, y = validate(X, y, ensure_all_finite=not own_check)
    y = np.asarray(y, dtype=X.dtype)
    one_d = y.ndim == 1
    Y = np.ascontiguousarray(y.reshape(-1, 1) if one_d else y)
    weights = _weights(sample_weight, X)
    dtype = X.dtype
    if (
        sampling is not None
        and dtype != np.float64
        and X.shape[0] * X.shape[1] <= (SMALL_REDUCED_PRECISION)
    ):
        X, Y = X.astype(np.float64), Y.astype(np.float64)
        weights = None if weights is None else weights.astype(np.float64)
    moments = x_means = x_range = y_range = None
    finite = True
    if fused and isinstance(X, np.ndarray):
        c = None if weights is None else sample_fractions(weights, X.shape[0], X.dtype)
        moments = dense_moments(X, Y, c)
        y_range = (moments.y_low, moments.y_high)
        x_range = None if moments.x_low is None else (moments.x_low, moments.x_high)
        finite = moments.finite
    elif own_check or sp.issparse(X):
        # a large CSR X has its range and means summarised in one pass too (its
        # finiteness was checked by validation, which reads only the stored values)
        summary = summarize_columns(X, weights, batch=batch)
        finite = not own_check or (summary is not None and summary.finite)
        if summary is not None:
            x_range, x_means = (summary.low, summary.high), summary.means
    if not finite:
        # sklearn's own error (it names NaN or infinity). Also reached when the
        # pass did not run after all (validation converted X), or when X is
        # finite and a sum overflowed: the magnitude check then says so.
        check_array(X, accept_sparse="csr", dtype=None, input_name="X", estimator=estimator_name)
    if x_range is None and not (
        moments is not None
        and magnitude_within_limits(
            *moments.largest_magnitude_bounds(X.shape[0]), dtype, X.shape[1], small=True
        )
    ):
        x_range = _column_range(X, batch)
    if y_range is None:
        y_range = _column_range(Y, batch)
    # against the limits of the data's own precision, whatever precision the fit runs in
    if x_range is not None:
        check_largest_magnitude("X", range_magnitude(*x_range), dtype, X.shape[1], small=True)
    check_largest_magnitude("y", range_magnitude(*y_range), dtype, Y.shape[1], small=False)
    return Problem(X, Y, weights, one_d, dtype, x_range, y_range, x_means, moments)


def _weights(sample_weight, X):
    if sample_weight is None:
        return None
    weights = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    if np.any(weights < 0):
        raise ValueError("sample_weight must be non-negative; got negative values.")
    if not np.any(weights > 0):
        raise ValueError("sample_weight must not be all zero.")
    return finite_sum_weights(weights)


def _column_range(A, batch: bool):
    """Column-wise ``(min, max)`` of ``A``, NumPy's for a full-batch fit below the summary size.

    A full-batch fit's own passes (the Gram matrix, or a gradient per epoch)
    cost far more than the range, so compiling the one-pass helper (a fifth
    of a second, paid by the first fit of a process) would not pay there.
    """
    if batch and one_pass_applies(A) and not one_pass_applies(A, batch=True):
        return A.min(axis=0), A.max(axis=0)
    return column_range(A)


def centred(problem: Problem, fit_intercept: bool) -> Problem:
    """``problem`` with its centring offsets: the weighted means (zeros without an intercept).

    The offset of a constant column is that constant exactly
    (:func:`gdreg._validation.snap_constant`).
    """
    X, Y = problem.X, problem.Y
    d, k = X.shape[1], Y.shape[1]
    if not fit_intercept:
        x_offset, y_offset = np.zeros(d, dtype=X.dtype), np.zeros(k, dtype=X.dtype)
    elif problem.moments is not None:  # constant columns already hold their constant
        x_offset = problem.moments.x_mean.astype(X.dtype)
        y_offset = problem.moments.y_mean.astype(X.dtype)
    else:
        means = problem.x_means
        x_offset = weighted_column_means(X, problem.weights) if means is None else means
        if problem.weights is None:
            y_offset = Y.mean(axis=0, dtype=np.float64)
        else:
            y_offset = sample_fractions(problem.weights, X.shape[0], X.dtype) @ Y
        x_offset = snap_constant(x_offset, *problem.x_range)
        y_offset = snap_constant(y_offset.astype(X.dtype), *problem.y_range)
    return problem._replace(x_offset=x_offset, y_offset=y_offset)


def build_objective(problem: Problem, sampling: str, settings: Settings) -> LeastSquares:
    """The objective of a :func:`centred` problem: on the Gram matrix when it pays, else on X."""
    X, Y, weights = problem.X, problem.Y, problem.weights
    x_offset, y_offset = problem.x_offset, problem.y_offset
    n, d = X.shape
    gram = uses_gram(sampling, n, d, settings)
    l2, l1 = settings.penalties
    statistics = None
    if problem.moments is not None:  # the statistics of the validation pass: no other pass
        statistics = problem.moments.about(x_offset, y_offset, X.dtype)
    elif gram and not sp.issparse(X):
        # one pass centred on the offsets (snapped: constant columns are exact
        # zeros); without weights, no n-long weight vector either
        c = None if weights is None else sample_fractions(weights, n, X.dtype)
        statistics = sufficient_statistics(X, Y, c, x_offset, y_offset, uniform=weights is None)
    if statistics is not None:
        return GramLeastSquares.from_statistics(
            *statistics,
            weight_sum=float(n) if weights is None else float(np.sum(weights, dtype=float)),
            n_samples=n,
            alpha=l2,
            x_offset=x_offset,
            y_offset=y_offset,
            l1=l1,
        )
    if gram:  # constant columns are zeroed by the sparse statistics
        return GramLeastSquares(
            X, Y, weights, alpha=l2, x_offset=x_offset, y_offset=y_offset, l1=l1
        )
    low, high = problem.x_range
    return LeastSquares(
        X,
        Y,
        weights,
        alpha=l2,
        x_offset=x_offset,
        y_offset=y_offset,
        # centring makes the best intercept ybar - xbar w for the squared loss only:
        # any other loss learns it
        learn_intercept=settings.fit_intercept and not settings.squared,
        constant_features=low == high if settings.fit_intercept else None,
        loss=settings.loss_object(),
        l1=l1,
    )


# -- the fit -------------------------------------------------------------------------
def solve(
    objective,
    optimizer,
    settings: Settings,
    *,
    one_d: bool,
    dtype,
    warm_coef=None,
    epoch_callback=None,
) -> Solution:
    """Resolve the scale and the schedule, run the loop from zero (or ``warm_coef``).

    Shared by the in-memory fit and the fits from sufficient statistics
    (streamed chunks, Dask), which build ``objective`` themselves.
    ``warm_coef`` is the previous ``coef_`` (``warm_start``); ``one_d`` and
    ``dtype`` shape the coefficients as the data were given.
    """
    batch_size = optimizer.batch_size or settings.batch_size
    n, d, k = objective.n_samples, objective.n_features, objective.n_targets
    max_iter = settings.max_iter_for(optimizer.sampling)
    work_dtype = objective.x_offset.dtype  # float64 for small float32 data
    check_penalty(optimizer, objective)
    certificate = None
    if settings.tol is not None:
        # the spectrum of the data (the squared loss's Hessian): the scales, L and mu
        certificate = _accuracy.certificate(
            squared_twin(objective), _loop.objective_yty(objective), work_dtype
        )
    # "auto" descends in standardised coordinates, where the units of the features do not matter
    if settings.auto and certificate is not None:
        scale = penalised_scale(certificate.column_scale, objective.alpha)
        objective = objective.scaled(scale)
        if scale is certificate.column_scale:  # else L is that of other coordinates
            objective.set_lipschitz(certificate.lipschitz)
    elif settings.auto and n > d:
        # tol=None: no spectrum, so no null space to remove; a wide X (surely
        # singular) keeps the user's coordinates, whose limit is the minimum-norm one.
        # Without a certificate the scales are only a preconditioner: a stochastic
        # fit takes them, and its step's L, from a fixed sample of the rows rather
        # than from passes over X that cost as much as its epochs (full batch: the
        # Gram matrix that L needs gives them exactly).
        rows = None if optimizer.sampling == "batch" else _accuracy.sample_rows(objective)
        if rows is None:
            spread = _accuracy.spreads(objective)
        else:
            spread = _accuracy.sampled_spreads(objective, rows)
        objective = objective.scaled(penalised_scale(spread, objective.alpha))
        if rows is not None:
            objective.set_lipschitz(_accuracy.sampled_lipschitz(objective, rows))
    n_updates = _loop.updates_per_epoch(n, optimizer.sampling, batch_size)
    schedule = _loop.resolve_schedule(
        settings.learning_rate, settings.eta0, objective, optimizer, batch_size, n_updates
    )
    params0 = np.zeros((d + 1, k), dtype=work_dtype)
    if warm_coef is not None:
        params0 = objective.params_from_coef(previous_coef(warm_coef, d, k), 0.0)
        params0 = params0.astype(work_dtype, copy=False)
    run = _continuation if _smoothing_applies(objective, optimizer, settings) else _loop.run
    result = run(
        objective,
        optimizer,
        schedule,
        params0=params0,
        max_iter=max_iter,
        tol=settings.tol,
        batch_size=batch_size,
        shuffle=settings.shuffle,
        rng=check_random_state(settings.random_state),
        record_path=settings.record_path,
        verbose=settings.verbose,
        epoch_callback=epoch_callback,
        certificate=certificate,
        n_iter_no_change=settings.n_iter_no_change,
        scale_short_batch=settings.auto,
    )
    warning = None
    if settings.tol is not None and not result.converged:
        warning = _not_converged_message(
            result, max_iter, settings.tol, certificate, settings.loss, optimizer.sampling
        )
    singular = certificate is not None and certificate.null_space is not None
    if singular and exact_quadratic(objective):
        # a singular design: of all minimisers, LinearRegression's (smallest |w|)
        coef_w = _accuracy.minimum_norm(certificate, objective.coef(result.params))
        params = objective.params_from_coef(coef_w, result.params[d])
        result = result._replace(params=params.astype(work_dtype, copy=False))
    fitted = fitted_attributes(
        objective, optimizer, schedule, result, one_d, np.dtype(dtype), settings
    )
    return Solution(fitted, warning)


#: Each stage of the continuation divides the smoothing width by this.
_SMOOTHING_SHRINK = 4.0
#: Without ``tol``, the continuation ends at this scale-free width.
_SMOOTHING_FLOOR = 1e-6


def _smoothing_applies(objective, optimizer, settings) -> bool:
    """Whether a full-batch "auto" fit of a loss with kinks runs the continuation."""
    loss = getattr(objective, "loss", None)
    return settings.auto and optimizer.sampling == "batch" and type(loss) is EpsilonInsensitive


def _continuation(objective, optimizer, schedule, *, params0, max_iter, tol, certificate, **kwargs):
    """Full-batch descent on the epsilon-insensitive loss by smoothing and continuation.

    Runs :func:`gdreg._loop.run` (same arguments) on the objective whose loss
    is :class:`~gdreg._loss.SmoothedEpsilonInsensitive` with width
    ``tau = sigma_y, sigma_y / 4, ...`` down to ``tol * sigma_y``, each stage
    from where the last ended, with the ``"auto"`` step of its curvature
    ``1/tau``. A stage stops once its bound is below ``tau / sigma_y`` (the
    smoothing's own error, no point going further), the last one at ``tol``.
    Since ``0 <= l - l_tau <= tau / 2``, the answer's objective is within
    about ``tol * sigma_y / 2`` of the minimum. ``schedule`` (the
    subgradient schedule) is not used; the stages' curves are joined, their
    values those of the true loss.
    """
    loss = objective.loss
    if certificate is not None:
        spread = float(np.max(certificate.target_scale))
    else:
        spread = float(np.sqrt(np.max(_loop.objective_yty(objective), initial=0.0))) or 1.0
    final = (_SMOOTHING_FLOOR if tol is None else tol) * spread
    tau = max(spread, final)
    callback = kwargs.pop("epoch_callback", None)
    stages, params, done = [], params0, 0
    while True:
        last = tau <= final * (1 + 1e-12)
        stage = copy.copy(objective)
        stage.loss = SmoothedEpsilonInsensitive(loss.epsilon, tau)
        stage.__dict__.pop("_lipschitz", None)
        if certificate is not None:
            stage.set_lipschitz(certificate.lipschitz)
        batch_size = kwargs.get("batch_size", 32)
        stage_schedule = _loop.resolve_schedule("auto", 1.0, stage, optimizer, batch_size, 1)
        # a stage is solved to the smoothing's own scale, the last one to tol
        stage_tol = None if (last and tol is None) else tau / spread
        offset = done
        result = _loop.run(
            stage,
            optimizer,
            stage_schedule,
            params0=params,
            max_iter=max_iter - done,
            tol=stage_tol,
            certificate=certificate,
            epoch_callback=None
            if callback is None
            else (lambda epoch, info, offset=offset: callback(epoch + offset, info)),
            **kwargs,
        )
        stages.append(result)
        params, done = result.params, done + result.n_iter
        if last or result.stopped or done >= max_iter:
            break
        tau = max(tau / _SMOOTHING_SHRINK, final)
    first = stages[0]
    paths = None
    if first.coef_path is not None:
        paths = (
            first.coef_path + [p for s in stages[1:] for p in s.coef_path[1:]],
            first.intercept_path + [p for s in stages[1:] for p in s.intercept_path[1:]],
        )
    return stages[-1]._replace(
        n_iter=done,
        n_updates=sum(s.n_updates for s in stages),
        converged=bool(stages[-1].converged and last),
        loss_curve=np.concatenate([s.loss_curve for s in stages]),
        change_curve=np.concatenate([s.change_curve for s in stages]),
        coef_path=None if paths is None else paths[0],
        intercept_path=None if paths is None else paths[1],
        schedule=stage_schedule,
    )


def penalised_scale(spread: np.ndarray, l2: float) -> np.ndarray:
    """The coordinates "auto" descends in: ``sqrt(spread^2 + l2)`` per feature.

    The square roots of the diagonal of the penalised Hessian (Jacobi
    scaling): a feature whose spread is far below ``sqrt(l2)`` is governed by
    the penalty, and scaling it by its spread alone would give it a curvature
    of ``1 + l2 / spread^2`` and the whole problem that condition number
    (ridge with ``alpha=10`` on features in units from 1e-3 to 1e3 ran out of
    epochs with a 6 % error). Without an l2 part, the spreads themselves.

    Examples
    --------
    >>> penalised_scale(np.array([3.0, 0.001]), 0.0)
    array([3.e+00, 1.e-03])
    >>> penalised_scale(np.array([3.0, 0.0]), 16.0)
    array([5., 4.])
    """
    if not l2:
        return spread
    return np.sqrt(np.asarray(spread, dtype=np.float64) ** 2 + float(l2))


def squared_twin(objective):
    """``objective`` with the squared loss and a centred intercept: the data's own Hessian.

    The certificate's scales, ``L`` and ``mu`` are those of the data; a loss's
    curvature multiplies them where needed (:meth:`LeastSquares.lipschitz`).
    """
    if is_squared(getattr(objective, "loss", None)) and not objective.learn_intercept:
        return objective
    twin = copy.copy(objective)
    twin.loss = SquaredLoss()
    twin.learn_intercept = False
    twin.__dict__.pop("_lipschitz", None)
    return twin


def exact_quadratic(objective) -> bool:
    """Whether the objective is least squares with an L2 penalty at most (no l1 part)."""
    return is_squared(getattr(objective, "loss", None)) and not getattr(objective, "l1", 0.0)


def check_penalty(optimizer, objective) -> None:
    """Refuse an l1 penalty with an update rule that cannot take its proximal step."""
    if getattr(objective, "l1", 0.0) and not getattr(optimizer, "proximal", False):
        raise ValueError(
            f"penalty='l1' and 'elasticnet' need an update rule whose steps can be followed "
            f"by the l1 penalty's proximal step (GradientDescent, AcceleratedGradient, SVRG, "
            f"or the strings 'batch', 'stochastic', 'minibatch'); "
            f"{type(optimizer).__name__} rescales or accumulates its gradients, so the "
            "soft-threshold would not lead to the penalised minimiser."
        )


def textbook_auto_step(problem: Problem, settings: Settings) -> float:
    """The first "auto" step of plain gradient descent in the user's coordinates.

    ``1/L`` for the full batch, ``1/L(B)`` otherwise: the scale of the
    constant steps that :class:`~gdreg.plotting.LearningRateDisplay` tries.
    """
    optimizer = resolve_optimizer(settings, stream=True)  # the plain rule of the sampling
    objective = build_objective(
        centred(problem, settings.fit_intercept), optimizer.sampling, settings
    )
    batch_size = optimizer.batch_size or settings.batch_size
    n_updates = _loop.updates_per_epoch(problem.X.shape[0], optimizer.sampling, batch_size)
    schedule = _loop.resolve_schedule(
        "auto", settings.eta0, objective, optimizer, batch_size, n_updates
    )
    return float(schedule(1))


def previous_coef(coef, n_features: int, n_targets: int) -> np.ndarray:
    """The fitted ``coef_`` as the loop's ``(n_features, n_targets)``; its shape is checked."""
    coef = np.asarray(coef)
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
    if coef.shape != (n_targets, n_features):
        raise ValueError(
            f"warm_start needs coef_ of shape {(n_targets, n_features)}, "
            f"the previous fit has {coef.shape}."
        )
    return coef.T


# -- the fitted attributes -----------------------------------------------------------
def fitted_attributes(objective, optimizer, schedule, result, one_d, dtype, settings) -> Fitted:
    """The estimator's attributes from one loop ``result`` on ``objective``."""
    coef, intercept = _loop.user_parameters(objective, result.params)
    if result.schedule is not None:  # the continuation's last stage
        schedule = result.schedule
    coef_path = intercept_path = None
    if settings.record_path:
        coef_path = np.stack([coef_shape(c, one_d) for c in result.coef_path])
        if settings.fit_intercept:
            intercept_path = np.stack(
                [np.asarray(intercept_shape(b, one_d, dtype)) for b in result.intercept_path]
            )
        else:
            intercept_path = np.zeros(len(result.intercept_path))
    return Fitted(
        coef_=coef_shape(coef, one_d).astype(dtype, copy=False),
        # Like LinearRegression: a scalar 0.0 without an intercept, whatever the shape of y.
        intercept_=intercept_shape(intercept, one_d, dtype) if settings.fit_intercept else 0.0,
        n_iter_=int(result.n_iter),
        t_=int(result.n_updates),
        converged_=bool(result.converged),
        loss_curve_=result.loss_curve,
        change_curve_=result.change_curve,
        optimizer_=optimizer,
        learning_rate_=schedule,
        coef_path_=coef_path,
        intercept_path_=intercept_path,
    )


def attributes_maker(one_d: bool, dtype, fit_intercept: bool) -> Callable:
    """``(coef, intercept) -> {"coef_": ..., "intercept_": ...}`` as :class:`Fitted` shapes them."""
    dtype = np.dtype(dtype)

    def attributes(coef, intercept):
        return {
            "coef_": coef_shape(coef, one_d).astype(dtype, copy=False),
            "intercept_": intercept_shape(intercept, one_d, dtype) if fit_intercept else 0.0,
        }

    return attributes


def coef_shape(coef, one_d: bool) -> np.ndarray:
    """``(d, k)`` internal coefficients to ``LinearRegression``'s shape."""
    return coef[:, 0].copy() if one_d else np.ascontiguousarray(coef.T)


def intercept_shape(intercept, one_d: bool, dtype):
    """``(k,)`` internal intercepts to ``LinearRegression``'s shape and type."""
    if one_d:
        return dtype.type(intercept[0]) if dtype == np.float32 else float(intercept[0])
    return np.asarray(intercept, dtype=dtype)


def _not_converged_message(
    result, max_iter, tol, certificate, loss="squared_error", sampling="batch"
) -> str:
    """What the fit reached, for the ConvergenceWarning."""
    bound = result.change_curve[-1] if len(result.change_curve) else np.inf
    if loss == "epsilon_insensitive":
        if sampling == "batch":
            reached = (
                f"the last epoch's scale-free error bound on the smoothed loss is {bound:.3g} "
                f"(the loss is smoothed over a width that shrinks to tol times the spread of y)"
            )
        else:
            reached = (
                f"the objective still improved by {bound:.3g} times its value at zero in "
                "the last epoch"
            )
        return (
            f"GradientDescentRegressor did not converge to tol={tol:g} in "
            f"max_iter={max_iter} epochs: {reached}. Increase max_iter or loosen tol; the "
            "epsilon-insensitive loss is not differentiable, so each digit costs many epochs."
        )
    kappa = certificate.condition_number if certificate is not None else np.nan
    problem = f"condition number of the standardised problem {kappa:.3g}"
    if result.precision_limited:
        return (
            f"GradientDescentRegressor did not converge to tol={tol:g}: after "
            f"{result.n_iter} epochs the scale-free error bound is {bound:.3g}, the least "
            f"that float32 gradients can certify here ({problem}). Fit float64 data for a "
            "smaller bound."
        )
    if not np.isfinite(bound):
        reached = (
            "the distance to the exact solution cannot be bounded: the standardised "
            "design is numerically singular"
        )
    else:
        reached = f"the scale-free error bound reached is {bound:.3g}"
    return (
        f"GradientDescentRegressor did not converge to tol={tol:g} in "
        f"max_iter={max_iter} epochs: {reached} ({problem}). Increase max_iter, loosen "
        "tol, use learning_rate='auto' with optimizer='batch', or remove near-duplicate "
        "features."
    )
