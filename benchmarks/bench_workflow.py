"""gdreg in the workflows around a fit: grid searches and the first fit of a process.

Usage::

    python benchmarks/bench_workflow.py            # 200,000 x 50, 5 rounds
    python benchmarks/bench_workflow.py --quick    # 40,000 x 20, 2 rounds, under a minute

Three cases, each printed as a Markdown table:

1. ``GridSearchCV(estimator, {"alpha": 4 values}, cv=3, n_jobs=...)`` for
   ``GradientDescentRegressor()`` and ``Ridge()``, with ``n_jobs`` 1 and 2.
   Each search runs in a fresh process (what a user's script pays: with
   ``n_jobs=2`` that includes starting the loky workers, which import the
   estimator's package) and then once more in the same process (the workers
   are reused). The runs are interleaved round by round, so that a change in
   the machine's load hits every configuration alike; the table gives medians
   and the ratio gdreg / Ridge of the same ``n_jobs``.
2. The first fit of each optimizer family in a fresh process, with an empty
   numba cache (``NUMBA_CACHE_DIR`` set to a new temporary directory: the
   kernels compile) and with the cache the previous process left on disk (the
   kernels are loaded), against the second fit of the same process. "first -
   second" is what the process pays once for its compiled code.
3. ``busy``: the default fit and ``Ridge(alpha=1e-6)`` on 400,000 x 50, on
   the machine as it is and while another process keeps one core busy (a
   Python busy loop): a parallel pass whose parts wait for each other would
   slow down by far more than the core it lost.

No timing here is asserted by a test; compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: Sizes of the full and the quick run: (n_samples, n_features).
SIZES = {"full": (200_000, 50), "quick": (40_000, 20)}
#: Sizes of the busy-host case.
BUSY_SIZES = {"full": (400_000, 50), "quick": (40_000, 20)}
#: The optimizer families of the first-fit case, as ``GradientDescentRegressor`` arguments.
FAMILIES = {
    "batch": "optimizer='batch'",
    "stochastic": "optimizer='stochastic'",
    "minibatch": "optimizer='minibatch'",
    "svrg": "optimizer=gdreg.optimizers.SVRG()",
    "averaged": "optimizer=gdreg.optimizers.AveragedSGD()",
}

_SEARCH_SCRIPT = """
import time, warnings, json
start = time.perf_counter()
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from gdreg import GradientDescentRegressor
imported = time.perf_counter() - start
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.standard_normal(({n}, {d}))
y = X @ rng.standard_normal({d}) + rng.standard_normal({n})
estimator = {estimator}
times = []
for _ in range(2):  # the second search reuses the loky workers of the first
    t0 = time.perf_counter()
    GridSearchCV(estimator, {{"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}}, cv=3, n_jobs={n_jobs}).fit(X, y)
    times.append(time.perf_counter() - t0)
print(json.dumps({{"import": imported, "first": times[0], "second": times[1]}}))
"""

_FIRST_FIT_SCRIPT = """
import time, warnings, json
start = time.perf_counter()
import numpy as np
import gdreg, gdreg.optimizers
from gdreg import GradientDescentRegressor
imported = time.perf_counter() - start
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.standard_normal(({n}, {d})); y = X @ rng.standard_normal({d})
times = []
for _ in range(2):
    t0 = time.perf_counter()
    GradientDescentRegressor({family}, max_iter=2, random_state=0).fit(X, y)
    times.append(time.perf_counter() - t0)
print(json.dumps({{"import": imported, "first": times[0], "second": times[1]}}))
"""


def _fresh(script: str, env: dict | None = None) -> dict:
    """Run ``script`` in a fresh interpreter and return the JSON its last line prints."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def grid_search(n: int, d: int, rounds: int) -> dict:
    """Per ``(estimator, n_jobs)``: the lists of import, first and second search seconds."""
    configs = [(name, n_jobs) for name in ("gdreg", "Ridge") for n_jobs in (1, 2)]
    estimators = {"gdreg": "GradientDescentRegressor()", "Ridge": "Ridge()"}
    runs: dict = {config: {"import": [], "first": [], "second": []} for config in configs}
    for _ in range(rounds):
        for name, n_jobs in configs:
            script = _SEARCH_SCRIPT.format(n=n, d=d, estimator=estimators[name], n_jobs=n_jobs)
            for key, value in _fresh(script).items():
                runs[name, n_jobs][key].append(value)
    return runs


def first_fits(n: int, d: int, rounds: int, families) -> dict:
    """Per family and cache state ("cold": empty, "warm": on disk): lists of seconds."""
    runs: dict = {}
    for _ in range(rounds):
        for family in families:
            script = _FIRST_FIT_SCRIPT.format(n=n, d=d, family=FAMILIES[family])
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache)
                for state in ("cold", "warm"):  # the warm process loads what the cold one saved
                    out = _fresh(script, env)
                    record = runs.setdefault((family, state), {k: [] for k in out})
                    for key, value in out.items():
                        record[key].append(value)
    return runs


def busy_host(n: int, d: int, rounds: int) -> dict:
    """Per ``(estimator, "quiet" | "busy")``: the seconds of ``rounds`` interleaved fits."""
    import numpy as np
    from sklearn.linear_model import Ridge

    from gdreg import GradientDescentRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    makers = {"gdreg": GradientDescentRegressor, "Ridge": lambda: Ridge(alpha=1e-6)}
    runs: dict = {}
    for state in ("quiet", "busy"):
        hog = None
        if state == "busy":
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)  # let it take its core
        try:
            for make in makers.values():  # warm-up: kernels loaded, caches touched
                make().fit(X, y)
            for _ in range(rounds):
                for name, make in makers.items():
                    start = time.perf_counter()
                    make().fit(X, y)
                    runs.setdefault((name, state), []).append(time.perf_counter() - start)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    return runs


def busy_table(runs: dict, n: int, d: int, rounds: int) -> str:
    lines = [
        f"Default fit on {n:,} x {d} with another process holding a core, median of {rounds}",
        "",
        "| estimator | quiet s | one core busy s | busy / quiet |",
        "|---|---|---|---|",
    ]
    for name in ("gdreg", "Ridge"):
        quiet, busy = _median(runs[name, "quiet"]), _median(runs[name, "busy"])
        lines.append(f"| {name} | {quiet:.3f} | {busy:.3f} | {busy / quiet:.2f} |")
    return "\n".join(lines)


def _median(values) -> float:
    return statistics.median(values)


def grid_table(runs: dict, n: int, d: int, rounds: int) -> str:
    lines = [
        f"GridSearchCV(alpha: 4 values, cv=3) on {n:,} x {d}, median of {rounds} fresh processes",
        "",
        "| estimator | n_jobs | import s | search s (fresh) | ratio to Ridge | search s (again)"
        " | ratio to Ridge |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, n_jobs), record in runs.items():
        ridge = runs["Ridge", n_jobs]
        first, again = _median(record["first"]), _median(record["second"])
        lines.append(
            f"| {name} | {n_jobs} | {_median(record['import']):.2f} | {first:.3f}"
            f" | {first / _median(ridge['first']):.2f} | {again:.3f}"
            f" | {again / _median(ridge['second']):.2f} |"
        )
    return "\n".join(lines)


def first_fit_table(runs: dict, n: int, d: int, rounds: int) -> str:
    lines = [
        f"First fit (max_iter=2) in a fresh process on {n:,} x {d}, median of {rounds} rounds",
        "",
        "| optimizer | numba cache | import s | first fit s | second fit s | first - second s |",
        "|---|---|---|---|---|---|",
    ]
    for (family, state), record in runs.items():
        first, second = _median(record["first"]), _median(record["second"])
        lines.append(
            f"| {family} | {'empty' if state == 'cold' else 'on disk'}"
            f" | {_median(record['import']):.2f} | {first:.3f} | {second:.3f}"
            f" | {first - second:.3f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="fresh processes per config")
    parser.add_argument(
        "--cases", default="grid,first,busy", help="comma-separated: grid, first, busy"
    )
    parser.add_argument("--families", default=",".join(FAMILIES), help="first-fit families")
    args = parser.parse_args(argv)
    n, d = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or (2 if args.quick else 5)
    cases = set(args.cases.split(","))
    print(
        f"cores: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
        f", load average at start: {os.getloadavg()[0]:.2f}\n"
    )
    if "grid" in cases:
        print(grid_table(grid_search(n, d, rounds), n, d, rounds), end="\n\n")
    if "first" in cases:
        families = args.families.split(",")
        print(first_fit_table(first_fits(n, d, rounds, families), n, d, rounds), end="\n\n")
    if "busy" in cases:
        n_busy, d_busy = BUSY_SIZES["quick" if args.quick else "full"]
        runs = busy_host(n_busy, d_busy, max(rounds, 5))
        print(busy_table(runs, n_busy, d_busy, max(rounds, 5)), end="\n\n")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
