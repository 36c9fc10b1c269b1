"""Stochastic gradient descent with momentum, dampening, Nesterov, weight decay and maximize,
PyTorch's update (``torch.optim.SGD``)::

    d = g + weight_decay * p;  b = mu * b + (1 - dampening) * d  (b = d on the first step)
    d = d + mu * b if nesterov else b;  p = p - lr * d
"""

from ..kernels import optim as kern
from . import checks
from .optimizer import Optimizer


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False): PyTorch's arguments and defaults. Each step is one pass per parameter
    (``kernels.optim``) in the parameter's dtype."""

    _state_arrays = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check(self, options):
        who = "SGD"
        out = dict(options)
        out["lr"] = checks.real(who, "lr", options["lr"], low=0.0)
        out["momentum"] = checks.real(who, "momentum", options["momentum"], low=0.0)
        out["dampening"] = checks.real(who, "dampening", options["dampening"])
        out["weight_decay"] = checks.real(who, "weight_decay", options["weight_decay"],
                                          low=0.0)
        out["nesterov"] = checks.flag(who, "nesterov", options["nesterov"])
        out["maximize"] = checks.flag(who, "maximize", options["maximize"])
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(f"{who}: nesterov needs momentum > 0 and dampening = 0, got "
                             f"momentum {options['momentum']!r}, dampening "
                             f"{options['dampening']!r}")
        return out

    def _update(self, group, items):
        lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov = group["weight_decay"], group["nesterov"]
        sign = -1.0 if group["maximize"] else 1.0
        for p, g, flat_p in items:
            t = p.dtype.type
            work = self._work_array(p, flat_p)
            if mu == 0 and wd == 0:
                kern.sgd_plain(work, g, t(lr * sign))
            elif mu == 0:
                kern.sgd_weight_decay(work, g, t(lr), t(wd), t(sign))
            else:
                st = self.state[p]
                first = "momentum_buffer" not in st
                buf = self._buffer(st, "momentum_buffer", p)
                kern.sgd_momentum(work, g, buf, t(lr), t(mu), t(damp), t(wd), nesterov,
                                  t(sign), first)
            self._write_back(p, flat_p, work)
