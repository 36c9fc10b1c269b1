"""Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` adds L2 to the gradient."""

import math

import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        if eps <= 0 or weight_decay < 0:
            raise ValueError(f"Adam: eps must be > 0 and weight_decay >= 0, got {eps}, "
                             f"{weight_decay}")
        self.betas, self.eps, self.weight_decay = (b1, b2), eps, weight_decay
        self.t = 0

    def step(self):
        """One update of every parameter that has a gradient. Each parameter counts its own
        steps (for the bias correction), so one that first gets a gradient late starts at 1."""
        todo = self._params_with_grads()
        self.t += 1
        b1, b2 = self.betas
        for p, g, st in todo:
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if "m" not in st:
                st["step"] = 0
                st["m"] = np.zeros_like(p.data)
                st["v"] = np.zeros_like(p.data)
            st["step"] += 1
            c1 = 1.0 - b1 ** st["step"]
            c2 = 1.0 - b2 ** st["step"]
            step_size = self.lr * math.sqrt(c2) / c1
            m, v = st["m"], st["v"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v)
            denom += self.eps * math.sqrt(c2)
            p.data -= p.dtype.type(step_size) * m / denom
