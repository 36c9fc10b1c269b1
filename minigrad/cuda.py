"""``mg.cuda``: what PyTorch code asks about CUDA. minigrad runs on the CPU only."""


def is_available():
    """False: minigrad has no GPU path."""
    return False


def device_count():
    return 0


def manual_seed(seed):
    """Nothing to seed (no CUDA generator); ``mg.manual_seed`` seeds minigrad's generator."""


manual_seed_all = manual_seed
