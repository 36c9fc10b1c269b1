"""Plain numpy (float64) implementations of the recurrent equations, written from the papers /
PyTorch docs independently of models/rnn, for the RNN tests.

Variable-length batches are handled the way packed sequences define them: each sequence b is run
on its own over ``x[:len_b, b]`` (the reverse direction from its own last step); outputs past the
end are zero and h_n is the state after its last processed step.
"""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def cell_step(mode, x, h, c, p, *, nonlinearity="tanh", coupled=False, reset_after=True,
              mask=None):
    """One step. x: (B, I), h, c: (B, H); p: dict with w_ih, w_hh, b_ih, b_hh (None if no
    bias), peep (3, H) or None. mask: (B, H) recurrent-dropout mask on h in the matmuls."""
    hidden = h.shape[-1]
    hm = h if mask is None else h * mask
    b_ih = 0.0 if p.get("b_ih") is None else p["b_ih"]
    b_hh = 0.0 if p.get("b_hh") is None else p["b_hh"]
    peep = p.get("peep")
    if mode == "rnn":
        a = x @ p["w_ih"].T + b_ih + hm @ p["w_hh"].T + b_hh
        return (np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)), None
    if mode == "lstm":
        gates = x @ p["w_ih"].T + b_ih + hm @ p["w_hh"].T + b_hh
        blocks = [gates[:, k * hidden:(k + 1) * hidden] for k in range(gates.shape[1] // hidden)]
        if coupled:
            gf, gg, go = blocks
        else:
            gi, gf, gg, go = blocks
        if peep is not None:
            gf = gf + peep[1] * c
        f = sigmoid(gf)
        if coupled:
            i = 1.0 - f
        else:
            i = sigmoid(gi + (peep[0] * c if peep is not None else 0.0))
        c_new = f * c + i * np.tanh(gg)
        o = sigmoid(go + (peep[2] * c_new if peep is not None else 0.0))
        return o * np.tanh(c_new), c_new
    gi = x @ p["w_ih"].T + b_ih
    w_r, w_z, w_n = np.split(p["w_hh"], 3, axis=0)
    b_r, b_z, b_n = np.split(np.broadcast_to(b_hh, (3 * hidden,)), 3)
    r = sigmoid(gi[:, :hidden] + hm @ w_r.T + b_r)
    z = sigmoid(gi[:, hidden:2 * hidden] + hm @ w_z.T + b_z)
    if reset_after:
        n = np.tanh(gi[:, 2 * hidden:] + r * (hm @ w_n.T + b_n))
    else:
        n = np.tanh(gi[:, 2 * hidden:] + (r * hm) @ w_n.T + b_n)
    return (1.0 - z) * n + z * h, None


def layer_params(module, k, suffix_free=False):
    """The numpy parameters of layer-direction k of a minigrad layer (or of a cell)."""
    names = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
             "peep": "weight_peep"}
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    if suffix_free:
        return {key: state.get(stem) for key, stem in names.items()}
    layer, direction = divmod(k, 2 if module.bidirectional else 1)
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return {key: state.get(stem + suffix) for key, stem in names.items()}


def run_layers(module, x, h0=None, c0=None, lengths=None, hidden_masks=None, layer_masks=None):
    """The multi-layer (bidirectional) recurrence of ``module``'s settings, in numpy.

    x: (T, B, I) float64; h0, c0: (L D, B, H) or None; lengths: (B,) or None;
    hidden_masks: {k: (B, H)}; layer_masks: {layer: (T, B, D H)} (inter-layer dropout).
    Returns output (T, B, D H), h_n (L D, B, H), c_n or None, and all states
    {k: (hs (T, B, H), cs)} with the carried semantics of ``States``.
    """
    mode = module.mode
    steps, batch, _ = x.shape
    hidden, dirs = module.hidden_size, (2 if module.bidirectional else 1)
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    opts = dict(nonlinearity=module.nonlinearity, coupled=module.coupled,
                reset_after=module.reset_after)
    layer_in = x
    h_n, c_n, states = [], [], {}
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            p = layer_params(module, k)
            mask = None if hidden_masks is None else hidden_masks.get(k)
            out = np.zeros((steps, batch, hidden))
            hs = np.zeros((steps, batch, hidden))
            cs = np.zeros((steps, batch, hidden))
            hn, cn = np.zeros((batch, hidden)), np.zeros((batch, hidden))
            for b in range(batch):
                h = np.zeros((1, hidden)) if h0 is None else h0[k, b:b + 1]
                c = np.zeros((1, hidden)) if c0 is None else c0[k, b:b + 1]
                hs[:, b], cs[:, b] = h, c  # reverse: h0 before the sequence's own last step
                n = int(lengths[b])
                order = range(n - 1, -1, -1) if d else range(n)
                mb = None if mask is None else mask[b:b + 1]
                for t in order:
                    h, c_new = cell_step(mode, layer_in[t, b:b + 1], h, c, p, mask=mb, **opts)
                    c = c if c_new is None else c_new
                    out[t, b], hs[t, b], cs[t, b] = h, h, c
                if not d:
                    hs[n:, b], cs[n:, b] = h, c  # forward: the last valid state carried
                hn[b], cn[b] = h, c
            outs.append(out)
            h_n.append(hn)
            c_n.append(cn)
            states[k] = (hs, cs if mode == "lstm" else None)
        layer_in = np.concatenate(outs, axis=2)
        if layer_masks is not None and layer in layer_masks:
            layer_in = layer_in * layer_masks[layer]
    output = np.concatenate(outs, axis=2)
    return output, np.stack(h_n), (np.stack(c_n) if mode == "lstm" else None), states
