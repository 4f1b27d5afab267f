"""The estimator against a tiny pure-NumPy loop written here, and the loop's own rules."""

import numpy as np
import pytest
from _problems import objective_of, weighted_problem

from gdreg import DivergenceError, GradientDescentRegressor, _kernels, _loop
from gdreg._accuracy import certificate
from gdreg._objective import GramLeastSquares, LeastSquares
from gdreg.optimizers import SVRG, AcceleratedGradient, GradientDescent, Optimizer
from gdreg.schedules import Constant, InverseSqrt

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def reference_loop(X, y, w, b, eta, epochs, batch, alpha=0.0, schedule=None):
    """Plain (mini-batch) gradient descent on the centred problem, samples in order."""
    n = len(y)
    xm, ym = X.mean(axis=0), y.mean()
    Xc, yc = X - xm, y - ym
    t = 0
    for _ in range(epochs):
        for start in range(0, n, batch):
            t += 1
            step = eta if schedule is None else schedule(t)
            rows = slice(start, start + batch)
            r = Xc[rows] @ w - yc[rows]
            w = w - step * (Xc[rows].T @ r / len(r) + alpha * w)
    return w, ym - xm @ w


def _data(n=37, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * [1.0, 2.0, 0.5] + [3.0, -1.0, 0.0]
    y = X @ [1.0, -2.0, 0.5] + 4.0 + 0.1 * rng.randn(n)
    return X, y


@pytest.mark.parametrize("optimizer, batch", [("batch", 37), ("stochastic", 1), ("minibatch", 8)])
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_matches_reference_loop(optimizer, batch, compiled, alpha, monkeypatch):
    monkeypatch.setattr(_kernels, "ENABLED", compiled)
    X, y = _data()
    eta, epochs = 0.02, 5
    est = GradientDescentRegressor(
        optimizer=optimizer,
        batch_size=batch,
        learning_rate="constant",
        eta0=eta,
        alpha=alpha,
        shuffle=False,
        tol=None,
        max_iter=epochs,
    ).fit(X, y)
    w, b = reference_loop(X, y, np.zeros(3), 0.0, eta, epochs, batch, alpha)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-12)
    assert est.t_ == epochs * int(np.ceil(37 / batch))
    assert est.n_iter_ == epochs


def test_invsqrt_schedule_matches_reference_loop():
    X, y = _data()
    est = GradientDescentRegressor(
        optimizer="minibatch",
        batch_size=10,
        learning_rate="invsqrt",
        eta0=0.05,
        shuffle=False,
        tol=None,
        max_iter=4,
    ).fit(X, y)
    w, b = reference_loop(X, y, np.zeros(3), 0.0, None, 4, 10, schedule=InverseSqrt(0.05))
    np.testing.assert_allclose(est.coef_, w, rtol=1e-12)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-12)


def test_batch_loss_curve_is_the_objective_after_each_epoch():
    X, y = _data()
    est = GradientDescentRegressor(record_path=True, tol=None, max_iter=6).fit(X, y)
    for i in range(est.n_iter_):
        residual = y - X @ est.coef_path_[i + 1] - est.intercept_path_[i + 1]
        np.testing.assert_allclose(est.loss_curve_[i], 0.5 * np.mean(residual**2), rtol=1e-10)
    assert est.coef_path_.shape == (7, 3) and est.intercept_path_.shape == (7,)
    np.testing.assert_array_equal(est.coef_path_[0], 0.0)
    np.testing.assert_allclose(est.coef_path_[-1], est.coef_)


def independent_bound(X, y, coef):
    """The scale-free error bound of ``coef``, written out with NumPy (centred, unweighted)."""
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    n = len(y)
    spread = Xc.std(axis=0)
    Z = Xc / spread
    grad_u = Z.T @ (Xc @ coef - yc) / n
    mu = np.linalg.eigvalsh(Z.T @ Z / n)[0]
    return np.linalg.norm(grad_u) / (mu * yc.std())


def test_a_decaying_step_cannot_fake_convergence():
    # A step that decays as 1/t^2 stops moving the parameters long before the
    # optimum; the error bound sees the distance that is left, not the movement.
    X, y = _data()

    def fast_decay(t):
        return 0.05 / t**2

    est = GradientDescentRegressor(
        learning_rate=fast_decay, tol=1e-3, max_iter=50, record_path=True
    )
    with pytest.warns(Warning, match="did not converge"):
        est.fit(X, y)
    assert not est.converged_
    last_raw = np.sqrt(
        np.sum((est.coef_path_[-1] - est.coef_path_[-2]) ** 2)
        + (est.intercept_path_[-1] - est.intercept_path_[-2]) ** 2
    )
    assert last_raw < 1e-3  # a plain change criterion would have stopped here
    assert est.change_curve_[-1] == pytest.approx(independent_bound(X, y, est.coef_), rel=1e-9)
    assert np.linalg.norm(est.coef_ - [1.0, -2.0, 0.5]) > 0.1  # far from the optimum


@pytest.mark.parametrize("learning_rate", [Constant(0.01), "auto"])
def test_change_curve_is_the_error_bound_of_every_epoch(learning_rate):
    X, y = _data()
    est = GradientDescentRegressor(
        learning_rate=learning_rate, record_path=True, tol=1e-12, max_iter=5
    )
    with pytest.warns(Warning, match="did not converge"):
        est.fit(X, y)
    expected = [independent_bound(X, y, coef) for coef in est.coef_path_[1:]]
    np.testing.assert_allclose(est.change_curve_, expected, rtol=1e-9)
    exact = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    distance = np.linalg.norm((est.coef_ - exact) * X.std(0)) / y.std()
    assert distance <= est.change_curve_[-1]


def test_no_tolerance_no_bound():
    X, y = _data()
    est = GradientDescentRegressor(tol=None, max_iter=3).fit(X, y)
    assert est.change_curve_.shape == (3,) and np.all(np.isnan(est.change_curve_))


def test_minibatch_epoch_has_ceil_n_over_b_updates():
    X, y = _data(n=50)
    est = GradientDescentRegressor(optimizer="minibatch", batch_size=16, tol=None, max_iter=3)
    est.fit(X, y)
    assert est.t_ == 3 * 4


def test_stochastic_auto_step_is_safe_and_decays():
    """A plain stochastic rule with "auto": 1 / L_max of the standardised rows, decaying."""
    X, y = _data()
    est = GradientDescentRegressor(
        optimizer=GradientDescent(sampling="stochastic"), tol=None, max_iter=2
    ).fit(X, y)
    schedule = est.learning_rate_
    assert isinstance(schedule, InverseSqrt)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    largest = np.max(np.sum(standardised**2, axis=1))
    np.testing.assert_allclose(schedule.eta0, 1.0 / largest, rtol=1e-10)
    assert schedule(1 + 37 * 3) == pytest.approx(schedule.eta0 / 2)


def test_stochastic_shorthand_runs_svrg_with_a_constant_step():
    X, y = _data()
    est = GradientDescentRegressor(optimizer="stochastic", tol=None, max_iter=2).fit(X, y)
    assert isinstance(est.optimizer_, SVRG) and isinstance(est.learning_rate_, Constant)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    largest = np.max(np.sum(standardised**2, axis=1))
    np.testing.assert_allclose(est.learning_rate_.eta0, 1.0 / largest, rtol=1e-10)


def test_batch_auto_step_is_inverse_largest_standardised_eigenvalue():
    X, y = _data()
    est = GradientDescentRegressor(tol=None, max_iter=1).fit(X, y)
    assert isinstance(est.optimizer_, AcceleratedGradient)
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    L = np.linalg.eigvalsh(standardised.T @ standardised / len(y))[-1]
    np.testing.assert_allclose(est.learning_rate_.eta0, 1.0 / L, rtol=1e-8)


# -- one rule for stopping and divergence ----------------------------------------------
def _gram_problem(n=400, d=4, seed=3):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    Y = X @ rng.randn(d, 1) + 0.1 * rng.randn(n, 1)
    return GramLeastSquares(X, Y, None, alpha=0.01, x_offset=X.mean(0), y_offset=Y.mean(0))


@pytest.mark.parametrize(
    ("scale", "tol", "expected"),
    [
        (1.0, 1e-5, _kernels.CONVERGED),
        (1.0, None, _kernels.RUNNING),
        (0.01, 1e-5, _kernels.RUNNING),  # too few epochs at a tiny step
        (2.5, 1e-5, _kernels.DIVERGED),
    ],
)
def test_the_gram_kernels_inlined_rule_is_the_verdict(scale, tol, expected):
    objective = _gram_problem()
    cert = certificate(objective, objective.yty)
    theta = np.zeros((objective.n_features + 1, 1))
    limit = _loop.divergence_limit(objective.value_at_zero())
    steps = np.full(300, scale / objective.lipschitz())
    _, status, losses, changes = _kernels.gram_descent(
        objective, theta, steps, certificate=None if tol is None else cert, tol=tol, limit=limit
    )
    assert status == expected
    # every epoch the kernel went on from is RUNNING for the verdict, and the last one
    # is judged the same by both
    for loss, change in zip(losses[:-1], changes[:-1], strict=True):
        assert _loop.verdict(loss, (), limit, change, tol) == _kernels.RUNNING
    assert _loop.verdict(losses[-1], (theta,), limit, changes[-1], tol) == status


@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_compiled_gram_loop_and_python_loop_agree(scale, monkeypatch):
    objective = _gram_problem(n=max(400, _kernels.COMPILED_MIN_SIZE // 4))
    schedule = Constant(scale / objective.lipschitz())
    kwargs = dict(params0=np.zeros((5, 1)), max_iter=300, tol=1e-5)
    if not _kernels.ENABLED:
        pytest.skip("the compiled kernels are disabled")
    assert _loop._compiled_gram_applies(objective, False, 0, None, None)
    outcomes = []
    for compiled in (True, False):
        if not compiled:  # the Python loop: the Gram fast path is not chosen
            monkeypatch.setattr(_loop, "_compiled_gram_applies", lambda *args: False)
        try:
            result = _loop.run(objective, GradientDescent(), schedule, **kwargs)
            outcomes.append(("ran", result.n_iter, result.converged))
        except DivergenceError as error:
            outcomes.append(("diverged", error.epoch, None))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == ("ran" if scale < 2 else "diverged")


def test_divergence_is_a_divergence_error_from_the_estimator():
    X, y = _data()[:2]
    for optimizer in ("batch", "stochastic", "minibatch"):
        est = GradientDescentRegressor(optimizer=optimizer, learning_rate="constant", eta0=1e3)
        with pytest.raises(DivergenceError, match="diverged") as info:
            est.fit(X, y)
        assert isinstance(info.value, ValueError) and info.value.epoch >= 1


# -- the loop's helpers, hooks and messages ------------------------------------------
# (first written to kill mutants that survived a mutmut run of gdreg/_loop.py; each
# checks one piece against an explicit formula or a loop written out here)
_problem = weighted_problem
_objective = objective_of


def test_updates_and_batch_sizes_per_sampling():
    assert [_loop.updates_per_epoch(10, m, 4) for m in ("batch", "stochastic", "minibatch")] == [
        1,
        10,
        3,
    ]
    assert _loop.updates_per_epoch(10, "minibatch", 40) == 1
    assert [_loop.effective_batch_size(10, m, 4) for m in ("batch", "stochastic", "minibatch")] == [
        10,
        1,
        4,
    ]
    assert _loop.effective_batch_size(10, "minibatch", 40) == 10
    assert _loop.effective_batch_size(10, "minibatch", 0) == 1


def test_expected_smoothness_formula():
    L, L_max, n = 2.0, 9.0, 11
    assert _loop.expected_smoothness(L, L_max, n, 1) == pytest.approx(L_max)
    assert _loop.expected_smoothness(L, L_max, n, n) == L
    assert _loop.expected_smoothness(L, L_max, n, n + 5) == L
    assert _loop.expected_smoothness(L, L_max, 1, 1) == L
    b = 4  # Gower et al. (2019), Proposition 3.8
    expected = n * (b - 1) / (b * (n - 1)) * L + (n - b) / (b * (n - 1)) * L_max
    assert _loop.expected_smoothness(L, L_max, n, b) == pytest.approx(expected)
    assert _loop.expected_smoothness(L, L_max, 2, 1) == pytest.approx(L_max)


def test_auto_schedules_follow_the_curvature():
    X, Y, s = _problem(n=50)
    obj = _objective(X, Y, s)
    L, L_max = obj.lipschitz(), obj.lipschitz_max()
    batch = _loop.resolve_schedule("auto", 0.1, obj, GradientDescent(), 32, 1)
    assert isinstance(batch, Constant) and batch.eta0 == pytest.approx(1 / L)
    sgd = _loop.resolve_schedule("auto", 0.1, obj, GradientDescent("stochastic"), 32, 50)
    assert isinstance(sgd, InverseSqrt)
    assert sgd.eta0 == pytest.approx(1 / L_max) and sgd.t0 == 50
    mini = _loop.resolve_schedule("auto", 0.1, obj, GradientDescent("minibatch"), 10, 5)
    L_B = _loop.expected_smoothness(L, L_max, 50, 10)
    assert isinstance(mini, InverseSqrt) and mini.eta0 == pytest.approx(1 / L_B)
    fixed = _loop.resolve_schedule("constant", 0.1, obj, GradientDescent(), 32, 1)
    assert isinstance(fixed, Constant) and fixed.eta0 == 0.1
    # zero curvature: any step is exact, the auto step is 1
    flat = _objective(np.zeros((20, 2)), Y[:20], s[:20], alpha=0.0)
    assert _loop.resolve_schedule("auto", 0.1, flat, GradientDescent(), 32, 1).eta0 == 1.0


def test_stable_step_message_names_the_step_and_its_source():
    X, Y, s = _problem()
    obj = _objective(X, Y, s)
    msg = _loop.stable_step_message(obj, GradientDescent())
    assert f"{2 / obj.lipschitz():.4g}" in msg and "largest eigenvalue" in msg
    msg = _loop.stable_step_message(obj, GradientDescent("stochastic"))
    assert f"{2 / obj.lipschitz_max():.4g}" in msg and "per-sample curvature" in msg
    flat = _objective(np.zeros((20, 2)), Y[:20], s[:20], alpha=0.0)
    assert "flat" in _loop.stable_step_message(flat, GradientDescent())


class HeavyBall(Optimizer):
    """A stateful rule (momentum) that reports the average of its iterates."""

    def __init__(self, sampling="batch", batch_size=None, beta=0.5):
        self.sampling = sampling
        self.batch_size = batch_size
        self.beta = beta

    def init(self, params):
        return {"velocity": np.zeros_like(params), "sum": np.zeros_like(params), "count": 0}

    def update(self, grad, state, params, step_size):
        velocity = self.beta * state["velocity"] - step_size * grad
        new = params + velocity
        return velocity, {
            "velocity": velocity,
            "sum": state["sum"] + new,
            "count": state["count"] + 1,
        }

    def output(self, params, state):
        return state["sum"] / state["count"] if state["count"] else params


def _reference_run(obj, opt, step, epochs, batch):
    """The loop written out: fixed order, constant step."""
    params = np.zeros((obj.n_features + 1, obj.n_targets))
    state = opt.init(params)
    for _ in range(epochs):
        if opt.sampling == "batch":
            updates, state = opt.update(obj.value_and_gradient(params)[1], state, params, step)
            params = params + updates
        else:
            batch = _loop.effective_batch_size(obj.n_samples, opt.sampling, batch)
            for start in range(0, obj.n_samples, batch):
                idx = np.arange(start, min(start + batch, obj.n_samples))
                grad = obj.batch_value_and_gradient(params, idx)[1]
                updates, state = opt.update(grad, state, params, step)
                params = params + updates
    return opt.output(params, state), state


@pytest.mark.parametrize("sampling", ["batch", "stochastic", "minibatch"])
def test_stateful_optimizer_matches_the_written_out_loop(sampling):
    X, Y, s = _problem(n=20)
    obj = _objective(X, Y, s, learn_intercept=True, offsets="fixed")
    opt = HeavyBall(sampling=sampling)
    result = _loop.run(
        obj,
        opt,
        Constant(0.02),
        params0=np.zeros((5, 2)),
        max_iter=6,
        tol=None,
        batch_size=8,
        shuffle=False,
        rng=np.random.RandomState(0),
    )
    params, state = _reference_run(obj, opt, 0.02, 6, 8)
    np.testing.assert_allclose(result.params, params, rtol=1e-12)
    assert result.state["count"] == state["count"] == result.n_updates
    np.testing.assert_allclose(result.state["velocity"], state["velocity"], rtol=1e-12)
    # a run handed the state (and update count) carries on from it
    more = _loop.run(
        obj,
        opt,
        Constant(0.02),
        params0=result.params,
        max_iter=1,
        tol=None,
        batch_size=8,
        shuffle=False,
        rng=np.random.RandomState(0),
        state=result.state,
        t0=result.n_updates,
    )
    assert more.state["count"] == state["count"] + _loop.updates_per_epoch(20, sampling, 8)
    assert more.n_updates == _loop.updates_per_epoch(20, sampling, 8)


def _run(obj, **kwargs):
    options = {
        "params0": np.zeros((obj.n_features + 1, obj.n_targets), dtype=obj.Y.dtype),
        "max_iter": 5,
        "tol": None,
        "batch_size": 4,
        "shuffle": True,
        "rng": np.random.RandomState(0),
    }
    options.update(kwargs)
    optimizer = options.pop("optimizer", GradientDescent())
    schedule = options.pop("schedule", Constant(0.05))
    return _loop.run(obj, optimizer, schedule, **options)


def test_run_reports_its_curves_counts_and_paths():
    X, Y, s = _problem(n=20, dtype=np.float32)
    obj = _objective(X, Y, s)
    res = _run(obj, optimizer=GradientDescent("minibatch"), record_path=True, t0=7)
    assert res.n_iter == 5 and res.n_updates == 5 * 5 and not res.converged
    assert res.loss_curve.dtype == np.float64 and res.change_curve.dtype == np.float64
    assert len(res.loss_curve) == len(res.change_curve) == 5
    assert len(res.coef_path) == len(res.intercept_path) == 6
    np.testing.assert_array_equal(res.coef_path[0], 0.0)
    assert res.params.dtype == np.float32
    assert np.all(np.isnan(res.change_curve))  # tol=None: no bound is evaluated
    assert _run(obj).coef_path is None


def test_run_params0_is_not_modified():
    X, Y, s = _problem(n=20)
    obj = _objective(X, Y, s)
    params0 = np.zeros((5, 2))
    _run(obj, params0=params0, optimizer=GradientDescent("stochastic"))
    np.testing.assert_array_equal(params0, 0.0)


def test_shuffle_changes_the_order_only_when_asked():
    X, Y, s = _problem(n=20)
    obj = _objective(X, Y, s)
    opt = GradientDescent("stochastic")
    a = _run(obj, optimizer=opt, rng=np.random.RandomState(0)).params
    b = _run(obj, optimizer=opt, rng=np.random.RandomState(1)).params
    assert not np.array_equal(a, b)
    a = _run(obj, optimizer=opt, shuffle=False, rng=np.random.RandomState(0)).params
    b = _run(obj, optimizer=opt, shuffle=False, rng=np.random.RandomState(1)).params
    np.testing.assert_array_equal(a, b)


def test_tol_stops_at_a_bound_of_at_most_tol():
    # constant features: the gradient is exactly zero, every change is exactly 0
    rng = np.random.RandomState(0)
    Y = rng.randn(20, 1)
    obj = LeastSquares(
        np.ones((20, 2)),
        Y,
        None,
        alpha=0.0,
        x_offset=np.ones(2),
        y_offset=Y.mean(0),
        learn_intercept=False,
        constant_features=np.array([True, True]),
    )
    # the bound is exactly zero: at most tol, even for tol = 0
    for tol in (0.0, 1e-12):
        once = _run(obj, tol=tol)
        assert once.n_iter == 1 and once.converged is True
        assert np.all(once.change_curve == 0.0)


def test_callback_sees_every_epoch_and_can_stop_the_run():
    X, Y, s = _problem(n=20)
    obj = _objective(X, Y, s)
    seen = []

    def callback(epoch, info):
        seen.append((epoch, info))
        return epoch == 3

    res = _run(obj, epoch_callback=callback, max_iter=10, tol=1e-12)
    assert res is not None and res.n_iter == 3 and [e for e, _ in seen] == [1, 2, 3]
    info = seen[-1][1]
    assert set(info) == {"params", "coef", "intercept", "loss", "change", "t"}
    assert info["t"] == 3 and info["loss"] == res.loss_curve[-1]
    assert info["change"] == res.change_curve[-1]
    coef, intercept = _loop.user_parameters(obj, res.params)
    np.testing.assert_array_equal(info["coef"], coef)
    np.testing.assert_array_equal(info["intercept"], intercept)


def test_verbose_prints_one_line_per_epoch(capsys):
    X, Y, s = _problem(n=20)
    _run(_objective(X, Y, s), verbose=1, max_iter=3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1, objective ") and lines[-1].endswith("updates 3")


@pytest.mark.parametrize("sampling", ["batch", "stochastic", "minibatch"])
def test_divergence_raises_a_clear_error_without_numpy_warnings(sampling):
    X, Y, s = _problem(n=20)
    obj = _objective(X, Y, s)
    with pytest.raises(ValueError) as info:
        _run(obj, optimizer=GradientDescent(sampling), schedule=Constant(1e3), max_iter=200)
    message = str(info.value)
    assert message.startswith("The iterates diverged at epoch ")
    assert "largest stable step size for this data is" in message
    assert "use learning_rate='auto' or a smaller eta0." in message


def test_a_zero_step_cannot_fake_convergence():
    X, Y, s = _problem(n=20)
    res = _run(_objective(X, Y, s), schedule=lambda t: 0.05 if t == 1 else 0.0, tol=1e-3)
    # the parameters stop moving, the error bound stays where it was
    assert not res.converged and np.all(res.change_curve[1:] == res.change_curve[1])
    assert res.change_curve[1] > 1e-3


@pytest.mark.parametrize("sampling", ["batch", "stochastic", "minibatch"])
def test_overflowing_iterates_raise_divergence_not_numpy_warnings(sampling):
    X, Y, s = _problem(n=20)
    with pytest.raises(ValueError, match="diverged at epoch 1"):
        _run(_objective(X, Y, s), optimizer=GradientDescent(sampling), schedule=Constant(1e250))


def test_epoch_steps_beyond_one_chunk():
    """Epochs with more updates than one evaluation chunk get every step right."""
    schedule = InverseSqrt(1.0, t0=3.0)
    count = 3 * _loop._STEP_CHUNK + 17
    steps = _loop._epoch_steps(schedule, 5, count, np.float32)
    assert steps.dtype == np.float32 and steps.shape == (count,)
    expected = 1.0 / np.sqrt(1.0 + (np.arange(5, 5 + count) - 1.0) / 3.0)
    np.testing.assert_allclose(steps, expected, rtol=1e-6)
