"""Datasets and batching (PyTorch's ``torch.utils.data``): ``Dataset``, ``TensorDataset``,
``Subset``, ``random_split``, ``SequentialSampler``, ``RandomSampler``, ``BatchSampler``,
``DataLoader`` and ``default_collate``.

``DataLoader(dataset, batch_size=1, shuffle=False)`` yields batches made by ``collate_fn``
(``default_collate``: Tensors and numpy arrays stacked on a new first dim, Python ints as an
int64 tensor (B,), floats as float64 (B,), tuples / lists / dicts collated per field, strings
kept in a list). Shuffling draws from minigrad's generator (``mg.manual_seed``), so orders
repeat under a seed but differ from PyTorch's. ``num_workers`` is accepted and the batches are
made in the calling process.
"""

import collections.abc
import math

import numpy as np

from .ops import shape as sh
from .random import default_generator
from .tensor import Tensor


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; every tensor has the same first size."""

    def __init__(self, *tensors):
        if not tensors or not all(isinstance(t, Tensor) and t.ndim for t in tensors):
            raise TypeError("TensorDataset: expected one or more tensors of at least 1 dim")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: the tensors' first sizes differ: {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into ``Subset``s of the given lengths (ints summing to its length, or
    fractions summing to 1: floors, the remainder handed out one by one from the first)."""
    total = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        counts = [int(math.floor(total * f)) for f in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0
           for x in lengths) or sum(lengths) != total:
        raise ValueError(f"random_split: lengths must be non-negative ints summing to the "
                         f"dataset's length {total} (or fractions summing to 1), got {lengths}")
    order = (generator or default_generator()).permutation(total).tolist()
    splits, start = [], 0
    for n in lengths:
        splits.append(Subset(dataset, order[start:start + n]))
        start += n
    return splits


class SequentialSampler:
    """Indices 0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler:
    """A random permutation of the indices (or ``num_samples`` draws with ``replacement``),
    new at every iteration, from minigrad's generator (or ``generator``)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        if num_samples is not None and (isinstance(num_samples, bool) or
                                        not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples expected a positive int, got "
                             f"{num_samples!r}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        rng = self.generator or default_generator()
        n = len(self.data_source)
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        rounds = -(-self.num_samples // n) if n else 0
        order = np.concatenate([rng.permutation(n) for _ in range(rounds)] or [[]])
        return iter(order[:self.num_samples].astype(np.int64).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler:
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size expected a positive int, got "
                             f"{batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, bool(drop_last)

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def default_collate(batch):
    """Merge a list of samples into a batch (see the module docstring)."""
    first = batch[0]
    if isinstance(first, Tensor):
        return sh.stack(list(batch), dim=0)
    if isinstance(first, np.ndarray) and first.dtype.kind in "biuf":
        return Tensor._wrap(np.stack(batch))
    if isinstance(first, (bool, np.bool_)):
        return Tensor._wrap(np.array(batch, dtype=np.bool_))
    if isinstance(first, (int, np.integer)):
        return Tensor._wrap(np.array(batch, dtype=np.int64))
    if isinstance(first, (float, np.floating)):
        return Tensor._wrap(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
        return type(first)(*(default_collate(list(f)) for f in zip(*batch, strict=True)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(sample) != len(first) for sample in batch):
            raise ValueError("default_collate: every sample in a batch must have the same "
                             "number of fields")
        return [default_collate(list(field)) for field in zip(*batch, strict=True)]
    raise TypeError(f"default_collate: cannot batch a {type(first).__name__}; expected tensors, "
                    "numpy arrays, numbers, strings, or dicts / tuples / lists of them")


class DataLoader:
    """Batches of a dataset: ``for inputs, targets in DataLoader(dataset, batch_size=32,
    shuffle=True)``. ``batch_size=None`` yields the samples one by one, uncollated."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, generator=None, **unused):
        who = "DataLoader"
        if sampler is not None and shuffle:
            raise ValueError(f"{who}: sampler is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError(f"{who}: batch_sampler is mutually exclusive with batch_size, "
                             "shuffle, sampler and drop_last")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"{who}: num_workers expected an int >= 0, got {num_workers!r}")
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None
                                         else (lambda sample: sample))

    def __iter__(self):
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        for indices in self.batch_sampler:
            yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self):
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
