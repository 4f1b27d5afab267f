"""Short reprs of optimizers and schedules, and HTML reprs that link to the API pages."""

import pickle

import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_diabetes

from gdreg import GradientDescentRegressor, _repr
from gdreg.optimizers import SVRG, Adam, GradientDescent, Optimizer
from gdreg.optimizers._base import _DuckOptimizer
from gdreg.schedules import Constant, ExponentialDecay, InverseSqrt


@pytest.fixture(scope="module")
def fitted():
    X, y = load_diabetes(return_X_y=True)
    return GradientDescentRegressor().fit(X, y)


def test_a_schedule_resolved_from_the_data_reads_in_four_digits(fitted):
    eta0 = fitted.learning_rate_.eta0
    assert len(repr(eta0)) > 12  # a computed value, with every digit
    assert repr(fitted.learning_rate_) == f"Constant(eta0={eta0:.4g})"
    # the HTML repr cuts anything over 30 characters in the middle
    assert len(repr(fitted.learning_rate_)) <= 30


@pytest.mark.parametrize(
    ("obj", "text"),
    [
        (Constant(1 / 3), "Constant(eta0=0.3333)"),
        (Constant(2.0), "Constant(eta0=2.0)"),
        (ExponentialDecay(gamma=0.99999), "ExponentialDecay(gamma=0.99999)"),  # typed: exact
        (ExponentialDecay(gamma=1 - 1e-9), "ExponentialDecay(gamma=1.0)"),
        (InverseSqrt(np.float32(0.1), t0=np.int64(250)), "InverseSqrt(eta0=0.1, t0=250)"),
        (Adam(beta1=0.123456789, sampling="minibatch"), "Adam(beta1=0.1235, sampling='minibatch')"),
        (SVRG(), "SVRG()"),
        (
            GradientDescent(batch_size=7, sampling="minibatch"),
            "GradientDescent(batch_size=7, sampling='minibatch')",
        ),
        # set_params does not check (the constructor would refuse nan)
        (Constant().set_params(eta0=float("nan")), "Constant(eta0=nan)"),
    ],
)
def test_readable_repr(obj, text):
    assert repr(obj) == text


def test_print_changed_only_false_lists_every_parameter():
    with config_context(print_changed_only=False):
        assert repr(Constant()) == "Constant(eta0=0.01)"
        assert repr(Adam()) == (
            "Adam(batch_size=None, beta1=0.9, beta2=0.999, eps=1e-08, sampling='batch')"
        )


def test_only_the_text_is_rounded(fitted):
    schedule = fitted.learning_rate_
    eta0 = schedule.eta0
    assert schedule.get_params()["eta0"] == eta0
    assert clone(schedule).eta0 == eta0
    assert pickle.loads(pickle.dumps(schedule)).eta0 == eta0
    optimizer = Adam(beta1=0.123456789)
    assert clone(optimizer).beta1 == 0.123456789
    assert pickle.loads(pickle.dumps(optimizer)).get_params() == optimizer.get_params()


def test_skops_round_trip_keeps_every_digit(tmp_path, fitted):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(fitted, path)
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert loaded.learning_rate_.eta0 == fitted.learning_rate_.eta0
    assert repr(loaded.learning_rate_) == repr(fitted.learning_rate_)


def test_estimator_repr_is_scikit_learns(fitted):
    # the estimator's own parameters are what the user typed: printed as scikit-learn does
    reg = GradientDescentRegressor(eta0=1 / 3, learning_rate="constant")
    assert (
        repr(reg) == "GradientDescentRegressor(eta0=0.3333333333333333, learning_rate='constant')"
    )


def test_the_html_repr_shows_the_readable_schedule(fitted):
    html = fitted._repr_html_()
    assert repr(fitted.learning_rate_) in html
    assert "Constant(eta0..." not in html


@pytest.mark.parametrize(
    ("obj", "page"),
    [
        (GradientDescentRegressor(), "gdreg.GradientDescentRegressor"),
        (Adam(), "gdreg.optimizers.Adam"),
        (InverseSqrt(), "gdreg.schedules.InverseSqrt"),
    ],
)
def test_doc_link_points_at_the_api_page(monkeypatch, obj, page):
    monkeypatch.setenv(_repr.DOCS_URL_VARIABLE, "https://example.org/gdreg/")
    link = f"https://example.org/gdreg/generated/{page}.html"
    assert obj._get_doc_link() == link
    assert f'href="{link}"' in obj._repr_html_()


def test_doc_link_defaults_to_the_local_build(monkeypatch, tmp_path):
    monkeypatch.delenv(_repr.DOCS_URL_VARIABLE, raising=False)
    monkeypatch.setattr(_repr, "LOCAL_BUILD", tmp_path)
    assert GradientDescentRegressor()._get_doc_link() == ""  # nothing built: no dead link
    (tmp_path / "index.html").write_text("<html></html>")
    link = GradientDescentRegressor()._get_doc_link()
    assert link == f"{tmp_path.as_uri()}/generated/gdreg.GradientDescentRegressor.html"


def test_no_link_for_classes_without_a_page(monkeypatch):
    monkeypatch.setenv(_repr.DOCS_URL_VARIABLE, "https://example.org")

    class SignDescent(Optimizer):  # a user's rule: gdreg has no page for it
        def init(self, params):
            return ()

        def update(self, grad, state, params, step_size):
            return -step_size * np.sign(grad), state

    assert SignDescent()._get_doc_link() == ""
    assert _DuckOptimizer(SignDescent())._get_doc_link() == ""  # private adapter
