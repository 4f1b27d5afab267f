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
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

from gdreg import _callbacks, _early_stopping, _partial, _problem, _stats, _validation
from gdreg._loss import LOSSES
from gdreg._repr import doc_link_template
from gdreg._warnings import InconsistentVersionWarning, warn_at_caller
from gdreg.optimizers import SAMPLINGS, Optimizer
from gdreg.optimizers._base import OptimizerInstance

__all__ = ["GradientDescentRegressor", "fit_from_statistics"]

#: What ``X`` may be: anything ``np.asarray`` takes (lists, arrays, DataFrames, dask
#: arrays) or a SciPy sparse matrix or array.
MatrixLike: TypeAlias = ArrayLike | sp.spmatrix | sp.sparray


def _running_version() -> str:
    import gdreg  # the package imports this module before it sets __version__

    return gdreg.__version__


def validate_training_data(estimator, X, y, *, reset: bool, ensure_all_finite: bool = True):
    """scikit-learn's ``validate_data`` of a fit, at a small cost for plain float arrays.

    The estimator's call is ``validate_data(estimator, X, y, reset=reset,
    accept_sparse="csr", dtype=[float64, float32], multi_output=True,
    y_numeric=True, ensure_all_finite=ensure_all_finite)``. For the usual
    input of a fit (``reset=True``, ``X`` a 2-D ndarray of float64 or float32
    with rows and columns, ``y`` a 1-D or 2-D float ndarray of as many rows,
    finite, and ``X`` finite when asked) that call converts nothing and only
    records ``n_features_in_`` and drops ``feature_names_in_``; doing exactly
    that here saves its argument handling and DataFrame detection, about
    0.1 ms, a sixth of a small fit. Any other input, including any that would
    fail a check, goes through ``validate_data`` itself, so its errors,
    warnings, conversions and configuration (``assume_finite``) apply
    unchanged.

    Returns
    -------
    X, y : the validated arrays, as ``validate_data`` returns them.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg import GradientDescentRegressor
    >>> reg = GradientDescentRegressor()
    >>> X, y = np.ones((3, 2)), np.arange(3.0)
    >>> Xv, yv = validate_training_data(reg, X, y, reset=True)
    >>> Xv is X, yv is y, reg.n_features_in_
    (True, True, 2)
    """
    if reset and _validation.plain_training_arrays(X, y, ensure_all_finite):
        estimator.__dict__.pop("feature_names_in_", None)  # an ndarray has no column names
        estimator.n_features_in_ = X.shape[1]
        return X, y
    return validate_data(
        estimator,
        X,
        y,
        reset=reset,
        accept_sparse="csr",
        dtype=list(_validation.FIT_DTYPES),
        multi_output=True,
        y_numeric=True,
        ensure_all_finite=ensure_all_finite,
    )


class GradientDescentRegressor(_callbacks.CallbackSupportMixin, RegressorMixin, BaseEstimator):
    r"""Linear regression fitted by gradient descent.

    Minimises the weighted mean loss plus a penalty, by default the squared
    error and an L2 penalty,

    .. math::

        J(w, b) = \frac{1}{S} \sum_{i=1}^n s_i\, \ell(x_i^\top w + b, y_i)
                  + \alpha R(w),
        \qquad S = \sum_i s_i,

    with the losses :math:`\ell` and penalties :math:`R` of
    :class:`~sklearn.linear_model.SGDRegressor` (same names, same
    definitions; the default is :math:`\ell = \tfrac12 (y - p)^2`,
    :math:`R = \tfrac12 \lVert w \rVert_2^2`),

    with full-batch, stochastic or mini-batch gradient descent, or any
    optimizer from :mod:`gdreg.optimizers`. ``alpha`` means what it means in
    :class:`~sklearn.linear_model.SGDRegressor`: with the squared error the
    solution equals ``Ridge(alpha=alpha * S)`` (``S = n_samples`` without
    weights), and with ``penalty="l1"`` or ``"elasticnet"`` it equals
    ``Lasso(alpha=alpha)`` or ``ElasticNet(alpha=alpha, l1_ratio=l1_ratio)``.
    The intercept is not penalised. With 2-D ``y`` the objective is the sum
    of the per-target objectives. With sample weights the loss is their
    weighted *mean* (divided by :math:`S`, as in ``Lasso`` and ``Ridge``);
    ``SGDRegressor`` divides by ``n_samples`` instead, so its ``alpha``
    corresponds to gdreg's ``alpha * n_samples / S``.

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
          its feature, or :math:`\sqrt{\sigma_j^2 + \alpha_2}` with an l2
          penalty of strength :math:`\alpha_2`; centring and scaling applied
          inside the products, never on a copy of ``X``), so the path does
          not depend on the units of the features. Full batch: the constant :math:`1/L`, with
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
        Required accuracy. For the squared error, after every epoch the fit
        computes a bound on the
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

        With an l1 penalty the gradient is replaced by the subgradient of
        smallest norm, which bounds the distance in the same way. For
        ``"huber"`` and ``"squared_epsilon_insensitive"`` the same quantity
        is zero exactly at the minimiser but :math:`\mu` is that of the
        squared error, so it is a stationarity test rather than a guarantee
        (exact when every residual lies in the quadratic zone of the loss).
        For ``"epsilon_insensitive"`` there is no gradient to test. The full
        batch ("auto") certifies each smoothed loss in turn, the last one of
        width ``tol`` times the spread of ``y``, so its objective is within
        about that much of the minimum. The stochastic modes (and any
        explicit schedule) stop, with ``converged_=True``, once the objective
        has not improved by ``tol`` times its value at zero for
        ``n_iter_no_change`` epochs (``SGDRegressor``'s rule).
    alpha : float, default=0.0
        Strength of the penalty; >= 0. With the squared error and the
        default ``penalty="l2"``, equals ``Ridge(alpha=alpha * S)``.
    loss : str, default="squared_error"
        One of ``"squared_error"``, ``"huber"``, ``"epsilon_insensitive"``,
        ``"squared_epsilon_insensitive"``: the per-sample loss
        :math:`\ell(p, y)` of ``SGDRegressor``, with
        :math:`r = p - y`: ``"squared_error"`` :math:`r^2 / 2`;
        ``"huber"`` :math:`r^2/2` for :math:`|r| \le \epsilon`, else
        :math:`\epsilon |r| - \epsilon^2 / 2` (robust to outliers);
        ``"epsilon_insensitive"`` :math:`\max(0, |r| - \epsilon)` (linear
        support vector regression); ``"squared_epsilon_insensitive"``
        :math:`\max(0, |r| - \epsilon)^2`. Losses other than the squared
        error learn the intercept as a parameter and run on ``X`` (the
        sufficient statistics ``X^T X`` describe the squared error only).
        ``"epsilon_insensitive"`` is not differentiable: with
        ``learning_rate="auto"`` the full batch minimises it through losses
        smoothed over a width that shrinks to ``tol`` times the spread of
        ``y`` (accelerated steps on each, Nesterov's smoothing with
        continuation), and the stochastic modes run
        :class:`~gdreg.optimizers.AveragedSGD` with a decaying step (plain
        gradient descent on sparse ``X``, whose updates then stay
        O(non-zeros)).
    epsilon : float, default=0.1
        The :math:`\epsilon` of ``"huber"`` and the epsilon-insensitive
        losses, in the units of ``y``; >= 0. Ignored by ``"squared_error"``.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        :math:`R(w)`: ``"l2"`` :math:`\lVert w \rVert_2^2 / 2`, ``"l1"``
        :math:`\lVert w \rVert_1`, ``"elasticnet"``
        :math:`\rho \lVert w \rVert_1 + (1 - \rho) \lVert w \rVert_2^2 / 2`
        with :math:`\rho` = ``l1_ratio``; ``None`` no penalty. The
        :math:`\ell_1` part is applied by its proximal step (a
        soft-threshold) after every update, which gives exact zeros: proximal
        gradient descent, FISTA for the accelerated full batch, prox-SVRG. It
        needs such a rule: GradientDescent, AcceleratedGradient, SVRG or the
        sampling names (other rules raise a ``ValueError``).
    l1_ratio : float or None, default=0.15
        The :math:`\rho` of ``"elasticnet"``, in [0, 1]. ``None`` is allowed
        for the other penalties (as in ``SGDRegressor``), which ignore it.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows (drawn with
        ``random_state``, as ``SGDRegressor`` draws them; the sample weights
        split along), fit on the rest, score the held-out rows
        (:math:`R^2`, weighted) after every epoch, stop when the score has not
        improved by at least ``tol`` for ``n_iter_no_change`` epochs in a
        row, and keep the parameters of the best epoch (as ``MLPRegressor``
        does; ``n_iter_``, ``t_`` and the curves count every epoch run).
        ``tol=None`` never stops by the score, but still keeps the best
        epoch. The error bound still stops the fit when it reaches ``tol``
        first; ``converged_`` is True only when the kept parameters are
        those of an epoch whose bound reached ``tol``. A fit stopped by the
        score raises no ``ConvergenceWarning``. Needs ``fit`` on in-memory
        data (a ``ValueError`` for Dask collections and
        :func:`~gdreg.fit_from_statistics`); ``partial_fit`` ignores it.
    validation_fraction : float, default=0.1
        The share of rows held out by ``early_stopping``, in (0, 1).
    n_iter_no_change : int, default=5
        Epochs without improvement before ``early_stopping`` stops the fit;
        for ``loss="epsilon_insensitive"``, also the epochs the objective may
        stall before the fit stops; >= 1.
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
        Whether the error bound reached ``tol`` within ``max_iter`` epochs
        (with ``early_stopping``, at the epoch whose parameters are kept).
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
    validation_scores_ : ndarray of shape (n_iter_,)
        With ``early_stopping``: the :math:`R^2` (weighted) of the held-out
        rows after every epoch; NaN when fewer than two rows are held out
        (:math:`R^2` is undefined). Not set without ``early_stopping``.
    best_validation_score_ : float
        With ``early_stopping``: the highest of ``validation_scores_``, that
        of the epoch whose ``coef_`` and ``intercept_`` are kept (NaN when no
        epoch scored a number). Not set without ``early_stopping``.
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
        "loss": [StrOptions(set(LOSSES))],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
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
        loss: str = "squared_error",
        epsilon: float = 0.1,
        penalty: str | None = "l2",
        l1_ratio: float = 0.15,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
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
        self.loss = loss
        self.epsilon = epsilon
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn reads the signature of __init__ (inspect.signature, about 30
        # microseconds) on every get_params, which every fit's parameter check
        # calls: a small fit pays it noticeably. The signature of a class does not change.
        return list(_init_parameter_names(cls))

    def _validate_params(self) -> None:
        # scikit-learn's check costs about 30 us a fit, a twentieth of a small one. Its
        # outcome is a function of the parameter values alone, so plain values (str,
        # int, float, bool, None: the usual ones) that passed once are not checked
        # again; anything else (an optimizer object, a callable) is checked every time.
        params = self.get_params(deep=False)
        key = tuple((name, type(value), value) for name, value in params.items())
        if all(type_ in _PLAIN_PARAMETER_TYPES for _, type_, _ in key):
            _check_plain_parameters(type(self), key)
        else:
            super()._validate_params()

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
            return self._transactional(self._fit_dask, X, y, sample_weight)
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
        return self._transactional(self._partial_fit, X, y, sample_weight)

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

    # The entry points: validate, call the pure functions of _problem, _partial,
    # _stats and _dask, and set the attributes from what they return.
    @_callbacks.with_callbacks
    def _fit(self, X, y, sample_weight):
        self._validate_params()
        settings = self._settings()
        optimizer = _problem.resolve_optimizer(settings, sparse=sp.issparse(X))
        monitor = None
        if settings.early_stopping:
            # all rows are validated (fit's errors, the feature names), then split: the
            # training rows are fitted, the held-out ones scored after every epoch
            rows = self._prepare(X, y, sample_weight, settings, reset=True)
            (X, y, sample_weight), held_out = _early_stopping.hold_out(
                rows, settings.validation_fraction, settings.random_state
            )
            monitor = _early_stopping.ValidationMonitor(
                held_out, settings.tol, settings.n_iter_no_change, settings.verbose
            )
            problem = _problem.prepare(
                X,
                y,
                sample_weight,
                validate=_early_stopping.validated,
                estimator_name=type(self).__name__,
                sampling=optimizer.sampling,
                settings=settings,
            )
        else:
            problem = self._prepare(X, y, sample_weight, settings, reset=True, optimizer=optimizer)
        problem = _problem.centred(problem, settings.fit_intercept)
        objective = _problem.build_objective(problem, optimizer.sampling, settings)
        callbacks = _callbacks.begin_fit(
            self,
            problem.X,
            problem.Y[:, 0] if problem.one_d else problem.Y,
            problem.weights,
            max_iter=settings.max_iter_for(optimizer.sampling),
        )
        self._solve(
            objective, optimizer, settings, problem.one_d, problem.dtype, callbacks, monitor
        )
        if callbacks is not None:
            callbacks.end()
        return self

    def _fit_dask(self, X, y, sample_weight):
        from gdreg import _dask  # dask is an optional extra: import it only when used

        self._validate_params()
        _early_stopping.refuse_without_rows(self.early_stopping, "a fit on Dask collections")
        optimizer = _problem.resolve_optimizer(self._settings())
        statistics = _dask.statistics_for_fit(
            X, y, sample_weight, sampling=optimizer.sampling, loss=self.loss
        )
        return self._fit_statistics(statistics)

    def _fit_statistics(self, statistics):
        self._validate_params()
        settings = self._settings()
        _early_stopping.refuse_without_rows(settings.early_stopping, "fit_from_statistics")
        optimizer = _problem.resolve_optimizer(settings)
        l2, l1 = settings.penalties
        objective = _stats.statistics_objective(
            statistics,
            optimizer.sampling,
            alpha=l2,
            fit_intercept=settings.fit_intercept,
            l1=l1,
            loss=settings.loss,
        )
        self.n_features_in_ = statistics.n_features
        if statistics.feature_names is not None:
            self.feature_names_in_ = statistics.feature_names
        else:
            self.__dict__.pop("feature_names_in_", None)
        dtype = np.dtype(statistics.dtype)
        return self._solve(objective, optimizer, settings, statistics.one_d, dtype)

    def _solve(self, objective, optimizer, settings, one_d, dtype, callbacks=None, monitor=None):
        """Run :func:`gdreg._problem.solve` and set the attributes from its solution.

        ``monitor`` (:class:`gdreg._early_stopping.ValidationMonitor`) scores
        the held-out rows after every epoch, may stop the fit, and gives back
        the parameters of its best epoch.
        """
        attributes = _problem.attributes_maker(one_d, dtype, settings.fit_intercept)
        epoch_callback = None
        if callbacks is not None:
            epoch_callback = callbacks.epochs(attributes)
        if monitor is not None:  # first, so that it scores every epoch a callback sees
            epoch_callback = _early_stopping.chain(monitor, epoch_callback)
        warm = settings.warm_start and hasattr(self, "coef_")
        solution = _problem.solve(
            objective,
            optimizer,
            settings,
            one_d=one_d,
            dtype=dtype,
            warm_coef=self.coef_ if warm else None,
            epoch_callback=epoch_callback,
        )
        # A callback or the validation score that stops the fit asked for it: no
        # ConvergenceWarning.
        stopped = (callbacks is not None and callbacks.stopped) or (
            monitor is not None and monitor.stopped
        )
        if solution.warning is not None and not stopped:
            warn_at_caller(solution.warning)
        fitted = solution.fitted
        if monitor is not None:
            fitted = monitor.restore(fitted, attributes)
        self._set_fitted(fitted)  # a full fit ends a partial_fit stream
        if monitor is None:
            self.__dict__.pop("validation_scores_", None)
            self.__dict__.pop("best_validation_score_", None)
        else:
            self.validation_scores_ = monitor.validation_scores
            self.best_validation_score_ = monitor.best_score
        return self

    def _partial_fit(self, X, y, sample_weight):
        self._validate_params()
        settings = self._settings()
        fitted = hasattr(self, "n_features_in_") and hasattr(self, "coef_")
        problem = self._prepare(X, y, sample_weight, settings, reset=not fitted)
        step = _partial.partial_fit(
            problem,
            settings,
            stream=getattr(self, "_partial_fit_state", None),
            model=self._fitted() if fitted else None,
        )
        self._set_fitted(step.fitted, stream=step.stream)
        # a stream moves coef_ on from an early-stopped fit: its validation record is stale
        self.__dict__.pop("validation_scores_", None)
        self.__dict__.pop("best_validation_score_", None)
        return self

    def _textbook_auto_step(self, X, y, sample_weight=None) -> float:
        """The first "auto" step of plain gradient descent in the user's coordinates.

        ``1/L`` for the full batch, ``1/L(B)`` otherwise: the scale of the
        constant steps that :class:`~gdreg.plotting.LearningRateDisplay` tries.
        """
        settings = self._settings()
        problem = self._prepare(X, y, sample_weight, settings, reset=False)
        return _problem.textbook_auto_step(problem, settings)

    def _settings(self) -> _problem.Settings:
        """The parameters as the fit functions take them."""
        return _problem.Settings(*(getattr(self, name) for name in _problem.Settings._fields))

    def _prepare(self, X, y, sample_weight, settings, *, reset, optimizer=None):
        """The :class:`~gdreg._problem.Problem` of the data (``optimizer``: the fit's)."""
        # scikit-learn's validate_data (CSR, float64 or float32, any number of targets),
        # which plain float arrays pass through at a small fit's cost
        validate = functools.partial(validate_training_data, self, reset=reset)
        return _problem.prepare(
            X,
            y,
            sample_weight,
            validate=validate,
            estimator_name=type(self).__name__,
            sampling=None if optimizer is None else optimizer.sampling,
            settings=settings,
        )

    def _fitted(self) -> _problem.Fitted:
        """The fitted attributes as they are now (``None`` for those not set)."""
        return _problem.Fitted(*(getattr(self, name, None) for name in _problem.Fitted._fields))

    def _set_fitted(self, fitted: _problem.Fitted, stream=None) -> None:
        """Set the fitted attributes; ``stream`` is the ``partial_fit`` state (None ends it)."""
        for name, value in fitted._asdict().items():
            if value is None:  # a path that was not recorded
                self.__dict__.pop(name, None)
            else:
                setattr(self, name, value)
        if stream is None:
            self.__dict__.pop("_partial_fit_state", None)
        else:
            self._partial_fit_state = stream

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


#: Parameter types whose values are compared by value and never change in place.
_PLAIN_PARAMETER_TYPES = frozenset({str, int, float, bool, type(None)})


@functools.lru_cache(maxsize=64)
def _check_plain_parameters(cls, key: tuple) -> None:
    """scikit-learn's parameter check of ``key`` (``(name, type, value)`` triples), memoised.

    The types are part of the key because ``1``, ``1.0`` and ``True`` are equal
    but not equally valid. A failed check raises, and an exception is not
    remembered, so invalid values are checked (and rejected) every time.
    """
    validate_parameter_constraints(
        cls._parameter_constraints,
        {name: value for name, _, value in key},
        caller_name=cls.__name__,
    )


@functools.cache
def _init_parameter_names(cls) -> tuple[str, ...]:
    """``BaseEstimator._get_param_names`` of ``cls``, computed once per class."""
    return tuple(super(GradientDescentRegressor, cls)._get_param_names())


def fit_from_statistics(
    estimator: GradientDescentRegressor, statistics: _stats.SufficientStatistics
) -> GradientDescentRegressor:
    """Fit a full-batch :class:`~gdreg.GradientDescentRegressor` from sufficient statistics.

    Runs exactly the iterations that ``estimator.fit(X, y, sample_weight)``
    runs on the rows the statistics were built from (same schedule, same
    stopping rule, same attributes), at O(d^2) per iteration and without
    ``X``. The result equals the in-memory fit up to round-off.

    Parameters
    ----------
    estimator : GradientDescentRegressor
        An estimator whose optimizer samples the full batch
        (``optimizer="batch"`` or an optimizer with ``sampling="batch"``);
        it is fitted in place.
    statistics : SufficientStatistics
        Statistics of all training rows.

    Returns
    -------
    estimator : GradientDescentRegressor
        The fitted estimator.

    Raises
    ------
    ValueError
        If the optimizer is stochastic or mini-batch (use ``partial_fit``),
        the statistics are empty, or the data fail ``fit``'s checks that
        need all the chunks (entries whose squares over- or underflow, all
        weights zero), with ``fit``'s messages. A failed fit leaves the
        estimator as it was.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> y = X @ [1.0, -2.0, 0.5] + 3.0
    >>> stats = SufficientStatistics()
    >>> for start in range(0, 1000, 250):  # e.g. chunks read from disk
    ...     _ = stats.update(X[start : start + 250], y[start : start + 250])
    >>> reg = fit_from_statistics(GradientDescentRegressor(tol=1e-10), stats)
    >>> reg.coef_.round(6), round(reg.intercept_, 6)
    (array([ 1. , -2. ,  0.5]), 3.0)
    """
    return estimator._transactional(estimator._fit_statistics, statistics)
