"""Stochastic and mini-batch epochs of any update rule that has a compiled *update piece*.

An update rule knows nothing of data: it provides two small scalar functions
(its *piece*), registered with :func:`register_piece` for the type of a small
NamedTuple of its hyperparameters (``MomentumHyper(momentum)``,
``AdamHyper(beta1, beta2, eps)``, ...):

``factors(hyper, t) -> (c1, c2)``
    what the rule computes once per update ``t`` (Adam's bias corrections;
    ``(1.0, 1.0)`` for a rule without any, :func:`no_factors`);
``update(hyper, factors, g, a, b, eta) -> (delta, a, b)``
    one update of one coordinate: the gradient ``g``, the coordinate's two
    state entries ``a`` and ``b`` (a rule with one buffer ignores ``b``), the
    step ``eta``; it returns what to add to the coordinate and the new state.

The generic kernels below form the gradient of one sample or one batch (dense,
one target on 1-D views or any number of targets, or CSR; sample weights;
standardised coordinates) and call the piece for every coordinate. In
compiled code the piece is chosen by the type of ``hyper`` at compile time
(a numba ``overload``), so a kernel is specialised once per rule; run as
Python (``NUMBA_DISABLE_JIT=1``) the same names dispatch through the registry.

How the piece reaches the loop matters for the first fit of a fresh process
(an empty cache). The piece is compiled once, as a function of scalars (no
array argument, so no reference counting), and LLVM inlines it into the loop:
the kernel pays no call per coordinate and runs as fast as with the piece
pasted in. numba's own ``inline="always"`` would paste it at every call site
(two in the per-sample kernel) and type it again there: that made Adam's
cold per-sample kernel cost 0.78 s of CPU instead of 0.54 s (Momentum's 0.44
instead of 0.40), for the same machine code.

Standardised coordinates: ``theta`` (and the rule's state) hold ``u = sigma *
w``. The kernels update ``w`` (no division in the residual), form the gradient
in ``u``, ``(g_w + alpha w) / sigma``, as
:meth:`gdreg._objective.LeastSquares.batch_value_and_gradient` does, let the
rule turn it into a change of ``u`` and apply that change divided by
``sigma`` to ``w``; ``theta`` is converted at the start and end of the epoch
(O(d)). Without spreads ``inv`` is ones, and multiplying by one is exact.

The loss (``kind`` and ``epsilon``, :func:`gdreg._loss.residual_value`) is
handed over as in the plain kernels (:func:`gdreg._kernels._compile.loss_arguments`:
None for the squared loss alone, its own specialisation): the gradient of a
sample is ``s_i l'(r_i)`` times its centred row. An l1 part (``l1 > 0``, for a
rule that declares itself ``proximal``) soft-thresholds each coefficient
after each update, by ``eta * l1 / sigma`` in ``u``, which is ``eta * l1 *
inv^2`` in ``w``; a rule whose state mirrors the parameters (AveragedSGD's
iterate) would not see that threshold, which is why such a rule is not
proximal.

Constant columns are centred by their constant exactly (the estimator snaps
the offsets), so every centred value ``x - x_offset`` of such a column, and
with it the data part of its gradient, is exactly zero, as the NumPy path's
explicit zero gives (the mini-batch kernels centre each row for that reason;
CSR, as the plain kernel, centres the batch sum).

numba caches each kernel keyed to this file only: after editing a rule's
piece (in ``gdreg/optimizers``), clear :data:`gdreg._kernels.CACHE_DIR` (or
touch this file) so that the kernels are compiled again.
"""

from __future__ import annotations

import inspect
import math
import types as pytypes

import numba
import numpy as np
import scipy.sparse as sp
from numba.extending import overload

from gdreg import _loss
from gdreg._kernels._compile import (
    _LINE,
    _PREFETCH_AHEAD,
    _SUMS,
    _batch_penalty,
    _jit,
    _prefetch,
    _shrink,
    loss_arguments,
)

__all__ = ["no_factors", "register_piece", "rule_epoch", "scaled_step"]

#: hyperparameter NamedTuple type -> (factors, update), the rule's piece as Python functions.
_PIECES: dict = {}


def register_piece(hyper_type: type, factors, update) -> None:
    """Register a rule's compiled update piece for hyperparameters of ``hyper_type``.

    Parameters
    ----------
    hyper_type : type
        A NamedTuple class of floats: the rule's hyperparameters.
    factors : callable
        ``factors(hyper, t) -> (float, float)``, per-update scalars
        (:func:`no_factors` when the rule has none).
    update : callable
        ``update(hyper, factors, g, a, b, eta) -> (delta, a, b)``: one update
        of one coordinate (module docstring). Plain Python on scalars, written
        in the same order of operations as the rule's ``update`` method; numba
        compiles it into each kernel (a helper it calls must be compilable
        too: jitted, or overloaded as :func:`scaled_step` is).

    Raises
    ------
    TypeError
        If a function's parameters are not named as above (numba's overload
        needs the very names of the generic functions it stands for).
    """
    for func, generic in ((factors, _factors), (update, _update)):
        if list(inspect.signature(func).parameters) != list(inspect.signature(generic).parameters):
            raise TypeError(
                f"{func.__name__} must take the parameters of {generic.__name__}: "
                f"{list(inspect.signature(generic).parameters)}."
            )
    _PIECES[hyper_type] = (factors, update)


def no_factors(hyper, t):
    """The per-update factors of a rule that needs none."""
    return 1.0, 1.0


def scaled_step(numerator, second_moment, eps):
    """``numerator / (sqrt(second_moment) + eps)``, and 0 where the denominator is 0.

    The scalar form of ``gdreg.optimizers._adaptive._scaled``, for the pieces.
    """
    denominator = math.sqrt(second_moment) + eps
    return numerator / denominator if denominator > 0.0 else 0.0 * numerator


def _factors(hyper, t):
    """The registered ``factors`` of ``type(hyper)`` (Python; compiled: the overload)."""
    return _PIECES[type(hyper)][0](hyper, t)


def _update(hyper, factors, g, a, b, eta):
    """The registered ``update`` of ``type(hyper)`` (Python; compiled: the overload)."""
    return _PIECES[type(hyper)][1](hyper, factors, g, a, b, eta)


def _piece_of(hyper, which: int):
    try:
        return _PIECES[hyper.instance_class][which]
    except (AttributeError, KeyError):
        return None  # not a registered rule's hyperparameters: numba reports no match


if not numba.config.DISABLE_JIT:
    # a helper of the pieces: pasted into the piece that calls it (an njit(inline="always")
    # function there makes numba's inliner warn of a variable out of scope; compiled
    # on its own, LLVM left it a call and AdaGrad's mini-batch epoch ran twice as long)
    overload(scaled_step, inline="always")(lambda numerator, second_moment, eps: scaled_step)
    # the registered Python functions are the implementations: numba compiles each
    # once for the types at hand and LLVM inlines it into the kernel's loop (not
    # inline="always": that types the piece again at every call site, module docstring)
    overload(_factors)(lambda hyper, t: _piece_of(hyper, 0))
    overload(_update)(lambda hyper, factors, g, a, b, eta: _piece_of(hyper, 1))


# -- one target, per sample, C-ordered X ----------------------------------------------
@_jit(nogil=True, fastmath=_SUMS, _nrt=False)
def _rule_sgd_dense(
    flat,
    y,
    scale,
    x_off,
    y_off,
    alpha,
    learn_b,
    w,
    inv,
    a,
    b,
    hyper,
    count0,
    order,
    steps,
    rule,
    eta0,
    t0,
    t_first,
    eta,
    zero,
    kind,
    epsilon,
    l1,
):
    """Per-sample epoch of the rule of ``hyper``, one target: ``w`` is ``theta[:, 0]`` in ``w``.

    ``a`` and ``b`` are the rule's state (``(d + 1,)``, in the optimizer's
    coordinates), ``count0`` the rule's updates so far. The step of update
    ``p`` is ``steps[p]`` (``rule`` 0) or computed as
    :func:`gdreg._kernels._plain._sgd_dense` computes it (``rule`` 1 and 2);
    the loss (``kind``, ``epsilon``) and ``l1`` as there.
    """
    d = x_off.shape[0]
    n = order.shape[0]
    total = 0.0
    eta[0] = eta0
    # |w|_1 summed as the threshold is applied, as in _sgd_dense
    w1 = zero
    if l1 is not None and l1 != 0.0:
        for f in range(d):
            w1 += abs(w[f])
    for p in range(n):
        ahead = p + _PREFETCH_AHEAD
        if ahead < n:
            k = order[ahead]
            for f in range(0, d, _LINE):
                _prefetch(flat, k * d + f)
            _prefetch(flat, k * d + d - 1)
            _prefetch(y, k)
            _prefetch(scale, k)
        i = order[p]
        base = i * d
        s = zero
        for f in range(d):
            s += (flat[base + f] - x_off[f]) * w[f]
        r = s + w[d] + y_off - y[i]
        si = scale[i]
        if kind is None:
            loss = 0.5 * si * r * r
            g = si * r
        else:
            loss = si * _loss.residual_value(kind, epsilon, r)
            g = si * w.dtype.type(_loss.residual_derivative(kind, epsilon, r))
        if alpha != 0.0:
            u = zero
            for f in range(d):
                u += w[f] * w[f]
            loss += 0.5 * alpha * u
        if l1 is not None:
            loss += l1 * w1
        total += loss
        if rule == 0:
            eta[0] = steps[p]
        elif rule == 2:
            # InverseSqrt.__call__ operation by operation, as in _sgd_dense
            value = float(t_first + p) - 1.0
            value = value / t0
            value = value + 1.0
            eta[0] = eta0 / np.sqrt(value)
        step = eta[0]
        factors = _factors(hyper, float(count0 + p + 1))
        for f in range(d):
            grad = (g * (flat[base + f] - x_off[f]) + alpha * w[f]) * inv[f]
            delta, new_a, new_b = _update(hyper, factors, grad, a[f], b[f], step)
            a[f] = new_a
            b[f] = new_b
            w[f] += delta * inv[f]
        if l1 is not None and l1 != 0.0:
            w1 = zero
            for f in range(d):
                shrunk = _shrink(w[f], step * l1 * inv[f] * inv[f])
                w[f] = shrunk
                w1 += abs(shrunk)
        grad = g if learn_b else zero
        delta, new_a, new_b = _update(hyper, factors, grad, a[d], b[d], step)
        a[d] = new_a
        b[d] = new_b
        w[d] += delta
    return total / n


# -- one target, mini-batch, C-ordered X ----------------------------------------------
@_jit(nogil=True, fastmath=_SUMS, _nrt=False)
def _rule_minibatch_dense(
    flat, y, scale, x_off, y_off, alpha, learn_b, w, inv, a, b, hyper, count0, order, steps,
    bsz, zero, grad, kind, epsilon, l1,
):  # fmt: skip
    """Mini-batch epoch of the rule of ``hyper``, one target; ``grad`` is a (d,) buffer."""
    d = x_off.shape[0]
    n = order.shape[0]
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        # the residual's centring is a per-batch shift (the row's dot product then
        # reads X alone); the gradient sums centre each row, for the constant columns
        shift = zero
        for f in range(d):
            shift += x_off[f] * w[f]
        shift = shift - w[d] - y_off
        for f in range(d):
            grad[f] = zero
        sr_sum = zero
        batch_loss = 0.0
        for p in range(start, stop):
            ahead = p + _PREFETCH_AHEAD
            if ahead < n:
                k = order[ahead]
                for f in range(0, d, _LINE):
                    _prefetch(flat, k * d + f)
                _prefetch(flat, k * d + d - 1)
                _prefetch(y, k)
                _prefetch(scale, k)
            i = order[p]
            base = i * d
            s = zero
            for f in range(d):
                s += flat[base + f] * w[f]
            r = s - shift - y[i]
            if kind is None:
                g = scale[i] * r
                batch_loss += 0.5 * g * r
            else:
                g = scale[i] * w.dtype.type(_loss.residual_derivative(kind, epsilon, r))
                batch_loss += scale[i] * _loss.residual_value(kind, epsilon, r)
            sr_sum += g
            for f in range(d):
                grad[f] += g * (flat[base + f] - x_off[f])
        if alpha != 0.0:
            u = zero
            for f in range(d):
                u += w[f] * w[f]
            batch_loss += 0.5 * alpha * u * size
        if l1 is not None and l1 != 0.0:
            u = zero
            for f in range(d):
                u += abs(w[f])
            batch_loss += l1 * u * size
        total += batch_loss
        step = steps[bi]
        factors = _factors(hyper, float(count0 + bi + 1))
        for f in range(d):
            gf = (grad[f] / size + alpha * w[f]) * inv[f]
            delta, new_a, new_b = _update(hyper, factors, gf, a[f], b[f], step)
            a[f] = new_a
            b[f] = new_b
            w[f] += delta * inv[f]
        if l1 is not None and l1 != 0.0:
            for f in range(d):
                w[f] = _shrink(w[f], step * l1 * inv[f] * inv[f])
        gf = sr_sum / size if learn_b else zero
        delta, new_a, new_b = _update(hyper, factors, gf, a[d], b[d], step)
        a[d] = new_a
        b[d] = new_b
        w[d] += delta
    return total / n


# -- any number of targets: dense (any layout) and CSR ---------------------------------
@_jit(nogil=True)
def _apply_rule(theta, inv, a, b, hyper, factors, grad, alpha, learn_b, size, step, l1):
    """One update of every coordinate from the batch sums ``grad`` (once per batch)."""
    d = inv.shape[0]
    k = theta.shape[1]
    for f in range(d):
        for j in range(k):
            gf = (grad[f, j] / size + alpha * theta[f, j]) * inv[f]
            delta, new_a, new_b = _update(hyper, factors, gf, a[f, j], b[f, j], step)
            a[f, j] = new_a
            b[f, j] = new_b
            theta[f, j] += delta * inv[f]
    if l1 is not None and l1 != 0.0:
        for f in range(d):
            for j in range(k):
                theta[f, j] = _shrink(theta[f, j], step * l1 * inv[f] * inv[f])
    for j in range(k):
        gf = grad[d, j] / size if learn_b else 0.0 * grad[d, j]
        delta, new_a, new_b = _update(hyper, factors, gf, a[d, j], b[d, j], step)
        a[d, j] = new_a
        b[d, j] = new_b
        theta[d, j] += delta


@_jit(nogil=True)
def _rule_epoch_dense(
    X, Y, scale, x_off, y_off, alpha, learn_b, theta, inv, a, b, hyper, count0, order, steps,
    bsz, grad, r, kind, epsilon, l1,
):  # fmt: skip
    """Per-sample or mini-batch epoch of the rule of ``hyper``, any targets, any layout of X.

    ``grad`` is a (d + 1, k) buffer, ``r`` a (k,) buffer.
    """
    n = order.shape[0]
    d = X.shape[1]
    k = Y.shape[1]
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        grad[:, :] = 0.0
        batch_loss = 0.0
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                acc = 0.0
                for f in range(d):
                    acc += (X[i, f] - x_off[f]) * theta[f, j]
                r[j] = acc + theta[d, j] + y_off[j] - Y[i, j]
                if kind is None:
                    batch_loss += 0.5 * si * r[j] * r[j]
                else:  # r becomes the loss's derivative (cast to the dtype as it is stored)
                    batch_loss += si * _loss.residual_value(kind, epsilon, r[j])
                    r[j] = _loss.residual_derivative(kind, epsilon, r[j])
            for f in range(d):
                xc = si * (X[i, f] - x_off[f])
                for j in range(k):
                    grad[f, j] += xc * r[j]
            for j in range(k):
                grad[d, j] += si * r[j]
        total += batch_loss + _batch_penalty(theta, d, k, alpha, l1, size)
        factors = _factors(hyper, float(count0 + bi + 1))
        step = steps[bi]
        _apply_rule(theta, inv, a, b, hyper, factors, grad, alpha, learn_b, size, step, l1)
    return total / n


@_jit(nogil=True)
def _rule_epoch_csr(
    data, indices, indptr, Y, scale, x_off, y_off, alpha, learn_b, theta, inv, a, b, hyper,
    count0, order, steps, bsz, grad, r, shift, kind, epsilon, l1,
):  # fmt: skip
    """Per-sample or mini-batch epoch of the rule of ``hyper`` on CSR X, any targets.

    The centred row is the sparse row minus ``x_off``: its dense part is
    applied once per batch (the sum of ``s_i r_i`` times ``x_off``), so the
    pass over the batch is O(nnz), as in the plain CSR kernel.
    """
    n = order.shape[0]
    d = x_off.shape[0]
    k = Y.shape[1]
    total = 0.0
    for bi in range(steps.shape[0]):
        start = bi * bsz
        stop = min(start + bsz, n)
        size = stop - start
        for j in range(k):
            acc = 0.0
            for f in range(d):
                acc += x_off[f] * theta[f, j]
            shift[j] = acc - theta[d, j] - y_off[j]
        grad[:, :] = 0.0
        batch_loss = 0.0
        for p in range(start, stop):
            i = order[p]
            si = scale[i]
            for j in range(k):
                acc = 0.0
                for q in range(indptr[i], indptr[i + 1]):
                    acc += data[q] * theta[indices[q], j]
                r[j] = acc - shift[j] - Y[i, j]
                if kind is None:
                    batch_loss += 0.5 * si * r[j] * r[j]
                else:
                    batch_loss += si * _loss.residual_value(kind, epsilon, r[j])
                    r[j] = _loss.residual_derivative(kind, epsilon, r[j])
                grad[d, j] += si * r[j]
            for q in range(indptr[i], indptr[i + 1]):
                xq = si * data[q]
                f = indices[q]
                for j in range(k):
                    grad[f, j] += xq * r[j]
        for f in range(d):
            for j in range(k):
                grad[f, j] -= x_off[f] * grad[d, j]
        total += batch_loss + _batch_penalty(theta, d, k, alpha, l1, size)
        factors = _factors(hyper, float(count0 + bi + 1))
        step = steps[bi]
        _apply_rule(theta, inv, a, b, hyper, factors, grad, alpha, learn_b, size, step, l1)
    return total / n


# -- the dispatcher ---------------------------------------------------------------------
def rule_epoch(data, theta, hyper, a, b, count0: int, order, steps, batch_size: int) -> float:
    """One per-sample or mini-batch epoch of a rule with a registered piece, in place.

    Parameters
    ----------
    data : StochasticData
        Arrays from :meth:`LeastSquares.stochastic_data`.
    theta : ndarray of shape (n_features + 1, n_targets)
        Parameters, C-contiguous, in the objective's coordinates; updated in place.
    hyper : NamedTuple
        The rule's hyperparameters, of a type given to :func:`register_piece`.
    a, b : ndarray of shape (n_features + 1, n_targets) or None
        The rule's state buffers, C-contiguous and of ``theta``'s dtype;
        updated in place. ``b`` (or both) may be None for a rule with fewer
        buffers: a scratch buffer takes its place.
    count0 : int
        The rule's updates before this epoch (update ``p`` of the epoch has
        ``t = count0 + p + 1``).
    order : ndarray of int64
        Sample visiting order.
    steps : ndarray or EpochSteps
        Step size of each update.
    batch_size : int
        Samples per update (1 for per-sample).

    Returns
    -------
    float
        Mean over the epoch of the objective on each batch before its update.

    Examples
    --------
    Heavy-ball momentum, registered by :mod:`gdreg.optimizers`:

    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> from gdreg.optimizers._momentum import MomentumHyper
    >>> X, Y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    >>> ls = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                   y_offset=np.zeros(1), learn_intercept=False)
    >>> theta, velocity = np.zeros((2, 1)), np.zeros((2, 1))
    >>> _ = rule_epoch(ls.stochastic_data(), theta, MomentumHyper(0.5), velocity, None,
    ...                0, np.arange(3), np.full(3, 0.1), 1)
    >>> velocity[:, 0].round(4), theta[:, 0].round(4)  # v: -2, then -8.2, then -12.92
    (array([-12.92,   0.  ]), array([2.312, 0.   ]))
    """
    dtype = theta.dtype
    d = data.x_offset.shape[0]
    a = np.empty_like(theta) if a is None else a
    b = np.empty_like(theta) if b is None else b
    spread = getattr(data, "column_scale", None)
    if spread is None:
        inv = np.ones(d, dtype=dtype)
        w = theta
    else:
        # theta holds u = sigma * w; the kernels update w (module docstring)
        spread = spread.astype(dtype, copy=False)
        inv = np.ascontiguousarray(1.0 / spread, dtype=dtype)
        w = theta.copy()
        w[:d] /= spread[:, None]
    loss = _epoch_w(data, w, inv, a, b, hyper, int(count0), order, steps, batch_size)
    if spread is not None:
        theta[:d] = w[:d] * spread[:, None]
        theta[d] = w[d]
    return loss


#: The kernels of this module, in the order they call each other.
_KERNEL_NAMES = (
    "_apply_rule",
    "_rule_sgd_dense",
    "_rule_minibatch_dense",
    "_rule_epoch_dense",
    "_rule_epoch_csr",
)
_IN_MEMORY: dict = {}


def _in_memory_kernels() -> dict:
    """Copies of this module's kernels that are never cached on disk.

    A rule registered outside gdreg (a user's script, a test) has a
    hyperparameter type that another process may not be able to import: were
    its specialisation stored in the shared on-disk cache, every later
    process that loads that kernel's cache index would fail to unpickle it.
    Such rules run on these copies instead, compiled once per process. The
    copies read their callees from their own namespace, so the whole chain
    (``_rule_epoch_dense`` calls ``_apply_rule``) stays in memory.
    """
    if not _IN_MEMORY:
        namespace = dict(globals())
        for name in _KERNEL_NAMES:
            kernel = globals()[name]
            if not isinstance(kernel, numba.core.dispatcher.Dispatcher):
                _IN_MEMORY[name] = kernel  # NUMBA_DISABLE_JIT: plain Python, nothing cached
                continue
            py = kernel.py_func
            copy = pytypes.FunctionType(py.__code__, namespace, py.__name__, py.__defaults__)
            options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
            # a user's update piece may allocate: its copies keep numba's runtime
            options["_nrt"] = True
            namespace[name] = _IN_MEMORY[name] = numba.njit(**options)(copy)
    return _IN_MEMORY


def _kernels_for(hyper) -> dict:
    """The kernels to run ``hyper``'s rule on: cached on disk only for gdreg's own rules."""
    if type(hyper).__module__.partition(".")[0] == "gdreg":
        return {name: globals()[name] for name in _KERNEL_NAMES}
    return _in_memory_kernels()


def _epoch_w(data, w, inv, a, b, hyper, count0, order, steps, batch_size) -> float:
    kernels = _kernels_for(hyper)
    X = data.X
    dtype = w.dtype
    alpha = dtype.type(data.alpha)
    zero = dtype.type(0)
    k = w.shape[1]
    loss = loss_arguments(data)  # None for the squared loss alone (its own specialisation)
    if not sp.issparse(X) and k == 1 and X.flags.c_contiguous:
        flat = X.reshape(-1)  # a view: X is C-contiguous
        args = (flat, data.Y[:, 0], data.scale, data.x_offset, dtype.type(data.y_offset[0]))
        args = (*args, alpha, data.learn_intercept, w[:, 0], inv, a[:, 0], b[:, 0], hyper)
        args = (*args, count0, order)
        if batch_size == 1:
            rule = getattr(steps, "rule", None)  # an EpochSteps the kernel evaluates itself
            schedule = rule if rule is not None else (0, 0.0, 1.0)
            values = np.ascontiguousarray(steps, dtype=dtype) if rule is None else flat[:0]
            first = getattr(steps, "t_first", 1)
            eta = np.zeros(1, dtype=dtype)
            sgd = kernels["_rule_sgd_dense"]
            return float(sgd(*args, values, *schedule, first, eta, zero, *loss))
        values = np.ascontiguousarray(steps, dtype=dtype)
        grad = np.empty(X.shape[1], dtype=dtype)
        return float(kernels["_rule_minibatch_dense"](*args, values, batch_size, zero, grad, *loss))
    values = np.ascontiguousarray(steps, dtype=dtype)
    grad = np.empty_like(w)
    r = np.empty(k, dtype=dtype)
    common = (data.Y, data.scale, data.x_offset, data.y_offset, alpha, data.learn_intercept)
    common = (*common, w, inv, a, b, hyper, count0, order, values, batch_size, grad, r)
    if sp.issparse(X):
        shift = np.empty(k, dtype=dtype)
        csr = (X.data, X.indices, X.indptr)
        return float(kernels["_rule_epoch_csr"](*csr, *common, shift, *loss))
    return float(kernels["_rule_epoch_dense"](X, *common, *loss))
