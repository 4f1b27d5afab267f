"""Warnings attributed to the user's line, not to gdreg's or scikit-learn's frames."""

from __future__ import annotations

import sys
import warnings

from sklearn import exceptions as sklearn_exceptions
from sklearn.exceptions import ConvergenceWarning

#: Top-level packages whose frames stand between the user's call and a fit:
#: gdreg itself, and the libraries that call estimators on the user's behalf
#: (Pipeline, GridSearchCV and joblib's sequential backend, Dask's schedulers).
LIBRARY_PACKAGES = frozenset({"gdreg", "sklearn", "joblib", "dask", "distributed", "dask_ml"})


def _is_library(frame) -> bool:
    module = frame.f_globals.get("__name__", "") or ""
    return module.split(".", 1)[0] in LIBRARY_PACKAGES


def caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning raised by our caller at user code.

    Counts the frames above the function that calls this one until the first
    frame outside :data:`LIBRARY_PACKAGES` (``warnings.warn`` counts its own
    caller as level 1).
    """
    frame = sys._getframe(2)  # the caller of our caller
    level = 2
    while frame is not None and _is_library(frame):
        frame = frame.f_back
        level += 1
    return level


def warn_at_caller(message: str, category: type[Warning] = ConvergenceWarning) -> None:
    """``warnings.warn`` at the first frame outside gdreg and the libraries that call it.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_at_caller("slow", UserWarning)
    >>> caught[0].filename.endswith("_warnings.py")
    False
    """
    warnings.warn(message, category, stacklevel=caller_stacklevel())


class InconsistentVersionWarning(sklearn_exceptions.InconsistentVersionWarning):
    """A saved estimator is loaded with a gdreg version other than the one that saved it.

    A subclass of scikit-learn's warning for its own estimators, so one filter
    (``warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)``)
    covers both libraries. ``original_version`` is None for a file saved
    before gdreg recorded its version.
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        self.estimator_name = estimator_name
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        if self.original_version is None:
            saved = "by a gdreg version that did not record itself in saved models"
        else:
            saved = f"with gdreg {self.original_version}"
        return (
            f"{self.estimator_name} was saved {saved} and is loaded with gdreg "
            f"{self.current_version}: its fitted attributes may not mean the same, so it "
            "may predict differently or fail. Refit it, or load it with the version that "
            "saved it."
        )
