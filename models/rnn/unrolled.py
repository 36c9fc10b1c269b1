"""The unrolled path: a recurrence over a whole sequence as one cell step per time step, each
step built from primitive ops inside ``mg.scope("t={t}")``.

The graph it records can be drawn, hooked step by step and traced symbolically; its answers
(outputs and gradients) are the fused path's. The caller (``layers.py``) opens the enclosing
scopes ``<ClassName>/layer{k}[/forward|reverse]`` of the CONTRIBUTING convention.
"""

import numpy as np

import minigrad as mg

from .cells import STEPS, CellParams


def unrolled_recurrence(mode, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, *,
                        nonlinearity="tanh", lengths=None, reverse=False, hidden_mask=None,
                        peephole=None, coupled=False, reset_after=True, track_states=False):
    """Run one layer-direction step by step; the reference for ``fused_recurrence``.

    mode: "rnn" | "lstm" | "gru". x: a (T, B, I) Tensor, or a list of T (B, I) Tensors (the
    layers pass the layer below's per-step states, which avoids slicing a stacked tensor).
    h0, c0: (B, H) Tensors (c0 is None unless LSTM). lengths: None or int64 numpy (B,), each in
    [1, T]. hidden_mask: None or a (B, H) array (already scaled by 1/(1-p)) that multiplies
    h_{t-1} where it enters the recurrent matmul. peephole: None or the (3, H) weight.

    Returns ``(hs, cs)``: lists of T state tensors (B, H) in original time order (``cs`` is None
    unless LSTM). Each state made by a step is named "h" (and "c"); past a sequence's end the
    forward direction carries the last valid state and the reverse direction still holds
    h0 / c0, exactly as ``fused_recurrence``'s states.

    track_states=True makes the gradient of every ``hs[t]`` / ``cs[t]`` the total derivative
    w.r.t. the state (h_t, c_t) that step t hands on, as the fused path's probe receives it
    (the layers set it for ``return_all_states``). Two things differ without it: a step at
    which every sequence is past its end is skipped (``hs[t]`` is the very tensor of the step
    before, or h0), and the LSTM's ``cs[t]`` is the c_t that h_t = o_t tanh(c_t) is computed
    from, so its gradient also holds the path through h_t. With it, such steps run too and
    every step records its states as ``where(live, new, carried)`` (live may be all True or
    all False): the same values, each a tensor of its own, with ``cs[t]`` after h_t's use.
    Without ``lengths`` an RNN / GRU graph is unchanged by it (each h_t is already its own).
    """
    steps = len(x) if isinstance(x, (list, tuple)) else x.shape[0]
    params = CellParams(mode, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity=nonlinearity,
                        peephole=peephole, coupled=coupled, reset_after=reset_after)
    step = STEPS[mode]
    mask = None if hidden_mask is None else mg.as_tensor(np.asarray(hidden_mask, h0.dtype))
    hs, cs = [None] * steps, ([None] * steps if mode == "lstm" else None)
    h, c = h0, c0
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        live = None if lengths is None else t < lengths
        if live is not None and not live.any() and not track_states:
            hs[t] = h  # no sequence has reached step t yet (reverse) / all have ended
            if cs is not None:
                cs[t] = c
            continue
        with mg.scope(f"t={t}"):
            x_t = x[t]
            h_new, c_new = step(params, x_t, h, c, h if mask is None else h * mask)
            if track_states and live is None and c_new is not None:
                # the LSTM's recorded c_t must be a tensor after h_t's use (see above); h_t
                # already is one of its own, so RNN / GRU graphs stay as they are
                live = np.ones(h.shape[0], dtype=bool)
            if live is not None and (track_states or not live.all()):
                keep = mg.as_tensor(live[:, None])
                h_new = mg.where(keep, h_new, h)
                c_new = None if c_new is None else mg.where(keep, c_new, c)
            h_new.name = "h"
            if c_new is not None:
                c_new.name = "c"
        h, c = h_new, c_new
        hs[t] = h
        if cs is not None:
            cs[t] = c
    return hs, cs
