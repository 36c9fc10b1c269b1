r"""The norm bound on products of RNN Jacobians and the Pascanu-Mikolov-Bengio conditions.

For :math:`h_t = \phi(a_t)`, :math:`a_t = W_{hh} h_{t-1} + \dots`, the one-step Jacobian is
:math:`\mathrm{diag}(\phi'(a_t)) W_{hh}`, so with :math:`\gamma = \sup_x |\phi'(x)|`

.. math::
    \Big\| \frac{\partial h_T}{\partial h_k} \Big\|_2
    \le \prod_{t=k+1}^{T} \|\mathrm{diag}(\phi'(a_t))\|_2 \, \|W_{hh}\|_2
    \le (\gamma\, \sigma_{\max}(W_{hh}))^{T-k}.

Hence (Pascanu, Mikolov & Bengio 2013) :math:`\sigma_{\max} < 1/\gamma` is sufficient for the
gradients to vanish and :math:`\sigma_{\max} > 1/\gamma` is necessary for them to explode.
:math:`\gamma` is computed here with sympy from the activation's own symbolic rule (the one the
engine's graphs are traced with), never typed in.
"""

import functools

import numpy as np
import sympy

from ..primitive import REGISTRY

X = sympy.Symbol("x", real=True)
SIGMA = sympy.Symbol("sigma_max", positive=True)
STEPS = sympy.Symbol("n", integer=True, nonnegative=True)

_ACTIVATIONS = {"tanh": ("tanh", {}), "sigmoid": ("sigmoid", {}), "relu": ("relu", {}),
                "leaky_relu": ("leaky_relu", {"negative_slope": 0.01})}


def activation_expr(nonlinearity, **params):
    """The activation as a sympy expression in ``X``, produced by the op's own symbolic rule
    (``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"leaky_relu"`` with ``negative_slope=``)."""
    if nonlinearity not in _ACTIVATIONS:
        raise ValueError(f"activation_expr: expected one of {sorted(_ACTIVATIONS)}, got "
                         f"{nonlinearity!r}")
    op, defaults = _ACTIVATIONS[nonlinearity]
    rule = REGISTRY[op].symbolic
    arr = np.empty((1,), dtype=object)
    arr[0] = X
    return rule(arr, **{**defaults, **params})[0]


@functools.lru_cache(maxsize=None)
def _gamma(nonlinearity, params):
    slope = sympy.diff(activation_expr(nonlinearity, **dict(params)), X)
    if isinstance(slope, sympy.Piecewise):
        # Piecewise-linear activations: the largest absolute slope of the pieces.
        return sympy.Max(*[sympy.Abs(piece) for piece, _ in slope.args])
    # A smooth slope attains its supremum at a critical point or in a limit at +-oo.
    critical = sympy.solveset(sympy.diff(slope, X), X, sympy.S.Reals)
    if not isinstance(critical, sympy.FiniteSet):
        raise NotImplementedError(f"activation_gamma: the critical points of {slope} are "
                                  f"{critical}, not a finite set")
    candidates = [slope.subs(X, c) for c in critical]
    candidates += [sympy.limit(slope, X, sympy.oo), sympy.limit(slope, X, -sympy.oo)]
    return sympy.Max(*[sympy.Abs(sympy.nsimplify(c)) for c in candidates])


def activation_gamma(nonlinearity, **params):
    """:math:`\\gamma = \\sup_x |\\phi'(x)|` as an exact sympy number: tanh 1, sigmoid 1/4, ReLU
    1, leaky ReLU max(1, slope). Derived by sympy from the op's symbolic rule (cached)."""
    key = tuple(sorted((k, float(v)) for k, v in params.items()))
    return _gamma(nonlinearity, key)


def jacobian_bound(gamma, sigma_max=SIGMA, steps=STEPS):
    """:math:`(\\gamma\\,\\sigma_{\\max})^{T-k}`, the bound on
    :math:`\\|\\partial h_T / \\partial h_k\\|_2` (symbols by default; numbers give a number)."""
    return (sympy.sympify(gamma) * sympy.sympify(sigma_max)) ** sympy.sympify(steps)


def pmb_conditions(gamma, sigma_max=SIGMA):
    """The Pascanu-Mikolov-Bengio conditions on :math:`\\sigma_{\\max}(W_{hh})` as sympy
    relations: ``vanishing_sufficient`` (sigma < 1/gamma) and ``exploding_necessary``
    (sigma > 1/gamma); plus the limit of the bound in each regime (computed by sympy with
    :math:`\\gamma\\sigma = 1/(1+\\epsilon)` resp. :math:`1+\\epsilon`, epsilon > 0)."""
    gamma = sympy.sympify(gamma)
    eps = sympy.Symbol("epsilon", positive=True)
    return {
        "vanishing_sufficient": sympy.StrictLessThan(sigma_max, 1 / gamma),
        "exploding_necessary": sympy.StrictGreaterThan(sigma_max, 1 / gamma),
        "bound_limit_below": sympy.limit((1 / (1 + eps)) ** STEPS, STEPS, sympy.oo),
        "bound_limit_above": sympy.limit((1 + eps) ** STEPS, STEPS, sympy.oo),
    }


def check_bound(jacobian, gamma, weight_hh, steps, rtol=1e-12):
    """Whether ``||jacobian||_2 <= (gamma sigma_max(weight_hh))**steps`` (numbers), with the two
    sides: returns ``(holds, norm, bound)``."""
    norm = float(np.linalg.norm(np.asarray(jacobian, dtype=np.float64), 2))
    sigma = float(np.linalg.norm(np.asarray(weight_hh, dtype=np.float64), 2))
    bound = (float(gamma) * sigma) ** steps
    return norm <= bound * (1 + rtol) + 1e-300, norm, bound
