"""Fit a linear model on a Dask array larger than the memory of all workers together.

The data are generated on the workers, block by block (``da.random``), never
sent from the client; the workers run under a memory limit whose sum is
smaller than ``X``. :meth:`GradientDescentRegressor.fit` makes one
distributed pass that turns every block into sufficient statistics (d x d)
and tree-reduces them, then iterates on the client.

Reported: wall time of the fit, peak resident memory of each worker process
(``ru_maxrss``), the agreement of the big fit with the closed-form solution
from the same statistics and with the generating coefficients, and on a
subsample-sized problem the agreement of the Dask fit with the in-memory fit.

Run (defaults: 4.0 GB of float64 on 2 workers limited to 750 MB each)::

    python benchmarks/bench_dask_larger_than_memory.py
    python benchmarks/bench_dask_larger_than_memory.py --n-samples 2_000_000  # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
from gdreg._dask import distributed_statistics


def peak_rss_mb() -> float:
    """Peak resident set size of the calling process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def make_data(n_samples, n_features, chunk_rows, seed):
    """X, y as lazy dask arrays: each block is drawn on the worker that computes it."""
    rs = da.random.RandomState(seed)
    coef = np.linspace(-2.0, 2.0, n_features)
    scale = np.linspace(0.5, 2.0, n_features)  # condition number 16: a few hundred iterations
    X = rs.standard_normal((n_samples, n_features), chunks=(chunk_rows, n_features)) * scale + 3.0
    y = X @ coef + 1.0 + 0.5 * rs.standard_normal(n_samples, chunks=chunk_rows)
    return X, y, coef


def relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=25_000_000)
    parser.add_argument("--n-features", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="750MB", help="per worker")
    parser.add_argument("--subsample", type=int, default=400_000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    n, d = args.n_samples, args.n_features
    x_bytes = n * d * 8
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            memory_limit=args.memory_limit,
        ) as cluster,
        Client(cluster) as client,
    ):
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        baseline = client.run(current_rss_mb)
        print(
            f"X: {n:,} x {d} float64 = {x_bytes / 1e9:.2f} GB (+ y {n * 8 / 1e9:.2f} GB); "
            f"{len(limits)} workers x {limits[0] / 1e9:.2f} GB = {sum(limits) / 1e9:.2f} GB"
        )
        X, y, coef_true = make_data(n, d, args.chunk_rows, seed=0)

        start = time.perf_counter()
        reg = GradientDescentRegressor(tol=1e-10, max_iter=10_000).fit(X, y)
        wall = time.perf_counter() - start
        peaks = client.run(peak_rss_mb)

        # The closed-form solution of the same statistics, for the big problem
        # (a second pass, not timed).
        stats = distributed_statistics(X, y)
        w_exact = np.linalg.solve(stats.xx, stats.xy)[:, 0]
        b_exact = stats.y_mean[0] - stats.x_mean @ w_exact

        # A subsample-sized problem: the Dask fit against the in-memory fit.
        m = args.subsample
        X_small, y_small = X[:m], y[:m]
        Xs, ys = client.compute([X_small, y_small], sync=True)
        params = {"tol": None, "max_iter": 500}
        in_memory = GradientDescentRegressor(**params).fit(Xs, ys)
        on_dask = GradientDescentRegressor(**params).fit(X_small, y_small)
        chunked = fit_from_statistics(
            GradientDescentRegressor(**params),
            SufficientStatistics.from_chunks(
                (Xs[i : i + 50_000], ys[i : i + 50_000]) for i in range(0, m, 50_000)
            ),
        )

    figures = {
        "n_samples": n,
        "n_features": d,
        "x_gb": x_bytes / 1e9,
        "worker_memory_limit_gb": limits[0] / 1e9,
        "workers": len(limits),
        "blocks": len(X.chunks[0]),
        "fit_wall_s": wall,
        "n_iter": reg.n_iter_,
        "worker_baseline_rss_mb": {k.rsplit(":", 1)[-1]: v for k, v in baseline.items()},
        "worker_peak_rss_mb": {k.rsplit(":", 1)[-1]: v for k, v in peaks.items()},
        "big_vs_closed_form_coef_rel": relative(reg.coef_, w_exact),
        "big_vs_closed_form_intercept_rel": relative(reg.intercept_, b_exact),
        "big_vs_true_coef_maxabs": float(np.max(np.abs(reg.coef_ - coef_true))),
        "subsample": m,
        "subsample_dask_vs_in_memory_coef_rel": relative(on_dask.coef_, in_memory.coef_),
        "subsample_dask_vs_in_memory_intercept_rel": relative(
            on_dask.intercept_, in_memory.intercept_
        ),
        "subsample_chunks_vs_in_memory_coef_rel": relative(chunked.coef_, in_memory.coef_),
    }
    print(f"blocks: {figures['blocks']} of {args.chunk_rows:,} rows")
    print(f"fit wall time: {wall:.1f} s ({reg.n_iter_} iterations on the client)")
    for worker, peak in figures["worker_peak_rss_mb"].items():
        base = figures["worker_baseline_rss_mb"][worker]
        print(f"worker :{worker} peak RSS {peak:.0f} MB (idle {base:.0f} MB)")
    print(
        "big fit vs closed form from the same statistics: "
        f"coef {figures['big_vs_closed_form_coef_rel']:.2e}, "
        f"intercept {figures['big_vs_closed_form_intercept_rel']:.2e} (relative); "
        f"vs generating coef: max abs {figures['big_vs_true_coef_maxabs']:.2e}"
    )
    print(
        f"subsample n={m:,}, 500 iterations: Dask vs in-memory fit "
        f"coef {figures['subsample_dask_vs_in_memory_coef_rel']:.2e}, "
        f"intercept {figures['subsample_dask_vs_in_memory_intercept_rel']:.2e}; "
        f"chunked statistics vs in-memory coef "
        f"{figures['subsample_chunks_vs_in_memory_coef_rel']:.2e} (relative)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return figures


if __name__ == "__main__":
    main()
