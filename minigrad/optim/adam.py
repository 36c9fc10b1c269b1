"""Adam (Kingma & Ba 2015) with PyTorch's update (``torch.optim.Adam``): bias-corrected moments,
``weight_decay`` added to the gradient (L2), optional AMSGrad and maximize. ``AdamW`` (in
``adamw.py``) decouples the weight decay."""

import math

from ..kernels import optim as kern
from . import checks
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False): PyTorch's arguments and defaults. Each parameter counts its own steps (its
    state's ``"step"``), so one that first gets a gradient late starts its bias correction at
    step 1. One pass per parameter (``kernels.optim.adam``) in the parameter's dtype."""

    _state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _check(self, options):
        who = type(self).__name__
        out = dict(options)
        out["lr"] = checks.real(who, "lr", options["lr"], low=0.0)
        out["betas"] = checks.betas(who, options["betas"])
        out["eps"] = checks.real(who, "eps", options["eps"], low=0.0)
        out["weight_decay"] = checks.real(who, "weight_decay", options["weight_decay"],
                                          low=0.0)
        out["amsgrad"] = checks.flag(who, "amsgrad", options["amsgrad"])
        out["maximize"] = checks.flag(who, "maximize", options["maximize"])
        return out

    def _update(self, group, items):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        sign = -1.0 if group["maximize"] else 1.0
        for p, g, flat_p in items:
            t = p.dtype.type
            st = self.state[p]
            step = st.get("step", 0) + 1
            m = self._buffer(st, "exp_avg", p)
            v = self._buffer(st, "exp_avg_sq", p)
            step_size = lr / (1.0 - b1 ** step)
            bc2_sqrt = math.sqrt(1.0 - b2 ** step)
            work = self._work_array(p, flat_p)
            scalars = (t(lr), t(b1), t(b2), t(eps), t(wd), self._decoupled, t(sign),
                       t(step_size), t(bc2_sqrt))
            if amsgrad:
                vmax = self._buffer(st, "max_exp_avg_sq", p)
                kern.adam_amsgrad(work, g, m, v, vmax, *scalars)
            else:
                kern.adam(work, g, m, v, *scalars)
            self._write_back(p, flat_p, work)
            st["step"] = step
