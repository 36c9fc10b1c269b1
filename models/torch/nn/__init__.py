"""``torch.nn``: ``minigrad.nn`` (Module, Linear, Embedding, Dropout, losses, LayerNorm, ...)
with the recurrent layers of ``models`` (``LSTM``, ``GRU``, ``RNN`` taking PackedSequence,
and the cells) and ``MultiheadAttention``; ``functional``, ``init``, ``utils`` (``utils.rnn``)
and ``modules`` by PyTorch's paths."""

from minigrad.nn import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    ModuleList,
    MSELoss,
    NLLLoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

from . import functional, init, modules, parameter, utils
from .modules.activation import MultiheadAttention
from .modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .modules.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Embedding", "GRU", "GRUCell",
           "LSTM", "LSTMCell", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss",
           "Module", "ModuleList", "MultiheadAttention", "NLLLoss", "Parameter", "RNN",
           "RNNCell", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "Transformer",
           "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer", "functional", "init", "modules", "parameter", "utils"]
