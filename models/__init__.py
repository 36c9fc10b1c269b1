"""Sequence models built on minigrad's public API."""

from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, States  # noqa: F401
