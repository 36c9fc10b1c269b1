"""The library's random number generator (``mg.manual_seed`` makes runs repeatable).

It never touches numpy's global state.
"""

import contextlib

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


@contextlib.contextmanager
def state_kept():
    """Run a block without moving the library's random stream: whatever it draws (a module's
    random initialisation that is about to be overwritten) is undrawn afterwards, and
    ``manual_seed`` inside it is undone."""
    global _generator
    generator = _generator
    state = generator.bit_generator.state
    try:
        yield
    finally:
        _generator = generator
        generator.bit_generator.state = state


class Generator(np.random.Generator):
    """PyTorch's ``torch.Generator(device="cpu")``: a numpy ``Generator`` (so every
    ``generator=`` argument takes it) with ``manual_seed(seed)`` (returns itself, so
    ``Generator().manual_seed(1)`` chains), ``initial_seed()``, ``seed()`` and ``device``.
    ``Generator().manual_seed(s)`` draws what ``mg.manual_seed(s)`` makes the library draw."""

    def __init__(self, device="cpu"):
        from .device import check_device
        self.device = check_device(device, "Generator")
        seed = int(np.random.SeedSequence().entropy % (1 << 63))
        super().__init__(np.random.PCG64(seed))
        self._seed = seed

    def manual_seed(self, seed):
        self.bit_generator.state = np.random.PCG64(int(seed)).state
        self._seed = int(seed)
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        """Reseed from fresh entropy; returns the new seed."""
        seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.manual_seed(seed)
        return seed
