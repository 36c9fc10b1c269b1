"""Gate activations shared by the fused recurrent kernels.

``sigmoid_act(x)`` and ``tanh_act(x)`` compile differently for the two dtypes:

- float64: exact, ``1 / (1 + exp(-x))`` and ``np.tanh`` (libm; gradchecks need them exact);
- float32: a branch-free rational approximation that vectorises, tanh(x) ~ x P(x^2) / Q(x^2)
  (P of degree 5, Q of degree 4 in x^2) for |x| < 9, exactly +-1 beyond, evaluated with fused
  multiply-adds; sigmoid(x) = 1/2 + tanh(x / 2) / 2. Measured over all float32 in [-10, 10]
  (sampled) and tiny arguments: |error| <= 3.0e-7 for tanh, <= 2.0e-7 for sigmoid, relative
  error <= 2.5e-7 for |x| < 0.01 (numpy's float32 tanh: 0.6e-7). About 0.3 ns per element,
  against ~13 ns for numba's scalar libm call.

NaN propagates through both (the clamps are written so that a NaN compares false and passes
through); +-inf gives +-1 (sigmoid 1 or 0).

The coefficients are a minimax fit of the absolute error on [0, 9], made for this module by
iterated linear programming (scipy.optimize.linprog) on a dense grid, then rounded to float32.

``tanh_array`` / ``sigmoid_array`` apply them to a whole array (for tests and users who want
to measure the approximation).
"""

import numpy as np
from numba import njit, types, uint64
from numba.extending import intrinsic, overload

from .packed import packed_matmul


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (LLVM's fma intrinsic; exact inf/NaN semantics)."""
    if not (a == b == c and isinstance(a, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


_P = [np.float32(v) for v in (0.9999999938680525, 0.13676337320679305, 0.0038639216498870745,
                              2.79231489697457e-05, 3.0400421553178047e-08,
                              -1.2082711828004507e-11)]
_Q = [np.float32(v) for v in (1.0, 0.4700966799672419, 0.02722951516966379,
                              0.00039310268174712673, 1.2817188825954752e-06)]
_P0, _P1, _P2, _P3, _P4, _P5 = _P
_Q0, _Q1, _Q2, _Q3, _Q4 = _Q
_CLAMP = np.float32(9.0)
_ONE32 = np.float32(1.0)
_HALF32 = np.float32(0.5)


def _tanh32(x):
    # NaN: both comparisons are false, so NaN flows through to the result.
    v = _CLAMP if x > _CLAMP else x
    v = -_CLAMP if v < -_CLAMP else v
    s = v * v
    num = fma(fma(fma(fma(fma(_P5, s, _P4), s, _P3), s, _P2), s, _P1), s, _P0)
    den = fma(fma(fma(fma(_Q4, s, _Q3), s, _Q2), s, _Q1), s, _Q0)
    r = v * num / den
    r = _ONE32 if x >= _CLAMP else r
    return -_ONE32 if x <= -_CLAMP else r


def _sigmoid32(x):
    return _HALF32 + _HALF32 * tanh_act(_HALF32 * x)


def _tanh64(x):
    return np.tanh(x)


def _sigmoid64(x):
    return 1.0 / (1.0 + np.exp(-x))


def tanh_act(x):
    """tanh of a float scalar inside a kernel (see the module docstring)."""
    return np.tanh(x)


def sigmoid_act(x):
    """The logistic sigmoid of a float scalar inside a kernel (see the module docstring)."""
    return 1.0 / (1.0 + np.exp(-x))


@overload(tanh_act)
def _tanh_act_impl(x):
    if x == types.float32:
        return _tanh32
    if x == types.float64:
        return _tanh64
    return None


@overload(sigmoid_act)
def _sigmoid_act_impl(x):
    if x == types.float32:
        return _sigmoid32
    if x == types.float64:
        return _sigmoid64
    return None


@njit(cache=True, error_model="numpy")
def tanh_array(x, out):
    """out = tanh_act(x) elementwise. x, out: (N,) of one float dtype."""
    for i in range(x.shape[0]):
        out[i] = tanh_act(x[i])


@njit(cache=True, error_model="numpy")
def sigmoid_array(x, out):
    """out = sigmoid_act(x) elementwise. x, out: (N,) of one float dtype."""
    for i in range(x.shape[0]):
        out[i] = sigmoid_act(x[i])


# ---- layout helpers ----------------------------------------------------------------------------
# The kernels keep per-step quantities feature-major, (rows, B) with the batch fastest, so that
# the recurrent GEMM is W (G H, H) @ u (H, B): OpenBLAS then packs the small operand, not the
# weights (measured 1.3-2x faster per step at B >= 16), and each gate's (H, B) block is one
# contiguous run for the gate loops. Per-step blocks of a sequence are stored as (T, rows, B);
# the input projection, one GEMM before the loop, is (rows, T B) and is added to each step's
# recurrent GEMM output in one pass (cheaper than transposing it whole in memory).


@njit(cache=True, error_model="numpy")
def gemm(a, b, out):
    """out = a @ b (2-D, each C- or F-contiguous; out C-contiguous) through numba's np.dot,
    i.e. SciPy's OpenBLAS, the BLAS of the per-step products. Every GEMM of the fused path goes
    through it: with two OpenBLAS libraries (NumPy's and SciPy's) both multi-threaded, the idle
    worker threads of one spin on the cores the other needs (measured: fwd+bwd 1.6x slower
    with 2 threads)."""
    np.dot(a, b, out)


def product(w, u, out):
    """out = W @ u for B > 1: ``w`` is W (M, K) itself (BLAS through np.dot) or its panels from
    ``packed.pack`` (3-D: the register-blocked AVX-512 kernel)."""
    np.dot(w, u, out)


@overload(product)
def _product_impl(w, u, out):
    if isinstance(w, types.Array) and w.ndim == 3:
        def packed_product(w, u, out):
            packed_matmul(w, out.shape[0], u, out)
        return packed_product

    def blas_product(w, u, out):
        np.dot(w, u, out)
    return blas_product


@njit(cache=True, error_model="numpy")
def matmul_into(w, wt, u, out):
    """out = W @ u. w: W (M, K), or its packed panels (see ``product``); u: (K, B); out: (M, B),
    all contiguous.

    For B == 1 a loop vectorised over wt (K, M) = W^T (contiguous) replaces the GEMM, whose
    fixed cost (~0.7 us through BLAS) is several times the work at the sizes where B == 1 is
    used; for B > 1 it is ``product`` and wt is not read.
    """
    if u.shape[1] != 1:
        product(w, u, out)
        return
    M, K = out.shape[0], u.shape[0]
    of = out.reshape(M)
    of[:] = 0
    k = 0
    while k + 8 <= K:  # eight rows of wt per pass over out
        u0, u1, u2, u3 = u[k, 0], u[k + 1, 0], u[k + 2, 0], u[k + 3, 0]
        u4, u5, u6, u7 = u[k + 4, 0], u[k + 5, 0], u[k + 6, 0], u[k + 7, 0]
        w0, w1, w2, w3 = wt[k], wt[k + 1], wt[k + 2], wt[k + 3]
        w4, w5, w6, w7 = wt[k + 4], wt[k + 5], wt[k + 6], wt[k + 7]
        for m in range(M):
            a = fma(u3, w3[m], fma(u2, w2[m], fma(u1, w1[m], fma(u0, w0[m], of[m]))))
            of[m] = fma(u7, w7[m], fma(u6, w6[m], fma(u5, w5[m], fma(u4, w4[m], a))))
        k += 8
    while k < K:
        uk = u[k, 0]
        wk = wt[k]
        for m in range(M):
            of[m] = fma(uk, wk[m], of[m])
        k += 1


@njit(cache=True, error_model="numpy")
def add_projection(pre, xp, bias, col0, rows):
    """pre[j, b] += xp[j, col0 + b] + bias[j] for j < rows. pre: (R, B); xp: (R', T B);
    bias: (R',)."""
    B = pre.shape[1]
    if B == 1:  # a column
        for j in range(rows):
            pre[j, 0] += xp[j, col0] + bias[j]
        return
    # Flat offsets as unsigned integers: no negative-index wraparound, so the b loop vectorises
    # without a slice object per row.
    pf, xf = pre.reshape(pre.size), xp.reshape(xp.size)
    TB = xp.shape[1]
    for j in range(rows):
        bj = bias[j]
        p0, x0 = uint64(j * B), uint64(j * TB + col0)
        for b in range(B):
            ub = uint64(b)
            pf[p0 + ub] += xf[x0 + ub] + bj


@njit(cache=True, error_model="numpy")
def load_projection(dst, xp, bias, row0, col0):
    """dst[j, b] = xp[row0 + j, col0 + b] + bias[row0 + j]. dst: (R, B); xp: (R', T B)."""
    R, B = dst.shape
    if B == 1:
        for j in range(R):
            dst[j, 0] = xp[row0 + j, col0] + bias[row0 + j]
        return
    df, xf = dst.reshape(dst.size), xp.reshape(xp.size)
    TB = xp.shape[1]
    for j in range(R):
        bj = bias[row0 + j]
        d0, x0 = uint64(j * B), uint64((row0 + j) * TB + col0)
        for b in range(B):
            ub = uint64(b)
            df[d0 + ub] = xf[x0 + ub] + bj


@njit(cache=True, error_model="numpy")
def add_batch_major(dst, carry, src):
    """dst[j, b] = carry[j, b] + src[b, j]. dst, carry: (H, B); src: (B, H)."""
    H, B = dst.shape
    if B == 1:
        for j in range(H):
            dst[j, 0] = carry[j, 0] + src[0, j]
        return
    for j in range(H):
        dj, cj = dst[j], carry[j]
        for b in range(B):
            dj[b] = cj[b] + src[b, j]


@njit(cache=True, error_model="numpy")
def to_batch_major(src, dst):
    """dst[b, j] = src[j, b]. src: (H, B); dst: (B, H)."""
    H, B = src.shape
    if B == 1:
        for j in range(H):
            dst[0, j] = src[j, 0]
        return
    for b in range(B):
        db = dst[b]
        for j in range(H):
            db[j] = src[j, b]


@njit(cache=True, error_model="numpy")
def hold_inactive(new, old, lengths, t):
    """new[:, b] = old[:, b] for every sequence b with t >= lengths[b]. new, old: (R, B)."""
    for b in range(new.shape[1]):
        if t >= lengths[b]:
            for j in range(new.shape[0]):
                new[j, b] = old[j, b]


@njit(cache=True, error_model="numpy")
def zero_inactive(arr, lengths, t):
    """arr[:, b] = 0 for every sequence b with t >= lengths[b]. arr: (R, B)."""
    zero = arr.dtype.type(0.0)
    for b in range(arr.shape[1]):
        if t >= lengths[b]:
            for j in range(arr.shape[0]):
                arr[j, b] = zero
