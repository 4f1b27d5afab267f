"""gdreg without numba's JIT, and where the compiled kernels are (not) cached.

* ``NUMBA_DISABLE_JIT=1`` (how users debug a kernel) runs every kernel as
  plain Python: every mode must fit, and give what the NumPy path gives.
* The kernels are cached in the user's cache directory (or
  ``NUMBA_CACHE_DIR``), never inside the installed package; where nothing is
  writable, ``import gdreg`` and ``fit`` still work, compiling in memory.

The end-to-end checks run in fresh processes: numba reads its environment,
and gdreg chooses its cache directory, once per process.
"""

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import gdreg
from gdreg._kernels import _compile

PACKAGE = Path(gdreg.__file__).parent

#: Every compiled kernel of ``gdreg._kernels`` that the fits below reach. The O(d)
#: CSR kernels ``_plain._plain_epoch_csr`` and ``_svrg._svrg_epoch_csr`` run only
#: with ``alpha > 0`` in standardised coordinates (else the lazy ``_sparse``
#: kernels do), the ``_rules`` kernels only for the rules with an update piece.
KERNELS = [
    "_plain._plain_epoch_csr",
    "_svrg._svrg_epoch_csr",
    "_rules._rule_sgd_dense",
    "_rules._rule_minibatch_dense",
    "_rules._rule_epoch_dense",
    "_rules._rule_epoch_csr",
    "_plain._sgd_dense",
    "_plain._minibatch_dense",
    "_plain._plain_epoch_dense",
    "_svrg._svrg_epoch_dense",
    "_svrg._svrg_dense_1d",
    "_sparse._plain_csr_lazy",
    "_sparse._svrg_csr_lazy",
    "_sparse._sgd_csr_lazy_1d",
    "_sparse._minibatch_csr_lazy_1d",
    "_sparse._svrg_csr_lazy_1d",
    "_plain._plain_csr_1d",
    "_svrg._svrg_csr_1d",
    "_gram._gram_descent",
    "_order._shuffle",
    "_summaries._row_pass",
    "_summaries._csr_column_pass",
    "_summaries._csr_row_norm_pass",
]


def _run(script, env, cwd, timeout=300, **names):
    """Run ``script`` in a fresh interpreter; return the JSON its last line prints.

    ``names`` are defined (by their ``repr``) before the script runs.
    """
    prelude = "".join(f"{name} = {value!r}\n" for name, value in names.items())
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _clean_env(**changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHON"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # only numba may write: see what it writes
    env.update(changes)
    return env


def _copy_package(site: Path) -> Path:
    """A copy of the installed package under ``site`` (no compiled files)."""
    copy = site / "gdreg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.nb[ic]"))
    return copy


def _files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


# -- NUMBA_DISABLE_JIT=1 ---------------------------------------------------------------
JIT_DISABLED_SCRIPT = """
    import collections, importlib, itertools, json, warnings
    import numba, numpy as np, scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning
    from gdreg import GradientDescentRegressor, _kernels, _problem
    from gdreg.optimizers import Adam, AveragedSGD, Momentum

    assert numba.config.DISABLE_JIT
    calls = collections.Counter()

    def counting(name, kernel):
        assert not isinstance(kernel, numba.core.dispatcher.Dispatcher), name
        def run(*args):
            calls[name] += 1
            return kernel(*args)
        return run

    for name in KERNELS:
        family, kernel = name.split(".")
        module = importlib.import_module("gdreg._kernels." + family)
        setattr(module, kernel, counting(name, getattr(module, kernel)))

    warnings.simplefilter("error")  # also no overflow warnings from the Python kernels
    warnings.simplefilter("ignore", ConvergenceWarning)  # 4 epochs
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) + 2.0
    X[rng.random(X.shape) < 0.3] = 0.0
    Y = X @ rng.standard_normal((3, 2)) + 0.5 + 0.1 * rng.standard_normal((40, 2))

    def fit(optimizer, learning_rate, sparse, k, alpha=0.0, penalty="l2", loss="squared_error"):
        model = GradientDescentRegressor(
            optimizer=optimizer, learning_rate=learning_rate, eta0=0.01,
            batch_size=8, max_iter=4, random_state=0, alpha=alpha, penalty=penalty, loss=loss,
        )
        model.fit(sp.csr_matrix(X) if sparse else X, Y[:, 0] if k == 1 else Y)
        return model.coef_, model.intercept_

    worst, fits = 0.0, 0
    for thresholds in ("default", "zero"):
        if thresholds == "zero":  # every compiled helper, whatever the size of X
            _kernels.COMPILED_MIN_SIZE = _kernels.ONE_PASS_MIN_SIZE = 0
            _kernels.SHUFFLE_MIN_SAMPLES = 0
            _problem.GRAM_MIN_SIZE = 0
        cases = list(itertools.product(
            ["batch", "stochastic", "minibatch"], ["auto", "constant"], [False, True], [1, 2]
        ))
        # the rules with a compiled update piece, and the O(d) CSR kernels (alpha > 0)
        rules = [
            Momentum(sampling="stochastic"),
            Adam(sampling="minibatch", batch_size=8),
            AveragedSGD(sampling="minibatch", batch_size=8, start=3),
        ]
        cases += list(itertools.product(rules, ["constant"], [False, True], [1, 2]))
        cases += [(mode, "auto", True, 1, 0.1) for mode in ("stochastic", "minibatch")]
        # the l1 step on CSR (O(d) per update: SVRG's and plain SGD's), and a robust loss
        cases += [("stochastic", rate, True, 1, 0.1, "l1") for rate in ("auto", "constant")]
        cases += [("minibatch", "auto", False, 1, 0.0, "l2", "huber")]
        for case in cases:
            coef, intercept = fit(*case)  # the kernels, run as Python
            _kernels.ENABLED = False
            try:
                ref_coef, ref_intercept = fit(*case)  # the NumPy path
            finally:
                _kernels.ENABLED = True
            scale = 1.0 + np.abs(ref_coef).max()
            worst = max(worst, np.abs(coef - ref_coef).max() / scale,
                        np.abs(intercept - ref_intercept).max() / scale)
            fits += 1
    print(json.dumps({"calls": dict(calls), "worst": worst, "fits": fits}))
"""


def test_every_mode_fits_with_the_jit_disabled(tmp_path):
    """Every optimizer, schedule, X format and target count fits with NUMBA_DISABLE_JIT=1.

    Before the fix, stochastic and mini-batch fits of dense single-target
    data raised ``NotImplementedError: <intrinsic _prefetch> is not usable in
    pure-python``. Each fit runs once with the default size thresholds (what a
    user gets) and once with every threshold at zero, so that every kernel
    runs as Python; each agrees with the NumPy path to round-off.
    """
    env = _clean_env(NUMBA_DISABLE_JIT="1", PYTHONPATH=str(PACKAGE.parent))  # this gdreg
    out = _run(JIT_DISABLED_SCRIPT, env, cwd=tmp_path, KERNELS=KERNELS)
    assert out["fits"] == 2 * (3 * 2 * 2 * 2 + 3 * 2 * 2 + 2 + 3)
    assert sorted(out["calls"]) == sorted(KERNELS), out["calls"]
    assert out["worst"] < 1e-10


def test_prefetch_is_a_no_op_in_python():
    # what the kernels call when they run as Python; compiled, the LLVM hint
    assert _compile._no_prefetch(np.zeros(3), 1) is None
    assert _compile._prefetch is _compile._prefetch_line  # this process compiles


# -- where the cache goes ---------------------------------------------------------------
FIT_SCRIPT = """
    import json
    import numpy as np
    import gdreg
    from gdreg import GradientDescentRegressor, _kernels
    from gdreg._kernels import _plain

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0]) + 7.0
    scores = []
    for optimizer, learning_rate in MODES:
        model = GradientDescentRegressor(
            optimizer=optimizer, learning_rate=learning_rate, eta0=0.01, random_state=0
        )
        scores.append(model.fit(X, y).score(X, y))
    stats = _plain._sgd_dense.stats
    print(json.dumps({
        "package": gdreg.__file__,
        "cache_dir": _kernels.CACHE_DIR,
        "cache_path": stats.cache_path,
        "hits": sum(stats.cache_hits.values()),
        "misses": sum(stats.cache_misses.values()),
        "compiled": len(_plain._sgd_dense.signatures),
        "scores": scores,
    }))
"""


def _make_read_only(*roots):
    for root in roots:
        for path in [root, *root.rglob("*")]:
            if path.is_dir():
                path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)


def _make_writable(*roots):
    for root in roots:
        for path in [root, *root.rglob("*")]:
            if path.is_dir():
                path.chmod(stat.S_IRWXU)


def test_read_only_install_imports_and_fits(tmp_path):
    """A read-only install with no writable home or cache directory imports and fits.

    Before the fix, ``import gdreg`` raised ``RuntimeError: cannot cache
    function '_sgd_dense': no locator available``. Every place a cache could
    go is made unwritable in a way that holds even for root: the package
    copy's ``__pycache__`` and the home's ``.cache`` (and macOS's
    ``Library``) are regular files, and every directory is read-only.
    """
    site, home = tmp_path / "site", tmp_path / "home"
    package = _copy_package(site)
    (package / "__pycache__").write_text("not a directory")
    home.mkdir()
    for name in (".cache", "Library"):
        (home / name).write_text("not a directory")
    env = _clean_env(
        PYTHONPATH=str(site),
        HOME=str(home),
        USERPROFILE=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        LOCALAPPDATA=str(home / ".cache"),
    )
    before = _files(tmp_path)
    _make_read_only(site, home)
    try:
        out = _run(
            FIT_SCRIPT, env, cwd=home, MODES=[("stochastic", "constant"), ("minibatch", "auto")]
        )
    finally:
        _make_writable(site, home)
    assert Path(out["package"]).parent == package  # the read-only copy was imported
    assert out["cache_dir"] is None and out["cache_path"] is None
    assert out["compiled"] == 1  # the kernel compiled, in memory
    assert min(out["scores"]) > 0.999
    assert _files(tmp_path) == before  # nothing written anywhere


def test_cache_goes_to_the_user_cache_dir_not_the_package(tmp_path):
    """The kernels are cached under the user's cache directory and reused from there.

    The package copy is writable, as in a user's virtual environment: still
    nothing is written inside it (``pip uninstall`` leaves nothing behind),
    and a second process loads the kernel from the cache.
    """
    site, home = tmp_path / "site", tmp_path / "home"
    package = _copy_package(site)
    home.mkdir()
    env = _clean_env(
        PYTHONPATH=str(site),
        HOME=str(home),
        USERPROFILE=str(home),
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        LOCALAPPDATA=str(tmp_path / "local"),
    )
    expected = (
        {
            "win32": tmp_path / "local",
            "darwin": home / "Library" / "Caches",
        }.get(sys.platform, tmp_path / "xdg")
        / "gdreg"
        / "numba"
    )
    modes = [("stochastic", "constant")]  # one kernel to compile
    first = _run(FIT_SCRIPT, env, cwd=home, MODES=modes)
    second = _run(FIT_SCRIPT, env, cwd=home, MODES=modes)
    assert Path(first["package"]).parent == package
    assert Path(first["cache_dir"]).parent == expected  # a subdirectory per source version
    assert Path(first["cache_path"]).parent == Path(first["cache_dir"])
    assert first["misses"] >= 1 and first["hits"] == 0
    assert second["hits"] >= 1 and second["misses"] == 0  # loaded, not compiled again
    assert any(expected.rglob("_plain._sgd_dense-*.nbi"))
    assert not (package / "__pycache__").exists()
    assert min(first["scores"]) > 0.999


def test_numba_cache_dir_is_honoured(tmp_path, monkeypatch):
    where = tmp_path / "numba-cache"
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(where))
    assert _compile._cache_dir() == str(where / _compile.source_fingerprint())
    # an unwritable NUMBA_CACHE_DIR means no cache, never a fallback into the package
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert _compile._cache_dir() is None


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG layout")
def test_user_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    version = _compile.source_fingerprint()
    assert _compile._cache_dir() == str(tmp_path / "xdg" / "gdreg" / "numba" / version)
    # a relative XDG_CACHE_HOME is ignored, as the XDG specification says
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "gdreg" / "numba" / version
    assert _compile._cache_dir() == str(home_cache)
    # no home directory at all: no cache (never the current directory)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    assert _compile._user_cache_dir() is None
    assert _compile._cache_dir() is None


def test_jit_without_cache_dir_compiles_in_memory(monkeypatch):
    monkeypatch.setattr(_compile, "CACHE_DIR", None)

    @_compile._jit(nogil=True)
    def twice(x):
        return 2 * x

    assert twice(3) == 6
    assert twice.stats.cache_path is None


def test_import_leaves_numba_config_alone():
    # the cache directory is set for gdreg's kernels only, not for every numba user
    assert numba.config.CACHE_DIR == os.environ.get("NUMBA_CACHE_DIR", "")


def test_an_edited_update_piece_gets_a_fresh_cache(tmp_path):
    """numba checks a cached kernel against its own file only; the cache directory is
    named by every kernel source, so editing a rule's piece elsewhere starts a new one."""
    site = tmp_path / "site"
    package = _copy_package(site)
    env = _clean_env(PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    script = "import json; from gdreg._kernels import _compile as c; print(json.dumps(c.CACHE_DIR))"
    run = functools.partial(subprocess.run, env=env, cwd=tmp_path, capture_output=True, text=True)
    before = run([sys.executable, "-c", script])
    piece = package / "optimizers" / "_momentum.py"
    piece.write_text(piece.read_text() + "\n# edited\n")
    after = run([sys.executable, "-c", script])
    first, second = json.loads(before.stdout), json.loads(after.stdout)
    assert Path(first).parent == Path(second).parent == tmp_path / "cache"
    assert first != second


# -- kernels that load without numba's runtime ---------------------------------------
#: The kernels marked ``_nrt=False``: every kernel of the first fit of each optimizer
#: family on dense single-target data (see ``gdreg._kernels._compile._jit``).
RUNTIME_FREE = [
    "_summaries._row_pass",
    "_order._shuffle",
    "_plain._sgd_dense",
    "_plain._minibatch_dense",
    "_rules._rule_sgd_dense",
    "_rules._rule_minibatch_dense",
    "_gram._gram_descent",
]


def _kernel(path):
    module, name = path.split(".")
    return getattr(__import__(f"gdreg._kernels.{module}", fromlist=[name]), name)


def _fit_every_family():
    from gdreg import GradientDescentRegressor
    from gdreg.optimizers import SVRG, Adam, AveragedSGD

    rng = np.random.default_rng(0)
    X = rng.standard_normal((70_000, 20))  # from 65,536 rows the shuffle is compiled too
    y = X @ rng.standard_normal(20) + 2.0
    fits = {}
    for name, optimizer in [
        ("batch", "batch"),
        ("stochastic", "stochastic"),
        ("minibatch", "minibatch"),
        ("svrg", SVRG()),
        ("averaged", AveragedSGD()),
        ("adam", Adam(sampling="minibatch", batch_size=32)),
    ]:
        est = GradientDescentRegressor(optimizer=optimizer, max_iter=3, tol=None, random_state=0)
        fits[name] = est.fit(X, y)
    return X, y, fits


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="needs compiled kernels")
def test_runtime_free_kernels_reference_no_runtime_function():
    """A kernel loaded without the runtime must not call it: no ``NRT_`` symbol in its code."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fit_every_family()
    for path in RUNTIME_FREE:
        kernel = _kernel(path)
        assert kernel.targetoptions.get("_nrt") is False, path
        assert kernel.signatures, f"{path} was not reached"
        for signature, llvm in kernel.inspect_llvm().items():
            assert "NRT_" not in llvm, (path, signature)


RUNTIME_SCRIPT = """
    import json, warnings
    import numpy as np
    from numba.core.runtime import rtsys
    from sklearn.linear_model import LinearRegression
    from gdreg import GradientDescentRegressor

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200_000, 20))
    y = X @ rng.standard_normal(20) + 1.0
    ref = LinearRegression().fit(X, y).coef_
    gaps = {}
    for optimizer in ("batch", "stochastic", "minibatch"):
        est = GradientDescentRegressor(optimizer=optimizer, max_iter=5, random_state=0).fit(X, y)
        gaps[optimizer] = float(np.max(np.abs(est.coef_ - ref)))
    print(json.dumps({"runtime": bool(rtsys._init), "gaps": gaps}))
"""


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="needs compiled kernels")
def test_first_fits_with_the_kernels_on_disk_never_start_the_runtime(tmp_path):
    """The second process loads every kernel it needs without starting numba's runtime."""
    env = _clean_env(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first = _run(RUNTIME_SCRIPT, env, tmp_path)  # compiles, which starts the runtime
    second = _run(RUNTIME_SCRIPT, env, tmp_path)  # loads from disk
    assert first["runtime"] and not second["runtime"]
    assert second["gaps"] == first["gaps"]
    assert max(second["gaps"].values()) < 1e-2


def test_a_numba_without_the_runtime_switch_compiles_the_kernels_with_it(monkeypatch):
    """``_nrt`` is an underscored numba option: without it the kernels keep the runtime."""
    monkeypatch.setattr(_compile, "_RUNTIME_SWITCH", False)

    def total(values):
        out = 0.0
        for v in values:
            out += v
        return out

    kernel = _compile._jit(nogil=True, _nrt=False)(total)
    assert float(kernel(np.arange(4.0))) == 6.0
    if isinstance(kernel, numba.core.dispatcher.Dispatcher):
        assert "_nrt" not in kernel.targetoptions
        assert getattr(kernel._cache, "_needs_runtime", True)  # no cache dir: no attribute
