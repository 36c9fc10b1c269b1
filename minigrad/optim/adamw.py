"""AdamW (Loshchilov & Hutter 2019): Adam with the weight decay taken out of the gradient and
applied to the parameter, PyTorch's update (``torch.optim.AdamW``): p <- p (1 - lr wd), then
Adam's step without L2."""

from .adam import Adam


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False): PyTorch's arguments and defaults (note weight_decay's)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
