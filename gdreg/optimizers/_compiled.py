"""How an update rule opts into the compiled stochastic and mini-batch epochs.

A rule is fast when it hands its per-coordinate arithmetic to the kernels as
an *update piece*: a small scalar function that numba compiles into the
generic epoch kernels of :mod:`gdreg._kernels._rules`, which form each
sample's or batch's gradient (dense or CSR data, sample weights, standardised
coordinates) and call the piece for every coordinate. The rule itself never
sees the data. The built-in Momentum, Nesterov, AdaGrad, RMSProp and Adam are
written this way; the gallery example ``plot_08_compiled_rule.py`` writes a
sign-based rule outside the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gdreg._kernels._rules import no_factors, register_piece, rule_epoch

__all__ = ["piece_epoch", "register_update_piece"]


def register_update_piece(
    hyper_type: type, update: Callable, factors: Callable | None = None
) -> None:
    """Register the compiled update piece of a rule, keyed by its hyperparameter type.

    Parameters
    ----------
    hyper_type : type
        A :class:`~typing.NamedTuple` class whose fields are the rule's
        hyperparameters (floats). An instance of it is what
        :func:`piece_epoch` passes to the kernels; its type selects the piece
        when they are compiled.
    update : callable
        ``update(hyper, factors, g, a, b, eta) -> (delta, a, b)``: one update
        of one coordinate, on scalars. ``g`` is the coordinate's gradient,
        ``a`` and ``b`` its two state entries (a rule with fewer buffers
        returns the ones it ignores unchanged), ``eta`` the step; it returns
        what to add to the coordinate and the new state. The parameters must
        have exactly these names (numba matches them). Write it without
        Python-level branching on values where you can (``(g > 0) * 1.0``
        rather than a conditional expression): numba inlines it into the
        kernel's loop.
    factors : callable or None, default=None
        ``factors(hyper, t) -> (c1, c2)``, scalars computed once per update
        ``t`` (Adam's bias corrections) and handed to ``update``; ``None``
        when the rule needs none.

    Raises
    ------
    TypeError
        If a function's parameters are not named as above.

    Examples
    --------
    >>> from typing import NamedTuple
    >>> from gdreg.optimizers import register_update_piece
    >>> class HalfStep(NamedTuple):
    ...     scale: float
    >>> def half_step(hyper, factors, g, a, b, eta):
    ...     return -hyper.scale * eta * g, a, b
    >>> register_update_piece(HalfStep, half_step)
    """
    register_piece(hyper_type, no_factors if factors is None else factors, update)


def piece_epoch(
    data: Any,
    params: np.ndarray,
    hyper: Any,
    order: np.ndarray,
    steps: Any,
    batch_size: int,
    *,
    buffers: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    count: int = 0,
) -> float:
    """Run one compiled stochastic or mini-batch epoch of a registered rule, in place.

    Call it from a rule's ``compiled_epoch`` (see
    :meth:`Optimizer.compiled_epoch`), passing its arguments through.

    Parameters
    ----------
    data : object
        The data as the kernels read them (the ``data`` argument of
        ``compiled_epoch``).
    params : ndarray of shape (n_features + 1, n_targets)
        The parameters, C-contiguous; updated in place.
    hyper : NamedTuple
        The rule's hyperparameters, an instance of a type given to
        :func:`register_update_piece`.
    order : ndarray of int64 of shape (n_samples,)
        The order in which the epoch visits the samples.
    steps : array-like of shape (n_updates,)
        The step of each update of the epoch.
    batch_size : int
        Samples per update (1 for ``"stochastic"``).
    buffers : tuple of two ndarray or None, default=(None, None)
        The rule's state buffers ``a`` and ``b``, shaped like ``params``,
        C-contiguous and of its dtype; updated in place. ``None`` for a buffer
        the rule does not use.
    count : int, default=0
        Updates the rule made before this epoch (update ``p`` of the epoch
        is number ``count + p + 1``, what ``factors`` receives).

    Returns
    -------
    float
        The mean over the epoch of the objective on each batch before its
        update.

    Examples
    --------
    >>> from typing import NamedTuple
    >>> import numpy as np
    >>> from gdreg._objective import LeastSquares
    >>> from gdreg.optimizers import piece_epoch, register_update_piece
    >>> class Plain(NamedTuple):
    ...     unused: float
    >>> def plain(hyper, factors, g, a, b, eta):
    ...     return -eta * g, a, b
    >>> register_update_piece(Plain, plain)
    >>> X, Y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    >>> problem = LeastSquares(X, Y, None, alpha=0.0, x_offset=np.zeros(1),
    ...                        y_offset=np.zeros(1), learn_intercept=False)
    >>> params = np.zeros((2, 1))
    >>> _ = piece_epoch(problem.stochastic_data(), params, Plain(0.0), np.arange(3),
    ...                 np.full(3, 0.1), 1)
    >>> params[:, 0].round(4)  # plain SGD: w = 0.2, then 0.92, then 1.892
    array([1.892, 0.   ])
    """
    a, b = buffers
    return rule_epoch(data, params, hyper, a, b, int(count), order, steps, batch_size)
