"""Determinism: same ``random_state``, same bits; across runs, processes and threads.

Also checks that the compiled (numba) epochs and the readable NumPy epochs
(``gdreg._kernels.ENABLED = False``) agree to round-off.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import Parallel, delayed, parallel_backend
from sklearn.base import clone

from gdreg import GradientDescentRegressor, _kernels

pytestmark = [
    pytest.mark.filterwarnings("error::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

SAMPLINGS = ["batch", "stochastic", "minibatch"]


def make_data(seed=0, n=300, d=5, k=1, sparse=False):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    if sparse:
        X[rng.rand(n, d) < 0.6] = 0.0
    Y = X @ rng.randn(d, k) + 1.0 + 0.1 * rng.randn(n, k)
    y = Y[:, 0] if k == 1 else Y
    return (sp.csr_matrix(X) if sparse else X), y


def _fingerprint(model):
    """Exact bits of the fitted parameters and curves."""
    parts = [model.coef_, np.asarray(model.intercept_), model.loss_curve_, model.change_curve_]
    return [np.ascontiguousarray(p, dtype=np.float64).tobytes().hex() for p in parts] + [
        model.n_iter_,
        model.t_,
    ]


def _model(sampling, seed=0, **kwargs):
    return GradientDescentRegressor(
        optimizer=sampling, random_state=seed, max_iter=30, tol=None, batch_size=16, **kwargs
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_same_seed_same_bits_across_runs(sampling, sparse):
    X, y = make_data(sparse=sparse)
    first = _fingerprint(_model(sampling).fit(X, y))
    assert _fingerprint(_model(sampling).fit(X, y)) == first
    # a RandomState instance seeded the same way is the same stream
    assert _fingerprint(_model(sampling, seed=np.random.RandomState(0)).fit(X, y)) == first


@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
def test_different_seeds_differ(sampling):
    X, y = make_data()
    assert _fingerprint(_model(sampling, seed=0).fit(X, y)) != _fingerprint(
        _model(sampling, seed=1).fit(X, y)
    )


_CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_determinism import SAMPLINGS, _fingerprint, _model, make_data
out = {{}}
for sparse in (False, True):
    X, y = make_data(sparse=sparse)
    for sampling in SAMPLINGS:
        out[f"{{sampling}}-{{sparse}}"] = _fingerprint(_model(sampling).fit(X, y))
print(json.dumps(out))
"""


def test_same_seed_same_bits_across_processes(tmp_path):
    tests_dir = str(__import__("pathlib").Path(__file__).resolve().parent)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=tests_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    theirs = json.loads(child.stdout.strip().splitlines()[-1])
    for sparse in (False, True):
        X, y = make_data(sparse=sparse)
        for sampling in SAMPLINGS:
            ours = json.loads(json.dumps(_fingerprint(_model(sampling).fit(X, y))))
            assert theirs[f"{sampling}-{sparse}"] == ours, (sampling, sparse)


def _jobs():
    """Eight different fits: every sampling, dense and sparse, 1 and 2 targets."""
    jobs = []
    for i, (sampling, sparse, k) in enumerate(
        [(s, sparse, k) for s in SAMPLINGS for sparse in (False, True) for k in (1, 2)][:8]
    ):
        X, y = make_data(seed=i, k=k, sparse=sparse)
        jobs.append((_model(sampling, seed=i, alpha=0.01), X, y))
    return jobs


def _fit(model, X, y):
    return _fingerprint(clone(model).fit(X, y))


def test_joblib_threads_equal_sequential_fits():
    jobs = _jobs()
    sequential = [_fit(*job) for job in jobs]
    with parallel_backend("threading", n_jobs=4):
        threaded = Parallel()(delayed(_fit)(*job) for job in jobs)
    assert threaded == sequential


def test_plain_threads_equal_sequential_fits():
    jobs = _jobs() * 2  # the same fits twice, running at the same time
    sequential = [_fit(*job) for job in jobs]
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(i):
        barrier.wait()  # start together so that the fits overlap
        results[i] = _fit(*jobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == sequential


def test_one_estimator_shared_by_threads_through_clone():
    """GridSearchCV-style: one template, cloned per thread, never modified."""
    X, y = make_data()
    template = _model("stochastic")
    params_before = template.get_params(deep=True)
    with parallel_backend("threading", n_jobs=3):
        fits = Parallel()(delayed(_fit)(template, X, y) for _ in range(6))
    assert all(f == fits[0] for f in fits)
    assert not hasattr(template, "coef_")
    assert repr(template.get_params(deep=True)) == repr(params_before)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sampling", ["stochastic", "minibatch"])
def test_compiled_and_reference_epochs_agree(monkeypatch, sampling, sparse, k):
    X, y = make_data(k=k, sparse=sparse)
    sw = np.random.RandomState(5).uniform(0.5, 2.0, size=len(y))
    compiled = _model(sampling, alpha=0.01).set_params(max_iter=8).fit(X, y, sample_weight=sw)
    monkeypatch.setattr(_kernels, "ENABLED", False)
    reference = _model(sampling, alpha=0.01).set_params(max_iter=8).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(compiled.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.intercept_, reference.intercept_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.loss_curve_, reference.loss_curve_, rtol=1e-9)
    assert compiled.t_ == reference.t_
