"""``torch.backends.cudnn``: not available; ``deterministic`` and ``benchmark`` may be set (they
change nothing: minigrad's CPU kernels are deterministic)."""

enabled = False
deterministic = False
benchmark = False


def is_available():
    return False
