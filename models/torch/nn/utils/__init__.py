"""``torch.nn.utils``: gradient clipping and ``rnn`` (packing)."""

from minigrad.nn.utils import clip_grad_norm_, clip_grad_value_

from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
