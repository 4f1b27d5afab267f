"""
In a Pipeline, tuned by GridSearchCV
====================================

Gradient descent cares about feature scales: the step must suit the steepest
direction, and badly scaled features make the others crawl. The usual remedy
is a :class:`~sklearn.preprocessing.StandardScaler` in front, inside a
:class:`~sklearn.pipeline.Pipeline` so that cross-validation scales each
training fold on its own. :class:`~sklearn.model_selection.GridSearchCV` then
tunes the penalty and the optimizer like any other hyper-parameters.

The data set is scikit-learn's bundled diabetes data (442 patients, 10
features).
"""

# %%
import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gdreg import GradientDescentRegressor
from gdreg.optimizers import GradientDescent, Momentum, Nesterov

X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# Two of the ten features (the blood serum measurements ``s1`` and ``s2``) are
# strongly correlated, so even after scaling the problem is ill conditioned
# and plain gradient descent needs thousands of epochs: we allow 20 000.
#
# The grid: the L2 penalty ``alpha`` and three full-batch optimizers. Parameters of a
# step are reached with ``<step>__<parameter>``, and parameters of an
# optimizer object with one more level, e.g.
# ``gradientdescentregressor__optimizer__momentum``.
pipe = make_pipeline(StandardScaler(), GradientDescentRegressor(max_iter=20_000, random_state=0))
grid = {
    "gradientdescentregressor__alpha": [0.0, 0.001, 0.01, 0.1],
    "gradientdescentregressor__optimizer": [
        GradientDescent(),
        Momentum(momentum=0.5),
        Nesterov(momentum=0.5),
    ],
}
search = GridSearchCV(pipe, grid, cv=KFold(5, shuffle=True, random_state=0), scoring="r2")
search.fit(X_train, y_train)

results = pd.DataFrame(search.cv_results_)
results["optimizer"] = results["param_gradientdescentregressor__optimizer"].map(repr)
table = results.pivot_table(
    index="optimizer", columns="param_gradientdescentregressor__alpha", values="mean_test_score"
)
print(table.round(4).to_string())
print("best:", search.best_params_)
print(f"test R^2 of the best pipeline: {search.score(X_test, y_test):.4f}")

# %%
# The same penalty in scikit-learn's ``Ridge`` is ``alpha * n_samples`` (see
# the user guide): the tuned gdreg pipeline and the matching ``Ridge``
# pipeline agree on the test set.
best_alpha = search.best_params_["gradientdescentregressor__alpha"]
ridge = make_pipeline(StandardScaler(), Ridge(alpha=best_alpha * len(X_train)))
ridge.fit(X_train, y_train)
best = search.best_estimator_
print(f"Ridge(alpha={best_alpha} * {len(X_train)}) test R^2: {ridge.score(X_test, y_test):.4f}")
gap = np.abs(best[-1].coef_ - ridge[-1].coef_).max()
print(f"largest coefficient difference to Ridge: {gap:.2e}")

# %%
# A picture of the tuned model: predicted against measured disease progression.
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(layout="constrained")
ax.scatter(y_test, best.predict(X_test), s=12, alpha=0.7)
lims = [y.min(), y.max()]
ax.plot(lims, lims, color="black", linewidth=1)
ax.set_xlabel("measured")
ax.set_ylabel("predicted")
ax.set_title(f"Held-out patients, R^2 = {search.score(X_test, y_test):.3f}")
plt.show()
