"""gdreg: linear regression by gradient descent, as a scikit-learn estimator."""

from gdreg._estimator import GradientDescentRegressor
from gdreg._reference import normal_equation

__version__ = "0.1.0"

__all__ = ["GradientDescentRegressor", "__version__", "normal_equation"]
