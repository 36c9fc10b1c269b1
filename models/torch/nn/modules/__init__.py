"""``torch.nn.modules``: the layer classes by PyTorch's module paths (``modules.rnn.LSTM``,
``modules.linear.Linear``, ...), as checkpoints' ``safe_globals`` lists name them."""

from . import (
    activation,
    container,
    dropout,
    linear,
    loss,
    module,
    normalization,
    rnn,
    sparse,
    transformer,
)

__all__ = ["activation", "container", "dropout", "linear", "loss", "module", "normalization",
           "rnn", "sparse", "transformer"]
