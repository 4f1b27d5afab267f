r"""Early stopping on a held-out validation split, as ``SGDRegressor`` has it.

With ``early_stopping=True`` the estimator's ``fit``

1. validates all rows, then draws the validation rows with :func:`validation_split`
   (``ShuffleSplit(test_size=validation_fraction, random_state=random_state)``,
   the split of ``SGDRegressor``), the sample weights split along
   (:func:`hold_out`);
2. fits on the training rows only, and after every epoch scores the held-out
   rows with the weighted :math:`R^2` of the parameters of that epoch
   (:func:`r2`, ``sklearn.metrics.r2_score``'s uniform average over the
   targets), through the loop's ``epoch_callback`` (:class:`ValidationMonitor`);
3. counts the epochs without improvement as ``SGDRegressor`` and
   ``MLPRegressor`` do (:func:`next_patience`): an epoch whose score is below
   the best so far plus ``tol`` adds one, any other resets the count, and the
   fit stops once the count reaches ``n_iter_no_change``;
4. keeps the parameters of the epoch with the best score
   (:meth:`ValidationMonitor.restore`), as ``MLPRegressor`` does
   (``SGDRegressor`` keeps the last epoch's).

Nothing here reads or writes an estimator: the estimator builds a monitor,
passes it to the loop as an epoch callback, and sets its attributes from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils.extmath import safe_sparse_dot

from gdreg._warnings import warn_at_caller

__all__ = [
    "HeldOut",
    "Patience",
    "ValidationMonitor",
    "chain",
    "hold_out",
    "next_patience",
    "r2",
    "refuse_without_rows",
    "split_sizes",
    "validated",
    "validation_split",
]


# -- the split -----------------------------------------------------------------------
def split_sizes(n_samples: int, validation_fraction: float) -> tuple[int, int]:
    """``(n_train, n_validation)`` as ``ShuffleSplit(test_size=validation_fraction)`` draws them.

    The validation set has ``ceil(validation_fraction * n_samples)`` rows, the
    training set the rest.

    Examples
    --------
    >>> split_sizes(100, 0.1), split_sizes(10, 0.15), split_sizes(1, 0.1)
    ((90, 10), (8, 2), (0, 1))
    """
    n_validation = math.ceil(validation_fraction * n_samples)
    return n_samples - n_validation, n_validation


def validation_split(
    n_samples: int,
    validation_fraction: float,
    random_state: Any = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation row indices: ``SGDRegressor``'s ``_make_validation_split``.

    Parameters
    ----------
    n_samples : int
        Rows of the data.
    validation_fraction : float
        Share of the rows held out, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of ``ShuffleSplit`` (an instance is drawn from, as scikit-learn does).
    sample_weight : ndarray of shape (n_samples,) or None, default=None
        Weights; neither part may have only zero weights.

    Returns
    -------
    train, validation : ndarray of int
        The rows of each part (``ShuffleSplit``'s), in increasing order.

    Raises
    ------
    ValueError
        When a part would be empty, or its weights are all zero
        (``SGDRegressor``'s messages).

    Examples
    --------
    >>> train, validation = validation_split(10, 0.2, random_state=0)
    >>> len(train), len(validation), sorted([*train, *validation]) == list(range(10))
    (8, 2, True)
    >>> validation_split(1, 0.1)
    Traceback (most recent call last):
    ...
    ValueError: Splitting 1 samples into a train set and a validation set with ...
    """
    n_train, n_validation = split_sizes(n_samples, validation_fraction)
    if n_train <= 0 or n_validation <= 0:
        raise ValueError(
            f"Splitting {n_samples} samples into a train set and a validation set with "
            f"validation_fraction={validation_fraction!r} led to an empty set ({n_train} and "
            f"{n_validation} samples). Please either change validation_fraction, increase "
            "number of samples, or disable early_stopping."
        )
    # imported here: sklearn.model_selection pulls in most of scikit-learn (metrics,
    # preprocessing), which importing gdreg does not otherwise need
    from sklearn.model_selection import ShuffleSplit

    splitter = ShuffleSplit(test_size=validation_fraction, random_state=random_state)
    # sorted: the training rows keep their order (what shuffle=False visits, as
    # SGDRegressor's validation mask keeps it), and a copy in order reads X forwards
    train, validation = map(np.sort, next(splitter.split(np.empty((n_samples, 1)))))
    if sample_weight is not None:
        for rows, name in ((validation, "validation"), (train, "training")):
            if not np.any(sample_weight[rows] > 0):
                raise ValueError(
                    f"The sample weights for {name} set are all zero, consider using a "
                    "different random state."
                )
    return train, validation


class HeldOut(NamedTuple):
    """The validation rows: ``X``, ``Y`` of shape ``(n, k)``, weights (None: uniform)."""

    X: Any
    Y: np.ndarray
    weights: np.ndarray | None
    #: The weighted sum of squares of ``Y`` about its weighted mean, per target.
    total: np.ndarray


def hold_out(problem, validation_fraction: float, random_state: Any = None):
    """Split a validated problem into the training data and the :class:`HeldOut` rows.

    Parameters
    ----------
    problem : gdreg._problem.Problem
        All rows, validated (``X``, ``Y`` of shape ``(n, k)``, ``weights``, ``one_d``).
    validation_fraction : float
        Share of the rows held out.
    random_state : int, RandomState instance or None, default=None
        Seed of the split.

    Returns
    -------
    train : tuple
        ``(X, y, sample_weight)`` of the training rows, ``y`` 1-D when the
        problem's was: what a fit takes (copies of the rows).
    held_out : HeldOut
        The validation rows.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg._problem import Problem
    >>> X, Y = np.arange(20.0).reshape(10, 2), np.arange(10.0).reshape(10, 1)
    >>> problem = Problem(X, Y, None, True, X.dtype, None, None)
    >>> (X_train, y_train, w_train), held_out = hold_out(problem, 0.3, random_state=0)
    >>> X_train.shape, y_train.shape, w_train, held_out.Y.shape
    ((7, 2), (7,), None, (3, 1))
    """
    X, Y, weights = problem.X, problem.Y, problem.weights
    train, validation = validation_split(X.shape[0], validation_fraction, random_state, weights)
    if len(validation) < 2:
        # scikit-learn scores NaN (and warns) every epoch; one warning says it once
        warn_at_caller(
            f"early_stopping holds out {len(validation)} sample of {X.shape[0]}: R^2 is not "
            "defined with less than two samples, so the validation score is NaN and never "
            "stops the fit. Raise validation_fraction or disable early_stopping.",
            UndefinedMetricWarning,
        )
    w_train = None if weights is None else weights[train]
    w_validation = None if weights is None else weights[validation].astype(np.float64)
    Y_train = Y[train]
    y_train = Y_train[:, 0] if problem.one_d else Y_train
    Y_validation = np.ascontiguousarray(Y[validation], dtype=np.float64)
    held_out = HeldOut(
        X[validation], Y_validation, w_validation, _total_squares(Y_validation, w_validation)
    )
    return (X[train], y_train, w_train), held_out


def validated(X, y, *, ensure_all_finite: bool = True):
    """The ``validate`` of :func:`gdreg._problem.prepare` for rows validated already.

    :func:`hold_out` splits data that the estimator's ``validate_data`` has
    checked (and that recorded ``n_features_in_`` and the feature names):
    validating the training rows again would forget the feature names.

    Examples
    --------
    >>> X, y = [[1.0]], [2.0]
    >>> validated(X, y, ensure_all_finite=False) == (X, y)
    True
    """
    return X, y


def refuse_without_rows(early_stopping: bool, where: str) -> None:
    """Raise the ``ValueError`` of ``early_stopping=True`` on a fit that has no rows.

    Parameters
    ----------
    early_stopping : bool
        The estimator's parameter.
    where : str
        The fit that has only sufficient statistics, as the message names it.

    Examples
    --------
    >>> refuse_without_rows(False, "fit_from_statistics")
    >>> refuse_without_rows(True, "fit_from_statistics")
    Traceback (most recent call last):
    ...
    ValueError: early_stopping=True holds out rows of the data as a validation set, ...
    """
    if early_stopping:
        raise ValueError(
            "early_stopping=True holds out rows of the data as a validation set, and "
            f"{where} has no rows, only their sufficient statistics. Set "
            "early_stopping=False, or fit in-memory data."
        )


# -- the score -----------------------------------------------------------------------
def _total_squares(Y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """The denominator of :math:`R^2`: weighted squares of ``Y`` about its weighted mean."""
    if weights is None:
        return np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    w = np.asarray(weights, dtype=np.float64)
    mean = w @ Y / np.sum(w)
    return w @ (Y - mean) ** 2


def r2(Y: np.ndarray, pred: np.ndarray, weights=None, total=None) -> float:
    r"""The weighted :math:`R^2` of ``pred``, averaged over the targets: ``r2_score``'s.

    Per target :math:`1 - \sum_i s_i (y_i - p_i)^2 / \sum_i s_i (y_i - \bar y)^2`,
    with ``r2_score``'s conventions (``force_finite=True``): a target
    constant on these rows scores 1.0 when predicted exactly and 0.0
    otherwise, and fewer than two rows give NaN (:math:`R^2` is undefined).

    Parameters
    ----------
    Y, pred : ndarray of shape (n, k)
        Targets and predictions.
    weights : ndarray of shape (n,) or None, default=None
        Sample weights (None: uniform).
    total : ndarray of shape (k,) or None, default=None
        The denominators, when already computed (they depend on ``Y`` alone).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1.0], [2.0], [3.0]])
    >>> r2(Y, Y), r2(Y, np.full((3, 1), 2.0)), r2(Y, Y + 1.0)
    (1.0, 0.0, -0.5)
    """
    if Y.shape[0] < 2:
        return math.nan
    total = _total_squares(Y, weights) if total is None else total
    squares = (Y - pred) ** 2
    residual = squares.sum(axis=0) if weights is None else weights @ squares
    scores = np.where(residual == 0.0, 1.0, 0.0)
    defined = total != 0.0
    scores[defined] = 1.0 - residual[defined] / total[defined]
    return float(np.mean(scores))


# -- the bookkeeping -----------------------------------------------------------------
class Patience(NamedTuple):
    """The best score so far, its epoch (0: none yet), and the epochs without improvement."""

    best: float = -math.inf
    best_epoch: int = 0
    no_improvement: int = 0


def next_patience(patience: Patience, score: float, epoch: int, tol: float | None) -> Patience:
    """The bookkeeping after ``epoch`` scored ``score``: ``SGDRegressor``'s rule.

    The epoch counts as no improvement when ``score < best + tol``, otherwise
    the count restarts; ``tol=None`` never counts (scikit-learn's
    ``tol=-inf``), so the fit is never stopped by the score. The best epoch
    is the first with the highest score, even when it improved the best by
    less than ``tol``. A NaN score neither counts nor becomes the best.

    Examples
    --------
    >>> p = Patience()
    >>> for epoch, score in enumerate([0.5, 0.8, 0.8001, 0.7], start=1):
    ...     p = next_patience(p, score, epoch, tol=1e-3)
    >>> p
    Patience(best=0.8001, best_epoch=3, no_improvement=2)
    """
    best, best_epoch, count = patience
    if tol is not None and score < best + tol:
        count += 1
    else:
        count = 0
    if score > best:
        best, best_epoch = score, epoch
    return Patience(best, best_epoch, count)


class ValidationMonitor:
    """The loop's ``epoch_callback`` that scores the held-out rows after every epoch.

    Parameters
    ----------
    held_out : HeldOut
        The validation rows (:func:`hold_out`).
    tol : float or None
        The improvement an epoch must bring (None: the score never stops the fit).
    n_iter_no_change : int
        Epochs without improvement that stop the fit.
    verbose : int, default=0
        When > 0, print each epoch's validation score.

    Attributes
    ----------
    scores : list of float
        The validation score of every epoch so far.
    patience : Patience
        The bookkeeping (best score, its epoch, epochs without improvement).
    stopped : bool
        Whether the score stopped the fit.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> Y = np.array([[1.0], [3.0], [5.0]])
    >>> held_out = HeldOut(X, Y, None, np.array([8.0]))
    >>> monitor = ValidationMonitor(held_out, tol=1e-3, n_iter_no_change=1)
    >>> monitor(1, {"coef": np.array([[2.0]]), "intercept": np.array([1.0])})
    False
    >>> monitor(2, {"coef": np.array([[1.0]]), "intercept": np.array([2.0])})
    True
    >>> monitor.scores, monitor.patience.best_epoch, monitor.stopped
    ([1.0, 0.75], 1, True)
    """

    def __init__(self, held_out: HeldOut, tol: float | None, n_iter_no_change: int, verbose=0):
        self.held_out = held_out
        self.tol = None if tol is None else float(tol)
        self.n_iter_no_change = int(n_iter_no_change)
        self.verbose = verbose
        self.scores: list[float] = []
        self.patience = Patience()
        self.stopped = False
        self._best = None  # (coef, intercept) of the best epoch

    def score(self, coef: np.ndarray, intercept: np.ndarray) -> float:
        """The :math:`R^2` on the held-out rows of ``coef`` (``(d, k)``) and ``intercept``."""
        held = self.held_out
        pred = safe_sparse_dot(held.X, coef, dense_output=True) + intercept
        if sp.issparse(pred):  # pragma: no cover - dense_output makes it an array
            pred = pred.toarray()
        return r2(held.Y, np.asarray(pred, dtype=np.float64), held.weights, held.total)

    def __call__(self, epoch: int, info: dict) -> bool:
        score = self.score(info["coef"], info["intercept"])
        self.scores.append(score)
        previous = self.patience.best_epoch
        self.patience = next_patience(self.patience, score, epoch, self.tol)
        if self.patience.best_epoch != previous:
            self._best = (np.array(info["coef"], copy=True), np.array(info["intercept"], copy=True))
        if self.verbose:
            print(f"Epoch {epoch}, validation score {score:.6g}", flush=True)
        self.stopped = self.patience.no_improvement >= self.n_iter_no_change
        return self.stopped

    @property
    def validation_scores(self) -> np.ndarray:
        """The scores of all epochs run, as an array (``validation_scores_``)."""
        return np.asarray(self.scores, dtype=np.float64)

    @property
    def best_score(self) -> float:
        """The best score (``best_validation_score_``); NaN when no epoch scored a number."""
        return self.patience.best if self.patience.best_epoch else math.nan

    def restore(self, fitted, to_attributes: Callable):
        """``fitted`` with the parameters of the best epoch, when that is not the last.

        ``to_attributes(coef, intercept)`` shapes them as the fitted
        attributes (:func:`gdreg._problem.attributes_maker`). A fit whose
        last epoch is the best keeps ``fitted`` as it is (so it equals the
        fit without early stopping, minimum-norm answer included). The
        restored parameters were not judged converged: ``converged_`` is
        then False.
        """
        best_epoch = self.patience.best_epoch
        if best_epoch in (0, fitted.n_iter_) or self._best is None:
            return fitted
        return fitted._replace(**to_attributes(*self._best), converged_=False)


def chain(first: Callable, second: Callable | None) -> Callable:
    """One ``epoch_callback`` that calls both every epoch; it stops when either asks.

    Examples
    --------
    >>> calls = []
    >>> def a(epoch, info):
    ...     calls.append(("a", epoch))
    ...     return True
    >>> def b(epoch, info):
    ...     calls.append(("b", epoch))
    ...     return False
    >>> chain(a, b)(1, {}), calls
    (True, [('a', 1), ('b', 1)])
    """
    if second is None:
        return first

    def both(epoch: int, info: dict) -> bool:
        stop_first = first(epoch, info)
        stop_second = second(epoch, info)
        return bool(stop_first or stop_second)

    return both
