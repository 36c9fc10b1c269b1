"""Flags shared by two threads running kernels side by side (see ``side``).

A ``sync`` array is int64 (SLOTS,), zeroed, one cache line per slot (no false sharing):

- ``PROGRESS``: how many steps the producer has finished, in the order the recurrence takes
  them (the forward's side thread publishes input projections; the backward's main kernel
  publishes gate gradients);
- ``DONE``: set to 1 by the side kernel as its last act;
- ``ABORT``: set to 1 when either side gives up (a Python exception in the worker, an error
  in the caller): every wait then returns False at once, so no thread spins forever;
- ``NEXT``: the next chunk of work to take, for work shared by both threads (``fetch_add``);
- ``SIDE_STEPS``: how many steps' share of the products the worker has finished (the
  forward with its products split between the threads).

Stores are atomic with release order and loads atomic with acquire order (LLVM atomics), so
everything a thread wrote before publishing a step is visible to a thread that has seen it.
A wait spins with the CPU's pause instruction for a while, then yields its time slice at
each turn (``sched_yield``), so a waiting thread does not starve the one it waits for when
the machine is oversubscribed.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

PROGRESS, DONE, ABORT, NEXT, SIDE_STEPS = 0, 8, 16, 24, 32
SLOTS = 40
_SPINS = 4096  # pause-spins before a wait starts yielding (~100-200 us)


def new_sync():
    """A zeroed sync array."""
    return np.zeros(SLOTS, np.int64)


def _slot_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


@intrinsic
def atomic_store(typingctx, array, index, value):
    """array[index] = value, an atomic store with release order (int64 arrays)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None
    sig = types.void(array, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _slot_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """array[index], an atomic load with acquire order (int64 arrays)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None
    sig = types.int64(array, types.intp)

    def codegen(context, builder, signature, args):
        ptr = _slot_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def fetch_add(typingctx, array, index, value):
    """old = array[index]; array[index] += value, atomically (acquire-release); returns old
    (int64 arrays)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None
    sig = types.int64(array, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        ptr = _slot_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "acq_rel")

    return sig, codegen


@intrinsic
def _pause(typingctx):
    """The x86 pause instruction (a polite spin)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                            "llvm.x86.sse2.pause")
        builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _sched_yield(typingctx):
    """libc's sched_yield(): give the CPU to another runnable thread."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def publish(sync, slot, value):
    """sync[slot] = value, visible to the other thread with everything written before."""
    atomic_store(sync, slot, value)


@njit(cache=True, nogil=True)
def wait_for(sync, slot, value):
    """Wait until sync[slot] >= value; False if ABORT was raised first."""
    spins = 0
    while atomic_load(sync, slot) < value:
        if atomic_load(sync, ABORT) != 0:
            return False
        if spins < _SPINS:
            spins += 1
            _pause()
        else:
            _sched_yield()
    return True


@njit(cache=True, nogil=True)
def wait_flag(sync, slot):
    """Wait until sync[slot] != 0, whatever ABORT says (to see the other side finish)."""
    spins = 0
    while atomic_load(sync, slot) == 0:
        if spins < _SPINS:
            spins += 1
            _pause()
        else:
            _sched_yield()


@njit(cache=True, nogil=True)
def aborted(sync):
    """Whether ABORT was raised."""
    return atomic_load(sync, ABORT) != 0
