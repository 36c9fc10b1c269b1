"""``torch.nn.modules.activation``."""

from minigrad.nn import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from models import MultiheadAttention

__all__ = ["LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh",
           "MultiheadAttention"]
