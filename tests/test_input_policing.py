"""Data a tensor cannot hold (complex, object, string, ...) is refused at every entry point with
a TypeError naming the dtype and what is supported, and nothing is changed."""

import numpy as np
import pytest

import minigrad as mg

BAD_ARRAYS = [np.array([1 + 2j, 3.0]), np.array([None, 1.0]), np.array(["a", "b"]),
              np.array([b"x"]), np.array(["2020-01-01"], dtype="datetime64[D]"),
              np.zeros(2, dtype=[("a", "f4")])]
SUPPORTED = r"not supported|float32, float64, integer and bool"


@pytest.mark.parametrize("bad", BAD_ARRAYS, ids=lambda a: str(a.dtype))
def test_tensor_from_numpy_and_as_tensor_refuse(bad):
    for make in (mg.tensor, mg.from_numpy, mg.as_tensor):
        with pytest.raises(TypeError, match=SUPPORTED) as err:
            make(bad)
        assert str(bad.dtype) in str(err.value)


@pytest.mark.parametrize("bad", BAD_ARRAYS, ids=lambda a: str(a.dtype))
def test_an_op_meeting_such_an_array_refuses(bad):
    x = mg.tensor([1.0, 2.0])
    for op in (lambda: x * bad, lambda: bad + x, lambda: mg.maximum(x, bad),
               lambda: mg.where(mg.tensor([True, False]), x, bad)):
        with pytest.raises(TypeError, match=SUPPORTED):
            op()


def test_python_lists_and_scalars_of_unsupported_kinds():
    with pytest.raises(TypeError, match="complex"):
        mg.tensor([1 + 1j])
    with pytest.raises(TypeError, match="complex"):
        mg.tensor([1.0, 2.0]) * 1j
    with pytest.raises(TypeError, match="<U"):
        mg.tensor(["1.5"])
    with pytest.raises(TypeError, match="object"):
        mg.tensor([None, 1.0])
    with pytest.raises(ValueError, match="rectangular"):
        mg.tensor([[1.0], [1.0, 2.0]])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, str, "datetime64[s]"])
def test_dtype_arguments_refuse(dtype):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    for call in (lambda: mg.tensor([1.0], dtype=dtype), lambda: mg.zeros(2, dtype=dtype),
                 lambda: x.to(dtype), lambda: x.type(dtype), lambda: mg.as_tensor(
                     np.ones(2), dtype=dtype)):
        with pytest.raises(TypeError, match="not supported"):
            call()


def test_in_place_ops_refuse_and_leave_the_tensor_alone():
    t = mg.tensor([1.0, 2.0])
    for edit in (lambda: t.add_(np.array([1j, 1.0])), lambda: t.__iadd__(1j),
                 lambda: t.__setitem__(0, np.array(None)), lambda: t.fill_("x"),
                 lambda: t.copy_(np.array(["a", "b"]))):
        with pytest.raises(TypeError):
            edit()
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    assert t._version == 0


def test_supported_kinds_still_work():
    assert mg.tensor(np.arange(3, dtype=np.uint8)).dtype == np.uint8
    assert mg.tensor(np.ones(2, np.float16)).dtype == np.float32
    assert (mg.tensor([1.0, 2.0]) * np.array([2, 3], np.int32)).tolist() == [2.0, 6.0]
    assert mg.tensor([True, False]).dtype == np.bool_
