"""``torch.cuda``: nothing available (minigrad runs on the CPU only)."""

from minigrad.cuda import device_count, is_available, manual_seed, manual_seed_all

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]
