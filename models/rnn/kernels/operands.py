"""Derived forms of the weights (transposed copies, packed panels), kept per parameter.

A layer call needs W_ih^T and W_hh^T packed for the forward and W_hh packed for the backward
(or, with the ``blas`` family, W' as a C-contiguous copy). Making them costs a strided copy
of the weights per call: ~49 us for a one-token decoder step. They are kept here from one
call to the next, per parameter Tensor and form, and made again only when the parameter
changed:

- ``key(tensor)`` (called where the Tensor is at hand, ``fused_recurrence``) gives the key the
  kernels' Python layer passes back: (id of the Tensor, its ``_version``). The entry is dropped
  when the Tensor is garbage collected.
- ``get(key, form, array, make)`` returns the kept operand when ``array`` is the very array the
  forms were made from (the entry holds a reference to it, so its id cannot be reused), the
  version is the one they were made at, and the array's bytes still equal a copy taken then;
  else it forgets the parameter's forms and returns ``make()``, kept for next time.

Every in-place Tensor op bumps ``_version`` (as do the optimizers' steps and
``Module.load_state_dict``). The byte comparison also catches writes straight into ``.numpy()``
or ``.numpy()``, which the version does not see (``mg.gradcheck`` perturbs its inputs that
way): it reads the weights once per lookup, a contiguous pass (measured ~0.36 ms for 4 MB
of weights, 1 us for 16 KB), where making the forms again is a strided copy and a pack.
``clear()`` forgets everything.
"""

import threading
import weakref

import numpy as np
from numba import njit, uint64

_ENTRIES = {}  # id(tensor) -> _Entry
_LOCK = threading.Lock()
MAX_FORMS = 16  # forms kept per parameter (families x dtypes x splits); more: start over


class _Entry:
    """array: the array the forms were made from; copy: its bytes then; words / copy_words:
    both as 1-D uint32 views (made once, compared at every lookup)."""

    __slots__ = ("ref", "array", "version", "copy", "forms", "words", "copy_words")

    def __init__(self, ref):
        self.ref, self.array, self.version, self.copy, self.forms = ref, None, None, None, {}
        self.words = self.copy_words = None


def key(tensor):
    """(id, version) of a parameter Tensor, watched so that its entry goes when it does;
    None for a Tensor that cannot be watched."""
    tid = id(tensor)
    entry = _ENTRIES.get(tid)
    if entry is None or entry.ref() is not tensor:
        try:
            ref = weakref.ref(tensor, lambda _, tid=tid: _drop(tid))
        except TypeError:
            return None
        with _LOCK:
            _ENTRIES[tid] = _Entry(ref)
    return tid, tensor._version


def _drop(tid):
    with _LOCK:
        entry = _ENTRIES.get(tid)
        if entry is not None and entry.ref() is None:
            del _ENTRIES[tid]


@njit(cache=True, error_model="numpy", nogil=True)
def same_words(a, b):
    """Whether a and b (1-D uint32 views, same size) hold the same bits: compared in blocks
    of 1024 words whose differences are OR-ed together (the inner loop vectorises), stopping
    at the first block that differs."""
    n = a.size
    for start in range(0, n, 1024):
        stop = min(n, start + 1024)
        diff = np.uint32(0)
        for i in range(uint64(start), uint64(stop)):  # unsigned: no wraparound, vectorises
            diff |= a[i] ^ b[i]
        if diff != 0:
            return False
    return True


def _words(array):
    return array.reshape(-1).view(np.uint32)


def _unchanged(entry, array, version):
    if entry.array is not array or entry.version != version:
        return False
    return same_words(entry.copy_words, entry.words)  # views of entry.copy and of array


def get(k, form, array, make):
    """The operand ``form`` (any hashable: the part of the weight, the family, the shape) of
    the parameter keyed ``k`` whose array is ``array`` (C-contiguous): kept, or ``make()`` and
    kept."""
    if k is None or not array.flags.c_contiguous or array.dtype.itemsize % 4:
        return make()
    tid, version = k
    entry = _ENTRIES.get(tid)
    if entry is None:
        return make()
    if not _unchanged(entry, array, version):
        with _LOCK:
            entry.array, entry.version, entry.copy = array, version, array.copy()
            entry.words, entry.copy_words = _words(array), _words(entry.copy)
            entry.forms = {}
    kept = entry.forms.get(form)
    if kept is not None:
        return kept
    operand = make()
    with _LOCK:
        if len(entry.forms) >= MAX_FORMS:
            entry.forms = {}
        entry.forms[form] = operand
    return operand


def clear():
    """Forget every kept operand."""
    with _LOCK:
        for entry in _ENTRIES.values():
            entry.array = entry.version = entry.copy = None
            entry.words = entry.copy_words = None
            entry.forms = {}
