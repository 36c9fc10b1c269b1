"""A register-blocked GEMM for the recurrent products, with the weight matrix packed once.

The per-step product of a recurrent layer is ``out (R, N) = a (R, K) @ W' (K, N)`` with the
batch in the rows of ``a`` (R = B: a is x_t or h_{t-1} in the forward, the gate gradients in
the backward) and W' the same for all T steps (W_ih^T, W_hh^T forward, W_hh backward). A BLAS
re-packs W' at every call; here it is packed once into column panels of P vectors (the last
panel narrower), each stored ``(K, width)`` contiguously, the columns padded with zeros to a
multiple of the vector width V.

V, P and the micro-kernel's rows come from the kernel family (``family``: 512-bit vectors, 8
rows x 3 vectors with AVX-512; 256-bit, 4 x 3 with AVX2 + FMA, whose 16 registers hold 12
accumulators, 3 panel vectors and a broadcast; 128-bit, 8 x 3 on aarch64). Every njit
function here takes the family's token (``family.Family.token``) as its first argument and
is compiled once per family.

A micro-kernel keeps a block of ``rows`` rows by ``c`` vectors of columns (c <= P) in
registers while it runs over k: per k it loads the ``c`` vectors of the panel's row k,
broadcasts each row's entry a[r, k] (read from ``a`` in place: no packing of the per-step
operand) and issues ``rows c`` fused multiply-adds. It is written as LLVM vector code
(``<V x float>``), so it uses the family's vector width whatever the auto-vectoriser prefers.
A block of fewer rows re-reads its last row in place of the missing ones and stores only the
real ones. Variants start from the output's values (accumulate) and read ``a`` through any
strides.

``packed_matmul``: out = / += a @ W' over packed panels, blocked over K and the rows as in
Goto's GEMM; ``out`` must have room for the padded columns (``padded_cols(N)``), which
receive zeros. ``packed_matvec`` / ``packed_row``: the same for one row (one sequence),
through a kernel that keeps ``SPLIT`` partial sums per output vector instead of rows.
``add_product``: out += a @ b with b read in place (the per-step weight gradients, a = x_t^T
or h_{t-1}^T). The layers use them when the active family is a packed one; with ``blas``
the kernels call BLAS.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic

from . import family as families


def _family(fam):
    """The Family of a token: a Family, None (the active one), or the token array."""
    if fam is None:
        return families.active()
    if isinstance(fam, families.Family):
        return fam
    return families.BY_TAG[np.ndim(fam)]


def vector_width(dtype, fam=None):
    """V: elements of ``dtype`` per vector of the family (default: the active one)."""
    return _family(fam).vector_width(dtype)


def padded_cols(N, dtype, fam=None):
    """N rounded up to a multiple of the vector width: the columns a packed product writes."""
    return _family(fam).padded_cols(N, dtype)


def pack(w, fam=None):
    """W' (K, N) -> its column panels as one flat array (zero-padded to ``padded_cols(N)``),
    starting on a 64-byte boundary (a vector load that straddles two cache lines costs two;
    numpy aligns to 16 bytes). Panel q covers columns [P V q, P V q + width) and sits at
    offset P V q K, (K, width). fam: a packed family (default: the active one)."""
    f = _family(fam)
    K, N = w.shape
    return _pack(w, K * f.padded_cols(N, w.dtype), f.panel_vectors * f.vector_width(w.dtype))


def _family_of_token(fam):
    """The Family a token's numba type stands for, or None."""
    if isinstance(fam, types.Array) and fam.dtype == types.int8:
        return families.BY_TAG.get(fam.ndim)
    return None


@intrinsic
def geometry(typingctx, fam, a):
    """(V, rows, P) of the family ``fam`` (a token) for ``a``'s dtype, as constants."""
    spec = _family_of_token(fam)
    if spec is None or not isinstance(a, types.Array):
        return None
    values = (spec.vector_bytes * 8 // a.dtype.bitwidth, spec.rows, spec.panel_vectors)
    sig = types.UniTuple(types.intp, 3)(fam, a)

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        return context.make_tuple(builder, signature.return_type,
                                  [ir.Constant(intp, v) for v in values])

    return sig, codegen


@njit(cache=True, error_model="numpy", nogil=True)
def pack_panels(fam, w):
    """``pack`` called from a kernel (the worker thread packs its own operands)."""
    K, N = w.shape
    V, _, P = geometry(fam, w)
    return _pack(w, K * (-(-N // V) * V), P * V)


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


def _typing(fam, a, b, c):
    """Typing check shared by the intrinsics: a family token and three arrays of one float
    dtype. Returns the Family or None."""
    spec = _family_of_token(fam)
    ok = (all(isinstance(t, types.Array) for t in (a, b, c))
          and a.dtype in (types.float32, types.float64)
          and b.dtype == a.dtype and c.dtype == a.dtype)
    return spec if ok else None


def _vector_env(context, builder, spec, array_types, array_values):
    """What the intrinsics' code generators share: the element type, vector width V and
    ``<V x elem>`` type, LLVM's vector fma, the arrays' data pointers and intp."""
    a_t = array_types[0]
    elem = context.get_value_type(a_t.dtype)
    bits = a_t.dtype.bitwidth
    width = spec.vector_bytes * 8 // bits
    vec = ir.VectorType(elem, width)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{width}f{bits}")
    ptrs = [context.make_array(t)(context, builder, v).data
            for t, v in zip(array_types, array_values, strict=True)]
    return elem, width, vec, fma, ptrs, context.get_value_type(types.intp)


def _splat(builder, vec, width, scalar):
    """A vector with every lane = scalar."""
    undef = ir.Constant(vec, ir.Undefined)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
    return builder.shuffle_vector(
        builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0)), undef, mask)


def _switch_on_vectors(builder, vectors, most, emit):
    """Emit ``emit(c)`` for c = 1 .. most, each in its own block, and run the one for
    c = ``vectors`` (a runtime intp; other values do nothing)."""
    done = builder.append_basic_block("vectors.done")
    switch = builder.switch(vectors, done)
    for c in range(1, most + 1):
        block = builder.append_basic_block(f"vectors.{c}")
        switch.add_case(ir.Constant(vectors.type, c), block)
        builder.position_at_end(block)
        emit(c)
        builder.branch(done)
    builder.position_at_end(done)


def _vec_at(builder, ptr, index, vec):
    """The ``<V x elem>`` pointer at element ``index`` of ``ptr``."""
    return builder.bitcast(builder.gep(ptr, [index]), vec.as_pointer())


def _micro_kernel(accumulate, unit_k):
    """An intrinsic ``micro(fam, cols, a, a_off, lda, ka, b, b_off, ldb, K, c, c_off, ldc,
    rows)``: for the ``rows`` (<= the family's rows R) rows of ``a`` starting at element
    ``a_off`` of its data (a[r, k] at ``a_off + r lda + k ka``; ``unit_k``: ka is taken as 1)
    and the ``cols`` (1 .. P) vectors of a panel starting at element ``b_off`` of ``b``'s
    data (row stride ``ldb``), write C[r, :] = sum_k a[r, k] b[k, :] (``accumulate``: add it
    to C[r, :]) at element ``c_off + r ldc`` of ``c``'s data. The arrays are addressed
    through their data pointers (any shape; the caller's offsets must stay inside)."""

    @intrinsic
    def micro(typingctx, fam, cols, a, a_off, lda, ka, b, b_off, ldb, K, c, c_off, ldc, rows):
        spec = _typing(fam, a, b, c)
        if spec is None:
            return None
        intp = types.intp
        sig = types.void(fam, intp, a, intp, intp, intp, b, intp, intp, intp, c, intp, intp,
                         intp)

        def codegen(context, builder, signature, args):
            (_, cols_v, a_arr, a_off_v, lda_v, ka_v, b_arr, b_off_v, ldb_v, k_v, c_arr,
             c_off_v, ldc_v, rows_v) = args
            elem, width, vec, fma, (a_ptr, b_ptr, c_ptr), intp_t = _vector_env(
                context, builder, spec, [signature.args[i] for i in (2, 6, 10)],
                (a_arr, b_arr, c_arr))
            R = spec.rows  # noqa: N806

            def const(v):
                return ir.Constant(intp_t, v)

            zero_vec = ir.Constant(vec, [ir.Constant(elem, 0.0)] * width)
            # Each row's start in a; rows past ``rows`` re-read the last real row.
            last = builder.sub(rows_v, const(1))
            starts = []
            for r in range(R):
                real = builder.icmp_signed("<", const(r), rows_v)
                row = builder.select(real, const(r), last)
                starts.append(builder.add(a_off_v, builder.mul(row, lda_v)))

            def emit(ncols):
                accs = []
                for r in range(R):
                    for _ in range(ncols):
                        slot = cgutils.alloca_once(builder, vec)
                        builder.store(zero_vec, slot)
                        accs.append(slot)
                    if accumulate:  # start from C's real rows
                        real = builder.icmp_signed(">", rows_v, const(r))
                        with builder.if_then(real):
                            row = builder.add(c_off_v, builder.mul(ldc_v, const(r)))
                            for j in range(ncols):
                                p = _vec_at(builder, c_ptr, builder.add(row, const(j * width)),
                                            vec)
                                builder.store(builder.load(p, align=4), accs[r * ncols + j])
                with cgutils.for_range(builder, k_v) as loop:
                    k = loop.index
                    b_row = builder.add(b_off_v, builder.mul(k, ldb_v))
                    bv = [builder.load(_vec_at(builder, b_ptr,
                                               builder.add(b_row, const(j * width)), vec),
                                       align=4)
                          for j in range(ncols)]
                    a_k = k if unit_k else builder.mul(k, ka_v)
                    for r in range(R):
                        s = builder.load(builder.gep(a_ptr, [builder.add(starts[r], a_k)]))
                        sv = _splat(builder, vec, width, s)
                        for j in range(ncols):
                            slot = accs[r * ncols + j]
                            builder.store(builder.call(fma, [sv, bv[j], builder.load(slot)]),
                                          slot)
                for r in range(R):
                    real = builder.icmp_signed(">", rows_v, const(r))
                    with builder.if_then(real):
                        row = builder.add(c_off_v, builder.mul(ldc_v, const(r)))
                        for j in range(ncols):
                            p = _vec_at(builder, c_ptr, builder.add(row, const(j * width)), vec)
                            builder.store(builder.load(accs[r * ncols + j]), p, align=4)

            _switch_on_vectors(builder, cols_v, spec.panel_vectors, emit)
            return context.get_dummy_value()

        return sig, codegen

    return micro


SPLIT = 4  # partial sums over k per output vector in the one-row kernel


def _row_kernel(accumulate, split=SPLIT):
    """An intrinsic ``row(fam, cols, a, a_off, ka, b, b_off, ldb, K, c, c_off)``: for one row
    of ``a`` (a[k] at element ``a_off + k ka`` of its data) and the ``cols`` (1 .. P) vectors
    of a panel starting at element ``b_off`` of ``b``'s data (row stride ``ldb``), write c[:]
    = sum_k a[k] b[k, :] (``accumulate``: add it to c) at element ``c_off`` of ``c``'s data.

    With one row the micro-kernel above would run one chain of K dependent fused
    multiply-adds per output vector (latency-bound) and compute R - 1 rows for nothing; here
    each output vector gets ``split`` partial sums (k mod split), added together at the end."""
    SPLIT = split  # noqa: N806

    @intrinsic
    def row(typingctx, fam, cols, a, a_off, ka, b, b_off, ldb, K, c, c_off):
        spec = _typing(fam, a, b, c)
        if spec is None:
            return None
        intp = types.intp
        sig = types.void(fam, intp, a, intp, intp, b, intp, intp, intp, c, intp)

        def codegen(context, builder, signature, args):
            _, cols_v, a_arr, a_off_v, ka_v, b_arr, b_off_v, ldb_v, k_v, c_arr, c_off_v = args
            elem, width, vec, fma, (a_ptr, b_ptr, c_ptr), intp_t = _vector_env(
                context, builder, spec, [signature.args[i] for i in (2, 5, 9)],
                (a_arr, b_arr, c_arr))

            def const(v):
                return ir.Constant(intp_t, v)

            zero_vec = ir.Constant(vec, [ir.Constant(elem, 0.0)] * width)

            def emit(ncols):
                accs = []  # accs[u * ncols + j]: partial sum u of output vector j
                for _ in range(SPLIT * ncols):
                    slot = cgutils.alloca_once(builder, vec)
                    builder.store(zero_vec, slot)
                    accs.append(slot)

                def add_terms(k, u):  # partial sum u += a[k] b[k, :]
                    b_row = builder.add(b_off_v, builder.mul(k, ldb_v))
                    s = builder.load(builder.gep(a_ptr, [builder.add(a_off_v,
                                                                     builder.mul(k, ka_v))]))
                    sv = _splat(builder, vec, width, s)
                    for j in range(ncols):
                        bv = builder.load(_vec_at(builder, b_ptr,
                                                  builder.add(b_row, const(j * width)), vec),
                                          align=4)
                        slot = accs[u * ncols + j]
                        builder.store(builder.call(fma, [sv, bv, builder.load(slot)]), slot)

                full = builder.sdiv(k_v, const(SPLIT))
                with cgutils.for_range(builder, full) as loop:
                    k0 = builder.mul(loop.index, const(SPLIT))
                    for u in range(SPLIT):
                        add_terms(builder.add(k0, const(u)), u)
                tail = builder.sub(k_v, builder.mul(full, const(SPLIT)))
                with cgutils.for_range(builder, tail) as loop:
                    add_terms(builder.add(builder.mul(full, const(SPLIT)), loop.index), 0)
                for j in range(ncols):
                    p = _vec_at(builder, c_ptr, builder.add(c_off_v, const(j * width)), vec)
                    total = builder.load(accs[j])
                    for u in range(1, SPLIT):
                        total = builder.fadd(total, builder.load(accs[u * ncols + j]))
                    if accumulate:
                        total = builder.fadd(builder.load(p, align=4), total)
                    builder.store(total, p, align=4)

            _switch_on_vectors(builder, cols_v, spec.panel_vectors, emit)
            return context.get_dummy_value()

        return sig, codegen

    return row


_row, _row_acc = _row_kernel(False), _row_kernel(True)


@njit(cache=True, error_model="numpy", inline="always")
def packed_row(fam, a, a_off, ka, K, wp, out, c_off, accumulate):
    """out[c_off:c_off + Np] = a' @ W' (``accumulate``: +=) for one row a' of K elements,
    a'[k] = element ``a_off + k ka`` of a's data: a row read in place from an array of any
    shape (no view is made: inside a kernel's time loop every view costs a reference count
    taken and dropped, ~6 ns each). K >= 1 (with K = 0 the panels are empty and do not tell
    N). wp: ``pack(W')`` of W' (K, N) for family ``fam``; out: any array whose data holds
    Np = padded_cols(N) contiguous elements from element c_off."""
    V, _, P = geometry(fam, a)
    Np = wp.size // K
    q0 = 0
    while q0 < Np:
        width = min(P * V, Np - q0)
        if accumulate:
            _row_acc(fam, width // V, a, a_off, ka, wp, q0 * K, width, K, out, c_off + q0)
        else:
            _row(fam, width // V, a, a_off, ka, wp, q0 * K, width, K, out, c_off + q0)
        q0 += width


@njit(cache=True, error_model="numpy", inline="always")
def packed_matvec(fam, a, wp, out, accumulate=False):
    """out[:Np] = a @ W' (``accumulate``: +=) for one row: a: (K,), any stride; wp:
    ``pack(W')`` of W' (K, N); out: (>= Np,) contiguous, Np = padded_cols(N) (K = 0: all of
    out is set to zero). See ``packed_row``."""
    if a.shape[0] == 0:
        if not accumulate:
            out[:] = 0
        return
    packed_row(fam, a, 0, a.strides[0] // a.itemsize, a.shape[0], wp, out, 0, accumulate)


# (accumulate, a unit-stride along k): the ones the drivers below use
_mm, _mm_acc, _mm_strided = (_micro_kernel(False, True), _micro_kernel(True, True),
                             _micro_kernel(True, False))
K_BLOCK = 256  # rows of a panel per pass (3 V x 256 float32 with AVX-512: 48 KB, L1 data)
M_BLOCK = 128  # rows of ``a`` per pass over the panels (128 x 256 float32: 128 KB, in L2)


@njit(cache=True, error_model="numpy")
def packed_matmul(fam, a, wp, out, accumulate=False):
    """out[:, :Np] = a @ W' (``accumulate``: out[:, :Np] += a @ W'). a: (R, K) with contiguous
    rows (any row stride); wp: ``pack(W')`` of W' (K, N) for family ``fam``; out: (R, >= Np)
    with contiguous rows, Np = padded_cols(N) = wp.size / K.

    Blocked as in Goto's GEMM: K in chunks of ``K_BLOCK`` (a panel's chunk stays in L1 while
    every row block uses it), the rows of a in chunks of ``M_BLOCK`` (which stay in L2 while
    every panel passes), the panels within, the family's rows at a time innermost."""
    R, K = a.shape
    if R == 0:
        return
    if K == 0:
        if not accumulate:
            out[:, :] = 0
        return
    V, ROWS, P = geometry(fam, a)  # noqa: N806
    Np = wp.size // K
    lda, ldc = a.strides[0] // a.itemsize, out.strides[0] // out.itemsize
    for k0 in range(0, K, K_BLOCK):
        kl = min(K_BLOCK, K - k0)
        acc = accumulate or k0 > 0
        for m0 in range(0, R, M_BLOCK):
            m1 = min(R, m0 + M_BLOCK)
            q0 = 0
            while q0 < Np:
                width = min(P * V, Np - q0)
                b_off = q0 * K + k0 * width
                for r0 in range(m0, m1, ROWS):
                    rows = min(ROWS, m1 - r0)
                    if acc:
                        _mm_acc(fam, width // V, a, r0 * lda + k0, lda, 1, wp, b_off, width,
                                kl, out, r0 * ldc + q0, ldc, rows)
                    else:
                        _mm(fam, width // V, a, r0 * lda + k0, lda, 1, wp, b_off, width, kl,
                            out, r0 * ldc + q0, ldc, rows)
                q0 += width


@njit(cache=True, error_model="numpy")
def add_product(fam, a, b, out):
    """out[:, :N] += a @ b with b read in place (no packing): a: (R, K), any strides; b:
    (K, N) with contiguous rows, N a multiple of the family's vector width; out: (R, >= N)
    with contiguous rows. For short K (the batch: the weight gradients summed step by step)."""
    R, K = a.shape
    N = b.shape[1]
    if R == 0 or K == 0:
        return
    V, ROWS, P = geometry(fam, a)  # noqa: N806
    lda, ka = a.strides[0] // a.itemsize, a.strides[1] // a.itemsize
    ldb, ldc = b.strides[0] // b.itemsize, out.strides[0] // out.itemsize
    q0 = 0
    while q0 < N:
        width = min(P * V, N - q0)
        for r0 in range(0, R, ROWS):
            _mm_strided(fam, width // V, a, r0 * lda, lda, ka, b, q0, ldb, K, out,
                        r0 * ldc + q0, ldc, min(ROWS, R - r0))
        q0 += width


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def packed_product(fam, wp, a, out, accumulate):
    """out[:, :Np] (+)= a @ W' through the packed panels wp (the one-row kernel for one row).
    a: (R, K), K >= 1, contiguous rows; out: (R, >= Np) with contiguous rows."""
    if a.shape[0] == 1:
        packed_row(fam, a, 0, a.strides[1] // a.itemsize, a.shape[1], wp, out, 0, accumulate)
    else:
        packed_matmul(fam, a, wp, out, accumulate)
