"""Sphinx configuration of the gdreg documentation.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (needs the
``docs`` extra). The gallery in ``examples/`` runs at build time.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import matplotlib

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
# Types such as "ndarray of shape (n_iter_,)" go through numpydoc's type
# parser, which keeps a trailing underscore from reading as an rst reference.
# numpydoc's default aliases point into the Python and NumPy docs through
# intersphinx, which an offline build does not have: render them as plain
# (unresolved, hence unlinked) object names instead.
numpydoc_xref_param_type = True
# Plain words stay text; the rest (ndarray, n_iter_, ...) become :obj: roles,
# unresolved and unlinked where they name nothing documented.
numpydoc_xref_ignore = {"of", "shape", "or", "and", "default", "optional", "instance", "pair"}
numpydoc_xref_aliases = {
    name: name
    for name in (
        "bool boolean iterable sequence generator array-like array_like scalar "
        "contextmanager namedtuple"
    ).split()
}


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
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        lines += [
            f"``{module_name}``",
            "-" * (len(module_name) + 4),
            "",
            f".. automodule:: {module_name}",
            "   :no-members:",
            "   :no-index:",
            "",
            summary,
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
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}


# -- Docstring fix-ups -----------------------------------------------------------
_SHAPE_NAME = re.compile(r"(\w)_(?=[,)])")
_FIELD = re.compile(r"^\s*[\w*\\, ]+ : ")


def _escape_shape_names(app, what, name, obj, options, lines):
    """Escape ``n_iter_,`` in "ndarray of shape (n_iter_,)" type specs.

    numpydoc leaves the shape tuple as text, where a name ending in ``_``
    followed by ``,`` or ``)`` reads as an rst reference. Runs before numpydoc.
    """
    for i, line in enumerate(lines):
        if _FIELD.match(line):
            head, _, spec = line.partition(" : ")
            lines[i] = head + " : " + _SHAPE_NAME.sub(r"\1\\_", spec)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_shape_names, priority=400)
