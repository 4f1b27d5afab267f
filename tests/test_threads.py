"""gdreg's own threads follow the limits users, threadpoolctl and joblib set.

The split passes of :mod:`gdreg._kernels._summaries` run fixed row blocks on
gdreg's thread pool; here the threads that actually ran them are recorded
(``threading.get_ident()`` in the block function, or around the compiled row
pass inside a real fit) and compared with the limit in force.
"""

import threading

import numpy as np
import pytest
from joblib import Parallel, cpu_count, delayed, parallel_config
from threadpoolctl import threadpool_limits

from gdreg import GradientDescentRegressor, _kernels, _threads
from gdreg._kernels import _summaries


def _threads_used(n_rows: int = 4000) -> tuple[int, list]:
    """Run a split pass; return how many distinct threads ran its blocks, and its results."""
    seen = []

    def block(rows):
        seen.append(threading.get_ident())
        return rows

    results = _summaries.map_row_parts(block, n_rows, np.zeros((n_rows, 1)))
    return len(set(seen)), results


@pytest.fixture
def split_everything(monkeypatch):
    monkeypatch.setattr(_summaries, "SPLIT_MIN_SIZE", 0)


def test_blocks_come_back_in_order_whatever_the_budget(split_everything, monkeypatch):
    expected = [slice(4000 * p // 4, 4000 * (p + 1) // 4) for p in range(4)]
    for budget in (1, 2, 3, 4, 16):
        monkeypatch.setattr(_summaries, "thread_budget", lambda budget=budget: budget)
        used, results = _threads_used()
        assert results == expected
        assert used <= min(budget, _summaries._ROW_PARTS)


def test_threadpool_limits_one_runs_every_block_in_the_calling_thread(split_everything):
    caller = threading.get_ident()
    seen = []

    def block(rows):
        seen.append(threading.get_ident())
        return rows.stop - rows.start

    with threadpool_limits(limits=1):
        assert _threads.thread_budget() == 1
        sizes = _summaries.map_row_parts(block, 4000, np.zeros((4000, 1)))
    assert sizes == [1000] * 4 and seen == [caller] * 4


def test_an_unlimited_pass_may_use_the_pool(split_everything):
    if _threads.thread_budget() < 2:
        pytest.skip("one core, or a thread limit set around the test run")
    used, _ = _threads_used()
    assert 1 <= used <= min(_threads.thread_budget(), _summaries._ROW_PARTS)


@pytest.mark.parametrize(
    "variable", ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"]
)
def test_thread_count_variables_limit_the_budget(monkeypatch, split_everything, variable):
    monkeypatch.setenv(variable, "1")
    assert _threads.environment_limit() == 1
    assert _threads.thread_budget() == 1
    assert _threads_used()[0] == 1


@pytest.mark.parametrize("value, limit", [("3", 3), ("2,1", 2), ("0", None), ("many", None)])
def test_unreadable_variables_do_not_limit(monkeypatch, value, limit):
    for name in _threads.LIMIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _threads.environment_limit() == limit


def test_the_budget_never_exceeds_the_cores_of_the_process(monkeypatch):
    for name in _threads.LIMIT_VARIABLES:
        monkeypatch.setenv(name, "64")
    monkeypatch.setattr(_threads, "available_cores", lambda: 3)
    monkeypatch.setattr(_threads, "library_limit", lambda: None)
    assert _threads.thread_budget() == 3


def test_the_library_limit_follows_threadpool_limits():
    unlimited = _threads.library_limit()
    with threadpool_limits(limits=1):
        assert _threads.library_limit() == 1
    assert _threads.library_limit() == unlimited


def _worker_pass() -> dict:
    """What a split pass does inside a joblib worker (sent by value: a nested function)."""
    import os

    import numpy as np

    from gdreg import _threads
    from gdreg._kernels import _summaries

    _summaries.SPLIT_MIN_SIZE = 0
    seen = []

    def block(rows):
        seen.append(threading.get_ident())
        return rows.stop

    _summaries.map_row_parts(block, 4000, np.zeros((4000, 1)))
    return {
        "threads": len(set(seen)),
        "budget": _threads.thread_budget(),
        "omp": os.environ.get("OMP_NUM_THREADS"),
    }


def _in_workers(**config) -> list:
    import cloudpickle

    task = cloudpickle.loads(cloudpickle.dumps(_worker_pass))  # by value, not by module
    with parallel_config(backend="loky", **config):
        return Parallel(n_jobs=2)(delayed(task)() for _ in range(2))


def test_inside_loky_workers_the_pool_uses_the_workers_share():
    """joblib gives each of n_jobs workers cpu_count() // n_jobs threads."""
    share = max(1, cpu_count() // 2)
    for out in _in_workers():
        assert out["omp"] == str(share)
        assert out["budget"] <= share and 1 <= out["threads"] <= share


def test_inner_max_num_threads_one_means_one_thread_per_worker():
    for out in _in_workers(inner_max_num_threads=1):
        assert out == {"threads": 1, "budget": 1, "omp": "1"}


@pytest.mark.parametrize("optimizer", ["stochastic", "minibatch"])
def test_a_fit_runs_its_passes_on_no_more_threads_than_allowed(monkeypatch, optimizer):
    """The compiled row passes of a real fit, counted by the thread that ran each."""
    monkeypatch.setattr(_summaries, "SPLIT_MIN_SIZE", 0)
    monkeypatch.setattr(_kernels, "ONE_PASS_MIN_SIZE", 0)
    original, seen = _summaries._row_pass, []

    def recorded(*args):
        seen.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(_summaries, "_row_pass", recorded)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 5))
    y = X @ rng.standard_normal(5) + 1.0

    def fit():
        seen.clear()
        model = GradientDescentRegressor(optimizer=optimizer, max_iter=3, tol=None, random_state=0)
        return model.fit(X, y), set(seen)

    free, free_threads = fit()
    with threadpool_limits(limits=1):
        limited, limited_threads = fit()
    assert free_threads, "the split row passes did not run"
    assert limited_threads == {threading.get_ident()}
    assert len(free_threads) <= min(_threads.thread_budget(), _summaries._ROW_PARTS)
    # the blocks are the same whatever ran them: bitwise the same fit
    np.testing.assert_array_equal(limited.coef_, free.coef_)
    np.testing.assert_array_equal(limited.intercept_, free.intercept_)


def test_limited_and_unlimited_summaries_agree_bitwise(split_everything):
    X = np.random.default_rng(5).standard_normal((5001, 9)) + 2.0
    weights = np.random.default_rng(6).uniform(0.5, 2.0, 5001)
    free = _kernels.column_summary(X, weights)
    free_norm = _kernels.max_weighted_row_norm(X, X[0], weights)
    with threadpool_limits(limits=1):
        limited = _kernels.column_summary(X, weights)
        limited_norm = _kernels.max_weighted_row_norm(X, X[0], weights)
    for a, b in zip(free, limited, strict=True):
        np.testing.assert_array_equal(a, b)
    assert free_norm == limited_norm
    np.testing.assert_allclose(free[2], X.T @ weights, rtol=1e-12)


# -- the first fit of a fresh (worker) process ------------------------------------------
_LOAD_SCRIPT = """
import json, sys
import numpy as np
from gdreg import GradientDescentRegressor
from gdreg._kernels import _plain

rng = np.random.default_rng(0)
X = rng.standard_normal((300, 4))
y = X @ np.array([1.0, -2.0, 3.0, 0.5]) + 1.0
model = GradientDescentRegressor(optimizer="stochastic", max_iter=3, tol=None, random_state=0)
coef = model.fit(X, y).coef_.tolist()
stats = _plain._sgd_dense.stats
loaded_without_compiler = "numba.np.linalg" not in sys.modules

import numba  # compiling something new after a load still works (numba refreshes then)

@numba.njit
def norm(a):
    return np.linalg.norm(a)

print(json.dumps({
    "coef": coef,
    "hits": sum(stats.cache_hits.values()),
    "misses": sum(stats.cache_misses.values()),
    "loaded_without_compiler": loaded_without_compiler,
    "norm": norm(np.array([3.0, 4.0])),
}))
"""


def test_a_kernel_on_disk_loads_without_numbas_compiler(tmp_path):
    """The second process loads the kernel, gets the same fit, and can still compile."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_DISABLE_JIT", None)

    def run():
        done = subprocess.run(
            [sys.executable, "-c", _LOAD_SCRIPT], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    compiled, loaded = run(), run()
    assert compiled["misses"] >= 1 and compiled["hits"] == 0
    assert loaded["hits"] >= 1 and loaded["misses"] == 0
    assert loaded["loaded_without_compiler"]  # numba's registries were not imported to load
    assert loaded["coef"] == compiled["coef"]  # the same machine code: bitwise the same fit
    assert loaded["norm"] == 5.0
