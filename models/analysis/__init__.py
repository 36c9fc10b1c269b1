"""Gradient analysis: how gradients flow through time in recurrent networks.

- ``gradient_flow(model, x, loss_fn)``: ``||dL/dh_t||`` (and ``||dL/dc_t||``) per step and layer;
- ``jacobian_norms(model, x, k)``: ``||dh_T/dh_t||`` (spectral, Frobenius, singular values)
  with the bound ``(gamma sigma_max)^(T-t)``;
- ``spectral_radius``, ``sigma_max`` and initialisers that set them (``set_sigma_max_``,
  ``set_spectral_radius_``, ``orthogonal_recurrent_``, ``identity_recurrent_``,
  ``set_forget_bias_``);
- ``GradientMonitor``: a training callback recording gradient norms per parameter and per time
  step, and clipping events;
- ``run_analysis`` / ``minigrad analyze -o DIR``: the report with its plots and tables.

Both fused and unrolled layers work: unrolled graphs name their states (``find_states``), fused
layers are driven step by step through their own kernel (``exposed_states``).
"""

from .diagnostics import ClipEvent, GradientMonitor
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
from .stepwise import exposed_states
from .tasks import ADDING_BASELINE_MSE, LastStepRegressor, adding_problem
from .theory_bridge import activation_gamma
from .variants import ElmanRNN

__all__ = [
    "GradientFlow", "default_loss", "gradient_flow", "JacobianNorms", "jacobian_norms",
    "state_jacobians", "gate_blocks", "identity_recurrent_", "orthogonal_recurrent_",
    "random_orthogonal", "recurrent_summary", "recurrent_weights", "set_forget_bias_",
    "set_sigma_max_", "set_spectral_radius_", "sigma_max", "singular_values",
    "spectral_radius", "LayerStates", "find_states", "activation_gamma", "ElmanRNN",
    "ClipEvent", "GradientMonitor", "exposed_states", "ADDING_BASELINE_MSE",
    "LastStepRegressor", "adding_problem", "run_analysis",
]


def run_analysis(out_dir, quick=False, seed=0, progress=True, sections=None):
    """Write the gradient report to ``out_dir`` (see ``models.analysis.run``)."""
    from .run import run_analysis as _run

    return _run(out_dir, quick=quick, seed=seed, progress=progress, sections=sections)
