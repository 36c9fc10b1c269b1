r"""Attention: scaled dot-product attention, multi-head attention, and the classic recurrent
attentions (Luong's dot / general / concat scores, Bahdanau's additive score).

Every form ends in the same primitive, ``masked_softmax`` (a fused numba kernel, see
``models/attention_kernels.py``):

.. math:: p_{ij} = \frac{\exp(s\, x_{ij} + b_{ij})}{\sum_k \exp(s\, x_{ik} + b_{ik})}

where ``b`` is the mask turned into an additive bias (0 where a key takes part, ``-inf`` where it
is masked). **A row whose keys are all masked comes out as zeros, with zero gradients**: a fully
padded query, or a query that may see no key, contributes nothing. (A plain softmax gives NaN
there, as PyTorch's ``nn.MultiheadAttention`` with ``need_weights=True`` and its SDPA before
version 2.5 do.)

Two mask conventions exist and both are PyTorch's:

* ``scaled_dot_product_attention(attn_mask=...)``, ``LuongAttention(mask=...)`` and
  ``BahdanauAttention(mask=...)``: a bool mask is **True where the key takes part**.
* ``MultiheadAttention(key_padding_mask=..., attn_mask=...)``: a bool mask is **True where the key
  is ignored** (padding, or a future position).

A float mask is always **added** to the scores (``-inf`` masks; a float mask that requires
grad receives a gradient, e.g. a learnt relative-position bias).
"""

import math

import numpy as np

import minigrad as mg
from minigrad.nn import Module, Parameter, functional, init

from . import attention_kernels as kern

__all__ = ["scaled_dot_product_attention", "masked_softmax", "MultiheadAttention",
           "LuongAttention", "BahdanauAttention"]


# ---- helpers ---------------------------------------------------------------------------------
def _sum_to(x, shape):
    """Sum the Tensor ``x`` down to ``shape`` (the inverse of broadcasting ``shape`` to x)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and x.shape[lead + i] != 1)
    return mg.sum(x, dim=axes, keepdim=True).reshape(shape)


def _as_tensor(x, who, name):
    if isinstance(x, mg.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return mg.from_numpy(x)
    raise TypeError(f"{who}: expected {name} to be a Tensor, got {type(x).__name__}")


def _check_float(x, who, name):
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{who}: expected {name} to be float32 or float64, got {x.dtype}")


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def _bool_bias(keep, dtype):
    """0 where ``keep`` is True, -inf elsewhere (a numpy array of ``dtype``)."""
    return np.where(keep, np.zeros((), dtype), np.array(-np.inf, dtype))


def _bias_tensor(mask, dtype, true_means, who, name):
    """Turn a bool or float mask into an additive float bias Tensor (constant unless ``mask`` is
    a float Tensor that requires grad). ``true_means``: "attend" or "ignore"."""
    data = mask.numpy() if isinstance(mask, mg.Tensor) else np.asarray(mask)
    if data.dtype == np.bool_:
        keep = data if true_means == "attend" else ~data
        return mg.from_numpy(_bool_bias(keep, dtype))
    if data.dtype.kind != "f":
        meaning = "True = take part" if true_means == "attend" else "True = ignore"
        raise TypeError(f"{who}: expected {name} to be a bool mask ({meaning}) or a float mask "
                        f"added to the scores, got dtype {data.dtype}")
    if isinstance(mask, mg.Tensor) and mask.requires_grad:
        return mask if mask.dtype == dtype else mask.to(dtype)
    return mg.from_numpy(data.astype(dtype, copy=False))


# ---- the masked softmax primitive --------------------------------------------------------------
masked_softmax_p = mg.Primitive("attention_masked_softmax")


def _bias_rows(bias_shape, scores_shape):
    """For each row of the scores (all dims but the last), the row of the bias it uses."""
    rows = np.arange(int(np.prod(bias_shape[:-1], dtype=np.int64)), dtype=np.int64)
    rows = np.broadcast_to(rows.reshape(bias_shape[:-1]), scores_shape[:-1])
    return np.ascontiguousarray(rows).reshape(-1)


@masked_softmax_p.def_forward
def _masked_softmax_forward(scores, bias=None, *, scale):
    shape, dtype = scores.shape, scores.dtype
    if scores.size == 0:
        return np.zeros(shape, dtype=dtype)
    out = np.empty(shape, dtype=dtype)
    width = shape[-1]
    if bias is None:
        bias2 = np.zeros((1, width), dtype=dtype)
        rows = np.zeros(scores.size // width, dtype=np.int64)
    else:
        b = bias.reshape((1,) * (scores.ndim - bias.ndim) + bias.shape)
        if b.shape[-1] != width:
            b = np.broadcast_to(b, b.shape[:-1] + (width,))
        rows = _bias_rows(b.shape, shape)
        bias2 = np.ascontiguousarray(b, dtype=dtype).reshape(-1, width)
    scores2 = np.ascontiguousarray(scores).reshape(-1, width)
    out2 = out.reshape(-1, width)
    ints = np.dtype(f"int{8 * dtype.itemsize}")
    slot = np.empty(1, dtype=dtype)
    kern.masked_softmax_shift(scores2, bias2, rows, dtype.type(scale), out2, out2.view(ints),
                              slot, slot.view(ints), ints.type(8 * dtype.itemsize - 1),
                              ints.type(np.iinfo(ints).max))
    np.exp(out2, out=out2)
    kern.masked_softmax_normalize(out2)
    return out


@masked_softmax_p.def_backward
def _masked_softmax_backward(ctx, g):
    y = ctx.output()
    scale = ctx.params["scale"]
    g_scores = masked_softmax_grad(g, y, scale) if ctx.needs_input_grad[0] else None
    if len(ctx.inputs) == 1:
        return (g_scores,)
    g_bias = None
    if ctx.needs_input_grad[1]:
        g_bias = _sum_to(masked_softmax_grad(g, y, 1.0), ctx.inputs[1].shape)
    return g_scores, g_bias


def _sym_number(value):
    import sympy
    guess = sympy.nsimplify(float(value))
    return guess if not isinstance(guess, sympy.Float) else sympy.nsimplify(value, rational=True)


def _is_neg_inf(v):
    import sympy
    if isinstance(v, (float, np.floating)):
        return v == -np.inf
    return v == sympy.S.NegativeInfinity


@masked_softmax_p.def_symbolic
def _masked_softmax_symbolic(scores, bias=None, *, scale):
    import sympy
    k = _sym_number(scale)
    shape = scores.shape
    if bias is None:
        bias = np.zeros((), dtype=object)
    bias = np.broadcast_to(np.asarray(bias, dtype=object), shape)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape[:-1]):
        live = [c for c in range(shape[-1]) if not _is_neg_inf(bias[idx][c])]
        exps = {c: sympy.exp(k * scores[idx][c] + bias[idx][c]) for c in live}
        total = sum(exps.values(), sympy.Integer(0))
        for c in range(shape[-1]):
            out[idx + (c,)] = exps[c] / total if c in exps else sympy.Integer(0)
    return out


masked_softmax_grad_p = mg.Primitive("attention_masked_softmax_grad")


@masked_softmax_grad_p.def_forward
def _masked_softmax_grad_forward(grad_out, y, *, scale):
    dtype = np.result_type(grad_out, y)
    if y.size == 0:
        return np.zeros(y.shape, dtype=dtype)
    out = np.empty(y.shape, dtype=dtype)
    width = y.shape[-1]
    kern.masked_softmax_backward(
        np.ascontiguousarray(grad_out, dtype=dtype).reshape(-1, width),
        np.ascontiguousarray(y, dtype=dtype).reshape(-1, width), dtype.type(scale),
        out.reshape(-1, width))
    return out


@masked_softmax_grad_p.def_backward
def _masked_softmax_grad_backward(ctx, gg):
    g, y = ctx.inputs
    scale = ctx.params["scale"]
    gg_g = gg_y = None
    if ctx.needs_input_grad[0]:
        gg_g = masked_softmax_grad(gg, y, scale)
    if ctx.needs_input_grad[1]:
        s = mg.sum(g * y, dim=-1, keepdim=True)
        gg_y = (gg * (g - s) - g * mg.sum(gg * y, dim=-1, keepdim=True)) * scale
    return gg_g, gg_y


@masked_softmax_grad_p.def_symbolic
def _masked_softmax_grad_symbolic(grad_out, y, *, scale):
    k = _sym_number(scale)
    return y * (grad_out - np.sum(grad_out * y, axis=-1, keepdims=True)) * k


def masked_softmax_grad(grad_out, y, scale=1.0):
    """scale * y * (grad_out - sum(grad_out * y, -1)): the backward of ``masked_softmax`` given
    its output y. grad_out, y: (..., S)."""
    return mg.bind(masked_softmax_grad_p, grad_out, y, scale=float(scale))


def masked_softmax(scores, bias=None, scale=1.0):
    r"""softmax(scale * scores + bias) over the last dim, with all-masked rows giving zeros.

    scores: (..., S) float; bias: None or a float Tensor broadcastable to scores' shape
    (``-inf`` masks an entry). A row whose entries are all ``-inf`` after adding the bias
    returns zeros, and zero gradients. Returns a Tensor of scores' shape.
    """
    scores = _as_tensor(scores, "masked_softmax", "scores")
    _check_float(scores, "masked_softmax", "scores")
    if scores.ndim == 0:
        raise ValueError("masked_softmax: expected scores with at least 1 dim, got a 0-d tensor")
    if bias is None:
        return mg.bind(masked_softmax_p, scores, scale=float(scale))
    bias = _as_tensor(bias, "masked_softmax", "bias")
    _check_float(bias, "masked_softmax", "bias")
    if not _broadcasts_to(bias.shape, scores.shape):
        raise ValueError(f"masked_softmax: bias of shape {bias.shape} does not broadcast to the "
                         f"scores' shape {scores.shape}")
    if bias.dtype != scores.dtype:
        bias = bias.to(scores.dtype)
    return mg.bind(masked_softmax_p, scores, bias, scale=float(scale))


# ---- scaled dot-product attention --------------------------------------------------------------
def _check_qkv(query, key, value, who):
    query = _as_tensor(query, who, "query")
    key = _as_tensor(key, who, "key")
    value = _as_tensor(value, who, "value")
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_float(t, who, name)
        if t.ndim < 2:
            raise ValueError(f"{who}: expected {name} with at least 2 dims (..., seq, features), "
                             f"got shape {t.shape}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{who}: expected query, key and value of one dtype, got {query.dtype}, "
                        f"{key.dtype} and {value.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{who}: query (..., L, E) and key (..., S, E) need the same embedding "
                         f"dim E; got query {query.shape} and key {key.shape}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{who}: key (..., S, E) and value (..., S, Ev) need the same length S; "
                         f"got key {key.shape} and value {value.shape}")
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{who}: the batch dims of query {query.shape}, key {key.shape} and "
                         f"value {value.shape} do not broadcast together") from None
    return query, key, value, batch


def _attend(query, key, value, bias, dropout_p, scale):
    """The shared core: (output, weights after dropout). query: (..., L, E), key: (..., S, E),
    value: (..., S, Ev), bias: None or a float Tensor broadcastable to (..., L, S)."""
    scores = mg.matmul(query, key.transpose(-1, -2))
    weights = masked_softmax(scores, bias, scale)
    if dropout_p > 0.0:
        weights = functional.dropout(weights, dropout_p, training=True)
    return mg.matmul(weights, value), weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    r"""softmax(query key^T * scale + mask) value, as ``torch.nn.functional.
    scaled_dot_product_attention``.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the batch
    dims ``...`` broadcast.

    attn_mask: broadcastable to (..., L, S). **bool: True = the key takes part** (False masks
    it); float: added to the scaled scores. is_causal: query i sees keys j <= i (the upper-left
    aligned lower triangle, as PyTorch); an error if attn_mask is also given. scale: defaults to
    1 / sqrt(E). dropout_p: applied to the attention weights whenever > 0 (pass 0.0 in eval
    mode, as with PyTorch).

    **A query whose keys are all masked gets a zero output row and zero gradients**, not NaN
    (as PyTorch >= 2.5; older versions gave NaN).
    """
    who = "scaled_dot_product_attention"
    query, key, value, batch = _check_qkv(query, key, value, who)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{who}: expected dropout_p in [0, 1), got {dropout_p}")
    if query.shape[-1] == 0 and scale is None:
        raise ValueError(f"{who}: the embedding dim E is 0; pass scale= explicitly")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    L, S = query.shape[-2], key.shape[-2]
    scores_shape = tuple(batch) + (L, S)
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{who}: give attn_mask or is_causal=True, not both")
        bias = mg.from_numpy(_bool_bias(np.tri(L, S, dtype=bool), query.dtype))
    elif attn_mask is not None:
        shape = tuple(getattr(attn_mask, "shape", np.shape(attn_mask)))
        if not _broadcasts_to(shape, scores_shape):
            raise ValueError(f"{who}: attn_mask of shape {shape} does not broadcast to the "
                             f"attention weights' shape (..., L, S) = {scores_shape}")
        bias = _bias_tensor(attn_mask, query.dtype, "attend", who, "attn_mask")
    out, _ = _attend(query, key, value, bias, dropout_p, scale)
    return out


# ---- multi-head attention ----------------------------------------------------------------------
class MultiheadAttention(Module):
    r"""Multi-head attention with PyTorch's parameters, masks and return values.

    .. math:: \mathrm{MHA}(Q, K, V) = [\mathrm{head}_1; \dots; \mathrm{head}_h] W_O^T + b_O,\quad
              \mathrm{head}_i = \mathrm{softmax}\big(Q W_i^{Q\,T} (K W_i^{K\,T})^T / \sqrt{d}
              + M\big)\, V W_i^{V\,T}

    with d = embed_dim / num_heads. Parameters (PyTorch's names and init): ``in_proj_weight``
    (3E, E) (xavier uniform) when kdim == vdim == embed_dim, else ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,) (zeros) and
    ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,) (zeros) when ``bias``. PyTorch state dicts
    load by name.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights):

    * query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E) etc. when
      ``batch_first``; unbatched (L, E), (S, kdim), (S, vdim) also work.
    * key_padding_mask (N, S) (unbatched: (S,)): **bool True = ignore that key** (padding), as
      in PyTorch; a float mask is added to the scores.
    * attn_mask (L, S) or (N * num_heads, L, S): **bool True = not allowed to attend**; float is
      added.
    * is_causal: applies the causal mask (query i sees keys j <= i) when attn_mask is None
      (PyTorch then demands attn_mask); with attn_mask given it is only a hint, as in PyTorch.
    * attn_output: (L, N, E) / (N, L, E) / (L, E). attn_weights (after dropout, as in PyTorch):
      (N, L, S) averaged over heads, or (N, num_heads, L, S) with
      ``average_attn_weights=False``; ``None`` when ``need_weights=False``.

    A query with every key masked gets zero weights and a zero attention row (so its output is
    ``out_proj.bias``); PyTorch gives NaN there when ``need_weights=True``. Dropout on the
    attention weights acts in training mode only.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, *, batch_first=False,
                 kdim=None, vdim=None, dtype=None):
        super().__init__()
        who = "MultiheadAttention"
        for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{who}: expected a positive int {name}, got {v!r}")
        if embed_dim % num_heads:
            raise ValueError(f"{who}: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads}); head_dim = embed_dim / num_heads")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{who}: expected dropout in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        dt = np.dtype(dtype) if dtype is not None else mg.get_default_dtype()
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.zeros((3 * E, E), dtype=dt))
            init.xavier_uniform_(self.in_proj_weight)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(np.zeros((E, E), dtype=dt))
            self.k_proj_weight = Parameter(np.zeros((E, self.kdim), dtype=dt))
            self.v_proj_weight = Parameter(np.zeros((E, self.vdim), dtype=dt))
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = mg.nn.Linear(E, E, bias=bias, dtype=dt)
        if bias:
            init.zeros_(self.out_proj.bias)

    def extra_repr(self):
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}{extra}")

    def _projection(self, i):
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight[i * E:(i + 1) * E]
        else:
            w = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[i]
        b = None if self.in_proj_bias is None else self.in_proj_bias[i * E:(i + 1) * E]
        return w, b

    def _check_inputs(self, query, key, value):
        who = "MultiheadAttention"
        query, key, value = (_as_tensor(t, who, n) for t, n in
                             ((query, "query"), (key, "key"), (value, "value")))
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{who}: expected query, key and value all 3-D (batched) or all "
                             f"2-D (unbatched); got {query.shape}, {key.shape}, {value.shape}")
        for name, t, width in (("query", query, self.embed_dim), ("key", key, self.kdim),
                               ("value", value, self.vdim)):
            _check_float(t, who, name)
            if t.shape[-1] != width:
                layout = "(N, seq, " if self.batch_first else "(seq, N, "
                layout = layout if batched else "(seq, "
                dim = {"query": "embed_dim", "key": "kdim", "value": "vdim"}[name]
                raise ValueError(f"{who}: expected {name} of shape {layout}{width}) with {width} "
                                 f"= {dim}, got {t.shape}")
        seq_axis = 1 if (self.batch_first and batched) else 0
        if key.shape[seq_axis] != value.shape[seq_axis]:
            raise ValueError(f"{who}: key and value need the same length S, got key {key.shape} "
                             f"and value {value.shape}")
        if batched:
            batch_axis = 0 if self.batch_first else 1
            sizes = {query.shape[batch_axis], key.shape[batch_axis], value.shape[batch_axis]}
            if len(sizes) != 1:
                raise ValueError(f"{who}: query, key and value need one batch size N; got "
                                 f"{query.shape}, {key.shape}, {value.shape}")
        return query, key, value, batched

    def _mask_bias(self, key_padding_mask, attn_mask, is_causal, N, L, S, dtype):
        """The masks merged into one additive bias broadcastable to (N, H, L, S), or None."""
        who, H = "MultiheadAttention", self.num_heads
        parts = []
        if key_padding_mask is not None:
            shape = tuple(getattr(key_padding_mask, "shape", np.shape(key_padding_mask)))
            if shape != (N, S):
                raise ValueError(f"{who}: expected key_padding_mask of shape (N, S) = {(N, S)} "
                                 f"(True = ignore), got {shape}")
            kpm = _bias_tensor(key_padding_mask, dtype, "ignore", who, "key_padding_mask")
            parts.append(kpm.reshape(N, 1, 1, S))
        if attn_mask is not None:
            shape = tuple(getattr(attn_mask, "shape", np.shape(attn_mask)))
            if shape == (L, S):
                full = (1, 1, L, S)
            elif shape == (N * H, L, S):
                full = (N, H, L, S)
            else:
                raise ValueError(f"{who}: expected attn_mask of shape (L, S) = {(L, S)} or "
                                 f"(N * num_heads, L, S) = {(N * H, L, S)}, got {shape}")
            am = _bias_tensor(attn_mask, dtype, "ignore", who, "attn_mask")
            parts.append(am.reshape(full))
        elif is_causal:
            parts.append(mg.from_numpy(_bool_bias(np.tri(L, S, dtype=bool), dtype)))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        if any(p.requires_grad for p in parts):
            return parts[0] + parts[1]
        return mg.from_numpy(parts[0].numpy() + parts[1].numpy())

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        query, key, value, batched = self._check_inputs(query, key, value)
        if not batched:   # as a batch of one in the (seq, N, features) layout
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                kpm = key_padding_mask
                key_padding_mask = (kpm.reshape(1, -1) if isinstance(kpm, mg.Tensor)
                                    else np.reshape(kpm, (1, -1)))
        seq_first = not (self.batch_first and batched)
        N = query.shape[1] if seq_first else query.shape[0]
        L = query.shape[0] if seq_first else query.shape[1]
        S = key.shape[0] if seq_first else key.shape[1]
        H, d = self.num_heads, self.head_dim
        bias = self._mask_bias(key_padding_mask, attn_mask, is_causal, N, L, S, query.dtype)
        heads = []
        for i, x in enumerate((query, key, value)):
            w, b = self._projection(i)
            y = functional.linear(x, w, b)                        # (seq, N, E) or (N, seq, E)
            y = y.reshape(y.shape[0], y.shape[1], H, d)
            heads.append(y.permute(1, 2, 0, 3) if seq_first else y.permute(0, 2, 1, 3))
        p = self.dropout if self.training else 0.0
        out, weights = _attend(heads[0], heads[1], heads[2], bias, p, 1.0 / math.sqrt(d))
        out = out.permute(2, 0, 1, 3) if seq_first else out.permute(0, 2, 1, 3)
        out = self.out_proj(out.reshape(out.shape[0], out.shape[1], self.embed_dim))
        if not batched:
            out = out.reshape(L, self.embed_dim)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = mg.mean(weights, dim=1)
        if not batched:
            weights = weights.reshape(weights.shape[1:])
        return out, weights


# ---- recurrent (encoder-decoder) attentions -----------------------------------------------------
def _check_keys(keys, key_size, who):
    keys = _as_tensor(keys, who, "keys")
    _check_float(keys, who, "keys")
    if keys.ndim != 3 or keys.shape[-1] != key_size:
        raise ValueError(f"{who}: expected keys of shape (B, S, {key_size}) (batch first; "
                         f"key_size = {key_size}), got {keys.shape}")
    if keys.shape[1] == 0:
        raise ValueError(f"{who}: the keys hold no time steps (S = 0); an empty source "
                         "sequence cannot be attended to")
    return keys


def _check_query(query, keys, query_size, who):
    query = _as_tensor(query, who, "query")
    _check_float(query, who, "query")
    B = keys.shape[0]
    if query.ndim not in (2, 3) or query.shape[0] != B or query.shape[-1] != query_size:
        raise ValueError(f"{who}: expected query of shape (B, {query_size}) or (B, T, "
                         f"{query_size}) with B = {B} as in keys {keys.shape}, got {query.shape}")
    if query.dtype != keys.dtype:
        raise TypeError(f"{who}: query is {query.dtype} but keys are {keys.dtype}")
    return query


def _key_mask_bias(mask, keys, who):
    """A bool (B, S) mask (True = attend) as an additive bias (B, 1, S), or None."""
    if mask is None:
        return None
    data = mask.numpy() if isinstance(mask, mg.Tensor) else np.asarray(mask)
    B, S = keys.shape[0], keys.shape[1]
    if data.dtype != np.bool_:
        raise TypeError(f"{who}: expected a bool mask of shape (B, S) = {(B, S)} with True = "
                        f"attend to that encoder step, got dtype {data.dtype}")
    if data.shape != (B, S):
        raise ValueError(f"{who}: expected mask of shape (B, S) = {(B, S)} (True = attend), "
                         f"got {data.shape}")
    return mg.from_numpy(_bool_bias(data, keys.dtype).reshape(B, 1, S))


def _context(scores, keys, bias, squeeze):
    """weights = masked softmax of scores (B, T, S); context = weights @ keys (B, T, Dk)."""
    weights = masked_softmax(scores, bias)
    context = mg.matmul(weights, keys)
    if squeeze:
        return context.squeeze(1), weights.squeeze(1)
    return context, weights


def _uniform_param(shape, fan_in, dtype):
    """A Parameter drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's Linear init)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
    p = Parameter(np.zeros(shape, dtype=dtype))
    init.uniform_(p, -bound, bound)
    return p


class LuongAttention(Module):
    r"""Luong, Pham & Manning (2015) global attention.

    Scores between a decoder state :math:`h_t` (query) and encoder states :math:`\bar h_s`
    (keys):

    * ``score="dot"``:     :math:`h_t^\top \bar h_s` (needs query_size == key_size);
    * ``score="general"``: :math:`h_t^\top W_a \bar h_s` (``key_proj.weight`` = W_a, shape
      (query_size, key_size));
    * ``score="concat"``:  :math:`v_a^\top \tanh(W_a [h_t; \bar h_s])`, computed as
      :math:`v_a^\top \tanh(W_q h_t + W_k \bar h_s)` (``query_proj.weight``,
      ``key_proj.weight``, ``v``; W_a = [W_q, W_k]).

    Then :math:`a_t = \mathrm{softmax}_s(\mathrm{score})` and :math:`c_t = \sum_s a_{ts} \bar h_s`.
    (The attentional state :math:`\tanh(W_c [c_t; h_t])` belongs to the decoder.)

    forward(query, keys, mask=None, projected_keys=None) -> (context, weights):
    query (B, Dq) or (B, T, Dq); keys (B, S, Dk) (batch first); mask (B, S) bool, **True = the
    encoder step takes part** (False = padding). context (B, Dk) / (B, T, Dk), weights (B, S) /
    (B, T, S). Pass ``projected_keys=attn.project_keys(keys)`` to reuse the key projection over
    decoder steps. A row with every step masked gets zero weights.
    """

    SCORES = ("dot", "general", "concat")

    def __init__(self, query_size, key_size=None, score="general", attn_size=None, dtype=None):
        super().__init__()
        who = "LuongAttention"
        if score not in self.SCORES:
            raise ValueError(f"{who}: score must be one of {self.SCORES}, got {score!r}")
        self.query_size = int(query_size)
        self.key_size = int(key_size) if key_size is not None else self.query_size
        self.score = score
        if score == "dot" and self.query_size != self.key_size:
            raise ValueError(f"{who}: the dot score needs query_size == key_size, got "
                             f"{self.query_size} and {self.key_size}; use score='general'")
        dt = np.dtype(dtype) if dtype is not None else mg.get_default_dtype()
        if score == "general":
            self.key_proj = mg.nn.Linear(self.key_size, self.query_size, bias=False, dtype=dt)
        elif score == "concat":
            self.attn_size = int(attn_size) if attn_size is not None else self.query_size
            self.query_proj = mg.nn.Linear(self.query_size, self.attn_size, bias=False, dtype=dt)
            self.key_proj = mg.nn.Linear(self.key_size, self.attn_size, dtype=dt)
            self.v = _uniform_param((self.attn_size,), self.attn_size, dt)

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}, score={self.score!r}"

    def project_keys(self, keys):
        """The part of the score that depends on the keys only. keys: (B, S, Dk) ->
        (B, S, Dk) for dot, (B, S, Dq) for general, (B, S, attn_size) for concat."""
        keys = _check_keys(keys, self.key_size, "LuongAttention")
        return keys if self.score == "dot" else self.key_proj(keys)

    def forward(self, query, keys, mask=None, projected_keys=None):
        who = "LuongAttention"
        keys = _check_keys(keys, self.key_size, who)
        query = _check_query(query, keys, self.query_size, who)
        bias = _key_mask_bias(mask, keys, who)
        with mg.scope(who):
            pk = self.project_keys(keys) if projected_keys is None else projected_keys
            squeeze = query.ndim == 2
            q = query.unsqueeze(1) if squeeze else query                  # (B, T, Dq)
            if self.score == "concat":
                pq = self.query_proj(q)                                    # (B, T, A)
                energy = mg.tanh(pq.unsqueeze(2) + pk.unsqueeze(1))       # (B, T, S, A)
                scores = mg.matmul(energy, self.v)                         # (B, T, S)
            else:
                scores = mg.matmul(q, pk.transpose(1, 2))                  # (B, T, S)
            return _context(scores, keys, bias, squeeze)


class BahdanauAttention(Module):
    r"""Bahdanau, Cho & Bengio (2015) additive attention.

    .. math:: e_{ts} = v^\top \tanh(W_q q_t + W_k k_s + b),\quad
              a_t = \mathrm{softmax}_s(e_t),\quad c_t = \sum_s a_{ts} k_s

    Parameters: ``query_proj.weight`` W_q (attn_size, query_size), ``key_proj.weight`` W_k
    (attn_size, key_size), ``key_proj.bias`` b (when ``bias``), ``v`` (attn_size,).

    forward(query, keys, mask=None, projected_keys=None) -> (context, weights):
    query (B, Dq) (the decoder's previous state) or (B, T, Dq); keys (B, S, Dk) (batch first);
    mask (B, S) bool, **True = the encoder step takes part**. context (B, Dk) / (B, T, Dk),
    weights (B, S) / (B, T, S). ``projected_keys=attn.project_keys(keys)`` reuses W_k k + b
    across decoder steps. A row with every step masked gets zero weights.
    """

    def __init__(self, query_size, key_size=None, attn_size=None, bias=True, dtype=None):
        super().__init__()
        self.query_size = int(query_size)
        self.key_size = int(key_size) if key_size is not None else self.query_size
        self.attn_size = int(attn_size) if attn_size is not None else self.query_size
        dt = np.dtype(dtype) if dtype is not None else mg.get_default_dtype()
        self.query_proj = mg.nn.Linear(self.query_size, self.attn_size, bias=False, dtype=dt)
        self.key_proj = mg.nn.Linear(self.key_size, self.attn_size, bias=bias, dtype=dt)
        self.v = _uniform_param((self.attn_size,), self.attn_size, dt)

    def extra_repr(self):
        return (f"query_size={self.query_size}, key_size={self.key_size}, "
                f"attn_size={self.attn_size}")

    def project_keys(self, keys):
        """W_k keys + b. keys: (B, S, Dk) -> (B, S, attn_size)."""
        keys = _check_keys(keys, self.key_size, "BahdanauAttention")
        return self.key_proj(keys)

    def forward(self, query, keys, mask=None, projected_keys=None):
        who = "BahdanauAttention"
        keys = _check_keys(keys, self.key_size, who)
        query = _check_query(query, keys, self.query_size, who)
        bias = _key_mask_bias(mask, keys, who)
        with mg.scope(who):
            pk = self.project_keys(keys) if projected_keys is None else projected_keys
            squeeze = query.ndim == 2
            q = query.unsqueeze(1) if squeeze else query                  # (B, T, Dq)
            energy = mg.tanh(self.query_proj(q).unsqueeze(2) + pk.unsqueeze(1))  # (B,T,S,A)
            scores = mg.matmul(energy, self.v)                             # (B, T, S)
            return _context(scores, keys, bias, squeeze)
