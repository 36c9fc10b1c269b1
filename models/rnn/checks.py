"""Small named checks for the recurrent layers' inputs; every message says who complained, what
was expected and what came ("LSTM: h0 expected shape (2, 3, 20), got (1, 3, 20)")."""

import numpy as np

import minigrad as mg


def shape_str(shape):
    """``(T, B, 10)`` for a tuple that may mix names and sizes."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def expect_shape(who, what, got, expected):
    """Raise unless ``got`` equals ``expected``; ``expected`` may hold names (``"T"``) that
    match any size."""
    got = tuple(got)
    ok = len(got) == len(expected) and all(
        isinstance(e, str) or int(e) == int(g) for g, e in zip(got, expected, strict=False))
    if not ok:
        raise ValueError(f"{who}: {what} expected shape {shape_str(expected)}, got "
                         f"{shape_str(got)}")


def expect_tensor(who, what, value):
    if not isinstance(value, mg.Tensor):
        raise TypeError(f"{who}: {what} expected a minigrad Tensor, got {type(value).__name__}")
    return value


def expect_dtype(who, what, tensor, dtype):
    if tensor.dtype != dtype:
        raise ValueError(f"{who}: {what} expected dtype {np.dtype(dtype)} (the parameters' "
                         f"dtype), got {tensor.dtype} with shape {shape_str(tensor.shape)}")


def check_sequence(who, x, input_size, batch_first, dtype, keep_batch_first=False):
    """Validate a layer's input. x: (T, B, I), (B, T, I) with ``batch_first``, or unbatched
    (T, I). Returns ``(x as (T, B, I), batched)``; with ``keep_batch_first`` a batch-first x
    comes back as it is, (B, T, I) (for a consumer that reads that layout itself)."""
    expect_tensor(who, "input", x)
    if x.ndim == 3:
        names = ("B", "T", input_size) if batch_first else ("T", "B", input_size)
        expect_shape(who, "input", x.shape, names)
        batched = True
    elif x.ndim == 2:
        expect_shape(who, "input (unbatched)", x.shape, ("T", input_size))
        batched = False
    else:
        names = "(B, T, {0}) or (T, {0})" if batch_first else "(T, B, {0}) or (T, {0})"
        raise ValueError(f"{who}: input expected shape {names.format(input_size)}, got "
                         f"{shape_str(x.shape)} ({x.ndim}-D)")
    expect_dtype(who, "input", x, dtype)
    if x.shape[0] == 0 or (batched and x.shape[1] == 0):
        raise ValueError(f"{who}: input expected at least one time step and one sequence, got "
                         f"shape {shape_str(x.shape)}")
    if not batched:
        x = mg.unsqueeze(x, 1)
    elif batch_first and not keep_batch_first:
        x = mg.transpose(x, 0, 1)
    return x, batched


def check_state(who, what, state, expected, dtype):
    """Validate an initial state of shape ``expected`` (a tuple of ints)."""
    expect_tensor(who, what, state)
    expect_shape(who, what, state.shape, expected)
    expect_dtype(who, what, state, dtype)
    return state


def check_lengths(who, lengths, steps, batch):
    """``lengths`` (list, numpy or Tensor of B ints, each in [1, T]) as an int64 numpy array."""
    raw = lengths.numpy() if isinstance(lengths, mg.Tensor) else lengths
    arr = np.asarray(raw)
    if arr.ndim == 0 and batch == 1:
        arr = arr.reshape(1)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{who}: lengths expected integers, got dtype {arr.dtype}")
    expect_shape(who, "lengths", arr.shape, (batch,))
    arr = arr.astype(np.int64)
    if arr.min() < 1 or arr.max() > steps:
        raise ValueError(f"{who}: lengths expected values in [1, {steps}] (the input has "
                         f"{steps} steps), got min {arr.min()} and max {arr.max()}")
    return arr


def check_probability(who, what, p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{who}: {what} expected a probability in [0, 1], got {p!r}")
    return float(p)


def check_size(who, what, n, minimum=1):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{who}: {what} expected an int >= {minimum}, got {n!r}")
    return int(n)
