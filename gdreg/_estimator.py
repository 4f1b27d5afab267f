"""GradientDescentRegressor: validate, call the loop, set attributes."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from gdreg import _accuracy, _callbacks, _loop, _partial
from gdreg._objective import (
    GRAM_MAX_FEATURES,
    GramLeastSquares,
    LeastSquares,
    dense_moments,
    sufficient_statistics,
)
from gdreg._repr import doc_link_template
from gdreg._validation import (
    check_largest_magnitude,
    column_ranges_shared,
    constant_columns,
    finite_sum_weights,
    full_batch_fit,
    largest_magnitude,
    remember_range,
    sample_fractions,
    snap_constant,
    summarize_columns,
    summary_will_run,
    weighted_column_means,
)
from gdreg._warnings import InconsistentVersionWarning, warn_at_caller
from gdreg.optimizers import (
    SAMPLINGS,
    SVRG,
    AcceleratedGradient,
    GradientDescent,
    Optimizer,
    as_optimizer,
)
from gdreg.optimizers._base import OptimizerInstance

__all__ = ["GradientDescentRegressor"]

#: What ``X`` may be: anything ``np.asarray`` takes (lists, arrays, DataFrames, dask
#: arrays) or a SciPy sparse matrix or array.
MatrixLike: TypeAlias = ArrayLike | sp.spmatrix | sp.sparray

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


def _running_version() -> str:
    import gdreg  # the package imports this module before it sets __version__

    return gdreg.__version__


class GradientDescentRegressor(_callbacks.CallbackSupportMixin, RegressorMixin, BaseEstimator):
    r"""Linear regression fitted by gradient descent.

    Minimises the weighted mean squared error plus an L2 penalty,

    .. math::

        J(w, b) = \frac{1}{2S} \sum_{i=1}^n s_i (y_i - x_i^\top w - b)^2
                  + \frac{\alpha}{2} \lVert w \rVert_2^2,
        \qquad S = \sum_i s_i,

    with full-batch, stochastic or mini-batch gradient descent, or any
    optimizer from :mod:`gdreg.optimizers`. ``alpha`` means what it means in
    :class:`~sklearn.linear_model.SGDRegressor`: the solution equals
    ``Ridge(alpha=alpha * S)`` (``S = n_samples`` without weights). The
    intercept is not penalised. With 2-D ``y`` the objective is the sum of the
    per-target objectives.

    The intercept is handled by centring, as in
    :class:`~sklearn.linear_model.LinearRegression`: the loop runs on
    :math:`x_i - \bar x` and :math:`y_i - \bar y` (weighted means, applied
    inside each product, never on a copy of ``X``) and reports
    :math:`b = \bar y - \bar x^\top w`. This keeps unscaled problems such as
    a line far from the origin well conditioned.

    Parameters
    ----------
    optimizer : {"batch", "stochastic", "minibatch"} or Optimizer, default="batch"
        ``"batch"`` takes one full-gradient step per epoch, ``"stochastic"``
        one step per sample, ``"minibatch"`` one step per ``batch_size``
        samples (``ceil(n / batch_size)`` steps per epoch, the last batch may
        be smaller). With ``learning_rate="auto"`` each name runs the best
        rule of its family: :class:`~gdreg.optimizers.AcceleratedGradient`
        for ``"batch"`` and :class:`~gdreg.optimizers.SVRG` for the other
        two (``optimizer_`` says which); with an explicit schedule, plain
        :class:`~gdreg.optimizers.GradientDescent`. An object from
        :mod:`gdreg.optimizers` (or any object following the protocol of
        :class:`gdreg.optimizers.Optimizer`) brings its own update rule and
        sampling mode; it is cloned, never modified.
    learning_rate : {"auto", "constant", "invsqrt"} or callable, default="auto"
        Step-size schedule, a function of the update count ``t = 1, 2, ...``.

        - ``"auto"``: derived from the data, and the descent runs in
          *standardised coordinates* (each coefficient times the spread of
          its feature, centring and scaling applied inside the products,
          never on a copy of ``X``), so the path does not depend on the
          units of the features. Full batch: the constant :math:`1/L`, with
          :math:`L` the largest eigenvalue of the standardised Hessian.
          Variance-reduced rules (:class:`~gdreg.optimizers.SVRG`): the
          constant ``rule.auto_step_size(L(B))``, from the expected
          smoothness of a batch of ``B`` samples. Other stochastic rules:
          ``InverseSqrt(1 / L(B), t0=T)``, decaying as
          :math:`1/\sqrt{\text{epochs}}` (``T`` updates per epoch).
        - ``"constant"``: ``eta0`` at every update, in the user's coordinates
          (textbook gradient descent).
        - ``"invsqrt"``: ``eta0 / sqrt(t)``, in the user's coordinates.
        - a callable such as :class:`gdreg.schedules.InverseSqrt`, in the
          user's coordinates.
    eta0 : float, default=0.01
        Initial step size for ``"constant"`` and ``"invsqrt"``; > 0.
    batch_size : int, default=32
        Samples per update of ``"minibatch"``; >= 1.
    max_iter : int or None, default=None
        Largest number of epochs (passes over the data); >= 1. ``None``
        means 10,000 for full-batch optimizers (an epoch costs
        :math:`O(d^2)` once the sufficient statistics are formed) and 1,000
        for the stochastic and mini-batch ones.
    tol : float or None, default=1e-6
        Required accuracy. After every epoch the fit computes a bound on the
        scale-free distance to the exact solution,
        :math:`\lVert \nabla_u J \rVert_2 / (\mu\, \sigma_y)` in
        standardised coordinates (:math:`u_j = \sigma_j w_j`, :math:`\mu`
        the smallest non-zero eigenvalue of the standardised Hessian), and
        stops once it is at most ``tol``. ``converged_=True`` therefore
        guarantees :math:`|w_j - w^\star_j|\, \sigma_j / \sigma_y \le`
        ``tol`` for every coefficient, whatever the optimizer, schedule or
        feature units (see the user guide's "Convergence and accuracy").
        Float32 data with up to 200,000 entries are fitted in float64; for
        larger float32 data the bound cannot be trusted below about
        :math:`10^{-6} \kappa (1 + \lVert u \rVert / \sigma_y)`: when that is
        above ``tol`` the fit stops there with ``converged_=False`` and a
        warning. ``None`` runs ``max_iter`` epochs and computes no bound.
    alpha : float, default=0.0
        L2 penalty on the coefficients; >= 0. Equals ``Ridge(alpha=alpha * S)``.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    shuffle : bool, default=True
        Visit samples in a new random order every epoch (stochastic modes).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling.
    warm_start : bool, default=False
        Start from the previous ``coef_`` (the intercept follows from the
        centring); the schedule and optimizer state start afresh.
    record_path : bool, default=False
        Keep ``coef_path_`` and ``intercept_path_``.
    verbose : int, default=0
        When > 0, print one line per epoch: epoch, objective, stopping
        quantity, step size, updates so far.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients, shaped as in ``LinearRegression``.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept; the scalar ``0.0`` when ``fit_intercept=False`` (as in
        ``LinearRegression``).
    n_iter_ : int
        Epochs run.
    t_ : int
        Parameter updates made.
    converged_ : bool
        Whether the error bound reached ``tol`` within ``max_iter`` epochs.
    loss_curve_ : ndarray of shape (n_iter_,)
        For ``"batch"``, ``loss_curve_[i]`` is :math:`J` after epoch ``i+1``.
        For the stochastic modes it is the mean over the epoch of the
        objective on each batch just before its update (the running average
        ``SGDRegressor`` reports); for :class:`~gdreg.optimizers.SVRG`, which
        evaluates the full objective anyway, :math:`J` after the epoch.
    change_curve_ : ndarray of shape (n_iter_,)
        The stopping quantity of each epoch: the scale-free bound on the
        distance to the exact solution (NaN when ``tol=None``).
    coef_path_ : ndarray of shape (n_iter_ + 1, \*coef_.shape)
        Coefficients at the start and after every epoch (``record_path``).
    intercept_path_ : ndarray of shape (n_iter_ + 1, \*intercept_.shape)
        Intercepts at the start and after every epoch (``record_path``).
    optimizer_ : Optimizer
        The optimizer used (a clone of ``optimizer`` or the one a string names).
    learning_rate_ : callable
        The resolved schedule (for ``"auto"``, with the step derived from the data).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` has string column names.

    See Also
    --------
    gdreg.normal_equation : The closed-form solution of the same objective.
    sklearn.linear_model.SGDRegressor : Stochastic gradient descent in scikit-learn.

    Examples
    --------
    >>> from gdreg import GradientDescentRegressor
    >>> X, y = [[2.0], [4.0], [5.0]], [45.0, 85.0, 105.0]
    >>> reg = GradientDescentRegressor().fit(X, y)
    >>> reg.coef_.round(6), round(reg.intercept_, 6)
    (array([20.]), 5.0)
    >>> reg.predict([[3.0]]).round(6)
    array([65.])
    """

    # The "?" of the HTML repr links to this class's API page (gdreg._repr explains where).
    _doc_link_module = "gdreg"
    _doc_link_template = property(doc_link_template)

    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(SAMPLINGS)), OptimizerInstance()],
        "learning_rate": [StrOptions({"auto", "constant", "invsqrt"}), callable],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "record_path": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        optimizer: str | Optimizer = "batch",
        learning_rate: str | Callable[[int], float] = "auto",
        eta0: float = 0.01,
        batch_size: int = 32,
        max_iter: int | None = None,
        tol: float | None = 1e-6,
        alpha: float = 0.0,
        fit_intercept: bool = True,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        warm_start: bool = False,
        record_path: bool = False,
        verbose: int = 0,
    ):
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.record_path = record_path
        self.verbose = verbose

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn reads the signature of __init__ (inspect.signature, about 30
        # microseconds) on every get_params, which every fit's parameter check
        # calls: a small fit pays it noticeably. The signature of a class does not change.
        return list(_init_parameter_names(cls))

    # -- fitting --------------------------------------------------------------------
    def fit(
        self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> GradientDescentRegressor:
        """Fit the model by gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data; never copied (sparse input is used as CSR). A
            ``dask.array`` (or dask DataFrame) is fitted on its cluster from
            sufficient statistics computed in one distributed pass, full-batch
            optimizer only (see the "Scaling out" page of the documentation).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero.

        Returns
        -------
        self : GradientDescentRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input, or when the iterates diverge (the message gives
            the largest stable step size). A failed fit leaves a previously
            fitted estimator exactly as it was.
        """
        if any(hasattr(a, "__dask_graph__") for a in (X, y, sample_weight)):
            from gdreg import _dask  # dask is an optional extra: import it only when used

            return self._transactional(_dask.fit, self, X, y, sample_weight)
        return self._transactional(self._fit, X, y, sample_weight)

    def partial_fit(
        self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> GradientDescentRegressor:
        """Run one epoch of the configured optimizer on one chunk of data.

        The first call validates the parameters and the data and starts a
        stream; later calls continue it (``n_features_in_`` and the number of
        targets must match). Any call to :meth:`fit` ends the stream.

        What one call does:

        - ``"batch"`` (or any ``sampling="batch"`` optimizer): exactly one
          update, with the full gradient of the chunk's objective.
        - ``"stochastic"``: one update per sample of the chunk, in a random
          order when ``shuffle`` (``len(X)`` updates).
        - ``"minibatch"``: one update per ``batch_size`` samples of the chunk
          (``ceil(len(X) / batch_size)`` updates).
        - any other optimizer: the same as its ``sampling`` says, with its
          update rule; its state (momentum, averages) carries over.

        Each call adds 1 to ``n_iter_`` and the number of updates to ``t_``;
        ``loss_curve_`` and ``change_curve_`` gain one entry (the chunk's
        objective, and NaN: a stream computes no error bound, so
        ``converged_`` stays False and ``partial_fit`` never stops by
        itself). The chunk's objective is the weighted *mean* loss over the
        chunk, so chunks of different sizes take comparable steps.

        The centring offsets (weighted means of ``X`` and ``y``) are taken
        from the first chunk and stay fixed; the intercept is then learned as
        a parameter. ``learning_rate="auto"`` is resolved on the first chunk
        (``learning_rate_``): ``1/L`` of the first chunk's objective for the
        full batch, ``InverseSqrt(1/L(B), t0=T)`` with ``T`` the updates per
        first chunk otherwise, and continues from ``t_`` on later chunks.

        The ``"auto"`` step then follows the curvature of later chunks, and
        only ever goes down (``learning_rate_`` shows the step in use): with
        one sample per update, every chunk's largest per-sample curvature
        ``L_max`` is computed (one pass) and the step lowered to the
        ``"auto"`` step of ``L_max`` (``1/L_max`` for plain gradient descent)
        when that is smaller. For the full batch and mini-batches the
        chunk's ``L`` costs several epochs, so it is computed only when a
        call raised its chunk's objective, as no stable full-batch step does
        (mini-batches: the epoch's mean batch loss above twice the chunk's
        starting objective, or the iterates diverged); the step is then
        lowered to that chunk's own ``"auto"`` step and the chunk is run
        again with it.

        Any step, ``"auto"`` or not, is checked against the whole stream, not
        only against the start of its call: a call that raises its chunk's
        objective to more than 10 times the stream's reference (the smallest
        chunk objective seen so far, or the chunk's objective at zero,
        whichever is larger) raises a ``ValueError`` that gives the largest
        stable step, and the estimator keeps its state from before the call.

        After :meth:`fit`, the first call continues from ``coef_`` and
        ``intercept_`` with a fresh optimizer state, counting on from ``t_``
        and ``n_iter_``.

        Parameters changed with ``set_params`` between calls apply from the
        next call; the model, ``t_`` and ``n_iter_`` carry on:

        - ``optimizer`` (or one of its parameters, ``optimizer__...``): the
          new rule starts from the current ``coef_`` and ``intercept_`` with
          a fresh state, and the schedule is resolved again on that chunk;
        - ``learning_rate``, ``eta0``: the schedule is resolved again on that
          chunk (``"auto"`` as on a first chunk) and continues from ``t_``;
        - ``alpha``, ``batch_size``, ``shuffle``, ``verbose``,
          ``record_path`` (the path restarts at that call): read by every
          call; with ``"auto"`` the step goes down if they raise the
          curvature;
        - ``random_state``: the shuffling is seeded from it again (an int or
          None; a ``RandomState`` instance is drawn from when the stream
          starts);
        - ``max_iter``, ``tol``, ``warm_start``: not used by ``partial_fit``;
        - ``fit_intercept``: raises a ``ValueError``, since a stream keeps
          the form of its model (the learned intercept would be thrown away,
          or the centring was chosen for a model without one). Set it back,
          or start a new stream with :meth:`fit` or on
          ``sklearn.base.clone(estimator)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One chunk of training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the chunk, not all zero.

        Returns
        -------
        self : GradientDescentRegressor
            The updated estimator.

        Raises
        ------
        ValueError
            On invalid input, when the iterates diverge (in the call or
            across the stream), or when ``fit_intercept`` was changed during
            the stream; a failed call leaves the estimator exactly as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from gdreg import GradientDescentRegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(1000, 2))
        >>> y = X @ [3.0, -1.0] + 2.0
        >>> reg = GradientDescentRegressor(optimizer="minibatch", random_state=0)
        >>> for epoch in range(20):
        ...     for start in range(0, 1000, 100):
        ...         _ = reg.partial_fit(X[start : start + 100], y[start : start + 100])
        >>> reg.n_iter_, reg.t_
        (200, 800)
        >>> reg.coef_.round(2), round(reg.intercept_, 2)
        (array([ 3., -1.]), 2.0)
        """
        return self._transactional(_partial.partial_fit, self, X, y, sample_weight)

    def _transactional(self, method, *args):
        # Any failure (bad input, divergence, KeyboardInterrupt) restores the
        # previous fitted state: validate_data sets attributes early.
        saved = dict(self.__dict__)
        try:
            return method(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    @_callbacks.with_callbacks
    @column_ranges_shared
    def _fit(self, X, y, sample_weight):
        self._validate_params()
        optimizer = self._resolve_optimizer()
        full_batch_fit(optimizer.sampling == "batch")
        X, Y, weights, one_d, dtype, moments = self._validate(
            X, y, sample_weight, reset=True, optimizer=optimizer
        )
        x_offset, y_offset = self._offsets(X, Y, weights, moments)
        objective = self._objective(X, Y, weights, optimizer, x_offset, y_offset, moments)
        callbacks = _callbacks.begin_fit(
            self, X, Y[:, 0] if one_d else Y, weights, max_iter=self._max_iter(optimizer)
        )
        self._fit_objective(objective, optimizer, one_d, dtype, callbacks=callbacks)
        if callbacks is not None:
            callbacks.end()
        return self

    def _textbook_auto_step(self, X, y, sample_weight=None) -> float:
        """The first "auto" step of plain gradient descent in the user's coordinates.

        ``1/L`` for the full batch, ``1/L(B)`` otherwise: the scale of the
        constant steps that :class:`~gdreg.plotting.LearningRateDisplay` tries.
        """
        optimizer = self._resolve_optimizer(stream=True)  # the plain rule of the sampling
        X, Y, weights, _ = self._validate_training_data(X, y, sample_weight, reset=False)
        x_offset, y_offset = self._offsets(X, Y, weights)
        objective = self._objective(X, Y, weights, optimizer, x_offset, y_offset)
        batch_size = optimizer.batch_size or self.batch_size
        n_updates = _loop.updates_per_epoch(X.shape[0], optimizer.sampling, batch_size)
        schedule = _loop.resolve_schedule(
            "auto", self.eta0, objective, optimizer, batch_size, n_updates
        )
        return float(schedule(1))

    def _max_iter(self, optimizer) -> int:
        if self.max_iter is None:
            return DEFAULT_MAX_ITER[optimizer.sampling]
        return int(self.max_iter)

    def _fit_objective(self, objective, optimizer, one_d, dtype, callbacks=None):
        """Resolve the schedule, run the loop from zero (or ``coef_``), set attributes.

        Shared by the in-memory fit and the fits from sufficient statistics
        (streamed chunks, Dask), which build ``objective`` themselves.
        """
        batch_size = optimizer.batch_size or self.batch_size
        n, d, k = objective.n_samples, objective.n_features, objective.n_targets
        max_iter = self._max_iter(optimizer)
        auto = isinstance(self.learning_rate, str) and self.learning_rate == "auto"
        work_dtype = objective.x_offset.dtype  # float64 for small float32 data
        certificate = None
        if self.tol is not None:
            certificate = _accuracy.certificate(
                objective, _loop.objective_yty(objective), work_dtype
            )
        # "auto" descends in standardised coordinates, where the units of the features do
        # not matter
        if auto and certificate is not None:
            objective = objective.scaled(certificate.column_scale)
            objective.set_lipschitz(certificate.lipschitz)
        elif auto and n > d:
            # tol=None: no spectrum, so no null space to remove; a wide X (surely
            # singular) keeps the user's coordinates, whose limit is the minimum-norm one.
            # Without a certificate the scales are only a preconditioner: a stochastic
            # fit takes them, and its step's L, from a fixed sample of the rows rather
            # than from passes over X that cost as much as its epochs (full batch: the
            # Gram matrix that L needs gives them exactly).
            rows = None if optimizer.sampling == "batch" else _accuracy.sample_rows(objective)
            if rows is None:
                objective = objective.scaled(_accuracy.spreads(objective))
            else:
                objective = objective.scaled(_accuracy.sampled_spreads(objective, rows))
                objective.set_lipschitz(_accuracy.sampled_lipschitz(objective, rows))
        n_updates = _loop.updates_per_epoch(n, optimizer.sampling, batch_size)
        schedule = _loop.resolve_schedule(
            self.learning_rate, self.eta0, objective, optimizer, batch_size, n_updates
        )
        params0 = np.zeros((d + 1, k), dtype=work_dtype)
        if self.warm_start and hasattr(self, "coef_"):
            params0 = objective.params_from_coef(self._previous_coef(d, k), 0.0)
            params0 = params0.astype(work_dtype, copy=False)
        epoch_callback = None
        if callbacks is not None:
            epoch_callback = callbacks.epochs(_attributes_maker(self, one_d, dtype))
        result = _loop.run(
            objective,
            optimizer,
            schedule,
            params0=params0,
            max_iter=max_iter,
            tol=self.tol,
            batch_size=batch_size,
            shuffle=self.shuffle,
            rng=check_random_state(self.random_state),
            record_path=self.record_path,
            verbose=self.verbose,
            epoch_callback=epoch_callback,
            certificate=certificate,
        )
        # A callback that stops the fit asked for it: no ConvergenceWarning.
        stopped = callbacks is not None and callbacks.stopped
        if self.tol is not None and not result.converged and not stopped:
            warn_at_caller(_not_converged_message(result, max_iter, self.tol, certificate))
        if certificate is not None and certificate.null_space is not None:
            # a singular design: of all minimisers, LinearRegression's (smallest |w|)
            coef_w = _accuracy.minimum_norm(certificate, objective.coef(result.params))
            params = objective.params_from_coef(coef_w, result.params[d])
            result = result._replace(params=params.astype(work_dtype, copy=False))
        self.__dict__.pop("_partial_fit_state", None)  # a full fit ends a partial_fit stream
        self._set_fitted(objective, optimizer, schedule, result, one_d, dtype)
        return self

    def _validate_training_data(self, X, y, sample_weight, *, reset):
        """``(X, Y, weights, one_d)`` validated as ``fit`` validates them (no conversion)."""
        return self._validate(X, y, sample_weight, reset=reset)[:4]

    def _validate(self, X, y, sample_weight, *, reset, optimizer=None):
        """Validate the training data; for a fit (``optimizer`` given) also prepare it.

        Returns ``(X, Y, weights, one_d, dtype, moments)``: ``dtype`` is the
        data's own (coefficients are returned in it); small reduced-precision
        data come back converted to float64 (a copy of at most 1.6 MB: the
        float32 answer is then as exact as the data, not as float32 gradients
        allow). ``moments`` is the one pass over dense ``X`` of the Gram
        route (:func:`gdreg._objective.dense_moments`: column ranges, means
        and centred statistics, read once for the finiteness and magnitude
        checks, the offsets and the objective), or None.
        """
        # A dense X is checked for NaN and infinity by the pass that also takes its
        # column range and means (the compiled summarize_columns for a large X,
        # dense_moments on the Gram route below that), not by a pass of its own in
        # validate_data. The compiled pass runs on several threads: above its
        # threshold it and one syrk pass beat NumPy's column ranges in dense_moments.
        summary = summary_will_run(X)
        fused = (
            not summary
            and optimizer is not None
            and optimizer.sampling == "batch"
            and isinstance(X, np.ndarray)
            and X.ndim == 2
            and X.dtype in (np.float32, np.float64)
            and self._uses_gram(optimizer, *X.shape)
        )
        own_check = fused or summary
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=True,
            ensure_all_finite=not own_check,
        )
        y = np.asarray(y, dtype=X.dtype)
        one_d = y.ndim == 1
        Y = np.ascontiguousarray(y.reshape(-1, 1) if one_d else y)
        if sample_weight is None:
            weights = None
        else:
            weights = _check_sample_weight(sample_weight, X, dtype=X.dtype)
            if np.any(weights < 0):
                raise ValueError("sample_weight must be non-negative; got negative values.")
            if not np.any(weights > 0):
                raise ValueError("sample_weight must not be all zero.")
            weights = finite_sum_weights(weights)
        dtype = X.dtype
        if (
            optimizer is not None
            and dtype != np.float64
            and X.shape[0] * X.shape[1] <= SMALL_REDUCED_PRECISION
        ):
            X, Y = X.astype(np.float64), Y.astype(np.float64)
            weights = None if weights is None else weights.astype(np.float64)
        moments = None
        if fused and isinstance(X, np.ndarray) and not sp.issparse(X):
            c = None if weights is None else sample_fractions(weights, X.shape[0], X.dtype)
            moments = dense_moments(X, Y, c)
            remember_range(X, moments.x_low, moments.x_high)
            remember_range(Y, moments.y_low, moments.y_high)
            finite = moments.finite
        else:
            finite = summarize_columns(X, weights) if own_check else True
        if own_check and not finite:
            # sklearn's own error (it names NaN or infinity). Also reached when the
            # pass did not run after all (validation converted X), or when X is
            # finite and a sum overflowed: the magnitude check then says so.
            check_array(X, accept_sparse="csr", dtype=None, input_name="X", estimator=self)
        # against the limits of the data's own precision, whatever precision the fit runs in
        check_largest_magnitude("X", largest_magnitude(X), dtype, X.shape[1], small=True)
        check_largest_magnitude("y", largest_magnitude(Y), dtype, Y.shape[1], small=False)
        return X, Y, weights, one_d, dtype, moments

    def _uses_gram(self, optimizer, n: int, d: int) -> bool:
        """Whether a full-batch fit runs on the sufficient statistics ``X^T X`` (O(d^2) epochs).

        The certificate of ``tol`` and the ``"auto"`` step both need the
        ``d x d`` Hessian, which is those statistics: once they are formed,
        running the epochs on X as well would only add passes over it.
        """
        if (
            optimizer.sampling != "batch"
            or d > GRAM_MAX_FEATURES
            or n < GRAM_MIN_SAMPLES_PER_FEATURE * d
        ):
            return False
        auto = isinstance(self.learning_rate, str) and self.learning_rate == "auto"
        return self.tol is not None or auto or n * d >= GRAM_MIN_SIZE

    def _resolve_optimizer(self, *, stream=False):
        """The optimizer a fit runs (``stream=True``: one ``partial_fit`` pass per chunk).

        With ``learning_rate="auto"`` the names pick the best rule of their
        family for a whole fit: accelerated full-batch descent, or SVRG for
        the stochastic modes (whose anchor needs a full pass, so a stream
        keeps plain gradient descent).
        """
        if isinstance(self.optimizer, str):
            auto = isinstance(self.learning_rate, str) and self.learning_rate == "auto"
            if auto and not stream:
                if self.optimizer == "batch":
                    return AcceleratedGradient()
                return SVRG(sampling=self.optimizer)
            return GradientDescent(sampling=self.optimizer)
        optimizer = as_optimizer(clone(self.optimizer, safe=False))
        if stream and optimizer.uses_full_gradient:
            raise ValueError(
                f"partial_fit cannot run {type(optimizer).__name__}: a variance-reduced rule "
                "needs the full gradient of the data, which one chunk does not have. "
                "Use fit, or a plain rule such as GradientDescent(sampling='stochastic')."
            )
        return optimizer

    def _offsets(self, X, Y, weights, moments=None):
        d, k = X.shape[1], Y.shape[1]
        if not self.fit_intercept:
            return np.zeros(d, dtype=X.dtype), np.zeros(k, dtype=X.dtype)
        if moments is not None:  # constant columns already hold their constant
            return moments.x_mean.astype(X.dtype), moments.y_mean.astype(X.dtype)
        x_offset = weighted_column_means(X, weights)
        if weights is None:
            y_offset = Y.mean(axis=0, dtype=np.float64)
        else:
            y_offset = sample_fractions(weights, X.shape[0], X.dtype) @ Y
        return snap_constant(X, x_offset), snap_constant(Y, y_offset.astype(X.dtype))

    def _objective(self, X, Y, weights, optimizer, x_offset, y_offset, moments=None):
        n, d = X.shape
        statistics = None
        if moments is not None:  # the statistics of the validation pass: no other pass over X
            statistics = moments.about(x_offset, y_offset, X.dtype)
        elif self._uses_gram(optimizer, n, d) and not sp.issparse(X):
            # one pass centred on the offsets (snapped: constant columns are exact
            # zeros); without weights, no n-long weight vector either
            c = None if weights is None else sample_fractions(weights, n, X.dtype)
            statistics = sufficient_statistics(X, Y, c, x_offset, y_offset, uniform=weights is None)
        if statistics is not None:
            return GramLeastSquares.from_statistics(
                *statistics,
                weight_sum=float(n) if weights is None else float(np.sum(weights, dtype=float)),
                n_samples=n,
                alpha=self.alpha,
                x_offset=x_offset,
                y_offset=y_offset,
            )
        if self._uses_gram(optimizer, n, d):
            # constant columns are zeroed by the sparse statistics
            return GramLeastSquares(
                X, Y, weights, alpha=self.alpha, x_offset=x_offset, y_offset=y_offset
            )
        return LeastSquares(
            X,
            Y,
            weights,
            alpha=self.alpha,
            x_offset=x_offset,
            y_offset=y_offset,
            learn_intercept=False,
            constant_features=constant_columns(X) if self.fit_intercept else None,
        )

    def _previous_coef(self, n_features, n_targets):
        coef = np.asarray(self.coef_)
        coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
        if coef.shape != (n_targets, n_features):
            raise ValueError(
                f"warm_start needs coef_ of shape {(n_targets, n_features)}, "
                f"the previous fit has {coef.shape}."
            )
        return coef.T

    def _set_fitted(self, objective, optimizer, schedule, result, one_d, dtype):
        coef, intercept = _loop.user_parameters(objective, result.params)
        self.coef_ = _coef_shape(coef, one_d).astype(dtype, copy=False)
        # Like LinearRegression: a scalar 0.0 without an intercept, whatever the shape of y.
        self.intercept_ = _intercept_shape(intercept, one_d, dtype) if self.fit_intercept else 0.0
        self.n_iter_ = int(result.n_iter)
        self.t_ = int(result.n_updates)
        self.converged_ = bool(result.converged)
        self.loss_curve_ = result.loss_curve
        self.change_curve_ = result.change_curve
        self.optimizer_ = optimizer
        self.learning_rate_ = schedule
        if self.record_path:
            self.coef_path_ = np.stack([_coef_shape(c, one_d) for c in result.coef_path])
            self.intercept_path_ = np.stack(
                [np.asarray(_intercept_shape(b, one_d, dtype)) for b in result.intercept_path]
            )
            if not self.fit_intercept:
                self.intercept_path_ = np.zeros(len(result.intercept_path))
        else:
            for name in ("coef_path_", "intercept_path_"):
                self.__dict__.pop(name, None)

    # -- prediction ----------------------------------------------------------------
    def predict(self, X: MatrixLike) -> np.ndarray:
        """Predict with the fitted linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32])
        coef = self.coef_.astype(X.dtype, copy=False)
        out = safe_sparse_dot(X, coef.T) + np.asarray(self.intercept_, dtype=X.dtype)
        return np.asarray(out)

    # -- persistence: pickle and skops.io both go through these two methods ---------
    def __getstate__(self):
        return dict(super().__getstate__(), _gdreg_version=_running_version())

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_gdreg_version", None)
        current = _running_version()
        if saved != current:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_version=current,
                    original_version=saved,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


@functools.cache
def _init_parameter_names(cls) -> tuple[str, ...]:
    """``BaseEstimator._get_param_names`` of ``cls``, computed once per class."""
    return tuple(super(GradientDescentRegressor, cls)._get_param_names())


def _not_converged_message(result, max_iter, tol, certificate) -> str:
    """What the fit reached, for the ConvergenceWarning."""
    bound = result.change_curve[-1] if len(result.change_curve) else np.inf
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


def _attributes_maker(estimator, one_d, dtype):
    """``(coef, intercept) -> {"coef_": ..., "intercept_": ...}`` as ``_set_fitted`` shapes them."""

    def attributes(coef, intercept):
        return {
            "coef_": _coef_shape(coef, one_d).astype(dtype, copy=False),
            "intercept_": (
                _intercept_shape(intercept, one_d, dtype) if estimator.fit_intercept else 0.0
            ),
        }

    return attributes


def _coef_shape(coef, one_d):
    """``(d, k)`` internal coefficients to ``LinearRegression``'s shape."""
    return coef[:, 0].copy() if one_d else np.ascontiguousarray(coef.T)


def _intercept_shape(intercept, one_d, dtype):
    if one_d:
        return dtype.type(intercept[0]) if dtype == np.float32 else float(intercept[0])
    return np.asarray(intercept, dtype=dtype)
