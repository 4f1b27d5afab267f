"""Where the kernels are compiled and cached, and the small compiled pieces they share."""

from __future__ import annotations

import os
import sys
import tempfile

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
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


def _cache_dir() -> str | None:
    """Where the compiled kernels are cached: see :data:`CACHE_DIR`."""
    if numba.config.CACHE_DIR:  # NUMBA_CACHE_DIR: the user's choice
        where = numba.config.CACHE_DIR
    else:
        base = _user_cache_dir()
        where = None if base is None else os.path.join(base, "gdreg", "numba")
    return where if where is not None and _writable_dir(where) else None


#: The directory the compiled kernels are cached in, chosen at import:
#: ``NUMBA_CACHE_DIR`` if set, else ``gdreg/numba`` under the user's cache
#: directory (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches``
#: on macOS, ``%LOCALAPPDATA%`` on Windows), never the installed package, so that
#: a read-only install works and ``pip uninstall`` leaves nothing inside
#: ``site-packages``. ``None`` when that directory cannot be written (a read-only
#: home, a service account without one): the kernels then compile in memory,
#: once per process, and nothing is written anywhere.
CACHE_DIR = _cache_dir()


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
        dispatcher.enable_caching()
    except (RuntimeError, OSError):
        pass  # the directory went away since import: compile in memory only
    finally:
        numba.config.CACHE_DIR = saved
    return dispatcher


def _jit(**options):
    """``numba.njit(**options)``, cached in :data:`CACHE_DIR` (see :func:`_cached`).

    With ``NUMBA_DISABLE_JIT=1`` this returns the Python function unchanged,
    as ``njit`` does.
    """

    def decorate(func):
        compiled = numba.njit(**options)(func)
        if isinstance(compiled, numba.core.dispatcher.Dispatcher):
            compiled = _cached(compiled)
        return compiled

    return decorate


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
