"""The in-place ops of ``Tensor`` (a mixin it inherits): ``add_ sub_ mul_ div_ clamp_ copy_
fill_ zero_ uniform_ normal_ masked_fill_ unsqueeze_ squeeze_``, ``+= -= *= /=`` and
``t[idx] = v``.

Without recording (``no_grad``, or nothing involved requires grad) an op edits the array and
bumps the tensor's version counter. While recording it is refused on a leaf that requires grad
(as in PyTorch) and recorded everywhere else: the op runs out of place on a stand-in holding the
tensor's value, and the tensor is rebound to the result (``primitive.rebind``), so nodes
recorded before keep reading the earlier value.
"""

import numbers
import warnings

import numpy as np

from . import primitive
from .grad_mode import STATE
from .random import default_generator


class InPlaceOps:
    """Mixin of ``Tensor``: its in-place methods (no state of its own)."""

    __slots__ = ()

    def _in_place(self, name, recorded, direct, operand=None):
        """recorded(earlier) -> Tensor: the new value out of place from ``earlier`` (a tensor
        holding this tensor's value); direct(array): the same edit on the array in place;
        ``operand``: the other tensor involved, if any."""
        if STATE.grad_enabled and (self.requires_grad or (
                isinstance(operand, _t.Tensor) and operand.requires_grad)):
            if self._node is None and self.requires_grad:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad is being used in an in-place "
                    "operation (refused, as in PyTorch: its gradient is taken at the value the "
                    "edit would overwrite). Edit it under mg.no_grad() (a parameter update), or "
                    "edit a copy: t = t * 1.")
            last = self._version
            earlier = primitive.stand_in(self)
            new = recorded(earlier)
            if new.shape != self.shape:
                raise ValueError(f"{name}: the result has shape {new.shape} but the tensor "
                                 f"edited in place has shape {self.shape}")
            if new.dtype != self.dtype:
                if not np.can_cast(new.dtype, self.dtype, "same_kind"):
                    raise TypeError(f"{name}: the result has dtype {new.dtype}, which cannot "
                                    f"be stored in place in a {self.dtype} tensor")
                new = _t._ew.cast(new, self.dtype)
            primitive.rebind(self, earlier, new, last)
            return self
        if not self._array.flags.writeable:
            raise ValueError(f"{name}: the tensor is read-only (an expand() result or a shared "
                             "constant); make a copy first: t = t * 1")
        try:
            direct(self._array)
        except (TypeError, ValueError, IndexError) as err:
            kind = next(k for k in (IndexError, TypeError, ValueError) if isinstance(err, k))
            raise kind(f"{name}: {err} (tensor of shape {self.shape}, {self.dtype})") from None
        self._bump_version()
        return self

    def _ufunc_in_place(self, other, ufunc, op, name):
        o = _t._operand(other, name)
        return self._in_place(
            name, lambda e: op(e, other),
            lambda a: ufunc(a, o, out=a, casting="same_kind"), other)

    def __iadd__(self, other):
        return self._ufunc_in_place(other, np.add, _t._ew.add, "+=")

    def __isub__(self, other):
        return self._ufunc_in_place(other, np.subtract, _t._ew.sub, "-=")

    def __imul__(self, other):
        return self._ufunc_in_place(other, np.multiply, _t._ew.mul, "*=")

    def __itruediv__(self, other):
        return self._ufunc_in_place(other, np.divide, _t._ew.div, "/=")

    def add_(self, other, alpha=1):
        """self += alpha * other, in place (PyTorch's deprecated ``add_(alpha, other)``
        order, a number then a tensor, is accepted with its warning)."""
        other, alpha = _legacy_order(other, alpha, "add_")
        if alpha != 1:
            other = other * alpha if isinstance(other, _t.Tensor) else _t._operand(
                other, "add_") * alpha
        return self._ufunc_in_place(other, np.add, _t._ew.add, "add_")

    def sub_(self, other, alpha=1):
        """self -= alpha * other, in place (``sub_(alpha, other)`` as for ``add_``)."""
        other, alpha = _legacy_order(other, alpha, "sub_")
        if alpha != 1:
            other = other * alpha if isinstance(other, _t.Tensor) else _t._operand(
                other, "sub_") * alpha
        return self._ufunc_in_place(other, np.subtract, _t._ew.sub, "sub_")

    def mul_(self, other):
        return self._ufunc_in_place(other, np.multiply, _t._ew.mul, "mul_")

    def div_(self, other):
        return self._ufunc_in_place(other, np.divide, _t._ew.div, "div_")

    def clamp_(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        return self._in_place("clamp_", lambda e: _t._ew.clamp(e, min, max),
                              lambda a: np.clip(a, min, max, out=a))

    def copy_(self, other):
        """Copy ``other``'s values (broadcast to this shape, cast to this dtype) in place."""
        src = other if isinstance(other, _t.Tensor) else _t.Tensor._wrap(
            _t._to_array(other, None, "copy_"))
        try:
            fits = np.broadcast_shapes(src.shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"copy_: a source of shape {src.shape} cannot be broadcast to "
                             f"the tensor's shape {self.shape}")

        def direct(a):
            np.copyto(a, src._array, casting="unsafe")
        return self._in_place("copy_", lambda e: _replace(e, src), direct, src)

    def fill_(self, value):
        """Set every entry to ``value`` in place."""
        v = _t._operand(value, "fill_")
        if np.ndim(v) != 0:
            raise ValueError(f"fill_: expected a number or a 0-d tensor, got shape "
                             f"{np.shape(v)}")

        def direct(a):
            a[...] = v
        return self._in_place("fill_", lambda e: _replace(e, value), direct, value)

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def _fill_random_(self, name, draw, generator):
        """Fill with ``draw(rng, shape)`` in place under ``_in_place``'s rules (refused on a leaf
        that requires grad while recording, as in PyTorch; elsewhere the old value gets a zero
        gradient). Floating tensors only; the numbers are drawn once the edit is allowed."""
        if self.dtype.kind != "f":
            raise TypeError(f"{name}: expected a float tensor, got dtype {self.dtype}")
        rng = generator or default_generator()

        def direct(a):
            a[...] = draw(rng, a.shape)

        def recorded(earlier):
            values = _t.Tensor._wrap(np.asarray(draw(rng, earlier.shape), dtype=earlier.dtype))
            return _replace(earlier, values)
        return self._in_place(name, recorded, direct)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        """Fill with U(a, b) in place (PyTorch's ``Tensor.uniform_``; bumps the version)."""
        return self._fill_random_("uniform_", lambda rng, s: rng.uniform(a, b, size=s),
                                  generator)

    def normal_(self, mean=0.0, std=1.0, generator=None):
        """Fill with N(mean, std**2) in place (PyTorch's ``Tensor.normal_``; bumps the
        version)."""
        return self._fill_random_("normal_", lambda rng, s: rng.normal(mean, std, size=s),
                                  generator)

    def _in_place_shape(self, name, recorded, direct):
        """An in-place change of shape (``unsqueeze_``, ``squeeze_``): ``_in_place``'s rules
        without its same-shape check. recorded(earlier) -> Tensor: the reshaped value out of
        place; direct(array) -> array: a view of the same memory with the new shape."""
        if STATE.grad_enabled and self.requires_grad:
            if self._node is None:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad is being used in an in-place "
                    "operation (refused, as in PyTorch); use the out-of-place form or edit "
                    "it under mg.no_grad()")
            last = self._version
            earlier = primitive.stand_in(self)
            new = recorded(earlier)
            new._array = new._array.copy()  # memory of its own, as rebind's counter says
            primitive.rebind(self, earlier, new, last)
            return self
        self._array = direct(self._array)
        self._bump_version()
        return self

    def unsqueeze_(self, dim):
        """Insert a size-1 dim at ``dim``, in place (the same memory, a new shape)."""
        d = _t._red.normalize_dims(dim, self.ndim + 1, "unsqueeze_")[0]
        return self._in_place_shape("unsqueeze_", lambda e: _t._sh.unsqueeze(e, d),
                                    lambda a: np.expand_dims(a, d))

    def squeeze_(self, dim=None):
        """Remove size-1 dims (all, or those of ``dim``: an int or a tuple), in place."""
        if dim is None:
            dims = tuple(i for i, s in enumerate(self.shape) if s == 1)
        elif self.ndim == 0:
            _t._red.normalize_dims(dim, 0, "squeeze_")
            dims = ()
        else:
            dims = tuple(i for i in _t._red.normalize_dims(dim, self.ndim, "squeeze_")
                         if self.shape[i] == 1)
        shape = tuple(s for i, s in enumerate(self.shape) if i not in dims)
        return self._in_place_shape("squeeze_", lambda e: _t._sh.reshape(e, shape),
                                    lambda a: np.squeeze(a, dims))

    def __setitem__(self, index, value):
        """``self[index] = value`` (numpy's indexing rules). Recorded while gradients are (see
        ``_in_place``): gradients reach both this tensor's other entries and ``value``."""
        v = _t._operand(value, "setitem")
        norm = _t._sh._normalize_index(index)

        def direct(a):
            w = np.asarray(v)
            a[norm] = w.reshape(_t._setitem.strip_leading_ones(w.shape, a[norm].ndim))
        self._in_place("setitem", lambda e: _t._setitem.index_put(e, norm, value), direct, value)

    def masked_fill_(self, mask, value):
        m = _t._bool_mask(mask, self.shape, "masked_fill_")
        v = _t._operand(value, "masked_fill_")
        if np.ndim(v) != 0:
            raise ValueError(f"masked_fill_: value must be a number or a 0-d tensor, got shape "
                             f"{np.shape(v)}")

        def direct(a):
            np.copyto(a, v, where=np.broadcast_to(m._array, a.shape), casting="unsafe")
        return self._in_place("masked_fill_", lambda e: e.masked_fill(m, value), direct, value)


def _legacy_order(other, alpha, name):
    """``(other, alpha)``, swapped when called in PyTorch's deprecated ``name(alpha, other)``
    order (a number, then a tensor), with PyTorch's deprecation warning."""
    if isinstance(alpha, _t.Tensor) and isinstance(other, numbers.Number):
        warnings.warn(f"This overload of {name} is deprecated: {name}(Number alpha, Tensor "
                      f"other); use {name}(Tensor other, *, Number alpha=1)", UserWarning,
                      stacklevel=3)
        return alpha, other
    return other, alpha


def _replace(earlier, value):
    """``value`` broadcast to ``earlier``'s shape, as a recorded op whose gradient reaches
    ``value`` (and zeros reach ``earlier``): the out-of-place form of copy_ / fill_."""
    everywhere = _t.Tensor._wrap(np.ones(earlier.shape, dtype=bool))
    return _t._ew.where(everywhere, _t.as_tensor(value, like=earlier), earlier)


# The Tensor class, its helpers and the ops, reached at call time: tensor.py imports this
# module before it defines them.
from . import tensor as _t  # noqa: E402
