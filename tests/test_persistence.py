"""Safe persistence: skops.io and pickle round trips, loaded in a fresh process.

The safe recipe (the one in the README): ``skops.io.dump``, then
``skops.io.get_untrusted_types`` and trust exactly those types after checking
that they are gdreg's own classes, never ``trusted=True``.
"""

from __future__ import annotations

import json
import pathlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import skops.io as sio
from sklearn.exceptions import ConvergenceWarning
from skops.io.exceptions import UntrustedTypesFoundException

import gdreg
from gdreg import GradientDescentRegressor
from gdreg.optimizers import Adam, AveragedSGD, Momentum
from gdreg.schedules import InverseSqrt

pytestmark = [
    pytest.mark.filterwarnings("error::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def _data(n=60, d=4, k=1, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    Y = X @ rng.randn(d, k) + 0.5
    return X, (Y[:, 0] if k == 1 else Y)


def _models():
    """Fitted estimators covering every kind of fitted state gdreg produces."""
    X, y = _data()
    X2, Y2 = _data(k=2, seed=1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    stream = GradientDescentRegressor(optimizer=Adam(sampling="minibatch"), random_state=0)
    for start in range(0, 60, 20):
        stream.partial_fit(X[start : start + 20], y[start : start + 20])
    return {
        "batch": (GradientDescentRegressor().fit(X, y), X),
        "stochastic_sparse_path": (
            GradientDescentRegressor(optimizer="stochastic", random_state=0, record_path=True).fit(
                sp.csr_matrix(X), y
            ),
            X,
        ),
        "minibatch_two_targets_float32": (
            GradientDescentRegressor(optimizer="minibatch", random_state=0, alpha=0.1).fit(
                X2.astype(np.float32), Y2.astype(np.float32)
            ),
            X2.astype(np.float32),
        ),
        "momentum_invsqrt": (
            GradientDescentRegressor(
                optimizer=Momentum(sampling="stochastic"),
                learning_rate=InverseSqrt(0.01, t0=60),
                random_state=0,
                max_iter=50,
            ).fit(X, y),
            X,
        ),
        "averaged_sgd": (
            GradientDescentRegressor(optimizer=AveragedSGD(), random_state=0, max_iter=50).fit(
                X, y
            ),
            X,
        ),
        "feature_names": (GradientDescentRegressor().fit(frame, y), frame),
        "partial_fit_stream": (stream, X),
    }


with warnings.catch_warnings():  # short fits: convergence is not what is tested here
    warnings.simplefilter("ignore", ConvergenceWarning)
    MODELS = _models()


#: Types outside gdreg that a gdreg model may hold and that run no code when loaded:
#: ``partial_fit``'s stream state records its dtype as a ``numpy.dtype``.
DATA_TYPES = {"numpy.dtype"}


def _is_gdreg_type(name: str) -> bool:
    return name.split(".")[0] == "gdreg" or name in DATA_TYPES


def safe_load(path):
    """Load a skops file trusting only gdreg's own types (the README recipe)."""
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = [t for t in untrusted if not _is_gdreg_type(t)]
    if unexpected:
        raise TypeError(f"refusing to load {path}: it holds non-gdreg types {unexpected}")
    return sio.load(path, trusted=untrusted)


@pytest.mark.parametrize("name", list(MODELS))
def test_skops_needs_only_gdreg_types_trusted(tmp_path, name):
    model, X = MODELS[name]
    path = tmp_path / f"{name}.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted, "gdreg types must not be trusted by default"
    assert all(_is_gdreg_type(t) for t in untrusted), untrusted
    # every one of them is a public gdreg class or a private state container of one
    public = {f"{type(model).__module__}.{type(model).__qualname__}"}
    assert public <= set(untrusted)
    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path)  # nothing is trusted implicitly
    loaded = safe_load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert repr(loaded) == repr(model)


def _malicious_schedule(t):  # any plain function is code skops will not run unasked
    return 0.01


def test_safe_load_refuses_foreign_types(tmp_path):
    X, y = _data()
    model = GradientDescentRegressor(learning_rate=_malicious_schedule, max_iter=5).fit(X, y)
    path = tmp_path / "foreign.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert any(not _is_gdreg_type(t) for t in untrusted), untrusted
    with pytest.raises(TypeError, match="non-gdreg types"):
        safe_load(path)


_CHILD = """
import json, pathlib, pickle, sys
import numpy as np
import skops.io as sio
sys.path.insert(0, {tests!r})
from test_persistence import safe_load
root = pathlib.Path({root!r})
names = json.loads((root / "names.json").read_text())
for name in names:
    X = pickle.loads((root / f"{{name}}.X.pkl").read_bytes())
    for kind, model in (
        ("skops", safe_load(root / f"{{name}}.skops")),
        ("pickle", pickle.loads((root / f"{{name}}.pkl").read_bytes())),
    ):
        np.save(root / f"{{name}}.{{kind}}.pred.npy", model.predict(X))
        # a loaded stream keeps streaming, a loaded fit keeps predicting
        if name == "partial_fit_stream":
            model.partial_fit(X[:20], np.zeros(20))
            np.save(root / f"{{name}}.{{kind}}.next.npy", model.coef_)
print("ok", sys.modules.get("gdreg") is not None)
"""


def test_round_trip_in_a_fresh_process(tmp_path):
    for name, (model, X) in MODELS.items():
        sio.dump(model, tmp_path / f"{name}.skops")
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps(model))
        (tmp_path / f"{name}.X.pkl").write_bytes(pickle.dumps(X))
    (tmp_path / "names.json").write_text(json.dumps(list(MODELS)))
    tests_dir = str(pathlib.Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=tests_dir, root=str(tmp_path))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["ok", "True"]
    for name, (model, X) in MODELS.items():
        expected = model.predict(X)
        for kind in ("skops", "pickle"):
            got = np.load(tmp_path / f"{name}.{kind}.pred.npy")
            assert got.dtype == expected.dtype, (name, kind)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} via {kind}")
    # the stream continues identically from both formats and from the original
    stream, X = MODELS["partial_fit_stream"]
    reference = pickle.loads(pickle.dumps(stream)).partial_fit(X[:20], np.zeros(20)).coef_
    for kind in ("skops", "pickle"):
        np.testing.assert_array_equal(
            np.load(tmp_path / f"partial_fit_stream.{kind}.next.npy"), reference
        )


def test_unfitted_and_cloned_estimators_round_trip(tmp_path):
    model = GradientDescentRegressor(optimizer=Adam(), learning_rate=InverseSqrt(0.1))
    path = tmp_path / "unfitted.skops"
    sio.dump(model, path)
    loaded = safe_load(path)
    assert repr(loaded) == repr(model)
    X, y = _data()
    np.testing.assert_array_equal(
        loaded.set_params(random_state=0).fit(X, y).coef_,
        model.set_params(random_state=0).fit(X, y).coef_,
    )


def test_version_is_importable_for_provenance():
    # Saved models record gdreg.__version__ and warn when loaded under another one
    # (tests/test_validation_round2.py); the version is public for provenance.
    assert isinstance(gdreg.__version__, str) and gdreg.__version__
