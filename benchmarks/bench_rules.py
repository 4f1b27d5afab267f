"""One stochastic or mini-batch epoch of every built-in update rule, against its peers.

Usage::

    python benchmarks/bench_rules.py                # 200,000 x 10 and 100,000 x 100
    python benchmarks/bench_rules.py --quick        # 20,000 x 10 and 10,000 x 100
    python benchmarks/bench_rules.py --rounds 7
    python benchmarks/bench_rules.py --cold         # also the first fit with an empty cache

Each rule's epoch is ``gdreg._loop.run(..., max_iter=1, tol=None)`` on an
objective built once outside the timing (as ``gdreg_epoch`` in
``benchmarks/run.py``), with a constant step. The peers:

* per sample: ``SGDRegressor(max_iter=1, tol=None, penalty=None)`` fitted for
  one epoch on the same data (and ``SGDRegressor(average=True)`` for
  :class:`~gdreg.optimizers.AveragedSGD`); target: every rule at most 1.0 x;
* mini-batch (32 samples): plain :class:`~gdreg.optimizers.GradientDescent`'s
  mini-batch epoch; target: at most 1.5 x.

Every method of one table is timed *interleaved*: one warm-up call each (which
also compiles), then ``--rounds`` rounds of all methods in turn; the table
gives medians in nanoseconds per sample and the ratios, both from the same
rounds, so that a change in the machine's load hits every method alike.

``--cold`` adds the first ``fit`` of each rule and sampling in a fresh process
whose numba cache (``NUMBA_CACHE_DIR``) is an empty temporary directory, as
case 5 of ``benchmarks/run.py`` (20,000 x 50, two epochs): what compiling the
rule's kernel costs a new installation; target: under 2 s per rule. Wall and
CPU seconds of the process are both given: on a shared machine the CPU time is
what the compilation costs, the wall time also counts waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.linear_model import SGDRegressor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import interleaved, make_data, quiet  # the suite's timing, design and warnings

from gdreg import _loop
from gdreg._objective import LeastSquares
from gdreg.optimizers import (
    AdaGrad,
    Adam,
    AveragedSGD,
    GradientDescent,
    Momentum,
    Nesterov,
    RMSProp,
)
from gdreg.schedules import Constant

SIZES = {"full": [(200_000, 10), (100_000, 100)], "quick": [(20_000, 10), (10_000, 100)]}
RULES = {
    "GradientDescent": GradientDescent,
    "Momentum": Momentum,
    "Nesterov": Nesterov,
    "AdaGrad": AdaGrad,
    "RMSProp": RMSProp,
    "Adam": Adam,
    "AveragedSGD": AveragedSGD,
}
#: A step each rule takes without diverging on standardised data (one epoch).
STEP = {"AdaGrad": 0.01, "RMSProp": 0.001, "Adam": 0.001}
MINIBATCH = 32


def rule_epoch(X, y, rule, *, sampling: str, batch_size: int):
    """One epoch of ``rule`` by the loop alone, on an objective built outside the timing."""
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
    optimizer = RULES[rule](sampling=sampling, batch_size=batch_size)
    schedule = Constant(STEP.get(rule, 0.001 if sampling == "stochastic" else 0.01))
    params0 = np.zeros((X.shape[1] + 1, 1), dtype=X.dtype)

    def epoch():
        result = _loop.run(
            objective,
            optimizer,
            schedule,
            params0=params0,
            max_iter=1,
            tol=None,
            batch_size=batch_size,
            rng=np.random.RandomState(0),
        )
        return result.params[:-1, 0]

    return epoch


def sgd_regressor(X, y, **options):
    return quiet(
        lambda: (
            SGDRegressor(max_iter=1, tol=None, penalty=None, random_state=0, **options)
            .fit(X, y)
            .coef_
        )
    )


def ns_per_sample(times, n) -> float:
    return 1e9 * statistics.median(times) / n


def per_sample_table(sizes, rounds) -> list[str]:
    lines = [
        "| data | rule | ns/sample | peer | peer ns/sample | ratio |",
        "|---|---|---:|---|---:|---:|",
    ]
    for n, d in sizes:
        X, y = make_data(n, d, seed=1)
        methods = {
            rule: rule_epoch(X, y, rule, sampling="stochastic", batch_size=1) for rule in RULES
        }
        methods["SGDRegressor"] = sgd_regressor(X, y)
        methods["SGDRegressor(average=True)"] = sgd_regressor(X, y, average=True)
        times, _ = interleaved(methods, rounds)
        for rule in RULES:
            peer = "SGDRegressor(average=True)" if rule == "AveragedSGD" else "SGDRegressor"
            ours, theirs = ns_per_sample(times[rule], n), ns_per_sample(times[peer], n)
            lines.append(
                f"| {n:,} x {d} | {rule} | {ours:,.0f} | {peer} | {theirs:,.0f} "
                f"| {ours / theirs:.2f} |"
            )
    return lines


def minibatch_table(sizes, rounds) -> list[str]:
    lines = [
        f"| data | rule (batch {MINIBATCH}) | ns/sample | x GradientDescent |",
        "|---|---|---:|---:|",
    ]
    for n, d in sizes:
        X, y = make_data(n, d, seed=2)
        methods = {
            rule: rule_epoch(X, y, rule, sampling="minibatch", batch_size=MINIBATCH)
            for rule in RULES
        }
        times, _ = interleaved(methods, rounds)
        plain = ns_per_sample(times["GradientDescent"], n)
        for rule in RULES:
            ours = ns_per_sample(times[rule], n)
            lines.append(f"| {n:,} x {d} | {rule} | {ours:,.0f} | {ours / plain:.2f} |")
    return lines


_COLD_SCRIPT = """
import time, warnings
import numpy as np
from gdreg import GradientDescentRegressor
from gdreg import optimizers
rng = np.random.default_rng(0)
X = rng.standard_normal((20_000, 50)); y = X @ rng.standard_normal(50)
warnings.simplefilter("ignore")
optimizer = getattr(optimizers, {rule!r})(sampling={sampling!r})
t0, c0 = time.perf_counter(), time.process_time()
GradientDescentRegressor(optimizer=optimizer, max_iter=2, batch_size=32).fit(X, y)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def cold_fit(rule: str, sampling: str) -> tuple[float, float]:
    """Wall and CPU seconds of the first fit in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run(
            [sys.executable, "-c", _COLD_SCRIPT.format(rule=rule, sampling=sampling)],
            env=dict(os.environ, NUMBA_CACHE_DIR=cache),
            capture_output=True,
            text=True,
            check=True,
        )
    wall, cpu = map(float, out.stdout.split())
    return wall, cpu


def cold_table() -> list[str]:
    lines = [
        "| rule | sampling | first fit, wall s | first fit, CPU s |",
        "|---|---|---:|---:|",
    ]
    for rule in RULES:
        for sampling in ("stochastic", "minibatch"):
            wall, cpu = cold_fit(rule, sampling)
            lines.append(f"| {rule} | {sampling} | {wall:.2f} | {cpu:.2f} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--cold", action="store_true", help="first fits with an empty cache")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    print(f"Per-sample epoch (median of {args.rounds} interleaved rounds)\n")
    print("\n".join(per_sample_table(sizes, args.rounds)))
    print(f"\nMini-batch epoch (median of {args.rounds} interleaved rounds)\n")
    print("\n".join(minibatch_table(sizes, args.rounds)), flush=True)
    if args.cold:
        print("\nFirst fit in a fresh process, empty numba cache (20,000 x 50, 2 epochs)\n")
        print("\n".join(cold_table()), flush=True)


if __name__ == "__main__":
    main()
