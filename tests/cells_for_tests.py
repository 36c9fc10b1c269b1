"""Cells written only for the tests of ``models.Recurrent`` and the cell compiler (each in a
few lines of Tensor ops, as a user would write them)."""

import minigrad as mg
from models import Cell


def _param(*shape, scale=0.4):
    return mg.nn.Parameter(mg.randn(*shape) * scale)


class Elman(Cell):
    """h' = tanh(x W^T + h U^T + b): the smallest cell."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = _param(hidden_size, input_size)
        self.u = _param(hidden_size, hidden_size)
        self.b = _param(hidden_size, scale=0.1)

    def forward(self, x, state):
        (h,) = state
        return (mg.tanh(x @ self.w.t() + h @ self.u.t() + self.b),)


class GatedBeforeProduct(Cell):
    """A GRU whose reset gate multiplies the state before its product with U_n (Cho et al.
    2014): a gate of this step enters a second product of the same step."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = _param(3 * hidden_size, input_size)
        self.u = _param(3 * hidden_size, hidden_size)
        self.b = _param(3 * hidden_size, scale=0.1)

    def forward(self, x, state):
        (h,) = state
        H = self.hidden_size
        gx = x @ self.w.t() + self.b
        r = mg.sigmoid(gx[:, :H] + h @ self.u[:H].t())
        z = mg.sigmoid(gx[:, H:2 * H] + h @ self.u[H:2 * H].t())
        n = mg.tanh(gx[:, 2 * H:] + (r * h) @ self.u[2 * H:].t())
        return ((1 - z) * n + z * h,)


class Normalized(Cell):
    """An RNN whose pre-activation is normalised over the hidden units (layer norm): means
    and variances are reductions over H inside the step."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = _param(hidden_size, input_size)
        self.u = _param(hidden_size, hidden_size)
        self.gain = mg.nn.Parameter(mg.ones(hidden_size) + 0.1 * mg.randn(hidden_size))

    def forward(self, x, state):
        (h,) = state
        a = x @ self.w.t() + h @ self.u.t()
        a = a - a.mean(dim=1, keepdim=True)
        scale = ((a * a).mean(dim=1, keepdim=True) + 1e-5).sqrt()
        return (mg.tanh(self.gain * a / scale),)


class PeepholeReLU(Cell):
    """Two states: an LSTM with peepholes (weight rows times the cell state) and ReLU
    output."""

    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.weight_ih = _param(4 * hidden_size, input_size)
        self.weight_hh = _param(4 * hidden_size, hidden_size)
        self.peep = _param(3, hidden_size)

    def forward(self, x, state):
        h, c = state
        H = self.hidden_size
        g = x @ self.weight_ih.t() + h @ self.weight_hh.t()
        i = mg.sigmoid(g[:, :H] + self.peep[0] * c)
        f = mg.sigmoid(g[:, H:2 * H] + self.peep[1] * c)
        c_new = f * c + i * mg.tanh(g[:, 2 * H:3 * H])
        o = mg.sigmoid(g[:, 3 * H:] + self.peep[2] * c_new)
        return o * mg.relu(c_new), c_new


class TorchLSTM(Cell):
    """PyTorch's LSTM equations written by a user with ``nn.functional.linear``."""

    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.weight_ih = _param(4 * hidden_size, input_size)
        self.weight_hh = _param(4 * hidden_size, hidden_size)
        self.bias_ih = _param(4 * hidden_size, scale=0.1)
        self.bias_hh = _param(4 * hidden_size, scale=0.1)

    def forward(self, x, state):
        h, c = state
        H = self.hidden_size
        linear = mg.nn.functional.linear
        g = linear(x, self.weight_ih, self.bias_ih) + linear(h, self.weight_hh, self.bias_hh)
        i, f = mg.sigmoid(g[:, :H]), mg.sigmoid(g[:, H:2 * H])
        c_new = f * c + i * mg.tanh(g[:, 2 * H:3 * H])
        return mg.sigmoid(g[:, 3 * H:]) * mg.tanh(c_new), c_new


class CumulativeSum(Cell):
    """Uses an op the compiler has no rule for (a cumulative sum over H)."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = _param(hidden_size, input_size)

    def forward(self, x, state):
        (h,) = state
        return (mg.tanh(x @ self.w.t() + mg.cumsum(h, dim=1)),)


class SignGate(Cell):
    """Uses a value made from the state without gradient (a comparison)."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = _param(hidden_size, input_size)

    def forward(self, x, state):
        (h,) = state
        positive = mg.as_tensor((h.numpy() > 0).astype(h.dtype))
        return (mg.tanh(x @ self.w.t() + h * positive),)


class JoinedInput(Cell):
    """One linear layer over [x, h] (a concatenation of the input with the state): the
    product's left operand is assembled from an input and a carried state."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.lin = mg.nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x, state):
        (h,) = state
        return (mg.tanh(self.lin(mg.concat([x, h], dim=1))) + 0.5 * h,)


class Clamped(Cell):
    """Uses ``clamp``, whose backward rule builds a mask from the values (not compilable)."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = _param(hidden_size, input_size)

    def forward(self, x, state):
        (h,) = state
        return ((x @ self.w.t() + h).clamp(-1.0, 1.0),)
