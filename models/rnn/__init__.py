"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` (multi-layer, bidirectional, variable-length,
fused or unrolled) and the single-step ``RNNCell``, ``LSTMCell``, ``GRUCell``."""

from .cells import GRUCell, LSTMCell, RNNCell
from .layers import GRU, LSTM, RNN, RNNBase, States
from .unrolled import unrolled_recurrence

__all__ = ["RNN", "LSTM", "GRU", "RNNBase", "States", "RNNCell", "LSTMCell", "GRUCell",
           "unrolled_recurrence"]
