"""Recurrent variants for gradient experiments that the library's layers do not offer.

``ElmanRNN`` is an unrolled single-direction RNN with any of the lectures' activations
(``tanh``, ``sigmoid``, ``relu``, ``leaky_relu``) and an optional skip connection through time:

.. math::

    h_t = \\phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \\; [+\\, h_{t-d}]

With the skip (delay ``d``) the state ``h_{t-d}`` reaches ``h_t`` through an identity path, so
the gradient from ``h_T`` back to ``h_t`` needs only ``(T - t) / d`` hops and one of its paths
never shrinks (Goodfellow, Bengio & Courville 2016, section 10.9.1; with ``d = 1`` it is the
residual form of the LSTM's cell path with the forget gate open).

Parameters use PyTorch's names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``) and init (``U(-1/sqrt(H), 1/sqrt(H))``), so the helpers of
``models.analysis.spectral`` apply. Each step runs inside ``mg.scope("ElmanRNN")`` /
``mg.scope("layer{k}")`` / ``mg.scope("t={t}")`` and its new state is named ``"h"``, the
convention of the library's unrolled layers.
"""

import math

import numpy as np

import minigrad as mg

ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu")


class ElmanRNN(mg.nn.Module):
    """x: (T, B, I) -> (output (T, B, H), h_n (num_layers, B, H)); ``hx``: (num_layers, B, H)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh",
                 negative_slope=0.01, skip=None, dtype=None):
        super().__init__()
        if nonlinearity not in ACTIVATIONS:
            raise ValueError(f"ElmanRNN: nonlinearity must be one of {ACTIVATIONS}, got "
                             f"{nonlinearity!r}")
        if skip is not None and (not isinstance(skip, int) or skip < 1):
            raise ValueError(f"ElmanRNN: skip must be None or a delay >= 1, got {skip!r}")
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(f"ElmanRNN: sizes must be positive, got input_size={input_size}, "
                             f"hidden_size={hidden_size}, num_layers={num_layers}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers = int(num_layers)
        self.nonlinearity, self.negative_slope, self.skip = nonlinearity, negative_slope, skip
        dt = np.dtype(dtype or mg.get_default_dtype())
        bound = 1.0 / math.sqrt(hidden_size)
        for k in range(num_layers):
            fan_in = input_size if k == 0 else hidden_size
            for name, shape in ((f"weight_ih_l{k}", (hidden_size, fan_in)),
                                (f"weight_hh_l{k}", (hidden_size, hidden_size)),
                                (f"bias_ih_l{k}", (hidden_size,)),
                                (f"bias_hh_l{k}", (hidden_size,))):
                p = mg.nn.Parameter(np.zeros(shape, dtype=dt))
                mg.nn.init.uniform_(p, -bound, bound)
                setattr(self, name, p)

    def _activate(self, a):
        if self.nonlinearity == "tanh":
            return a.tanh()
        if self.nonlinearity == "sigmoid":
            return a.sigmoid()
        if self.nonlinearity == "relu":
            return a.relu()
        return mg.leaky_relu(a, self.negative_slope)

    def forward(self, x, hx=None):
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"ElmanRNN: expected input (T, B, {self.input_size}), got "
                             f"{x.shape}")
        steps, batch = x.shape[0], x.shape[1]
        shape = (self.num_layers, batch, self.hidden_size)
        if hx is not None and hx.shape != shape:
            raise ValueError(f"ElmanRNN: expected hx of shape {shape}, got {hx.shape}")
        layer_in = x
        finals = []
        with mg.scope(type(self).__name__):
            for k in range(self.num_layers):
                w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
                bias = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
                h = hx[k] if hx is not None else mg.zeros(batch, self.hidden_size, dtype=x.dtype)
                history = [h]
                with mg.scope(f"layer{k}"):
                    projected = mg.nn.functional.linear(layer_in, w_ih, bias)  # (T, B, H)
                    for t in range(steps):
                        with mg.scope(f"t={t}"):
                            h = self._activate(projected[t] + h @ w_hh.T)
                            if self.skip is not None and t + 1 - self.skip >= 0:
                                h = h + history[t + 1 - self.skip]
                            h.name = "h"
                        history.append(h)
                layer_in = mg.stack(history[1:], 0)
                finals.append(history[-1])
        return layer_in, mg.stack(finals, 0)

    def extra_repr(self):
        skip = f", skip={self.skip}" if self.skip is not None else ""
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"nonlinearity={self.nonlinearity!r}{skip}")
