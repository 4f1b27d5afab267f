"""Epochs and time each update rule needs to reach 1e-6 relative error.

Usage::

    python benchmarks/bench_optimizers.py            # 20,000 x 50, a few minutes
    python benchmarks/bench_optimizers.py --quick    # 5,000 x 20, under a minute

The data are the AR(1)-correlated design of the benchmark suite
(``benchmarks/run.py``: standard normal features with corr(x_i, x_j) =
rho^|i-j|, rho = 0.9, ``y = X w + 1 + 0.1 noise``). Every rule runs with the
estimator's default ``learning_rate="auto"``; the reference is
:func:`gdreg.normal_equation` and the error is run.py's
``max |coef - coef_ne| / max |coef_ne|``.

For each rule and sampling mode the script fits once with ``record_path=True``
and ``tol=None`` to find the first epoch whose coefficients are within 1e-6,
then times a fit of exactly that many epochs (median of ``--rounds``). A rule
that does not get there within its epoch budget is reported with the best
error it reached. With noise in ``y``, the per-sample and mini-batch gradients
do not vanish at the optimum; only a decaying step lets those modes converge,
and slowly.

The second table sweeps the correlation: full-batch epochs for plain gradient
descent (~ kappa log(1/eps)) against Nesterov with the momentum tuned to the
condition number kappa (~ sqrt(kappa) log(1/eps)) and with the default 0.9.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import make_data, relative_error  # the suite's design and error metric

from gdreg import GradientDescentRegressor, normal_equation
from gdreg.optimizers import (
    AdaGrad,
    Adam,
    AveragedSGD,
    GradientDescent,
    Momentum,
    Nesterov,
    RMSProp,
    accelerated_momentum,
)

TARGET = 1e-6
SIZES = {"full": (20_000, 50), "quick": (5_000, 20)}
#: Epoch budget per sampling mode (the stochastic modes run one Python call per update).
BUDGET = {
    "full": {"batch": 20_000, "minibatch": 200, "stochastic": 10},
    "quick": {"batch": 20_000, "minibatch": 100, "stochastic": 5},
}
MINIBATCH = 256


def condition_number(X) -> float:
    Xc = X - X.mean(axis=0)
    eig = np.linalg.eigvalsh(Xc.T @ Xc / len(X))
    return float(eig[-1] / eig[0])


def rules(kappa: float) -> dict:
    return {
        "GradientDescent": GradientDescent,
        "Momentum(0.9)": Momentum,
        "Nesterov(0.9)": Nesterov,
        f"Nesterov(tuned {accelerated_momentum(kappa):.3f})": lambda sampling: Nesterov(
            sampling=sampling, momentum=accelerated_momentum(kappa)
        ),
        "AdaGrad": AdaGrad,
        "RMSProp": RMSProp,
        "Adam": Adam,
        "AveragedSGD": AveragedSGD,
    }


def fit(X, y, optimizer, epochs, record_path=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GradientDescentRegressor(
            optimizer=optimizer,
            batch_size=MINIBATCH,
            max_iter=epochs,
            tol=None,
            random_state=0,
            record_path=record_path,
        ).fit(X, y)


def epochs_to_target(X, y, make, sampling, budget, reference):
    """First epoch within TARGET (or None) and the best error seen."""
    reg = fit(X, y, make(sampling=sampling), budget, record_path=True)
    errors = np.array([relative_error(c, reference) for c in reg.coef_path_])
    hits = np.flatnonzero(errors < TARGET)
    return (int(hits[0]) if hits.size else None), float(np.nanmin(errors))


def time_epochs(X, y, make, sampling, epochs, rounds) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fit(X, y, make(sampling=sampling), epochs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table_rules(X, y, budgets, rounds, samplings) -> list[str]:
    reference = normal_equation(X, y)[0]
    kappa = condition_number(X)
    lines = [
        f"kappa = {kappa:.0f}, sqrt(kappa) = {kappa**0.5:.1f}; target: relative error < {TARGET:g}",
        "",
        "| rule | sampling | epochs to 1e-6 | time (s) | best error in budget |",
        "|---|---|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for name, make in rules(kappa).items():
        for sampling in samplings:
            budget = budgets[sampling]
            hit, best = epochs_to_target(X, y, make, sampling, budget, reference)
            if hit is None:
                epochs, seconds = f"> {budget}", "-"
            else:
                epochs = str(hit)
                seconds = f"{time_epochs(X, y, make, sampling, max(hit, 1), rounds):.3g}"
            lines.append(f"| {name} | {sampling} | {epochs} | {seconds} | {best:.1e} |")
            print(lines[-1], flush=True)
    return lines


def table_sweep(n, d, rhos) -> list[str]:
    lines = [
        "| rho | kappa | GD epochs | GD / kappa | Nesterov tuned | tuned / sqrt(kappa) "
        "| Nesterov(0.9) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for rho in rhos:
        X, y = make_data(n, d, rho=rho)
        reference = normal_equation(X, y)[0]
        kappa = condition_number(X)
        counts = {}
        makers = {
            "gd": GradientDescent,
            "tuned": lambda sampling, k=kappa: Nesterov(momentum=accelerated_momentum(k)),
            "default": Nesterov,
        }
        for key, make in makers.items():
            budget = 200_000 if key == "gd" else 20_000
            hit, _ = epochs_to_target(X, y, make, "batch", budget, reference)
            counts[key] = hit
        gd, tuned = counts["gd"], counts["tuned"]
        lines.append(
            f"| {rho} | {kappa:.0f} | {gd} | {gd / kappa:.1f} | {tuned} | "
            f"{tuned / kappa**0.5:.1f} | {counts['default']} |"
        )
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--rounds", type=int, default=3, help="timing repeats (median)")
    parser.add_argument(
        "--no-stochastic", action="store_true", help="skip the per-sample mode (slowest)"
    )
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full"
    n, d = SIZES[size]
    X, y = make_data(n, d, rho=0.9)
    samplings = ["batch", "minibatch"] + ([] if args.no_stochastic else ["stochastic"])
    print(f"## Update rules on {n:,} x {d} AR(1) rho = 0.9, learning_rate='auto'\n")
    table_rules(X, y, BUDGET[size], args.rounds, samplings)
    print("\n## Full batch: epochs to 1e-6 against the condition number\n")
    table_sweep(min(n, 5_000), d, [0.5, 0.8, 0.9, 0.95, 0.98])
    return 0


if __name__ == "__main__":
    sys.exit(main())
