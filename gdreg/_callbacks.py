"""scikit-learn's callback API, where the installed scikit-learn has it.

scikit-learn 1.9 added :mod:`sklearn.callback`: an estimator that inherits
``CallbackSupportMixin`` gets ``set_callbacks(*callbacks)``, and its ``fit``
reports a tree of tasks to them. Here the tree is the fit (the root task,
``max_subtasks=max_iter``) with one leaf task per epoch, so
``ProgressBar`` shows a bar over the epochs and a callback whose
``on_fit_task_end`` returns True stops the fit after that epoch.

With an older scikit-learn the import fails quietly: the mixin is an empty
class, ``with_callbacks`` only wraps the method, and
:func:`begin_fit` returns ``None``, so nothing else changes.

The epochs are bridged through the loop's ``epoch_callback`` hook, which runs
at the end of each epoch. As scikit-learn's own L-BFGS bridge does, the task
of epoch ``k + 1`` is begun at the end of epoch ``k`` (nothing runs between
the two); the one left open when the stopping rule ends the loop is closed
as an empty task by :meth:`FitCallbacks.end`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin, with_callbacks

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised with an older scikit-learn
    AVAILABLE = False

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stands in for ``sklearn.callback.CallbackSupportMixin`` (scikit-learn < 1.9)."""

    def with_callbacks(method):  # type: ignore[no-redef]
        """No callback lifecycle to manage without ``sklearn.callback``.

        Still a wrapper, so that warnings raised inside ``method`` need the
        same ``stacklevel`` with and without ``sklearn.callback``.
        """

        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            return method(*args, **kwargs)

        return wrapper


__all__ = ["AVAILABLE", "CallbackSupportMixin", "FitCallbacks", "begin_fit", "with_callbacks"]


def begin_fit(estimator, X, y, sample_weight, *, max_iter: int) -> FitCallbacks | None:
    """Open the fit task and call ``on_fit_task_begin``; ``None`` when there is nothing to call.

    Must run inside a method decorated with :func:`with_callbacks`, which
    tears the callbacks down whether the fit succeeds or not. Estimators with
    no callbacks (and no meta-estimator above them) skip the bookkeeping.
    """
    if not AVAILABLE or not (
        hasattr(estimator, "_skl_callbacks") or hasattr(estimator, "_parent_callback_ctx")
    ):
        return None
    context = estimator._init_callback_context(max_subtasks=max_iter)
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
    return FitCallbacks(estimator, context, X, y, metadata, max_iter)


class FitCallbacks:
    """Calls the epoch hooks from the loop's ``epoch_callback``; built by :func:`begin_fit`.

    Attributes
    ----------
    stopped : bool
        Whether a callback asked the fit to stop.
    """

    def __init__(self, estimator, context, X, y, metadata, max_iter: int):
        self.estimator = estimator
        self.context = context
        self.X, self.y, self.metadata = X, y, metadata
        self.max_iter = max_iter
        self.stopped = False
        self._epoch_context = None

    def epochs(self, to_attributes: Callable) -> Callable:
        """Begin epoch 1 and return the loop's ``epoch_callback``.

        ``to_attributes(coef, intercept)`` turns the loop's user parameters
        into the fitted attributes (``coef_``, ``intercept_``) of a copy of
        the estimator that callbacks may ask for (``fitted_estimator``); it is
        only called when one does.
        """
        self._epoch_context = self._begin_epoch()

        def epoch_callback(epoch: int, info: dict) -> bool:
            def attributes():
                return {**to_attributes(info["coef"], info["intercept"]), "n_iter_": epoch}

            stop = self._epoch_context.call_on_fit_task_end(
                estimator=self.estimator,
                X=self.X,
                y=self.y,
                metadata=self.metadata,
                reconstruction_attributes=attributes,
            )
            self._epoch_context = None
            if stop:
                self.stopped = True
                return True
            if epoch < self.max_iter:
                self._epoch_context = self._begin_epoch()
            return False

        return epoch_callback

    def _begin_epoch(self):
        context = self.context.subcontext(task_name="epoch")
        context.call_on_fit_task_begin(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
        )
        return context

    def end(self) -> None:
        """Close an epoch begun but not run (the stopping rule ended the loop), then the fit."""
        if self._epoch_context is not None:
            self._epoch_context.call_on_fit_task_end(estimator=self.estimator)
            self._epoch_context = None
        self.context.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes={},
        )
