"""``python -m gdreg``: fit a data set with each optimizer and compare with the exact solution.

Without arguments the diabetes data set that ships with scikit-learn is used;
``python -m gdreg data.csv --target COL`` does the same on a CSV file whose
columns are all numeric. Every built-in optimizer is fitted with the
estimator's defaults (``learning_rate="auto"``, ``max_iter=None``,
``tol=1e-6``) on the data as given -- ``learning_rate="auto"`` does not depend
on the units of the features, so no scaler is needed -- and compared with
``LinearRegression`` and :func:`gdreg.normal_equation`.

Each row reports whether the fit converged, that is whether its bound on the
scale-free distance to the exact solution (``change_curve_[-1]``) reached
``tol``; when it did not, the row says what was reached instead of letting a
``ConvergenceWarning`` scroll past.

A user error -- a wrong option, a file that cannot be read, a cell that is
not a finite number, data that cannot be fitted (no feature column, a single
row, values whose squares overflow) -- is one ``error: ...`` line on stderr
and exit status 2, before any fit starts. ``--version`` prints the version.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from gdreg import GradientDescentRegressor, __version__, normal_equation
from gdreg import optimizers as _optimizers
from gdreg._validation import check_magnitude

#: The string shorthands, then every update rule of :mod:`gdreg.optimizers` with its defaults.
SHORTHANDS = ("batch", "stochastic", "minibatch")
RULES = (
    "GradientDescent",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "AcceleratedGradient",
    "SVRG",
    "AveragedSGD",
)

#: The columns of the table: title, width, alignment. The last one, ``converged``, says
#: ``yes`` or ``no: <why>`` and is cut to its width, so that a row fits in 100 columns.
_COLUMNS = (
    ("method", 21, "<"),
    ("epochs", 6, ">"),
    ("time (s)", 8, ">"),
    ("R^2", 9, ">"),
    ("error", 7, ">"),
    ("converged", 30, "<"),
)
#: Width of the text under the table.
TEXT_WIDTH = 99


def read_csv(path: str, target: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a numeric CSV file with a header; return ``(X, y, feature_names)``.

    The file is read as UTF-8; a byte-order mark before the header is dropped.
    Blank lines are skipped; line numbers in messages are those of the file.

    Raises
    ------
    OSError
        If the file cannot be opened.
    ValueError
        If the file is not UTF-8 or not valid CSV, the target column is
        missing or appears twice, the file has no data rows, a row has the
        wrong number of fields, or a cell is not a finite number (empty, text,
        NaN, infinity, or beyond the range of float64 such as ``1e400``).
    """
    lines: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                if row:
                    lines.append((reader.line_num, row))
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8 or ASCII."
            ) from None
        except csv.Error as exc:
            raise ValueError(f"Line {reader.line_num} of {path} is not valid CSV: {exc}.") from None
    if not lines:
        raise ValueError(f"{path} is empty.")
    header = [name.strip() for name in lines[0][1]]
    if target not in header:
        raise ValueError(f"Column {target!r} is not in {path}; its columns are {header}.")
    if header.count(target) > 1:
        raise ValueError(f"Column {target!r} appears {header.count(target)} times in {path}.")
    body = lines[1:]
    if not body:
        raise ValueError(f"{path} has a header but no data rows.")
    data = np.empty((len(body), len(header)))
    for i, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise ValueError(
                f"Line {line} of {path} has {len(row)} fields, expected {len(header)}."
            )
        for j, cell in enumerate(row):
            where = f"Line {line}, column {header[j]!r} of {path}"
            try:
                value = float(cell)
            except ValueError:
                if not cell.strip():
                    raise ValueError(
                        f"{where} is empty: missing values are not supported."
                    ) from None
                raise ValueError(f"{where} is not a number: {cell!r}.") from None
            if not math.isfinite(value):
                raise ValueError(f"{where} {_not_finite(cell, value)}")
            data[i, j] = value
    column = header.index(target)
    features = [name for j, name in enumerate(header) if j != column]
    return np.delete(data, column, axis=1), data[:, column], features


def _not_finite(cell: str, value: float) -> str:
    """Why a cell that parsed to NaN or infinity is refused."""
    if math.isnan(value):
        return f"is NaN ({cell!r}): missing values are not supported; drop or fill that row."
    if "inf" in cell.lower():
        return f"is infinite ({cell!r}): every cell must be a finite number."
    return (
        f"is too large: {cell.strip()!r} overflows float64 (largest "
        f"{np.finfo(np.float64).max:.4g}); every cell must be a finite number."
    )


def check_data(X, y, source: str) -> None:
    """Refuse data the demo cannot fit, with the reason, before any fit starts.

    At least one feature column and two rows (``R^2`` is not defined for one),
    and magnitudes whose squares neither overflow nor underflow float64 -- the
    same limits as :meth:`GradientDescentRegressor.fit`, which every row of the
    table would otherwise fail with.

    Raises
    ------
    ValueError
        Naming ``source`` and what to change.
    """
    if X.shape[1] == 0:
        raise ValueError(
            f"{source} has only the target column: at least one feature column is needed."
        )
    if X.shape[0] < 2:
        raise ValueError(
            f"{source} has {X.shape[0]} data row{'' if X.shape[0] == 1 else 's'}: at least 2 "
            "are needed (R^2 is not defined for a single sample)."
        )
    try:
        check_magnitude("X", X, X.shape[1], small=True)
    except ValueError as exc:
        raise ValueError(f"{source}, feature columns: {exc}") from None
    try:
        check_magnitude("y", np.reshape(y, (-1, 1)), 1, small=False)
    except ValueError as exc:
        raise ValueError(f"{source}, target column: {exc}") from None


def candidates(
    max_iter: int | None = None, random_state: int = 0
) -> list[tuple[str, GradientDescentRegressor]]:
    """The estimators the table compares: the three shorthands, then every update rule.

    All with the estimator's defaults except ``random_state`` (the shuffling
    seed) and, when given, ``max_iter`` (``None`` is the estimator's default).
    """
    common = dict(max_iter=max_iter, random_state=random_state)
    out = [(name, GradientDescentRegressor(optimizer=name, **common)) for name in SHORTHANDS]
    for rule in RULES:
        cls = getattr(_optimizers, rule, None)
        if cls is not None:
            out.append((f"{rule}()", GradientDescentRegressor(optimizer=cls(), **common)))
    return out


def _standardised_spectrum(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(spread, eigenvalues, eigenvectors)`` of the standardised Hessian ``Z^T Z / n``.

    ``spread`` is each column's standard deviation (1 for a constant column).
    """
    spread = X.std(axis=0)
    spread[~(spread > 0)] = 1.0
    Z = (X - X.mean(axis=0)) / spread
    eig, vec = np.linalg.eigh(Z.T @ Z / max(len(Z), 1))
    return spread, eig, vec


def _null_level(eig) -> float:
    """Eigenvalues at or below this cannot be told from zero (as in the estimator's bound)."""
    return 10.0 * np.finfo(np.float64).eps * len(eig) * max(float(eig[-1]), 0.0)


def error_measure(X, y, exact):
    """``coef -> scale-free error`` against ``exact`` on ``X, y`` (see :func:`scale_free_error`)."""
    X = np.asarray(X, dtype=np.float64)
    spread, eig, vec = _standardised_spectrum(X)
    null = eig <= _null_level(eig)
    kept = vec[:, ~null] if null.any() else None
    target = float(np.std(y)) or 1.0
    exact = np.asarray(exact, dtype=np.float64)

    def error(coef) -> float:
        diff = (np.asarray(coef, dtype=np.float64) - exact) * spread
        if kept is not None:
            diff = kept @ (kept.T @ diff)
        return float(np.max(np.abs(diff), initial=0.0)) / target

    return error


def scale_free_error(coef, exact, X, y) -> float:
    """``max_j |coef_j - exact_j| * std(X_j) / std(y)``: what ``tol`` bounds.

    Constant columns count with spread 1, and a constant target with spread 1,
    as in the estimator's bound. On a singular design (collinear columns) the
    exact solution is not unique: only the part of the difference that changes
    the predictions is counted (its projection on the range of the design).
    """
    return error_measure(X, y, exact)(coef)


def condition_number(X) -> float:
    """Condition number of the Hessian of the least-squares objective in standardised columns.

    Constant columns are left out (they do not change the predictions);
    ``inf`` for a singular design.
    """
    X = np.asarray(X, dtype=np.float64)
    X = X[:, X.std(axis=0) > 0]
    if X.shape[1] == 0:
        return 1.0
    _, eig, _ = _standardised_spectrum(X)
    return float(eig[-1] / eig[0]) if eig[0] > _null_level(eig) else np.inf


def _short(message: str, width: int = _COLUMNS[-1][1] - 4) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= width else message[: width - 3] + "..."


def why_not(est: GradientDescentRegressor, caught: list[str]) -> str:
    """A short reason why ``est`` did not converge, from its last bound and the warning."""
    bound = est.change_curve_[-1] if len(est.change_curve_) else np.nan
    text = " ".join(caught)
    if "singular" in text or (len(est.change_curve_) and not np.isfinite(bound)):
        return "singular design: no bound"
    if re.search(r"max_iter=\d+", text) and np.isfinite(bound):
        return f"bound {bound:.1e} at max_iter"
    if np.isfinite(bound):
        return f"stopped at bound {bound:.1e}"
    return _short(caught[0]) if caught else "stopped early"


def compare_rows(X, y, *, max_iter: int | None = None, random_state: int = 0) -> Iterator[dict]:
    """Fit every candidate on ``X`` as given; yield one result row per estimator.

    The first two rows are the references (``LinearRegression`` and the
    normal equation); ``error`` is the scale-free distance to the normal
    equation's coefficients (see :func:`scale_free_error`). Each row has
    ``converged`` (``"yes"``, ``"no"``, or ``"exact"`` for the references)
    and, unless ``"yes"``, a short ``reason``.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    start = time.perf_counter()
    coef_ne, intercept_ne = normal_equation(X, y)
    ne_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = LinearRegression().fit(X, y)
    lr_seconds = time.perf_counter() - start
    ss_tot = float(np.sum((y - y.mean()) ** 2)) or 1.0
    ne_r2 = 1.0 - float(np.sum((y - X @ coef_ne - intercept_ne) ** 2)) / ss_tot
    error = error_measure(X, y, coef_ne)
    common = dict(converged="exact", reason="closed form", epochs="", optimizer="")
    yield dict(
        method="normal_equation",
        seconds=ne_seconds,
        r2=ne_r2,
        error=0.0,
        **common,
    )
    yield dict(
        method="LinearRegression",
        seconds=lr_seconds,
        r2=reference.score(X, y),
        error=error(reference.coef_),
        **common,
    )
    for name, est in candidates(max_iter, random_state):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            try:
                est.fit(X, y)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                failed = f"failed: {type(exc).__name__}: {exc}"
            else:
                failed = ""
            elapsed = time.perf_counter() - start
        caught = [str(w.message) for w in record if issubclass(w.category, ConvergenceWarning)]
        for w in record:  # anything else is not ours to hide
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if failed:
            yield dict(
                method=name,
                epochs="",
                seconds=elapsed,
                r2=np.nan,
                error=np.nan,
                converged="no",
                reason=_short(failed),
                optimizer="",
            )
            continue
        yield dict(
            method=name,
            epochs=est.n_iter_,
            seconds=elapsed,
            r2=est.score(X, y),
            error=error(est.coef_),
            converged="yes" if est.converged_ else "no",
            reason="" if est.converged_ else why_not(est, caught),
            optimizer=repr(est.optimizer_),
        )


def compare(X, y, *, max_iter: int | None = None, random_state: int = 0) -> list[dict]:
    """All the rows of :func:`compare_rows` as a list."""
    return list(compare_rows(X, y, max_iter=max_iter, random_state=random_state))


def format_header() -> str:
    """The two header lines of the Markdown table."""
    cells = [f"{title:{align}{width}}" for title, width, align in _COLUMNS]
    rule = ["-" * (w + 1) + (":" if a == ">" else "-") for _, w, a in _COLUMNS]
    return "| " + " | ".join(cells) + " |\n|" + "|".join(rule) + "|"


def format_row(row: dict) -> str:
    """One row of the Markdown table (the columns padded, so rows line up)."""
    error = "" if np.isnan(row["error"]) else f"{row['error']:.1e}"
    if row["method"] == "normal_equation":
        error = "ref."
    r2 = "" if np.isnan(row["r2"]) else f"{row['r2']:.6f}"
    if len(r2) > 9:  # a fit far from the data: R^2 far below 0
        r2 = f"{row['r2']:.2e}"
    seconds = f"{row['seconds']:.4f}" if row["seconds"] < 100 else f"{row['seconds']:.1f}"
    status = row["converged"] + (f": {row['reason']}" if row["reason"] else "")
    width = _COLUMNS[-1][1]
    status = status if len(status) <= width else status[: width - 3] + "..."
    values = (row["method"], row["epochs"], seconds, r2, error, status)
    cells = [
        f"{value!s:{align}{width}}"
        for value, (_, width, align) in zip(values, _COLUMNS, strict=True)
    ]
    return "| " + " | ".join(cells) + " |"


def format_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`compare`'s rows."""
    return "\n".join([format_header(), *(format_row(r) for r in rows)])


def legend(rows: list[dict], tol: float) -> str:
    """The lines under the table: what the columns mean, what the shorthands ran."""
    lines = [
        "The error column is max_j |w_j - w*_j| std(x_j) / std(y), w* the normal equation's "
        "coefficients. converged: the fit's own bound on that error (change_curve_[-1]) "
        f"reached tol={tol:g}; if not, the bound it reached.",
    ]
    ran = [
        f'"{r["method"]}" ran {r["optimizer"]}'
        for r in rows
        if r["method"] in SHORTHANDS and r["optimizer"]
    ]
    if ran:
        lines.append("With learning_rate='auto', " + ", ".join(ran) + ".")
    if any(r["converged"] == "no" for r in rows):
        lines.append(
            "Rows that did not converge warn with a ConvergenceWarning when used alone: give them "
            "more epochs (--max-iter N) or use a rule that converged."
        )
    return "\n".join(textwrap.fill(line, TEXT_WIDTH) for line in lines)


class UsageError(Exception):
    """A wrong command line: ``main`` prints it as one ``error: ...`` line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is raised for :func:`main` to print, not printed with the usage."""

    def error(self, message):
        raise UsageError(message)


#: Seeds that ``random_state`` accepts (those of ``numpy.random.RandomState``).
MAX_SEED = 2**32 - 1


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m gdreg``."""
    parser = _Parser(
        prog="python -m gdreg",
        description="Fit linear regression by gradient descent with every built-in optimizer "
        "(estimator defaults) and compare with LinearRegression and the normal equation.",
    )
    parser.add_argument("csv", nargs="?", help="CSV file with a header row (default: diabetes)")
    parser.add_argument("--target", help="name of the target column of the CSV file")
    parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="epochs per fit, >= 1 (default: the estimator's, 10000 full batch / 1000 stochastic)",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        help=f"seed of the shuffling, 0 to {MAX_SEED} (default: 0)",
    )
    parser.add_argument("--version", action="version", version=f"gdreg {__version__}")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line.

    Raises
    ------
    UsageError
        For an unknown option, a value that is not an integer or out of range,
        a CSV file without ``--target``, or ``--target`` without a CSV file.
    """
    args = build_parser().parse_args(argv)
    if args.max_iter is not None and args.max_iter < 1:
        raise UsageError(f"--max-iter must be at least 1, got {args.max_iter}")
    if not 0 <= args.random_state <= MAX_SEED:
        raise UsageError(f"--random-state must be in [0, {MAX_SEED}], got {args.random_state}")
    if args.csv is not None and not args.target:
        raise UsageError("--target COL is required with a CSV file")
    if args.csv is None and args.target is not None:
        raise UsageError("--target needs a CSV file: python -m gdreg data.csv --target COL")
    return args


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, source)``: the CSV file of ``args``, or the diabetes data set; checked.

    Raises
    ------
    OSError, ValueError
        If the file cannot be read, or its data cannot be fitted (see
        :func:`read_csv` and :func:`check_data`).
    """
    if args.csv is None:
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        source = "scikit-learn's diabetes data set"
    else:
        X, y, _ = read_csv(args.csv, args.target)
        source = args.csv
    check_data(X, y, source)
    return X, y, source


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status (2 for a user error, after one ``error:`` line).

    ``--help`` and ``--version`` print and exit with status 0 (``SystemExit``).
    """
    try:
        args = parse_args(argv)
        X, y, source = load(args)
    except UsageError as exc:
        print(f"error: {exc} (see python -m gdreg --help)", file=sys.stderr)
        return 2
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"error: cannot read {args.csv}: {reason}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{source}: {X.shape[0]} samples, {X.shape[1]} features (in their own units)")
    kappa = condition_number(X)
    print(f"condition number of the standardised problem: {kappa:.3g}")
    if not np.isfinite(kappa):
        print(
            textwrap.fill(
                "Collinear columns: the exact solution is not unique. w* below is the "
                "minimum-norm one, and errors count only the part of the coefficients that "
                "changes the predictions.",
                TEXT_WIDTH,
            )
        )
    print()
    print(format_header(), flush=True)
    rows = []
    for row in compare_rows(X, y, max_iter=args.max_iter, random_state=args.random_state):
        rows.append(row)
        print(format_row(row), flush=True)
    print("\n" + legend(rows, GradientDescentRegressor().tol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
