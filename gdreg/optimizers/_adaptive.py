r"""Adaptive per-coordinate steps: AdaGrad, RMSProp and Adam.

Each divides the gradient by the square root of a running sum or average of
squared gradients. The intercept row of the gradient is exactly zero when the
intercept is eliminated by centring, so its accumulator stays at zero; the
division is guarded so that ``0 / 0`` gives a zero update even with
``eps=0``.

``learning_rate="auto"`` cannot come from the curvature alone for these
rules: their step is measured in units of the parameters, not of
``1 / L``. Each uses a documented base step instead (:data:`AUTO_STEP`),
constant for the full batch and decaying as ``1/sqrt(epoch)`` for the
stochastic modes, as for every optimizer.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from gdreg import _kernels
from gdreg._kernels._rules import no_factors, register_piece, scaled_step
from gdreg.optimizers._base import SAMPLINGS, Optimizer

__all__ = ["AdaGrad", "AdaGradState", "Adam", "AdamState", "RMSProp", "RMSPropState"]

_COMMON_CONSTRAINTS = {
    "sampling": [StrOptions(set(SAMPLINGS))],
    "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "eps": [Interval(Real, 0, None, closed="left")],
}

#: Base step of ``learning_rate="auto"`` for each adaptive rule, in parameter units.
AUTO_STEP = {"AdaGrad": 1.0, "RMSProp": 0.01, "Adam": 0.05}


def _scaled(numerator: np.ndarray, second_moment: np.ndarray, eps: float) -> np.ndarray:
    """``numerator / (sqrt(second_moment) + eps)``, and 0 where both are 0."""
    denominator = np.sqrt(second_moment) + eps
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


class AdaGradHyper(NamedTuple):
    """:class:`AdaGrad`'s hyperparameter, as its compiled update piece reads it."""

    eps: float


class RMSPropHyper(NamedTuple):
    """:class:`RMSProp`'s hyperparameters, as its compiled update piece reads them."""

    rho: float
    eps: float


class AdamHyper(NamedTuple):
    """:class:`Adam`'s hyperparameters, as its compiled update piece reads them."""

    beta1: float
    beta2: float
    eps: float


# The compiled update pieces (gdreg._kernels._rules): one coordinate of each rule's
# ``update``, operation by operation (``a``, ``b``: the coordinate's state entries).
def _adagrad_piece(hyper, factors, g, a, b, eta):
    sum_of_squares = a + g * g
    return -eta * scaled_step(g, sum_of_squares, hyper.eps), sum_of_squares, b


def _rmsprop_piece(hyper, factors, g, a, b, eta):
    square_avg = hyper.rho * a + (1.0 - hyper.rho) * (g * g)
    return -eta * scaled_step(g, square_avg, hyper.eps), square_avg, b


def _adam_factors(hyper, t):
    # the reciprocal bias corrections of update t (a float: Python's float ** int is
    # pow too); multiplying by them rather than dividing per coordinate changes the
    # result by round-off and leaves one division per coordinate, not three (Adam's
    # per-sample epoch at d = 100 was 1.1 x SGDRegressor's with three)
    return 1.0 / (1.0 - hyper.beta1**t), 1.0 / (1.0 - hyper.beta2**t)


def _adam_piece(hyper, factors, g, a, b, eta):
    mu = hyper.beta1 * a + (1.0 - hyper.beta1) * g
    nu = hyper.beta2 * b + (1.0 - hyper.beta2) * (g * g)
    mu_hat = mu * factors[0]
    nu_hat = nu * factors[1]
    return -eta * scaled_step(mu_hat, nu_hat, hyper.eps), mu, nu


register_piece(AdaGradHyper, no_factors, _adagrad_piece)
register_piece(RMSPropHyper, no_factors, _rmsprop_piece)
register_piece(AdamHyper, _adam_factors, _adam_piece)


class _Adaptive(Optimizer):
    #: Base step of ``learning_rate="auto"`` in parameter units (:data:`AUTO_STEP`);
    #: a class attribute, so that subclasses inherit their parent's.
    auto_step: float = 1.0
    #: The ``update`` the compiled piece reproduces: a subclass that overrides
    #: ``update`` runs the NumPy path.
    _piece_update = None

    def auto_step_size(self, smoothness: float) -> float:
        # Scale-free rules: the curvature does not set their step (module docstring).
        return float(self.auto_step)

    def stable_step_size(self, smoothness: float) -> float:
        # The per-coordinate step eta / sqrt(v) has no bound in terms of L (it
        # grows as the gradients shrink), so no curvature-based limit exists;
        # the divergence message names the documented base step, known to work
        # on standardised data, instead.
        return float(self.auto_step)

    def _hyper(self):
        """The hyperparameters the compiled piece reads."""
        raise NotImplementedError

    def compiled_epoch(
        self,
        data: Any,
        params: np.ndarray,
        state: Any,
        order: np.ndarray,
        steps: Any,
        batch_size: int,
    ) -> tuple[Any, float] | None:
        if not _kernels.ENABLED or type(self).update is not type(self)._piece_update:
            return None
        # Adam's bias corrections count its updates (every NamedTuple has a .count method)
        counted = "count" in state._fields
        count = state.count if counted else 0
        buffers = [
            np.array(buffer, dtype=params.dtype, order="C", copy=True)
            for buffer in state
            if isinstance(buffer, np.ndarray)
        ]
        a, b = [*buffers, None][:2]
        loss = _kernels.rule_epoch(
            data, params, self._hyper(), a, b, count, order, steps, batch_size
        )
        if counted:
            return type(state)(count + len(steps), *buffers), loss
        return type(state)(*buffers), loss


class AdaGradState(NamedTuple):
    """Running sum of squared gradients :math:`G`."""

    sum_of_squares: np.ndarray


class AdaGrad(_Adaptive):
    r"""AdaGrad (Duchi, Hazan and Singer, 2011), diagonal version.

    .. math::

        G_t &= G_{t-1} + g_t \odot g_t, \qquad G_0 = G_{init}, \\
        \theta_t &= \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{G_t} + \epsilon} ,

    with the square root and division taken elementwise.

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.
    eps : float, default=1e-10
        :math:`\epsilon`, added to the square root; >= 0.
    initial_accumulator_value : float, default=0.0
        :math:`G_{init}`; >= 0.

    Notes
    -----
    **Conventions.** This is PyTorch's ``torch.optim.Adagrad`` (``eps=1e-10``
    outside the square root, accumulator starting at 0). Keras starts the
    accumulator at 0.1 and uses ``epsilon=1e-7``; set
    ``initial_accumulator_value=0.1, eps=1e-7`` to match it.

    **learning_rate="auto".** A base step :math:`\eta = 1` (constant for
    the full batch, ``InverseSqrt(1, t0=updates per epoch)`` otherwise),
    rather than PyTorch's 0.01, which is meant for long training runs.
    The first update moves each coordinate by :math:`\eta` and the total
    distance travelled grows like :math:`\eta \sqrt t`, so the step is in
    units of the parameters: it suits standardised features and targets
    whose coefficients are of order one.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import AdaGrad
    >>> opt = AdaGrad()
    >>> params = np.zeros((2, 1))
    >>> grad = np.array([[4.0], [0.0]])  # an eliminated intercept has grad 0
    >>> updates, state = opt.update(grad, opt.init(params), params, 0.5)
    >>> updates.ravel()
    array([-0.5,  0. ])
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "initial_accumulator_value": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        sampling: str = "batch",
        batch_size: int | None = None,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
    ):
        super().__init__(sampling=sampling, batch_size=batch_size)
        self.eps = eps
        self.initial_accumulator_value = initial_accumulator_value

    def init(self, params: np.ndarray) -> AdaGradState:
        self._validate_params()
        return AdaGradState(np.full_like(params, self.initial_accumulator_value))

    def update(
        self, grad: np.ndarray, state: AdaGradState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, AdaGradState]:
        sum_of_squares = state.sum_of_squares + grad * grad
        return -step_size * _scaled(grad, sum_of_squares, self.eps), AdaGradState(sum_of_squares)

    _piece_update = update
    auto_step = AUTO_STEP["AdaGrad"]

    def _hyper(self) -> AdaGradHyper:
        return AdaGradHyper(float(self.eps))


class RMSPropState(NamedTuple):
    """Moving average of squared gradients :math:`v`."""

    square_avg: np.ndarray


class RMSProp(_Adaptive):
    r"""RMSProp (Tieleman and Hinton, 2012).

    .. math::

        v_t &= \rho\, v_{t-1} + (1 - \rho)\, g_t \odot g_t, \qquad v_0 = 0, \\
        \theta_t &= \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{v_t} + \epsilon} .

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.
    rho : float, default=0.99
        Decay :math:`\rho` of the moving average, in ``[0, 1)``.
    eps : float, default=1e-8
        :math:`\epsilon`, added to the square root; >= 0.

    Notes
    -----
    **Conventions.** This is ``torch.optim.RMSprop`` (there ``alpha=0.99``,
    ``eps=1e-8`` outside the square root). Keras uses ``rho=0.9``,
    ``epsilon=1e-7``; TensorFlow 1's ``RMSPropOptimizer`` put
    :math:`\epsilon` inside the square root, :math:`\sqrt{v_t + \epsilon}`.
    With :math:`v_0 = 0` the first steps are larger than later ones
    (:math:`v_1 = (1 - \rho) g_1^2`, so the first update moves each
    coordinate by :math:`\eta / \sqrt{1 - \rho}`); Adam's bias correction
    removes that.

    **learning_rate="auto".** A base step :math:`\eta = 0.01` (constant for
    the full batch, decaying as :math:`1/\sqrt{\text{epoch}}` otherwise), in
    units of the parameters: an RMSProp step moves every coordinate by about
    :math:`\eta`, so it suits standardised data with coefficients of order
    one (it is also PyTorch's default). Convergence with a constant step is
    not guaranteed in theory; on well-conditioned full-batch problems the
    iterates still converge, because the steps shrink with the gradients.

    **Accuracy.** Near the optimum :math:`\sqrt{v_t}` shrinks with the
    gradient, so the effective step :math:`\eta / \sqrt{v_t}` grows until
    the iterates overshoot: on an ill-conditioned problem they hover at a
    distance set by :math:`\eta`. A larger ``eps`` bounds the effective step
    by :math:`\eta / \epsilon`; with :math:`\epsilon \ge \eta L / 2` the rule
    ends as gradient descent with a stable step and converges linearly.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import RMSProp
    >>> opt = RMSProp(rho=0.75)
    >>> params = np.zeros((2, 1))
    >>> updates, state = opt.update(np.ones((2, 1)), opt.init(params), params, 0.1)
    >>> updates.ravel().round(6)
    array([-0.2, -0.2])
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "rho": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        sampling: str = "batch",
        batch_size: int | None = None,
        rho: float = 0.99,
        eps: float = 1e-8,
    ):
        super().__init__(sampling=sampling, batch_size=batch_size)
        self.rho = rho
        self.eps = eps

    def init(self, params: np.ndarray) -> RMSPropState:
        self._validate_params()
        return RMSPropState(np.zeros_like(params))

    def update(
        self, grad: np.ndarray, state: RMSPropState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, RMSPropState]:
        square_avg = self.rho * state.square_avg + (1.0 - self.rho) * (grad * grad)
        return -step_size * _scaled(grad, square_avg, self.eps), RMSPropState(square_avg)

    _piece_update = update
    auto_step = AUTO_STEP["RMSProp"]

    def _hyper(self) -> RMSPropHyper:
        return RMSPropHyper(float(self.rho), float(self.eps))


class AdamState(NamedTuple):
    """Update count and the two moving averages :math:`m`, :math:`v`."""

    count: int
    mu: np.ndarray
    nu: np.ndarray


class Adam(_Adaptive):
    r"""Adam (Kingma and Ba, 2015).

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t \odot g_t, \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad
        \hat v_t = v_t / (1 - \beta_2^t), \\
        \theta_t &= \theta_{t-1} - \eta_t\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} ,

    with :math:`m_0 = v_0 = 0` and :math:`t` counting this optimizer's own
    updates (it restarts at 1 in every fit).

    Parameters
    ----------
    sampling : {"batch", "stochastic", "minibatch"}, default="batch"
        How each gradient is formed.
    batch_size : int or None, default=None
        Samples per update for ``"minibatch"``; ``None`` takes the
        estimator's ``batch_size``.
    beta1 : float, default=0.9
        Decay of the first moment, in ``[0, 1)``.
    beta2 : float, default=0.999
        Decay of the second moment, in ``[0, 1)``.
    eps : float, default=1e-8
        :math:`\epsilon`, added to :math:`\sqrt{\hat v_t}`; >= 0.

    Notes
    -----
    **Conventions.** This is Algorithm 1 of the paper and
    ``torch.optim.Adam``: :math:`\epsilon` is added to the square root of the
    *bias-corrected* :math:`\hat v_t`. The paper's "more efficient" form
    (end of its Section 2), used by TensorFlow/Keras, folds both corrections
    into the step, :math:`\eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`, and
    adds :math:`\hat\epsilon` to :math:`\sqrt{v_t}`; it equals this form with
    :math:`\epsilon = \hat\epsilon / \sqrt{1 - \beta_2^t}`, which differs
    only in the first few thousand updates. optax's ``adam`` matches this
    form (with ``eps_root=0``).

    **learning_rate="auto".** A base step :math:`\eta = 0.05` (constant for
    the full batch, decaying as :math:`1/\sqrt{\text{epoch}}` otherwise).
    An Adam step moves each coordinate by at most about :math:`\eta`, so the
    step is in units of the parameters: it suits standardised data with
    coefficients of order one, and reaches them in about :math:`1/\eta`
    updates. Convergence with a constant step is not guaranteed in theory;
    on well-conditioned full-batch problems the iterates converge, slowly
    (the momentum :math:`\beta_1 = 0.9` makes them spiral in).

    **Accuracy.** Near the optimum :math:`\sqrt{\hat v_t}` shrinks with the
    gradient, so the effective step :math:`\eta / \sqrt{\hat v_t}` grows
    until the iterates overshoot: on an ill-conditioned problem they hover at
    a distance set by :math:`\eta`, with occasional bursts. A larger ``eps``
    bounds the effective step by :math:`\eta / \epsilon`; with
    :math:`\epsilon \ge \eta L` the rule ends as heavy-ball momentum with a
    stable step and converges linearly.

    Examples
    --------
    >>> import numpy as np
    >>> from gdreg.optimizers import Adam
    >>> opt = Adam()
    >>> params = np.zeros((2, 1))
    >>> updates, state = opt.update(np.ones((2, 1)), opt.init(params), params, 0.05)
    >>> updates.ravel().round(6), state.count
    (array([-0.05, -0.05]), 1)
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "beta1": [Interval(Real, 0, 1, closed="left")],
        "beta2": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        sampling: str = "batch",
        batch_size: int | None = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        super().__init__(sampling=sampling, batch_size=batch_size)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def init(self, params: np.ndarray) -> AdamState:
        self._validate_params()
        return AdamState(0, np.zeros_like(params), np.zeros_like(params))

    def update(
        self, grad: np.ndarray, state: AdamState, params: np.ndarray, step_size: float
    ) -> tuple[np.ndarray, AdamState]:
        count = state.count + 1
        mu = self.beta1 * state.mu + (1.0 - self.beta1) * grad
        nu = self.beta2 * state.nu + (1.0 - self.beta2) * (grad * grad)
        mu_hat = mu / (1.0 - self.beta1**count)
        nu_hat = nu / (1.0 - self.beta2**count)
        return -step_size * _scaled(mu_hat, nu_hat, self.eps), AdamState(count, mu, nu)

    _piece_update = update
    auto_step = AUTO_STEP["Adam"]

    def _hyper(self) -> AdamHyper:
        return AdamHyper(float(self.beta1), float(self.beta2), float(self.eps))
