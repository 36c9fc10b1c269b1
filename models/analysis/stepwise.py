"""Expose the per-step states of fused recurrent layers.

A fused layer (``fused=True``: one primitive runs a layer over the whole sequence) records no
per-step tensors, so the graph has nothing named ``h_t`` whose gradient could be read. Inside
``exposed_states(model)`` every fused, single-direction ``RNN``/``LSTM``/``GRU`` sub-module runs
each layer one time step at a time through the same fused primitive (``fused_recurrence`` on
sequences of length one), and the state handed from step to step — and from layer to layer —
is a tensor named and scoped like an unrolled layer's (``<Class>/layer{k}/t={t}``, ``"h"`` and
``"c"``). The function computed is the same (inter-layer dropout included, drawn per step);
reverse accumulation runs the fused backward kernel step by step and delivers the total
``dL/dh_t`` to each exposed state. For the LSTM the kernel's ``c_t`` is exposed and
``h_t = o_t * tanh(c_t)`` is rebuilt from it with the output gate in primitive ops, so that
``dL/dc_t`` also includes the path through ``h_t`` (see ``_lstm_output``).

A compiled ``models.Recurrent`` (any ``Cell``) runs its unrolled path inside the block: the
same numbers (tested to 1e-10 in float64), with every step's states named after the cell's
``state_names``.
"""

import contextlib

import minigrad as mg


def is_fused_recurrent(module):
    """True for a sequence-level recurrent layer (``RNN``/``LSTM``/``GRU``) running fused."""
    return (getattr(module, "fused", False) is True and hasattr(module, "num_layers")
            and hasattr(module, "weight_hh_l0") and hasattr(module, "mode"))


@contextlib.contextmanager
def exposed_states(model):
    """Within the block, fused recurrent sub-modules of ``model`` run step by step with named
    states. Yields ``"stepwise"`` if any layer was switched, else ``"unrolled"``."""
    from models.cell.recurrent import Recurrent

    patched, stepwise, unfused = [], False, []
    try:
        for _, module in model.named_modules():
            if isinstance(module, Recurrent) and module.fused:
                unfused.append((module, module.fused))
                module.fused = False
                stepwise = True
            elif is_fused_recurrent(module):
                _check_supported(module)
                stepwise = True
                if "forward" in module.__dict__:
                    continue  # already exposed by an enclosing block
                object.__setattr__(module, "forward", _stepwise(module))
                patched.append(module)
        yield "stepwise" if stepwise else "unrolled"
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)
        for module, fused in unfused:
            module.fused = fused


def _check_supported(module):
    name = type(module).__name__
    for attr in ("bidirectional", "recurrent_dropout"):
        if getattr(module, attr, False):
            raise ValueError(f"gradient analysis: a fused {name} with {attr} cannot be run one "
                             "step at a time; build it with fused=False")


def _stepwise(module):
    from models.rnn.fused import fused_recurrence

    name = type(module).__name__

    def params(k):
        get = lambda stem: getattr(module, f"{stem}_l{k}", None)  # noqa: E731
        return (get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"),
                get("weight_peep"))

    def run(x, hx=None, **kwargs):
        if kwargs:
            raise ValueError(f"gradient analysis: {name} run step by step does not take "
                             f"{sorted(kwargs)}")
        if x.ndim != 3:
            raise ValueError(f"gradient analysis: expected a batched 3-D input for {name}, "
                             f"got {x.shape}")
        seq = mg.transpose(x, 0, 1) if module.batch_first else x  # (T, B, I)
        steps, batch = seq.shape[0], seq.shape[1]
        lstm = module.mode == "lstm"
        h0, c0 = (hx if lstm else (hx, None)) if hx is not None else (None, None)
        layer_in = [seq[t] for t in range(steps)]
        finals_h, finals_c = [], []
        for k in range(module.num_layers):
            w_ih, w_hh, b_ih, b_hh, peep = params(k)
            zeros = mg.zeros(batch, module.hidden_size, dtype=seq.dtype)
            h = h0[k] if h0 is not None else zeros
            c = (c0[k] if c0 is not None else zeros) if lstm else None
            outs = []
            for t in range(steps):
                states = fused_recurrence(
                    module.mode, mg.unsqueeze(layer_in[t], 0), h, c, w_ih, w_hh, b_ih, b_hh,
                    nonlinearity=module.nonlinearity, peephole=peep,
                    coupled=getattr(module, "coupled", False),
                    reset_after=getattr(module, "reset_after", True))
                with mg.scope(name), mg.scope(f"layer{k}"), mg.scope(f"t={t}"):
                    if lstm:
                        c = states[0, 1]
                        c.name = "c"
                        h = _lstm_output(module, k, layer_in[t], h, c)
                    else:
                        h = states[0, 0]
                    h.name = "h"
                outs.append(h)
            finals_h.append(h)
            finals_c.append(c)
            if k + 1 < module.num_layers and module.training and module.dropout > 0:
                outs = [mg.nn.functional.dropout(o, module.dropout) for o in outs]
            layer_in = outs
        output = mg.stack(layer_in, 0)
        if module.batch_first:
            output = mg.transpose(output, 0, 1)
        h_n = mg.stack(finals_h, 0)
        return (output, (h_n, mg.stack(finals_c, 0))) if lstm else (output, h_n)

    return run


def _lstm_output(module, k, x_t, h_prev, c):
    """``h_t = o_t * tanh(c_t)`` from the named ``c_t``, with the output gate
    ``o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho [+ w_co * c_t])`` built from primitive
    ops, so that the graph holds the path ``c_t -> h_t`` as an unrolled LSTM's does (the fused
    kernel makes ``h_t`` and ``c_t`` together, with that path inside it). The kernel's own
    ``h_t`` is equal up to rounding and is not used."""
    hidden = module.hidden_size
    block = 2 if getattr(module, "coupled", False) else 3  # o is the last gate block
    rows = slice(block * hidden, (block + 1) * hidden)
    pre = mg.matmul(x_t, mg.transpose(getattr(module, f"weight_ih_l{k}")[rows], 0, 1))
    pre = pre + mg.matmul(h_prev, mg.transpose(getattr(module, f"weight_hh_l{k}")[rows], 0, 1))
    b_ih, b_hh = getattr(module, f"bias_ih_l{k}", None), getattr(module, f"bias_hh_l{k}", None)
    if b_ih is not None:
        pre = pre + b_ih[rows] + b_hh[rows]
    peep = getattr(module, f"weight_peep_l{k}", None)
    if peep is not None:
        pre = pre + peep[2] * c
    return mg.sigmoid(pre) * mg.tanh(c)
