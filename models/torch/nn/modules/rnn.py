"""``torch.nn.modules.rnn``: ``RNN``, ``LSTM``, ``GRU`` as PyTorch's, i.e. ``models.RNN`` /
``LSTM`` / ``GRU`` that also take a ``PackedSequence`` (and return one), plus the cells.

With a ``PackedSequence`` input (from ``nn.utils.rnn.pack_padded_sequence``), the layer
unpacks it to a padded batch with lengths, runs with ``lengths=`` (``batch_first`` is ignored
for the packed data, as in PyTorch) and packs ``output`` back in the input's order; ``hx``
and ``h_n`` / ``c_n`` are in the original batch order. ``lengths=`` keeps working on padded
input.
"""

import minigrad as mg
import models
from minigrad.nn.rnn_utils import PackedSequence, pack_padded_sequence, pad_packed_sequence
from models import GRUCell, LSTMCell, RNNCell

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


def _options(who, device, proj_size=0):
    if device is not None and mg.device(device).type != "cpu":
        raise RuntimeError(f"{who}: device {str(mg.device(device))!r} is not available: "
                           "minigrad runs on the CPU only; use 'cpu'")
    if proj_size:
        raise ValueError(f"{who}: proj_size is not supported (expected 0, got {proj_size!r})")


class _TakesPacked:
    """Mixin: ``forward`` accepts a ``PackedSequence`` (see the module docstring)."""

    def forward(self, input, hx=None, **options):  # noqa: A002 - PyTorch's name
        if not isinstance(input, PackedSequence):
            return super().forward(input, hx, **options)
        if options.get("lengths") is not None:
            raise ValueError(f"{type(self).__name__}: a PackedSequence carries its lengths; "
                             "do not pass lengths= with it")
        padded, lengths = pad_packed_sequence(input, batch_first=self.batch_first)
        result = super().forward(padded, hx, lengths=lengths, **options)
        return (self._repack(result[0], lengths, input),) + tuple(result[1:])

    def _repack(self, output, lengths, packed):
        """Pack ``output`` (padded, original order) in the same order as ``packed``."""
        if packed.sorted_indices is None:
            return pack_padded_sequence(output, lengths, batch_first=self.batch_first)
        order = packed.sorted_indices
        out = mg.index_select(output, 0 if self.batch_first else 1, order)
        repacked = pack_padded_sequence(out, mg.index_select(lengths, 0, order),
                                        batch_first=self.batch_first)
        return repacked._replace(sorted_indices=packed.sorted_indices,
                                 unsorted_indices=packed.unsorted_indices)


class RNN(_TakesPacked, models.RNN):
    """``RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None)``;
    ``rnn(input, h0=None)`` -> ``output, h_n``; input (T, B, I), (B, T, I), (T, I) or a
    PackedSequence."""

    def __init__(self, *args, device=None, **kwargs):
        _options("RNN", device)
        super().__init__(*args, **kwargs)


class LSTM(_TakesPacked, models.LSTM):
    """``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None)``;
    ``lstm(input, (h0, c0)=None)`` -> ``output, (h_n, c_n)``; input as for ``RNN``."""

    def __init__(self, *args, proj_size=0, device=None, **kwargs):
        _options("LSTM", device, proj_size)
        super().__init__(*args, **kwargs)


class GRU(_TakesPacked, models.GRU):
    """``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, device=None, dtype=None)``; ``gru(input, h0=None)`` ->
    ``output, h_n``; input as for ``RNN``."""

    def __init__(self, *args, device=None, **kwargs):
        _options("GRU", device)
        super().__init__(*args, **kwargs)
