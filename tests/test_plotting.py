"""Displays: what they draw (lines, labels, data), rendered with the Agg backend."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from gdreg import DivergenceError, GradientDescentRegressor, normal_equation

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gdreg.plotting import (  # noqa: E402
    AUTO_MULTIPLES,
    ConvergenceDisplay,
    CostSurfaceDisplay,
    LearningRateDisplay,
)

LINE_X = np.array([[2.0], [4.0], [5.0]])
LINE_Y = np.array([45.0, 85.0, 105.0])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def two_features():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 2)) @ np.array([[1.0, 0.5], [0.0, 0.8]])
    y = X @ np.array([1.0, -2.0]) + 0.5 + 0.1 * rng.normal(size=80)
    return X, y


def objective(X, y, coef, intercept, alpha=0.0, sample_weight=None):
    """J written out directly, for comparison with the displays' fast slice."""
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    r = y - X @ coef - intercept
    return s @ r**2 / (2 * s.sum()) + 0.5 * alpha * coef @ coef


# -- ConvergenceDisplay -------------------------------------------------------------
def test_convergence_display_draws_the_loss_curve(two_features):
    X, _ = two_features
    y = X @ np.array([1.0, -2.0])  # noiseless: J falls towards 0 by many decades
    reg = GradientDescentRegressor(max_iter=30, tol=None).fit(X, y)
    disp = ConvergenceDisplay.from_estimator(reg, name="batch GD")
    (line,) = disp.lines_
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 31))
    np.testing.assert_array_equal(line.get_ydata(), reg.loss_curve_)
    assert line.get_label() == "batch GD"
    assert disp.ax_.get_xlabel() == "epoch"
    assert disp.ax_.get_yscale() == "log"  # the loss falls by many decades
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["batch GD"]
    assert disp.change_ax_ is None and disp.change_lines_ == []
    assert disp.figure_ is disp.ax_.figure


def test_convergence_display_linear_scale_when_loss_barely_moves(two_features):
    X, y = two_features
    reg = GradientDescentRegressor(learning_rate="constant", eta0=1e-3, max_iter=5, tol=None)
    disp = ConvergenceDisplay.from_estimator(reg.fit(X, y))
    assert disp.ax_.get_yscale() == "linear"
    assert ConvergenceDisplay.from_estimator(reg, log_scale=True).ax_.get_yscale() == "log"


def test_convergence_display_compares_estimators_on_one_axis(two_features):
    X, y = two_features
    fits = {
        name: GradientDescentRegressor(optimizer=name, random_state=0, max_iter=40, tol=1e-3)
        for name in ("batch", "stochastic", "minibatch")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whether each converges does not matter here
        for reg in fits.values():
            reg.fit(X, y)
    disp = ConvergenceDisplay.from_estimators(fits, show_change=True)
    assert [line.get_label() for line in disp.lines_] == list(fits)
    for line, change, reg in zip(disp.lines_, disp.change_lines_, fits.values(), strict=True):
        np.testing.assert_array_equal(line.get_ydata(), reg.loss_curve_)
        np.testing.assert_array_equal(change.get_ydata(), reg.change_curve_)
        assert change.get_color() == line.get_color()
    assert disp.change_ax_.get_yscale() == "log"
    (tol_line,) = disp.tol_lines_
    np.testing.assert_array_equal(tol_line.get_ydata(), [1e-3, 1e-3])
    assert tol_line.get_label() == "tol = 0.001"
    assert disp.ax_.figure is disp.change_ax_.figure


def test_convergence_display_uses_given_axes_and_list_names(two_features):
    X, y = two_features
    fig, ax = plt.subplots()
    regs = [
        GradientDescentRegressor(max_iter=10, tol=None).fit(X, y),
        GradientDescentRegressor(optimizer="minibatch", max_iter=10, tol=None).fit(X, y),
    ]
    disp = ConvergenceDisplay.from_estimators(regs, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert [line.get_label() for line in ax.get_lines()] == ["batch", "minibatch"]
    # A second call adds to the same axes.
    ConvergenceDisplay.from_estimator(regs[0], name="again", ax=ax)
    assert len(ax.get_lines()) == 3


def test_convergence_display_errors(two_features):
    X, y = two_features
    reg = GradientDescentRegressor(max_iter=5, tol=None).fit(X, y)
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="pair of axes"):
        ConvergenceDisplay.from_estimator(reg, show_change=True, ax=[ax])
    with pytest.raises(ValueError, match="empty"):
        ConvergenceDisplay.from_estimators({})
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConvergenceDisplay.from_estimator(GradientDescentRegressor())


# -- CostSurfaceDisplay -------------------------------------------------------------
def test_cost_surface_line_through_three_points():
    reg = GradientDescentRegressor(record_path=True).fit(LINE_X, LINE_Y)
    disp = CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y)
    np.testing.assert_allclose(disp.optimum, [20.0, 5.0], atol=1e-9)
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("coef[0]", "intercept")
    np.testing.assert_array_equal(disp.path_line_.get_xdata(), reg.coef_path_[:, 0])
    np.testing.assert_array_equal(disp.path_line_.get_ydata(), reg.intercept_path_)
    np.testing.assert_allclose(disp.optimum_marker_.get_xdata(), [20.0], atol=1e-9)
    assert disp.contour_ is not None and len(disp.contour_.levels) >= 10
    # The grid covers the whole path and the optimum.
    gx, gy = disp.grid
    assert gx.min() < reg.coef_path_[:, 0].min() and gx.max() > 20.0
    assert gy.min() < 5.0 and gy.max() > reg.intercept_path_.max()
    # Every grid value is J there; the smallest sits next to the optimum.
    for i, j in [(0, 0), (17, 63), (99, 99)]:
        expected = objective(LINE_X, LINE_Y, np.array([gx[j]]), gy[i])
        np.testing.assert_allclose(disp.values[i, j], expected, rtol=1e-10)
    i, j = np.unravel_index(np.argmin(disp.values), disp.values.shape)
    assert abs(gx[j] - 20.0) < 2 * (gx[1] - gx[0]) and abs(gy[i] - 5.0) < 2 * (gy[1] - gy[0])


def test_cost_surface_one_parameter_is_a_parabola():
    X, y = np.array([[1.0], [2.0], [3.0]]), np.array([3.0, 6.0, 9.0])
    reg = GradientDescentRegressor(
        fit_intercept=False, learning_rate="constant", eta0=0.1, max_iter=4, tol=None,
        record_path=True,
    ).fit(X, y)  # fmt: skip
    disp = CostSurfaceDisplay.from_estimator(reg, X, y)
    assert disp.contour_ is None
    w = disp.surface_line_.get_xdata()
    # J(w) = (1/6) * sum (3x - wx)^2 = (3 - w)^2 * 14 / 6
    np.testing.assert_allclose(disp.surface_line_.get_ydata(), (3 - w) ** 2 * 14 / 6, rtol=1e-10)
    np.testing.assert_array_equal(disp.path_line_.get_xdata(), reg.coef_path_[:, 0])
    assert disp.path_line_.get_xdata()[0] == 0.0 and len(disp.path_line_.get_xdata()) == 5
    np.testing.assert_allclose(disp.optimum, [3.0])
    assert disp.ax_.get_ylabel() == "objective J"


def test_cost_surface_two_coefficients_others_held_at_fit():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, 2.0, -1.0]) + 1.0 + 0.2 * rng.normal(size=60)
    weights = rng.uniform(0.5, 2.0, size=60)
    reg = GradientDescentRegressor(alpha=0.1, max_iter=30, tol=None, record_path=True)
    reg.fit(X, y, sample_weight=weights)
    _, ax = plt.subplots()
    disp = CostSurfaceDisplay.from_estimator(
        reg, X, y, params=(2, 0), sample_weight=weights, grid_resolution=20, ax=ax
    )
    assert disp.ax_ is ax and (ax.get_xlabel(), ax.get_ylabel()) == ("coef[2]", "coef[0]")
    gx, gy = disp.grid
    for i, j in [(0, 0), (5, 13), (19, 19)]:
        coef = reg.coef_.copy()
        coef[2], coef[0] = gx[j], gy[i]
        expected = objective(X, y, coef, reg.intercept_, alpha=0.1, sample_weight=weights)
        np.testing.assert_allclose(disp.values[i, j], expected, rtol=1e-10)
    opt_coef, _ = normal_equation(X, y, alpha=0.1, sample_weight=weights)
    np.testing.assert_allclose(disp.optimum, opt_coef[[2, 0]])
    np.testing.assert_array_equal(disp.path_line_.get_xdata(), reg.coef_path_[:, 2])


def test_cost_surface_without_path_and_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "age": [2.0, 1.0, 0.0, 1.0]})
    y = np.array([1.0, 3.0, 5.0, 6.0])
    reg = GradientDescentRegressor().fit(X, y)
    disp = CostSurfaceDisplay.from_estimator(reg, X, y, params=("age", "intercept"))
    assert disp.path_line_ is None and disp.path is None
    assert disp.ax_.get_xlabel() == "coef[age]"


def test_cost_surface_names_the_drawn_pair_and_where_the_others_are_held():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 10))
    y = X @ np.arange(1.0, 11.0) + 2.0 + 0.1 * rng.normal(size=100)
    reg = GradientDescentRegressor(record_path=True).fit(X, y)
    disp = CostSurfaceDisplay.from_estimator(reg, X, y)
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("coef[0]", "coef[1]")
    held = "coef[2] to coef[9] and the intercept held at their fitted values"
    assert disp.held == held
    title = disp.ax_.get_title().replace("\n", " ")
    assert title.startswith("J over coef[0] and coef[1]") and held in title
    # other pairs: the held coefficients are named, runs of them as ranges
    disp = CostSurfaceDisplay.from_estimator(reg, X, y, params=(4, "intercept"))
    assert disp.held == "coef[0] to coef[3] and coef[5] to coef[9] held at their fitted values"
    disp = CostSurfaceDisplay.from_estimator(reg, X, y, params=(2, 3))
    assert disp.held == (
        "coef[0], coef[1], coef[4] to coef[9] and the intercept held at their fitted values"
    )
    many = GradientDescentRegressor().fit(np.tile(X, 2), y)  # 20 columns, gaps everywhere
    disp = CostSurfaceDisplay.from_estimator(many, np.tile(X, 2), y, params=(3, 7))
    assert disp.held.startswith("coef[0] to coef[2], coef[4] to coef[6], coef[8] to coef[19]")
    three = GradientDescentRegressor().fit(X[:, :3], y)
    disp = CostSurfaceDisplay.from_estimator(three, X[:, :3], y, params=(1,))
    assert disp.held == "coef[0], coef[2] and the intercept held at their fitted values"
    # the docstring says it too
    assert "coef[2] to\n    coef[9] and the intercept held" in CostSurfaceDisplay.__doc__


def test_cost_surface_held_note_with_feature_names_and_nothing_held(diabetes):
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    reg = GradientDescentRegressor().fit(X, y)
    disp = CostSurfaceDisplay.from_estimator(reg, X, y)
    assert isinstance(X, pd.DataFrame)
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("coef[age]", "coef[sex]")
    assert disp.held == (
        "the other 8 coefficients (bmi, bp, s1, s2, s3, s4, s5, s6) and the intercept "
        "held at their fitted values"
    )
    one = GradientDescentRegressor().fit(LINE_X, LINE_Y)
    disp = CostSurfaceDisplay.from_estimator(one, LINE_X, LINE_Y)
    assert disp.held is None and disp.ax_.get_title() == ""
    disp = CostSurfaceDisplay.from_estimator(one, LINE_X, LINE_Y, params=(0,))
    assert disp.held == "the intercept held at its fitted value"


def test_cost_surface_errors():
    reg = GradientDescentRegressor(fit_intercept=False).fit(LINE_X, LINE_Y)
    with pytest.raises(ValueError, match="fit_intercept=False"):
        CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y, params=(0, "intercept"))
    with pytest.raises(ValueError, match="out of range"):
        CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y, params=(3,))
    with pytest.raises(ValueError, match="distinct"):
        CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y, params=(0, 0))
    with pytest.raises(ValueError, match="features"):
        CostSurfaceDisplay.from_estimator(reg, np.ones((3, 2)), LINE_Y)
    with pytest.raises(ValueError, match="fitted on"):
        CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y[:2])


@pytest.mark.parametrize("grid_resolution", [0, 1, -5, 2.5, True, "10", None])
def test_cost_surface_grid_resolution_must_be_an_integer_of_at_least_2(grid_resolution):
    reg = GradientDescentRegressor(record_path=True).fit(LINE_X, LINE_Y)
    with pytest.raises(ValueError, match=r"grid_resolution must be an integer >= 2"):
        CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y, grid_resolution=grid_resolution)


@pytest.mark.parametrize("params", [(0,), (0, "intercept")])
def test_cost_surface_smallest_grid_draws(params):
    reg = GradientDescentRegressor(record_path=True).fit(LINE_X, LINE_Y)
    disp = CostSurfaceDisplay.from_estimator(
        reg, LINE_X, LINE_Y, params=params, grid_resolution=np.int64(2)
    )
    assert all(len(g) == 2 for g in disp.grid)


@pytest.mark.parametrize("margin", [-0.1, np.nan, np.inf, "0.25"])
def test_cost_surface_margin_must_be_finite_and_not_negative(margin):
    reg = GradientDescentRegressor(record_path=True).fit(LINE_X, LINE_Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before any NumPy RuntimeWarning
        with pytest.raises(ValueError, match=r"margin must be a finite number >= 0"):
            CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y, margin=margin)


# -- LearningRateDisplay ------------------------------------------------------------
def measured(est, X, y, optimum_value):
    """What a run did, measured here independently of the display."""
    start = objective(X, y, est.coef_path_[0], est.intercept_path_[0])
    losses = np.concatenate([[start], est.loss_curve_])
    steps = np.diff(est.coef_path_, axis=0)
    reversed_ = np.sum(steps[1:] * steps[:-1], axis=1) < 0
    return {
        "start_gap": start - optimum_value,
        "end_gap": est.loss_curve_[-1] - optimum_value,
        "rises": int(np.sum(np.diff(losses) > 1e-9 * (start - optimum_value))),
        "reversed": reversed_,
        "late_reversals": reversed_[len(reversed_) // 2 :].mean() if len(reversed_) else 0.0,
    }


def check_labels_describe_the_runs(disp, X, y):
    """Every panel's regime and label agree with what its run did."""
    coef, intercept = normal_equation(X, y)
    optimum_value = objective(X, y, coef, intercept)
    for est, regime, label in zip(disp.estimators, disp.regimes, disp.labels, strict=True):
        if regime == "diverged":
            continue
        m = measured(est, X, y, optimum_value)
        near = est.converged_ or m["end_gap"] <= 1e-4 * m["start_gap"]
        oscillating = m["rises"] > 0 or m["late_reversals"] > 0.5
        assert regime == ("oscillating" if oscillating else "good" if near else "slow"), label
        assert label.startswith(regime)
        if not est.converged_:  # the gap in the label is the run's own
            stated = float(label.split("J - J* = ")[1].split(" after")[0])
            np.testing.assert_allclose(stated, m["end_gap"], rtol=0.05)
        if regime in ("good", "slow"):  # J fell in every epoch
            assert m["rises"] == 0
            assert ("zigzag" in label) == (m["reversed"].sum() >= 2)


def test_learning_rate_display_four_regimes(two_features):
    X, y = two_features
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # divergence and non-convergence are shown, not raised
        disp = LearningRateDisplay.from_data(X, y)
    # "auto" = multiples of 1/L, L the largest eigenvalue of the centred covariance.
    Xc = X - X.mean(axis=0)
    L = np.linalg.eigvalsh(Xc.T @ Xc / len(X)).max()
    np.testing.assert_allclose(disp.learning_rates, np.array(AUTO_MULTIPLES) / L, rtol=1e-8)
    np.testing.assert_allclose(disp.textbook_step, 1 / L, rtol=1e-8)
    assert disp.regimes == ["slow", "good", "oscillating", "diverged"]
    check_labels_describe_the_runs(disp, X, y)
    assert len(disp.axes_) == 4 and disp.figure_ is disp.axes_[0].figure
    steps = ["0.05/L", "1/L", "1.85/L", "2.1/L"]
    coef, intercept = normal_equation(X, y)
    optimum_value = objective(X, y, coef, intercept)
    for ax, rate, step, label, line, est in zip(
        disp.axes_, disp.learning_rates, steps, disp.labels, disp.lines_, disp.estimators,
        strict=True,
    ):  # fmt: skip
        assert ax.get_title() == f"eta = {rate:.3g} = {step}\n{label}"
        # J - J*, floored at the round-off of J
        gap = est.loss_curve_ - optimum_value
        drawn = line.get_ydata()
        np.testing.assert_allclose(drawn[gap > 1e-9], gap[gap > 1e-9], rtol=1e-6)
        assert np.all(drawn > 0)
        assert ax.get_yscale() == "log"  # one scale for all panels
    check_shared_limits(disp)
    assert disp.axes_[0].get_ylabel().startswith("J - J*") and disp.axes_[1].get_ylabel() == ""
    assert disp.labels[0].startswith("slow") and disp.labels[3].startswith("diverging")
    assert disp.labels[2].startswith("oscillating, near J*")
    diverging = disp.estimators[3].loss_curve_
    assert diverging[-1] > 100 * diverging[0]


def check_shared_limits(disp):
    """The stable panels share their y limits; a diverging one widens them."""
    stable = [
        ax.get_ylim() for ax, r in zip(disp.axes_, disp.regimes, strict=True) if r != "diverged"
    ]
    assert len(set(stable)) == 1
    (low, high) = stable[0]
    for ax, regime in zip(disp.axes_, disp.regimes, strict=True):
        if regime == "diverged":
            assert ax.get_ylim()[0] <= low and ax.get_ylim()[1] > high


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)


def test_learning_rate_display_on_diabetes_labels_what_each_run_did(diabetes):
    """Condition number 470: in 50 epochs no constant step gets near the optimum.

    The labels say so (no panel is called good), the 1.85/L run, which zigzags
    only until its steep directions have settled and then drifts, is called slow
    with its zigzag named, and every gap quoted is the run's own, so that the
    ranking of the panels can be read from the titles.
    """
    X, y = diabetes
    disp = LearningRateDisplay.from_data(X, y)
    check_labels_describe_the_runs(disp, X, y)
    assert disp.regimes == ["slow", "slow", "slow", "diverged"]
    assert "good" not in disp.regimes
    assert "zigzag for the first 34 epochs only" in disp.labels[2]
    assert "zigzag" not in disp.labels[1] and "zigzag" not in disp.labels[0]
    gaps = [float(label.split("J - J* = ")[1].split(" ")[0]) for label in disp.labels[:3]]
    assert gaps[0] > gaps[1] > gaps[2]  # the larger stable steps got closer
    # the panels share one log scale (no linear panel next to a log one)
    assert {ax.get_yscale() for ax in disp.axes_} == {"log"}
    check_shared_limits(disp)


def test_learning_rate_display_on_diabetes_with_enough_epochs_is_good(diabetes):
    """Given the epochs, the runs that reach the optimum are called good, and a
    run that still zigzags at the end is called oscillating, near J*."""
    X, y = diabetes
    Xc = X - X.mean(axis=0)
    L = np.linalg.eigvalsh(Xc.T @ Xc / len(X)).max()
    disp = LearningRateDisplay.from_data(
        X, y, learning_rates=[0.05 / L, 1.85 / L, 1.99 / L], max_iter=1000
    )
    check_labels_describe_the_runs(disp, X, y)
    assert disp.regimes == ["slow", "good", "oscillating"]
    assert disp.labels[2].startswith("oscillating, near J*")


def test_learning_rate_display_momentum_rises_are_oscillation(diabetes):
    from gdreg.optimizers import Momentum

    X, y = diabetes
    est = GradientDescentRegressor(optimizer=Momentum(momentum=0.9))
    disp = LearningRateDisplay.from_data(X, y, estimator=est, learning_rates="auto")
    check_labels_describe_the_runs(disp, X, y)
    assert disp.regimes[1] == "oscillating" and "J rose in" in disp.labels[1]


def test_learning_rate_display_steepest_direction_shows_one_minus_eta_l(diabetes):
    """Along the top eigenvector the error is (1 - eta L)^k: this shows the zigzag."""
    X, y = diabetes
    disp = LearningRateDisplay.from_data(X, y, kind="steepest", max_iter=20)
    for errors, line, multiple in zip(
        disp.steepest_errors, disp.lines_, AUTO_MULTIPLES, strict=True
    ):
        np.testing.assert_array_equal(line.get_ydata(), errors)
        k = np.arange(len(errors))
        np.testing.assert_allclose(errors, (1 - multiple) ** k, atol=1e-6)
    stable_limits = {
        ax.get_ylim()
        for ax, regime in zip(disp.axes_, disp.regimes, strict=True)
        if regime != "diverged"
    }
    assert len(stable_limits) == 1  # one scale for the stable panels, symmetric about 0
    ((low, high),) = stable_limits
    assert low == -high and high >= 1.0
    assert disp.axes_[3].get_ylim()[1] > 1.1**20 * 0.9  # the diverging panel fits its zigzag


def test_learning_rate_display_caught_divergence_shows_epochs_before_it(two_features):
    X, y = two_features
    disp = LearningRateDisplay.from_data(X, y, learning_rates=[3.0], max_iter=200)
    (est,) = disp.estimators
    assert disp.regimes == ["diverged"]
    assert disp.labels[0] == f"diverged: error at epoch {est.n_iter_ + 1}"
    # One more epoch raises; the shown ones do not.
    with pytest.raises(ValueError, match="diverged"):
        GradientDescentRegressor(
            learning_rate="constant", eta0=3.0, max_iter=est.n_iter_ + 1, tol=None
        ).fit(X, y)
    assert np.all(np.isfinite(est.loss_curve_)) and est.loss_curve_[-1] > est.loss_curve_[0]


def test_learning_rate_display_paths_on_surfaces():
    est = GradientDescentRegressor(fit_intercept=False)
    disp = LearningRateDisplay.from_data(LINE_X, LINE_Y, estimator=est, kind="path", max_iter=20)
    assert len(disp.surfaces) == 4
    for ax, surface, line in zip(disp.axes_, disp.surfaces, disp.lines_, strict=True):
        assert surface.surface_line_ is not None  # one coefficient: a parabola per panel
        assert line is surface.path_line_ and len(line.get_xdata()) >= 2
        assert ax.get_xlabel() == "coef[0]"
    assert disp.axes_[0].get_legend() is not None and disp.axes_[1].get_legend() is None
    # The diverging path was cut where it leaves 3x its starting distance.
    path, optimum = disp.surfaces[3].path[:, 0], disp.surfaces[3].optimum[0]
    assert np.all(np.abs(path - optimum) <= 3 * abs(path[0] - optimum) + 1e-12)


def test_learning_rate_display_path_says_where_the_other_coefficients_are(diabetes):
    X, y = diabetes
    disp = LearningRateDisplay.from_data(X, y, kind="path", max_iter=10)
    held = "coef[2] to coef[9] and the intercept held at their fitted values"
    assert all(surface.held == held for surface in disp.surfaces)
    assert held in disp.figure_.get_suptitle()
    assert (disp.axes_[0].get_xlabel(), disp.axes_[0].get_ylabel()) == ("coef[0]", "coef[1]")


def test_learning_rate_display_errors(two_features):
    X, y = two_features
    with pytest.raises(ValueError, match="kind"):
        LearningRateDisplay.from_data(X, y, kind="surface")
    with pytest.raises(ValueError, match="positive"):
        LearningRateDisplay.from_data(X, y, learning_rates=[0.1, -1.0])
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="Need 2 axes"):
        LearningRateDisplay.from_data(X, y, learning_rates=[0.1, 0.2], axes=[ax])


@pytest.mark.parametrize("kind", ["loss", "path"])
def test_learning_rate_display_refuses_several_targets_and_says_what_is_supported(
    two_features, kind
):
    X, y = two_features
    Y = np.column_stack([y, -y])
    with pytest.raises(ValueError, match=r"supports a single target.*got shape \(80, 2\)"):
        LearningRateDisplay.from_data(X, Y, kind=kind, max_iter=5)
    with pytest.raises(ValueError, match=r"y\[:, 0\]"):
        LearningRateDisplay.from_data(X, Y[:, :, None], max_iter=5)


@pytest.mark.parametrize("kind", ["loss", "path"])
def test_learning_rate_display_takes_one_column_as_the_target(two_features, kind):
    X, y = two_features
    column = LearningRateDisplay.from_data(X, y[:, None], kind=kind, max_iter=5)
    flat = LearningRateDisplay.from_data(X, y, kind=kind, max_iter=5)
    assert column.regimes == flat.regimes
    for a, b in zip(column.estimators, flat.estimators, strict=True):
        np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


# -- matplotlib is optional ---------------------------------------------------------
def test_gdreg_imports_without_matplotlib_and_displays_name_the_extra():
    code = textwrap.dedent(
        """
        import sys
        for name in ("matplotlib", "matplotlib.pyplot"):
            sys.modules[name] = None  # importing them now raises ImportError
        import gdreg
        reg = gdreg.GradientDescentRegressor().fit([[0.0], [1.0]], [1.0, 3.0])
        from gdreg.plotting import ConvergenceDisplay
        try:
            ConvergenceDisplay.from_estimator(reg)
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "gdreg[plot]"' in done.stdout
    assert "matplotlib" in done.stdout


# -- divergence is recognised by its type, not by the words of its message -------------
class _DivergesAfterThree(GradientDescentRegressor):
    """Raises a DivergenceError whose text never says "diverged" past three epochs."""

    def fit(self, X, y, sample_weight=None):
        if self.max_iter > 3:
            raise DivergenceError("the iterates blew up", epoch=4)
        return super().fit(X, y, sample_weight=sample_weight)


class _OtherError(GradientDescentRegressor):
    """Raises a plain ValueError that happens to contain the word "diverged"."""

    def fit(self, X, y, sample_weight=None):
        raise ValueError("not a divergence, though the text says diverged")


def test_last_stable_fit_recognises_divergence_by_type(two_features):
    from gdreg.plotting import _fit_or_last_stable

    X, y = two_features
    est, diverged = _fit_or_last_stable(
        _DivergesAfterThree(max_iter=10, tol=None, record_path=True), X, y, None, 10
    )
    assert diverged and est.max_iter == 3 and est.n_iter_ == 3
    with pytest.raises(ValueError, match="not a divergence") as info:
        _fit_or_last_stable(_OtherError(max_iter=10), X, y, None, 10)
    assert not isinstance(info.value, DivergenceError)


# -- the objective actually minimised: loss and penalty (issue #15) ---------------------
def huber_elasticnet(X, y, coef, intercept, *, epsilon, alpha, l1_ratio, sample_weight=None):
    """J of SGDRegressor(loss="huber", penalty="elasticnet"), from sklearn's definitions.

    Weighted mean of the Huber loss of ``r = y - p`` (``r^2 / 2`` for ``|r| <= epsilon``,
    ``epsilon |r| - epsilon^2 / 2`` beyond) plus
    ``alpha * (l1_ratio |w|_1 + (1 - l1_ratio) |w|_2^2 / 2)``.
    """
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    r = y - X @ coef - intercept
    a = np.abs(r)
    loss = np.where(a <= epsilon, 0.5 * r**2, epsilon * a - 0.5 * epsilon**2)
    penalty = l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * coef @ coef
    return s @ loss / s.sum() + alpha * penalty


def minimise_huber_elasticnet(X, y, *, epsilon, alpha, l1_ratio, sample_weight=None):
    """The minimiser by scipy's L-BFGS-B, independent of gdreg.

    ``w = p - q`` with ``p, q >= 0`` turns ``|w|_1`` into the smooth ``sum(p + q)``.
    """
    from scipy.optimize import minimize

    d = X.shape[1]
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    s = s / s.sum()
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)

    def value_and_gradient(z):
        coef, intercept = z[:d] - z[d : 2 * d], z[2 * d]
        r = X @ coef + intercept - y
        a = np.abs(r)
        loss = np.where(a <= epsilon, 0.5 * r**2, epsilon * a - 0.5 * epsilon**2)
        value = s @ loss + 0.5 * l2 * coef @ coef + l1 * z[: 2 * d].sum()
        dloss = s * np.clip(r, -epsilon, epsilon)
        g = X.T @ dloss + l2 * coef
        return value, np.concatenate([g + l1, -g + l1, [dloss.sum()]])

    bounds = [(0, None)] * (2 * d) + [(None, None)]
    result = minimize(
        value_and_gradient, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B", bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )  # fmt: skip
    return result.x[:d] - result.x[d : 2 * d], result.x[2 * d], result.fun


ROBUST = {"loss": "huber", "epsilon": 0.5, "penalty": "elasticnet", "alpha": 0.2, "l1_ratio": 0.5}


@pytest.fixture
def outliers():
    """Three features, heavy-tailed noise, uneven weights: Huber differs from least squares."""
    rng = np.random.RandomState(3)
    X = rng.normal(size=(60, 3)) @ np.array([[1.0, 0.4, 0.0], [0.0, 0.9, 0.3], [0.0, 0.0, 1.1]])
    y = X @ np.array([1.5, -2.0, 0.05]) + 0.7 + 0.4 * rng.standard_t(1.5, size=60)
    return X, y, rng.uniform(0.5, 2.0, size=60)


def robust_objective(X, y, coef, intercept, sample_weight):
    keys = ("epsilon", "alpha", "l1_ratio")
    return huber_elasticnet(
        X, y, coef, intercept, sample_weight=sample_weight, **{k: ROBUST[k] for k in keys}
    )


def test_convergence_display_draws_the_huber_elasticnet_objective(outliers):
    X, y, weights = outliers
    reg = GradientDescentRegressor(**ROBUST, max_iter=15, tol=None, record_path=True)
    reg.fit(X, y, sample_weight=weights)
    disp = ConvergenceDisplay.from_estimator(reg)
    # loss_curve_[k] is J after epoch k + 1: at the path point k + 1, the last at the fit
    expected = [
        robust_objective(X, y, coef, intercept, weights)
        for coef, intercept in zip(reg.coef_path_[1:], reg.intercept_path_[1:], strict=True)
    ]
    np.testing.assert_allclose(disp.lines_[0].get_ydata(), expected, rtol=1e-10)
    np.testing.assert_allclose(
        expected[-1], robust_objective(X, y, reg.coef_, reg.intercept_, weights), rtol=1e-12
    )
    title = disp.ax_.get_title().replace("\n", " ")
    assert title == ("J = huber loss (epsilon=0.5) + elastic-net penalty (alpha=0.2, l1_ratio=0.5)")
    # fits of different objectives on one axes: no single J to name
    plain = GradientDescentRegressor(max_iter=5, tol=None).fit(X, y)
    assert ConvergenceDisplay.from_estimators([reg, plain]).ax_.get_title() == ""
    assert ConvergenceDisplay.from_estimators([plain]).objective is None


def test_cost_surface_draws_the_huber_elasticnet_objective(outliers):
    X, y, weights = outliers
    reg = GradientDescentRegressor(**ROBUST, max_iter=8, tol=None, record_path=True)
    reg.fit(X, y, sample_weight=weights)
    disp = CostSurfaceDisplay.from_estimator(
        reg, X, y, params=(2, 0), sample_weight=weights, grid_resolution=25
    )
    gx, gy = disp.grid
    assert gx.min() < 0 < gx.max()  # the grid crosses the kink of |coef[2]| at 0
    for i, j in [(0, 0), (7, 18), (12, 3), (24, 24)]:
        coef = reg.coef_.copy()
        coef[2], coef[0] = gx[j], gy[i]
        expected = robust_objective(X, y, coef, reg.intercept_, weights)
        np.testing.assert_allclose(disp.values[i, j], expected, rtol=1e-10)
    assert "J = huber loss (epsilon=0.5) + elastic-net penalty" in disp.ax_.get_title()
    assert disp.optimum_marker_.get_label() == "numerical optimum"
    # one parameter: the curve through the fit, and the path's heights on it
    disp = CostSurfaceDisplay.from_estimator(
        reg, X, y, params=("intercept",), sample_weight=weights, grid_resolution=400
    )
    (b,) = disp.grid
    expected = [robust_objective(X, y, reg.coef_, value, weights) for value in b[::50]]
    np.testing.assert_allclose(disp.values[::50], expected, rtol=1e-10)
    at_path = [robust_objective(X, y, reg.coef_, value, weights) for value in reg.intercept_path_]
    # heights read off the drawn curve: exact up to the chord between grid points
    np.testing.assert_allclose(disp.path_line_.get_ydata(), at_path, rtol=1e-3)


def test_cost_surface_marks_the_optimum_of_huber_elasticnet(outliers):
    X, y, weights = outliers
    keys = ("epsilon", "alpha", "l1_ratio")
    coef, intercept, best = minimise_huber_elasticnet(
        X, y, sample_weight=weights, **{k: ROBUST[k] for k in keys}
    )
    assert abs(coef[2]) < 1e-8  # the l1 part zeroes the weakest coefficient
    reg = GradientDescentRegressor(**ROBUST, max_iter=6, tol=None, record_path=True)
    reg.fit(X, y, sample_weight=weights)
    disp = CostSurfaceDisplay.from_estimator(reg, X, y, params=(0, "intercept"),
                                             sample_weight=weights)  # fmt: skip
    np.testing.assert_allclose(disp.optimum, [coef[0], intercept], atol=1e-6)
    # the star, the other coefficients at scipy's optimum: J there is the minimum, and
    # smaller than at every point nearby
    star = coef.copy()
    star[0] = disp.optimum[0]
    at_star = robust_objective(X, y, star, disp.optimum[1], weights)
    np.testing.assert_allclose(at_star, best, rtol=1e-10)
    for step in ([1e-3, 0], [-1e-3, 0], [0, 1e-3], [0, -1e-3], [1e-3, -1e-3]):
        moved = star.copy()
        moved[0] += step[0]
        assert at_star < robust_objective(X, y, moved, disp.optimum[1] + step[1], weights)


def test_cost_surface_optimum_with_an_l1_part_is_lasso():
    from sklearn.linear_model import Lasso

    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([2.0, 0.0, -1.0]) + 0.3 + 0.5 * rng.normal(size=50)
    reg = GradientDescentRegressor(penalty="l1", alpha=0.3, max_iter=5, tol=None)
    disp = CostSurfaceDisplay.from_estimator(reg.fit(X, y), X, y, params=(1, 2))
    lasso = Lasso(alpha=0.3, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(disp.optimum, lasso.coef_[[1, 2]], atol=1e-8)
    assert disp.optimum[0] == 0.0  # exact zero from the soft-threshold
    assert "squared error + L1 penalty (alpha=0.3)" in disp.ax_.get_title()


def test_cost_surface_ignores_alpha_without_a_penalty():
    """``penalty=None`` fits least squares whatever ``alpha``: so does the optimum."""
    from sklearn.linear_model import LinearRegression

    reg = GradientDescentRegressor(penalty=None, alpha=5.0, record_path=True).fit(LINE_X, LINE_Y)
    disp = CostSurfaceDisplay.from_estimator(reg, LINE_X, LINE_Y, grid_resolution=5)
    exact = LinearRegression().fit(LINE_X, LINE_Y)
    np.testing.assert_allclose(disp.optimum, [exact.coef_[0], exact.intercept_], atol=1e-9)
    np.testing.assert_allclose(
        disp.values[2, 1], objective(LINE_X, LINE_Y, disp.grid[0][1:2], disp.grid[1][2])
    )
    assert disp.objective is None and disp.optimum_marker_.get_label() == "closed-form optimum"


def epsilon_insensitive_l1(X, y, coef, intercept, *, epsilon, alpha, sample_weight):
    """J of SGDRegressor(loss="epsilon_insensitive", penalty="l1"): weighted mean of
    ``max(0, |r| - epsilon)`` plus ``alpha |w|_1``."""
    r = y - X @ coef - intercept
    loss = np.maximum(np.abs(r) - epsilon, 0.0)
    return sample_weight @ loss / sample_weight.sum() + alpha * np.abs(coef).sum()


def test_cost_surface_epsilon_insensitive_optimum_is_exact(outliers):
    X, y, weights = outliers
    X = X[:, :2]
    params = {"loss": "epsilon_insensitive", "epsilon": 0.3, "penalty": "l1", "alpha": 0.05}
    reg = GradientDescentRegressor(**params, record_path=True).fit(X, y, sample_weight=weights)
    disp = CostSurfaceDisplay.from_estimator(reg, X, y, sample_weight=weights, grid_resolution=30)

    def J(coef, intercept):
        return epsilon_insensitive_l1(
            X, y, coef, intercept, epsilon=0.3, alpha=0.05, sample_weight=weights
        )

    gx, gy = disp.grid
    for i, j in [(0, 0), (11, 22), (29, 29)]:
        np.testing.assert_allclose(
            disp.values[i, j], J(np.array([gx[j], gy[i]]), reg.intercept_), rtol=1e-10
        )
    assert disp.optimum_marker_.get_label() == "optimum (linear program)"
    # the whole optimum, from the two pairs that hold it: J is convex, so it is the
    # minimum when no point nearby is lower
    full = CostSurfaceDisplay.from_estimator(
        reg, X, y, params=(0, "intercept"), sample_weight=weights
    )
    np.testing.assert_allclose(full.optimum[0], disp.optimum[0], rtol=1e-12)
    coef, intercept = disp.optimum, full.optimum[1]
    optimum_value = J(coef, intercept)
    rng = np.random.RandomState(0)
    for step in 1e-4 * rng.normal(size=(50, 3)):
        assert optimum_value <= J(coef + step[:2], intercept + step[2]) + 1e-15
    assert optimum_value <= J(reg.coef_, reg.intercept_) + 1e-15
    # with an L2 part, a quadratic program: no optimum is drawn, the surface is
    reg = GradientDescentRegressor(loss="epsilon_insensitive", alpha=0.05, record_path=True)
    disp = CostSurfaceDisplay.from_estimator(reg.fit(X, y), X, y, grid_resolution=10)
    assert disp.optimum is None and disp.optimum_marker_ is None and disp.contour_ is not None


def test_learning_rate_display_measures_huber_elasticnet_against_its_minimum(outliers):
    X, y, weights = outliers
    keys = ("epsilon", "alpha", "l1_ratio")
    _, _, best = minimise_huber_elasticnet(
        X, y, sample_weight=weights, **{k: ROBUST[k] for k in keys}
    )
    est = GradientDescentRegressor(**ROBUST)
    disp = LearningRateDisplay.from_data(X, y, estimator=est, sample_weight=weights, max_iter=20)
    np.testing.assert_allclose(disp.optimum_value, best, rtol=1e-10)
    for fit, line, label in zip(disp.estimators, disp.lines_, disp.labels, strict=True):
        expected = [
            robust_objective(X, y, c, b, weights)
            for c, b in zip(fit.coef_path_[1:], fit.intercept_path_[1:], strict=True)
        ]
        gap = np.asarray(expected) - best
        drawn = line.get_ydata()
        np.testing.assert_allclose(drawn[gap > 1e-9], gap[gap > 1e-9], rtol=1e-6)
        if not fit.converged_:  # the gap in the title is the run's own
            stated = float(label.split("J - J* = ")[1].split(" after")[0])
            np.testing.assert_allclose(stated, gap[-1], rtol=0.05)
    # the curvature bound of the Huber loss, 1, holds only inside its quadratic zone:
    # with many residuals beyond it, even 2.1/L is stable here, and slower than 4/L
    assert disp.regimes == ["slow"] * 4
    faster = LearningRateDisplay.from_data(
        X, y, estimator=est, sample_weight=weights, max_iter=20,
        learning_rates=[4 * disp.textbook_step],
    )  # fmt: skip
    assert faster.regimes == ["good"]
    assert disp.figure_.get_suptitle().startswith("J = huber loss (epsilon=0.5)")


def test_learning_rate_display_refuses_objectives_its_panels_cannot_describe(two_features):
    X, y = two_features
    svr = GradientDescentRegressor(loss="epsilon_insensitive")
    with pytest.raises(ValueError, match=r"epsilon_insensitive.*no constant step converges"):
        LearningRateDisplay.from_data(X, y, estimator=svr, max_iter=5)
    for est in (
        GradientDescentRegressor(loss="huber"),
        GradientDescentRegressor(penalty="l1", alpha=0.1),
    ):
        with pytest.raises(ValueError, match=r"kind='steepest'.*least squares"):
            LearningRateDisplay.from_data(X, y, estimator=est, kind="steepest", max_iter=5)
    # a path on the surface of a huber + l1 objective draws
    est = GradientDescentRegressor(loss="huber", epsilon=0.3, penalty="l1", alpha=0.05)
    disp = LearningRateDisplay.from_data(X, y, estimator=est, kind="path", max_iter=10)
    assert all(s is not None and s.objective.startswith("huber loss") for s in disp.surfaces)
    assert "J = huber loss (epsilon=0.3) + L1 penalty" in disp.figure_.get_suptitle()
