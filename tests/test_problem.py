"""The seams between the estimator and the fit functions: plain values in, results out.

``gdreg._problem``, ``gdreg._partial``, ``gdreg._stats`` and ``gdreg._dask`` take
arrays, settings and states and return the fitted attributes; only the
estimator sets them. These tests call the functions without an estimator
and hold them to ``LinearRegression`` and to the estimator's own fits.
"""

import ast
import inspect
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from gdreg import (
    GradientDescentRegressor,
    SufficientStatistics,
    _dask,
    _partial,
    _problem,
    _stats,
    _validation,
    fit_from_statistics,
)


def _data(n=400, d=4, seed=0, offset=5.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + offset
    y = X @ rng.standard_normal(d) - 2.0 + 0.1 * rng.standard_normal(n)
    return X, y


def _settings(**params):
    return _problem.Settings(**GradientDescentRegressor(**params).get_params(deep=False))


def _problem_of(X, y, weights=None, sampling=None, settings=None):
    """The problem as ``fit`` prepares it, with sklearn's checks left out."""
    return _problem.prepare(
        X,
        y,
        weights,
        validate=lambda X, y, ensure_all_finite: (X, y),
        estimator_name="GradientDescentRegressor",
        sampling=sampling,
        settings=settings,
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_solve_without_an_estimator_matches_linear_regression_and_fit(weighted, sparse):
    X, y = _data()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(X)) if weighted else None
    Xin = sp.csr_matrix(X) if sparse else X
    settings = _settings(tol=1e-10)
    optimizer = _problem.resolve_optimizer(settings)
    problem = _problem.centred(
        _problem_of(Xin, y, weights, optimizer.sampling, settings), settings.fit_intercept
    )
    objective = _problem.build_objective(problem, optimizer.sampling, settings)
    solution = _problem.solve(objective, optimizer, settings, one_d=True, dtype=problem.dtype)
    assert solution.warning is None and solution.fitted.converged_
    reference = LinearRegression().fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(solution.fitted.coef_, reference.coef_, rtol=1e-8)
    np.testing.assert_allclose(solution.fitted.intercept_, reference.intercept_, rtol=1e-8)
    est = GradientDescentRegressor(tol=1e-10).fit(Xin, y, sample_weight=weights)
    for name, value in solution.fitted._asdict().items():
        if name in ("optimizer_", "learning_rate_"):
            assert repr(getattr(est, name)) == repr(value)
        elif value is None:
            assert not hasattr(est, name)
        else:
            np.testing.assert_array_equal(getattr(est, name), value)


def test_problem_holds_the_ranges_and_offsets_of_the_data():
    X, y = _data(n=50, d=3)
    X[:, 1] = 0.1  # constant: its offset is the constant exactly, not a rounded mean
    problem = _problem.centred(_problem_of(X, y), fit_intercept=True)
    np.testing.assert_array_equal(problem.x_range[0], X.min(axis=0))
    np.testing.assert_array_equal(problem.x_range[1], X.max(axis=0))
    np.testing.assert_array_equal(problem.y_range[1], [y.max()])
    assert problem.x_offset[1] == 0.1
    np.testing.assert_allclose(problem.x_offset, X.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(problem.y_offset, [y.mean()], rtol=1e-15)
    uncentred = _problem.centred(problem, fit_intercept=False)
    assert not uncentred.x_offset.any() and not uncentred.y_offset.any()


def test_the_magnitude_check_reads_the_problems_range():
    X, y = _data(n=30, d=2)
    X[3, 1] = 1e200
    with pytest.raises(ValueError, match="values as large as 1e\\+200"):
        _problem_of(X, y)


def test_warm_coef_of_another_shape_is_refused():
    with pytest.raises(ValueError, match=r"warm_start needs coef_ of shape \(1, 3\)"):
        _problem.previous_coef(np.zeros(2), 3, 1)
    np.testing.assert_array_equal(_problem.previous_coef(np.arange(3.0), 3, 1), [[0], [1], [2]])


@pytest.mark.parametrize("optimizer", ["batch", "stochastic", "minibatch"])
def test_partial_fit_function_returns_what_the_estimator_sets(optimizer):
    """Chained by hand, the stream gives the estimator's attributes and changes nothing it got."""
    X, y = _data(n=240)
    params = dict(optimizer=optimizer, random_state=3, record_path=True)
    settings = _settings(**params)
    est = GradientDescentRegressor(**params)
    stream = model = None
    for start in range(0, 240, 80):
        chunk = _problem_of(X[start : start + 80], y[start : start + 80])
        before = None if stream is None else stream.params.copy()
        step = _partial.partial_fit(chunk, settings, stream=stream, model=model)
        if before is not None:
            np.testing.assert_array_equal(stream.params, before)  # the old state is untouched
        stream, model = step.stream, step.fitted
        est.partial_fit(X[start : start + 80], y[start : start + 80])
    assert model.n_iter_ == est.n_iter_ == 3
    assert model.t_ == est.t_
    np.testing.assert_array_equal(model.coef_, est.coef_)
    np.testing.assert_array_equal(model.loss_curve_, est.loss_curve_)
    np.testing.assert_array_equal(model.coef_path_, est.coef_path_)
    np.testing.assert_array_equal(stream.params, est._partial_fit_state.params)


def test_statistics_objective_refuses_what_fit_from_statistics_refuses():
    X, y = _data()
    stats = SufficientStatistics().update(X, y)
    with pytest.raises(ValueError, match="only serve the full-batch optimizer"):
        _stats.statistics_objective(stats, "stochastic", alpha=0.0, fit_intercept=True)
    with pytest.raises(TypeError, match="Expected SufficientStatistics"):
        _stats.statistics_objective((X, y), "batch", alpha=0.0, fit_intercept=True)
    objective = _stats.statistics_objective(stats, "batch", alpha=0.0, fit_intercept=True)
    settings = _settings(tol=1e-10)
    solution = _problem.solve(
        objective, _problem.resolve_optimizer(settings), settings, one_d=True, dtype=X.dtype
    )
    reference = fit_from_statistics(GradientDescentRegressor(tol=1e-10), stats)
    np.testing.assert_array_equal(solution.fitted.coef_, reference.coef_)
    np.testing.assert_allclose(solution.fitted.coef_, LinearRegression().fit(X, y).coef_)


def test_dask_statistics_for_fit_refuses_stochastic_before_reading_the_data():
    class Unreadable:
        def __getattr__(self, name):
            raise AssertionError("the data were read")

    with pytest.raises(ValueError, match="full-batch optimizer only"):
        _dask.statistics_for_fit(Unreadable(), Unreadable(), sampling="minibatch")


def test_fits_in_threads_keep_their_own_ranges():
    """No state shared between fits: concurrent fits give each its sequential answer."""
    problems = [_data(n=300, d=3, seed=seed, offset=10.0 * seed) for seed in range(4)]
    for X, _ in problems[::2]:
        X[:, 0] = 7.0  # constant columns in some problems, not in others

    def fit(X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = GradientDescentRegressor(optimizer="minibatch", max_iter=3, tol=None)
            return est.set_params(random_state=0).fit(X, y).coef_

    expected = [fit(X, y) for X, y in problems]
    results = [None] * len(problems)

    def work(i):
        for _ in range(5):
            results[i] = fit(*problems[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def _private_uses(module) -> list[str]:
    """``estimator._x`` uses, and top-level imports of the estimator module, in ``module``."""
    tree = ast.parse(inspect.getsource(module))
    found = [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("estimator", "reg", "est")
        and node.attr.startswith("_")
    ]
    found += [
        f"import from {node.module}"
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "gdreg._estimator"
    ]
    return found


@pytest.mark.parametrize("module", [_problem, _partial, _stats, _dask, _validation])
def test_modules_below_the_estimator_use_none_of_its_private_methods(module):
    assert _private_uses(module) == []
    assert "threading" not in inspect.getsource(module)


def test_the_public_statistics_entry_point_is_the_estimator_modules():
    import gdreg

    assert gdreg.fit_from_statistics is fit_from_statistics
    assert fit_from_statistics.__module__ == "gdreg._estimator"
