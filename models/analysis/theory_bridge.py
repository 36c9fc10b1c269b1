"""The symbolic side's numbers for the analysis: ``gamma = sup |phi'|`` of a nonlinearity.

``gamma`` enters the bound ``||dh_T/dh_t|| <= (gamma sigma_max(W_hh))^(T-t)``. It is derived
with sympy from the activation's formula: by ``models.theory`` when that module offers it, else
here (the largest of ``|phi'|`` at the critical points of ``phi'`` and in its limits at
``+-oo``; piecewise-linear activations take the largest absolute slope of their pieces).
"""

import functools

import sympy

_X = sympy.Symbol("x", real=True)


_SLOPE = sympy.Rational(1, 100)


def activation_expr(nonlinearity, negative_slope=_SLOPE):
    """The activation as a sympy expression in ``x``."""
    if nonlinearity == "tanh":
        return sympy.tanh(_X)
    if nonlinearity == "sigmoid":
        return 1 / (1 + sympy.exp(-_X))
    if nonlinearity == "relu":
        return sympy.Piecewise((0, _X < 0), (_X, True))
    if nonlinearity == "leaky_relu":
        return sympy.Piecewise((sympy.nsimplify(negative_slope) * _X, _X < 0), (_X, True))
    raise ValueError(f"activation_gamma: unknown nonlinearity {nonlinearity!r}")


@functools.lru_cache(maxsize=None)
def _local_gamma(nonlinearity, negative_slope):
    slope = sympy.diff(activation_expr(nonlinearity, negative_slope), _X)
    if isinstance(slope, sympy.Piecewise):
        return max(abs(sympy.sympify(piece)) for piece, _ in slope.args)
    # A smooth slope attains its supremum at a critical point or in a limit at +-infinity.
    critical = sympy.solve(sympy.diff(slope, _X), _X)
    candidates = [slope.subs(_X, c) for c in critical if c.is_real]
    candidates += [sympy.limit(slope, _X, sympy.oo), sympy.limit(slope, _X, -sympy.oo)]
    return sympy.Max(*[sympy.Abs(sympy.simplify(c)) for c in candidates])


def activation_gamma_exact(nonlinearity, negative_slope=_SLOPE):
    """``sup_x |phi'(x)|`` as an exact sympy number (tanh 1, sigmoid 1/4, ReLU 1, leaky ReLU
    max(1, slope))."""
    theory_gamma = _theory_gamma()
    if theory_gamma is not None:
        try:
            return sympy.nsimplify(theory_gamma(nonlinearity))
        except (ValueError, KeyError, TypeError, NotImplementedError):
            pass
    return _local_gamma(nonlinearity, sympy.nsimplify(negative_slope))


def activation_gamma(nonlinearity, negative_slope=0.01):
    """``sup_x |phi'(x)|`` as a float."""
    return float(activation_gamma_exact(nonlinearity, negative_slope))


def _theory_gamma():
    try:
        from models import theory
    except ImportError:
        return None
    return getattr(theory, "activation_gamma", None) or getattr(theory, "gamma", None)


def layer_module(model, key):
    """The sub-module of ``model`` that recorded the layer ``key`` (``"<Class>/layer{k}..."``):
    the first module whose class name is the component before ``layer{k}``."""
    parts = key.split("#")[0].split("/")
    idx = next((i for i in range(len(parts) - 1, -1, -1) if parts[i].startswith("layer")),
               None)
    if idx is None or idx == 0:
        return None
    cls = parts[idx - 1]
    for _, module in model.named_modules():
        if type(module).__name__ == cls:
            return module
    return None


def layer_nonlinearity(model, key):
    """The nonlinearity name of an Elman-type layer for which the bound holds, else None."""
    module = layer_module(model, key)
    if module is None or getattr(module, "skip", None) is not None:
        return None
    return getattr(module, "nonlinearity", None)
