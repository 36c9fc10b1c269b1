r"""One step of an Elman RNN, an LSTM or a GRU, built from minigrad's primitive ops; and the
cell modules ``RNNCell``, ``LSTMCell``, ``GRUCell`` (PyTorch's names, shapes, gate orders and
init).

The step functions are shared by the cells and by the unrolled layers, so a cell applied in a
Python loop and ``LSTM(..., fused=False)`` record the same ops. A step takes a ``CellParams``
(the per-forward views of one layer-direction's parameters: transposed weights, the summed bias)
so that those views are made once per sequence, not once per step.

Shapes: x: (B, I), h and c: (B, H); weights: weight_ih (G H, I), weight_hh (G H, H), biases
(G H,), where G is the number of gate blocks (1 RNN, 4 LSTM, 3 coupled LSTM, 3 GRU).
"""

import inspect
import math

import minigrad as mg

from ..cell.base import Cell
from ..cell.registry import NAMES
from .checks import check_size, check_state, expect_dtype, expect_shape, expect_tensor, shape_str

NONLINEARITIES = ("tanh", "relu")


def gate_count(mode, coupled=False):
    """Number of (H,)-row blocks in weight_ih / weight_hh: RNN 1, LSTM 4 (i, f, g, o), coupled
    LSTM 3 (f, g, o), GRU 3 (r, z, n)."""
    if mode == "rnn":
        return 1
    if mode == "lstm":
        return 3 if coupled else 4
    if mode == "gru":
        return 3
    raise ValueError(f"gate_count: mode expected one of {NAMES}, got {mode!r}")


class CellParams:
    """What every step of one layer-direction needs, made once per forward pass.

    ih: weight_ih^T (I, G H); hh: weight_hh^T (H, G H); bias: bias_ih + bias_hh (G H,) or None
    (RNN, LSTM); GRU keeps ``bias_ih`` / ``bias_hh`` apart (the n-gate needs b_hn on its own)
    and, for ``reset_after=False``, splits ``hh`` into ``hh_rz`` (H, 2H) and ``hh_n`` (H, H).
    ``peep``: the rows (w_ci, w_cf, w_co) of the (3, H) peephole weight, each (H,), or None.
    """

    __slots__ = ("mode", "hidden_size", "nonlinearity", "coupled", "reset_after", "ih", "hh",
                 "bias", "bias_ih", "bias_hh", "hh_rz", "hh_n", "bias_hh_rz", "bias_hh_n",
                 "peep")

    def __init__(self, mode, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                 nonlinearity="tanh", peephole=None, coupled=False, reset_after=True):
        hidden = weight_hh.shape[1]
        self.mode, self.hidden_size, self.nonlinearity = mode, hidden, nonlinearity
        self.coupled, self.reset_after = bool(coupled), bool(reset_after)
        self.ih = mg.transpose(weight_ih, 0, 1)
        self.hh = mg.transpose(weight_hh, 0, 1)
        self.bias = self.bias_ih = self.bias_hh = None
        self.hh_rz = self.hh_n = self.bias_hh_rz = self.bias_hh_n = self.peep = None
        if mode == "gru":
            self.bias_ih, self.bias_hh = bias_ih, bias_hh
            if not reset_after:
                self.hh_rz, self.hh_n = self.hh[:, :2 * hidden], self.hh[:, 2 * hidden:]
                if bias_hh is not None:
                    self.bias_hh_rz = bias_hh[:2 * hidden]
                    self.bias_hh_n = bias_hh[2 * hidden:]
        elif bias_ih is not None:
            self.bias = bias_ih + bias_hh
        if peephole is not None:
            self.peep = (None if coupled else peephole[0], peephole[1], peephole[2])


def rnn_step(p, x, h, c, h_rec):
    r"""Elman step :math:`h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`,
    :math:`\phi` = tanh or ReLU. ``h_rec`` is the h_{t-1} that enters the recurrent matmul (h
    itself, or h times a recurrent-dropout mask). Returns ``(h_t, None)``."""
    a = mg.matmul(x, p.ih) + mg.matmul(h_rec, p.hh)
    if p.bias is not None:
        a = a + p.bias
    return (mg.tanh(a) if p.nonlinearity == "tanh" else mg.relu(a)), None


def lstm_step(p, x, h, c, h_rec):
    r"""LSTM step (PyTorch's gate order i, f, g, o):

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + w_{ci} \odot c_{t-1}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + w_{cf} \odot c_{t-1}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + w_{co} \odot c_t) \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    The peephole terms :math:`w_{c\cdot} \odot c` (Gers & Schmidhuber 2000) are present only with
    a peephole weight. Coupled input-forget gates: the weights hold the blocks f, g, o and
    :math:`i_t = 1 - f_t`. Returns ``(h_t, c_t)``.
    """
    hidden = p.hidden_size
    gates = mg.matmul(x, p.ih) + mg.matmul(h_rec, p.hh)
    if p.bias is not None:
        gates = gates + p.bias
    peep = p.peep
    if p.coupled:
        f_pre, g_pre, o_pre = (gates[:, k * hidden:(k + 1) * hidden] for k in range(3))
    else:
        i_pre, f_pre, g_pre, o_pre = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
        if peep is not None:
            i_pre = i_pre + peep[0] * c
    if peep is not None:
        f_pre = f_pre + peep[1] * c
    f = mg.sigmoid(f_pre)
    i = 1.0 - f if p.coupled else mg.sigmoid(i_pre)
    c_new = f * c + i * mg.tanh(g_pre)
    if peep is not None:
        o_pre = o_pre + peep[2] * c_new
    h_new = mg.sigmoid(o_pre) * mg.tanh(c_new)
    return h_new, c_new


def gru_step(p, x, h, c, h_rec):
    r"""GRU step (PyTorch's gate order r, z, n):

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))
              \quad\text{(reset\_after=True, PyTorch / Keras)} \\
        n_t &= \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})
              \quad\text{(reset\_after=False, Cho et al. 2014)} \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    computed as :math:`n_t + z_t \odot (h_{t-1} - n_t)`. ``h_rec`` (h_{t-1}, possibly masked by
    recurrent dropout) is what enters the matmuls; the last line uses h_{t-1} itself.
    Returns ``(h_t, None)``.
    """
    hidden = p.hidden_size
    gi = mg.matmul(x, p.ih)
    if p.bias_ih is not None:
        gi = gi + p.bias_ih
    if p.reset_after:
        gh = mg.matmul(h_rec, p.hh)
        if p.bias_hh is not None:
            gh = gh + p.bias_hh
        rz = mg.sigmoid(gi[:, :2 * hidden] + gh[:, :2 * hidden])
        r, z = rz[:, :hidden], rz[:, hidden:]
        n = mg.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
    else:
        gh_rz = mg.matmul(h_rec, p.hh_rz)
        if p.bias_hh_rz is not None:
            gh_rz = gh_rz + p.bias_hh_rz
        rz = mg.sigmoid(gi[:, :2 * hidden] + gh_rz)
        r, z = rz[:, :hidden], rz[:, hidden:]
        gh_n = mg.matmul(r * h_rec, p.hh_n)
        if p.bias_hh_n is not None:
            gh_n = gh_n + p.bias_hh_n
        n = mg.tanh(gi[:, 2 * hidden:] + gh_n)
    return n + z * (h - n), None


STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}


def make_cell(mode, input_size, hidden_size, bias=True, *, dtype=None, **options):
    """The built-in cell of kind ``mode`` (``models.cell.registry``) with the layers' options
    (``nonlinearity``, ``peephole``, ``coupled``, ``reset_after``): those its class does not
    take must be at their defaults."""
    from ..cell.registry import kind

    cls = kind(mode).cell
    taken = inspect.signature(cls).parameters
    defaults = inspect.signature(_CellBase).parameters
    for name, value in options.items():
        if name not in taken and value != defaults[name].default:
            raise ValueError(f"{cls.__name__} takes no {name} (got {value!r})")
    return cls(input_size, hidden_size, bias, dtype=dtype,
               **{k: v for k, v in options.items() if k in taken})


def init_uniform_(params, hidden_size):
    """PyTorch's default init for every recurrent parameter: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for param in params:
        mg.nn.init.uniform_(param, -bound, bound)


def make_parameters(mode, input_size, hidden_size, bias, *, coupled=False, peephole=False,
                    dtype=None):
    """The parameters of one layer-direction, in PyTorch's order: a list of
    ``(name stem, Parameter)`` with stems weight_ih, weight_hh, bias_ih, bias_hh, weight_peep."""
    rows = gate_count(mode, coupled) * hidden_size
    shapes = [("weight_ih", (rows, input_size)), ("weight_hh", (rows, hidden_size))]
    if bias:
        shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
    if peephole:
        shapes.append(("weight_peep", (3, hidden_size)))
    made = [(stem, mg.nn.Parameter(mg.zeros(*shape, dtype=dtype))) for stem, shape in shapes]
    init_uniform_([p for _, p in made], hidden_size)
    return made


class _CellBase(Cell):
    """Shared by the three cells: parameters ``weight_ih`` (G H, I), ``weight_hh`` (G H, H),
    ``bias_ih``, ``bias_hh`` (G H,) and (LSTM with peepholes) ``weight_peep`` (3, H).

    They are ``models.Cell`` s: ``models.Recurrent`` runs them (and compiles them) like any
    cell written by a user; ``functools.partial(LSTMCell, peephole=True)`` passes options."""

    mode = None

    def __init__(self, input_size, hidden_size, bias=True, *, nonlinearity="tanh",
                 coupled=False, peephole=False, reset_after=True, dtype=None):
        who = type(self).__name__
        super().__init__(check_size(who, "input_size", input_size),
                         check_size(who, "hidden_size", hidden_size))
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"{who}: nonlinearity expected one of {NONLINEARITIES}, got "
                             f"{nonlinearity!r}")
        self.bias = bool(bias)
        self.nonlinearity = nonlinearity
        self.coupled, self.peephole, self.reset_after = coupled, peephole, reset_after
        for stem, param in make_parameters(self.mode, self.input_size, self.hidden_size, bias,
                                           coupled=coupled, peephole=peephole, dtype=dtype):
            setattr(self, stem, param)
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self):
        init_uniform_(self.parameters(), self.hidden_size)

    def _params(self):
        return CellParams(self.mode, self.weight_ih, self.weight_hh, self.bias_ih,
                          self.bias_hh, nonlinearity=self.nonlinearity,
                          peephole=getattr(self, "weight_peep", None), coupled=self.coupled,
                          reset_after=self.reset_after)

    def _check_input(self, x):
        who = type(self).__name__
        expect_tensor(who, "input", x)
        if x.ndim not in (1, 2):
            raise ValueError(f"{who}: input expected shape (B, {self.input_size}) or "
                             f"({self.input_size},), got {shape_str(x.shape)}")
        expect_shape(who, "input", x.shape, ("B", self.input_size)[2 - x.ndim:])
        expect_dtype(who, "input", x, self.weight_ih.dtype)
        return (x, True) if x.ndim == 2 else (mg.unsqueeze(x, 0), False)

    def _state(self, what, state, x, batched):
        """An initial state: checked against x's batch, or zeros. x: (B, I) -> (B, H). A
        one-element tuple ``(h,)`` (the ``Cell`` protocol's state) is taken as h."""
        if isinstance(state, tuple) and len(state) == 1:
            state = state[0]
        shape = (x.shape[0], self.hidden_size)
        if state is None:
            return mg.zeros(*shape, dtype=x.dtype)
        check_state(type(self).__name__, what, state, shape if batched else shape[1:], x.dtype)
        return state if batched else mg.unsqueeze(state, 0)

    def _run(self, x, h, c, batched):
        h_new, c_new = STEPS[self.mode](self._params(), x, h, c, h)
        if not batched:
            h_new = mg.squeeze(h_new, 0)
            c_new = None if c_new is None else mg.squeeze(c_new, 0)
        h_new.name = "h"
        if c_new is not None:
            c_new.name = "c"
        return h_new, c_new

    def extra_repr(self):
        extra = "" if self.bias else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{extra}"


class RNNCell(_CellBase):
    r"""One Elman step :math:`h' = \phi(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`,
    :math:`\phi` = tanh or ReLU.

    ``RNNCell(input_size, hidden_size, bias=True, nonlinearity="tanh")``; call ``cell(x, h)``
    with x: (B, I) or (I,), h: (B, H) or (H,) (zeros when omitted) -> h': (B, H) or (H,).
    Parameters weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H,).
    """

    mode = "rnn"
    state_names = ("h",)

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, dtype=None):
        super().__init__(input_size, hidden_size, bias, nonlinearity=nonlinearity, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002 - PyTorch's name
        x, batched = self._check_input(input)
        return self._run(x, self._state("hx", hx, x, batched), None, batched)[0]

    def extra_repr(self):
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra


class LSTMCell(_CellBase):
    r"""One LSTM step (gates i, f, g, o as in PyTorch; see ``lstm_step`` for the equations):

    .. math::
        c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')

    ``LSTMCell(input_size, hidden_size, bias=True, *, peephole=False, coupled=False)``; call
    ``cell(x, (h, c))`` with x: (B, I) or (I,), h, c: (B, H) or (H,) (zeros when omitted)
    -> ``(h', c')``. Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,);
    with ``coupled`` 3H rows (f, g, o; i = 1 - f); with ``peephole`` also weight_peep (3, H)
    holding w_ci, w_cf, w_co (w_ci unused when coupled).
    """

    mode = "lstm"
    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, *, peephole=False, coupled=False,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, peephole=bool(peephole),
                         coupled=bool(coupled), dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002 - PyTorch's name
        x, batched = self._check_input(input)
        if hx is None:
            h0 = c0 = None
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            h0, c0 = hx
        else:
            raise ValueError(f"LSTMCell: hx expected a pair (h, c), got {type(hx).__name__}")
        return self._run(x, self._state("h", h0, x, batched), self._state("c", c0, x, batched),
                         batched)

    def extra_repr(self):
        extra = "".join(f", {k}=True" for k in ("peephole", "coupled") if getattr(self, k))
        return super().extra_repr() + extra


class GRUCell(_CellBase):
    r"""One GRU step (gates r, z, n as in PyTorch; see ``gru_step`` for the equations):

    .. math::
        h' = (1 - z) \odot n + z \odot h

    ``GRUCell(input_size, hidden_size, bias=True, *, reset_after=True)``; call ``cell(x, h)``
    with x: (B, I) or (I,), h: (B, H) or (H,) -> h'. ``reset_after=False`` applies r before the
    recurrent matmul (Cho et al. 2014). Parameters weight_ih (3H, I), weight_hh (3H, H),
    bias_ih, bias_hh (3H,).
    """

    mode = "gru"
    state_names = ("h",)

    def __init__(self, input_size, hidden_size, bias=True, *, reset_after=True, dtype=None):
        super().__init__(input_size, hidden_size, bias, reset_after=bool(reset_after),
                         dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002 - PyTorch's name
        x, batched = self._check_input(input)
        return self._run(x, self._state("hx", hx, x, batched), None, batched)[0]

    def extra_repr(self):
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")
