r"""The step Jacobian of any cell, derived with sympy from the cell's own graph.

``step_jacobian(cell)`` runs one step of a ``models.Cell`` on tiny float64 leaves, traces the
recorded graph with ``minigrad.symbolic.to_sympy`` (the input, the previous state and every
parameter as symbols) and differentiates it: :math:`J_t = \partial s_t / \partial s_{t-1}`
for the stacked state :math:`s = (h, c, \dots)`. The product of these over the steps is what
makes a cell's gradients vanish or explode; the built-in cells' derivations (with the
lectures' closed forms) are in ``models.theory``. Keep the sizes tiny: the expressions grow
with H.
"""

import dataclasses

import numpy as np

import minigrad as mg
from minigrad.symbolic import symbols_like, to_sympy


@dataclasses.dataclass
class CellJacobian:
    """x: column Matrix of the input's symbols (x_0 ...); prev: the previous state's
    symbols, stacked in ``state_names`` order (h_0 ..., c_0 ...); new: the new state's
    expressions, stacked the same way; jacobian: d new / d prev (a Matrix); params: parameter
    name -> object array of its symbols (named after the parameter)."""

    x: object
    prev: object
    new: object
    jacobian: object
    params: dict

    def numeric(self, x, states, params):
        """The Jacobian as numbers at x: (I,), states: one (H,) array per state, params:
        name -> array (e.g. ``{n: p.numpy() for n, p in cell.named_parameters()}``)."""
        import sympy

        values = dict(zip(list(self.x), np.asarray(x, float).reshape(-1), strict=True))
        flat = np.concatenate([np.asarray(s, float).reshape(-1) for s in states])
        values.update(zip(list(self.prev), flat, strict=True))
        for name, syms in self.params.items():
            values.update(zip(syms.reshape(-1), np.asarray(params[name], float).reshape(-1),
                              strict=True))
        fn = sympy.lambdify(list(values), self.jacobian, "numpy")
        return np.asarray(fn(*values.values()), dtype=float)


def step_jacobian(cell):
    """``CellJacobian`` of one step of ``cell`` (a ``models.Cell``; its parameters' values
    are not used, only the graph its step records)."""
    import sympy

    I, H = cell.input_size, cell.hidden_size
    names = type(cell).state_names
    leaf = lambda n: mg.tensor(np.full((1, n), 0.5), dtype=mg.float64,  # noqa: E731
                               requires_grad=True)
    x = leaf(I)
    states = tuple(leaf(H) for _ in names)
    params = dict(cell.named_parameters())
    saved = {n: p.dtype for n, p in params.items()}
    if any(dt != np.float64 for dt in saved.values()):
        raise TypeError(f"step_jacobian: {type(cell).__name__} must be float64 "
                        "(cell.to(mg.float64))")
    with mg.enable_grad():
        out = cell(x, states)
    out = (out,) if isinstance(out, mg.Tensor) else tuple(out)
    x_sym = symbols_like((1, I), "x")
    state_syms = [symbols_like((1, H), n) for n in names]
    param_syms = {n: symbols_like(p.shape, n.replace(".", "_")) for n, p in params.items()}
    inputs = {x: x_sym, **dict(zip(states, state_syms, strict=True))}
    inputs.update({p: param_syms[n] for n, p in params.items()})
    traced = to_sympy(list(out), inputs)
    new = sympy.Matrix([e for m in traced for e in list(m)])
    prev = sympy.Matrix([s for syms in state_syms for s in syms.reshape(-1)])
    return CellJacobian(sympy.Matrix(list(x_sym.reshape(-1))), prev, new,
                        new.jacobian(list(prev)), param_syms)
