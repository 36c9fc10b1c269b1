"""minigrad.data (torch.utils.data in models.torch): datasets, samplers, DataLoader and
default_collate, as PyTorch documents them, torch-free and against PyTorch."""

from collections import namedtuple

import numpy as np
import pytest

import minigrad as mg
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


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": mg.tensor([float(i), float(i * i)]), "y": i, "name": f"n{i}"}


def test_tensor_dataset_and_sequential_batches():
    data = TensorDataset(mg.arange(10).reshape(5, 2), mg.tensor([0, 1, 0, 1, 1]))
    assert len(data) == 5 and [t.tolist() for t in data[1]] == [[2, 3], 1]
    loader = DataLoader(data, batch_size=2)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    xs, ys = batches[0]
    assert xs.shape == (2, 2) and ys.tolist() == [0, 1]
    assert batches[-1][0].shape == (1, 2)
    assert len(DataLoader(data, batch_size=2, drop_last=True)) == 2
    with pytest.raises(ValueError, match="first sizes differ"):
        TensorDataset(mg.zeros(3), mg.zeros(4))


def test_shuffling_covers_everything_and_repeats_under_a_seed():
    data = TensorDataset(mg.arange(20))
    mg.manual_seed(0)
    first = [int(x) for (batch,) in DataLoader(data, batch_size=6, shuffle=True)
             for x in batch.tolist()]
    mg.manual_seed(0)
    again = [int(x) for (batch,) in DataLoader(data, batch_size=6, shuffle=True)
             for x in batch.tolist()]
    assert sorted(first) == list(range(20)) and first == again and first != list(range(20))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(data, sampler=SequentialSampler(data), shuffle=True)


def test_default_collate_by_kind():
    batch = default_collate([Squares(4)[i] for i in (1, 3)])
    assert batch["x"].tolist() == [[1.0, 1.0], [3.0, 9.0]]
    assert batch["y"].tolist() == [1, 3] and batch["y"].dtype == np.int64
    assert batch["name"] == ["n1", "n3"]
    assert default_collate([0.5, 1.5]).dtype == np.float64
    assert default_collate([np.ones(2), np.zeros(2)]).shape == (2, 2)
    pair = namedtuple("Pair", "a b")
    out = default_collate([pair(1, mg.zeros(2)), pair(2, mg.ones(2))])
    assert isinstance(out, pair) and out.a.tolist() == [1, 2] and out.b.shape == (2, 2)
    assert [t.tolist() for t in default_collate([(1, 2.0), (3, 4.0)])] == [[1, 3], [2.0, 4.0]]
    with pytest.raises(TypeError, match="cannot batch a object"):
        default_collate([object()])


def test_collate_keeps_gradients():
    w = mg.ones(3, requires_grad=True)
    batch = default_collate([w * 2, w * 3])
    batch.sum().backward()
    assert w.grad.tolist() == [5.0, 5.0, 5.0]


def test_samplers_subsets_and_random_split():
    assert list(BatchSampler(SequentialSampler(range(5)), 2, False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(range(5), 2, True)) == 2
    mg.manual_seed(1)
    draws = list(RandomSampler(range(4), replacement=True, num_samples=9))
    assert len(draws) == 9 and all(0 <= d < 4 for d in draws)
    more = list(RandomSampler(range(3), num_samples=5))  # whole permutations, then a part
    assert len(more) == 5 and sorted(more[:3]) == [0, 1, 2] and len(set(more[3:])) == 2
    train, valid = random_split(range(10), [7, 3])
    assert len(train) == 7 and len(valid) == 3
    assert sorted(list(train) + list(valid)) == list(range(10))
    parts = random_split(range(10), [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    assert [len(p) for p in random_split(range(7), [0.5, 0.5])] == [4, 3]
    assert Subset(Squares(5), [4, 2])[0]["y"] == 4
    with pytest.raises(ValueError, match="summing to the dataset's length 10"):
        random_split(range(10), [5, 4])
    with pytest.raises(ValueError, match="batch_size expected a positive int"):
        DataLoader(range(3), batch_size=0)


def test_batch_size_none_yields_samples():
    loader = DataLoader(Squares(3), batch_size=None)
    assert [s["y"] for s in loader] == [0, 1, 2] and len(loader) == 3


def test_the_namespace_path():
    import models.torch as torch
    from models.torch.utils.data import DataLoader as Loader

    assert torch.utils.data.DataLoader is Loader is DataLoader


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    x, y = np.arange(14.0).reshape(7, 2), np.array([1, 0, 1, 1, 0, 0, 1])
    theirs = list(torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=3))
    ours = list(DataLoader(TensorDataset(mg.tensor(x), mg.tensor(y)), batch_size=3))
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        assert b.tolist() == d.tolist()
    samples = [{"v": 1, "w": 2.5, "s": "a", "t": (1, 2)}, {"v": 3, "w": 0.5, "s": "b",
                                                          "t": (3, 4)}]
    t_batch = torch.utils.data.default_collate(samples)
    m_batch = default_collate(samples)
    assert m_batch["v"].tolist() == t_batch["v"].tolist() and m_batch["s"] == t_batch["s"]
    assert str(m_batch["w"].dtype) == str(t_batch["w"].dtype).split(".")[-1]
    assert [t.tolist() for t in m_batch["t"]] == [t.tolist() for t in t_batch["t"]]
    assert [len(s) for s in torch.utils.data.random_split(range(7), [0.5, 0.5])] == [
        len(s) for s in random_split(range(7), [0.5, 0.5])]
