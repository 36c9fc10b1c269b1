"""Row kernels of the softmax family over the last axis of 2-D C-contiguous arrays: log_softmax,
softmax, log_softmax's backward, and the fused log_softmax + negative log-likelihood (cross
entropy with class-index targets) forward and backward.

numba's ``np.exp`` is a scalar libm call that stops a loop from vectorising; float32 rows use
``exp32`` below instead (Cephes' range reduction and degree-6 polynomial with fused multiply-adds,
branch-free: it vectorises; relative error < 1.5e-7 over the float32 range, denormal results
included; exp(inf) = inf, exp(-inf) = 0, NaN stays NaN), or ``exp32_nonpositive`` where every
argument is x - max(row) with a finite maximum (about a third fewer vector operations).
float64 rows keep ``np.exp``.

Row maxima and sums run in ``LANES`` independent partial results held in local variables (the
vectoriser may not reorder one running sum without fastmath, and does not vectorise partial sums
kept in an array), indexed with unsigned integers (numba then emits no negative-index
wraparound, which stops the vectoriser); the sums add each block of ``BLOCK`` entries in the
row's dtype and the blocks in float64.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

LANES = 16
BLOCK = 512  # entries per float32 block: 32 per lane before they are added up in float64


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (LLVM's fma: exact, inf/NaN kept)."""
    if not (a == b == c and isinstance(a, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return a(a, b, c), codegen


@intrinsic
def _bits_as_f32(typingctx, i):
    """The float32 whose bit pattern is the int32 ``i``."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@njit(cache=True, error_model="numpy")
def exp32(x):
    """exp of a float32, branch-free (vectorises). exp(x) = 2^k exp(r), r = x - k ln 2."""
    lo, hi = np.float32(-104.0), np.float32(88.75)
    xc = x if x > lo else lo
    xc = xc if xc < hi else hi
    shifter = np.float32(12582912.0)  # 1.5 * 2^23: adding it rounds to an integer
    k = (xc * np.float32(1.44269504) + shifter) - shifter
    r = _fma(k, np.float32(-0.693359375), xc)
    r = _fma(k, np.float32(2.12194440e-4), r)
    p = _fma(np.float32(1.9875691500e-4), r, np.float32(1.3981999507e-3))
    p = _fma(p, r, np.float32(8.3334519073e-3))
    p = _fma(p, r, np.float32(4.1665795894e-2))
    p = _fma(p, r, np.float32(1.6666665459e-1))
    p = _fma(p, r, np.float32(5.0000001201e-1))
    p = _fma(p * r, r, r) + np.float32(1.0)
    ki = np.int32(k)
    half = ki >> np.int32(1)  # 2^k as two factors: k in [-151, 128] stays representable
    s1 = _bits_as_f32((half + np.int32(127)) << np.int32(23))
    s2 = _bits_as_f32((ki - half + np.int32(127)) << np.int32(23))
    y = p * s1 * s2
    y = y if x < hi else np.float32(np.inf)
    y = y if x > lo else np.float32(0.0)
    return y if x == x else x


@njit(cache=True, error_model="numpy")
def exp32_nonpositive(x):
    """exp of a float32 that is <= 0, -inf or NaN (what x - max(row) is when the row's maximum
    is finite): ``exp32`` without the overflow side and with one scale factor, about a third
    fewer vector operations. Results below float32's smallest normal (x < -87.34) are flushed
    to 0 instead of becoming denormals (< 1.2e-38). Wrong for x > 0."""
    lo = np.float32(-87.33654)
    xc = x if x > lo else lo
    shifter = np.float32(12582912.0)
    k = _fma(xc, np.float32(1.44269504), shifter) - shifter
    r = _fma(k, np.float32(-0.693359375), xc)
    r = _fma(k, np.float32(2.12194440e-4), r)
    p = _fma(np.float32(1.9875691500e-4), r, np.float32(1.3981999507e-3))
    p = _fma(p, r, np.float32(8.3334519073e-3))
    p = _fma(p, r, np.float32(4.1665795894e-2))
    p = _fma(p, r, np.float32(1.6666665459e-1))
    p = _fma(p, r, np.float32(5.0000001201e-1))
    p = _fma(p * r, r, r) + np.float32(1.0)
    y = p * _bits_as_f32((np.int32(k) + np.int32(127)) << np.int32(23))
    y = y if x > lo else np.float32(0.0)
    return y if x == x else x


def vexp(x):
    """exp: ``exp32`` for float32, ``np.exp`` otherwise (resolved when a kernel compiles)."""
    return np.exp(x)


@overload(vexp)
def _vexp_impl(x):
    if x == types.float32:
        return lambda x: exp32(x)
    return lambda x: np.exp(x)


def vexp_nonpositive(x):
    """exp of x <= 0 (or -inf, NaN): ``exp32_nonpositive`` for float32, ``np.exp``
    otherwise."""
    return np.exp(x)


@overload(vexp_nonpositive)
def _vexp_nonpositive_impl(x):
    if x == types.float32:
        return lambda x: exp32_nonpositive(x)
    return lambda x: np.exp(x)


@njit(cache=True, error_model="numpy")
def _max16(a, b, c, d, e, f, g, h):
    """The largest of eight values (NaN ignored unless all are NaN)."""
    a = a if a > b else b
    c = c if c > d else d
    e = e if e > f else f
    g = g if g > h else h
    a = a if a > c else c
    e = e if e > g else g
    return a if a > e else e


@njit(cache=True, error_model="numpy")
def row_max(row):
    """The largest entry of a 1-D array (-inf when empty). A NaN entry may or may not be
    returned: callers sum exp(row - max) after it, and the NaN reaches that sum either way.

    Sixteen running maxima (indices unsigned, so numba emits no negative-index wraparound and
    the sixteen lanes vectorise)."""
    n = row.shape[0]
    m = -np.inf
    if n >= LANES:
        z = row[0]
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = z
        for b in range(0, n - LANES + 1, LANES):
            v, w = row[np.uint64(b + 0)], row[np.uint64(b + 8)]
            a0 = v if v > a0 else a0
            b0 = w if w > b0 else b0
            v, w = row[np.uint64(b + 1)], row[np.uint64(b + 9)]
            a1 = v if v > a1 else a1
            b1 = w if w > b1 else b1
            v, w = row[np.uint64(b + 2)], row[np.uint64(b + 10)]
            a2 = v if v > a2 else a2
            b2 = w if w > b2 else b2
            v, w = row[np.uint64(b + 3)], row[np.uint64(b + 11)]
            a3 = v if v > a3 else a3
            b3 = w if w > b3 else b3
            v, w = row[np.uint64(b + 4)], row[np.uint64(b + 12)]
            a4 = v if v > a4 else a4
            b4 = w if w > b4 else b4
            v, w = row[np.uint64(b + 5)], row[np.uint64(b + 13)]
            a5 = v if v > a5 else a5
            b5 = w if w > b5 else b5
            v, w = row[np.uint64(b + 6)], row[np.uint64(b + 14)]
            a6 = v if v > a6 else a6
            b6 = w if w > b6 else b6
            v, w = row[np.uint64(b + 7)], row[np.uint64(b + 15)]
            a7 = v if v > a7 else a7
            b7 = w if w > b7 else b7
        m1 = _max16(a0, a1, a2, a3, a4, a5, a6, a7)
        m2 = _max16(b0, b1, b2, b3, b4, b5, b6, b7)
        m = m1 if m1 > m2 else m2
    for c in range(n - n % LANES if n >= LANES else 0, n):
        v = row[c]
        m = v if v > m else m
    return m


@njit(cache=True, error_model="numpy")
def sum_exp_shifted(row, shift, scratch, nonpositive):
    """sum(exp(row - shift)) of a 1-D array, as a float64. scratch: (>= len(row),) of row's
    dtype, overwritten with the exponentials (one loop that vectorises, then ``row_sum``: the
    vectoriser does not combine sixteen inlined exponentials into one vector). nonpositive:
    ``shift`` is the row's finite maximum, so every argument is <= 0 (or NaN) and the cheaper
    exponential serves."""
    n = row.shape[0]
    if nonpositive:
        for c in range(n):
            scratch[c] = vexp_nonpositive(row[c] - shift)
    else:
        for c in range(n):
            scratch[c] = vexp(row[c] - shift)
    return row_sum(scratch[:n])


@njit(cache=True, error_model="numpy")
def row_sum(row):
    """sum(row) of a 1-D array, as a float64 (summed as in ``sum_exp_shifted``)."""
    n = row.shape[0]
    z = row.dtype.type(0)
    total = 0.0
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        full = stop - (stop - start) % LANES
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = z
        for b in range(start, full, LANES):
            a0 += row[np.uint64(b + 0)]
            b0 += row[np.uint64(b + 8)]
            a1 += row[np.uint64(b + 1)]
            b1 += row[np.uint64(b + 9)]
            a2 += row[np.uint64(b + 2)]
            b2 += row[np.uint64(b + 10)]
            a3 += row[np.uint64(b + 3)]
            b3 += row[np.uint64(b + 11)]
            a4 += row[np.uint64(b + 4)]
            b4 += row[np.uint64(b + 12)]
            a5 += row[np.uint64(b + 5)]
            b5 += row[np.uint64(b + 13)]
            a6 += row[np.uint64(b + 6)]
            b6 += row[np.uint64(b + 14)]
            a7 += row[np.uint64(b + 7)]
            b7 += row[np.uint64(b + 15)]
        total += (float(a0) + float(a1) + float(a2) + float(a3) + float(a4) + float(a5)
                  + float(a6) + float(a7) + float(b0) + float(b1) + float(b2) + float(b3)
                  + float(b4) + float(b5) + float(b6) + float(b7))
        for c in range(full, stop):
            total += row[c]
    return total


@njit(cache=True, error_model="numpy")
def logsumexp_row(row, scratch):
    """log(sum(exp(row))) without overflow: the row's maximum is taken out first (0 when it is
    not finite, as in ``ops.reduce``'s numpy path). Returns a float64. scratch: as in
    ``sum_exp_shifted``."""
    m = row_max(row)
    finite = np.isfinite(m)
    if not finite:
        m = 0.0
    return np.log(sum_exp_shifted(row, row.dtype.type(m), scratch, finite)) + m


@njit(cache=True, error_model="numpy")
def logsumexp_rows(x, out):
    """out[r] = log(sum(exp(x[r]))). x: (R, C), out: (R,) of x's dtype."""
    scratch = np.empty(x.shape[1], x.dtype)
    for r in range(x.shape[0]):
        out[r] = logsumexp_row(x[r], scratch)


@njit(cache=True, error_model="numpy")
def log_softmax_rows(x, out, finite):
    """out[r] = x[r] - logsumexp(x[r]); finite[r] = whether x[r]'s maximum is finite (then
    every out[r] entry is <= 0 or NaN, and the backward may take the cheaper exponential).
    x, out: (R, C); finite: (R,) bool."""
    for r in range(x.shape[0]):
        row, o = x[r], out[r]
        m = row_max(row)
        ok = np.isfinite(m)
        finite[r] = ok
        if not ok:
            m = 0.0
        total = sum_exp_shifted(row, row.dtype.type(m), o, ok)
        lse = x.dtype.type(np.log(total) + m)
        for c in range(row.shape[0]):
            o[c] = row[c] - lse


@njit(cache=True, error_model="numpy")
def softmax_rows(x, out):
    """out[r] = exp(x[r] - max(x[r])) / sum(exp(x[r] - max(x[r]))). x, out: (R, C). A row
    whose maximum is inf or -inf comes out NaN, as from the numpy formula (not sanitised as
    in ``logsumexp_row``)."""
    for r in range(x.shape[0]):
        row, o = x[r], out[r]
        m = row_max(row)
        shift = row.dtype.type(m)
        if np.isfinite(m):
            for c in range(row.shape[0]):
                o[c] = vexp_nonpositive(row[c] - shift)
        else:
            for c in range(row.shape[0]):
                o[c] = vexp(row[c] - shift)
        inv = x.dtype.type(1.0 / row_sum(o))
        for c in range(row.shape[0]):
            o[c] *= inv


@njit(cache=True, error_model="numpy")
def log_softmax_backward_rows(grad_out, y, finite, out):
    """out[r] = grad_out[r] - exp(y[r]) * sum(grad_out[r]): the vector-Jacobian product of
    y = log_softmax(x) along the last axis, given y. finite[r]: y[r] came from a row with a
    finite maximum (so y[r] <= 0: the cheaper exponential serves). grad_out, y, out: (R, C);
    finite: (R,) bool."""
    for r in range(y.shape[0]):
        g, yr, o = grad_out[r], y[r], out[r]
        s = y.dtype.type(row_sum(g))
        if finite[r]:
            for c in range(yr.shape[0]):
                o[c] = g[c] - vexp_nonpositive(yr[c]) * s
        else:
            for c in range(yr.shape[0]):
                o[c] = g[c] - vexp(yr[c]) * s


@njit(cache=True, error_model="numpy")
def cross_entropy_rows(x, target, ignore_index, losses, probs):
    """Fused log_softmax + negative log-likelihood, per row r of the logits x:
    losses[r] = logsumexp(x[r]) - x[r, target[r]] (0 where target[r] == ignore_index) and
    probs[r] = softmax(x[r]) (what the backward needs). x, probs: (R, C); target: (R,) int64
    in [0, C) or ignore_index; losses: (R,) of x's dtype."""
    for r in range(x.shape[0]):
        row, p = x[r], probs[r]
        m = row_max(row)
        finite = np.isfinite(m)
        if not finite:
            m = 0.0
        total = sum_exp_shifted(row, row.dtype.type(m), p, finite)
        inv = row.dtype.type(1.0 / total)
        for c in range(row.shape[0]):
            p[c] *= inv
        t = target[r]
        losses[r] = 0 if t == ignore_index else np.log(total) + m - row[t]


@njit(cache=True, error_model="numpy")
def cross_entropy_backward_rows(probs, target, ignore_index, weight, out):
    """out[r] = weight[r] * (probs[r] - onehot(target[r])); rows whose target is ignore_index
    get no one-hot (their weight is 0). probs, out: (R, C); weight: (R,) of probs' dtype;
    target: (R,) int64."""
    for r in range(probs.shape[0]):
        p, o = probs[r], out[r]
        w = weight[r]
        for c in range(p.shape[0]):
            o[c] = w * p[c]
        t = target[r]
        if t != ignore_index:
            o[t] -= w
