"""Neural-network building blocks: Module, Parameter, layers, init, functional, utils."""

from . import functional, init, utils
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
from .module import Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Linear", "Embedding", "Dropout", "Sequential", "ModuleList",
           "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "functional", "init", "utils"]
