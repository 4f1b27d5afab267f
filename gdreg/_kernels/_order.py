"""The visiting order of an epoch."""

from __future__ import annotations

import numpy as np

from gdreg._kernels._compile import _jit


# -- the visiting order of an epoch ----------------------------------------------------
@_jit(nogil=True, _nrt=False)
def _shuffle(seed, out):
    """Fisher-Yates over ``out`` (filled with 0..n-1), driven by splitmix64."""
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    state = np.uint64(seed)
    golden = np.uint64(0x9E3779B97F4A7C15)
    mix1 = np.uint64(0xBF58476D1CE4E5B9)
    mix2 = np.uint64(0x94D049BB133111EB)
    low32 = np.uint64(0xFFFFFFFF)
    for i in range(n - 1, 0, -1):
        state = state + golden
        z = state
        z = (z ^ (z >> np.uint64(30))) * mix1
        z = (z ^ (z >> np.uint64(27))) * mix2
        z = z ^ (z >> np.uint64(31))
        # j = floor(z * (i + 1) / 2**64) in [0, i], exact in 64-bit pieces (i < 2**32)
        bound = np.uint64(i + 1)
        high = (z >> np.uint64(32)) * bound + (((z & low32) * bound) >> np.uint64(32))
        j = np.int64(high >> np.uint64(32))
        swap = out[i]
        out[i] = out[j]
        out[j] = swap
