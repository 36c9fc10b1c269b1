"""Elementwise primitives: arithmetic, activations, comparisons-as-selection, casts.

Every binary op broadcasts like numpy and undoes it in backward with ``unbroadcast``.
Scalars never widen a tensor's dtype (see ``minigrad.dtypes``).
"""

import numbers

import numpy as np

from .. import dtypes
from ..kernels import elementwise as kern
from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor
from .broadcast import unbroadcast, unbroadcast_array
from .sym import sym_map, sym_number


def _pair(a, b):
    """Both operands as Tensors whose dtypes meet by the rule in ``minigrad.dtypes``: a Python
    (or numpy) scalar takes the tensor's dtype; an int/bool tensor meeting a float tensor is
    converted to the float dtype."""
    if isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = _scalar_like(b, a)
    elif isinstance(b, Tensor):
        a = _scalar_like(a, b)
    else:
        a, b = as_tensor(a), as_tensor(b)
    da, db = a._array.dtype, b._array.dtype
    if da is db or (da.kind == "f") == (db.kind == "f"):
        return a, b
    return _promote(a, b)


def _scalar_like(x, like):
    """``x`` (a number, list or array) as a Tensor to combine with the Tensor ``like``."""
    if type(x) is float:
        if x == 0.0 and like._array.dtype.kind == "f":
            # Not the shared constants of as_tensor: 0.0 and -0.0 are one key there.
            return Tensor._wrap(np.asarray(x, dtype=like._array.dtype))
        return as_tensor(x, like=like)
    if isinstance(x, np.generic) and x.ndim == 0:
        x = x.item()  # numpy scalars count as Python scalars: they never widen a tensor
    if isinstance(x, numbers.Integral) and not isinstance(x, bool) and like.dtype == np.bool_:
        return Tensor._wrap(np.asarray(x, dtype=np.int64))
    return as_tensor(x, like=like)


def _promote(a, b):
    """Convert the non-float one of a float and an int/bool tensor to the float dtype."""
    if a._array.dtype.kind == "f":
        return a, Tensor._wrap(b._array.astype(a._array.dtype))
    return Tensor._wrap(a._array.astype(b._array.dtype)), b


def _as_array(out):
    """numpy ufuncs return numpy scalars for 0-d inputs; a Tensor's data is always an ndarray."""
    return out if type(out) is np.ndarray else np.asarray(out)


def _unary(ufunc):
    def forward(x):
        out = ufunc(x)
        return out if type(out) is np.ndarray else np.asarray(out)
    forward.__name__ = f"_{ufunc.__name__}_forward"
    return forward


def _float_input(x):
    """``x`` as a Tensor; int and bool tensors become the default float dtype (as in PyTorch,
    ``exp`` of an int tensor is a float tensor)."""
    x = as_tensor(x)
    if x._array.dtype.kind != "f":
        return Tensor._wrap(x._array.astype(dtypes.get_default_dtype()))
    return x


def _binary(ufunc, name):
    def forward(a, b):
        try:
            out = ufunc(a, b)
        except ValueError:
            raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast "
                             "together") from None
        return out if type(out) is np.ndarray else np.asarray(out)
    return forward


def _flat(array, dtype):
    return np.ascontiguousarray(array, dtype=dtype).reshape(-1)


def _flat_pair(a, b):
    """``(dtype, a, b)``: a and b as flat C-contiguous arrays of one dtype, without copying when
    they already are (the common case in a backward pass)."""
    if a.dtype is b.dtype and a.flags.c_contiguous and b.flags.c_contiguous:
        return a.dtype, a.ravel(), b.ravel()
    dt = np.result_type(a, b)
    return dt, _flat(a, dt), _flat(b, dt)


def _const(array):
    return Tensor._wrap(array)


def _number(value, like):
    """A Python number as the 0-d array the Tensor rules combine with ``like`` (an array):
    what ``_scalar_like`` makes of it."""
    return np.asarray(value, dtype=like.dtype)


# First-order array rules (``Primitive.def_backward_arrays``) sit after each Tensor rule and
# call the same forward functions the Tensor rule's ops bind, so both give the same numbers.


# ---- add / sub / mul / div ---------------------------------------------------------------
add_p = Primitive("add", saves_inputs=())
add_p.def_forward(_binary(np.add, "add"))


@add_p.def_backward
def _add_backward(ctx, g):
    a, b = ctx.inputs
    return (unbroadcast(g, a.shape) if ctx.needs_input_grad[0] else None,
            unbroadcast(g, b.shape) if ctx.needs_input_grad[1] else None)


add_p.def_symbolic(np.add)


@add_p.def_backward_arrays
def _add_backward_arrays(ctx, g):
    a, b = ctx.inputs
    need = ctx.needs_input_grad
    return (unbroadcast_array(g, a._array.shape) if need[0] else None,
            unbroadcast_array(g, b._array.shape) if need[1] else None)


sub_p = Primitive("sub", saves_inputs=())
sub_p.def_forward(_binary(np.subtract, "sub"))


@sub_p.def_backward
def _sub_backward(ctx, g):
    a, b = ctx.inputs
    return (unbroadcast(g, a.shape) if ctx.needs_input_grad[0] else None,
            unbroadcast(neg(g), b.shape) if ctx.needs_input_grad[1] else None)


sub_p.def_symbolic(np.subtract)


@sub_p.def_backward_arrays
def _sub_backward_arrays(ctx, g):
    a, b = ctx.inputs
    need = ctx.needs_input_grad
    return (unbroadcast_array(g, a._array.shape) if need[0] else None,
            unbroadcast_array(_neg_forward(g), b._array.shape) if need[1] else None)


mul_p = Primitive("mul")
_mul_forward = mul_p.def_forward(_binary(np.multiply, "mul"))


@mul_p.def_backward
def _mul_backward(ctx, g):
    a, b = ctx.inputs
    return (unbroadcast(mul(g, b), a.shape) if ctx.needs_input_grad[0] else None,
            unbroadcast(mul(g, a), b.shape) if ctx.needs_input_grad[1] else None)


mul_p.def_symbolic(np.multiply)


@mul_p.def_backward_arrays
def _mul_backward_arrays(ctx, g):
    a, b = ctx.inputs
    a, b = a._array, b._array
    need = ctx.needs_input_grad
    return (unbroadcast_array(_mul_forward(g, b), a.shape) if need[0] else None,
            unbroadcast_array(_mul_forward(g, a), b.shape) if need[1] else None)


div_p = Primitive("div")
_div_forward = div_p.def_forward(_binary(np.divide, "div"))


@div_p.def_backward
def _div_backward(ctx, g):
    a, b = ctx.inputs
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast(div(g, b), a.shape)
    if ctx.needs_input_grad[1]:
        gb = unbroadcast(neg(div(mul(g, ctx.output()), b)), b.shape)
    return ga, gb


div_p.def_symbolic(np.divide)


@div_p.def_backward_arrays
def _div_backward_arrays(ctx, g):
    a, b = ctx.inputs
    a, b = a._array, b._array
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast_array(_div_forward(g, b), a.shape)
    if ctx.needs_input_grad[1]:
        gb = unbroadcast_array(
            _neg_forward(_div_forward(_mul_forward(g, ctx.output()._array), b)), b.shape)
    return ga, gb



def add(a, b):
    """a + b with broadcasting."""
    return bind(add_p, *_pair(a, b))


def sub(a, b):
    """a - b with broadcasting."""
    return bind(sub_p, *_pair(a, b))


def mul(a, b):
    """a * b with broadcasting."""
    return bind(mul_p, *_pair(a, b))


def div(a, b):
    """a / b with broadcasting (true division)."""
    return bind(div_p, *_pair(a, b))


# ---- powers --------------------------------------------------------------------------------
pow_scalar_p = Primitive("pow_scalar")


@pow_scalar_p.def_forward
def _pow_scalar_forward(x, exponent):
    return _as_array(np.power(x, np.asarray(exponent, dtype=x.dtype)))


@pow_scalar_p.def_backward
def _pow_scalar_backward(ctx, g):
    (x,), p = ctx.inputs, ctx.params["exponent"]
    if p == 0:
        return (mul(g, 0.0),)
    if p == 1:
        return (g,)
    if p == 2:
        return (mul(g, mul(x, 2.0)),)
    return (mul(g, mul(pow_scalar(x, p - 1), float(p))),)


@pow_scalar_p.def_backward_arrays
def _pow_scalar_backward_arrays(ctx, g):
    x, p = ctx.inputs[0]._array, ctx.params["exponent"]
    if x.dtype.kind != "f" or g.dtype is not x.dtype:
        return _pow_scalar_backward(ctx, Tensor._wrap(g))  # the Tensor rule's dtype rules
    if p == 0:
        return (_mul_forward(g, _number(0.0, g)),)
    if p == 1:
        return (g,)
    if p == 2:
        return (_mul_forward(g, _mul_forward(x, _number(2.0, x))),)
    powered = _pow_scalar_forward(x, exponent=float(p - 1))
    return (_mul_forward(g, _mul_forward(powered, _number(float(p), powered))),)


@pow_scalar_p.def_symbolic
def _pow_scalar_symbolic(x, exponent):
    p = sym_number(exponent)
    return sym_map(lambda v: v ** p, x)


def pow_scalar(x, exponent):
    """x ** exponent for a Python-number exponent (an int tensor with a fractional exponent
    becomes the default float dtype first)."""
    exponent = float(exponent)
    if x._array.dtype.kind != "f" and not exponent.is_integer():
        x = _float_input(x)
    return bind(pow_scalar_p, x, exponent=exponent)


pow_p = Primitive("pow")
pow_p.def_forward(_binary(np.power, "pow"))


@pow_p.def_backward
def _pow_backward(ctx, g):
    a, b = ctx.inputs
    ga = gb = None
    if ctx.needs_input_grad[0]:
        # d/da a**0 = 0, also at a = 0 where b a**(b-1) = 0 * 0**-1 is NaN: there only, b - 1
        # is replaced (elsewhere the rule's graph keeps a**(b-1), whose d/db is needed for
        # second derivatives: d/db (b a**(b-1)) = 1/a at b = 0)
        both_zero = (b._array == 0) & (a._array == 0)
        b_safe = where(_const(both_zero), 1.0, b) if both_zero.any() else b
        ga = unbroadcast(mul(g, mul(b, pow(a, sub(b_safe, 1.0)))), a.shape)
    if ctx.needs_input_grad[1]:
        # d/db a**b = a**b log a; taken as 0 where a == 0 (PyTorch's convention).
        nonzero = _const(a._array != 0)
        safe_a = where(nonzero, a, 1.0)
        gb = unbroadcast(mul(g, mul(ctx.output(), log(safe_a))), b.shape)
    return ga, gb


pow_p.def_symbolic(np.power)


def pow(a, b):  # noqa: A001 - PyTorch's name
    """a ** b; a Python-number exponent uses the cheaper ``pow_scalar`` primitive."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        return pow_scalar(a, b)
    return bind(pow_p, *_pair(a, b))


# ---- unary arithmetic ----------------------------------------------------------------------
neg_p = Primitive("neg", saves_inputs=())
_neg_forward = neg_p.def_forward(_unary(np.negative))
neg_p.def_backward(lambda ctx, g: (neg(g),))
neg_p.def_backward_arrays(lambda ctx, g: (_neg_forward(g),))
neg_p.def_symbolic(np.negative)


def neg(x):
    """-x."""
    return bind(neg_p, x)


exp_p = Primitive("exp")
exp_p.def_forward(_unary(np.exp))
exp_p.def_backward(lambda ctx, g: (mul(g, ctx.output()),))
exp_p.def_backward_arrays(lambda ctx, g: (_mul_forward(g, ctx.output()._array),))


@exp_p.def_symbolic
def _exp_symbolic(x):
    import sympy
    return sym_map(sympy.exp, x)


def exp(x):
    """e ** x."""
    return bind(exp_p, _float_input(x))


log_p = Primitive("log")
log_p.def_forward(_unary(np.log))
log_p.def_backward(lambda ctx, g: (div(g, ctx.inputs[0]),))
log_p.def_backward_arrays(lambda ctx, g: (_div_forward(g, ctx.inputs[0]._array),))


@log_p.def_symbolic
def _log_symbolic(x):
    import sympy
    return sym_map(sympy.log, x)


def log(x):
    """Natural logarithm."""
    return bind(log_p, _float_input(x))


sqrt_p = Primitive("sqrt")
sqrt_p.def_forward(_unary(np.sqrt))
sqrt_p.def_backward(lambda ctx, g: (div(mul(g, 0.5), ctx.output()),))


@sqrt_p.def_symbolic
def _sqrt_symbolic(x):
    import sympy
    return sym_map(sympy.sqrt, x)


def sqrt(x):
    """Square root."""
    return bind(sqrt_p, _float_input(x))


abs_p = Primitive("abs")
abs_p.def_forward(_unary(np.abs))
abs_p.def_backward(lambda ctx, g: (mul(g, _const(_sign(ctx.inputs[0]._array))),))


def _sign(x):
    """sign(x) with 0 at NaN: PyTorch's gradient of abs there is 0 (sgn(NaN) = 0)."""
    s = np.sign(x)
    return np.where(np.isnan(s), np.zeros((), dtype=s.dtype), s) if s.dtype.kind == "f" else s


@abs_p.def_symbolic
def _abs_symbolic(x):
    import sympy
    return sym_map(sympy.Abs, x)


def abs(x):  # noqa: A001 - PyTorch's name
    """|x|; the gradient is sign(x), 0 at 0 and at NaN (as in PyTorch)."""
    return bind(abs_p, as_tensor(x))


# ---- activations ---------------------------------------------------------------------------
tanh_backward_p = Primitive("tanh_backward")


@tanh_backward_p.def_forward
def _tanh_backward_forward(g, y):
    dt, g_flat, y_flat = _flat_pair(g, y)
    out = np.empty(y.shape, dtype=dt)
    kern.tanh_backward(g_flat, y_flat, out.ravel())
    return out


@tanh_backward_p.def_backward
def _tanh_backward_backward(ctx, gg):
    g, y = ctx.inputs
    return (tanh_backward(gg, y) if ctx.needs_input_grad[0] else None,
            mul(mul(gg, g), mul(y, -2.0)) if ctx.needs_input_grad[1] else None)


@tanh_backward_p.def_symbolic
def _tanh_backward_symbolic(g, y):
    return g * (1 - y * y)


def _same_shape(g, y, who):
    """y, after checking that it has g's shape (as ``tanh_backward`` and the like do)."""
    if g.shape != y.shape:
        raise ValueError(f"{who}: grad_out {g.shape} and y {y.shape} differ")
    return y


def tanh_backward(grad_out, y):
    """grad_out * (1 - y**2): the backward of tanh given its output y (same shapes)."""
    if grad_out.shape != y.shape:
        raise ValueError(f"tanh_backward: grad_out {grad_out.shape} and y {y.shape} differ")
    return bind(tanh_backward_p, grad_out, y)


tanh_p = Primitive("tanh")
tanh_p.def_forward(_unary(np.tanh))
tanh_p.def_backward(lambda ctx, g: (tanh_backward(g, ctx.output()),))
tanh_p.def_backward_arrays(lambda ctx, g: (
    _tanh_backward_forward(g, _same_shape(g, ctx.output()._array, "tanh_backward")),))


@tanh_p.def_symbolic
def _tanh_symbolic(x):
    import sympy
    return sym_map(sympy.tanh, x)


def tanh(x):
    """Hyperbolic tangent."""
    return bind(tanh_p, _float_input(x))


sigmoid_backward_p = Primitive("sigmoid_backward")


@sigmoid_backward_p.def_forward
def _sigmoid_backward_forward(g, y):
    dt, g_flat, y_flat = _flat_pair(g, y)
    out = np.empty(y.shape, dtype=dt)
    kern.sigmoid_backward(g_flat, y_flat, out.ravel())
    return out


@sigmoid_backward_p.def_backward
def _sigmoid_backward_backward(ctx, gg):
    g, y = ctx.inputs
    return (sigmoid_backward(gg, y) if ctx.needs_input_grad[0] else None,
            mul(mul(gg, g), sub(1.0, mul(y, 2.0))) if ctx.needs_input_grad[1] else None)


@sigmoid_backward_p.def_symbolic
def _sigmoid_backward_symbolic(g, y):
    return g * y * (1 - y)


def sigmoid_backward(grad_out, y):
    """grad_out * y * (1 - y): the backward of sigmoid given its output y (same shapes)."""
    if grad_out.shape != y.shape:
        raise ValueError(f"sigmoid_backward: grad_out {grad_out.shape} and y {y.shape} differ")
    return bind(sigmoid_backward_p, grad_out, y)


sigmoid_p = Primitive("sigmoid")


_expit = None


@sigmoid_p.def_forward
def _sigmoid_forward(x):
    # scipy's expit: one ufunc, exact for float32 and float64, 0 and 1 (no overflow warning)
    # at the extremes. Imported on first use: scipy.special is slow to import.
    global _expit
    if _expit is None:
        from scipy.special import expit as _expit
    return _as_array(_expit(x))


sigmoid_p.def_backward(lambda ctx, g: (sigmoid_backward(g, ctx.output()),))
sigmoid_p.def_backward_arrays(lambda ctx, g: (
    _sigmoid_backward_forward(g, _same_shape(g, ctx.output()._array, "sigmoid_backward")),))


@sigmoid_p.def_symbolic
def _sigmoid_symbolic(x):
    import sympy
    return sym_map(lambda v: 1 / (1 + sympy.exp(-v)), x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return bind(sigmoid_p, _float_input(x))


leaky_relu_backward_p = Primitive("leaky_relu_backward", nondiff_inputs=(1,))


@leaky_relu_backward_p.def_forward
def _leaky_relu_backward_forward(g, x, negative_slope):
    dt, g_flat, x_flat = _flat_pair(g, x)
    out = np.empty(x.shape, dtype=dt)
    kern.leaky_relu_backward(g_flat, x_flat, negative_slope, out.ravel())
    return out


leaky_relu_backward_p.def_backward(lambda ctx, gg: (
    leaky_relu_backward(gg, ctx.inputs[1], ctx.params["negative_slope"]), None))


@leaky_relu_backward_p.def_symbolic
def _leaky_relu_backward_symbolic(g, x, negative_slope):
    import sympy
    s = sym_number(negative_slope)
    return sym_map(lambda gv, xv: sympy.Piecewise((gv, xv > 0), (s * gv, True)), g, x)


def leaky_relu_backward(grad_out, x, negative_slope):
    """grad_out where x > 0, negative_slope * grad_out elsewhere (same shapes)."""
    return bind(leaky_relu_backward_p, grad_out, x, negative_slope=float(negative_slope))


relu_p = Primitive("relu")


@relu_p.def_forward
def _relu_forward(x):
    return _as_array(np.maximum(x, np.zeros((), dtype=x.dtype)))


relu_p.def_backward(lambda ctx, g: (leaky_relu_backward(g, ctx.inputs[0], 0.0),))
relu_p.def_backward_arrays(lambda ctx, g: (
    _leaky_relu_backward_forward(g, ctx.inputs[0]._array, negative_slope=0.0),))


@relu_p.def_symbolic
def _relu_symbolic(x):
    import sympy
    return sym_map(lambda v: sympy.Piecewise((v, v > 0), (0, True)), x)


def relu(x):
    """max(x, 0); the gradient at 0 is 0."""
    return bind(relu_p, as_tensor(x))


leaky_relu_p = Primitive("leaky_relu")


@leaky_relu_p.def_forward
def _leaky_relu_forward(x, negative_slope):
    out = np.empty(x.shape, dtype=x.dtype)
    kern.leaky_relu_forward(_flat(x, x.dtype), negative_slope, out.ravel())
    return out


leaky_relu_p.def_backward(lambda ctx, g: (
    leaky_relu_backward(g, ctx.inputs[0], ctx.params["negative_slope"]),))
leaky_relu_p.def_backward_arrays(lambda ctx, g: (_leaky_relu_backward_forward(
    g, ctx.inputs[0]._array, negative_slope=float(ctx.params["negative_slope"])),))


@leaky_relu_p.def_symbolic
def _leaky_relu_symbolic(x, negative_slope):
    import sympy
    s = sym_number(negative_slope)
    return sym_map(lambda v: sympy.Piecewise((v, v > 0), (s * v, True)), x)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, negative_slope * x elsewhere."""
    return bind(leaky_relu_p, as_tensor(x), negative_slope=float(negative_slope))


softplus_p = Primitive("softplus")


@softplus_p.def_forward
def _softplus_forward(x, beta):
    zero = np.zeros((), dtype=x.dtype)
    if beta == 1.0:
        return _as_array(np.logaddexp(zero, x))
    b = x.dtype.type(beta)
    return _as_array(np.logaddexp(zero, x * b) / b)


softplus_p.def_backward(lambda ctx, g: (mul(g, sigmoid(
    ctx.inputs[0] if ctx.params["beta"] == 1.0 else mul(ctx.inputs[0], ctx.params["beta"]))),))


@softplus_p.def_symbolic
def _softplus_symbolic(x, beta):
    import sympy
    b = sym_number(beta)
    return sym_map(lambda v: sympy.log(1 + sympy.exp(b * v)) / b, x)


def softplus(x, beta=1.0):
    """log(1 + exp(beta * x)) / beta, computed without overflow."""
    if beta <= 0:
        raise ValueError(f"softplus: expected beta > 0, got {beta}")
    return bind(softplus_p, _float_input(x), beta=float(beta))


# ---- clamp / maximum / minimum / where -------------------------------------------------------
clamp_p = Primitive("clamp")


@clamp_p.def_forward
def _clamp_forward(x, min, max):  # noqa: A002
    return _as_array(np.clip(x, min, max)).astype(x.dtype, copy=False)


@clamp_p.def_backward
def _clamp_backward(ctx, g):
    x = ctx.inputs[0]._array
    lo, hi = ctx.params["min"], ctx.params["max"]
    inside = np.ones(x.shape, dtype=bool)
    if lo is not None:
        inside &= x >= lo
    if hi is not None:
        inside &= x <= hi
    return (mul(g, _const(inside.astype(g.dtype))),)


@clamp_p.def_symbolic
def _clamp_symbolic(x, min, max):  # noqa: A002
    import sympy
    lo = None if min is None else sym_number(min)
    hi = None if max is None else sym_number(max)

    def one(v):
        if lo is not None:
            v = sympy.Max(v, lo)
        if hi is not None:
            v = sympy.Min(v, hi)
        return v
    return sym_map(one, x)


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit x to [min, max] (either bound may be None); the gradient is passed where
    min <= x <= max."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min ({min}) is greater than max ({max})")
    return bind(clamp_p, as_tensor(x), min=None if min is None else float(min),
                max=None if max is None else float(max))


def _select_backward(ctx, g, first_wins):
    a, b = ctx.inputs
    ad, bd = a._array, b._array
    win_a = first_wins(ad, bd).astype(g.dtype) + 0.5 * (ad == bd).astype(g.dtype)
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast(mul(g, _const(win_a)), a.shape)
    if ctx.needs_input_grad[1]:
        gb = unbroadcast(mul(g, _const(1 - win_a)), b.shape)
    return ga, gb


maximum_p = Primitive("maximum")
maximum_p.def_forward(_binary(np.maximum, "maximum"))
maximum_p.def_backward(lambda ctx, g: _select_backward(ctx, g, np.greater))


@maximum_p.def_symbolic
def _maximum_symbolic(a, b):
    import sympy
    return sym_map(sympy.Max, a, b)


minimum_p = Primitive("minimum")
minimum_p.def_forward(_binary(np.minimum, "minimum"))
minimum_p.def_backward(lambda ctx, g: _select_backward(ctx, g, np.less))


@minimum_p.def_symbolic
def _minimum_symbolic(a, b):
    import sympy
    return sym_map(sympy.Min, a, b)


def maximum(a, b):
    """Elementwise max; at ties each side gets half the gradient."""
    return bind(maximum_p, *_pair(a, b))


def minimum(a, b):
    """Elementwise min; at ties each side gets half the gradient."""
    return bind(minimum_p, *_pair(a, b))


where_p = Primitive("where", nondiff_inputs=(0,), saves_inputs=(0,))


@where_p.def_forward
def _where_forward(cond, a, b):
    try:
        return np.where(cond, a, b)
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {a.shape} and {b.shape} cannot be "
                         "broadcast together") from None


@where_p.def_backward
def _where_backward(ctx, g):
    cond, a, b = ctx.inputs
    zero = _const(np.zeros((), dtype=g.dtype))
    return (None,
            unbroadcast(where(cond, g, zero), a.shape) if ctx.needs_input_grad[1] else None,
            unbroadcast(where(cond, zero, g), b.shape) if ctx.needs_input_grad[2] else None)


where_p.def_symbolic(lambda cond, a, b: np.where(cond.astype(bool), a, b))


def where(condition, a, b):
    """Pick a where condition is True, else b (all three broadcast together)."""
    cond = as_tensor(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: expected a bool condition, got {cond.dtype}")
    a, b = _pair(a, b)
    return bind(where_p, cond, a, b)


# ---- cast ------------------------------------------------------------------------------------
cast_p = Primitive("cast", saves_inputs=())
cast_p.def_forward(lambda x, dtype: x.astype(dtype))
cast_p.def_backward(lambda ctx, g: (cast(g, ctx.inputs[0].dtype),))
cast_p.def_backward_arrays(lambda ctx, g: (
    g if g.dtype == ctx.inputs[0]._array.dtype else g.astype(ctx.inputs[0]._array.dtype),))
cast_p.def_symbolic(lambda x, dtype: x)


def cast(x, dtype):
    """x converted to ``dtype`` (float32/float64 keep the gradient; others cut it)."""
    dt = dtypes.check_supported(dtype, "cast")
    if dt == x.dtype:
        return x
    if dt.kind == "f" and not dtypes.is_floating(dt):
        raise TypeError(f"cast: floating tensors are float32 or float64, got {dt}")
    if dt.kind != "f":
        return Tensor._wrap(x._array.astype(dt))
    return bind(cast_p, x, dtype=dt)
