"""A symbolic rule for a backward primitive, from its forward primitive's symbolic rule.

A fused op whose backward pass is itself a primitive (a BPTT kernel, say) can declare that
primitive's symbolic rule as the vector-Jacobian product of the forward's symbolic rule:

    @bptt_p.def_symbolic
    def _bptt_symbolic(g, *arrays, **params):
        grads = symbolic_vjp(_forward_symbolic, g, arrays, wrt=range(len(arrays)), **params)
        return np.concatenate([d.reshape(-1) for d in grads])
"""

import numpy as np


def symbolic_vjp(rule, grad_out, arrays, wrt, **params):
    """d/d arrays[i] of ``sum(grad_out * rule(*arrays, **params))`` for each i in ``wrt``, by
    ``sympy.diff``. arrays: object arrays (symbols, expressions or numbers); entries that are
    not plain symbols are replaced by dummies for the differentiation and put back after.
    Returns a list of object arrays shaped like ``arrays[i]``."""
    import sympy

    wrt = list(wrt)
    arrays = [np.asarray(a, dtype=object) for a in arrays]
    dummies = {}
    stand_in = []
    for i, a in enumerate(arrays):
        if i not in wrt:
            stand_in.append(a)
            continue
        b = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(*a.shape):
            d = sympy.Dummy(f"a{i}_{'_'.join(map(str, idx))}", real=True)
            dummies[d] = sympy.sympify(a[idx])
            b[idx] = d
        stand_in.append(b)
    out = np.asarray(rule(*stand_in, **params), dtype=object)
    grad_out = np.asarray(grad_out, dtype=object)
    if grad_out.shape != out.shape:
        raise ValueError(f"symbolic_vjp: grad_out has shape {grad_out.shape}, the rule's "
                         f"output {out.shape}")
    total = sympy.Add(*[g * y for g, y in zip(grad_out.reshape(-1), out.reshape(-1),
                                             strict=True)])
    result = []
    for i in wrt:
        d = np.empty(arrays[i].shape, dtype=object)
        for idx in np.ndindex(*arrays[i].shape):
            d[idx] = sympy.diff(total, stand_in[i][idx]).xreplace(dummies)
        result.append(d)
    return result
