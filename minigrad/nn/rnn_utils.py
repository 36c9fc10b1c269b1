"""Packed and padded batches of variable-length sequences (PyTorch's ``nn.utils.rnn``):
``PackedSequence``, ``pack_padded_sequence``, ``pad_packed_sequence``, ``pad_sequence``,
``pack_sequence``.

A packed batch keeps only the real steps, time-major: ``data`` (sum(lengths), *) holds step 0
of every sequence, then step 1 of every sequence still running, ...; ``batch_sizes[t]`` (T,)
says how many sequences are running at step t. Sequences are ordered by decreasing length
inside ``data``; ``sorted_indices[j]`` is the original batch index of the j-th longest (None
when the input was already sorted) and ``unsorted_indices`` its inverse. Every function here is
a gather (``index_select``), so gradients flow through packing and unpacking.
"""

from typing import NamedTuple

import numpy as np

from ..ops import shape as sh
from ..ops.index import index_select
from ..tensor import Tensor


class PackedSequence(NamedTuple):
    """``(data, batch_sizes, sorted_indices, unsorted_indices)``; see the module docstring.
    data: (N, *) with N = sum(lengths); batch_sizes: (T,) int64; the indices: (B,) int64 or
    None."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor = None
    unsorted_indices: Tensor = None

    def to(self, *args, **kwargs):
        """``data.to(...)`` (a dtype, or the CPU); the indices stay int64."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self):
        return self

    def float(self):
        return self._replace(data=self.data.float())

    def double(self):
        return self._replace(data=self.data.double())

    @property
    def is_cuda(self):
        return False


def _lengths(lengths, batch, steps, who):
    """The B lengths as an int64 array, each in [1, steps]."""
    arr = np.asarray(lengths._array if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{who}: lengths expected integers (a list or an int64 tensor), got "
                        f"dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"{who}: expected {batch} lengths (one per sequence), got shape "
                         f"{arr.shape}")
    arr = arr.astype(np.int64)
    if batch and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(f"{who}: every length must lie in [1, {steps}] (the padded length), "
                         f"got {arr.tolist()}")
    return arr


def _as_index(arr):
    return Tensor._wrap(np.ascontiguousarray(arr, dtype=np.int64))


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):  # noqa: A002
    """Pack a padded batch. input: (T, B, *) (or (B, T, *) with ``batch_first``); lengths: B
    ints (list or int64 tensor) in [1, T]. With ``enforce_sorted`` the lengths must be in
    decreasing order; otherwise the batch is sorted here and the order kept in the result."""
    who = "pack_padded_sequence"
    if not isinstance(input, Tensor) or input.ndim < 2:
        raise ValueError(f"{who}: expected a tensor (T, B, *) or (B, T, *), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    lens = _lengths(lengths, batch, steps, who)
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise ValueError(f"{who}: lengths must be sorted in decreasing order when "
                             f"enforce_sorted=True, got {lens.tolist()}; pass "
                             "enforce_sorted=False to have them sorted")
        order, sorted_indices, unsorted_indices = np.arange(batch), None, None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = _as_index(order)
        unsorted_indices = _as_index(np.argsort(order, kind="stable"))
    return _pack(input, lens, order, batch_first, sorted_indices, unsorted_indices)


def _pack(input, lens, order, batch_first, sorted_indices, unsorted_indices):  # noqa: A002
    """Gather the live steps of ``input`` (original batch order) in the packed order."""
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    sorted_lens = lens[order]
    max_len = int(sorted_lens[0]) if batch else 0
    batch_sizes = np.array([(sorted_lens > t).sum() for t in range(max_len)], dtype=np.int64)
    pick = []
    for t in range(max_len):
        rows = order[:batch_sizes[t]]
        pick.append(rows * steps + t if batch_first else t * batch + rows)
    flat = sh.reshape(input, (steps * batch,) + input.shape[2:])
    index = np.concatenate(pick) if pick else np.zeros(0, np.int64)
    data = index_select(flat, 0, _as_index(index))
    return PackedSequence(data, _as_index(batch_sizes), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Unpack: returns ``(padded, lengths)``, padded (T, B, *) (or (B, T, *) with
    ``batch_first``) in the original batch order with ``padding_value`` past each end, T the
    longest length or ``total_length``; lengths (B,) int64 in the original order."""
    who = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{who}: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    sizes = np.asarray(sequence.batch_sizes._array, dtype=np.int64)
    max_len = len(sizes)
    batch = int(sizes[0]) if max_len else 0
    steps = max_len if total_length is None else int(total_length)
    if steps < max_len:
        raise ValueError(f"{who}: total_length {total_length} is less than the longest "
                         f"sequence length {max_len}")
    sorted_lens = np.array([(sizes > j).sum() for j in range(batch)], dtype=np.int64)
    position = (np.arange(batch) if sequence.unsorted_indices is None
                else np.asarray(sequence.unsorted_indices._array))  # original b -> sorted j
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    pad_row = data.shape[0]
    gather = np.full((steps, batch), pad_row, dtype=np.int64)
    for b in range(batch):
        j = position[b]
        live = np.arange(sorted_lens[j])
        gather[live, b] = offsets[live] + j
    if batch_first:
        gather = gather.T
    filler = Tensor._wrap(np.full((1,) + data.shape[1:], padding_value, dtype=data.dtype))
    rows = index_select(sh.concat([data, filler], dim=0), 0, _as_index(gather.reshape(-1)))
    padded = sh.reshape(rows, gather.shape + data.shape[1:])
    return padded, _as_index(sorted_lens[position])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors (L_i, *) into (T, B, *) (or (B, T, *)), T = max L_i, filling with
    ``padding_value`` after each (``padding_side="left"``: before)."""
    who = "pad_sequence"
    if isinstance(sequences, Tensor):
        sequences = list(sequences)
    sequences = list(sequences)
    if not sequences:
        raise ValueError(f"{who}: expected a non-empty sequence of tensors")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor) or s.ndim < 1:
            raise TypeError(f"{who}: item {i} expected a tensor of shape (L, *), got "
                            f"{getattr(s, 'shape', type(s).__name__)}")
        if s.shape[1:] != sequences[0].shape[1:]:
            raise ValueError(f"{who}: item {i} has trailing shape {s.shape[1:]}, item 0 has "
                             f"{sequences[0].shape[1:]}")
    if padding_side not in ("right", "left"):
        raise ValueError(f"{who}: padding_side must be 'right' or 'left', got {padding_side!r}")
    steps = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = steps - s.shape[0]
        if missing:
            fill = Tensor._wrap(np.full((missing,) + s.shape[1:], padding_value, dtype=s.dtype))
            s = sh.concat([s, fill] if padding_side == "right" else [fill, s], dim=0)
        padded.append(s)
    return sh.stack(padded, dim=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """``pack_padded_sequence(pad_sequence(sequences), lengths)`` for tensors (L_i, *)."""
    sequences = list(sequences)
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
