"""Neural-network building blocks: Module, Parameter, layers, init, functional, utils."""

from . import functional, init, rnn_utils, utils
from .activation import LogSoftmax, Softmax
from .layers import (
    Dropout,
    Embedding,
    LeakyReLU,
    Linear,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .loss_modules import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .normalization import LayerNorm, layer_norm
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Linear", "Embedding", "Dropout", "Sequential", "ModuleList",
           "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax", "LayerNorm",
           "layer_norm", "NLLLoss", "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss",
           "functional", "init", "rnn_utils", "utils"]
