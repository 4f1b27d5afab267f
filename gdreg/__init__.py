"""gdreg: linear regression by gradient descent, as a scikit-learn estimator."""

from gdreg._estimator import GradientDescentRegressor, fit_from_statistics
from gdreg._loop import DivergenceError
from gdreg._reference import normal_equation
from gdreg._stats import SufficientStatistics
from gdreg._warnings import InconsistentVersionWarning

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "GradientDescentRegressor",
    "InconsistentVersionWarning",
    "SufficientStatistics",
    "__version__",
    "fit_from_statistics",
    "normal_equation",
]
