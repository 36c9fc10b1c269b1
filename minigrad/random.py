"""The library's random number generator (``mg.manual_seed`` makes runs repeatable).

It never touches numpy's global state.
"""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Reseed the generator used by ``randn``, ``rand``, init helpers and dropout."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator():
    """The current ``numpy.random.Generator``."""
    return _generator
