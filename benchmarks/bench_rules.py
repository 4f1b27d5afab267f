"""One stochastic or mini-batch epoch of every built-in update rule, against its peers.

Usage::

    python benchmarks/bench_rules.py                # 200,000 x 10 and 100,000 x 100
    python benchmarks/bench_rules.py --quick        # 20,000 x 10 and 10,000 x 100
    python benchmarks/bench_rules.py --rounds 7

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
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]
    print(f"Per-sample epoch (median of {args.rounds} interleaved rounds)\n")
    print("\n".join(per_sample_table(sizes, args.rounds)))
    print(f"\nMini-batch epoch (median of {args.rounds} interleaved rounds)\n")
    print("\n".join(minibatch_table(sizes, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
