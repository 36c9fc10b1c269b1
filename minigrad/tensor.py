"""The Tensor: a numpy array, an optional gradient, and the node that made it.

Operators and methods only forward to the functions in ``minigrad.ops``; all derivative
knowledge lives in the primitives' rules.
"""

import numbers

import numpy as np

from . import device as _device
from . import dtypes, primitive
from .grad_mode import STATE
from .tensor_inplace import InPlaceOps


def _to_array(data, dtype, who="tensor"):
    """Convert user data to a numpy array: Python floats take the default dtype, numpy arrays keep
    theirs (float16 and other floats become the default), ints become int64. Complex, object and
    string data (and such a ``dtype``) raise ``TypeError`` naming ``who``."""
    if isinstance(data, Tensor):
        data = data._array
    if dtype is not None:
        dtype = dtypes.check_supported(dtype, who)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
        if arr.dtype.kind not in "fiub":
            _refuse(arr.dtype, data, who)
        if dtype is not None:
            return arr.astype(dtype)
        if arr.dtype.kind == "f" and arr.dtype not in dtypes.FLOAT_DTYPES:
            arr = arr.astype(dtypes.get_default_dtype())
        return arr
    if isinstance(data, complex):
        _refuse(np.dtype(complex), data, who)
    try:
        arr = np.array(data)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{who}: expected a rectangular nest of numbers: {err}") from None
    if arr.dtype.kind not in "fiub":
        _refuse(arr.dtype, data, who)
    if dtype is not None:
        return arr.astype(dtype)
    if arr.dtype.kind == "f":
        return arr.astype(dtypes.get_default_dtype())
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr


def _refuse(dt, data, who):
    what = "an array" if isinstance(data, np.ndarray) else type(data).__name__
    raise TypeError(f"{who}: got {what} of dtype {dt}; tensors hold {dtypes.SUPPORTED} values "
                    "(complex, object and string data are not supported)")


class Tensor(InPlaceOps):
    """An n-dimensional array that records the ops applied to it when it requires a gradient.

    Attributes:
        data: PyTorch's ``.data``: a Tensor sharing this tensor's memory, cut from the graph,
            with a version counter of its own (``numpy()`` gives the array itself).
        grad: a Tensor of this tensor's shape and dtype after ``backward``, else ``None``.
        requires_grad: whether gradients flow to this tensor.
        name: an optional label (``named_parameters`` names; drawn by ``viz``).
    """

    __slots__ = ("_array", "grad", "requires_grad", "_node", "_hooks", "_retains_grad", "name",
                 "_vc", "_history", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__
    __hash__ = object.__hash__

    def __init__(self, data, dtype=None, requires_grad=False, name=None):
        arr = _to_array(data, dtype)
        if arr.dtype.kind == "f" and arr.dtype not in dtypes.FLOAT_DTYPES:
            raise TypeError(f"tensor: float dtypes are float32 and float64, got {arr.dtype}")
        if requires_grad and not dtypes.is_floating(arr.dtype):
            raise TypeError(f"tensor: only float32/float64 tensors can require gradients, "
                            f"got dtype {arr.dtype}")
        self._array = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._hooks = None
        self._retains_grad = False
        self.name = name
        self._vc = None
        self._history = None

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """Internal fast constructor: no copy, no checks."""
        t = object.__new__(cls)
        t._array = array
        t.grad = None
        t.requires_grad = requires_grad
        t._node = None
        t._hooks = None
        t._retains_grad = False
        t.name = None
        t._vc = None
        t._history = None
        return t

    # ---- .data (PyTorch's) --------------------------------------------------------------
    @property
    def data(self):
        """A Tensor sharing this tensor's memory that does not require grad, is cut from the
        graph and has a version counter of its own: in-place edits through it (``p.data.add_(g,
        alpha=-lr)``) are not seen by autograd's version checks, as in PyTorch (``detach()``
        shares the counter). ``numpy()`` gives the array itself."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value):
        """``t.data = other``: ``t`` takes ``other``'s memory (shape and dtype may change, as in
        PyTorch; a tensor that requires grad must stay floating). ``other`` must be a Tensor."""
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor to assign to .data, got "
                            f"{type(value).__name__}; write values with t.copy_(...) or "
                            "t.numpy()[...] = array")
        arr = value._array
        if self.requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"data: a tensor that requires grad must hold floats, got dtype "
                            f"{arr.dtype}")
        self._array = arr

    # ---- version counter ----------------------------------------------------------------
    @property
    def _version(self):
        """How many in-place edits this tensor's memory has had (shared with its views and
        ``detach()``; PyTorch's name). Writes through ``._array``/``.numpy()`` are not seen."""
        vc = self._vc
        return 0 if vc is None else vc.value

    def _counter(self):
        """The version counter object, made on first use (views and detach share it)."""
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        return vc

    def _bump_version(self):
        """Record one in-place edit of this tensor's memory (every in-place op calls it)."""
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        vc.value += 1
        primitive.EDITS[0] += 1

    # ---- array-like facts -------------------------------------------------------------
    @property
    def shape(self):
        return self._array.shape

    @property
    def dtype(self):
        return self._array.dtype

    @property
    def ndim(self):
        return self._array.ndim

    def dim(self):
        return self._array.ndim

    def size(self, dim=None):
        return self._array.shape if dim is None else self._array.shape[dim]

    def numel(self):
        return self._array.size

    def __len__(self):
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def numpy(self):
        """The underlying numpy array (shared, not copied; also when this tensor requires
        grad, where PyTorch refuses)."""
        return self._array

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self._array.dtype:
            return self._array.astype(dtype)
        return self._array.copy() if copy else self._array

    def item(self):
        if self._array.size != 1:
            raise ValueError(f"item: expected a tensor with one element, got shape {self.shape}")
        return self._array.item()

    def tolist(self):
        return self._array.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """The int of an integer (or bool) tensor with one element, so that ``seq[t]`` and
        ``range(t)`` work; other tensors raise ``TypeError`` (as in PyTorch)."""
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError(f"__index__: only integer tensors of a single element can be "
                            f"converted to an index, got shape {self.shape}, {self.dtype}")
        return int(self._array.item())

    def __bool__(self):
        if self._array.size != 1:
            raise ValueError("the truth value of a tensor with more than one element is "
                             "ambiguous; use .any() or .all()")
        return bool(self._array.item())

    def __repr__(self):
        body = np.array2string(self._array, separator=", ", prefix="tensor(")
        extra = []
        if self._array.dtype != dtypes.get_default_dtype():
            extra.append(f"dtype={self._array.dtype}")
        if self._node is not None:
            extra.append(f"op={self._node.prim.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # ---- graph facts ------------------------------------------------------------------
    @property
    def is_leaf(self):
        return self._node is None

    @property
    def op(self):
        """The name of the op that made this tensor (``None`` for a leaf)."""
        return None if self._node is None else self._node.prim.name

    @property
    def parents(self):
        """The ordered input tensors of the op that made this tensor (``()`` for a leaf)."""
        return () if self._node is None else self._node.resolve_inputs()

    @property
    def scope(self):
        """The scope path this tensor was made in, joined by '/' (``""`` if none or a leaf)."""
        return "" if self._node is None else "/".join(self._node.scope)

    @property
    def grad_fn(self):
        """The node that made this tensor (PyTorch's name), or ``None``."""
        return self._node

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; "
                               "use .detach() for a non-leaf")
        if requires_grad and not dtypes.is_floating(self.dtype):
            raise TypeError(f"requires_grad_: only float tensors can require gradients, "
                            f"got {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """A new leaf sharing this tensor's data (and version counter), cut from the graph."""
        t = Tensor._wrap(self._array, False)
        t._vc = self._counter()
        return t

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient is computed; if it returns a Tensor,
        that replaces the gradient. Returns a handle with ``.remove()``."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does "
                               "not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _HookHandle(self._hooks, fn)

    def backward(self, gradient=None, retain_graph=False, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) * gradient into every leaf's ``.grad``.

        ``gradient`` may be omitted only for a tensor with one element.
        """
        from .autograd import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    # ---- dtype and device ---------------------------------------------------------------
    @property
    def device(self):
        """Always the CPU: ``device(type='cpu')``."""
        return _device.CPU

    @property
    def is_cuda(self):
        return False

    def cpu(self):
        """This tensor (it is on the CPU already)."""
        return self

    def cuda(self, device=None, non_blocking=False):
        _device.check_device("cuda" if device is None else device, "cuda")

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
        """PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
        ``to(other_tensor)`` and the keywords. The device must be the CPU. Returns this tensor
        when nothing changes (a copy with ``copy=True``)."""
        if len(args) > 2:
            raise TypeError(f"to: expected at most 2 positional arguments, got {len(args)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype if dtype is None else dtype
            elif _device.is_device_like(a) or (
                    isinstance(a, numbers.Integral) and not isinstance(a, bool)):
                device = a  # an int is a CUDA device index, as in PyTorch
            elif dtype is None:
                dtype = a
            else:
                raise TypeError(f"to: got two dtypes ({dtype!r} and {a!r})")
        _device.check_device(device, "to")
        out = self if dtype is None else _ew.cast(self, dtype)
        return out.clone() if copy and out is self else out

    def type(self, dtype=None):
        """``type()`` names the dtype; ``type(dtype)`` converts."""
        if dtype is None:
            return str(self.dtype)
        return _ew.cast(self, dtype)

    def type_as(self, other):
        return _ew.cast(self, other.dtype)

    def float(self):
        return _ew.cast(self, np.float32)

    def double(self):
        return _ew.cast(self, np.float64)

    def long(self):
        return Tensor._wrap(self._array.astype(np.int64))

    def int(self):
        return Tensor._wrap(self._array.astype(np.int32))

    def bool(self):
        return Tensor._wrap(self._array.astype(bool))

    def is_floating_point(self):
        return self._array.dtype.kind == "f"

    # ---- copies and new tensors ------------------------------------------------------------
    def clone(self):
        """A copy with its own memory; recorded (gradient flows back) when this tensor
        requires grad."""
        if self.requires_grad and STATE.grad_enabled:
            return _ew.mul(self, 1.0)  # exact: x * 1 keeps every value, -0.0 and NaN included
        return Tensor._wrap(self._array.copy())

    def _new(self, array, dtype, device, requires_grad, who):
        _device.check_device(device, who)
        t = Tensor._wrap(array.astype(self.dtype if dtype is None else
                                      dtypes.check_supported(dtype, who), copy=False))
        return t.requires_grad_(True) if requires_grad else t

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """Zeros of ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
        return self._new(np.zeros(_size(size)), dtype, device, requires_grad, "new_zeros")

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(np.ones(_size(size)), dtype, device, requires_grad, "new_ones")

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(np.zeros(_size(size)), dtype, device, requires_grad, "new_empty")

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return self._new(np.full(_size((size,)), _operand(fill_value, "new_full")), dtype,
                         device, requires_grad, "new_full")

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return self._new(_to_array(data, None, "new_tensor"), dtype, device, requires_grad,
                         "new_tensor")

    # ---- arithmetic -------------------------------------------------------------------
    def __add__(self, other):
        return _ew.add(self, other)

    def __radd__(self, other):
        return _ew.add(other, self)

    def __sub__(self, other):
        return _ew.sub(self, other)

    def __rsub__(self, other):
        return _ew.sub(other, self)

    def __mul__(self, other):
        return _ew.mul(self, other)

    def __rmul__(self, other):
        return _ew.mul(other, self)

    def __truediv__(self, other):
        return _ew.div(self, other)

    def __rtruediv__(self, other):
        return _ew.div(other, self)

    def __pow__(self, other):
        return _ew.pow(self, other)

    def __rpow__(self, other):
        return _ew.pow(other, self)

    def __neg__(self):
        return _ew.neg(self)

    def add(self, other, alpha=1):
        """self + alpha * other (PyTorch's deprecated ``add(alpha, other)`` order is accepted
        with its warning)."""
        from .tensor_inplace import _legacy_order
        other, alpha = _legacy_order(other, alpha, "add")
        return _ew.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        """self - alpha * other (``sub(alpha, other)`` as for ``add``)."""
        from .tensor_inplace import _legacy_order
        other, alpha = _legacy_order(other, alpha, "sub")
        return _ew.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other):
        return _ew.mul(self, other)

    def div(self, other, rounding_mode=None):
        """self / other; ``rounding_mode`` "trunc" or "floor" rounds the quotient (a step
        function: its gradient is zero, so the result is cut from the graph)."""
        if rounding_mode is None:
            return _ew.div(self, other)
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                             f"{rounding_mode!r}")
        ints = self.dtype.kind in "iub" and np.asarray(_data(other)).dtype.kind in "iub"
        if ints:
            a, b = self._array, np.asarray(_data(other))
            if np.any(b == 0):
                raise ZeroDivisionError("div: integer division by zero")
            out = np.floor_divide(a, b) if rounding_mode == "floor" else (
                np.trunc(np.true_divide(a, b)).astype(np.result_type(a, b)))
            return Tensor._wrap(np.asarray(out))
        q = _ew.div(self.detach(), other.detach() if isinstance(other, Tensor) else other)
        rounded = np.floor(q._array) if rounding_mode == "floor" else np.trunc(q._array)
        return Tensor._wrap(np.asarray(rounded))

    divide = div

    def remainder(self, other):
        """self % other with the divisor's sign (PyTorch's and Python's rule)."""
        from .ops.remainder import remainder
        return remainder(self, other)

    def __mod__(self, other):
        from .ops.remainder import remainder
        return remainder(self, other)

    def __rmod__(self, other):
        from .ops.remainder import remainder
        return remainder(other, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ew.abs(self)

    def __matmul__(self, other):
        return _la.matmul(self, other)

    def __rmatmul__(self, other):
        return _la.matmul(other, self)

    # ---- comparisons (no gradient) ----------------------------------------------------
    def __eq__(self, other):
        return Tensor._wrap(np.equal(self._array, _data(other)))

    def __ne__(self, other):
        return Tensor._wrap(np.not_equal(self._array, _data(other)))

    def __lt__(self, other):
        return Tensor._wrap(np.less(self._array, _data(other)))

    def __le__(self, other):
        return Tensor._wrap(np.less_equal(self._array, _data(other)))

    def __gt__(self, other):
        return Tensor._wrap(np.greater(self._array, _data(other)))

    def __ge__(self, other):
        return Tensor._wrap(np.greater_equal(self._array, _data(other)))

    def __invert__(self):
        return Tensor._wrap(np.logical_not(self._array))

    def any(self):
        return Tensor._wrap(np.asarray(self._array.any()))

    def all(self):
        return Tensor._wrap(np.asarray(self._array.all()))

    def argmax(self, dim=None, keepdim=False):
        return Tensor._wrap(np.asarray(np.argmax(self._array, axis=dim, keepdims=keepdim)))

    def argmin(self, dim=None, keepdim=False):
        return Tensor._wrap(np.asarray(np.argmin(self._array, axis=dim, keepdims=keepdim)))

    # ---- elementwise methods ----------------------------------------------------------
    def exp(self):
        return _ew.exp(self)

    def log(self):
        return _ew.log(self)

    def sqrt(self):
        return _ew.sqrt(self)

    def abs(self):
        return _ew.abs(self)

    def tanh(self):
        return _ew.tanh(self)

    def sigmoid(self):
        return _ew.sigmoid(self)

    def relu(self):
        return _ew.relu(self)

    def sin(self):
        from .ops.trig import sin
        return sin(self)

    def cos(self):
        from .ops.trig import cos
        return cos(self)

    def pow(self, exponent):
        return _ew.pow(self, exponent)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return _ew.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return _ew.maximum(self, other)

    def minimum(self, other):
        return _ew.minimum(self, other)

    # ---- reductions -------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, **aliases):
        return _red.sum(self, dim, keepdim, **aliases)

    def mean(self, dim=None, keepdim=False, **aliases):
        return _red.mean(self, dim, keepdim, **aliases)

    def max(self, dim=None, keepdim=False, **aliases):
        return _red.max(self, dim, keepdim, **aliases)

    def min(self, dim=None, keepdim=False, **aliases):
        return _red.min(self, dim, keepdim, **aliases)

    def var(self, dim=None, keepdim=False, correction=1, **aliases):
        return _red.var(self, dim, keepdim, correction=correction, **aliases)

    def std(self, dim=None, keepdim=False, correction=1, **aliases):
        return _red.std(self, dim, keepdim, correction=correction, **aliases)

    def logsumexp(self, dim=None, keepdim=False, **aliases):
        return _red.logsumexp(self, dim, keepdim, **aliases)

    def amax(self, dim=None, keepdim=False, **aliases):
        return _red.amax(self, dim, keepdim, **aliases)

    def amin(self, dim=None, keepdim=False, **aliases):
        return _red.amin(self, dim, keepdim, **aliases)

    def softmax(self, dim=-1):
        return _red.softmax(self, dim)

    def log_softmax(self, dim=-1):
        return _red.log_softmax(self, dim)

    def cumsum(self, dim, dtype=None):
        from .ops.scan import cumsum
        return cumsum(self, dim, dtype=dtype)

    def norm(self):
        """The Frobenius (2-) norm of all entries."""
        return _ew.sqrt(_red.sum(self * self))

    # ---- shape ------------------------------------------------------------------------
    def reshape(self, *shape):
        return _sh.reshape(self, *shape)

    def view(self, *shape):
        return _sh.reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _sh.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return _sh.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _sh.permute(self, *dims)

    @property
    def T(self):  # noqa: N802 - numpy/PyTorch name
        return _sh.permute(self, *reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        return _sh.squeeze(self, dim)

    def unsqueeze(self, dim):
        return _sh.unsqueeze(self, dim)

    def expand(self, *shape):
        return _sh.expand(self, *shape)

    def contiguous(self):
        return self

    def split(self, split_size_or_sections, dim=0):
        return _sh.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return _sh.chunk(self, chunks, dim)

    def __getitem__(self, index):
        return _sh.getitem(self, index)

    def t(self):
        """The transpose of a tensor of at most 2 dims (PyTorch's ``t``)."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dims, got shape {self.shape}; use "
                             "transpose(dim0, dim1)")
        return self if self.ndim < 2 else _sh.permute(self, 1, 0)

    def narrow(self, dim, start, length):
        """The slice ``start:start + length`` of dim ``dim`` (a view, as in PyTorch)."""
        if self.ndim == 0:
            raise ValueError("narrow: cannot narrow a 0-d tensor")
        d = _red.normalize_dims(dim, self.ndim, "narrow")[0]
        n = self.shape[d]
        if not -n <= start <= n:
            raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {n}")
        start %= n if n else 1
        if length < 0 or start + length > n:
            raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds dim {dim} "
                             f"of size {n}")
        return _sh.getitem(self, (slice(None),) * d + (slice(start, start + length),))

    def view_as(self, other):
        return _sh.reshape(self, other.shape)

    reshape_as = view_as

    def expand_as(self, other):
        return _sh.expand(self, *other.shape)

    def index_select(self, dim, index):
        from .ops.index import index_select
        return index_select(self, dim, index)

    def gather(self, dim, index):
        from .ops.gather import gather
        return gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        from .ops.gather import scatter_add
        return scatter_add(self, dim, index, src)

    def sort(self, dim=-1, descending=False, stable=False):
        from .ops.sort import sort
        return sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        from .ops.sort import argsort
        return argsort(self, dim, descending, stable)

    def masked_fill(self, mask, value):
        """This tensor with ``value`` where the bool ``mask`` (broadcast to this shape) is
        True; keeps this tensor's shape and dtype."""
        mask = _bool_mask(mask, self.shape, "masked_fill")
        out = _ew.where(mask, as_tensor(value, like=self), self)
        return out if out.dtype == self.dtype else _ew.cast(out, self.dtype)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's names
        """The ``k`` largest (or smallest) entries along ``dim``: ``(values, indices)`` (also by
        name), in order (NaN counts as the largest, as in PyTorch); gradients flow to the
        picked entries. The first ``k`` of a stable ``sort``."""
        from .ops.sort import SortResult, sort
        n = self.shape[_red.normalize_dims(dim, self.ndim, "topk")[0]] if self.ndim else 1
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k <= n:
            raise ValueError(f"topk: k ({k!r}) is out of range for dim {dim} of size {n}")
        values, indices = sort(self, dim, descending=largest)
        if self.ndim == 0:
            return SortResult(values, indices)
        return SortResult(values.narrow(dim, 0, k), indices.narrow(dim, 0, k))

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def matmul(self, other):
        return _la.matmul(self, other)


def is_tensor(obj):
    """True when ``obj`` is a minigrad Tensor."""
    return isinstance(obj, Tensor)


def _size(size):
    """A shape from ``f(2, 3)`` or ``f((2, 3))``: non-negative ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0:
            raise ValueError(f"expected non-negative int sizes, got {size!r}")
    return tuple(int(s) for s in size)


def _bool_mask(mask, shape, who):
    m = mask if isinstance(mask, Tensor) else Tensor._wrap(_to_array(mask, None, who))
    if m.dtype != np.bool_:
        raise TypeError(f"{who}: expected a bool mask, got dtype {m.dtype}")
    try:
        fits = np.broadcast_shapes(m.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{who}: a mask of shape {m.shape} cannot be broadcast to {shape}")
    return m


class VersionCounter:
    """A mutable count of in-place edits, shared by a tensor, its views and its detached
    copies (they share memory)."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class _HookHandle:
    __slots__ = ("_hooks", "_fn")

    def __init__(self, hooks, fn):
        self._hooks = hooks
        self._fn = fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


def _data(x):
    return x._array if isinstance(x, Tensor) else x


def _operand(x, who):
    """The array or number an in-place op combines with (Tensors give their array; complex,
    object and string data raise ``TypeError`` naming ``who``)."""
    if isinstance(x, Tensor):
        return x._array
    if isinstance(x, (bool, int, float)) and not isinstance(x, complex):
        return x
    return _to_array(x, None, who)


_SCALARS = {}


def _scalar_constant(value, dtype):
    """A shared read-only 0-d tensor for a Python float used as an operand (x * 0.5)."""
    if value != value or value == 0.0:  # NaN never matches a key; 0.0 and -0.0 would collide
        arr = np.asarray(value, dtype=dtype)
        return Tensor._wrap(arr)
    key = (value, dtype.char)
    t = _SCALARS.get(key)
    if t is None:
        if len(_SCALARS) > 4096:
            _SCALARS.clear()
        arr = np.asarray(value, dtype=dtype)
        arr.flags.writeable = False
        t = _SCALARS[key] = Tensor._wrap(arr)
    return t


def as_tensor(x, like=None):
    """Return ``x`` as a Tensor without copying; a Python number takes ``like``'s dtype when
    ``like`` is a floating tensor (scalars never widen a tensor)."""
    if isinstance(x, Tensor):
        return x
    if type(x) is float and like is not None and like._array.dtype.kind == "f":
        return _scalar_constant(x, like._array.dtype)
    if isinstance(x, numbers.Number) and not isinstance(x, np.generic):
        if isinstance(x, complex):
            _refuse(np.dtype(complex), x, "operand")
        if like is not None and dtypes.is_floating(like.dtype):
            return Tensor._wrap(np.asarray(x, dtype=like.dtype))
        if isinstance(x, bool):
            return Tensor._wrap(np.asarray(x))
        if isinstance(x, numbers.Integral) and like is not None:
            return Tensor._wrap(np.asarray(x, dtype=like.dtype))
    return Tensor._wrap(_to_array(x, None, "operand"))


primitive._wrap = Tensor._wrap

# Imported last: these modules need the Tensor class defined above.
from .ops import elementwise as _ew  # noqa: E402
from .ops import linalg as _la  # noqa: E402
from .ops import reduce as _red  # noqa: E402
from .ops import setitem as _setitem  # noqa: E402, F401 - for tensor_inplace
from .ops import shape as _sh  # noqa: E402
