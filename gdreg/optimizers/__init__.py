"""Optimizers: an update rule plus the sampling mode that feeds it gradients.

See :class:`Optimizer` for the protocol a new optimizer implements.
"""

from gdreg.optimizers._base import SAMPLINGS, Optimizer, as_optimizer
from gdreg.optimizers._gd import GradientDescent

__all__ = ["SAMPLINGS", "GradientDescent", "Optimizer", "as_optimizer"]
