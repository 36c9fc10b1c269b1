"""mg.save / mg.load of whole checkpoints: nested trees, the old flat files, refusals, errors
that name the file, map_location and file objects."""

import collections
import io
import os
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class _HoldsAFunction(nn.Module):
    """A module whose constructor argument is not data."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn


def _local_module():
    class Local(nn.Module):
        pass
    return Local()


def _checkpoint():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    optimizer = {  # PyTorch's shape of an optimizer state dict: int keys in "state"
        "state": {0: {"step": 3, "exp_avg": np.arange(12.0).reshape(4, 3)},
                  1: {"step": 3, "exp_avg": np.zeros(4, np.float32)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0, 1],
                          "amsgrad": False, "foreach": None}],
    }
    return model, {"model": model.state_dict(), "optimizer": optimizer, "epoch": 3,
                   "losses": [1.5, 1.2], "w": mg.tensor([[1.0, 2.0]], dtype=mg.float64),
                   "ids": mg.tensor([4, 5]), "mask": np.array([True, False])}


def _same(a, b):
    """Equal trees, with the same container types, leaf types, dtypes and values."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, (mg.Tensor, np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        if isinstance(a, mg.Tensor):
            assert a.requires_grad == b.requires_grad
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_a_nested_checkpoint_round_trips(tmp_path):
    model, ckpt = _checkpoint()
    mg.save(ckpt, tmp_path / "ckpt.npz")
    loaded = mg.load(tmp_path / "ckpt.npz")
    _same(loaded, ckpt)
    assert list(loaded["optimizer"]["state"]) == [0, 1]  # int keys stay ints
    assert isinstance(loaded["optimizer"]["param_groups"][0]["betas"], tuple)
    assert isinstance(loaded["model"], collections.OrderedDict)
    other = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    other.load_state_dict(loaded["model"])
    x = mg.randn(2, 3)
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


def test_leaves_come_back_with_their_types(tmp_path):
    ckpt = {"t": mg.tensor([1.0, 2.0], requires_grad=True), "p": nn.Parameter(np.ones(2)),
            "frozen": nn.Parameter(np.ones(1), requires_grad=False),
            "f32": np.float32(2.5), "i64": np.int64(-7), "big": 2 ** 70, "neg0": -0.0,
            "specials": [float("nan"), float("inf"), -float("inf")], "none": None,
            "flag": True, "empty": {}, "nothing": [], "pair": (1, "x" == "y"),
            "c": np.array([1 + 2j]), "scalar0d": mg.tensor(3.0)}
    mg.save(ckpt, tmp_path / "leaves.npz")
    loaded = mg.load(tmp_path / "leaves.npz")
    _same(loaded, ckpt)
    assert isinstance(loaded["p"], nn.Parameter) and loaded["p"].requires_grad
    assert isinstance(loaded["frozen"], nn.Parameter) and not loaded["frozen"].requires_grad
    assert type(loaded["t"]) is mg.Tensor and loaded["t"].is_leaf
    assert type(loaded["big"]) is int and np.copysign(1.0, loaded["neg0"]) == -1.0
    assert type(loaded["flag"]) is bool and type(loaded["pair"][1]) is bool


def test_a_bare_tensor_or_list_can_be_saved(tmp_path):
    mg.save(mg.tensor([1.0, 2.0]), tmp_path / "t.npz")
    _same(mg.load(tmp_path / "t.npz"), mg.tensor([1.0, 2.0]))
    mg.save([np.ones(2), 3], tmp_path / "l.npz")
    _same(mg.load(tmp_path / "l.npz"), [np.ones(2), 3])


def test_numpy_reads_the_arrays_by_their_place_in_the_tree(tmp_path):
    model, ckpt = _checkpoint()
    mg.save(ckpt, tmp_path / "ckpt.npz")
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["model/0.weight"], model.state_dict()["0.weight"])
        np.testing.assert_array_equal(npz["optimizer/state/0/exp_avg"],
                                      np.arange(12.0).reshape(4, 3))


def test_clashing_names_and_numpy_reserved_words_get_their_own_members(tmp_path):
    ckpt = {"a/b": np.ones(1), "a": {"b": np.zeros(1)}, "file": np.full(1, 2.0),
            "allow_pickle": np.full(1, 3.0), 0: np.full(1, 4.0), "0": np.full(1, 5.0)}
    mg.save(ckpt, tmp_path / "c.npz")
    _same(mg.load(tmp_path / "c.npz"), ckpt)


def test_a_flat_file_written_by_the_old_save_still_loads(tmp_path):
    # What the old mg.save wrote: np.savez of the dict name -> array, nothing else.
    model = nn.Linear(3, 2)
    np.savez(tmp_path / "old.npz", **model.state_dict())
    loaded = mg.load(tmp_path / "old.npz")
    assert list(loaded) == ["weight", "bias"]
    assert all(type(v) is np.ndarray for v in loaded.values())  # as the old load returned
    other = nn.Linear(3, 2)
    other.load_state_dict(loaded)
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())


@pytest.mark.parametrize("bad, message", [
    ({"w": "hello"}, r"checkpoint\['w'\] .*a str \('hello'\) is not a number"),
    ({"w": np.array(["hello"])}, r"checkpoint\['w'\] .*dtype <U5 is not numbers"),
    ({"w": np.array([1, None], dtype=object)}, r"dtype object is not numbers"),
    ({"w": [1, b"raw"]}, r"checkpoint\['w'\]\[1\] .*a bytes"),
    ({"model": _HoldsAFunction(print)},
     r"checkpoint\['model'\]\['args'\]\[0\] .*builtin_function_or_method constructor "
     r"argument is not data.*state_dict\(\)"),
    ({"opt": mg.optim.SGD([nn.Parameter(np.ones(1))], lr=0.1)},
     r"SGD object is not data .*state_dict\(\)"),
    (_local_module(), r"cannot save checkpoint to .*defined inside a function.*state_dict"),
    ({"f": lambda: 0}, r"a function object is not data"),
    ({"s": {1, 2}}, r"a set object is not data"),
    ({(1, 2): 1.0}, r"the key \(1, 2\) \(tuple\) is not a str or an int"),
    ({True: 1.0}, r"the key True \(bool\)"),
    ({"x": np.zeros(2, dtype=[("a", "f4")])}, r"is not numbers"),
])
def test_what_is_not_data_is_refused_before_anything_is_written(tmp_path, bad, message):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match=message) as info:
        mg.save(bad, path)
    assert str(path) in str(info.value)
    assert os.listdir(tmp_path) == []


def test_a_tree_that_contains_itself_is_refused(tmp_path):
    loop = {"a": [1.0]}
    loop["a"].append(loop)
    with pytest.raises(TypeError, match=r"checkpoint\['a'\]\[1\].*contains itself"):
        mg.save(loop, tmp_path / "x.npz")
    shared = [1.0]
    mg.save({"a": shared, "b": shared}, tmp_path / "y.npz")  # shared, not circular: fine
    assert mg.load(tmp_path / "y.npz") == {"a": [1.0], "b": [1.0]}


def test_a_failed_save_keeps_the_old_file_and_names_the_target(tmp_path):
    path = tmp_path / "ckpt.npz"
    mg.save({"w": np.arange(3.0)}, path)
    with pytest.raises(TypeError):
        mg.save({"w": np.zeros(3), "bad": "text"}, path)
    np.testing.assert_array_equal(mg.load(path)["w"], np.arange(3.0))
    missing = tmp_path / "no" / "such" / "folder" / "ckpt.npz"
    with pytest.raises(FileNotFoundError) as info:
        mg.save({"w": np.ones(1)}, missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        mg.save({"w": np.ones(1)}, tmp_path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_a_full_disk_names_the_target_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno

    def full(fh, **members):
        fh.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(fh.name))
    monkeypatch.setattr(np, "savez", full)
    path = tmp_path / "ckpt.npz"
    with pytest.raises(OSError) as info:
        mg.save({"w": np.ones(3)}, path)
    assert info.value.errno == errno.ENOSPC
    assert str(path) in str(info.value) and "No space left" in str(info.value)
    assert ".tmp" not in str(info.value) and os.listdir(tmp_path) == []


def _load_error(path, exc=ValueError):
    with pytest.raises(exc) as info:
        mg.load(path)
    assert str(path) in str(info.value), str(info.value)
    return str(info.value)


def test_files_that_are_not_checkpoints_raise_value_errors_naming_them(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "random.bin").write_bytes(rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())
    assert "expected an .npz (zip) archive" in _load_error(tmp_path / "random.bin")
    (tmp_path / "empty.npz").write_bytes(b"")
    assert "is empty" in _load_error(tmp_path / "empty.npz")
    np.save(tmp_path / "one.npy", np.ones(3))
    assert "single .npy array" in _load_error(tmp_path / "one.npy")
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.")
    assert "pickle" in _load_error(tmp_path / "pickle.pt")
    assert "no such file" in _load_error(tmp_path / "missing.npz", FileNotFoundError)


def test_truncated_and_damaged_archives_raise_value_errors_naming_them(tmp_path):
    _, ckpt = _checkpoint()
    mg.save(ckpt, tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    for n in (10, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:n])
        assert "damaged or truncated" in _load_error(tmp_path / "cut.npz")
    member = data.index(b"\x93NUMPY", data.index(b"model/0.weight"))
    flipped = bytearray(data)
    flipped[member + 130] ^= 0xFF  # inside the first weight's values: the CRC catches it
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    assert "damaged" in _load_error(tmp_path / "flipped.npz")


def test_a_damaged_manifest_and_foreign_zips_are_named(tmp_path):
    np.savez(tmp_path / "m.npz", __minigrad__=np.frombuffer(b"{not json", dtype=np.uint8))
    assert "damaged manifest" in _load_error(tmp_path / "m.npz")
    manifest = b'{"format":"minigrad-checkpoint","version":1,"tree":{"array":"gone"}}'
    np.savez(tmp_path / "g.npz", __minigrad__=np.frombuffer(manifest, dtype=np.uint8))
    assert "'gone' is missing" in _load_error(tmp_path / "g.npz")
    newer = manifest.replace(b'"version":1', b'"version":99')
    np.savez(tmp_path / "v.npz", __minigrad__=np.frombuffer(newer, dtype=np.uint8))
    assert "version 99" in _load_error(tmp_path / "v.npz")
    with zipfile.ZipFile(tmp_path / "torch_like.pt", "w") as z:  # torch.save's layout
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    assert "not a .npy array" in _load_error(tmp_path / "torch_like.pt")
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    assert "allow_pickle=False" in _load_error(tmp_path / "objects.npz")


class _Device:
    """Looks like torch.device for map_location (a ``type`` attribute)."""

    def __init__(self, kind):
        self.type = kind


@pytest.mark.parametrize("location", [None, "cpu", "CPU", "cpu:0", _Device("cpu")])
def test_map_location_accepts_the_cpu(tmp_path, location):
    mg.save({"w": mg.tensor([1.0])}, tmp_path / "c.npz")
    _same(mg.load(tmp_path / "c.npz", map_location=location), {"w": mg.tensor([1.0])})
    _same(mg.load(tmp_path / "c.npz", weights_only=True), {"w": mg.tensor([1.0])})


@pytest.mark.parametrize("location, exc, message", [
    ("cuda", ValueError, "CPU only"), ("cuda:1", ValueError, "CPU only"),
    ("mps", ValueError, "CPU only"), (_Device("cuda"), ValueError, "CPU only"),
    ({"cuda:0": "cpu"}, TypeError, "map_location must be"), (0, TypeError, "got int 0"),
])
def test_map_location_refuses_other_devices_before_reading(tmp_path, location, exc, message):
    with pytest.raises(exc, match=message):
        mg.load(tmp_path / "does_not_matter.npz", map_location=location)


def test_weights_only_is_accepted_and_ignored(tmp_path):
    mg.save({"w": np.ones(2)}, tmp_path / "c.npz")
    for flag in (True, False, None):  # nothing is ever unpickled either way
        _same(mg.load(tmp_path / "c.npz", weights_only=flag), {"w": np.ones(2)})
    with pytest.raises(TypeError, match="weights_only must be a bool"):
        mg.load(tmp_path / "c.npz", weights_only="yes")


def test_file_objects(tmp_path):
    _, ckpt = _checkpoint()
    buffer = io.BytesIO()
    mg.save(ckpt, buffer)
    buffer.seek(0)
    _same(mg.load(buffer), ckpt)
    with open(tmp_path / "f.npz", "wb") as fh:
        mg.save(ckpt, fh)
    with open(tmp_path / "f.npz", "rb") as fh:
        _same(mg.load(fh), ckpt)
    with pytest.raises(ValueError, match="is empty"):
        mg.load(io.BytesIO(b""))

    class Stream:  # read() only: no seek
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def read(self, n=-1):
            return self.inner.read(n)
    _same(mg.load(Stream(buffer.getvalue())), ckpt)
    with open(tmp_path / "junk", "wb") as fh:
        fh.write(b"junk!!")
    with open(tmp_path / "junk", "rb") as fh, pytest.raises(ValueError) as info:
        mg.load(fh)
    assert str(tmp_path / "junk") in str(info.value)
    with pytest.raises(TypeError, match="expected a path or a binary file object"):
        mg.save({}, 3.5)
    with open(tmp_path / "text", "w") as fh, pytest.raises(TypeError, match="text mode"):
        mg.save(ckpt, fh)
    with open(tmp_path / "f.npz") as fh, pytest.raises(TypeError, match="text mode.*'rb'"):
        mg.load(fh)


def test_torch_optimizer_state_dicts_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(2))]
    opt = torch.optim.Adam(params, lr=1e-2)
    (params[0].sum() + params[1].sum()).backward()
    opt.step()

    def to_numpy(x):
        if isinstance(x, torch.Tensor):
            return x.detach().numpy()
        if isinstance(x, dict):
            return {k: to_numpy(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(to_numpy(v) for v in x)
        return x
    state = to_numpy(opt.state_dict())
    mg.save({"optimizer": state}, tmp_path / "opt.npz")
    loaded = mg.load(tmp_path / "opt.npz", map_location=torch.device("cpu"))["optimizer"]
    _same(loaded, state)
    back = torch.optim.Adam([torch.nn.Parameter(p.detach().clone()) for p in params], lr=1.0)
    back.load_state_dict({"state": {k: {n: torch.as_tensor(v) for n, v in s.items()}
                                    for k, s in loaded["state"].items()},
                          "param_groups": loaded["param_groups"]})
    assert back.param_groups[0]["lr"] == 1e-2
    torch.testing.assert_close(back.state[back.param_groups[0]["params"][0]]["exp_avg"],
                               opt.state[params[0]]["exp_avg"])
    with pytest.raises(ValueError, match="CPU only"):
        mg.load(tmp_path / "opt.npz", map_location=torch.device("cuda", 0))


@pytest.mark.skipif(not hasattr(mg.optim.Optimizer, "state_dict"),
                    reason="optimizer state dicts are not in this tree yet")
def test_model_and_optimizer_state_dicts_resume_training_exactly(tmp_path):
    def make():
        model = nn.Linear(3, 2)
        return model, mg.optim.Adam(model.parameters(), lr=1e-2)
    model, opt = make()
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype=mg.float32)
    for _ in range(2):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2},
            tmp_path / "resume.npz")
    ckpt = mg.load(tmp_path / "resume.npz")
    assert sorted(ckpt["optimizer"]["state"]) == [0, 1]
    other, other_opt = make()
    other.load_state_dict(ckpt["model"])
    other_opt.load_state_dict(ckpt["optimizer"])
    for m, o in ((model, opt), (other, other_opt)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())
    with pytest.raises(TypeError, match="Adam object is not data"):
        mg.save({"optimizer": opt}, tmp_path / "bad.npz")
