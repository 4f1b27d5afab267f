"""
Streaming with partial_fit
==========================

When the data do not fit in memory, feed them in chunks:
:meth:`~gdreg.GradientDescentRegressor.partial_fit` runs one epoch of the
configured optimizer on each chunk and keeps the optimizer state, the update
count ``t_`` (so the step-size schedule continues) and ``n_iter_`` across
calls. Here the "large" data set is a memory-mapped ``.npy`` file on disk,
read one chunk at a time.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from gdreg import GradientDescentRegressor, normal_equation

rng = np.random.RandomState(0)
n, d = 50_000, 5
true_coef = np.array([2.0, -1.0, 0.5, 0.0, 3.0])

with tempfile.TemporaryDirectory() as tmp:
    # Write the data to disk once; afterwards only chunks are read.
    data = np.lib.format.open_memmap(
        Path(tmp) / "data.npy", mode="w+", dtype=np.float64, shape=(n, d + 1)
    )
    X_all = rng.normal(size=(n, d))
    data[:, :d] = X_all
    data[:, d] = X_all @ true_coef + 1.0 + 0.3 * rng.normal(size=n)
    data.flush()
    del data, X_all

    stream = np.load(Path(tmp) / "data.npy", mmap_mode="r")
    coef_star, intercept_star = normal_equation(stream[:, :d], stream[:, d])  # for comparison

    # %%
    # Three passes over the file in chunks of 5000 rows, mini-batch descent.
    reg = GradientDescentRegressor(optimizer="minibatch", batch_size=64, random_state=0)
    chunk = 5_000
    errors = []
    for _epoch in range(3):
        for start in range(0, n, chunk):
            block = np.asarray(stream[start : start + chunk])  # reads one chunk
            reg.partial_fit(block[:, :d], block[:, d])
            errors.append(np.linalg.norm(reg.coef_ - coef_star) / np.linalg.norm(coef_star))
    del stream

print(f"calls: {reg.n_iter_}, updates: {reg.t_}")
print("coef      :", reg.coef_.round(4), " intercept:", round(reg.intercept_, 4))
print("closed form:", coef_star.round(4), " intercept:", round(intercept_star, 4))

# %%
# The distance to the closed-form solution after each chunk. The schedule
# (``"auto"``: a step that decays as one over the square root of the number of
# chunks seen) lowers the error as more data stream by, noisily: each point is
# the iterate after one more chunk of mini-batch steps.
fig, ax = plt.subplots(layout="constrained")
ax.semilogy(np.arange(1, len(errors) + 1), errors, marker=".")
for boundary in range(n // chunk, len(errors), n // chunk):
    ax.axvline(boundary + 0.5, color="gray", linewidth=0.8, linestyle="--")
ax.set_xlabel("partial_fit call (dashed: a new pass over the file)")
ax.set_ylabel("relative coefficient error")
ax.set_title("Streaming a memory-mapped file through partial_fit")
plt.show()
