"""The bad-input matrix: every case either fits correctly or raises a clear error.

Each entry of ``CASES`` is one row of the table in ``docs/bad_input.rst`` (the
test ``test_every_case_is_documented`` keeps the two in step). A case that
fits is compared with ``normal_equation`` / ``LinearRegression``; a case that
fails must raise the named exception with a message naming the problem. No
case may leak a ``RuntimeWarning`` from NumPy (turned into an error here) or
produce non-finite coefficients.

Every row is run through every entry point (``ENTRY_POINTS``, the columns of
the "Entry points" table): ``fit``, ``partial_fit``, ``fit_from_statistics``
(after ``SufficientStatistics.update``) and ``fit`` on Dask arrays. Each gives
``fit``'s outcome and message, except where ``ENTRY_POINT_DIFFERENCES`` says
otherwise (and the table documents it).
"""

from __future__ import annotations

import pathlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from gdreg import (
    GradientDescentRegressor,
    SufficientStatistics,
    fit_from_statistics,
    normal_equation,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "bad_input.rst"
SAMPLINGS = ["batch", "stochastic", "minibatch"]


def _data(n=20, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = X @ np.arange(1.0, d + 1) + 1.0 + 0.1 * rng.randn(n)
    return X, y


def _with(array, index, value, dtype=float):
    out = np.array(array, dtype=dtype)
    out[index] = value
    return out


@dataclass
class Case:
    """One row of the table: the inputs, and what must happen."""

    id: str
    inputs: Callable[[], tuple]  # () -> (X, y, sample_weight)
    error: type | None = None  # exception type, or None when the fit must succeed
    match: str = ""  # regex the error message must contain
    expected: Callable | None = None  # (X, y, sw) -> (coef, intercept) a fit must reach
    fit_kwargs: dict | None = None


def _reference(X, y, sw):
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    return normal_equation(Xd, np.asarray(y, dtype=float), sample_weight=sw)


def _constant_answer(X, y, sw):
    return np.zeros(np.shape(X)[1]), float(np.average(y, weights=sw))


def _lr(X, y, sw):
    lr = LinearRegression().fit(np.asarray(X, dtype=float), y, sample_weight=sw)
    return lr.coef_, lr.intercept_


X0, Y0 = _data()
W0 = np.ones(len(Y0))

CASES = [
    Case("nan_in_X", lambda: (_with(X0, (0, 0), np.nan), Y0, None), ValueError, "X contains NaN"),
    Case("inf_in_X", lambda: (_with(X0, (0, 0), np.inf), Y0, None), ValueError, "X contains inf"),
    Case("nan_in_y", lambda: (X0, _with(Y0, 0, np.nan), None), ValueError, "y contains NaN"),
    Case("inf_in_y", lambda: (X0, _with(Y0, 0, -np.inf), None), ValueError, "y contains inf"),
    Case(
        "nan_in_sample_weight",
        lambda: (X0, Y0, _with(W0, 0, np.nan)),
        ValueError,
        "sample_weight contains NaN",
    ),
    Case(
        "inf_in_sample_weight",
        lambda: (X0, Y0, _with(W0, 0, np.inf)),
        ValueError,
        "sample_weight contains inf",
    ),
    Case("empty_X", lambda: (np.empty((0, 3)), np.empty(0), None), ValueError, "0 sample"),
    Case("no_features", lambda: (np.empty((20, 0)), Y0, None), ValueError, "0 feature"),
    Case("one_sample", lambda: (X0[:1], Y0[:1], None), expected=_constant_answer),
    Case(
        "more_features_than_samples",
        lambda: (*_data(n=6, d=15, seed=3), None),
        expected=_reference,  # the minimum-norm solution, where GD from zero converges
        fit_kwargs={"max_iter": 20000, "tol": 1e-10},
    ),
    Case(
        "constant_feature",
        lambda: (np.c_[X0, np.full(20, 3.7)], Y0, None),
        expected=_lr,
    ),
    Case("all_features_constant", lambda: (np.full((20, 3), 1e5), Y0, None), expected=_lr),
    Case("constant_y", lambda: (X0, np.full(20, -2.5), None), expected=_constant_answer),
    Case("huge_magnitude_1e150", lambda: (X0 * 1e150, Y0 * 1e150, None), expected=_reference),
    Case("tiny_magnitude_1e-150", lambda: (X0 * 1e-150, Y0, None), expected=_reference),
    Case(
        "tiny_y_1e-150",
        lambda: (X0, Y0 * 1e-150, None),
        expected=_reference,
        fit_kwargs={"tol": 1e-156},  # tol is absolute, in the units of the coefficients
    ),
    Case(
        "overflowing_X_1e200",
        lambda: (X0 * 1e200, Y0, None),
        ValueError,
        r"X has values as large as .* overflow float64.*Rescale X",
    ),
    Case(
        "overflowing_y_1e200",
        lambda: (X0, Y0 * 1e200, None),
        ValueError,
        r"y has values as large as .* overflow float64.*Rescale y",
    ),
    Case(
        "underflowing_X_1e-200",
        lambda: (X0 * 1e-200, Y0, None),
        ValueError,
        r"X has no value larger than .* underflow float64.*Rescale X",
    ),
    Case(
        "float32_overflow",
        lambda: ((X0 * 1e20).astype(np.float32), Y0.astype(np.float32), None),
        ValueError,
        "overflow float32",
    ),
    Case("complex_X", lambda: (X0 + 1j, Y0, None), ValueError, "Complex data not supported"),
    Case("complex_y", lambda: (X0, Y0 + 0j, None), ValueError, "Complex data not supported"),
    Case("object_numbers", lambda: (X0.astype(object), Y0.astype(object), None), expected=_lr),
    Case(
        "object_with_None",
        lambda: (_with(X0, (0, 0), None, dtype=object), Y0, None),
        ValueError,
        "X contains NaN",
    ),
    Case("numeric_strings", lambda: (X0.astype(str), Y0.astype(str), None), expected=_lr),
    Case(
        "non_numeric_strings",
        lambda: (_with(X0, (0, 0), "a", dtype=object), Y0, None),
        ValueError,
        "could not convert string to float",
    ),
    Case(
        "string_labels_y",
        lambda: (X0, np.array(["low", "high"] * 10), None),
        ValueError,
        "could not convert string to float",
    ),
    Case("integer_and_bool_X", lambda: ((X0 > 0).astype(int) + (X0 > 1), Y0, None), expected=_lr),
    Case("3d_X", lambda: (X0[:, :, None], Y0, None), ValueError, "dim 3"),
    Case("3d_y", lambda: (X0, Y0[:, None, None], None), ValueError, "dim 3"),
    Case("1d_X", lambda: (X0[:, 0], Y0, None), ValueError, "Expected 2D array"),
    Case(
        "mismatched_lengths",
        lambda: (X0, Y0[:-1], None),
        ValueError,
        "inconsistent numbers of samples",
    ),
    Case(
        "sample_weight_wrong_length",
        lambda: (X0, Y0, W0[:-1]),
        ValueError,
        r"sample_weight.shape == \(19,\), expected \(20,\)",
    ),
    Case(
        "negative_sample_weight",
        lambda: (X0, Y0, _with(W0, 3, -1.0)),
        ValueError,
        "sample_weight must be non-negative",
    ),
    Case(
        "all_zero_sample_weight",
        lambda: (X0, Y0, np.zeros(20)),
        ValueError,
        "(?i)sample.weights? must (not be all zero|contain at least one non-zero)",
    ),
    Case("some_zero_sample_weights", lambda: (X0, Y0, _with(W0, slice(0, 5), 0.0)), expected=_lr),
    Case(
        "weights_summing_past_float_max",
        lambda: (X0, Y0, np.full(20, 1e308)),
        expected=lambda X, y, sw: _lr(X, y, None),  # equal weights: the unweighted answer
    ),
    Case(
        "sparse_with_nan",
        lambda: (sp.csr_matrix(_with(X0, (2, 1), np.nan)), Y0, None),
        ValueError,
        "X contains NaN",
    ),
    Case(
        "sparse_with_inf",
        lambda: (sp.csr_matrix(_with(X0, (2, 1), np.inf)), Y0, None),
        ValueError,
        "X contains inf",
    ),
    Case(
        "sparse_all_constant_gram",  # large enough for the Gram (sufficient statistics) path
        lambda: (sp.csr_matrix(np.full((30000, 8), 0.3)), np.resize(Y0, 30000), None),
        expected=_constant_answer,
    ),
]

FIT_CASES = [c for c in CASES if c.error is None]
ERROR_CASES = [c for c in CASES if c.error is not None]


def _assert_reached(model, case, X, y, sw, rtol, atol_scale):
    coef, intercept = case.expected(X, y, sw)
    assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))
    # Coefficients are in units of y / X: an all-zero answer is judged on that scale.
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    y_scale = max(float(np.max(np.abs(np.asarray(y, dtype=float)))), 1e-300)
    scale = max(np.max(np.abs(coef)), y_scale / max(float(np.max(np.abs(Xd))), 1e-300))
    np.testing.assert_allclose(model.coef_, coef, rtol=rtol, atol=atol_scale * scale)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=rtol, atol=atol_scale * y_scale)


@pytest.mark.parametrize("case", FIT_CASES, ids=lambda c: c.id)
def test_case_fits_like_the_reference(case):
    X, y, sw = case.inputs()
    model = GradientDescentRegressor(**(case.fit_kwargs or {})).fit(X, y, sample_weight=sw)
    _assert_reached(model, case, X, y, sw, rtol=1e-5, atol_scale=1e-6)
    pred = model.predict(X)
    assert np.all(np.isfinite(pred))


@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
@pytest.mark.parametrize("case", FIT_CASES, ids=lambda c: c.id)
def test_case_fits_with_stochastic_sampling(case, sampling):
    if case.id == "sparse_all_constant_gram":
        pytest.skip("the Gram path is full-batch only")
    X, y, sw = case.inputs()
    kwargs = {"max_iter": 3000, **(case.fit_kwargs or {}), "optimizer": sampling}
    kwargs["tol"] = None if case.id == "more_features_than_samples" else kwargs.get("tol", 1e-6)
    kwargs["max_iter"] = min(kwargs["max_iter"], 3000)
    with warnings.catch_warnings():
        # A stochastic run may stop at max_iter; the answer is what is checked.
        warnings.filterwarnings("ignore", "GradientDescentRegressor did not converge")
        model = GradientDescentRegressor(random_state=0, **kwargs).fit(X, y, sample_weight=sw)
    _assert_reached(model, case, X, y, sw, rtol=1e-2, atol_scale=1e-2)


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_case_raises_a_clear_error(case, sampling):
    X, y, sw = case.inputs()
    with pytest.raises(case.error, match=case.match):
        GradientDescentRegressor(optimizer=sampling).fit(X, y, sample_weight=sw)


# -- every entry point ---------------------------------------------------------------
ENTRY_POINTS = ["fit", "partial_fit", "fit_from_statistics", "dask_fit"]

#: (case id, entry point) -> (exception, message) where an entry point departs from fit;
#: each is documented in the "Entry points" table of docs/bad_input.rst.
ENTRY_POINT_DIFFERENCES = {
    # fit scales such weights by a power of two; chunk statistics cannot (each chunk
    # would be scaled by its own power), and say so
    ("weights_summing_past_float_max", "fit_from_statistics"): (
        ValueError,
        r"sample weights .* sum past the largest float64 .* divide them all by one common",
    ),
    ("weights_summing_past_float_max", "dask_fit"): (
        ValueError,
        r"sample weights .* sum past the largest float64 .* divide them all by one common",
    ),
}


def _dask_array(a):
    """``a`` as a dask array of a few row blocks (sparse input densified: Dask fits dense)."""
    da = pytest.importorskip("dask.array")
    a = a.toarray() if sp.issparse(a) else np.asarray(a)
    rows = max(7, -(-len(a) // 4))  # 7-row blocks for the 20-row cases, else 4 blocks
    return da.from_array(a, chunks=(rows,) + (-1,) * (a.ndim - 1))


def _fit_at(entry, X, y, sw, **params):
    model = GradientDescentRegressor(**params)
    if entry == "fit":
        return model.fit(X, y, sample_weight=sw)
    if entry == "partial_fit":
        return model.partial_fit(X, y, sample_weight=sw)
    if entry == "fit_from_statistics":
        return fit_from_statistics(model, SufficientStatistics().update(X, y, sw))
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):  # warnings reach this thread
        return model.fit(_dask_array(X), _dask_array(y), sample_weight=sw)


@pytest.mark.parametrize("entry", ENTRY_POINTS[1:])
@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_case_raises_fits_error_at_every_entry_point(case, entry):
    X, y, sw = case.inputs()
    error, match = ENTRY_POINT_DIFFERENCES.get((case.id, entry), (case.error, case.match))
    with pytest.raises(error, match=match):
        _fit_at(entry, X, y, sw, **(case.fit_kwargs or {}))


@pytest.mark.parametrize("entry", ENTRY_POINTS[1:])
@pytest.mark.parametrize("case", FIT_CASES, ids=lambda c: c.id)
def test_case_fits_at_every_entry_point(case, entry):
    X, y, sw = case.inputs()
    if (case.id, entry) in ENTRY_POINT_DIFFERENCES:
        error, match = ENTRY_POINT_DIFFERENCES[case.id, entry]
        with pytest.raises(error, match=match):
            _fit_at(entry, X, y, sw, **(case.fit_kwargs or {}))
        return
    model = _fit_at(entry, X, y, sw, **(case.fit_kwargs or {}))
    if entry == "partial_fit":  # one epoch: finite, not yet the answer
        assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))
    else:  # the full-batch fit from statistics runs fit's iterations
        _assert_reached(model, case, X, y, sw, rtol=1e-5, atol_scale=1e-6)
    assert np.all(np.isfinite(model.predict(X)))


def test_entry_point_differences_are_documented():
    text = DOC.read_text()
    section = text[text.index("Entry points\n---") :]
    section = section[: section.index("\n.. _")]
    for case_id, entry in ENTRY_POINT_DIFFERENCES:
        assert f"``{case_id}``" in section, f"{case_id} ({entry}) missing from the table"


# -- predict -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_on_frame():
    frame = pd.DataFrame(X0, columns=["a", "b", "c"])
    return GradientDescentRegressor().fit(frame, Y0), frame


PREDICT_CASES = {
    "predict_wrong_number_of_features": (
        lambda f: f.to_numpy()[:, :2],
        ValueError,
        "X has 2 features, but GradientDescentRegressor is expecting 3",
    ),
    "predict_wrong_column_names": (
        lambda f: f.rename(columns={"c": "z"}),
        ValueError,
        "feature names should match",
    ),
    "predict_reordered_column_names": (
        lambda f: f[["c", "b", "a"]],
        ValueError,
        "(?i)feature names must be in the same order",
    ),
    "predict_nan": (lambda f: _with(f.to_numpy(), (0, 0), np.nan), ValueError, "X contains NaN"),
    "predict_sparse_nan": (
        lambda f: sp.csr_matrix(_with(f.to_numpy(), (0, 0), np.nan)),
        ValueError,
        "X contains NaN",
    ),
    "predict_complex": (lambda f: f.to_numpy() + 1j, ValueError, "Complex data not supported"),
    "predict_3d": (lambda f: f.to_numpy()[:, :, None], ValueError, "dim 3"),
}


@pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")
@pytest.mark.parametrize("case_id", list(PREDICT_CASES))
def test_predict_bad_input(fitted_on_frame, case_id):
    model, frame = fitted_on_frame
    build, error, match = PREDICT_CASES[case_id]
    with pytest.raises(error, match=match):
        model.predict(build(frame))


def test_predict_without_names_warns_and_predicts(fitted_on_frame):
    model, frame = fitted_on_frame
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        plain = model.predict(frame.to_numpy())
    np.testing.assert_array_equal(plain, model.predict(frame))


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GradientDescentRegressor().predict(X0)


def test_zero_weights_equal_dropped_rows():
    sw = _with(W0, slice(0, 5), 0.0)
    kept = GradientDescentRegressor(tol=1e-10).fit(X0[5:], Y0[5:])
    weighted = GradientDescentRegressor(tol=1e-10).fit(X0, Y0, sample_weight=sw)
    np.testing.assert_allclose(weighted.coef_, kept.coef_, rtol=1e-7)
    np.testing.assert_allclose(weighted.intercept_, kept.intercept_, rtol=1e-7)


def test_huge_weights_equal_unit_weights():
    unit = GradientDescentRegressor().fit(X0, Y0)
    huge = GradientDescentRegressor().fit(X0, Y0, sample_weight=np.full(20, 1e308))
    np.testing.assert_allclose(huge.coef_, unit.coef_, rtol=1e-12)


def test_magnitude_limits_are_tight():
    """Just inside the limits fits; just outside raises (the checks are not overly strict)."""
    X = X0 / np.abs(X0).max()
    model = GradientDescentRegressor(tol=None, max_iter=50)
    assert np.all(np.isfinite(model.fit(X * 1e152, Y0).coef_))
    assert np.all(np.isfinite(model.fit(X * 2e-151, Y0).coef_))
    with pytest.raises(ValueError, match="overflow"):
        GradientDescentRegressor().fit(X * 1e154, Y0)
    with pytest.raises(ValueError, match="underflow"):
        GradientDescentRegressor().fit(X * 1e-152, Y0)


def test_all_zero_X_is_not_an_underflow():
    model = GradientDescentRegressor().fit(np.zeros((20, 3)), Y0)
    np.testing.assert_array_equal(model.coef_, 0.0)
    assert model.intercept_ == pytest.approx(Y0.mean())


def test_every_case_is_documented():
    text = DOC.read_text()
    documented = set(re.findall(r"``([a-zA-Z0-9_\-.]+)``", text))
    ids = {c.id for c in CASES} | set(PREDICT_CASES) | {"predict_without_names", "predict_unfitted"}
    missing = sorted(ids - documented)
    assert not missing, f"cases missing from {DOC.name}: {missing}"
