"""Shared test configuration.

Long property and benchmark runs are marked ``slow`` and skipped unless
``--run-slow`` is given; their quick versions run by default.
"""

import pytest

try:  # render any figure off-screen; matplotlib is an optional extra
    import matplotlib

    matplotlib.use("Agg")
except ImportError:  # pragma: no cover
    pass


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: opt in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
