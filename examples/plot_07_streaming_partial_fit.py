"""
Streaming with partial_fit
==========================

When the data do not fit in memory, feed them in chunks:
:meth:`~gdreg.GradientDescentRegressor.partial_fit` runs one epoch of the
configured optimizer on each chunk and keeps the optimizer state, the update
count ``t_`` (so the step-size schedule continues) and ``n_iter_`` across
calls. Here the "large" data set is a memory-mapped ``.npy`` file on disk,
read one chunk at a time, once.

How good can a fit be after :math:`m` rows? No estimator does much better
than least squares on those :math:`m` rows, whose error shrinks like
:math:`1/\\sqrt{m}` (the noise in the data, not the optimizer, sets it). We
compare two streaming fits with that limit, one sample per update:

* plain stochastic gradient descent, whose step decays as
  :math:`1/\\sqrt{t}` (``learning_rate="auto"``). Its last iterate keeps
  jumping around the optimum by an amount set by the step;
* :class:`~gdreg.optimizers.AveragedSGD`, the same steps, reporting the
  running average of the iterates (Polyak-Ruppert averaging), which cancels
  most of that jumping.

The data are synthetic, so the error is measured against the true
coefficients.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from gdreg import GradientDescentRegressor, SufficientStatistics, fit_from_statistics
from gdreg.optimizers import AveragedSGD

rng = np.random.RandomState(0)
n, d, chunk = 200_000, 5, 1_000
true_coef = np.array([2.0, -1.0, 0.5, 0.0, 3.0])
scales = np.array([1.0, 2.0, 0.5, 1.0, 3.0])  # features in different units


def relative_error(coef):
    return np.linalg.norm(coef - true_coef) / np.linalg.norm(true_coef)


models = {
    "stochastic gradient descent, last iterate": GradientDescentRegressor(
        optimizer="stochastic", random_state=0
    ),
    "AveragedSGD, average of the iterates": GradientDescentRegressor(
        optimizer=AveragedSGD(), random_state=0
    ),
}
errors = {name: [] for name in models}
limit = []  # least squares on the rows seen so far
statistics = SufficientStatistics()  # O(d^2) numbers, however many rows

with tempfile.TemporaryDirectory() as tmp:
    # Write the data to disk once; afterwards only chunks are read.
    data = np.lib.format.open_memmap(
        Path(tmp) / "data.npy", mode="w+", dtype=np.float64, shape=(n, d + 1)
    )
    X_all = rng.normal(size=(n, d)) * scales
    data[:, :d] = X_all
    data[:, d] = X_all @ true_coef + 1.0 + rng.normal(size=n)
    data.flush()
    del data, X_all

    stream = np.load(Path(tmp) / "data.npy", mmap_mode="r")
    for start in range(0, n, chunk):
        block = np.asarray(stream[start : start + chunk])  # reads one chunk
        X_chunk, y_chunk = block[:, :d], block[:, d]
        for name, model in models.items():
            model.partial_fit(X_chunk, y_chunk)
            errors[name].append(relative_error(model.coef_))
        statistics.update(X_chunk, y_chunk)
        exact = fit_from_statistics(GradientDescentRegressor(), statistics)
        limit.append(relative_error(exact.coef_))
    del stream

rows = np.arange(chunk, n + 1, chunk)
for name, model in models.items():
    print(f"{name}: {model.n_iter_} calls, {model.t_} updates, {model.learning_rate_!r}")

# %%
# The error after each chunk, against the number of rows streamed, on log
# scales. Dotted: the expected error of least squares on :math:`m` rows,
# :math:`\sigma \sqrt{\operatorname{tr}((X^\top X)^{-1})}`, here
# :math:`\sqrt{\sum_j 1/(m s_j^2)}` for noise :math:`\sigma = 1` and feature
# scales :math:`s_j`, relative to :math:`\lVert w \rVert`: a straight line of
# slope -1/2. Least squares on the rows so far (grey) scatters about it: one
# draw of the noise. The last iterate of stochastic gradient descent falls
# behind and stays noisy: each update moves it by a step times one sample's
# gradient, and a step that decays as :math:`1/\sqrt{t}` shrinks that jitter
# only as :math:`t^{-1/4}`. Averaging the same iterates cancels the jitter:
# the average closes in on least squares as the pass goes on, from one pass
# over the data at one update per sample.
fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
expected = np.sqrt(np.sum(1 / scales**2) / rows) / np.linalg.norm(true_coef)
ax.loglog(rows, expected, color="black", linestyle=":", label="expected, ~ 1/sqrt(m)")
ax.loglog(
    rows,
    limit,
    color="gray",
    linestyle="--",
    linewidth=2.5,
    label="least squares on the rows so far",
)
for (name, curve), color in zip(errors.items(), ["C1", "C0"], strict=True):
    ax.loglog(rows, curve, color=color, label=name)
ax.set_xlabel("rows streamed, m (one partial_fit call per 1,000)")
ax.set_ylabel("relative error of the coefficients")
ax.set_title("One pass over a memory-mapped file")
ax.legend()
plt.show()

# %%
# If the goal is only the least-squares fit of a file, a stream of stochastic
# updates is not needed at all: :class:`~gdreg.SufficientStatistics` reads
# each chunk once and keeps :math:`O(d^2)` numbers, and
# :func:`~gdreg.fit_from_statistics` runs the full-batch fit on them, to the
# same answer as a fit on the whole file in memory (its last value above).
# ``partial_fit`` is for data that keep arriving, or for models whose state
# must follow the stream.
averaged = models["AveragedSGD, average of the iterates"]
with np.printoptions(precision=4, suppress=True):
    print("true coefficients  :", true_coef)
    print("from the statistics:", exact.coef_, f"converged_={exact.converged_}")
    print("AveragedSGD        :", averaged.coef_)
