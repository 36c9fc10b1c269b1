"""Cross-checks against PyTorch's scaled_dot_product_attention and nn.MultiheadAttention with the
same inputs and weights: values and gradients (float64)."""

import numpy as np
import pytest

import minigrad as mg
from models.attention import MultiheadAttention, scaled_dot_product_attention

torch = pytest.importorskip("torch")


def _pair(a):
    return mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("case", ["plain", "bool", "float", "causal", "causal_rect", "scale"])
def test_sdpa_matches_torch(rng, case):
    L, S = (3, 5) if case == "causal_rect" else (4, 4)
    q = rng.standard_normal((2, 3, L, 6))
    k = rng.standard_normal((2, 3, S, 6))
    v = rng.standard_normal((2, 3, S, 5))
    kw = {}
    if case == "bool":
        kw["attn_mask"] = rng.random((2, 1, L, S)) > 0.3
    elif case == "float":
        kw["attn_mask"] = rng.standard_normal((L, S))
    elif case in ("causal", "causal_rect"):
        kw["is_causal"] = True
    elif case == "scale":
        kw["scale"] = 0.25
    ours = [_pair(a) for a in (q, k, v)]
    tkw = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val
           for key, val in kw.items()}
    out = scaled_dot_product_attention(*(p[0] for p in ours), **kw)
    ref = torch.nn.functional.scaled_dot_product_attention(*(p[1] for p in ours), **tkw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(mg.tensor(g))
    ref.backward(torch.tensor(g))
    for mine, theirs in ours:
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=1e-12)


def _load(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kvdim", [None, 3])
def test_mha_matches_torch_with_same_weights(rng, batch_first, kvdim):
    E, H, L, S, N = 8, 2, 4, 5, 3
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, kdim=kvdim,
                                         vdim=kvdim).double()
    ours = MultiheadAttention(E, H, batch_first=batch_first, kdim=kvdim, vdim=kvdim,
                              dtype=np.float64)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    _load(ours, theirs)
    with torch.no_grad():  # non-zero biases, so they are checked too
        for p in theirs.parameters():
            p.add_(torch.randn(p.shape, dtype=p.dtype) * 0.1)
    _load(ours, theirs)
    kd = kvdim or E
    shapes = [(L, N, E), (S, N, kd), (S, N, kd)]
    if batch_first:
        shapes = [(s[1], s[0], s[2]) for s in shapes]
    arrays = [rng.standard_normal(s) for s in shapes]
    pairs = [_pair(a) for a in arrays]
    kpm = rng.random((N, S)) > 0.7
    kpm[:, 0] = False  # every query keeps a key, so PyTorch's weights stay finite
    am = rng.random((L, S)) > 0.8
    out, w = ours(*(p[0] for p in pairs), key_padding_mask=kpm, attn_mask=am,
                  average_attn_weights=False)
    ref, ref_w = theirs(*(p[1] for p in pairs), key_padding_mask=torch.tensor(kpm),
                        attn_mask=torch.tensor(am), average_attn_weights=False)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(out.shape)
    gw = rng.standard_normal(w.shape)
    ((out * mg.tensor(g)).sum() + (w * mg.tensor(gw)).sum()).backward()
    ((ref * torch.tensor(g)).sum() + (ref_w * torch.tensor(gw)).sum()).backward()
    for mine, their in pairs:
        np.testing.assert_allclose(mine.grad.numpy(), their.grad.numpy(), atol=1e-11)
    mine_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(mine_params[name].grad.numpy(), p.grad.numpy(), atol=1e-11,
                                   err_msg=name)


def test_mha_float_masks_and_averaged_weights_match_torch(rng):
    E, H, L, N = 6, 3, 4, 2
    torch.manual_seed(1)
    theirs = torch.nn.MultiheadAttention(E, H).double()
    ours = MultiheadAttention(E, H, dtype=np.float64)
    _load(ours, theirs)
    x = rng.standard_normal((L, N, E))
    kpm = rng.standard_normal((N, L))
    am = rng.standard_normal((N * H, L, L))
    out, w = ours(*(mg.tensor(x),) * 3, key_padding_mask=kpm, attn_mask=am)
    ref, ref_w = theirs(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm),
                        attn_mask=torch.tensor(am))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w.detach().numpy(), atol=1e-12)
