"""Optimizers: an update rule plus the sampling mode that feeds it gradients.

See :class:`Optimizer` for the protocol a new optimizer implements.
"""

from gdreg.optimizers._accelerated import AcceleratedGradient
from gdreg.optimizers._adaptive import AdaGrad, Adam, RMSProp
from gdreg.optimizers._averaged import AveragedSGD
from gdreg.optimizers._base import SAMPLINGS, Optimizer, as_optimizer
from gdreg.optimizers._compiled import piece_epoch, register_update_piece
from gdreg.optimizers._gd import GradientDescent
from gdreg.optimizers._momentum import Momentum, Nesterov, accelerated_momentum
from gdreg.optimizers._svrg import SVRG

__all__ = [
    "SAMPLINGS",
    "SVRG",
    "AcceleratedGradient",
    "AdaGrad",
    "Adam",
    "AveragedSGD",
    "GradientDescent",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSProp",
    "accelerated_momentum",
    "as_optimizer",
    "piece_epoch",
    "register_update_piece",
]
