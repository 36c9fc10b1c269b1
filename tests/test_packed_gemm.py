"""The packed per-step GEMM of the fused recurrent kernels (``models.rnn.kernels.packed``) and
the dispatch in ``common.matmul_into``, against numpy in float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.rnn.kernels import common, packed

DTYPES = [np.float32, np.float64]


def _case(seed, M, K, N, dtype):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(dtype)
    u = rng.standard_normal((K, N)).astype(dtype)
    return a, u, a.astype(np.float64) @ u.astype(np.float64)


def _tolerance(dtype, K):
    return 1e-12 * K if dtype == np.float64 else 2e-6 * K


def test_pack_layout_pads_with_zero_rows():
    a = np.arange(30.0).reshape(10, 3)
    ap = packed.pack(a)
    assert ap.shape == (packed.packed_rows(10) // packed.PANEL, 3, packed.PANEL) == (3, 3, 8)
    assert ap[0, 2, 5] == a[5, 2] and ap[1, 0, 1] == a[9, 0]
    assert not ap[1, :, 2:].any() and not ap[2].any()


@pytest.mark.parametrize("dtype", DTYPES)
@given(M=st.integers(1, 70), K=st.integers(1, 40), N=st.integers(1, 110), seed=st.integers(0, 9))
@settings(max_examples=60, deadline=None)
def test_packed_matmul_equals_numpy(dtype, M, K, N, seed):
    """Every column-block path (3, 2, 1 vectors and the padded partial vector) and every row
    remainder."""
    a, u, ref = _case(seed, M, K, N, dtype)
    out = np.full((M, N), np.nan, dtype)
    packed.packed_matmul(packed.pack(a), M, u, out)
    scale = np.abs(a).max() * np.abs(u).max()
    assert np.abs(out - ref).max() <= _tolerance(dtype, K) * scale


@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_matmul_reads_rows_of_a_wider_array(dtype):
    """u and out may be row blocks of wider arrays (row stride > N)."""
    a, u, ref = _case(1, 40, 12, 37, dtype)
    wide_u = np.zeros((12, 50), dtype)
    wide_u[:, 5:42] = u
    wide_out = np.full((40, 60), -7.0, dtype)
    packed.packed_matmul(packed.pack(a), 40, wide_u[:, 5:42], wide_out[:, 10:47])
    assert np.allclose(wide_out[:, 10:47], ref, rtol=1e-5, atol=1e-5)
    assert (wide_out[:, :10] == -7).all() and (wide_out[:, 47:] == -7).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 5, 16, 33])
def test_matmul_into_blas_and_packed_agree(dtype, B):
    """The kernels' product: W (2-D, BLAS), its panels (3-D, packed) and, for B == 1, W^T."""
    a, u, ref = _case(2, 48, 20, B, dtype)
    outs = []
    for w in (a, packed.pack(a)):
        out = np.empty((48, B), dtype)
        common.matmul_into(w, np.ascontiguousarray(a.T), u, out)
        outs.append(out)
    for out in outs:
        assert np.abs(out - ref).max() <= _tolerance(dtype, 20) * np.abs(ref).max()


def test_availability_matches_the_cpu():
    import llvmlite.binding as llvm

    assert packed.AVAILABLE == bool(llvm.get_host_cpu_features().get("avx512f", False))
