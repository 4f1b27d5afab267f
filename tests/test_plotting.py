"""Displays: what they draw (lines, labels, data), rendered with the Agg backend."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from gdreg import GradientDescentRegressor, normal_equation

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
def test_learning_rate_display_four_regimes(two_features):
    X, y = two_features
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # divergence and non-convergence are shown, not raised
        disp = LearningRateDisplay.from_data(X, y)
    # "auto" = multiples of 1/L, L the largest eigenvalue of the centred covariance.
    Xc = X - X.mean(axis=0)
    L = np.linalg.eigvalsh(Xc.T @ Xc / len(X)).max()
    np.testing.assert_allclose(disp.learning_rates, np.array(AUTO_MULTIPLES) / L, rtol=1e-8)
    assert disp.regimes == ["slow", "good", "oscillating", "diverged"]
    assert len(disp.axes_) == 4 and disp.figure_ is disp.axes_[0].figure
    for ax, rate, label, line, est in zip(
        disp.axes_, disp.learning_rates, disp.labels, disp.lines_, disp.estimators, strict=True
    ):
        assert ax.get_title() == f"eta = {rate:.3g}\n{label}"
        np.testing.assert_array_equal(line.get_ydata(), est.loss_curve_)
    assert disp.labels[0].startswith("slow") and disp.labels[3].startswith("diverging")
    diverging = disp.estimators[3].loss_curve_
    assert diverging[-1] > 100 * diverging[0]


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
