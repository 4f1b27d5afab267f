"""Where the kernels are compiled and cached, and the small compiled pieces they share."""

from __future__ import annotations

import glob
import hashlib
import math
import os
import sys
import tempfile

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.caching import FunctionCache
from numba.core.runtime import rtsys
from numba.extending import intrinsic

#: Samples ahead of the current one whose rows are prefetched.
_PREFETCH_AHEAD = 8
#: float64 entries per 64-byte cache line (float32 rows just get two hints per line).
_LINE = 8


# -- where the compiled kernels are cached -------------------------------------------
def _user_cache_dir() -> str | None:
    """The platform's per-user cache directory, or None where it cannot be named.

    ``$XDG_CACHE_HOME`` (if absolute) or ``~/.cache`` on Linux and other
    Unix-likes, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(base):  # unset, or relative (which the XDG spec says to ignore)
            base = os.path.join(os.path.expanduser("~"), ".cache")
    # without a home directory, expanduser leaves "~" and the path is relative:
    # never cache into the current directory
    return base if os.path.isabs(base) else None


def _writable_dir(path: str) -> bool:
    """Whether ``path`` is, or can be made, a directory this process can write in."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


#: The source files whose code ends up inside compiled kernels: the kernel
#: families, and the update pieces and loss functions they inline from
#: elsewhere in the package.
_KERNEL_SOURCES = ("_kernels/*.py", "optimizers/*.py", "_loss.py")


def source_fingerprint() -> str:
    """A short digest of the size and modification time of every kernel source.

    numba checks a cached kernel against its own source file only; a kernel
    also inlines code from other files (a rule's update piece in
    ``gdreg/optimizers``, the prefetch hint in this file), so an edit there
    would leave a stale kernel in the cache. The cache lives in a
    subdirectory named by this digest instead: any change to any of those
    files starts a fresh one. Costs a ``stat`` per file (well under a
    millisecond).
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for pattern in _KERNEL_SOURCES:
        for path in sorted(glob.glob(os.path.join(package, pattern))):
            info = os.stat(path)
            name = os.path.relpath(path, package)
            digest.update(f"{name}:{info.st_size}:{info.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _cache_dir() -> str | None:
    """Where the compiled kernels are cached: see :data:`CACHE_DIR`."""
    if numba.config.CACHE_DIR:  # NUMBA_CACHE_DIR: the user's choice
        base = numba.config.CACHE_DIR
    else:
        base = _user_cache_dir()
        base = None if base is None else os.path.join(base, "gdreg", "numba")
    if base is None:
        return None
    where = os.path.join(base, source_fingerprint())
    return where if _writable_dir(where) else None


#: The directory the compiled kernels are cached in, chosen at import:
#: a subdirectory (named by :func:`source_fingerprint`) of ``NUMBA_CACHE_DIR`` if
#: set, else of ``gdreg/numba`` under the user's cache directory
#: (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
#: ``%LOCALAPPDATA%`` on Windows), never the installed package, so that
#: a read-only install works and ``pip uninstall`` leaves nothing inside
#: ``site-packages``. ``None`` when that directory cannot be written (a read-only
#: home, a service account without one): the kernels then compile in memory,
#: once per process, and nothing is written anywhere.
CACHE_DIR = _cache_dir()


class _KernelCache(FunctionCache):
    """numba's on-disk function cache, loading without initialising the compiler first.

    numba's ``Cache.load_overload`` calls ``target_context.refresh()`` before
    it loads a cached kernel: that imports and registers every typing and
    lowering registry numba has (the whole of ``numba.np``, ``numba.cpython``,
    ``numba.typed``...), which is what *compiling* needs: with numba's
    extension scan (see :func:`_jit`) it made the first stochastic or
    mini-batch fit of a fresh process with every kernel on disk cost 0.58 s
    more than the second on a busy 2-core machine (0.2 s on a quiet one),
    against 0.13 s with neither. Loading a compiled kernel only needs
    numba's runtime (NRT: the kernels' array arguments are reference
    counted), so that is all this initialises; without it the loaded code
    crashes. Should anything be compiled later (a new signature, a kernel
    not on disk), numba's compiler refreshes the contexts itself
    (``compile_extra``).
    """

    def load_overload(self, sig, target_context):
        """Load and rebuild the cached kernel for ``sig`` (None if not on disk)."""
        guard = getattr(self, "_guard_against_spurious_io_errors", None)
        load = getattr(self, "_load_overload", None)
        if guard is None or load is None:
            # a numba whose cache internals differ from those this was written for
            # (0.6x): its own loader, slower to start but always right
            return super().load_overload(sig, target_context)
        if self._needs_runtime:
            rtsys.initialize(target_context)  # idempotent: NRT's allocator and refcounting
        with guard():
            return load(sig, target_context)
        # None when the guard swallowed an error, as in numba


def _cached(dispatcher):
    """Give a numba dispatcher an on-disk cache in :data:`CACHE_DIR`, if there is one.

    ``njit(cache=True)`` would cache next to the source file (inside
    ``site-packages``) and raise "no locator available" at import where
    neither that nor numba's own user cache directory is writable. numba puts
    the cache of a function in ``numba.config.CACHE_DIR`` when that is set, so
    it is set to :data:`CACHE_DIR` while this function's cache is created (at
    import, before anything is compiled) and restored at once.
    """
    if CACHE_DIR is None:
        return dispatcher
    saved = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = CACHE_DIR
    try:
        # what dispatcher.enable_caching() does, with the cache class below
        cache = _KernelCache(dispatcher.py_func)
        # a kernel compiled without numba's runtime (it allocates nothing) loads
        # without initialising it: NRT compiles its own helpers with LLVM in
        # every process (about 20 ms)
        cache._needs_runtime = dispatcher.targetoptions.get("_nrt", True) is not False
        dispatcher._cache = cache
    except (RuntimeError, OSError):
        pass  # the directory went away since import: compile in memory only
    finally:
        numba.config.CACHE_DIR = saved
    return dispatcher


def _jit(**options):
    """``numba.njit(**options)``, cached in :data:`CACHE_DIR` (see :func:`_cached`).

    With ``NUMBA_DISABLE_JIT=1`` this returns the Python function unchanged,
    as ``njit`` does. ``_nrt=False`` (numba's switch for its runtime) marks
    a kernel that allocates nothing and calls only inlined helpers that
    allocate nothing either: numba then refuses to compile it should it ever
    need the runtime, and :class:`_KernelCache` loads it from disk without
    initialising the runtime, which costs every process about 20 ms (the
    kernels of the first fits of every optimizer family are marked so). A
    numba without that option compiles them with the runtime, as any other.
    """

    if "_nrt" in options and not _RUNTIME_SWITCH:
        options = {k: v for k, v in options.items() if k != "_nrt"}  # kernels then use NRT

    def decorate(func):
        compiled = numba.njit(**options)(func)
        if isinstance(compiled, numba.core.dispatcher.Dispatcher):
            compiled = _cached(compiled)
            # numba runs this hook before its first compilation *or cache load*
            # in a process: it scans every installed distribution for
            # "numba_extensions" entry points and imports each extension (60 to
            # 150 ms on a loaded 2-core machine), which loading gdreg's kernels
            # never needs (their arguments are arrays and numbers). Should a
            # kernel have to compile, numba's compiler loads the extensions
            # itself (CPUContext.load_additional_registries calls
            # entrypoints.init_all), so no extension is ever missed.
            compiled._compilation_chain_init_hook = _no_extensions
        return compiled

    return decorate


def _has_runtime_switch() -> bool:
    """Whether this numba takes the ``_nrt`` option (an underscored one: it may go away)."""
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:
        return False
    return hasattr(CPUTargetOptions, "_nrt")


_RUNTIME_SWITCH = _has_runtime_switch()


def _no_extensions() -> None:
    """The compilation-chain hook of gdreg's kernels: nothing to initialise (see :func:`_jit`)."""


# -- prefetch hint -------------------------------------------------------------------
@intrinsic
def _prefetch_line(typingctx, array, index):
    """Hint the CPU to load the cache line of ``array[index]`` (1-D, contiguous).

    Samples are visited in a random order, so the hardware prefetcher cannot
    guess the next row and each one is a cache miss; the kernels know the order
    in advance and ask for the row a few samples early. A prefetch never
    faults and never changes a result.
    """
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        # the intrinsic is mangled by pointer type: "p0" with opaque pointers
        name = "llvm.prefetch.p0" if str(byte_ptr) == "ptr" else "llvm.prefetch.p0i8"
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        address = builder.bitcast(builder.gep(ary.data, [args[1]]), byte_ptr)
        # read access, high temporal locality, data cache
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def _no_prefetch(array, index):
    """What :func:`_prefetch_line` does when the kernels run as Python: nothing.

    An intrinsic only exists in compiled code, and a prefetch is a hint that
    never changes a result.
    """


#: What the kernels call: the compiled hint, or nothing with NUMBA_DISABLE_JIT=1
#: (which numba reads at its import, as ``njit`` does when it decorates).
_prefetch = _no_prefetch if numba.config.DISABLE_JIT else _prefetch_line


#: Floating-point freedom given to LLVM in the epoch kernels: reassociation
#: (so that dot products and row sums vectorise with several accumulators) and
#: contraction into fused multiply-adds. Both change results by round-off only;
#: "nnan"/"ninf" are not given, so divergence (NaN, inf) is still seen.
_SUMS = {"reassoc", "contract"}


# -- the penalty -------------------------------------------------------------------------
@_jit(inline="always", nogil=True)
def _batch_penalty(theta, d, k, alpha, l1, size):
    """``size`` times the penalty of the coefficient rows of ``theta`` (d x k).

    ``alpha |w|^2 / 2``, plus ``l1 |w|_1`` unless ``l1`` is None or 0 (the
    running objective of a batch of ``size`` samples counts it once per sample).
    """
    penalty = 0.0
    if alpha != 0.0:
        for f in range(d):
            for j in range(k):
                penalty += theta[f, j] * theta[f, j]
    value = 0.5 * alpha * penalty * size
    if l1 is not None and l1 != 0.0:
        penalty = 0.0
        for f in range(d):
            for j in range(k):
                penalty += abs(theta[f, j])
        value += l1 * penalty * size
    return value


# -- the l1 penalty's proximal step --------------------------------------------------
@_jit(inline="always", nogil=True)
def _shrink(value, threshold):
    """``sign(value) * max(|value| - threshold, 0)``: the soft-threshold of one coefficient.

    The scalar form of :func:`gdreg._penalty.soft_threshold` (the proximal
    step of ``threshold * |value|``), inlined into the kernels; operation by
    operation the same, so an exact zero (of either sign) where NumPy's is.
    """
    shrunk = abs(value) - threshold
    if shrunk > 0.0:
        return math.copysign(shrunk, value)
    return 0.0 * value


# -- what the kernels are told of the loss ---------------------------------------------
def loss_arguments(data, general: bool = False) -> tuple:
    """``(kind, epsilon, l1)``: the loss and the l1 part as the epoch kernels take them.

    All three are None for the squared loss without an l1 part (and without
    ``general``, which SVRG sets for a learned intercept): the kernels test
    ``kind is None`` and ``l1 is not None``, which numba decides when it
    compiles (it prunes a branch on an argument that is None), so that case
    compiles to the squared loss's code alone, as fast to compile (a fifth
    of a second less a kernel) and to run as before the other losses. Any
    other case is one more specialisation, compiled when first used, in
    which the loss is a runtime number (one specialisation for every loss
    and every l1 strength).

    Examples
    --------
    >>> from gdreg._objective import StochasticData
    >>> squared = StochasticData(None, None, None, None, None, 0.0, False)
    >>> loss_arguments(squared), loss_arguments(squared._replace(l1=0.5))
    ((None, None, None), (0, 0.0, 0.5))
    """
    kind, l1 = int(data.loss_kind), float(data.l1)
    if kind == 0 and not l1 and not general:
        return None, None, None
    return kind, float(data.epsilon), l1
