"""The packed per-step GEMM of the fused recurrent kernels (``models.rnn.kernels.packed``) and
the dispatch in ``common.matmul_into``, against numpy in float64, for every packed kernel
family this CPU supports (``models.rnn.kernels.family``: AVX-512 and AVX2 on an AVX-512
machine)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from models.rnn.kernels import common, family, packed

DTYPES = [np.float32, np.float64]
PACKED = [family.FAMILIES[name] for name in family.supported() if family.FAMILIES[name].packed]
FAMILY = pytest.mark.parametrize("fam", PACKED, ids=lambda f: f.name)


def _case(seed, R, K, N, dtype):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((R, K)).astype(dtype)
    w = rng.standard_normal((K, N)).astype(dtype)
    return a, w, a.astype(np.float64) @ w.astype(np.float64)


def _tolerance(dtype, K):
    return 1e-12 * K if dtype == np.float64 else 2e-6 * K


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_layout_is_column_panels_padded_with_zeros(fam, dtype):
    V, P = fam.vector_width(dtype), fam.panel_vectors
    K, N = 3, (P + 1) * V + 1  # one full panel (P V), then one holding V + 1 columns
    w = np.arange(K * N, dtype=dtype).reshape(K, N) + 1
    wp = packed.pack(w, fam)
    assert fam.padded_cols(N, dtype) == (P + 2) * V and wp.shape == (K * (P + 2) * V,)
    first = wp[:K * P * V].reshape(K, P * V)
    second = wp[K * P * V:].reshape(K, 2 * V)
    assert (first == w[:, :P * V]).all()
    assert (second[:, :V + 1] == w[:, P * V:]).all() and not second[:, V + 1:].any()


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
@given(R=st.integers(1, 20), K=st.integers(1, 40), N=st.integers(1, 110), seed=st.integers(0, 9))
@settings(max_examples=60, deadline=None)
def test_packed_matmul_equals_numpy(fam, dtype, R, K, N, seed):
    """Every panel width (P, ..., 1 vectors), the zero padding of the last vector and every
    row remainder of the micro-kernel's row blocks."""
    a, w, ref = _case(seed, R, K, N, dtype)
    Np = fam.padded_cols(N, dtype)
    out = np.full((R, Np), np.nan, dtype)
    packed.packed_matmul(fam.token, a, packed.pack(w, fam), out)
    scale = np.abs(a).max() * np.abs(w).max()
    assert np.abs(out[:, :N] - ref).max() <= _tolerance(dtype, K) * scale
    assert not out[:, N:].any()  # the padding columns get zeros


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_matmul_reads_and_writes_rows_of_wider_arrays(fam, dtype):
    """a may be a column block of a wider array and out a block of a wider one (row strides
    above the row length); nothing outside the block is touched."""
    a, w, ref = _case(1, 13, 12, 37, dtype)
    Np = fam.padded_cols(37, dtype)
    wide_a = np.zeros((13, 50), dtype)
    wide_a[:, 5:17] = a
    wide_out = np.full((13, Np + 20), -7.0, dtype)
    packed.packed_matmul(fam.token, wide_a[:, 5:17], packed.pack(w, fam), wide_out[:, 10:10 + Np])
    assert np.allclose(wide_out[:, 10:47], ref, rtol=1e-5, atol=1e-5)
    assert (wide_out[:, :10] == -7).all() and (wide_out[:, 10 + Np:] == -7).all()


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 5, 16, 33])
def test_matmul_into_blas_packed_and_vector_paths_agree(fam, dtype, B):
    """The kernels' product a (B, K) @ W': packed panels (B == 1 through
    ``packed_matvec``), else BLAS for B > 1 and the vector loop over W''s rows for B == 1."""
    a, w, ref = _case(2, B, 20, 48, dtype)
    Np = fam.padded_cols(48, dtype)
    for wp in (np.empty(0, dtype), packed.pack(w, fam)):
        out = np.empty((B, Np if wp.size else 48), dtype)
        common.matmul_into(fam.token, wp, w, a, out)
        assert np.abs(out[:, :48] - ref).max() <= _tolerance(dtype, 20) * np.abs(ref).max()


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
@given(K=st.integers(0, 45), N=st.integers(1, 110), stride=st.integers(1, 3),
       accumulate=st.booleans(), seed=st.integers(0, 9))
@settings(max_examples=60, deadline=None)
def test_packed_matvec_equals_numpy(fam, dtype, K, N, stride, accumulate, seed):
    """One row: every panel width, K below, at and past a multiple of ``SPLIT`` (the partial
    sums and the steps left over), K = 0 (empty panels: all of out is zeroed unless
    accumulating), a read through a stride, ``accumulate``."""
    a, w, ref = _case(seed, 1, K, N, dtype)
    spaced = np.zeros(max(K * stride, 1), dtype)
    spaced[::stride][:K] = a[0]
    Np = fam.padded_cols(N, dtype)
    start = np.random.default_rng(seed + 1).standard_normal(Np + 3).astype(dtype)
    out = start.copy()
    packed.packed_matvec(fam.token, spaced[::stride][:K], packed.pack(w, fam), out, accumulate)
    want = ref[0] + start[:N] if accumulate else ref[0]
    scale = (np.abs(a).max() * np.abs(w).max() if K else 0) + np.abs(start).max()
    assert np.abs(out[:N] - want).max() <= _tolerance(dtype, K + 1) * scale
    assert (out[N:Np] == (start[N:Np] if accumulate else 0)).all()
    assert (out[Np:] == (start[Np:] if K or accumulate else 0)).all()


@njit
def _row_of_block(fam, block, t, b, wp, out, row, accumulate):
    """packed_row on row ``b`` of step ``t`` of a (T, B, K) block, read in place, into row
    ``row`` of out (R, Np): the way the kernels pass x_t or h_{t-1} of one sequence."""
    K = block.shape[2]
    a_off = (t * block.strides[0] + b * block.strides[1]) // block.itemsize
    packed.packed_row(fam, block, a_off, block.strides[2] // block.itemsize, K, wp, out,
                      row * out.shape[1], accumulate)


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
@given(K=st.integers(1, 40), N=st.integers(1, 70), accumulate=st.booleans(),
       transposed=st.booleans(), seed=st.integers(0, 9))
@settings(max_examples=40, deadline=None)
def test_packed_row_reads_a_row_in_place_at_any_offset(fam, dtype, K, N, accumulate, transposed,
                                                        seed):
    """``packed_row`` reads its row from an offset and stride into a larger array (here row
    (t, b) of a (T, B, K) block, also one stored transposed: K strided) and writes only its
    own row of the output, from an offset."""
    rng = np.random.default_rng(seed)
    T, B = 3, 2
    block = rng.standard_normal((T, B, K)).astype(dtype)
    if transposed:
        block = np.ascontiguousarray(block.transpose(2, 0, 1)).transpose(1, 2, 0)
    w = rng.standard_normal((K, N)).astype(dtype)
    Np = fam.padded_cols(N, dtype)
    start = rng.standard_normal((4, Np)).astype(dtype)
    out = start.copy()
    _row_of_block(fam.token, block, 2, 1, packed.pack(w, fam), out, 1, accumulate)
    ref = block[2, 1].astype(np.float64) @ w.astype(np.float64)
    want = ref + start[1, :N] if accumulate else ref
    scale = np.abs(block).max() * np.abs(w).max() + np.abs(start).max()
    assert np.abs(out[1, :N] - want).max() <= _tolerance(dtype, K + 1) * scale
    assert (out[1, N:] == (start[1, N:] if accumulate else 0)).all()
    assert (out[[0, 2, 3]] == start[[0, 2, 3]]).all()  # no other row touched


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_starts_on_a_cache_line_and_reads_any_layout(fam, dtype):
    """The panels start on a 64-byte boundary; W' given as the transpose of a C array (the
    layers' W_ih^T, W_hh^T: copied column by column) packs to the same panels."""
    rng = np.random.default_rng(0)
    for K, N in ((1, 1), (3, 17), (32, 128), (7, 100), (40, 99)):
        w = rng.standard_normal((K, N)).astype(dtype)
        wp = packed.pack(w, fam)
        assert wp.ctypes.data % 64 == 0
        assert np.array_equal(packed.pack(np.ascontiguousarray(w.T).T, fam), wp)


def test_families_match_the_cpu():
    """The families offered are the ones the CPU's features allow, fastest first, ``blas``
    always; one the CPU lacks is refused, and ``using`` restores the one before."""
    import platform

    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    names = family.supported()
    assert names[-1] == "blas"
    if platform.machine() in ("x86_64", "AMD64"):
        assert ("avx512" in names) == bool(features.get("avx512f"))
        assert ("avx2" in names) == bool(features.get("avx2") and features.get("fma"))
    assert "neon" not in names or platform.machine() in ("aarch64", "arm64")
    before = family.active()
    with family.using("blas") as chosen:
        assert chosen.name == "blas" and family.active() is chosen
    assert family.active() is before
    for name in ("avx512", "avx2", "neon"):
        if name not in names:
            with pytest.raises(ValueError, match="supports"):
                family.use(name)
    with pytest.raises(ValueError, match="expected one of"):
        family.use("sse9")
    assert family.active() is before


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_packed_matmul_blocks_over_k_and_rows(fam, dtype, accumulate):
    """K above ``K_BLOCK`` (later chunks add to the first) and more rows than ``M_BLOCK``;
    ``accumulate`` adds the product to what out holds."""
    R, K, N = packed.M_BLOCK + 21, 2 * packed.K_BLOCK + 37, 70
    a, w, ref = _case(3, R, K, N, dtype)
    Np = fam.padded_cols(N, dtype)
    start = np.random.default_rng(4).standard_normal((R, Np)).astype(dtype)
    out = start.copy()
    packed.packed_matmul(fam.token, a, packed.pack(w, fam), out, accumulate)
    want = ref + start[:, :N] if accumulate else ref
    scale = np.abs(a).max() * np.abs(w).max()
    assert np.abs(out[:, :N] - want).max() <= _tolerance(dtype, K) * scale
    assert (out[:, N:] == (start[:, N:] if accumulate else 0)).all()


@FAMILY
@pytest.mark.parametrize("dtype", DTYPES)
@given(B=st.integers(1, 40), F=st.integers(1, 30), vectors=st.integers(1, 7),
       seed=st.integers(0, 9))
@settings(max_examples=40, deadline=None)
def test_add_product_adds_a_transposed_operand_times_b_read_in_place(fam, dtype, B, F, vectors,
                                                                     seed):
    """The per-step weight-gradient product: out += x^T d with x (B, F) read through its
    transpose (stride F along k) and d (B, N) read in place, N a multiple of the vector
    width; out may be wider than N."""
    N = vectors * fam.vector_width(dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, F)).astype(dtype)
    d = rng.standard_normal((B, N)).astype(dtype)
    start = rng.standard_normal((F, N + 5)).astype(dtype)
    out = start.copy()
    packed.add_product(fam.token, x.T, d, out)
    want = start[:, :N] + x.astype(np.float64).T @ d.astype(np.float64)
    scale = np.abs(x).max() * np.abs(d).max() + np.abs(start).max()
    assert np.abs(out[:, :N] - want).max() <= _tolerance(dtype, B) * scale
    assert (out[:, N:] == start[:, N:]).all()
