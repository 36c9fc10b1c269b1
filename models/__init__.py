"""Sequence models built on minigrad's public API."""

from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, States  # noqa: F401

from .cell import Cell, CompileError, Recurrent  # noqa: F401  # isort: skip

from .attention import (BahdanauAttention, LuongAttention,  # noqa: F401  # isort: skip
                        MultiheadAttention, scaled_dot_product_attention)
