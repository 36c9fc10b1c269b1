"""A register-blocked GEMM for the recurrent products, with the weight matrix packed once.

The per-step product of a recurrent layer is ``out (M, N) = A (M, K) @ u (K, N)``: A is W_hh
(forward) or W_hh^T (backward), the same for all T steps, and u holds the batch in its
contiguous last axis (N = B). A BLAS re-packs A at every call; here A is packed once per
sequence into panels of 8 rows, ``(M8 / 8, K, 8)`` (row ``m`` of panel ``p`` at ``[p, k, m %
8]``, zero rows padding M up to a multiple of 24), and a micro-kernel keeps a block of
``8 P`` rows by ``c`` vectors of columns in registers while it runs over k: per k it loads the
``c`` vectors of u's row k, broadcasts each of the block's ``8 P`` entries of A and issues
``8 P c`` fused multiply-adds. The micro-kernel is written as LLVM vector code
(``<V x float>``, V = 16 float32 / 8 float64, i.e. one AVX-512 register), so it uses the full
vector width whatever the auto-vectoriser prefers. Column blocks: c = 3 (24 accumulators,
one panel), 2 (16), then 1 (three panels, 24 accumulators); a last partial vector of columns
is run on a zero-padded copy.

It is used only where the CPU has AVX-512 (``AVAILABLE``); elsewhere the kernels call BLAS.
"""

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

AVAILABLE = bool(llvm.get_host_cpu_features().get("avx512f", False))
PANEL = 8  # rows per packed panel
ROW_ALIGN = 24  # packed rows are padded to a multiple of this (three panels)


def packed_rows(M):
    """The number of rows of a packed (M, K) matrix, padding included."""
    return -(-M // ROW_ALIGN) * ROW_ALIGN


def pack(a, out=None):
    """A (M, K) -> its panels (packed_rows(M) / 8, K, 8), zero-padded. ``out`` may be given."""
    M, K = a.shape
    Mp = packed_rows(M)
    if out is None:
        out = np.empty((Mp // PANEL, K, PANEL), a.dtype)
    view = out.reshape(Mp // PANEL, K, PANEL)
    full = M // PANEL
    view[:full] = a[:full * PANEL].reshape(full, PANEL, K).transpose(0, 2, 1)
    if full < Mp // PANEL:
        view[full:] = 0
        rest = M - full * PANEL
        if rest:
            view[full, :, :rest] = a[full * PANEL:].T
    return out


def _micro_kernel(panels, cols):
    """An intrinsic ``micro(a, a_off, b, b_off, ldb, K, c, c_off, ldc, rows)``: for the packed
    panels starting at element offset ``a_off`` of ``a``'s data (``panels`` panels, each (K, 8))
    and the ``cols`` vectors of B's columns starting at element ``b_off`` (row stride ``ldb``
    elements) of ``b``'s data, write C[r, :] = sum_k A[r, k] B[k, :] at element
    ``c_off + r ldc`` of ``c``'s data for the first ``rows`` rows of the block. The arrays are
    addressed through their data pointers (any shape; the caller's offsets must stay inside)."""
    rows_total = panels * PANEL

    @intrinsic
    def micro(typingctx, a, a_off, b, b_off, ldb, K, c, c_off, ldc, rows):
        arrays = (a, b, c)
        if not (all(isinstance(t, types.Array) for t in arrays)
                and a.dtype in (types.float32, types.float64)
                and b.dtype == a.dtype and c.dtype == a.dtype):
            return None
        sig = types.void(a, types.intp, b, types.intp, types.intp, types.intp, c, types.intp,
                         types.intp, types.intp)

        def codegen(context, builder, signature, args):
            a_arr, a_off_v, b_arr, b_off_v, ldb_v, k_v, c_arr, c_off_v, ldc_v, rows_v = args
            a_t, b_t, c_t = signature.args[0], signature.args[2], signature.args[6]
            elem = context.get_value_type(a_t.dtype)
            width = 16 if a_t.dtype == types.float32 else 8
            vec = ir.VectorType(elem, width)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                f"llvm.fma.v{width}f{32 if width == 16 else 64}")
            a_ptr = context.make_array(a_t)(context, builder, a_arr).data
            b_ptr = context.make_array(b_t)(context, builder, b_arr).data
            c_ptr = context.make_array(c_t)(context, builder, c_arr).data
            intp = context.get_value_type(types.intp)
            zero_vec = ir.Constant(vec, [ir.Constant(elem, 0.0)] * width)
            accs = []
            for _ in range(rows_total * cols):
                slot = cgutils.alloca_once(builder, vec)
                builder.store(zero_vec, slot)
                accs.append(slot)
            splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
            undef = ir.Constant(vec, ir.Undefined)
            panel_stride = builder.mul(k_v, ir.Constant(intp, PANEL))
            with cgutils.for_range(builder, k_v) as loop:
                k = loop.index
                b_row = builder.add(b_off_v, builder.mul(k, ldb_v))
                bv = []
                for j in range(cols):
                    p = builder.gep(b_ptr, [builder.add(b_row, ir.Constant(intp, j * width))])
                    bv.append(builder.load(builder.bitcast(p, vec.as_pointer()), align=4))
                a_row = builder.add(a_off_v, builder.mul(k, ir.Constant(intp, PANEL)))
                for p in range(panels):
                    base = builder.add(a_row, builder.mul(panel_stride, ir.Constant(intp, p)))
                    for r in range(PANEL):
                        s = builder.load(builder.gep(a_ptr, [builder.add(
                            base, ir.Constant(intp, r))]))
                        sv = builder.shuffle_vector(
                            builder.insert_element(undef, s, ir.Constant(ir.IntType(32), 0)),
                            undef, splat_mask)
                        for j in range(cols):
                            slot = accs[(p * PANEL + r) * cols + j]
                            builder.store(builder.call(fma, [sv, bv[j], builder.load(slot)]),
                                          slot)
            for r in range(rows_total):
                valid = builder.icmp_signed(">", rows_v, ir.Constant(intp, r))
                with builder.if_then(valid):
                    row = builder.add(c_off_v, builder.mul(ldc_v, ir.Constant(intp, r)))
                    for j in range(cols):
                        p = builder.gep(c_ptr, [builder.add(row, ir.Constant(intp, j * width))])
                        builder.store(builder.load(accs[r * cols + j]),
                                      builder.bitcast(p, vec.as_pointer()), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return micro


_micro_1x3 = _micro_kernel(1, 3)
_micro_1x2 = _micro_kernel(1, 2)
_micro_3x1 = _micro_kernel(3, 1)


@njit(cache=True, error_model="numpy")
def _column_block(ap, M, K, b, b_off, ldb, out, c_col, ldo, vectors):
    """out[:, c_col : c_col + vectors V] = A @ b[:, b_off : b_off + vectors V] over all row
    panels, with the micro-kernel for that many vectors (1: three panels at a time)."""
    step = 3 if vectors == 1 else 1
    for p in range(0, ap.shape[0], step):
        rows = min(step * PANEL, M - p * PANEL)
        if rows <= 0:
            break
        a_off, c_off = p * K * PANEL, p * PANEL * ldo + c_col
        if vectors == 3:
            _micro_1x3(ap, a_off, b, b_off, ldb, K, out, c_off, ldo, rows)
        elif vectors == 2:
            _micro_1x2(ap, a_off, b, b_off, ldb, K, out, c_off, ldo, rows)
        else:
            _micro_3x1(ap, a_off, b, b_off, ldb, K, out, c_off, ldo, rows)


@njit(cache=True, error_model="numpy")
def packed_matmul(ap, M, u, out):
    """out (M, N) = A @ u. ap: ``pack(A)`` of A (M, K), C-contiguous; u: (K, N) and out:
    (M, N) with contiguous rows (any row stride)."""
    K, N = u.shape
    V = 16 if u.itemsize == 4 else 8
    ldu, ldo = u.strides[0] // u.itemsize, out.strides[0] // out.itemsize
    n0 = 0
    while N - n0 >= V:
        # Blocks of 3 vectors of columns, then 2, then 1 (the 1-vector kernel is the slowest:
        # one broadcast per multiply-add); 4 vectors go as 2 + 2, not 3 + 1.
        rest = N - n0
        vectors = 3 if rest >= 3 * V and rest != 4 * V else (2 if rest >= 2 * V else 1)
        _column_block(ap, M, K, u, n0, ldu, out, n0, ldo, vectors)
        n0 += vectors * V
    rest = N - n0
    if rest > 0:  # the last partial vector of columns, on zero-padded copies
        tail_b = np.zeros((K, V), u.dtype)
        tail_c = np.empty((ap.shape[0] * PANEL, V), u.dtype)
        for k in range(K):
            for j in range(rest):
                tail_b[k, j] = u[k, n0 + j]
        _column_block(ap, M, K, tail_b, 0, V, tail_c, 0, V, 1)
        for m in range(M):
            for j in range(rest):
                out[m, n0 + j] = tail_c[m, j]
