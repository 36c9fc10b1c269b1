"""``torch.backends.mps``: not available (minigrad runs on the CPU only)."""


def is_available():
    return False


def is_built():
    return False
