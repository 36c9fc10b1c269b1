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
from numba import njit, types
from numba.extending import intrinsic, overload

from .packed import add_product as packed_add_product
from .packed import packed_matmul, packed_product, packed_row
from .sync import wait_for


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


# ---- layout and products -----------------------------------------------------------------------
# The kernels keep per-step quantities batch-major, as the states are: (B, rows), one row per
# sequence, so that x_t, the states and their gradients are read and written in place (no
# transposes). The per-step products are a (B, K) @ W' (K, N) with W' = W_ih^T, W_hh^T
# (forward) or W_hh (backward), see ``packed``.


@njit(cache=True, error_model="numpy")
def gemm(a, b, out):
    """out = a @ b (2-D, each C- or F-contiguous; out C-contiguous) through numba's np.dot,
    i.e. SciPy's OpenBLAS. Every GEMM of the fused path that spans all steps goes through it:
    with two OpenBLAS libraries (NumPy's and SciPy's) both multi-threaded, the idle worker
    threads of one spin on the cores the other needs (measured: fwd+bwd 1.6x slower with 2
    threads)."""
    np.dot(a, b, out)


@njit(cache=True, error_model="numpy", nogil=True)
def transpose_into(src, out):
    """out (R, C) = src[:C, :R]^T, in 16 x 16 tiles (numpy's strided copy of a transpose
    streams one side through the cache a column at a time: 2.7 ms against 1.1 ms for a
    (512, 2048) float32 weight gradient here). src: (>= C, >= R) with contiguous rows."""
    R, C = out.shape
    for i0 in range(0, R, 16):
        i1 = min(R, i0 + 16)
        for j0 in range(0, C, 16):
            j1 = min(C, j0 + 16)
            for i in range(i0, i1):
                row = out[i]
                for j in range(j0, j1):
                    row[j] = src[j, i]


@njit(cache=True, error_model="numpy", inline="always")
def matmul_into(fam, wp, wt, a, out, accumulate=False):
    """out[:, :N] = a @ W' (``accumulate``: out[:, :N] += a @ W'). a: (R, K) with contiguous
    rows; wt: W' (K, N), C-contiguous; wp: ``packed.pack(W')`` or empty.

    With ``wp``: the packed kernel (``out`` (R, >= padded_cols(N)), its padding columns get
    zeros, or keep their values when accumulating; R == 1: its one-row variant). Without:
    BLAS for R > 1 (``out`` (R, N) contiguous), and for R == 1 a loop over the rows of wt
    vectorised along N (a BLAS call costs ~0.7 us whatever the size). Inlined into the
    kernels: a call passing arrays costs ~60 ns (their reference counts), and one sequence
    makes hundreds of these calls.
    """
    R, K = a.shape
    if K == 0:  # no terms (an input of width 0): the product is zero, packed or not
        if not accumulate:
            out[:, :] = 0
        return
    if wp.size > 0:
        if R == 1:  # read in place: no views of the rows
            packed_row(fam, a, 0, a.strides[1] // a.itemsize, K, wp, out, 0, accumulate)
        else:
            packed_matmul(fam, a, wp, out, accumulate)
        return
    if R != 1:
        if accumulate:  # BLAS (no AVX-512); np.dot wants a contiguous left operand
            out += np.dot(np.ascontiguousarray(a), wt)
        else:
            np.dot(np.ascontiguousarray(a), wt, out)
        return
    N = wt.shape[1]
    of = out[0]
    if not accumulate:
        of[:N] = 0
    k = 0
    while k + 8 <= K:  # eight rows of wt per pass over out
        u0, u1, u2, u3 = a[0, k], a[0, k + 1], a[0, k + 2], a[0, k + 3]
        u4, u5, u6, u7 = a[0, k + 4], a[0, k + 5], a[0, k + 6], a[0, k + 7]
        w0, w1, w2, w3 = wt[k], wt[k + 1], wt[k + 2], wt[k + 3]
        w4, w5, w6, w7 = wt[k + 4], wt[k + 5], wt[k + 6], wt[k + 7]
        for m in range(N):
            v = fma(u3, w3[m], fma(u2, w2[m], fma(u1, w1[m], fma(u0, w0[m], of[m]))))
            of[m] = fma(u7, w7[m], fma(u6, w6[m], fma(u5, w5[m], fma(u4, w4[m], v))))
        k += 8
    while k < K:
        uk = a[0, k]
        wk = wt[k]
        for m in range(N):
            of[m] = fma(uk, wk[m], of[m])
        k += 1


@njit(cache=True, error_model="numpy")
def add_weight_grads(fam, a, d, gw, gb):
    """One step's share of a weight gradient: gw (F, >= N') += a^T d through the packed
    kernel (a: (B, F), d: (B, N') with N' a multiple of the vector width; skipped when gw is
    empty), and gb (>= N',) += d's column sums over its first gb.shape[0] columns (skipped when
    gb is empty)."""
    if gw.size > 0:
        packed_add_product(fam, a.T, d, gw)
    if gb.size > 0:
        for b in range(d.shape[0]):
            db = d[b]
            for m in range(gb.shape[0]):
                gb[m] += db[m]


@njit(cache=True, error_model="numpy")
def live_rows(src, lengths, t, out):
    """src (B, F) with the rows of the sequences that ended before time index t set to zero:
    src itself when none has, else ``out`` (B, F) filled so (their inputs and states past the
    end may hold anything, NaN included, and must not reach the weight gradients)."""
    if t < lengths.min():
        return src
    for b in range(src.shape[0]):
        if t >= lengths[b]:
            out[b] = 0
        else:
            out[b] = src[b]
    return out


@njit(cache=True, error_model="numpy")
def masked(src, mask, out):
    """out (B, H) = src * mask (the recurrent-dropout mask on h_{t-1}); returns out."""
    for b in range(src.shape[0]):
        ob, sb, mb = out[b], src[b], mask[b]
        for j in range(src.shape[1]):
            ob[j] = sb[j] * mb[j]
    return out


@njit(cache=True, error_model="numpy", inline="always")
def add_step_weight_grads(fam, x_t, hp, d, mask, use_mask, lengths, t, gw_ih, gw_hh, gb, xz, uz):
    """LSTM and RNN: one step's weight and bias gradients, gw_ih += x_t^T d, gw_hh +=
    (m * h_{t-1})^T d, gb += d's column sums (see ``add_weight_grads``), with the rows of
    ended sequences zeroed in both left operands. x_t: (B, I); hp: h_{t-1} (B, H); d:
    (B, N'); xz (B, I), uz (B, H) scratch."""
    add_weight_grads(fam, live_rows(x_t, lengths, t, xz), d, gw_ih, gb)
    if use_mask:
        hp = masked(hp, mask, uz)
    add_weight_grads(fam, live_rows(hp, lengths, t, uz), d, gw_hh, gb[:0])


@njit(cache=True, error_model="numpy", inline="always")
def carry_back(tmp, held, mask, use_mask, lengths, t, dh):
    """LSTM and RNN: the gradient handed to the step before, dh (B, H) = tmp * mask (tmp: the
    step's product dpre_t W_hh, (B, >= H)), or for a sequence that ended before t its held
    state's gradient ``held`` (B, H) unchanged. Rows indexed, not sliced (no reference counts
    in the time loop)."""
    H = dh.shape[1]
    for b in range(dh.shape[0]):
        if t >= lengths[b]:
            for j in range(H):
                dh[b, j] = held[b, j]
        elif use_mask:
            for j in range(H):
                dh[b, j] = tmp[b, j] * mask[b, j]
        else:
            for j in range(H):
                dh[b, j] = tmp[b, j]


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def units_products(fam, xwp, wp_lo, wp_hi, x_t, hp, mask, use_mask, u, xp, pre, into_xp, m,
                   first, s, sync, theirs):
    """One thread's products of step s when two threads split the hidden units (the
    ``*_forward_units`` kernels): xp = x_t W_ih'^T and pre (+)= (m * h_{t-1}) W_hh'^T for
    the columns of this thread's units (``into_xp``: pre is xp and the sum is one, LSTM and
    RNN; the GRU keeps them apart), W_hh'^T's rows in two parts, [0, m) (panels wp_lo) and [m, H)
    (wp_hi). ``first``: this thread owns units [0, m) and multiplies its own half of
    h_{t-1} before it waits for the other thread's step s - 1 (sync slot ``theirs``); the
    other thread waits first. Either way k runs from 0 to H - 1 as with one thread. Returns
    False when ABORT was raised. hp: (B, H) h_{t-1}; u: (B, H) scratch."""
    packed_product(fam, xwp, x_t, xp, False)
    if first:
        own = masked(hp[:, :m], mask[:, :m], u[:, :m]) if use_mask else hp[:, :m]
        packed_product(fam, wp_lo, own, pre, into_xp)
        if s > 0 and not wait_for(sync, theirs, s):
            return False
        rest = masked(hp[:, m:], mask[:, m:], u[:, m:]) if use_mask else hp[:, m:]
    else:
        if s > 0 and not wait_for(sync, theirs, s):
            return False
        src = masked(hp, mask, u) if use_mask else hp
        packed_product(fam, wp_lo, src[:, :m], pre, into_xp)
        rest = src[:, m:]
    packed_product(fam, wp_hi, rest, pre, True)
    return True
