"""``borrow``: an array inside a kernel without its reference count, so that the views a time
loop makes of it cost nothing.

numba counts references to every array it has allocated: each view taken inside a jitted
loop (``states[t, 0]``, ``gates[t][b]``, ``ar[og:og + H]``) increments the count of the
memory it points into and decrements it when the view dies, two atomic operations, ~6 ns
together on this machine. The fused kernels take ~10 such views per sequence row and step:
at one sequence (B = 1) that was a third of the LSTM forward's time per step (measured: 10
row views 50 ns, the same views of a borrowed array 12 ns, indexing without views 4 ns).

A borrowed array is the same array (same data, shape, strides and type) with no owner: its
views are counted against nothing. It is valid only while the array it came from is alive:
use it on a kernel's own arguments (the caller holds them for the whole call), never return
it or store it anywhere that outlives the call.
"""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def borrow(typingctx, array):
    """``array`` without its owner (see the module docstring). Any array type."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(array)(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen
