"""mg.save / mg.load: .npz without pickle, round trips of state dicts, atomic writes."""

import os

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def test_round_trip_of_a_state_dict(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2, dtype=mg.float64))
    path = tmp_path / "model.npz"
    mg.save(model.state_dict(), path)
    loaded = mg.load(path)
    assert list(loaded) == list(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded[k], v)
        assert loaded[k].dtype == v.dtype
    other = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2, dtype=mg.float64))
    other.load_state_dict(loaded)
    x = mg.randn(5, 3)
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


def test_tensors_numbers_and_any_file_name(tmp_path):
    path = str(tmp_path / "weights.bin")  # no .npz suffix is added
    mg.save({"w": mg.tensor([1.0, 2.0]), "step": 3, "mask": np.array([True, False])}, path)
    assert os.listdir(tmp_path) == ["weights.bin"]
    loaded = mg.load(path)
    np.testing.assert_array_equal(loaded["w"], [1.0, 2.0])
    assert loaded["step"] == 3 and loaded["mask"].dtype == np.bool_


def test_bad_contents_are_refused_before_writing(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match=r"the key 1\.5 \(float\) is not a str or an int"):
        mg.save({1.5: np.ones(2)}, path)
    with pytest.raises(TypeError, match="dtype object is not numbers"):
        mg.save({"a": np.array([object()])}, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        mg.load(path)["a"]


def test_an_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mg.save({"w": np.arange(3.0)}, path)

    def crash(*args, **kwargs):
        args[0].write(b"partial garbage")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(mg.load(path)["w"], np.arange(3.0))
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind


def test_save_overwrites_atomically(tmp_path):
    path = tmp_path / "ckpt.npz"
    mg.save({"w": np.ones(2)}, path)
    mg.save({"w": np.zeros(2), "b": np.ones(1)}, path)
    loaded = mg.load(path)
    assert sorted(loaded) == ["b", "w"] and not loaded["w"].any()


def test_saved_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "ckpt.npz"
    mg.save({"w": np.ones(2)}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
