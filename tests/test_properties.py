"""Property-based tests (hypothesis) over random well-conditioned problems.

Each property runs ``DEFAULT_EXAMPLES`` examples in the default run and
``SLOW_EXAMPLES`` under ``--run-slow``. The problems vary the shape, the
dtype, 1-D or 2-D ``y``, weights, the intercept, the penalty and dense or
sparse storage. Properties, all for full-batch gradient descent:

* the fit equals :func:`gdreg.normal_equation`;
* permuting the samples leaves the result unchanged (to round-off);
* integer sample weights equal repeating the rows;
* scaling ``y`` scales the coefficients and the intercept;
* adding a constant to ``y`` moves only the intercept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdreg import GradientDescentRegressor, normal_equation

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

DEFAULT_EXAMPLES = 60  # x 5 properties = 300 examples in the default run
SLOW_EXAMPLES = 600


@dataclass
class Problem:
    X: object  # ndarray or CSR
    y: np.ndarray
    sample_weight: np.ndarray | None
    fit_intercept: bool
    alpha: float
    seed: int

    @property
    def dtype(self):
        return self.X.dtype

    def dense(self):
        return self.X.toarray() if sp.issparse(self.X) else self.X

    def rtol(self):
        return 2e-3 if self.dtype == np.float32 else 1e-6


@st.composite
def problems(draw, *, weights=None, sparse=None):
    """Random well-conditioned problems: Gaussian X with n >= 3 d + 5."""
    seed = draw(st.integers(0, 2**31 - 1))
    d = draw(st.integers(1, 5))
    n = draw(st.integers(3 * d + 5, 40))
    k = draw(st.sampled_from([None, 1, 2]))  # None: 1-D y
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))
    use_sparse = draw(st.booleans()) if sparse is None else sparse
    use_weights = draw(st.booleans()) if weights is None else weights
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * rng.uniform(0.5, 2.0, size=d) + rng.uniform(-3, 3, size=d)
    if use_sparse:
        X[rng.rand(n, d) < 0.2] = 0.0
    coef = rng.randn(d, k or 1) * 3
    Y = X @ coef + rng.uniform(-5, 5, size=k or 1) + 0.1 * rng.randn(n, k or 1)
    y = Y[:, 0] if k is None else Y
    sw = rng.randint(1, 4, size=n).astype(float) if use_weights else None
    X = X.astype(dtype)
    return Problem(
        X=sp.csr_matrix(X) if use_sparse else X,
        y=y.astype(dtype),
        sample_weight=sw,
        fit_intercept=draw(st.booleans()),
        alpha=draw(st.sampled_from([0.0, 0.0, 0.05])),
        seed=seed,
    )


_SAME = object()


def _fit(problem, X=None, y=None, sample_weight=_SAME, **kwargs):
    params = {
        "fit_intercept": problem.fit_intercept,
        "alpha": problem.alpha,
        "max_iter": 20000,
        # float32 iterates stall at a change of about eps32 * |coef|: stop there
        "tol": 1e-12 if problem.dtype == np.float64 else 1e-4,
    }
    model = GradientDescentRegressor(**{**params, **kwargs})
    return model.fit(
        problem.X if X is None else X,
        problem.y if y is None else y,
        sample_weight=problem.sample_weight if sample_weight is _SAME else sample_weight,
    )


def _close(actual, desired, rtol, scale):
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def _scale(problem):
    return 1.0 + float(np.max(np.abs(problem.y)))


# -- the properties -------------------------------------------------------------------
def prop_fit_equals_normal_equation(problem):
    model = _fit(problem)
    coef, intercept = normal_equation(
        problem.dense().astype(np.float64),
        problem.y.astype(np.float64),
        fit_intercept=problem.fit_intercept,
        alpha=problem.alpha,
        sample_weight=problem.sample_weight,
    )
    assert model.coef_.shape == np.shape(coef)
    if problem.fit_intercept:  # without one, intercept_ is the scalar 0.0 (LinearRegression)
        assert np.shape(model.intercept_) == np.shape(intercept)
    assert model.coef_.dtype == problem.dtype
    _close(model.coef_, coef, problem.rtol(), _scale(problem))
    _close(model.intercept_, intercept, problem.rtol(), _scale(problem))
    assert np.all(np.isfinite(model.predict(problem.X)))


def prop_permutation_invariance(problem):
    order = np.random.RandomState(problem.seed).permutation(problem.X.shape[0])
    sw = None if problem.sample_weight is None else problem.sample_weight[order]
    base = _fit(problem)
    permuted = _fit(problem, X=problem.X[order], y=problem.y[order], sample_weight=sw)
    _close(permuted.coef_, base.coef_, problem.rtol(), _scale(problem))
    _close(permuted.intercept_, base.intercept_, problem.rtol(), _scale(problem))


def prop_integer_weights_equal_repeated_rows(problem):
    counts = np.random.RandomState(problem.seed).randint(0, 4, size=problem.X.shape[0])
    counts[0] = max(counts[0], 1)
    rows = np.repeat(np.arange(problem.X.shape[0]), counts)
    if len(rows) < 3 * problem.X.shape[1] + 2:  # keep the repeated problem well posed
        counts += 1
        rows = np.repeat(np.arange(problem.X.shape[0]), counts)
    weighted = _fit(problem, sample_weight=counts.astype(float))
    repeated = _fit(problem, X=problem.X[rows], y=problem.y[rows], sample_weight=None)
    _close(weighted.coef_, repeated.coef_, problem.rtol(), _scale(problem))
    _close(weighted.intercept_, repeated.intercept_, problem.rtol(), _scale(problem))


def prop_scaling_y_scales_the_solution(problem):
    factor = problem.dtype.type(-3.5)
    # A fixed number of epochs: from zero, every iterate is linear in y, so the
    # comparison does not depend on where the (absolute) tolerance stops the run.
    base = _fit(problem, tol=None, max_iter=50)
    scaled = _fit(problem, y=problem.y * factor, tol=None, max_iter=50)
    rtol = 1e-4 if problem.dtype == np.float32 else 1e-10
    _close(scaled.coef_, factor * base.coef_, rtol, abs(factor) * _scale(problem))
    _close(scaled.intercept_, factor * np.asarray(base.intercept_), rtol, 4 * _scale(problem))


def prop_shifting_y_moves_only_the_intercept(problem):
    if not problem.fit_intercept:
        return  # without an intercept a shift of y changes the coefficients
    shift = problem.dtype.type(7.25)
    base = _fit(problem)
    shifted = _fit(problem, y=problem.y + shift)
    _close(shifted.coef_, base.coef_, problem.rtol(), _scale(problem))
    _close(shifted.intercept_, np.asarray(base.intercept_) + shift, problem.rtol(), _scale(problem))


PROPERTIES = {
    "fit_equals_normal_equation": (prop_fit_equals_normal_equation, problems()),
    "permutation_invariance": (prop_permutation_invariance, problems()),
    "integer_weights_equal_repeated_rows": (
        prop_integer_weights_equal_repeated_rows,
        problems(weights=False),
    ),
    "scaling_y_scales_the_solution": (prop_scaling_y_scales_the_solution, problems()),
    "shifting_y_moves_only_the_intercept": (prop_shifting_y_moves_only_the_intercept, problems()),
}


def _property_test(prop, strategy, examples):
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=examples == DEFAULT_EXAMPLES,  # CI runs the same examples every time
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(problem=strategy)
    def run(problem):
        prop(problem)

    return run


@pytest.mark.parametrize("name", list(PROPERTIES))
def test_property(name):
    prop, strategy = PROPERTIES[name]
    _property_test(prop, strategy, DEFAULT_EXAMPLES)()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROPERTIES))
def test_property_nightly(name):
    prop, strategy = PROPERTIES[name]
    _property_test(prop, strategy, SLOW_EXAMPLES)()
