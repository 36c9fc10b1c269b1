"""``torch.nn.modules.transformer``: the names exist (programs that define a Transformer
model next to their recurrent ones import and subclass them), but making one raises: the
Transformer layers are not implemented."""

from minigrad.nn import Module

__all__ = ["Transformer", "TransformerEncoder", "TransformerEncoderLayer",
           "TransformerDecoder", "TransformerDecoderLayer"]


class _NotImplemented(Module):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"nn.{_base_name(type(self))}: the Transformer layers are "
                                  "not implemented in minigrad (the recurrent layers, "
                                  "MultiheadAttention and LayerNorm are)")


def _base_name(cls):
    for c in cls.__mro__:
        if c.__module__ == __name__ and c is not _NotImplemented:
            return c.__name__
    return cls.__name__


class Transformer(_NotImplemented):
    pass


class TransformerEncoder(_NotImplemented):
    pass


class TransformerEncoderLayer(_NotImplemented):
    pass


class TransformerDecoder(_NotImplemented):
    pass


class TransformerDecoderLayer(_NotImplemented):
    pass
