"""Dask: fit from distributed statistics, Incremental for the stochastic modes, GridSearchCV.

One real ``LocalCluster`` (2 worker processes on 127.0.0.1) serves the whole
module and is shut down at its end.
"""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from gdreg import GradientDescentRegressor, normal_equation

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # dashboard_address=None still serves the scheduler's HTTP routes on 8787,
            # which clashes with any other cluster on the machine: take a free port
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _problem(n=6000, d=5, k=None, seed=0, shift=2.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d) + shift
    coef = rng.normal(size=(d,) if k is None else (d, k))
    y = X @ coef + 0.7 + 0.1 * rng.normal(size=(n,) if k is None else (n, k))
    return X, y


def _relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize(
    "params, k, weighted, chunks",
    [
        ({}, None, False, (1000, 5)),
        ({"alpha": 0.05}, 2, True, (700, 2)),  # ragged rows, split columns
        ({"fit_intercept": False}, None, True, (1500, 5)),
    ],
)
def test_fit_equals_in_memory_fit(client, params, k, weighted, chunks):
    X, y = _problem(k=k)
    w = np.random.default_rng(1).uniform(0.1, 2.0, size=len(X)) if weighted else None
    params = {"tol": None, "max_iter": 200, **params}
    in_memory = GradientDescentRegressor(**params).fit(X, y, sample_weight=w)
    Xd = da.from_array(X, chunks=chunks)
    yd = da.from_array(y, chunks=(900, *y.shape[1:]))  # misaligned on purpose
    wd = None if w is None else da.from_array(w, chunks=1100)
    with distributed.get_task_stream(client) as tasks:
        on_dask = GradientDescentRegressor(**params).fit(Xd, yd, sample_weight=wd)
    assert _relative(on_dask.coef_, in_memory.coef_) < 1e-10
    if params.get("fit_intercept", True):
        assert _relative(on_dask.intercept_, in_memory.intercept_) < 1e-10
    else:
        assert on_dask.intercept_ == 0.0
    np.testing.assert_allclose(on_dask.loss_curve_, in_memory.loss_curve_, rtol=1e-10)
    assert on_dask.n_features_in_ == X.shape[1] and on_dask.n_iter_ == 200
    # The statistics were computed on the cluster's workers, one task per row block.
    block_tasks = [t for t in tasks.data if str(t["key"]).startswith("_block_statistics")]
    assert len(block_tasks) == len(Xd.chunks[0])
    assert {t["worker"] for t in block_tasks} <= set(client.scheduler_info()["workers"])


def test_data_generated_on_the_workers(client):
    # Nothing is sent from the client: X and y are built block by block on the workers.
    rs = da.random.RandomState(0)
    Xd = rs.normal(size=(20_000, 4), chunks=(2_500, 4)) + 5.0
    yd = Xd @ np.array([1.0, -1.0, 0.5, 2.0]) + 3.0 + 0.1 * rs.normal(size=20_000, chunks=2_500)
    reg = GradientDescentRegressor(tol=1e-12, max_iter=5_000).fit(Xd, yd)
    X, y = client.compute([Xd, yd], sync=True)
    coef, intercept = normal_equation(X, y)
    np.testing.assert_allclose(reg.coef_, coef, rtol=1e-8)
    assert reg.intercept_ == pytest.approx(intercept, rel=1e-8)


def test_dask_dataframe_keeps_feature_names(client):
    X, y = _problem(n=2000, d=3)
    import pandas as pd

    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=4)
    series = dd.from_pandas(pd.Series(y), npartitions=4)
    reg = GradientDescentRegressor(tol=None, max_iter=100).fit(frame, series)
    ref = GradientDescentRegressor(tol=None, max_iter=100).fit(X, y)
    np.testing.assert_array_equal(reg.feature_names_in_, ["a", "b", "c"])
    assert _relative(reg.coef_, ref.coef_) < 1e-10


def test_stochastic_fit_points_to_incremental_and_failure_keeps_the_fit(client):
    X, y = _problem(n=1000, d=3)
    reg = GradientDescentRegressor().fit(X, y)
    coef = reg.coef_.copy()
    Xd = da.from_array(X, chunks=250)
    with pytest.raises(ValueError, match="Incremental"):
        reg.set_params(optimizer="stochastic").fit(Xd, da.from_array(y, chunks=250))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        reg.set_params(optimizer="batch").fit(Xd, da.from_array(y[:-1], chunks=250))
    np.testing.assert_array_equal(reg.coef_, coef)


@pytest.mark.parametrize("optimizer", ["stochastic", "minibatch"])
def test_incremental_streams_shuffled_blocks_through_partial_fit(client, optimizer):
    X, y = _problem(n=4000, d=3, seed=2)
    Xd, yd = da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    params = {"optimizer": optimizer, "batch_size": 16, "random_state": 0}
    inc = wrappers.Incremental(
        GradientDescentRegressor(**params),
        scoring="neg_mean_squared_error",  # dask-ml's default R^2 fails on dask arrays
        shuffle_blocks=True,
        random_state=0,
    )
    epochs = 4
    for _ in range(epochs):
        inc.partial_fit(Xd, yd)
    model = inc.estimator_
    assert model.n_iter_ == epochs * 4
    # The same partial_fit calls made locally, with the blocks in the order dask-ml
    # shuffles them into (an int random_state reseeds the shuffle on every call),
    # give the same model: each call ran on a worker, one block at a time.
    order = list(range(4))
    np.random.RandomState(0).shuffle(order)
    local = GradientDescentRegressor(**params)
    for _ in range(epochs):
        for b in order:
            local.partial_fit(X[b * 1000 : (b + 1) * 1000], y[b * 1000 : (b + 1) * 1000])
    np.testing.assert_allclose(model.coef_, local.coef_, rtol=1e-12)  # worker vs local round-off
    coef, intercept = normal_equation(X, y)
    np.testing.assert_allclose(model.coef_, coef, atol=2e-2)
    assert model.intercept_ == pytest.approx(intercept, abs=5e-2)
    assert inc.score(Xd, yd) == pytest.approx(-np.mean((model.predict(X) - y) ** 2), rel=1e-10)


def test_incremental_equals_local_partial_fit_loop(client):
    X, y = _problem(n=3000, d=3, seed=3)
    Xd, yd = da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    params = {"optimizer": "minibatch", "batch_size": 10, "random_state": 0}
    inc = wrappers.Incremental(
        GradientDescentRegressor(**params),
        scoring="neg_mean_squared_error",
        shuffle_blocks=False,
    )
    local = GradientDescentRegressor(**params)
    for _ in range(3):
        inc.partial_fit(Xd, yd)
        for start in range(0, 3000, 1000):
            local.partial_fit(X[start : start + 1000], y[start : start + 1000])
    np.testing.assert_allclose(inc.estimator_.coef_, local.coef_, rtol=1e-12)
    assert inc.estimator_.intercept_ == pytest.approx(local.intercept_, rel=1e-12)
    assert inc.estimator_.t_ == local.t_ == 9 * 100


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_through_joblib_dask_backend(client):
    X, y = _problem(n=600, d=4)
    grid = {"alpha": [0.0, 0.01, 0.1], "optimizer": ["batch", "minibatch"]}
    estimator = GradientDescentRegressor(random_state=0, max_iter=200, tol=1e-4)
    cv = KFold(3, shuffle=True, random_state=0)
    local = GridSearchCV(estimator, grid, cv=cv).fit(X, y)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        remote = GridSearchCV(estimator, grid, cv=cv, n_jobs=-1).fit(X, y)
    assert len(tasks.data) > 0  # the fits ran on the cluster
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], rtol=1e-12
    )
    np.testing.assert_allclose(remote.best_estimator_.coef_, local.best_estimator_.coef_)


@pytest.mark.parametrize(
    "scale_X, scale_y",
    [(1e200, 1.0), (1.0, 1e200), (1e-200, 1.0)],
    ids=["X_1e200", "y_1e200", "X_1e-200"],
)
def test_magnitude_checks_give_fits_message_and_keep_the_fit(client, scale_X, scale_y):
    # On the committed code: SciPy's "array must not contain infs or NaNs", "the learning
    # rate is too large", and for X ~ 1e-200 R^2 = 0 with converged_=True, no warning.
    X, y = _problem(n=3000)
    X, y = X * scale_X, y * scale_y
    with pytest.raises(ValueError) as in_memory:
        GradientDescentRegressor().fit(X, y)
    reg = GradientDescentRegressor().fit(*_problem(n=300))
    coef = reg.coef_.copy()
    with pytest.raises(ValueError) as on_dask:
        reg.fit(da.from_array(X, chunks=(700, 5)), da.from_array(y, chunks=700))
    assert str(on_dask.value) == str(in_memory.value)
    np.testing.assert_array_equal(reg.coef_, coef)
