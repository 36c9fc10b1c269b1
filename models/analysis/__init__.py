"""Gradient analysis: how gradients flow through time in recurrent networks.

- ``gradient_flow(model, x, loss_fn)``: ``||dL/dh_t||`` (and ``||dL/dc_t||``) per step and layer;
- ``jacobian_norms(model, x, k)``: ``||dh_T/dh_t||`` (spectral, Frobenius, singular values)
  with the bound ``(gamma sigma_max)^(T-t)``;
- ``spectral_radius``, ``sigma_max`` and initialisers that set them;
- ``GradientRecorder``: a training callback recording gradient norms and clipping events;
- ``build_report`` / ``minigrad analyze``: the report with its plots and tables.
"""

from .flow import GradientFlow, default_loss, gradient_flow
from .jacobians import JacobianNorms, jacobian_norms, state_jacobians
from .spectral import (
    gate_blocks,
    identity_recurrent_,
    orthogonal_recurrent_,
    random_orthogonal,
    recurrent_summary,
    recurrent_weights,
    set_forget_bias_,
    set_sigma_max_,
    set_spectral_radius_,
    sigma_max,
    singular_values,
    spectral_radius,
)
from .states import LayerStates, find_states
from .theory_bridge import activation_gamma
from .variants import ElmanRNN

__all__ = [
    "GradientFlow", "default_loss", "gradient_flow", "JacobianNorms", "jacobian_norms",
    "state_jacobians", "gate_blocks", "identity_recurrent_", "orthogonal_recurrent_",
    "random_orthogonal", "recurrent_summary", "recurrent_weights", "set_forget_bias_",
    "set_sigma_max_", "set_spectral_radius_", "sigma_max", "singular_values",
    "spectral_radius", "LayerStates", "find_states", "activation_gamma", "ElmanRNN",
]
