"""``torch.utils.data``: ``minigrad.data``."""

from minigrad.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

__all__ = ["BatchSampler", "DataLoader", "Dataset", "RandomSampler", "SequentialSampler",
           "Subset", "TensorDataset", "default_collate", "random_split"]
