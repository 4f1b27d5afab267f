"""gdreg against its peers: one Markdown table of side-by-side timings.

Usage::

    python benchmarks/run.py                 # full sizes (1e6 x 100, needs ~4 GB)
    python benchmarks/run.py --quick         # small sizes, under a minute
    python benchmarks/run.py --json out.json --plot time_vs_n.png

Every comparison is timed *interleaved*: one warm-up call of each method,
then ``--rounds`` rounds of ``A B [C]`` in turn, so that a change in the
machine's load hits every method alike. The table reports medians and the
ratio gdreg / peer (below 1 means gdreg is faster). "rel. err." is
``max |coef - coef_ne| / max |coef_ne|`` against :func:`gdreg.normal_equation`
on the same data; for the one-epoch cases it measures how far one epoch gets,
not a defect.

The cases are the ones of the performance issue:

1. full batch to convergence, vs ``LinearRegression().fit`` and vs the floor
   (``X.T @ X``, ``X.T @ y`` and a Cholesky solve), on well-conditioned and
   AR(1)-correlated (rho = 0.9) features, float64 and float32;
2. one epoch of per-sample SGD vs ``SGDRegressor(max_iter=1, tol=None,
   penalty=None)``;
3. one epoch of mini-batch (256) vs ``SGDRegressor`` and vs one full gradient
   ``X.T @ (X @ w - y)``;
4. the peak memory of ``fit`` above the data (tracemalloc, which sees every
   NumPy allocation) relative to ``X.nbytes``, vs ``LinearRegression``;

plus the first ``fit`` in a fresh process, with an empty numba cache (the
kernels compile) and with the on-disk cache a previous process left (case 5), and

6. the time to a *converged default fit* (issue 11): ``GradientDescentRegressor()``
   with every default, on AR(1)-correlated (rho = 0.9) columns in units that
   span eight orders of magnitude (column j times ``10**uniform(-4, 4)``),
   against ``LinearRegression().fit`` (target: at most half its time) and, for
   information, ``Ridge(alpha=1e-6)`` and :func:`gdreg.normal_equation`. The
   error of this case is *scale-free*: ``max_j |coef_j - exact_j| std_j / std_y``
   against an exact solution from ``lstsq`` on the standardised centred design
   in float64, shown as the digits each method gets (``-log10`` of it, capped
   at 16). The fit must report ``converged_=True`` without a
   ``ConvergenceWarning``; the row records both (and every peer's warnings).

7. the *size sweep* (issue 16), run with ``--cases 7`` or ``--size-plot PATH``:
   the default ``GradientDescentRegressor().fit`` on well-conditioned iid data
   for n in {1e3, 1e4, 1e5, 1e6} and d in {10, 100} (``--quick``: n in {1e3,
   1e4}), against ``Ridge(alpha=1e-6).fit`` (target: at most its time at every
   size), ``LinearRegression().fit`` and ``SGDRegressor`` (one epoch, and its
   default fit), all timed in the same rounds. ``--size-plot`` draws the
   medians against n, one panel per d.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.linalg
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
from threadpoolctl import threadpool_info, threadpool_limits

import gdreg
from gdreg import GradientDescentRegressor, _loop, normal_equation
from gdreg._objective import LeastSquares
from gdreg.optimizers import GradientDescent
from gdreg.schedules import Constant

SIZES = {
    "full": {
        "batch": (1_000_000, 100),
        "sgd": [(1_000_000, 100), (100_000, 10)],
        "minibatch": (1_000_000, 100),
        "memory": (1_000_000, 100),
        "sweep": [10_000, 30_000, 100_000, 300_000, 1_000_000],
        "sweep_d": 100,
        "converged": (200_000, 30),
        "size_sweep": [1_000, 10_000, 100_000, 1_000_000],
        "size_sweep_d": [10, 100],
    },
    "quick": {
        "batch": (20_000, 50),
        "sgd": [(20_000, 50), (20_000, 10)],
        "minibatch": (20_000, 50),
        "memory": (20_000, 50),
        "sweep": [2_000, 5_000, 20_000],
        "sweep_d": 50,
        "converged": (20_000, 30),
        "size_sweep": [1_000, 10_000],
        "size_sweep_d": [10, 100],
    },
}
#: Full batch "to convergence": tight enough that a float64 fit matches the
#: normal equation to ~1e-9 relative on the AR(1) design; float32 changes are
#: round-off below ~1e-6.
BATCH_TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-6}
BATCH_MAX_ITER = 100_000


@dataclass
class Row:
    """One line of the table: gdreg against one peer, timed in the same rounds."""

    case: str
    data: str
    gdreg: str
    peer: str
    gdreg_times: list = field(default_factory=list)
    peer_times: list = field(default_factory=list)
    gdreg_err: float | None = None
    peer_err: float | None = None
    target: str = ""
    unit: str = "s"
    #: "rel." (max |coef - coef_ne| / max |coef_ne|) or "scale-free" (case 6)
    err_kind: str = "rel."
    #: what else the row must show (case 6: converged_, epochs, warnings of each side)
    details: dict = field(default_factory=dict)

    @property
    def gdreg_median(self) -> float:
        return statistics.median(self.gdreg_times)

    @property
    def peer_median(self) -> float:
        return statistics.median(self.peer_times)

    @property
    def ratio(self) -> float:
        return self.gdreg_median / self.peer_median

    @property
    def gdreg_digits(self) -> float | None:
        return digits(self.gdreg_err) if self.err_kind == "scale-free" else None

    @property
    def peer_digits(self) -> float | None:
        return digits(self.peer_err) if self.err_kind == "scale-free" else None


# -- data -----------------------------------------------------------------------------
def make_data(n: int, d: int, *, rho: float = 0.0, dtype=np.float64, seed: int = 0):
    """``y = X w + 0.1 noise`` with standard normal features, AR(1)-correlated when rho > 0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if rho:
        ar1(X, rho)
    w = rng.standard_normal(d)
    y = X @ w + 1.0 + 0.1 * rng.standard_normal(n)
    if dtype != np.float64:
        X, y = X.astype(dtype), y.astype(dtype)
    return X, y


def ar1(X, rho: float) -> None:
    """Make the standard normal columns of ``X`` AR(1)-correlated, in place.

    x_j = rho x_{j-1} + sqrt(1 - rho^2) e_j keeps unit variance, corr(x_i, x_j) = rho^|i-j|.
    """
    for j in range(1, X.shape[1]):
        X[:, j] *= np.sqrt(1.0 - rho**2)
        X[:, j] += rho * X[:, j - 1]


#: Case 6: column j of the badly scaled design is in units 10**uniform(-4, 4).
SCALE_DECADES = 4.0


def make_badly_scaled(n: int, d: int, *, rho: float = 0.9, seed: int = 6):
    """AR(1)-correlated columns in units spread over ``2 * SCALE_DECADES`` decades.

    Column j is ``scale_j (z_j + m_j)`` with ``z`` the AR(1) design, ``scale_j =
    10**uniform(-4, 4)`` and an offset ``m_j ~ 3 N(0, 1)``; ``y = X beta + 5 +
    0.5 noise`` with ``beta_j = b_j / scale_j``, ``b ~ N(0, 1)``, so that each
    feature matters at its own scale (its share of ``y`` does not depend on its
    units). Returns ``X, y, scale``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    ar1(X, rho)
    scale = 10.0 ** rng.uniform(-SCALE_DECADES, SCALE_DECADES, d)
    X += 3.0 * rng.standard_normal(d)
    X *= scale
    beta = rng.standard_normal(d) / scale
    y = X @ beta + 5.0 + 0.5 * rng.standard_normal(n)
    return X, y, scale


def exact_standardised(X, y):
    """The exact coefficients, solved where the problem is well conditioned.

    ``lstsq`` on the centred design with unit-spread columns and a unit-spread
    target (float64), mapped back to the user's units. Returns ``coef, std_x,
    std_y`` (population spreads, as gdreg's bound uses).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    std_x, std_y = X.std(axis=0), y.std()
    Xs = (X - X.mean(axis=0)) / std_x
    u = np.linalg.lstsq(Xs, (y - y.mean()) / std_y, rcond=None)[0]
    return u * std_y / std_x, std_x, std_y


def scale_free_error(coef, exact, std_x, std_y) -> float:
    """``max_j |coef_j - exact_j| std_j / std_y``: the error in standardised units."""
    coef = np.asarray(coef, dtype=np.float64).ravel()
    return float(np.max(np.abs(coef - exact) * std_x) / std_y)


def digits(error: float | None) -> float | None:
    """Correct digits, ``-log10(error)``, capped at 16 (an exact match)."""
    if error is None:
        return None
    return float(-np.log10(max(error, 1e-16)))


def describe(X, rho: float = 0.0) -> str:
    n, d = X.shape
    kind = f"AR(1) {rho}" if rho else "iid"
    return f"{n:,} x {d} {X.dtype.name} {kind}"


def relative_error(coef, reference) -> float:
    coef = np.asarray(coef, dtype=np.float64).ravel()
    reference = np.asarray(reference, dtype=np.float64).ravel()
    return float(np.max(np.abs(coef - reference)) / np.max(np.abs(reference)))


# -- timing ---------------------------------------------------------------------------
def interleaved(methods: dict, rounds: int) -> tuple[dict, dict]:
    """Warm each method up once, then time ``rounds`` rounds of all methods in turn.

    Returns the per-method lists of seconds and each warm-up's result.
    """
    results = {name: f() for name, f in methods.items()}
    times = {name: [] for name in methods}
    for _ in range(rounds):
        for name, f in methods.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    return times, results


def quiet(f):
    """Run ``f`` without the ConvergenceWarning of deliberately short fits."""

    def wrapped():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return f()

    return wrapped


def recorded(f, log: list):
    """Run ``f`` with every warning caught; append each call's warnings to ``log``."""

    def wrapped():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = f()
        log.append([f"{w.category.__name__}: {w.message}" for w in caught])
        return result

    return wrapped


# -- the methods ----------------------------------------------------------------------
def gdreg_fit(X, y, **params):
    return quiet(lambda: GradientDescentRegressor(**params).fit(X, y).coef_)


def gdreg_epoch(X, y, *, sampling, batch_size, eta0=0.01):
    """One epoch of the loop alone, on an objective built once outside the timing.

    What ``fit`` adds around it (validation, offsets, the column-range checks,
    the step size) is timed by the ``fit`` rows.
    """
    Y = y.reshape(-1, 1)
    objective = LeastSquares(
        X,
        Y,
        None,
        alpha=0.0,
        x_offset=X.mean(axis=0),
        y_offset=Y.mean(axis=0),
        learn_intercept=False,
    )
    optimizer = GradientDescent(sampling=sampling, batch_size=batch_size)
    params0 = np.zeros((X.shape[1] + 1, 1), dtype=X.dtype)

    def epoch():
        result = _loop.run(
            objective,
            optimizer,
            Constant(eta0),
            params0=params0,
            max_iter=1,
            tol=None,
            batch_size=batch_size,
            rng=np.random.RandomState(0),
        )
        return result.params[:-1, 0]

    return epoch


def linear_regression(X, y):
    return lambda: LinearRegression().fit(X, y).coef_


def floor_solve(X, y):
    """The least work any full-batch solver does: X^T X, X^T y, one Cholesky solve."""

    def solve():
        n = X.shape[0]
        mean = X.sum(axis=0) / n
        gram = X.T @ X - n * np.outer(mean, mean)
        xty = X.T @ y - mean * y.sum()
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), xty)

    return solve


def sgd_regressor(X, y):
    return quiet(
        lambda: SGDRegressor(max_iter=1, tol=None, penalty=None, random_state=0).fit(X, y).coef_
    )


def full_gradient(X, y):
    w = np.zeros(X.shape[1], dtype=X.dtype)
    return lambda: X.T @ (X @ w - y)


# -- the cases ------------------------------------------------------------------------
def case_batch(sizes, rounds) -> list[Row]:
    n, d = sizes["batch"]
    rows = []
    for rho, dtype in ((0.0, np.float64), (0.9, np.float64), (0.0, np.float32)):
        X, y = make_data(n, d, rho=rho, dtype=dtype)
        reference = normal_equation(X, y)[0]
        methods = {
            "gdreg": gdreg_fit(X, y, tol=BATCH_TOL[X.dtype], max_iter=BATCH_MAX_ITER),
            "LinearRegression": linear_regression(X, y),
            "floor": floor_solve(X, y),
        }
        times, coefs = interleaved(methods, rounds)
        errors = {name: relative_error(c, reference) for name, c in coefs.items()}
        for peer, target in (("LinearRegression", "<= 0.25"), ("floor", "<= 1.5")):
            rows.append(
                Row(
                    "1 full batch",
                    describe(X, rho),
                    "fit (batch, to convergence)",
                    peer,
                    times["gdreg"],
                    times[peer],
                    errors["gdreg"],
                    errors[peer],
                    target,
                )
            )
        del X, y
    return rows


def case_sgd(sizes, rounds) -> list[Row]:
    rows = []
    for (n, d), target in zip(sizes["sgd"], ("<= 0.75", "<= 0.5"), strict=True):
        X, y = make_data(n, d, seed=1)
        reference = normal_equation(X, y)[0]
        methods = {
            "gdreg": gdreg_fit(X, y, optimizer="stochastic", max_iter=1, tol=None, random_state=0),
            "SGDRegressor": sgd_regressor(X, y),
            "gdreg epoch": gdreg_epoch(X, y, sampling="stochastic", batch_size=1, eta0=0.001),
        }
        times, coefs = interleaved(methods, rounds)
        for ours, label in (
            ("gdreg", "fit, 1 epoch, step 'auto'"),
            ("gdreg epoch", "the epoch alone (loop.run)"),
        ):
            rows.append(
                Row(
                    "2 per-sample SGD",
                    describe(X),
                    label,
                    "SGDRegressor 1 epoch",
                    times[ours],
                    times["SGDRegressor"],
                    relative_error(coefs[ours], reference),
                    relative_error(coefs["SGDRegressor"], reference),
                    target if ours == "gdreg" else "",
                )
            )
    return rows


def case_minibatch(sizes, rounds) -> list[Row]:
    n, d = sizes["minibatch"]
    X, y = make_data(n, d, seed=2)
    reference = normal_equation(X, y)[0]
    minibatch = dict(optimizer="minibatch", batch_size=256, max_iter=1, tol=None, random_state=0)
    methods = {
        # the epoch itself: a given step, as SGDRegressor's default schedule is
        "gdreg": gdreg_fit(X, y, learning_rate="constant", eta0=0.01, **minibatch),
        # what learning_rate="auto" adds: L from one pass forming X^T X
        "gdreg auto": gdreg_fit(X, y, **minibatch),
        "gdreg epoch": gdreg_epoch(X, y, sampling="minibatch", batch_size=256),
        "SGDRegressor": sgd_regressor(X, y),
        "full gradient": full_gradient(X, y),
    }
    times, coefs = interleaved(methods, rounds)
    rows = []
    labels = {
        "gdreg": "fit, 1 epoch, eta0=0.01",
        "gdreg auto": "fit, 1 epoch, step 'auto'",
        "gdreg epoch": "the epoch alone (loop.run)",
    }
    for ours, peer, target in (
        ("gdreg", "SGDRegressor", "<= 0.6"),
        ("gdreg epoch", "full gradient", "<= 3"),
        ("gdreg", "full gradient", ""),
        ("gdreg auto", "full gradient", ""),
    ):
        rows.append(
            Row(
                "3 mini-batch 256",
                describe(X),
                labels[ours],
                "SGDRegressor 1 epoch" if peer == "SGDRegressor" else "X.T @ (X @ w - y)",
                times[ours],
                times[peer],
                relative_error(coefs[ours], reference),
                relative_error(coefs[peer], reference) if peer == "SGDRegressor" else None,
                target,
            )
        )
    return rows


def case_converged(sizes, rounds) -> list[Row]:
    """Case 6: the time to a converged default fit on a correlated, badly scaled design."""
    n, d = sizes["converged"]
    X, y, scale = make_badly_scaled(n, d)
    exact, std_x, std_y = exact_standardised(X, y)
    logs = {name: [] for name in ("gdreg", "LinearRegression", "Ridge", "normal_equation")}
    fits: list = []  # every gdreg fit, warm-up included: each must converge

    def default_fit():
        model = GradientDescentRegressor().fit(X, y)
        fits.append((model.converged_, model.n_iter_, float(model.change_curve_[-1])))
        return model.coef_

    methods = {
        "gdreg": recorded(default_fit, logs["gdreg"]),
        "LinearRegression": recorded(linear_regression(X, y), logs["LinearRegression"]),
        "Ridge": recorded(lambda: Ridge(alpha=1e-6).fit(X, y).coef_, logs["Ridge"]),
        "normal_equation": recorded(lambda: normal_equation(X, y)[0], logs["normal_equation"]),
    }
    times, coefs = interleaved(methods, rounds)
    errors = {name: scale_free_error(c, exact, std_x, std_y) for name, c in coefs.items()}
    data = (
        f"{n:,} x {d} float64 AR(1) 0.9, units 1e{-SCALE_DECADES:.0f}..1e{SCALE_DECADES:.0f} "
        f"(spread {scale.max() / scale.min():.1e})"
    )
    ours = {
        "converged": [bool(c) for c, _, _ in fits],
        "n_iter": [int(k) for _, k, _ in fits],
        "bound": fits[-1][2],
        "warnings": sorted({w for call in logs["gdreg"] for w in call}),
    }
    rows = []
    for peer, label, target in (
        ("LinearRegression", "LinearRegression().fit", "<= 0.5"),
        ("Ridge", "Ridge(alpha=1e-6).fit", ""),
        ("normal_equation", "gdreg.normal_equation", ""),
    ):
        rows.append(
            Row(
                "6 converged default fit",
                data,
                "GradientDescentRegressor().fit",
                label,
                times["gdreg"],
                times[peer],
                errors["gdreg"],
                errors[peer],
                target,
                err_kind="scale-free",
                details={
                    "gdreg": ours,
                    "peer_warnings": sorted({w for call in logs[peer] for w in call}),
                },
            )
        )
    return rows


#: Case 7's peers: label, fit, target of gdreg / peer.
_SWEEP_PEERS = (
    ("Ridge", "Ridge(alpha=1e-6).fit", "<= 1.0"),
    ("LinearRegression", "LinearRegression().fit", ""),
    ("SGD 1 epoch", "SGDRegressor 1 epoch", ""),
    ("SGD default", "SGDRegressor().fit", ""),
)


def case_size_sweep(sizes, rounds) -> tuple[list[Row], dict]:
    """Case 7: the default fit against its peers at every size (rows and the plot's curves)."""
    rows: list[Row] = []
    curves = {"n": list(sizes["size_sweep"]), "d": list(sizes["size_sweep_d"]), "seconds": {}}
    for d in sizes["size_sweep_d"]:
        for n in sizes["size_sweep"]:
            X, y = make_data(n, d, seed=7)
            reference = normal_equation(X, y)[0]
            fits: list = []

            def default_fit(X=X, y=y, fits=fits):
                model = GradientDescentRegressor().fit(X, y)
                fits.append(bool(model.converged_))
                return model.coef_

            methods = {
                "gdreg": quiet(default_fit),
                "Ridge": lambda X=X, y=y: Ridge(alpha=1e-6).fit(X, y).coef_,
                "LinearRegression": linear_regression(X, y),
                "SGD 1 epoch": sgd_regressor(X, y),
                "SGD default": quiet(lambda X=X, y=y: SGDRegressor(random_state=0).fit(X, y).coef_),
            }
            times, coefs = interleaved(methods, rounds)
            errors = {name: relative_error(c, reference) for name, c in coefs.items()}
            for name, seconds in times.items():
                key = f"{name} (d = {d})"
                curves["seconds"].setdefault(key, []).append(statistics.median(seconds))
            for peer, label, target in _SWEEP_PEERS:
                rows.append(
                    Row(
                        "7 size sweep",
                        describe(X),
                        "GradientDescentRegressor().fit",
                        label,
                        times["gdreg"],
                        times[peer],
                        errors["gdreg"],
                        errors[peer],
                        target,
                        details={"gdreg": {"converged": fits}},
                    )
                )
            del X, y
    return rows, curves


def plot_size_sweep(curves: dict, path: str, header: dict) -> None:
    """Case 7's medians against n, one panel per number of features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widths = curves["d"]
    fig, axes = plt.subplots(1, len(widths), figsize=(6 * len(widths), 4.5), squeeze=False)
    for ax, d in zip(axes[0], widths, strict=True):
        suffix = f" (d = {d})"
        for name, seconds in curves["seconds"].items():
            if name.endswith(suffix):
                style = "-" if name.startswith("gdreg") else "--"
                ax.loglog(curves["n"], seconds, style, marker="o", label=name[: -len(suffix)])
        ax.set_xlabel("n_samples")
        ax.set_ylabel("median seconds")
        ax.set_title(f"default fit vs peers, d = {d} ({header['blas']})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def peak_extra_memory(f) -> int:
    """Peak bytes NumPy and Python allocate while ``f`` runs (tracemalloc)."""
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def case_memory(sizes) -> list[Row]:
    n, d = sizes["memory"]
    X, y = make_data(n, d, seed=3)
    peer = peak_extra_memory(linear_regression(X, y)) / X.nbytes
    rows = []
    for optimizer in ("batch", "stochastic", "minibatch"):
        fit = gdreg_fit(X, y, optimizer=optimizer, max_iter=2, tol=None, random_state=0)
        fit()  # compile first: numba's own allocations are not the fit's
        ours = peak_extra_memory(fit) / X.nbytes
        rows.append(
            Row(
                "4 peak memory",
                describe(X),
                f"fit ({optimizer})",
                "LinearRegression",
                [ours],
                [peer],
                target="<= 0.1 (gdreg)",
                unit="x X.nbytes",
            )
        )
    return rows


# -- first fit in a fresh process -----------------------------------------------------
_COLD_SCRIPT = """
import time, warnings
start = time.perf_counter()
import numpy as np
from gdreg import GradientDescentRegressor
imported = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.standard_normal((20_000, 50)); y = X @ rng.standard_normal(50)
warnings.simplefilter("ignore")
t0, c0 = time.perf_counter(), time.process_time()
GradientDescentRegressor(optimizer={optimizer!r}, max_iter=2).fit(X, y)
print(imported - start, time.perf_counter() - t0, time.process_time() - c0)
"""


def first_fit(optimizer: str, cache_dir: str) -> tuple[float, float, float]:
    """Seconds to import, then wall and CPU seconds of the first fit, in a fresh process.

    The CPU time is the process's own: on a shared machine it is what the fit
    costs, while the wall time also counts waiting for a core.
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _COLD_SCRIPT.format(optimizer=optimizer)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported, wall, cpu = map(float, out.stdout.split())
    return imported, wall, cpu


def case_first_fit(optimizers) -> list[dict]:
    rows = []
    for optimizer in optimizers:
        with tempfile.TemporaryDirectory() as cache:
            cold = first_fit(optimizer, cache)  # empty cache: numba compiles and saves
            warm = first_fit(optimizer, cache)  # a later process loads the saved code
        rows.append(
            {
                "optimizer": optimizer,
                "import_s": cold[0],
                "cold_s": cold[1],
                "cold_cpu_s": cold[2],
                "warm_import_s": warm[0],
                "warm_s": warm[1],
                "warm_cpu_s": warm[2],
            }
        )
    return rows


# -- time vs n ------------------------------------------------------------------------
def sweep(sizes, rounds) -> dict:
    """Median seconds of each method at each n (d fixed), for the plot."""
    d = sizes["sweep_d"]
    curves: dict[str, list[float]] = {}
    for n in sizes["sweep"]:
        X, y = make_data(n, d, seed=4)
        methods = {
            "gdreg batch (to convergence)": gdreg_fit(
                X, y, tol=BATCH_TOL[X.dtype], max_iter=BATCH_MAX_ITER
            ),
            "LinearRegression": linear_regression(X, y),
            "floor (X^T X + Cholesky)": floor_solve(X, y),
            "gdreg stochastic (1 epoch)": gdreg_fit(
                X, y, optimizer="stochastic", max_iter=1, tol=None, random_state=0
            ),
            "SGDRegressor (1 epoch)": sgd_regressor(X, y),
        }
        times, _ = interleaved(methods, rounds)
        for name, seconds in times.items():
            curves.setdefault(name, []).append(statistics.median(seconds))
    return {"n": list(sizes["sweep"]), "d": d, "seconds": curves}


def plot(curves: dict, path: str, header: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"gdreg": "-", "LinearRegression": "--", "floor": ":", "SGDRegressor": "--"}
    for name, seconds in curves["seconds"].items():
        style = next((s for key, s in styles.items() if name.startswith(key)), "-")
        ax.loglog(curves["n"], seconds, style, marker="o", label=name)
    ax.set_xlabel("n_samples")
    ax.set_ylabel("median seconds")
    ax.set_title(f"fit time vs n (d = {curves['d']}, float64, {header['blas']})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- report ---------------------------------------------------------------------------
def machine() -> dict:
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_blas = next((i for i in blas if "numpy" in i.get("filepath", "")), {})
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "blas": f"{numpy_blas.get('internal_api', '?')} {numpy_blas.get('version', '')} "
        f"{numpy_blas.get('architecture', '')}, {numpy_blas.get('num_threads', '?')} threads",
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "versions": f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"numba {_numba_version()}, gdreg {gdreg.__version__}",
        "load_average_start": os.getloadavg()[0],
    }


def _numba_version() -> str:
    import numba

    return numba.__version__


def markdown(rows: list[Row], first: list[dict], header: dict, rounds: int) -> str:
    lines = [
        f"BLAS: {header['blas']} | CPU: {header['cpu']}",
        f"{header['versions']}",
        f"{rounds} interleaved rounds after a warm-up, medians; load average "
        f"{header['load_average_start']:.1f} at start, {header['load_average_end']:.1f} at end",
        "err.: max |coef - coef_ne| / max |coef_ne| vs normal_equation; case 6: scale-free "
        "max_j |coef_j - exact_j| std_j / std_y vs lstsq on the standardised design (digits)",
        "",
        "| case | data | gdreg | peer | gdreg | peer | ratio | target | gdreg err. "
        "| peer err. | notes |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    table = [(r.case, _row_line(r)) for r in rows]
    for f in first:
        table.append(
            (
                "5",
                f"| 5 first fit, fresh process | 20,000 x 50 | fit ({f['optimizer']}), "
                f"empty numba cache | same, cache on disk | {f['cold_s']:.3g} s "
                f"(CPU {f['cold_cpu_s']:.3g} s) | {f['warm_s']:.3g} s "
                f"(CPU {f['warm_cpu_s']:.3g} s) | {f['cold_s'] / f['warm_s']:.1f} | < 2 s "
                "| | | |",
            )
        )
    # by case number (stable: each case keeps its own order)
    lines += [line for _, line in sorted(table, key=lambda item: int(item[0].split()[0]))]
    return "\n".join(lines)


def _row_line(r: Row) -> str:
    if r.unit == "s":
        ours, theirs = f"{r.gdreg_median:.4g} s", f"{r.peer_median:.4g} s"
    else:
        ours, theirs = f"{r.gdreg_median:.3f} x", f"{r.peer_median:.3f} x"
    if r.err_kind == "scale-free":
        errs = (_digits(r.gdreg_err), _digits(r.peer_err))
    else:
        errs = (_err(r.gdreg_err), _err(r.peer_err))
    return (
        f"| {r.case} | {r.data} | {r.gdreg} | {r.peer} | {ours} | {theirs} | "
        f"{r.ratio:.3f} | {r.target} | {errs[0]} | {errs[1]} | {_notes(r)} |"
    )


def _notes(r: Row) -> str:
    """Case 6: did every default fit converge, in how many epochs, and who warned."""
    if "gdreg" not in r.details:
        return ""
    if "n_iter" not in r.details["gdreg"]:  # case 7: convergence only
        converged = r.details["gdreg"]["converged"]
        return f"gdreg converged_={all(converged)} ({sum(converged)}/{len(converged)} fits)"
    ours = r.details["gdreg"]
    converged = ours["converged"]
    epochs = sorted(set(ours["n_iter"]))
    notes = [
        f"gdreg converged_={all(converged)} ({sum(converged)}/{len(converged)} fits), "
        f"{'/'.join(map(str, epochs))} epochs, bound {ours['bound']:.1e}",
        "gdreg warnings: " + ("; ".join(ours["warnings"]) or "none"),
        "peer warnings: " + ("; ".join(r.details["peer_warnings"]) or "none"),
    ]
    return "; ".join(_short(n) for n in notes).replace("|", "/")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _err(value) -> str:
    return "" if value is None else f"{value:.1e}"


def _digits(value) -> str:
    return "" if value is None else f"{value:.1e} ({digits(value):.1f} digits)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after the warm-up")
    parser.add_argument("--json", metavar="PATH", help="write every measurement as JSON")
    parser.add_argument("--plot", metavar="PATH", help="run the n sweep and save the plot")
    parser.add_argument(
        "--size-plot",
        metavar="PATH",
        help="run case 7 (the size sweep of the default fit) and save its plot",
    )
    parser.add_argument(
        "--cases",
        default="1,2,3,4,5,6",
        help="comma-separated case numbers to run (default: 1 to 6; 7 is the size sweep)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="limit BLAS/OpenMP threads (threadpoolctl)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    cases = {c.strip() for c in args.cases.split(",")}
    if not cases <= {"1", "2", "3", "4", "5", "6", "7"}:
        parser.error("--cases takes numbers from 1 to 7")
    if args.size_plot:
        cases.add("7")
    with threadpool_limits(limits=args.threads):
        return _run(args, cases)


def _run(args, cases) -> int:
    sizes = SIZES["quick" if args.quick else "full"]
    header = machine()
    rows, first = [], []
    if "1" in cases:
        rows += case_batch(sizes, args.rounds)
    if "2" in cases:
        rows += case_sgd(sizes, args.rounds)
    if "3" in cases:
        rows += case_minibatch(sizes, args.rounds)
    if "4" in cases:
        rows += case_memory(sizes)
    if "5" in cases:
        # --quick measures the mode that compiles the most (each process imports for seconds)
        optimizers = ("stochastic",) if args.quick else ("batch", "stochastic", "minibatch")
        first = case_first_fit(optimizers)
    if "6" in cases:
        rows += case_converged(sizes, args.rounds)
    size_curves = None
    if "7" in cases:
        sweep_rows, size_curves = case_size_sweep(sizes, args.rounds)
        rows += sweep_rows
    curves = sweep(sizes, max(3, args.rounds // 2)) if args.plot else None
    header["load_average_end"] = os.getloadavg()[0]

    print(markdown(rows, first, header, args.rounds))
    if args.plot:
        plot(curves, args.plot, header)
        print(f"\nplot written to {args.plot}")
    if args.size_plot:
        plot_size_sweep(size_curves, args.size_plot, header)
        print(f"\nsize sweep plot written to {args.size_plot}")
    if args.json:
        record = {
            "machine": header,
            "quick": args.quick,
            "rounds": args.rounds,
            "rows": [
                dict(
                    asdict(r),
                    ratio=r.ratio,
                    gdreg_digits=r.gdreg_digits,
                    peer_digits=r.peer_digits,
                )
                for r in rows
            ],
            "first_fit": first,
            "sweep": curves,
            "size_sweep": size_curves,
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
