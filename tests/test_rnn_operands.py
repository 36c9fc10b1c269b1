"""The weights' derived forms kept from call to call (``models.rnn.kernels.operands``) and the
choice of kernel family (``models.rnn.kernels.family``, ``MINIGRAD_RNN_KERNELS``).

A kept operand must be used only while it still equals what the parameter would give now:
checked by comparing a layer's outputs with those of a fresh copy of it after every way a
parameter changes (in-place edits that bump ``_version``, ``load_state_dict``, a new tensor
assigned to ``.data``, in-place edits through ``.data`` that bump only its own counter), and
by counting how often the operands are made."""

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import models
from models.rnn.kernels import family, operands, packed

KINDS = [models.LSTM, models.GRU, models.RNN]


@pytest.fixture(params=family.supported())
def kernels(request):
    with family.using(request.param) as chosen:
        yield chosen


@pytest.fixture
def made(monkeypatch):
    """Counts the operands made (packed or copied) instead of taken from the cache."""
    count = []
    get = operands.get

    def counting(k, form, array, make):
        def counted():
            count.append(form)
            return make()
        return get(k, form, array, counted)

    monkeypatch.setattr(operands, "get", counting)
    return count


def _outputs(layer, x):
    with mg.no_grad():
        y, _ = layer(mg.tensor(x))
    return y.numpy()


def _fresh_copy(layer, cls):
    other = cls(layer.input_size, layer.hidden_size, batch_first=True)
    other.load_state_dict({k: p.numpy().copy() for k, p in layer.named_parameters()})
    return other


@pytest.mark.parametrize("cls", KINDS)
def test_operands_are_made_once_per_parameter_version(kernels, made, cls):
    """Forward and backward of a second call reuse what the first made; an in-place edit
    (``_version`` bumped) makes them again, and the outputs follow the new weights."""
    layer = cls(5, 12, batch_first=True)
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    for _ in range(2):
        xt = mg.tensor(x, requires_grad=True)
        y, _ = layer(xt)
        y.sum().backward()
    first = len(made)
    assert first > 0
    for _ in range(3):
        _outputs(layer, x)
        xt = mg.tensor(x, requires_grad=True)
        y, _ = layer(xt)
        y.sum().backward()
    assert len(made) == first  # nothing made again
    w = layer.weight_hh_l0
    w.numpy()[...] *= 0.5  # a write the version counter does not see ...
    w._bump_version()  # ... unless recorded, as every in-place Tensor op does
    np.testing.assert_array_equal(_outputs(layer, x), _outputs(_fresh_copy(layer, cls), x))
    assert len(made) > first


@pytest.mark.parametrize("cls", KINDS)
def test_load_state_dict_and_new_arrays_are_seen(kernels, cls):
    """``load_state_dict`` bumps the versions of what it writes; a new tensor assigned to
    ``.data`` is another array: either way the next call uses the new weights."""
    rng = np.random.default_rng(1)
    layer = cls(4, 9, batch_first=True)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    _outputs(layer, x)
    state = {k: rng.standard_normal(p.shape).astype(np.float32)
             for k, p in layer.named_parameters()}
    versions = [p._version for p in layer.parameters()]
    layer.load_state_dict(state)
    assert all(p._version == v + 1 for p, v in zip(layer.parameters(), versions, strict=True))
    np.testing.assert_array_equal(_outputs(layer, x), _outputs(_fresh_copy(layer, cls), x))
    layer.weight_ih_l0.data = mg.tensor(
        rng.standard_normal(layer.weight_ih_l0.shape).astype(np.float32))
    np.testing.assert_array_equal(_outputs(layer, x), _outputs(_fresh_copy(layer, cls), x))


@pytest.mark.parametrize("cls", KINDS)
def test_updates_through_data_are_seen(kernels, cls):
    """``p.data.add_(p.grad, alpha=-lr)`` (PyTorch's manual SGD step) edits the parameter's
    memory through a tensor with a version counter of its own: the parameter's ``_version``
    stays, yet the kept operands' bytes differ, so the fused layer uses the new weights."""
    rng = np.random.default_rng(3)
    layer = cls(4, 8, batch_first=True)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    y, _ = layer(mg.tensor(x))
    y.sum().backward()
    before = _outputs(layer, x)
    versions = [p._version for p in layer.parameters()]
    for p in layer.parameters():
        p.data.add_(p.grad, alpha=-0.5)
    assert [p._version for p in layer.parameters()] == versions
    after = _outputs(layer, x)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, _outputs(_fresh_copy(layer, cls), x))


def test_direct_writes_are_caught(kernels):
    """A write straight into ``.numpy()`` (as ``mg.gradcheck`` perturbs its inputs) leaves the
    version as it was; the kept copy's bytes differ, so the forms are made again."""
    layer = models.LSTM(3, 8, batch_first=True)
    x = np.random.default_rng(2).standard_normal((2, 3, 3)).astype(np.float32)
    _outputs(layer, x)
    version = layer.weight_hh_l0._version
    layer.weight_hh_l0.numpy()[3, 1] += 0.25
    assert layer.weight_hh_l0._version == version
    np.testing.assert_array_equal(_outputs(layer, x),
                                  _outputs(_fresh_copy(layer, models.LSTM), x))
    layer.weight_ih_l0.numpy()[0, 0] = np.nan
    np.testing.assert_array_equal(_outputs(layer, x),
                                  _outputs(_fresh_copy(layer, models.LSTM), x))


def test_same_words():
    a = np.arange(3000, dtype=np.uint32)
    for i in (0, 1023, 1024, 2999):
        b = a.copy()
        assert operands.same_words(a, b)
        b[i] ^= 1 << 31
        assert not operands.same_words(a, b)


def test_entries_go_with_their_parameters():
    layer = models.GRU(3, 8, batch_first=True)
    _outputs(layer, np.ones((1, 2, 3), np.float32))
    ids = {id(p) for p in layer.parameters()}
    assert ids & set(operands._ENTRIES)
    del layer
    gc.collect()
    assert not ids & set(operands._ENTRIES)


def test_the_environment_variable_chooses_the_family():
    """``MINIGRAD_RNN_KERNELS`` is read at import: each supported family by name, ``auto``
    the default, a bad name refused with the variable named."""
    code = "from models.rnn.kernels import family; print(family.active().name)"
    env = dict(os.environ)
    for name in [*family.supported(), "auto"]:
        env[family.ENV] = name
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == (family.supported()[0] if name == "auto" else name)
    env[family.ENV] = "avx9000"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and family.ENV in run.stderr


def test_geometry_of_each_family():
    """Vector widths and blocks: AVX-512 16 float32 per vector, 8 x 3; AVX2 8, 4 x 3;
    128-bit 4, 8 x 3; the packed panels are P V columns wide."""
    f = family.FAMILIES
    assert (f["avx512"].vector_width(np.float32), f["avx512"].rows,
            f["avx512"].panel_vectors) == (16, 8, 3)
    assert (f["avx2"].vector_width(np.float32), f["avx2"].rows,
            f["avx2"].panel_vectors) == (8, 4, 3)
    assert f["avx2"].vector_width(np.float64) == 4 and f["neon"].vector_width(np.float32) == 4
    assert f["blas"].padded_cols(13, np.float32) == 13
    for name in family.supported():
        fam = f[name]
        if fam.packed:
            w = np.ones((2, 3 * fam.vector_width(np.float32) + 1), np.float32)
            assert packed.pack(w, fam).size == 2 * fam.padded_cols(w.shape[1], np.float32)


def test_pooled_outputs_are_reused_only_when_nothing_holds_them():
    """``launch.pooled_empty``: a buffer comes back only once no array, view or Tensor refers
    to it; what a layer returned (and its graph saved) is never written by the next call."""
    from models.rnn.kernels import launch

    launch.release_scratch()
    a = launch.pooled_empty((5, 7), np.float32)
    assert a.ctypes.data % 64 == 0
    view = a[1:3]
    del a
    b = launch.pooled_empty((5, 7), np.float32)
    assert not np.shares_memory(b, view)
    del view, b
    c = launch.pooled_empty((5, 7), np.float32)
    d = launch.pooled_empty((5, 7), np.float32)
    assert not np.shares_memory(c, d)
    layer = models.GRU(3, 5, batch_first=True)
    x = mg.tensor(np.ones((2, 4, 3), np.float32), requires_grad=True)
    first, _ = layer(x)
    kept = first.numpy().copy()
    second, _ = layer(mg.tensor(np.full((2, 4, 3), 2.0, np.float32), requires_grad=True))
    np.testing.assert_array_equal(first.numpy(), kept)
    first.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    launch.release_scratch()
