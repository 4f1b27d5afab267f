"""Pictures of a fit, in scikit-learn's Display convention.

Each display is built from data with a classmethod (``from_estimator``,
``from_estimators`` or ``from_data``), draws itself with :meth:`plot`, and
keeps the matplotlib objects it drew (``figure_``, ``ax_``, ...). Passing
``ax=`` draws on an existing axes; nothing here calls ``plt.show()``.

matplotlib is an optional dependency (``pip install "gdreg[plot]"``). The
rest of gdreg never imports this module, so ``import gdreg`` works without
matplotlib; using a display without it raises an :class:`ImportError` that
names the extra to install.
"""

from __future__ import annotations

import math
import numbers
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted

from gdreg._estimator import GradientDescentRegressor
from gdreg._loop import DivergenceError
from gdreg._loss import Loss, is_squared, make_loss
from gdreg._penalty import split
from gdreg._reference import normal_equation
from gdreg._warnings import warn_at_caller

__all__ = ["ConvergenceDisplay", "CostSurfaceDisplay", "LearningRateDisplay"]

#: Default learning rates of :class:`LearningRateDisplay`, as multiples of the
#: step that ``learning_rate="auto"`` picks (``1/L`` for full-batch descent).
AUTO_MULTIPLES = (0.05, 1.0, 1.85, 2.1)


def _pyplot(caller: str):
    """Import pyplot, or say which extra provides it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, which is not installed. "
            'Install the plotting extra with: pip install "gdreg[plot]"'
        ) from exc
    return plt


def _new_axes(caller: str, ax, ncols: int = 1):
    """``ax`` as given, or a new figure with ``ncols`` axes side by side."""
    plt = _pyplot(caller)
    if ax is not None:
        return ax
    width = 5.0 if ncols <= 2 else 4.0
    _, axes = plt.subplots(
        1, ncols, figsize=(width * ncols, 4.0), squeeze=False, layout="constrained"
    )
    return axes[0, 0] if ncols == 1 else list(axes[0])


def _default_name(estimator) -> str:
    optimizer = getattr(estimator, "optimizer", None)
    if isinstance(optimizer, str):
        return optimizer
    if optimizer is not None:
        return type(optimizer).__name__
    return type(estimator).__name__


def _check_has_curves(estimator) -> None:
    check_is_fitted(estimator)
    if not hasattr(estimator, "loss_curve_"):
        raise TypeError(
            f"{type(estimator).__name__} has no loss_curve_; "
            "pass a fitted GradientDescentRegressor."
        )


def _use_log_scale(curves, log_scale) -> bool:
    """``log_scale="auto"``: log when no value is negative and the positive ones span > 2 decades.

    An exact zero (a fit that lands on the optimum) is simply not drawn on a log axis.
    """
    if log_scale != "auto":
        return bool(log_scale)
    values = np.concatenate([np.ravel(c) for c in curves]) if curves else np.zeros(0)
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if positive.size < 2 or np.any(values < 0):
        return False
    return float(positive.max() / positive.min()) > 100.0


class ConvergenceDisplay:
    r"""The loss curve of one or several fits, optionally with the stopping quantity.

    The left (or only) axes shows ``loss_curve_`` against the epoch: the
    objective each estimator minimises, with its own ``loss`` and
    ``penalty``,

    .. math:: J(w, b) = \frac{1}{S} \sum_i s_i\, \ell(x_i^\top w + b, y_i)
              + \frac{l_2}{2} \lVert w \rVert_2^2 + l_1 \lVert w \rVert_1

    (see :class:`CostSurfaceDisplay` for :math:`l_2, l_1`), as the estimator
    recorded it: :math:`J` after each epoch for full-batch descent and SVRG,
    the running mean over the epoch for the other stochastic rules. When
    the fits share a :math:`J` other than least squares, the title names it.

    With ``show_change=True`` a second axes shows ``change_curve_``, the
    quantity the stopping rule compares with ``tol`` (a bound on the
    scale-free distance to the exact solution), on a log scale, with ``tol``
    as a dashed line: the fit stops at the first epoch below it.

    Build it with :meth:`from_estimator` or :meth:`from_estimators`.

    Parameters
    ----------
    loss_curves : list of ndarray
        One loss curve per fit.
    names : list of str
        Legend label of each curve.
    change_curves : list of ndarray or None, default=None
        The stopping quantity of each fit (``change_curve_``).
    tols : list of float or None, default=None
        The ``tol`` of each fit (``None`` entries draw no line).
    objective : str or None, default=None
        :math:`J` in words, drawn as the title (``None``: no title).

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        The loss curves.
    change_lines_ : list of matplotlib Line2D
        The stopping-quantity curves (empty unless ``show_change``).
    tol_lines_ : list of matplotlib Line2D
        One dashed line per distinct ``tol`` (empty unless ``show_change``).
    ax_ : matplotlib Axes
        The axes of the loss curves.
    change_ax_ : matplotlib Axes or None
        The axes of the stopping quantity.
    figure_ : matplotlib Figure
        The figure holding the axes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gdreg import GradientDescentRegressor
    >>> from gdreg.plotting import ConvergenceDisplay
    >>> reg = GradientDescentRegressor().fit([[2.0], [4.0], [5.0]], [45.0, 85.0, 105.0])
    >>> disp = ConvergenceDisplay.from_estimator(reg, show_change=True)
    >>> disp.ax_.get_xlabel(), disp.change_ax_.get_yscale()
    ('epoch', 'log')
    """

    def __init__(self, *, loss_curves, names, change_curves=None, tols=None, objective=None):
        self.objective = objective
        self.loss_curves = [np.asarray(c, dtype=float) for c in loss_curves]
        self.names = list(names)
        self.change_curves = (
            None if change_curves is None else [np.asarray(c, dtype=float) for c in change_curves]
        )
        self.tols = None if tols is None else list(tols)
        if len(self.names) != len(self.loss_curves):
            raise ValueError(
                f"Got {len(self.loss_curves)} loss curves and {len(self.names)} names."
            )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        name: str | None = None,
        show_change: bool = False,
        log_scale="auto",
        ax=None,
        **kwargs,
    ) -> ConvergenceDisplay:
        """Plot the convergence of one fitted estimator.

        Call it again with ``ax=disp.ax_`` (and ``show_change=False``) to add
        another fit to the same axes, or use :meth:`from_estimators`.

        Parameters
        ----------
        estimator : GradientDescentRegressor
            A fitted estimator.
        name : str or None, default=None
            Legend label; by default the optimizer's name.
        show_change : bool, default=False
            Also draw the stopping quantity and ``tol`` on a second axes.
        log_scale : bool or "auto", default="auto"
            Log scale for the loss axis; ``"auto"`` uses it when the losses
            are positive and span more than two decades.
        ax : matplotlib Axes or pair of Axes, default=None
            Where to draw: one axes, or two when ``show_change``. ``None``
            makes a new figure.
        **kwargs : dict
            Passed to ``Axes.plot`` for the loss curve.

        Returns
        -------
        ConvergenceDisplay
        """
        return cls.from_estimators(
            {name or _default_name(estimator): estimator},
            show_change=show_change,
            log_scale=log_scale,
            ax=ax,
            **kwargs,
        )

    @classmethod
    def from_estimators(
        cls, estimators, *, show_change: bool = False, log_scale="auto", ax=None, **kwargs
    ) -> ConvergenceDisplay:
        """Plot several fitted estimators on the same axes, for comparison.

        Parameters
        ----------
        estimators : dict of str to estimator, or list of estimators
            Fitted estimators; dict keys are the legend labels.
        show_change : bool, default=False
            Also draw the stopping quantity and ``tol`` on a second axes.
        log_scale : bool or "auto", default="auto"
            Log scale for the loss axis (see :meth:`from_estimator`).
        ax : matplotlib Axes or pair of Axes, default=None
            Where to draw.
        **kwargs : dict
            Passed to ``Axes.plot`` for every loss curve.

        Returns
        -------
        ConvergenceDisplay
        """
        if isinstance(estimators, Mapping):
            names, fitted = list(estimators.keys()), list(estimators.values())
        else:
            fitted = list(estimators)
            names = [_default_name(e) for e in fitted]
        if not fitted:
            raise ValueError("estimators is empty.")
        for estimator in fitted:
            _check_has_curves(estimator)
        display = cls(
            loss_curves=[e.loss_curve_ for e in fitted],
            names=[str(n) for n in names],
            change_curves=[e.change_curve_ for e in fitted],
            tols=[e.tol for e in fitted],
            objective=_shared_description(fitted),
        )
        return display.plot(ax=ax, show_change=show_change, log_scale=log_scale, **kwargs)

    def plot(self, ax=None, *, show_change: bool = False, log_scale="auto", **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes or pair of Axes, default=None
            One axes, or two when ``show_change``; ``None`` makes a new figure.
        show_change : bool, default=False
            Also draw the stopping quantity and ``tol`` on a second axes.
        log_scale : bool or "auto", default="auto"
            Log scale for the loss axis.
        **kwargs : dict
            Passed to ``Axes.plot`` for the loss curves.

        Returns
        -------
        ConvergenceDisplay
            ``self``, with the drawn objects stored.
        """
        caller = f"{type(self).__name__}.plot"
        if show_change:
            if self.change_curves is None:
                raise ValueError("show_change=True needs change_curves.")
            axes = _new_axes(caller, ax, ncols=2)
            if len(axes) != 2:
                raise ValueError("With show_change=True, ax must be a pair of axes.")
            loss_ax, change_ax = axes
        else:
            loss_ax, change_ax = _new_axes(caller, ax), None

        self.lines_ = []
        for curve, name in zip(self.loss_curves, self.names, strict=True):
            epochs = np.arange(1, len(curve) + 1)
            (line,) = loss_ax.plot(epochs, curve, label=name, **kwargs)
            self.lines_.append(line)
        if _use_log_scale(self.loss_curves, log_scale):
            loss_ax.set_yscale("log")
        loss_ax.set_xlabel("epoch")
        loss_ax.set_ylabel("objective J (loss_curve_)")
        if self.objective:
            loss_ax.set_title(textwrap.fill(f"J = {self.objective}", width=60), fontsize=10)
        loss_ax.legend()

        self.change_lines_, self.tol_lines_ = [], []
        if change_ax is not None:
            self._plot_change(change_ax)
        self.ax_, self.change_ax_ = loss_ax, change_ax
        self.figure_ = loss_ax.figure
        return self

    def _plot_change(self, ax) -> None:
        for curve, line in zip(self.change_curves, self.lines_, strict=True):
            epochs = np.arange(1, len(curve) + 1)
            (drawn,) = ax.plot(epochs, curve, color=line.get_color(), label=line.get_label())
            self.change_lines_.append(drawn)
        for tol in sorted({t for t in (self.tols or []) if t is not None and t > 0}):
            self.tol_lines_.append(
                ax.axhline(tol, color="black", linestyle="--", linewidth=1, label=f"tol = {tol:g}")
            )
        if _use_log_scale(self.change_curves, "auto") or self.tol_lines_:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("bound on the distance to the solution\n(change_curve_)")
        ax.legend()


def _param_index(spec, estimator) -> int | str:
    """A column index, or ``"intercept"``; accepts feature names."""
    if isinstance(spec, str):
        if spec == "intercept":
            if not estimator.fit_intercept:
                raise ValueError("The estimator has fit_intercept=False: no intercept to vary.")
            return "intercept"
        names = list(getattr(estimator, "feature_names_in_", []))
        if spec not in names:
            raise ValueError(f"Unknown parameter {spec!r}: use a feature index or 'intercept'.")
        return names.index(spec)
    index = int(spec)
    if not 0 <= index < estimator.n_features_in_:
        raise ValueError(
            f"Feature index {index} is out of range for {estimator.n_features_in_} features."
        )
    return index


def _param_label(index, estimator) -> str:
    if index == "intercept":
        return "intercept"
    names = getattr(estimator, "feature_names_in_", None)
    return f"coef[{names[index]}]" if names is not None else f"coef[{index}]"


def _held_note(chosen, estimator) -> str | None:
    """Which parameters a slice over ``chosen`` holds fixed, in words; None if none."""
    coefs = [j for j in range(estimator.n_features_in_) if j not in chosen]
    intercept = estimator.fit_intercept and "intercept" not in chosen
    if not coefs and not intercept:
        return None
    names = getattr(estimator, "feature_names_in_", None)
    parts = []
    if len(coefs) <= 3:
        parts += [_param_label(j, estimator) for j in coefs]
    elif names is not None:  # names say more than a range of positions
        listed = ", ".join(str(names[j]) for j in coefs)
        others = f"the other {len(coefs)} coefficients"
        parts.append(f"{others} ({listed})" if len(listed) <= 60 else others)
    else:  # runs of consecutive indices, "coef[4] to coef[9]"
        runs = np.split(np.array(coefs), np.flatnonzero(np.diff(coefs) > 1) + 1)
        named = []
        for run in runs:
            if len(run) >= 3:
                named.append(f"coef[{run[0]}] to coef[{run[-1]}]")
            else:
                named += [f"coef[{j}]" for j in run]
        parts += named if len(named) <= 4 else [f"the other {len(coefs)} coefficients"]
    if intercept:
        parts.append("the intercept")
    several = len(coefs) + intercept > 1
    words = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return f"{words} held at {'their fitted values' if several else 'its fitted value'}"


def _default_params(estimator) -> tuple:
    if estimator.fit_intercept and estimator.n_features_in_ == 1:
        return (0, "intercept")
    if estimator.n_features_in_ >= 2:
        return (0, 1)
    return (0,)


class CostSurfaceDisplay:
    r"""The objective over one or two parameters, with the descent path on it.

    Two parameters: contour lines of the objective the estimator minimises,
    with its ``loss`` and ``penalty``,

    .. math:: J(w, b) = \frac{1}{S} \sum_i s_i\, \ell(x_i^\top w + b, y_i)
              + \frac{l_2}{2} \lVert w \rVert_2^2 + l_1 \lVert w \rVert_1,

    :math:`(l_2, l_1)` = ``(alpha, 0)`` for ``penalty="l2"``, ``(0, alpha)``
    for ``"l1"``, ``alpha * (1 - l1_ratio, l1_ratio)`` for ``"elasticnet"``
    (the default is least squares, :math:`\ell = \tfrac12 (y - p)^2`, with
    :math:`l_2` = ``alpha``), over the chosen pair, every other parameter
    held at the fitted value (a slice through the fit); the recorded
    ``coef_path_`` / ``intercept_path_`` projected onto the pair; and the
    optimum of the same :math:`J` as a star. One parameter: the same slice
    is a curve (a parabola for least squares), with the iterates drawn as
    points on it. When :math:`J` is not least squares, the title says which
    it is.

    The optimum is the closed form (:func:`gdreg.normal_equation`) for least
    squares. Otherwise it is found numerically to round-off: by a clone of
    the estimator fitted full batch with ``tol=1e-10`` for the losses with a
    Lipschitz derivative (``"huber"``, ``"squared_epsilon_insensitive"``, and
    the squared error with an l1 part), and by a linear program for
    ``"epsilon_insensitive"`` without an L2 part. For ``"epsilon_insensitive"``
    with an L2 part (a quadratic program) no optimum is drawn
    (``optimum=None``): no solver here finds it to round-off.

    Which parameters are drawn is chosen with ``params``; by default the
    slope and the intercept of a one-feature model, else ``coef[0]`` and
    ``coef[1]``. On a model with more parameters than that, the picture is
    a slice: the axis labels name the two parameters drawn, and the title
    says which are held and where (``held``), for instance "coef[2] to
    coef[9] and the intercept held at their fitted values" for a 10-feature
    fit. The path is the projection of the full path onto the pair, so it
    need not follow the slice's contours, and the slice is centred on the
    fit, not on the optimum, unless the fit has converged.

    Build it with :meth:`from_estimator`.

    Parameters
    ----------
    grid : list of ndarray
        The grid values of each chosen parameter (one or two arrays).
    values : ndarray
        ``J`` on the grid: shape ``(len(grid[0]),)`` for one parameter,
        ``(len(grid[1]), len(grid[0]))`` for two.
    param_names : list of str
        Axis labels.
    path : ndarray of shape (n_points, n_params) or None
        The iterates, one row per epoch (and the start).
    optimum : ndarray of shape (n_params,) or None
        The optimum of :math:`J`.
    held : str or None, default=None
        Which other parameters are held, and where (drawn as the title);
        ``None`` when the chosen parameters are all there are.
    objective : str or None, default=None
        :math:`J` in words, drawn as the title (``None``: least squares, no title).
    optimum_label : str, default="closed-form optimum"
        The legend of the optimum: how it was found.

    Attributes
    ----------
    contour_ : matplotlib ContourSet or None
        The contour lines (two parameters).
    surface_line_ : matplotlib Line2D or None
        The parabola (one parameter).
    path_line_ : matplotlib Line2D or None
        The descent path.
    optimum_marker_ : matplotlib Line2D or None
        The optimum.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gdreg import GradientDescentRegressor
    >>> from gdreg.plotting import CostSurfaceDisplay
    >>> X, y = [[2.0], [4.0], [5.0]], [45.0, 85.0, 105.0]
    >>> reg = GradientDescentRegressor(record_path=True).fit(X, y)
    >>> disp = CostSurfaceDisplay.from_estimator(reg, X, y)
    >>> disp.ax_.get_xlabel(), disp.ax_.get_ylabel()
    ('coef[0]', 'intercept')
    >>> disp.optimum.round(6)
    array([20.,  5.])

    With more parameters than the two drawn, the figure says where the
    others are:

    >>> import numpy as np
    >>> X = np.random.RandomState(0).normal(size=(100, 10))
    >>> y = X @ np.arange(1.0, 11.0) + 2.0
    >>> reg = GradientDescentRegressor(record_path=True).fit(X, y)
    >>> disp = CostSurfaceDisplay.from_estimator(reg, X, y)
    >>> disp.ax_.get_xlabel(), disp.ax_.get_ylabel()
    ('coef[0]', 'coef[1]')
    >>> disp.held
    'coef[2] to coef[9] and the intercept held at their fitted values'
    """

    def __init__(
        self,
        *,
        grid,
        values,
        param_names,
        path=None,
        optimum=None,
        held=None,
        objective=None,
        optimum_label="closed-form optimum",
    ):
        self.grid = [np.asarray(g, dtype=float) for g in grid]
        self.values = np.asarray(values, dtype=float)
        self.param_names = list(param_names)
        self.path = None if path is None else np.asarray(path, dtype=float)
        self.optimum = None if optimum is None else np.asarray(optimum, dtype=float)
        self.held = held
        self.objective = objective
        self.optimum_label = optimum_label

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        params=None,
        sample_weight=None,
        target: int = 0,
        grid_resolution: int = 100,
        margin: float = 0.25,
        levels: int = 15,
        ax=None,
    ) -> CostSurfaceDisplay:
        """Plot the objective around a fitted estimator and the path that led there.

        Parameters
        ----------
        estimator : GradientDescentRegressor
            Fitted, ideally with ``record_path=True`` (otherwise no path is drawn).
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training data of the fit.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The training targets of the fit.
        params : sequence of one or two of int, str or "intercept", default=None
            Which parameters to vary: feature indices (or names) and/or
            ``"intercept"``. By default the slope and the intercept of a
            one-feature model, else the first two coefficients.
        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights of the fit.
        target : int, default=0
            Which target, for a multi-output fit.
        grid_resolution : int, default=100
            Grid points along each parameter, at least 2.
        margin : float, default=0.25
            Extra room around the path and optimum, as a fraction of their
            span: finite and at least 0.
        levels : int, default=15
            Number of contour lines.
        ax : matplotlib Axes, default=None
            Where to draw; ``None`` makes a new figure.

        Returns
        -------
        CostSurfaceDisplay
        """
        display = cls._compute(
            estimator,
            X,
            y,
            params=params,
            sample_weight=sample_weight,
            target=target,
            grid_resolution=grid_resolution,
            margin=margin,
        )
        return display.plot(ax=ax, levels=levels)

    @classmethod
    def _compute(
        cls,
        estimator,
        X,
        y,
        *,
        params,
        sample_weight,
        target,
        grid_resolution,
        margin,
        optimum: _Optimum | None = None,
    ) -> CostSurfaceDisplay:
        """The display's data; ``optimum``: the minimiser of J when the caller has it already."""
        _check_grid(grid_resolution, margin)
        _check_has_curves(estimator)
        predictions = np.asarray(estimator.predict(X))  # X as fitted (keeps feature names)
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if X.shape[1] != estimator.n_features_in_ or X.shape[0] != Y.shape[0]:
            raise ValueError("X and y must be the data the estimator was fitted on.")
        if not 0 <= target < Y.shape[1]:
            raise ValueError(f"target={target} is out of range for {Y.shape[1]} targets.")
        chosen = [_param_index(p, estimator) for p in (params or _default_params(estimator))]
        if len(chosen) not in (1, 2) or len(set(chosen)) != len(chosen):
            raise ValueError("params must name one or two distinct parameters.")
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)

        two_d_coef = np.ndim(estimator.coef_) == 2
        pick = _picker(two_d_coef, target)
        fitted = np.array([pick(estimator.coef_, estimator.intercept_, c) for c in chosen])
        objective = _objective_of(estimator)
        if optimum is None:
            y_fit = Y if two_d_coef else Y[:, 0]
            optimum = _optimum(estimator, X, y_fit, sample_weight, objective)
        optimum_point = None
        if optimum is not None:
            optimum_point = np.array([pick(optimum.coef, optimum.intercept, c) for c in chosen])
        path = None
        if hasattr(estimator, "coef_path_"):
            path = np.column_stack(
                [pick(estimator.coef_path_, estimator.intercept_path_, c) for c in chosen]
            )

        points = [fitted] + ([] if optimum is None else [optimum_point])
        points += [] if path is None else list(path)
        grid = _grid_around(np.array(points), margin, grid_resolution)
        prediction = predictions.reshape(len(Y), -1)[:, target].astype(np.float64)
        columns = [_column(X, c) for c in chosen]
        values = _objective_slice(
            prediction, Y[:, target], columns, weights, grid, fitted, chosen, estimator, pick,
            objective,
        )  # fmt: skip
        return cls(
            grid=grid,
            values=values,
            param_names=[_param_label(c, estimator) for c in chosen],
            path=path,
            optimum=optimum_point,
            held=_held_note(chosen, estimator),
            objective=objective.description,
            optimum_label="closed-form optimum" if optimum is None else optimum.label,
        )

    def plot(self, ax=None, *, levels: int = 15, path_kwargs=None):
        """Draw the surface (or parabola), the path and the optimum.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; ``None`` makes a new figure.
        levels : int, default=15
            Number of contour lines (two parameters).
        path_kwargs : dict or None, default=None
            Passed to ``Axes.plot`` for the path.

        Returns
        -------
        CostSurfaceDisplay
            ``self``, with the drawn objects stored.
        """
        ax = _new_axes(f"{type(self).__name__}.plot", ax)
        style = {"color": "C3", "marker": "o", "markersize": 4, "label": "gradient descent path"}
        style.update(path_kwargs or {})
        self.contour_ = self.surface_line_ = self.path_line_ = self.optimum_marker_ = None
        if len(self.grid) == 2:
            self._plot_contours(ax, levels)
            if self.path is not None:
                (self.path_line_,) = ax.plot(self.path[:, 0], self.path[:, 1], **style)
            if self.optimum is not None:
                (self.optimum_marker_,) = ax.plot(
                    *self.optimum, marker="*", markersize=16, color="black", linestyle="none",
                    label=self.optimum_label,
                )  # fmt: skip
            ax.set_ylabel(self.param_names[1])
        else:
            (self.surface_line_,) = ax.plot(self.grid[0], self.values, color="C0", label="J")
            if self.path is not None:
                heights = np.interp(self.path[:, 0], self.grid[0], self.values)
                # Dotted: the iterates jump, they do not slide along the chord.
                (self.path_line_,) = ax.plot(
                    self.path[:, 0], heights, **{"linestyle": ":", **style}
                )
            if self.optimum is not None:
                floor = float(np.interp(self.optimum[0], self.grid[0], self.values))
                (self.optimum_marker_,) = ax.plot(
                    self.optimum[0], floor, marker="*", markersize=16, color="black",
                    linestyle="none", label=self.optimum_label,
                )  # fmt: skip
            ax.set_ylabel("objective J")
        ax.set_xlabel(self.param_names[0])
        title = [textwrap.fill(f"J = {self.objective}", width=60)] if self.objective else []
        if self.held:
            drawn = " and ".join(self.param_names)
            title += [f"J over {drawn}", textwrap.fill(f"({self.held})", width=60)]
        if title:
            ax.set_title("\n".join(title), fontsize=10)
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    def _plot_contours(self, ax, levels: int) -> None:
        low, high = float(self.values.min()), float(self.values.max())
        # Squared spacing puts the level sets of a quadratic at even distances.
        fractions = np.linspace(0.0, 1.0, levels + 1)[1:] ** 2
        contour_levels = np.unique(low + (high - low) * fractions)
        if contour_levels.size < 2:
            contour_levels = np.array([low, low + 1.0])
        self.contour_ = ax.contour(
            self.grid[0], self.grid[1], self.values, levels=contour_levels, cmap="viridis"
        )


def _check_grid(grid_resolution, margin) -> None:
    """``grid_resolution``: an integer >= 2; ``margin``: a finite number >= 0."""
    if (
        not isinstance(grid_resolution, numbers.Integral)
        or isinstance(grid_resolution, bool)
        or grid_resolution < 2
    ):
        raise ValueError(
            "grid_resolution must be an integer >= 2 (the grid points along each parameter; "
            f"the default is 100), got {grid_resolution!r}."
        )
    if (
        not isinstance(margin, numbers.Real)
        or isinstance(margin, bool)
        or not (math.isfinite(margin) and margin >= 0)
    ):
        raise ValueError(
            "margin must be a finite number >= 0 (extra room around the path, as a fraction "
            f"of its span; the default is 0.25), got {margin!r}."
        )


def _single_target(y):
    """``y`` as given when 1-D; one column as 1-D; more targets are refused."""
    shape = np.shape(y)
    if len(shape) == 1:
        return y
    if len(shape) == 2 and shape[1] == 1:
        return np.asarray(y).ravel()
    targets = f"{shape[1]} targets" if len(shape) == 2 else f"{len(shape)} dimensions"
    raise ValueError(
        "LearningRateDisplay supports a single target: y must have shape (n_samples,) or "
        f"(n_samples, 1), got shape {shape} ({targets}). Pass one column, such as y[:, 0]; "
        "CostSurfaceDisplay.from_estimator(..., target=k) draws one target of a multi-output fit."
    )


def _picker(two_d_coef: bool, target: int):
    """``pick(coef, intercept, index)`` for arrays with an optional leading path axis."""

    def pick(coef, intercept, index):
        coef, intercept = np.asarray(coef, dtype=float), np.asarray(intercept, dtype=float)
        if index == "intercept":
            return intercept[..., target] if two_d_coef else intercept
        return coef[..., target, index] if two_d_coef else coef[..., index]

    return pick


def _grid_around(points: np.ndarray, margin: float, resolution: int) -> list:
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, np.maximum(np.abs(high), 1.0))
    return [
        np.linspace(lo - margin * s, hi + margin * s, resolution)
        for lo, hi, s in zip(low, high, span, strict=True)
    ]


def _column(X, index) -> np.ndarray:
    if index == "intercept":
        return np.ones(X.shape[0])
    column = X[:, index]
    return np.asarray(column.toarray()).ravel() if sp.issparse(column) else np.asarray(column)


class _Objective(NamedTuple):
    r"""What an estimator minimises, :math:`J = \frac{1}{S}\sum_i s_i \ell_i + R(w)`.

    :math:`R(w) = \tfrac{l_2}{2} \lVert w \rVert_2^2 + l_1 \lVert w \rVert_1`
    with ``(l2, l1)`` from :func:`gdreg._penalty.split` of the estimator's
    ``penalty``, ``alpha`` and ``l1_ratio``; the intercept is not penalised.
    """

    loss: Loss
    l2: float
    l1: float
    #: J in words for titles; None for least squares (squared error, L2 or no
    #: penalty), whose pictures say nothing more than they always did.
    description: str | None

    @property
    def closed_form(self) -> bool:
        """Whether J is least squares, minimised by the normal equation."""
        return is_squared(self.loss) and not self.l1

    def value(self, X, y, coef, intercept, sample_weight) -> float:
        """J at ``(coef, intercept)`` for a single-target fit."""
        prediction = np.asarray(X @ coef).ravel() + intercept
        return self.loss.objective_value(prediction, y, sample_weight, coef, self.l2, l1=self.l1)


_LOSS_WORDS = {
    "squared_error": "squared error",
    "huber": "huber loss",
    "epsilon_insensitive": "epsilon-insensitive loss",
    "squared_epsilon_insensitive": "squared epsilon-insensitive loss",
}


def _objective_of(estimator) -> _Objective:
    """The estimator's loss and penalty (an estimator pickled before they existed fitted
    least squares with an L2 penalty: the defaults)."""
    name = getattr(estimator, "loss", "squared_error")
    epsilon = getattr(estimator, "epsilon", 0.1)
    penalty = getattr(estimator, "penalty", "l2")
    l1_ratio = getattr(estimator, "l1_ratio", 0.15)
    alpha = getattr(estimator, "alpha", 0.0)
    loss = make_loss(name, epsilon)
    l2, l1 = split(penalty, alpha, l1_ratio)
    if is_squared(loss) and not l1:
        return _Objective(loss, l2, l1, None)
    words = _LOSS_WORDS[name] if is_squared(loss) else f"{_LOSS_WORDS[name]} (epsilon={epsilon:g})"
    if not (l2 or l1):
        words += ", no penalty"
    elif penalty == "elasticnet":
        words += f" + elastic-net penalty (alpha={alpha:g}, l1_ratio={l1_ratio:g})"
    else:
        words += f" + {penalty.upper()} penalty (alpha={alpha:g})"
    return _Objective(loss, l2, l1, words)


def _shared_description(estimators) -> str | None:
    """The objective in words when every estimator minimises the same one, else None."""
    descriptions = {_objective_of(e).description for e in estimators}
    return descriptions.pop() if len(descriptions) == 1 else None


class _Optimum(NamedTuple):
    """The minimiser of J, shaped as the estimator's ``coef_`` and ``intercept_``."""

    coef: np.ndarray
    intercept: np.ndarray | float
    #: The legend of its marker: how it was found.
    label: str


#: ``tol`` of the reference fit that locates the optimum of a J without a closed form:
#: far below anything a display resolves (the stopping bound is scale-free).
REFERENCE_TOL = 1e-10


def _optimum(estimator, X, y, sample_weight, objective: _Objective) -> _Optimum | None:
    """The minimiser of the estimator's J on ``(X, y)``, found to round-off; None if out of reach.

    - least squares: the normal equation;
    - a loss with a Lipschitz derivative (with or without an l1 part): a
      clone of the estimator, full batch with ``learning_rate="auto"`` (FISTA
      in standardised coordinates) and ``tol=REFERENCE_TOL``;
    - ``epsilon_insensitive`` with no L2 part: a linear program, solved exactly;
    - ``epsilon_insensitive`` with an L2 part (a quadratic program): None.
      No solver here finds it to round-off (the estimator's own fit of a loss
      with kinks is no reference for it).

    ``X`` is the checked float64 data; ``y`` has the shape of the fit's targets.
    """
    fit_intercept = estimator.fit_intercept
    if objective.closed_form:
        coef, intercept = normal_equation(
            X, y, fit_intercept=fit_intercept, alpha=objective.l2, sample_weight=sample_weight
        )
        return _Optimum(coef, intercept, "closed-form optimum")
    if objective.loss.smooth:
        reference = clone(estimator).set_params(
            optimizer="batch", learning_rate="auto", tol=REFERENCE_TOL, max_iter=None,
            record_path=False, warm_start=False, early_stopping=False, verbose=0,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # said below, in these terms
            reference.fit(X, y, sample_weight=sample_weight)
        if not reference.converged_:
            warn_at_caller(
                f"The reference fit that locates the optimum of J stopped after "
                f"{reference.n_iter_} epochs above tol={REFERENCE_TOL:g}: the optimum "
                "drawn is approximate."
            )
        return _Optimum(reference.coef_, reference.intercept_, "numerical optimum")
    if objective.l2:
        return None
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    Y = np.asarray(y, dtype=np.float64)
    coef, intercept = _epsilon_insensitive_optimum(
        X, Y.reshape(len(Y), -1), weights, objective.loss.epsilon, objective.l1, fit_intercept
    )
    if Y.ndim == 1:
        coef, intercept = coef[0], intercept[0]
    return _Optimum(coef, intercept if fit_intercept else 0.0, "optimum (linear program)")


def _epsilon_insensitive_optimum(X, Y, weights, epsilon, l1, fit_intercept):
    r"""The exact minimiser of the epsilon-insensitive loss plus ``l1 |w|_1``: a linear program.

    Per target, with :math:`w = p - q`, :math:`p, q \ge 0` (at the optimum
    one of :math:`p_j, q_j` is zero, so :math:`\sum_j p_j + q_j = \lVert w
    \rVert_1`), the intercept :math:`b` and slacks :math:`e_i \ge 0`:

    .. math::

        \min \sum_i c_i e_i + l_1 \sum_j (p_j + q_j) \quad \text{s.t.} \quad
        \pm (x_i^\top w + b - y_i) - e_i \le \epsilon,

    :math:`c_i = s_i / S`. HiGHS returns a vertex: exact to round-off.

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    intercept : ndarray of shape (n_targets,)
    """
    from scipy.optimize import linprog  # only this case needs scipy.optimize (slow to import)

    n, d = X.shape
    X = sp.csr_matrix(X)
    ones = sp.csr_matrix(np.ones((n, 1 if fit_intercept else 0)))
    slack = sp.identity(n, format="csr")
    A = sp.vstack(
        [sp.hstack([X, -X, ones, -slack]), sp.hstack([-X, X, -ones, -slack])], format="csr"
    )
    n_intercept = ones.shape[1]
    cost = np.concatenate(
        [np.full(2 * d, float(l1)), np.zeros(n_intercept), weights / weights.sum()]
    )
    bounds = [(0, None)] * (2 * d) + [(None, None)] * n_intercept + [(0, None)] * n
    coefs, intercepts = [], []
    for y in Y.T:
        result = linprog(
            cost, A_ub=A, b_ub=np.concatenate([epsilon + y, epsilon - y]), bounds=bounds,
            method="highs",
        )  # fmt: skip
        if result.status != 0:
            raise RuntimeError(f"The linear program for the optimum failed: {result.message}")
        coefs.append(result.x[:d] - result.x[d : 2 * d])
        intercepts.append(result.x[2 * d] if fit_intercept else 0.0)
    return np.array(coefs), np.array(intercepts)


def _objective_slice(
    prediction, target, columns, weights, grid, fitted, chosen, estimator, pick, objective
):
    """J on the grid, the other parameters held at the fit.

    Moving the chosen parameters by ``delta`` moves the predictions by
    ``U @ delta`` (``U`` the chosen columns); the loss evaluates that affine
    family of predictions (:meth:`gdreg._loss.Loss.affine_values`). The
    penalty is that of the full coefficient vector with the chosen
    coefficients replaced by the grid's.
    """
    U = np.column_stack(columns)
    coef = pick(estimator.coef_, estimator.intercept_, slice(None))
    mesh = np.meshgrid(*grid) if len(grid) == 2 else [grid[0]]
    deltas = np.stack([np.ravel(m - f) for m, f in zip(mesh, fitted, strict=True)])
    values = objective.loss.affine_values(prediction, target, weights / weights.sum(), U, deltas)
    values = values.reshape(mesh[0].shape)
    squares, absolutes = float(np.sum(np.square(coef))), float(np.sum(np.abs(coef)))
    for j, index in enumerate(chosen):
        if index != "intercept":
            squares = squares - fitted[j] ** 2 + mesh[j] ** 2
            absolutes = absolutes - abs(fitted[j]) + np.abs(mesh[j])
    values = values + 0.5 * objective.l2 * squares
    if objective.l1:  # no term at all without one: least squares is drawn as it always was
        values = values + objective.l1 * absolutes
    return values


def _short(value: float) -> str:
    """A gap or a growth factor in two digits or so: 186, 9.1, 0.023, 1.2e-07."""
    return f"{value:.0f}" if 10 <= abs(value) < 1e4 else f"{value:.2g}"


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def _outcome(estimator, error: bool, optimum_value: float, start_value: float) -> tuple[str, str]:
    """(regime, label) of one fit, from what the run did.

    In this order:

    - *diverged*: the estimator raised, or J ended above its value at the start;
    - *oscillating*: J rose in some epoch, or successive steps point in
      opposite directions in most of the second half of the run (the zigzag
      lasts to the end);
    - *good*: the fit converged, or J - J* fell to 1e-4 of its value at the start;
    - *slow*: J fell in every epoch and is still far from J*.

    A zigzag that died out before the end is named in the label of a good or
    slow run: with eta between 1/L and 2/L on an ill-conditioned problem the
    steep directions settle first and the run then creeps along the flat ones.
    """
    if estimator is None:
        return "diverged", "diverged in the first epoch"
    if error:
        return "diverged", f"diverged: error at epoch {estimator.n_iter_ + 1}"
    losses = np.asarray(estimator.loss_curve_, dtype=float)
    epochs = len(losses)
    if losses[-1] > start_value:
        growth = losses[-1] / start_value if start_value > 0 else math.inf
        return "diverged", f"diverging: J grew {_short(growth)}x in {_epochs(epochs)}"
    initial_gap = max(start_value - optimum_value, np.finfo(float).tiny)
    # a rise above round-off: J itself went up in that epoch
    rise_tol = 1e-9 * initial_gap + 1e-12 * abs(optimum_value)
    rises = int(np.sum(np.diff(np.concatenate([[start_value], losses])) > rise_tol))
    path = estimator.coef_path_.reshape(len(estimator.coef_path_), -1)
    steps = np.diff(path, axis=0)
    reversed_ = np.einsum("ij,ij->i", steps[1:], steps[:-1]) < 0  # pair k: steps k, k+1
    late = reversed_[len(reversed_) // 2 :]
    gap = max(float(losses[-1]) - optimum_value, 0.0)
    if estimator.converged_:
        where = f"converged in {_epochs(estimator.n_iter_)}"
    else:
        where = f"J - J* = {_short(gap)} after {_epochs(epochs)}"
    near = estimator.converged_ or gap <= 1e-4 * initial_gap
    if rises or (late.size and late.mean() > 0.5):
        if rises:
            evidence = f"J rose in {rises} of {_epochs(epochs)}"
        else:
            evidence = f"steps reversed in {int(reversed_.sum())} of {len(reversed_)} epochs"
        settled = ", near J*" if near else ""
        return "oscillating", f"oscillating{settled}: {where}\n({evidence})"
    regime = "good" if near else "slow"
    label = f"{regime}: {where}"
    if reversed_.sum() >= 2:
        last = int(np.flatnonzero(reversed_)[-1]) + 2  # the later step of the last pair
        label += f"\n(zigzag for the first {last} epochs only)"
    return regime, label


def _fit_or_last_stable(estimator, X, y, sample_weight, max_iter: int):
    """Fit; if the iterates diverge, refit with the most epochs that do not raise.

    The estimator raises on divergence (and restores itself), so the path of
    a diverging run is recovered by a bisection on ``max_iter`` with no
    stopping rule: ``O(log max_iter)`` short fits.
    """
    try:
        return clone(estimator).fit(X, y, sample_weight=sample_weight), False
    except DivergenceError:
        pass
    good, low, high = None, 0, max_iter  # low epochs succeed, high fail
    while high - low > 1:
        middle = (low + high) // 2
        try:
            trial = clone(estimator).set_params(max_iter=middle, tol=None)
            good, low = trial.fit(X, y, sample_weight=sample_weight), middle
        except DivergenceError:
            high = middle
    if good is None and low >= 1:
        good = clone(estimator).set_params(max_iter=low, tol=None)
        good.fit(X, y, sample_weight=sample_weight)
    return good, True


REGIME_COLORS = {"slow": "C0", "good": "C2", "oscillating": "C1", "diverged": "C3"}


class LearningRateDisplay:
    r"""What the learning rate does: one panel per constant step size, same problem.

    Each panel fits a clone of ``estimator`` with ``learning_rate="constant"``
    and ``eta0`` set to one of ``learning_rates`` (plain gradient descent in
    the user's coordinates, the textbook rule), and draws one of:

    - ``kind="loss"``: the distance to the optimal objective,
      :math:`J(\theta_k) - J^*`, on a log scale shared by all panels, so
      that the panels compare directly;
    - ``kind="steepest"``: the error along the steepest direction of
      :math:`J` (the top eigenvector of its Hessian), relative to where it
      started. For plain gradient descent it is :math:`(1 - \eta L)^k`:
      this is the panel where an oscillation shows, since :math:`J` itself
      falls in every epoch for every stable step;
    - ``kind="path"``: the path on the cost surface (see
      :class:`CostSurfaceDisplay`).

    The title gives the step, as a multiple of :math:`1/L` (:math:`1/L(B)`
    for stochastic and mini-batch sampling), and what the run did, measured
    on the run itself (not predicted from :math:`\eta L`), in this order:

    - *diverged*: the estimator raised, or :math:`J` ended above its value
      at the start. The estimator raises on divergence; here the error is
      caught and the epochs before it are shown instead (a path is cut where
      it leaves three times its starting distance from the optimum, so the
      surface stays readable);
    - *oscillating*: :math:`J` rose in some epoch, or successive steps point
      in opposite directions in most of the second half of the run;
    - *good*: the fit converged (``converged_``), or :math:`J - J^*` fell to
      ``1e-4`` of its value at the start;
    - *slow*: :math:`J` fell in every epoch but is still far from
      :math:`J^*` after ``max_iter`` epochs.

    A zigzag that dies out before the end is named in the label of a good or
    slow run. On an ill-conditioned problem (diabetes: condition number 470)
    no constant step gets near the optimum in 50 epochs, so every stable
    panel reads *slow*; the largest stable steps get closest. Raise
    ``max_iter`` to see which of them reach the optimum, or use the
    estimator's default ``learning_rate="auto"``, which descends in
    standardised coordinates with an accelerated rule.

    :math:`J` is the objective ``estimator`` minimises, with its ``loss`` and
    ``penalty`` (see :class:`CostSurfaceDisplay`); :math:`J^*` is its
    minimum, from the normal equation for least squares and from a reference
    fit with ``tol=1e-10`` otherwise, and a figure of its own names a
    :math:`J` other than least squares in its title. For ``"huber"``,
    :math:`L` bounds the curvature of the quadratic zone, which residuals
    beyond ``epsilon`` do not feel: there ``2.1/L`` may well be stable, and the
    titles say what each run did. The panels need a
    loss with a Lipschitz derivative, so that :math:`1/L` exists:
    ``loss="epsilon_insensitive"`` raises a ``ValueError``. ``kind="steepest"``
    needs least squares (the one :math:`J` with a constant Hessian) and
    raises a ``ValueError`` for any other loss or an l1 part.

    Build it with :meth:`from_data`.

    Parameters
    ----------
    learning_rates : list of float
        The step sizes, one per panel.
    estimators : list of GradientDescentRegressor or None
        The fits (``None`` where even one epoch diverged).
    regimes : list of str
        ``"slow"``, ``"good"``, ``"oscillating"`` or ``"diverged"`` per panel.
    labels : list of str
        The outcome, as written in each panel's title.
    surfaces : list of CostSurfaceDisplay or None, default=None
        For ``kind="path"``: the surface of each panel.
    optimum_value : float or None, default=None
        :math:`J^*`, the minimum of :math:`J`. ``kind="loss"`` draws
        :math:`J - J^*` when it is given, :math:`J` otherwise.
    steepest_errors : list of ndarray or None, default=None
        For ``kind="steepest"``: per panel, the error along the steepest
        direction at the start and after each epoch.
    textbook_step : float or None, default=None
        :math:`1/L` (or :math:`1/L(B)`), the unit in which the titles give
        each step.
    step_unit : str, default="1/L"
        How the titles name ``textbook_step``.
    objective : str or None, default=None
        :math:`J` in words, drawn as the title of a new figure (``None``:
        least squares, no title).

    Attributes
    ----------
    axes_ : list of matplotlib Axes
        One axes per learning rate.
    lines_ : list of matplotlib Line2D or None
        The curve or path drawn in each panel.
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from gdreg.plotting import LearningRateDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(50, 2))
    >>> y = X @ [1.0, -2.0] + 0.1 * rng.normal(size=50)
    >>> disp = LearningRateDisplay.from_data(X, y)
    >>> disp.regimes
    ['slow', 'good', 'oscillating', 'diverged']
    >>> disp.axes_[1].get_title().splitlines()[0]
    'eta = 0.934 = 1/L'
    """

    def __init__(
        self,
        *,
        learning_rates,
        estimators,
        regimes,
        labels,
        surfaces=None,
        optimum_value=None,
        steepest_errors=None,
        textbook_step=None,
        step_unit="1/L",
        objective=None,
    ):
        self.learning_rates = list(learning_rates)
        self.estimators = list(estimators)
        self.regimes = list(regimes)
        self.labels = list(labels)
        self.surfaces = surfaces
        self.optimum_value = optimum_value
        self.steepest_errors = steepest_errors
        self.textbook_step = textbook_step
        self.step_unit = step_unit
        self.objective = objective

    @classmethod
    def from_data(
        cls,
        X,
        y,
        *,
        learning_rates="auto",
        estimator=None,
        max_iter: int = 50,
        kind: str = "loss",
        params=None,
        sample_weight=None,
        axes=None,
    ) -> LearningRateDisplay:
        """Fit one model per learning rate and draw the panels side by side.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, 1)
            Targets: a single target (one column is taken as 1-D).
        learning_rates : list of float or "auto", default="auto"
            Constant step sizes. ``"auto"`` takes ``(0.05, 1, 1.85, 2.1)``
            times the textbook step ``1/L`` for this data (``L`` the largest
            curvature of the objective; ``1/L(B)`` for stochastic and
            mini-batch sampling): for plain full-batch gradient descent, the
            steps that make the steepest direction crawl, vanish in one step,
            zigzag and blow up.
        estimator : GradientDescentRegressor or None, default=None
            The model to clone (optimizer, ``loss``, ``penalty``, ``alpha``,
            ``fit_intercept``, ``tol``...); ``None`` uses
            ``GradientDescentRegressor()``.
        max_iter : int, default=50
            Epochs per fit.
        kind : {"loss", "steepest", "path"}, default="loss"
            Draw each fit's :math:`J - J^*`, its error along the steepest
            direction, or its path on the cost surface.
        params : sequence of one or two parameters, default=None
            For ``kind="path"``: which parameters (see
            :meth:`CostSurfaceDisplay.from_estimator`).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        axes : sequence of matplotlib Axes, default=None
            One axes per learning rate; ``None`` makes a new figure.

        Returns
        -------
        LearningRateDisplay
        """
        if kind not in ("loss", "steepest", "path"):
            raise ValueError(f"kind must be 'loss', 'steepest' or 'path', got {kind!r}.")
        y = _single_target(y)
        base = GradientDescentRegressor() if estimator is None else clone(estimator)
        objective = _objective_of(base)
        _check_constant_steps_apply(objective, kind)
        # the textbook step 1/L, in the units of the constant steps tried below
        textbook_step = clone(base)._textbook_auto_step(X, y, sample_weight)
        if isinstance(learning_rates, str):
            if learning_rates != "auto":
                raise ValueError(
                    f"learning_rates must be 'auto' or a list, got {learning_rates!r}."
                )
            learning_rates = [m * textbook_step for m in AUTO_MULTIPLES]
        learning_rates = [float(rate) for rate in learning_rates]
        if not learning_rates or any(
            not (rate > 0 and math.isfinite(rate)) for rate in learning_rates
        ):
            raise ValueError("learning_rates must be positive and finite.")

        X_checked = check_array(X, accept_sparse="csr", dtype=np.float64)
        optimum = _optimum(base, X_checked, y, sample_weight, objective)
        optimum_value = objective.value(
            X_checked, y, optimum.coef, optimum.intercept, sample_weight
        )
        direction = None
        if kind == "steepest":
            direction = _steepest_direction(X_checked, sample_weight, base, objective.l2)
        fitted, regimes, labels, surfaces, errors = [], [], [], [], []
        for rate in learning_rates:
            model = clone(base).set_params(
                learning_rate="constant", eta0=rate, max_iter=max_iter, record_path=True
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est, diverged = _fit_or_last_stable(model, X, y, sample_weight, max_iter)
            start_value = None
            if est is not None:
                start_value = objective.value(
                    X_checked, y, est.coef_path_[0], est.intercept_path_[0], sample_weight
                )
            regime, label = _outcome(est, diverged, optimum_value, start_value)
            fitted.append(est)
            regimes.append(regime)
            labels.append(label)
            if kind == "path" and est is not None:
                surface = CostSurfaceDisplay._compute(
                    est, X, y, params=params, sample_weight=sample_weight, target=0,
                    grid_resolution=80, margin=0.25, optimum=optimum,
                )  # fmt: skip
                if regime == "diverged":
                    surface = _cut_diverging_path(
                        surface, est, X, y, params, sample_weight, optimum
                    )
                surfaces.append(surface)
            elif kind == "path":
                surfaces.append(None)
            if kind == "steepest":
                errors.append(None if est is None else _error_along(est, optimum.coef, direction))
        display = cls(
            learning_rates=learning_rates,
            estimators=fitted,
            regimes=regimes,
            labels=labels,
            surfaces=surfaces if kind == "path" else None,
            optimum_value=optimum_value,
            steepest_errors=errors if kind == "steepest" else None,
            textbook_step=textbook_step,
            step_unit="1/L" if _sampling(base) == "batch" else "1/L(B)",
            objective=objective.description,
        )
        return display.plot(axes=axes)

    def plot(self, axes=None):
        """Draw one panel per learning rate.

        Parameters
        ----------
        axes : sequence of matplotlib Axes, default=None
            One axes per learning rate; ``None`` makes a new figure.

        Returns
        -------
        LearningRateDisplay
            ``self``, with the drawn objects stored.
        """
        count = len(self.learning_rates)
        new_figure = axes is None
        axes = _new_axes(f"{type(self).__name__}.plot", axes, ncols=count)
        axes = [axes] if count == 1 and not isinstance(axes, Sequence) else list(axes)
        if len(axes) != count:
            raise ValueError(f"Need {count} axes, one per learning rate; got {len(axes)}.")
        self.lines_ = []
        for i, ax in enumerate(axes):
            self.lines_.append(self._plot_panel(ax, i))
            ax.set_title(f"{self._step_title(i)}\n{self.labels[i]}", fontsize=10)
        notes = [f"J = {self.objective}"] if self.objective else []
        if self.surfaces is None:
            self._share_y(axes)
        else:
            held = next((s.held for s in self.surfaces if s is not None and s.held), None)
            if held and new_figure:
                notes.append(f"Slices of J: {held}")
            elif held:
                for ax in axes:
                    ax.set_title(f"{ax.get_title()}\n({held})", fontsize=10)
        if notes and new_figure:  # a figure of its own says what J is
            axes[0].figure.suptitle("\n".join(notes), fontsize=10)
        self.axes_, self.figure_ = axes, axes[0].figure
        return self

    def _step_title(self, i) -> str:
        rate = self.learning_rates[i]
        if not self.textbook_step:
            return f"eta = {rate:.3g}"
        multiple = rate / self.textbook_step
        unit = self.step_unit
        if math.isclose(multiple, 1.0, rel_tol=1e-9):
            return f"eta = {rate:.3g} = {unit}"
        return f"eta = {rate:.3g} = {multiple:.3g}{unit.removeprefix('1')}"

    def _plot_panel(self, ax, i):
        est = self.estimators[i]
        if est is None:
            ax.text(0.5, 0.5, "diverged in the first epoch", ha="center", transform=ax.transAxes)
            return None
        if self.surfaces is not None:
            surface = self.surfaces[i].plot(ax=ax, levels=12)
            if i > 0:  # one legend is enough for identical panels
                ax.get_legend().remove()
            return surface.path_line_
        color = REGIME_COLORS[self.regimes[i]]
        if self.steepest_errors is not None:
            errors = self.steepest_errors[i]
            ax.axhline(0.0, color="gray", linewidth=0.8)
            (line,) = ax.plot(np.arange(len(errors)), errors, color=color, marker=".")
            ax.set_xlabel("epoch")
            ax.set_ylabel("error along the steepest direction\n(relative to the start)")
            return line
        losses = np.asarray(est.loss_curve_, dtype=float)
        if self.optimum_value is not None:
            # J - J* is exact only to the round-off of J: draw it no lower than that
            floor = 1e-15 * max(abs(self.optimum_value), np.abs(losses).max())
            values = np.maximum(losses - self.optimum_value, floor)
            ylabel = "J - J* (objective above its minimum)"
        else:
            values, ylabel = losses, "objective J"
        (line,) = ax.plot(np.arange(1, len(values) + 1), values, color=color, marker=".")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        return line

    def _share_y(self, axes) -> None:
        """One y scale for the row of panels, so that they compare directly.

        The stable panels share their limits; a diverging panel keeps the
        scale and widens its own limits to show the growth, rather than
        flattening the others.
        """
        drawn = [
            (ax, np.asarray(line.get_ydata(), dtype=float), regime == "diverged")
            for ax, line, regime in zip(axes, self.lines_, self.regimes, strict=True)
            if line is not None
        ]
        if not drawn:
            return
        for ax, _, _ in drawn[1:]:  # one y label for a row of panels on one scale
            ax.set_ylabel("")
        drawn = [(ax, values[np.isfinite(values)], diverged) for ax, values, diverged in drawn]
        shared = [values for _, values, diverged in drawn if not diverged and values.size]
        shared = shared or [values for _, values, _ in drawn if values.size]
        if not shared:
            return
        if self.steepest_errors is not None:  # symmetric about 0
            reach = 1.1 * max(float(np.abs(values).max()) for values in shared)
            for ax, values, diverged in drawn:
                own = 1.1 * float(np.abs(values).max()) if diverged and values.size else 0.0
                ax.set_ylim(-max(reach, own), max(reach, own))
            return
        log = True if self.optimum_value is not None else _use_log_scale(shared, "auto")
        if log:  # a log axis shows the positive values
            drawn = [(ax, values[values > 0], diverged) for ax, values, diverged in drawn]
            shared = [values[values > 0] for values in shared if np.any(values > 0)]
            if not shared:
                return
        low = min(float(values.min()) for values in shared)
        high = max(float(values.max()) for values in shared)
        for ax, values, diverged in drawn:
            lo, hi = low, high
            if diverged and values.size:
                lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
            if log:
                ax.set_yscale("log")
                ax.set_ylim(lo / 3, hi * 3)
            else:
                pad = 0.05 * (hi - lo or 1.0)
                ax.set_ylim(lo - pad, hi + pad)


def _check_constant_steps_apply(objective: _Objective, kind: str) -> None:
    """Refuse the objectives whose panels would not mean what the titles say."""
    if not objective.loss.smooth:
        raise ValueError(
            "LearningRateDisplay compares constant steps in units of 1/L, L the largest "
            "curvature of J; loss='epsilon_insensitive' has kinks, so J has no such curvature "
            "and no constant step converges on it. Use a loss with a Lipschitz derivative "
            "('squared_error', 'huber' or 'squared_epsilon_insensitive'), or draw this fit with "
            "ConvergenceDisplay or CostSurfaceDisplay."
        )
    if kind == "steepest" and not objective.closed_form:
        raise ValueError(
            "kind='steepest' follows the top eigenvector of the constant Hessian of least "
            "squares (squared error with an L2 penalty or none), along which plain gradient "
            f"descent has the error (1 - eta L)^k; here J is {objective.description}. "
            "Use kind='loss' or kind='path'."
        )


def _sampling(estimator) -> str:
    optimizer = estimator.optimizer
    return optimizer if isinstance(optimizer, str) else getattr(optimizer, "sampling", "batch")


def _steepest_direction(X, sample_weight, estimator, l2: float) -> np.ndarray:
    """The top eigenvector of J's Hessian in the coefficients (centred with an intercept).

    J is least squares with the L2 strength ``l2`` (the only J with one constant Hessian).
    """
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    total = weights.sum()
    if sp.issparse(X):
        gram = np.asarray((X.T @ sp.diags(weights) @ X).toarray())
    else:
        gram = X.T @ (weights[:, None] * X)
    hessian = gram / total
    if estimator.fit_intercept:
        mean = np.asarray(weights @ X).ravel() / total
        hessian = hessian - np.outer(mean, mean)
    hessian = hessian + float(l2) * np.eye(X.shape[1])
    _, vectors = np.linalg.eigh(hessian)
    return vectors[:, -1]


def _error_along(estimator, optimum_coef, direction) -> np.ndarray:
    """``(coef_k - coef*) . v`` at the start and after each epoch, over its start value."""
    path = estimator.coef_path_.reshape(len(estimator.coef_path_), -1)
    errors = (path - np.ravel(optimum_coef)) @ direction
    reach = np.linalg.norm(path[0] - np.ravel(optimum_coef))
    if abs(errors[0]) > 1e-12 * reach:  # the start has a component to follow
        errors = errors / errors[0]
    return errors


def _cut_diverging_path(surface, est, X, y, params, sample_weight, optimum):
    """Keep the diverging path while it stays within 3x its starting distance."""
    distance = np.linalg.norm(surface.path - surface.optimum, axis=1)
    inside = np.nonzero(distance > 3 * max(distance[0], 1e-12))[0]
    stop = max(int(inside[0]) if inside.size else len(surface.path), 2)
    trimmed = clone(est).set_params(max_iter=max(stop - 1, 1), tol=None)
    trimmed.fit(X, y, sample_weight=sample_weight)
    return CostSurfaceDisplay._compute(
        trimmed, X, y, params=params, sample_weight=sample_weight, target=0,
        grid_resolution=80, margin=0.25, optimum=optimum,
    )  # fmt: skip
