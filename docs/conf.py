"""Sphinx configuration of the gdreg documentation.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (needs the
``docs`` extra). The gallery in ``examples/`` runs at build time.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
import sys
from pathlib import Path

import matplotlib
from docutils import nodes
from docutils.statemachine import StringList
from numpydoc.xref import DEFAULT_LINKS
from sphinx.util.docutils import SphinxDirective

matplotlib.use("Agg")  # the gallery renders off-screen

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import gdreg  # noqa: E402

project = "gdreg"
author = "gdreg developers"
copyright = "gdreg developers"
release = version = gdreg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax itself, copied into _static/mathjax: formulas render with no network.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"  # `x` renders as code, never as a broken cross-reference

# -- API reference -------------------------------------------------------------
#: Modules whose ``__all__`` is the public API; api.rst is written from them below.
PUBLIC_MODULES = ["gdreg", "gdreg.optimizers", "gdreg.schedules", "gdreg.plotting"]

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc sections already give the types
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
# Parameter types read as text, as in scikit-learn's reference ("{array-like,
# sparse matrix} of shape (n_samples, n_features)" stays one phrase), except
# the names gdreg documents, which link to their pages (aliases filled in
# below). numpydoc's default aliases point into the Python and NumPy docs
# through intersphinx, which an offline build does not have, and showed as
# "python:float": they are mapped to the plain word.
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
numpydoc_xref_aliases = {name: name for name in DEFAULT_LINKS}
# "GradientDescentRegressor.fit()" rather than the class name again in the
# page's table of contents, which is too narrow for both.
toc_object_entries_show_parents = "hide"


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return sorted(name for name in module.__all__ if not name.startswith("__"))


def _write_api_page() -> None:
    """api.rst lists every name in the public modules' ``__all__``.

    Written at build time so that a name added to an ``__all__`` cannot be
    left out of the reference.
    """
    lines = [
        "API reference",
        "=============",
        "",
        "Every public name of gdreg. The estimator follows scikit-learn's API;",
        "optimizers and schedules are the pieces it combines (see :doc:`user_guide`).",
        "",
    ]
    for module_name in PUBLIC_MODULES:
        # automodule shows the module's docstring: its summary is not repeated.
        lines += [
            f"``{module_name}``",
            "-" * (len(module_name) + 4),
            "",
            f".. automodule:: {module_name}",
            "   :no-members:",
            "   :no-index:",
            "",
            f".. currentmodule:: {module_name}",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "   :template: public_name.rst",
            "",
        ]
        lines += [f"   {name}" for name in _public_names(module_name)]
        lines.append("")
    text = "\n".join(lines)
    path = HERE / "api.rst"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_write_api_page()
for _module_name in PUBLIC_MODULES:
    for _name in _public_names(_module_name):
        numpydoc_xref_aliases[_name] = numpydoc_xref_aliases[f"{_module_name}.{_name}"] = (
            f"{_module_name}.{_name}"
        )

# -- Gallery -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "reference_url": {"gdreg": None},
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gdreg {version}"
html_static_path = ["_static"]
html_css_files = ["gdreg.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
# The theme's "Section Navigation" lists the pages under the current top-level
# page, and most pages here have none: the left sidebar lists the whole site
# instead (_templates/site-nav.html), the current page's branch open.
html_sidebars = {"**": ["sidebar-collapse", "site-nav"]}
# MathJax's SVG output draws its glyphs as paths: no web fonts to load, which
# some browsers refuse from file:// pages.
mathjax3_config = {"svg": {"fontCache": "global"}}


# -- Docstring fix-ups -----------------------------------------------------------
_SHAPE_NAME = re.compile(r"(\w)_(?=[\s,.)]|$)")
_FIELD = re.compile(r"^\s*[\w*\\, ]+ : ")


def _escape_shape_names(app, what, name, obj, options, lines):
    """Escape ``n_iter_`` in "ndarray of shape (n_iter_ + 1,)" type specs.

    numpydoc leaves the type as text (``numpydoc_xref_ignore = "all"``), where
    a name ending in ``_`` reads as an rst reference. Runs before numpydoc.
    """
    for i, line in enumerate(lines):
        if _FIELD.match(line):
            head, _, spec = line.partition(" : ")
            lines[i] = head + " : " + _SHAPE_NAME.sub(r"\1\\_", spec)


# -- Performance page: tables from the benchmark's JSON ----------------------------
BENCHMARK_JSON = HERE / "_static" / "performance_full.json"

#: What a row's labels in benchmarks/run.py mean, in words for the reader.
_BENCHMARK_WORDS = {
    "fit (batch, to convergence)": "``fit``, full batch, to convergence",
    "fit, 1 epoch, step 'auto'": '``fit``, 1 epoch, ``learning_rate="auto"``',
    "fit, 1 epoch, eta0=0.01": "``fit``, 1 epoch, ``eta0=0.01``",
    "the epoch alone (loop.run)": "the epoch alone",
    "fit (batch)": "``fit``, full batch",
    "fit (stochastic)": "``fit``, per-sample",
    "fit (minibatch)": "``fit``, mini-batch",
    "floor": "the floor",
    "LinearRegression": "``LinearRegression``",
    "SGDRegressor 1 epoch": "``SGDRegressor``, 1 epoch",
    "X.T @ (X @ w - y)": "one full gradient",
    "LinearRegression().fit": "``LinearRegression``",
    "Ridge(alpha=1e-6).fit": "``Ridge(alpha=1e-6)``",
    "gdreg.normal_equation": "``normal_equation``",
    "GradientDescentRegressor().fit": "``fit`` with every default",
}
#: The sweep's curves, as the tables above name the same methods.
_SWEEP_WORDS = {
    "gdreg batch (to convergence)": "gdreg full batch",
    "LinearRegression": "``LinearRegression``",
    "floor (X^T X + Cholesky)": "the floor",
    "gdreg stochastic (1 epoch)": "gdreg per-sample, 1 epoch",
    "SGDRegressor (1 epoch)": "``SGDRegressor``, 1 epoch",
}
_DATA = re.compile(r"^(?P<size>[\d,]+ x \d+) (?P<dtype>float\d+) (?P<features>.+)$")
_FEATURES = {"iid": "independent", "AR(1) 0.9": "correlated"}


def _data_columns(data: str) -> dict[str, str]:
    """Split "1,000,000 x 100 float64 iid" into size, dtype and features."""
    match = _DATA.match(data)
    if match is None:
        return {"Data": data}
    return {
        "Size": match["size"].replace(" x ", " \u00d7 "),
        "dtype": match["dtype"],
        "Features": _FEATURES.get(match["features"], match["features"]),
    }


def _median(values: list) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _number(value: float | None) -> str:
    """Three significant digits, trailing zeros kept (1.00, not 1)."""
    return "\u2013" if value is None else f"{value:#.3g}".rstrip(".")


def _error(row: dict, side: str) -> str:
    value = row[f"{side}_err"]
    if value is None:
        return "\u2013"
    digits = row.get(f"{side}_digits")
    return f"{value:.1e}" if digits is None else f"{value:.1e} ({digits:.1f} digits)"


def _csv_table(
    title: str, header: list[str], rows: list[list[str]], text_columns: int
) -> list[str]:
    """A ``csv-table`` directive; numbers (after the text columns) right-aligned by CSS."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return [
        f".. csv-table:: {title}",
        "   :header-rows: 1",
        "   :widths: auto",
        f"   :class: benchmark benchmark-text-{text_columns}",
        "",
        *("   " + line for line in buffer.getvalue().splitlines()),
        "",
    ]


def _case_table(record: dict, case: str) -> list[str]:
    rows = [r for r in record["rows"] if r["case"].split()[0] == case]
    if not rows:
        return [f"The run shown here did not include case {case}.", ""]
    unit = rows[0]["unit"]
    what = "time (s)" if unit == "s" else f"({unit.replace('x ', chr(0xD7) + ' ')})"
    data = [_data_columns(r["data"]) for r in rows]
    if len({tuple(d) for d in data}) > 1:  # some description did not split
        data = [{"Data": r["data"]} for r in rows]
    text = [(name, [d[name] for d in data]) for name in data[0]]
    text += [
        ("gdreg runs", [_BENCHMARK_WORDS.get(r["gdreg"], r["gdreg"]) for r in rows]),
        ("Compared with", [_BENCHMARK_WORDS.get(r["peer"], r["peer"]) for r in rows]),
    ]
    numbers = [
        (f"gdreg {what}", [_number(_median(r["gdreg_times"])) for r in rows]),
        (f"Other {what}", [_number(_median(r["peer_times"])) for r in rows]),
        ("gdreg / other", [_number(r["ratio"]) for r in rows]),
        ("gdreg rel. error", [_error(r, "gdreg") for r in rows]),
        ("Other rel. error", [_error(r, "peer") for r in rows]),
    ]
    if rows[0].get("err_kind") == "scale-free":
        numbers[3:] = [("gdreg error", numbers[3][1]), ("Other error", numbers[4][1])]
    # A column that says the same on every row goes into the title.
    constant = [f"{name}: {values[0]}" for name, values in text if len(set(values)) == 1]
    text = [(name, values) for name, values in text if len(set(values)) > 1]
    numbers = [(name, values) for name, values in numbers if set(values) != {"\u2013"}]
    columns = text + numbers
    title = ". ".join(constant) + "." if constant else ""
    body = [list(cells) for cells in zip(*(values for _, values in columns), strict=True)]
    return _csv_table(title, [name for name, _ in columns], body, len(text))


def _first_fit_table(record: dict) -> list[str]:
    first = record.get("first_fit") or []
    if not first:
        return ["The run shown here did not include the first fit.", ""]
    header = [
        "Optimizer",
        "Import (s)",
        "Empty cache: wall (s)",
        "Empty cache: CPU (s)",
        "Cache on disk: wall (s)",
        "Cache on disk: CPU (s)",
    ]
    body = [
        [f'``"{f["optimizer"]}"``']
        + [_number(f[key]) for key in ("import_s", "cold_s", "cold_cpu_s", "warm_s", "warm_cpu_s")]
        for f in first
    ]
    return _csv_table("", header, body, 1)


def _sweep_table(record: dict) -> list[str]:
    sweep = record.get("sweep")
    if not sweep:
        return ["The run shown here did not include the sweep over ``n``.", ""]
    names = list(sweep["seconds"])
    header = ["n_samples", *(_SWEEP_WORDS.get(name, name) for name in names)]
    body = [
        [f"{n:,}", *(_number(sweep["seconds"][name][i]) for name in names)]
        for i, n in enumerate(sweep["n"])
    ]
    return _csv_table(f"Median seconds at {sweep['d']} features", header, body, 1)


def _machine_fields(record: dict) -> list[str]:
    machine = record["machine"]
    lines = [
        f":CPU: {machine['cpu']}",
        f":BLAS: {machine['blas']}",
        f":Software: {machine['versions']}",
        f":Timing: median of {record['rounds']} interleaved rounds after a warm-up call",
    ]
    if "load_average_end" in machine:
        lines.append(
            f":Load average: {machine['load_average_start']:.1f} at the start, "
            f"{machine['load_average_end']:.1f} at the end"
        )
    if record.get("quick"):
        lines.append(":Sizes: ``--quick``")
    return [*lines, ""]


class BenchmarkTable(SphinxDirective):
    """``.. benchmark-table:: WHAT``: part of the run in docs/_static/performance_full.json.

    ``WHAT`` is a case number of ``benchmarks/run.py`` (one table per case),
    ``first-fit``, ``sweep`` or ``machine``. Written from the JSON at build
    time, so the page shows what the run measured and nothing else.
    """

    required_arguments = 1

    def run(self):
        self.env.note_dependency(str(BENCHMARK_JSON))
        self.env.note_dependency(__file__)  # the tables' layout lives here
        record = json.loads(BENCHMARK_JSON.read_text())
        what = self.arguments[0]
        if what == "machine":
            lines = _machine_fields(record)
        elif what == "first-fit":
            lines = _first_fit_table(record)
        elif what == "sweep":
            lines = _sweep_table(record)
        else:
            lines = _case_table(record, what)
        holder = nodes.Element()
        self.state.nested_parse(StringList(lines, source=str(BENCHMARK_JSON)), 0, holder)
        return holder.children


def setup(app):
    app.connect("autodoc-process-docstring", _escape_shape_names, priority=400)
    app.add_directive("benchmark-table", BenchmarkTable)
    # sphinx-mathjax-offline points mathjax_path at its CommonHTML build.
    app.config.mathjax_path = "mathjax/tex-svg.js"
