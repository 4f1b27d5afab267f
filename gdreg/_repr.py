"""How gdreg's objects read: short reprs, and HTML reprs that link to the API pages.

Readable repr. Optimizers and schedules are scikit-learn estimators, whose
``repr`` prints every float in full, so a schedule resolved from the data
shows as ``Constant(eta0=0.24849593177048043)``, and scikit-learn's HTML
repr, which cuts any repr longer than 30 characters in the middle, as
``Constant(eta0...9593177048043)``. :class:`ReadableRepr` prints a float
with more than six significant digits (a computed value) to four, as the
HTML repr's table of fitted attributes does (``f"{value:.4g}"``), and a
shorter one (a value someone typed, such as ``0.99999``) exactly, so that
``gamma=0.99999`` never reads as ``gamma=1.0``. Only the text changes:
``get_params``, ``clone``, pickle and skops see the same parameters.

Documentation links. scikit-learn's HTML repr shows a "?" link to an
estimator's API page when the class sets ``_doc_link_module`` and
``_doc_link_template`` (``sklearn.utils._repr_html.base``). gdreg is not
hosted anywhere yet, so :func:`doc_link_template` points at the
documentation that exists: the URL in the ``GDREG_DOCS_URL`` environment
variable if set (a hosted or locally served build), otherwise the local
build of a checkout, ``docs/_build/html`` next to the package (where the
README's ``python -m sphinx ... docs docs/_build/html`` writes it). Without
either there is no link rather than a dead one. The page of a public name
``gdreg.X`` or ``gdreg.optimizers.X`` is ``generated/<module>.<name>.html``,
as ``docs/conf.py`` writes it from the modules' ``__all__``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import get_config
from sklearn.utils._pprint import _changed_params

__all__ = ["DOCS_URL_VARIABLE", "ReadableRepr", "doc_link_template", "docs_root", "format_value"]

#: Environment variable naming the root URL of the documentation.
DOCS_URL_VARIABLE = "GDREG_DOCS_URL"
#: Where ``python -m sphinx -b html docs docs/_build/html`` puts a checkout's documentation.
LOCAL_BUILD = Path(__file__).resolve().parent.parent / "docs" / "_build" / "html"
#: Significant digits up to which a float is printed exactly.
EXACT_DIGITS = 6


def format_value(value) -> str:
    """The text of one parameter value in a repr.

    Parameters
    ----------
    value : object
        A parameter value.

    Returns
    -------
    str
        ``repr(value)``, except for floats with more than six significant
        digits, which are printed to four.

    Examples
    --------
    >>> format_value(0.24849593177048043), format_value(0.99999), format_value(2.0)
    ('0.2485', '0.99999', '2.0')
    >>> format_value(np.float32(0.1)), format_value(1e-10), format_value("batch")
    ('0.1', '1e-10', "'batch'")
    """
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, np.integer):
        return repr(int(value))
    if not isinstance(value, (float, np.floating)):
        return repr(value)
    value = float(value)
    text = repr(value)
    mantissa = text.lstrip("-").split("e")[0].replace(".", "").strip("0")
    if len(mantissa) <= EXACT_DIGITS or not np.isfinite(value):
        return text
    text = format(value, ".4g")
    # keep it a float literal: 1.0000001 reads "1.0", not "1"
    return text if any(c in text for c in ".en") else text + ".0"


def docs_root() -> str:
    """The root URL of the documentation, or ``""`` when none is known.

    Returns
    -------
    str
        ``$GDREG_DOCS_URL`` without a trailing slash if it is set, else the
        ``file://`` URI of a checkout's local build if it exists, else ``""``.
    """
    url = os.environ.get(DOCS_URL_VARIABLE, "").strip()
    if url:
        return url.rstrip("/")
    if (LOCAL_BUILD / "index.html").is_file():
        return LOCAL_BUILD.as_uri()
    return ""


def doc_link_template(estimator) -> str:
    """``_doc_link_template`` of gdreg's estimators (scikit-learn fills in the names).

    Parameters
    ----------
    estimator : object
        The estimator whose HTML repr is drawn.

    Returns
    -------
    str
        ``"<root>/generated/{estimator_module}.{estimator_name}.html"``, or
        ``""`` (no link) when no documentation is known or the class is not
        a public name of its module, such as a user's subclass or an adapter.
    """
    root = docs_root()
    if not root or not _is_public(type(estimator)):
        return ""
    return root + "/generated/{estimator_module}.{estimator_name}.html"


def _is_public(cls: type) -> bool:
    """Whether ``cls`` is in the ``__all__`` of its public module (``gdreg.optimizers``...)."""
    parts = cls.__module__.split(".")
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    try:
        module = importlib.import_module(".".join(public))
    except ImportError:  # pragma: no cover - a class from a module that went away
        return False
    return cls.__name__ in getattr(module, "__all__", ()) and getattr(module, cls.__name__) is cls


class ReadableRepr:
    """Short ``repr`` and an API-page link for gdreg's optimizers and schedules.

    Put it before ``BaseEstimator`` among the bases, whose documentation-link
    attributes it overrides (see the module docstring). The repr lists the
    parameters as scikit-learn does (sorted, only those changed from their
    defaults unless ``sklearn.set_config(print_changed_only=False)``), with
    floats as :func:`format_value` prints them.
    """

    _doc_link_module = "gdreg"
    _doc_link_template = property(doc_link_template)

    if TYPE_CHECKING:  # supplied by BaseEstimator

        def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def __repr__(self) -> str:
        if get_config()["print_changed_only"]:
            params = _changed_params(self)
        else:
            params = self.get_params(deep=False)
        args = ", ".join(f"{name}={format_value(value)}" for name, value in sorted(params.items()))
        return f"{type(self).__name__}({args})"
