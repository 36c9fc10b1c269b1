"""A register-blocked GEMM for the recurrent products, with the weight matrix packed once.

The per-step product of a recurrent layer is ``out (R, N) = a (R, K) @ W' (K, N)`` with the
batch in the rows of ``a`` (R = B: a is x_t or h_{t-1} in the forward, the gate gradients in
the backward) and W' the same for all T steps (W_ih^T, W_hh^T forward, W_hh backward). A BLAS
re-packs W' at every call; here it is packed once per call of the layer into column panels
of 3 vectors (the last panel 2 or 1 vector wide), each stored ``(K, width)`` contiguously, the
columns padded with zeros to a multiple of the vector width V (16 float32 / 8 float64, one
AVX-512 register).

A micro-kernel keeps a block of 8 rows by ``c`` vectors of columns (c = 3: 24 accumulators) in
registers while it runs over k: per k it loads the ``c`` vectors of the panel's row k,
broadcasts each of the 8 rows' entry a[r, k] (read from ``a`` in place: 8 sequential streams,
no packing of the per-step operand) and issues ``8 c`` fused multiply-adds. It is written as
LLVM vector code (``<V x float>``), so it uses the full vector width whatever the
auto-vectoriser prefers (numba's stays at 256 bits on this CPU). A block of fewer than 8 rows
re-reads its last row in place of the missing ones and stores only the real ones. Variants
start from the output's values (accumulate) and read ``a`` through any strides.

``packed_matmul``: out = / += a @ W' over packed panels, blocked over K and the rows as in
Goto's GEMM; ``out`` must have room for the padded columns (``padded_cols(N)``), which
receive zeros. ``packed_matvec``: the same for one row (one sequence), through a kernel that
keeps ``SPLIT`` partial sums per output vector instead of 8 rows. ``add_product``: out += a @
b with b read in place (the per-step weight gradients, a = x_t^T or h_{t-1}^T). Used only
where the CPU has AVX-512 (``AVAILABLE``); elsewhere the kernels call BLAS.
"""

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic

AVAILABLE = bool(llvm.get_host_cpu_features().get("avx512f", False))
ROWS = 8  # rows of ``a`` per micro-kernel call
PANEL_VECTORS = 3  # vectors of columns per full panel


def vector_width(dtype):
    """V: elements of ``dtype`` per AVX-512 register."""
    return 64 // np.dtype(dtype).itemsize


def padded_cols(N, dtype):
    """N rounded up to a multiple of the vector width: the columns a packed product writes."""
    V = vector_width(dtype)
    return -(-N // V) * V


def pack(w):
    """W' (K, N) -> its column panels as one flat array (zero-padded to ``padded_cols(N)``),
    starting on a 64-byte boundary (a vector load that straddles two cache lines costs two;
    numpy aligns to 16 bytes). Panel q covers columns [3 V q, 3 V q + width) and sits at
    offset 3 V q K, (K, width)."""
    K, N = w.shape
    return _pack(w, K * padded_cols(N, w.dtype), PANEL_VECTORS * vector_width(w.dtype))


@njit(cache=True, error_model="numpy", nogil=True)
def pack_panels(w):
    """``pack`` called from a kernel (the worker thread packs its own operands)."""
    K, N = w.shape
    V = 64 // w.itemsize
    return _pack(w, K * (-(-N // V) * V), PANEL_VECTORS * V)


@njit(cache=True, error_model="numpy", nogil=True)
def _pack(w, size, full):
    """``pack``: w (K, N), any strides, into a new (size,) array of panels of ``full``
    columns."""
    K, N = w.shape
    spare = 64 // w.itemsize
    buf = np.zeros(size + spare, w.dtype)
    start = (-buf.ctypes.data % 64) // w.itemsize
    out = buf[start:start + size]
    Np = size // K if K > 0 else 0
    by_columns = w.strides[0] < w.strides[1]  # e.g. W^T of a C array: read along k
    for q0 in range(0, Np, full):
        width = min(full, Np - q0)
        n = min(width, N - q0)
        # Unsigned indices: numba then skips its negative-index wraparound, and the copies
        # vectorise (measured: 9x faster).
        panel = uint64(q0 * K)
        if by_columns:
            for j in range(n):
                col = uint64(q0 + j)
                for k in range(K):
                    out[panel + uint64(k * width + j)] = w[uint64(k), col]
        else:
            for k in range(K):
                base, src = panel + uint64(k * width), uint64(q0)
                for j in range(n):
                    out[base + uint64(j)] = w[uint64(k), src + uint64(j)]
    return out


def _same_float_arrays(a, b, c):
    """Typing check shared by the intrinsics: three arrays of one float dtype."""
    return (all(isinstance(t, types.Array) for t in (a, b, c))
            and a.dtype in (types.float32, types.float64)
            and b.dtype == a.dtype and c.dtype == a.dtype)


def _vector_env(context, builder, array_types, array_values):
    """What the intrinsics' code generators share: the element type, vector width V and
    ``<V x elem>`` type, LLVM's vector fma, the arrays' data pointers and intp."""
    a_t = array_types[0]
    elem = context.get_value_type(a_t.dtype)
    width = 16 if a_t.dtype == types.float32 else 8
    vec = ir.VectorType(elem, width)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]),
        f"llvm.fma.v{width}f{32 if width == 16 else 64}")
    ptrs = [context.make_array(t)(context, builder, v).data
            for t, v in zip(array_types, array_values, strict=True)]
    return elem, width, vec, fma, ptrs, context.get_value_type(types.intp)


def _splat(builder, vec, width, scalar):
    """A vector with every lane = scalar."""
    undef = ir.Constant(vec, ir.Undefined)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
    return builder.shuffle_vector(
        builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0)), undef, mask)


def _micro_kernel(cols, accumulate, unit_k):
    """An intrinsic ``micro(a, a_off, lda, ka, b, b_off, ldb, K, c, c_off, ldc, rows)``: for
    the ``rows`` (<= 8) rows of ``a`` starting at element ``a_off`` of its data (a[r, k] at
    ``a_off + r lda + k ka``; ``unit_k``: ka is taken as 1) and the ``cols`` vectors of a panel
    starting at element ``b_off`` of ``b``'s data (row stride ``ldb``), write C[r, :] =
    sum_k a[r, k] b[k, :] (``accumulate``: add it to C[r, :]) at element ``c_off + r ldc`` of
    ``c``'s data. The arrays are addressed through their data pointers (any shape; the
    caller's offsets must stay inside)."""

    @intrinsic
    def micro(typingctx, a, a_off, lda, ka, b, b_off, ldb, K, c, c_off, ldc, rows):
        if not _same_float_arrays(a, b, c):
            return None
        sig = types.void(a, types.intp, types.intp, types.intp, b, types.intp, types.intp,
                         types.intp, c, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            (a_arr, a_off_v, lda_v, ka_v, b_arr, b_off_v, ldb_v, k_v, c_arr, c_off_v, ldc_v,
             rows_v) = args
            elem, width, vec, fma, (a_ptr, b_ptr, c_ptr), intp = _vector_env(
                context, builder, [signature.args[i] for i in (0, 4, 8)], (a_arr, b_arr, c_arr))
            zero_vec = ir.Constant(vec, [ir.Constant(elem, 0.0)] * width)
            accs = []
            for r in range(ROWS):
                for _ in range(cols):
                    slot = cgutils.alloca_once(builder, vec)
                    builder.store(zero_vec, slot)
                    accs.append(slot)
                if accumulate:  # start from C's real rows
                    real = builder.icmp_signed(">", rows_v, ir.Constant(intp, r))
                    with builder.if_then(real):
                        row = builder.add(c_off_v, builder.mul(ldc_v, ir.Constant(intp, r)))
                        for j in range(cols):
                            p = builder.gep(c_ptr, [builder.add(row, ir.Constant(intp,
                                                                                 j * width))])
                            builder.store(builder.load(builder.bitcast(p, vec.as_pointer()),
                                                       align=4), accs[r * cols + j])
            # Each row's start in a; rows past ``rows`` re-read the last real row.
            last = builder.sub(rows_v, ir.Constant(intp, 1))
            starts = []
            for r in range(ROWS):
                real = builder.icmp_signed("<", ir.Constant(intp, r), rows_v)
                row = builder.select(real, ir.Constant(intp, r), last)
                starts.append(builder.add(a_off_v, builder.mul(row, lda_v)))
            with cgutils.for_range(builder, k_v) as loop:
                k = loop.index
                b_row = builder.add(b_off_v, builder.mul(k, ldb_v))
                bv = []
                for j in range(cols):
                    p = builder.gep(b_ptr, [builder.add(b_row, ir.Constant(intp, j * width))])
                    bv.append(builder.load(builder.bitcast(p, vec.as_pointer()), align=4))
                a_k = k if unit_k else builder.mul(k, ka_v)
                for r in range(ROWS):
                    s = builder.load(builder.gep(a_ptr, [builder.add(starts[r], a_k)]))
                    sv = _splat(builder, vec, width, s)
                    for j in range(cols):
                        slot = accs[r * cols + j]
                        builder.store(builder.call(fma, [sv, bv[j], builder.load(slot)]), slot)
            for r in range(ROWS):
                real = builder.icmp_signed(">", rows_v, ir.Constant(intp, r))
                with builder.if_then(real):
                    row = builder.add(c_off_v, builder.mul(ldc_v, ir.Constant(intp, r)))
                    for j in range(cols):
                        p = builder.gep(c_ptr, [builder.add(row, ir.Constant(intp, j * width))])
                        builder.store(builder.load(accs[r * cols + j]),
                                      builder.bitcast(p, vec.as_pointer()), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return micro


SPLIT = 4  # partial sums over k per output vector in the one-row kernel


def _row_kernel(cols, accumulate, split=SPLIT):
    """An intrinsic ``row(a, a_off, ka, b, b_off, ldb, K, c, c_off)``: for one row of ``a``
    (a[k] at element ``a_off + k ka`` of its data) and the ``cols`` vectors of a panel
    starting at element ``b_off`` of ``b``'s data (row stride ``ldb``), write c[:] = sum_k
    a[k] b[k, :] (``accumulate``: add it to c) at element ``c_off`` of ``c``'s data.

    With one row the micro-kernel above would run one chain of K dependent fused
    multiply-adds per output vector (latency-bound) and compute 7 rows for nothing; here each
    output vector gets ``split`` partial sums (k mod split), added together at the end."""
    SPLIT = split  # noqa: N806

    @intrinsic
    def row(typingctx, a, a_off, ka, b, b_off, ldb, K, c, c_off):
        if not _same_float_arrays(a, b, c):
            return None
        sig = types.void(a, types.intp, types.intp, b, types.intp, types.intp, types.intp, c,
                         types.intp)

        def codegen(context, builder, signature, args):
            a_arr, a_off_v, ka_v, b_arr, b_off_v, ldb_v, k_v, c_arr, c_off_v = args
            elem, width, vec, fma, (a_ptr, b_ptr, c_ptr), intp = _vector_env(
                context, builder, [signature.args[i] for i in (0, 3, 7)], (a_arr, b_arr, c_arr))

            def const(v):
                return ir.Constant(intp, v)

            zero_vec = ir.Constant(vec, [ir.Constant(elem, 0.0)] * width)
            accs = []  # accs[u * cols + j]: partial sum u of output vector j
            for _ in range(SPLIT * cols):
                slot = cgutils.alloca_once(builder, vec)
                builder.store(zero_vec, slot)
                accs.append(slot)

            def add_terms(k, u):  # partial sum u += a[k] b[k, :]
                b_row = builder.add(b_off_v, builder.mul(k, ldb_v))
                s = builder.load(builder.gep(a_ptr, [builder.add(a_off_v,
                                                                 builder.mul(k, ka_v))]))
                sv = _splat(builder, vec, width, s)
                for j in range(cols):
                    p = builder.gep(b_ptr, [builder.add(b_row, const(j * width))])
                    bv = builder.load(builder.bitcast(p, vec.as_pointer()), align=4)
                    slot = accs[u * cols + j]
                    builder.store(builder.call(fma, [sv, bv, builder.load(slot)]), slot)

            full = builder.sdiv(k_v, const(SPLIT))
            with cgutils.for_range(builder, full) as loop:
                k0 = builder.mul(loop.index, const(SPLIT))
                for u in range(SPLIT):
                    add_terms(builder.add(k0, const(u)), u)
            with cgutils.for_range(builder, builder.sub(k_v, builder.mul(full, const(SPLIT)))
                                   ) as loop:
                add_terms(builder.add(builder.mul(full, const(SPLIT)), loop.index), 0)
            for j in range(cols):
                p = builder.bitcast(builder.gep(c_ptr, [builder.add(c_off_v,
                                                                    const(j * width))]),
                                    vec.as_pointer())
                total = builder.load(accs[j])
                for u in range(1, SPLIT):
                    total = builder.fadd(total, builder.load(accs[u * cols + j]))
                if accumulate:
                    total = builder.fadd(builder.load(p, align=4), total)
                builder.store(total, p, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return row


_r3, _r3a = _row_kernel(3, False), _row_kernel(3, True)
_r2, _r2a = _row_kernel(2, False), _row_kernel(2, True)
_r1, _r1a = _row_kernel(1, False), _row_kernel(1, True)


@njit(cache=True, error_model="numpy", inline="always")
def packed_row(a, a_off, ka, K, wp, out, c_off, accumulate):
    """out[c_off:c_off + Np] = a' @ W' (``accumulate``: +=) for one row a' of K elements,
    a'[k] = element ``a_off + k ka`` of a's data: a row read in place from an array of any
    shape (no view is made: inside a kernel's time loop every view costs a reference count
    taken and dropped, ~6 ns each). K >= 1 (with K = 0 the panels are empty and do not tell
    N). wp: ``pack(W')`` of W' (K, N); out: any array whose data holds Np = padded_cols(N)
    contiguous elements from element c_off."""
    V = 16 if a.itemsize == 4 else 8
    Np = wp.size // K
    q0 = 0
    while q0 < Np:
        width = min(3 * V, Np - q0)
        b_off = q0 * K
        if width == 3 * V:
            if accumulate:
                _r3a(a, a_off, ka, wp, b_off, width, K, out, c_off + q0)
            else:
                _r3(a, a_off, ka, wp, b_off, width, K, out, c_off + q0)
        elif width == 2 * V:
            if accumulate:
                _r2a(a, a_off, ka, wp, b_off, width, K, out, c_off + q0)
            else:
                _r2(a, a_off, ka, wp, b_off, width, K, out, c_off + q0)
        elif accumulate:
            _r1a(a, a_off, ka, wp, b_off, width, K, out, c_off + q0)
        else:
            _r1(a, a_off, ka, wp, b_off, width, K, out, c_off + q0)
        q0 += width


@njit(cache=True, error_model="numpy", inline="always")
def packed_matvec(a, wp, out, accumulate=False):
    """out[:Np] = a @ W' (``accumulate``: +=) for one row: a: (K,), any stride; wp:
    ``pack(W')`` of W' (K, N); out: (>= Np,) contiguous, Np = padded_cols(N) (K = 0: all of
    out is set to zero). See ``packed_row``."""
    if a.shape[0] == 0:
        if not accumulate:
            out[:] = 0
        return
    packed_row(a, 0, a.strides[0] // a.itemsize, a.shape[0], wp, out, 0, accumulate)


# (vectors of columns, accumulate, a unit-stride along k): the ones the drivers below use
_m3, _m3a, _m3s = (_micro_kernel(3, False, True), _micro_kernel(3, True, True),
                   _micro_kernel(3, True, False))
_m2, _m2a, _m2s = (_micro_kernel(2, False, True), _micro_kernel(2, True, True),
                   _micro_kernel(2, True, False))
_m1, _m1a, _m1s = (_micro_kernel(1, False, True), _micro_kernel(1, True, True),
                   _micro_kernel(1, True, False))
K_BLOCK = 256  # rows of a panel per pass (3 V x 256 float32: 48 KB, the L1 data cache)
M_BLOCK = 128  # rows of ``a`` per pass over the panels (128 x 256 float32: 128 KB, in L2)


@njit(cache=True, error_model="numpy")
def _block(a, a_off, lda, wp, b_off, ldb, vectors, kl, out, c_off, ldc, rows, acc):
    """One micro-kernel call (a unit-stride along k) on ``vectors`` (3, 2, 1) vectors."""
    if vectors == 3:
        if acc:
            _m3a(a, a_off, lda, 1, wp, b_off, ldb, kl, out, c_off, ldc, rows)
        else:
            _m3(a, a_off, lda, 1, wp, b_off, ldb, kl, out, c_off, ldc, rows)
    elif vectors == 2:
        if acc:
            _m2a(a, a_off, lda, 1, wp, b_off, ldb, kl, out, c_off, ldc, rows)
        else:
            _m2(a, a_off, lda, 1, wp, b_off, ldb, kl, out, c_off, ldc, rows)
    elif acc:
        _m1a(a, a_off, lda, 1, wp, b_off, ldb, kl, out, c_off, ldc, rows)
    else:
        _m1(a, a_off, lda, 1, wp, b_off, ldb, kl, out, c_off, ldc, rows)


@njit(cache=True, error_model="numpy")
def packed_matmul(a, wp, out, accumulate=False):
    """out[:, :Np] = a @ W' (``accumulate``: out[:, :Np] += a @ W'). a: (R, K) with contiguous
    rows (any row stride); wp: ``pack(W')`` of W' (K, N); out: (R, >= Np) with contiguous
    rows, Np = padded_cols(N) = wp.size / K.

    Blocked as in Goto's GEMM: K in chunks of ``K_BLOCK`` (a panel's chunk stays in L1 while
    every row block uses it), the rows of a in chunks of ``M_BLOCK`` (which stay in L2 while
    every panel passes), the panels within, 8 rows at a time innermost."""
    R, K = a.shape
    if R == 0:
        return
    if K == 0:
        if not accumulate:
            out[:, :] = 0
        return
    V = 16 if a.itemsize == 4 else 8
    Np = wp.size // K
    lda, ldc = a.strides[0] // a.itemsize, out.strides[0] // out.itemsize
    for k0 in range(0, K, K_BLOCK):
        kl = min(K_BLOCK, K - k0)
        acc = accumulate or k0 > 0
        for m0 in range(0, R, M_BLOCK):
            m1 = min(R, m0 + M_BLOCK)
            q0 = 0
            while q0 < Np:
                width = min(3 * V, Np - q0)
                b_off = q0 * K + k0 * width
                for r0 in range(m0, m1, 8):
                    _block(a, r0 * lda + k0, lda, wp, b_off, width, width // V, kl, out,
                           r0 * ldc + q0, ldc, min(8, m1 - r0), acc)
                q0 += width


@njit(cache=True, error_model="numpy")
def add_product(a, b, out):
    """out[:, :N] += a @ b with b read in place (no packing): a: (R, K), any strides; b:
    (K, N) with contiguous rows, N a multiple of the vector width; out: (R, >= N) with
    contiguous rows. For short K (the batch: the weight gradients summed step by step)."""
    R, K = a.shape
    N = b.shape[1]
    if R == 0 or K == 0:
        return
    V = 16 if a.itemsize == 4 else 8
    lda, ka = a.strides[0] // a.itemsize, a.strides[1] // a.itemsize
    ldb, ldc = b.strides[0] // b.itemsize, out.strides[0] // out.itemsize
    q0 = 0
    while q0 < N:
        width = min(3 * V, N - q0)
        for r0 in range(0, R, 8):
            rows = min(8, R - r0)
            if width == 3 * V:
                _m3s(a, r0 * lda, lda, ka, b, q0, ldb, K, out, r0 * ldc + q0, ldc, rows)
            elif width == 2 * V:
                _m2s(a, r0 * lda, lda, ka, b, q0, ldb, K, out, r0 * ldc + q0, ldc, rows)
            else:
                _m1s(a, r0 * lda, lda, ka, b, q0, ldb, K, out, r0 * ldc + q0, ldc, rows)
        q0 += width


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def packed_product(wp, a, out, accumulate):
    """out[:, :Np] (+)= a @ W' through the packed panels wp (the one-row kernel for one row).
    a: (R, K), K >= 1, contiguous rows; out: (R, >= Np) with contiguous rows."""
    if a.shape[0] == 1:
        packed_row(a, 0, a.strides[1] // a.itemsize, a.shape[1], wp, out, 0, accumulate)
    else:
        packed_matmul(a, wp, out, accumulate)
