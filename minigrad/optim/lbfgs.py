"""L-BFGS (PyTorch's ``torch.optim.LBFGS``, same algorithm and defaults): each ``step(closure)``
runs up to ``max_iter`` quasi-Newton iterations on all parameters as one flat vector.

    d = -H g      (two-loop recursion over the last ``history_size`` pairs s = t d, y = g' - g,
                   kept when y.s > 1e-10; initial H = (y.s) / (y.y) of the newest pair)
    x = x + t d   (t = lr, on the very first iteration min(1, 1 / |g|_1) * lr; with
                   line_search_fn="strong_wolfe", t from a bracketing / cubic-zoom search for
                   the strong Wolfe conditions, c1 = 1e-4, c2 = 0.9, within what max_eval leaves)

It stops when |g|_inf <= tolerance_grad, when g.d > -tolerance_change, when a step or the
change of the loss falls below tolerance_change, or after max_iter iterations / max_eval
evaluations of the closure. ``closure()`` must clear the gradients, recompute the loss, call
``backward()`` and return the loss. One parameter group only, as in PyTorch.
"""

import numpy as np

from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from . import checks
from .lbfgs_search import strong_wolfe
from .optimizer import Optimizer


class LBFGS(Optimizer):
    """LBFGS(params, lr=1, max_iter=20, max_eval=None (max_iter * 5 // 4),
    tolerance_grad=1e-7, tolerance_change=1e-9, history_size=100, line_search_fn=None)."""

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: parameter groups (per-parameter options) are not "
                             f"supported, got {len(self.param_groups)} groups")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS: parameter groups (per-parameter options) are not "
                             "supported")
        super().add_param_group(param_group)

    def _check(self, options):
        who = "LBFGS"
        out = dict(options)
        out["lr"] = checks.real(who, "lr", options["lr"], low=0.0)
        for name in ("max_iter", "max_eval", "history_size"):
            v = options[name]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise (TypeError if not isinstance(v, (int, np.integer)) or isinstance(
                    v, bool) else ValueError)(f"{who}: {name} must be an int >= 1, got {v!r}")
            out[name] = int(v)
        for name in ("tolerance_grad", "tolerance_change"):
            out[name] = checks.real(who, name, options[name], low=0.0)
        if options["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"{who}: line_search_fn must be None or 'strong_wolfe', got "
                             f"{options['line_search_fn']!r}")
        return out

    # ---- the flat vector ------------------------------------------------------------------
    def _flat_grad(self):
        params = self.param_groups[0]["params"]
        parts = [np.zeros(p._array.size, p.dtype) if p.grad is None else
                 np.asarray(p.grad._array if isinstance(p.grad, Tensor) else p.grad,
                            dtype=p.dtype).reshape(-1) for p in params]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _add(self, t, d):
        """x += t * d, parameter by parameter (in place, bumping each version)."""
        offset = 0
        for p in self.param_groups[0]["params"]:
            n = p._array.size
            p._array += (t * d[offset:offset + n]).reshape(p.shape).astype(p.dtype, copy=False)
            p._bump_version()
            offset += n

    def _set(self, x):
        for p, saved in zip(self.param_groups[0]["params"], x, strict=True):
            p._array[...] = saved
            p._bump_version()

    def _evaluate(self, closure):
        with enable_grad():
            return float(closure())

    def _directional(self, closure, x, t, d):
        """(loss, flat gradient) at x + t d; the parameters are put back to x."""
        self._add(t, d)
        loss = self._evaluate(closure)
        flat = self._flat_grad()
        self._set(x)
        return loss, flat

    # ---- one step -------------------------------------------------------------------------
    def step(self, closure):
        """Run up to ``max_iter`` iterations; returns the loss the first closure call gave."""
        if closure is None or not callable(closure):
            raise TypeError("LBFGS.step: needs a closure that recomputes the loss and its "
                            "gradients and returns the loss")
        with no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state[group["params"][0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max(initial=0.0) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                d, h_diag = _direction(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps,
                                       ro, h_diag, history_size)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = float(flat_grad @ d)
            if gtd > -tol_change:  # not a descent direction
                break

            evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p._array.copy() for p in group["params"]]
                loss, flat_grad, t, evals = strong_wolfe(
                    lambda x, step, direction: self._directional(closure, x, step, direction),
                    x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add(t, d)
                opt_cond = np.abs(flat_grad).max() <= tol_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tol_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if (n_iter == max_iter or current_evals >= max_eval or opt_cond
                    or np.abs(d * t).max() <= tol_change
                    or abs(loss - prev_loss) < tol_change):
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss


def _direction(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, h_diag, history_size):
    """``(-H g, H's scale)`` by the two-loop recursion, after adding the curvature pair of the
    last step (s = t d, y = g - g_prev) to the history lists (in place) when y.s > 1e-10."""
    y = flat_grad - prev_flat_grad
    s = d * t
    ys = float(y @ s)
    if ys > 1e-10:
        if len(old_dirs) == history_size:
            old_dirs.pop(0)
            old_stps.pop(0)
            ro.pop(0)
        old_dirs.append(y)
        old_stps.append(s)
        ro.append(1.0 / ys)
        h_diag = ys / float(y @ y)
    al = [0.0] * len(old_dirs)
    q = -flat_grad
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = float(old_stps[i] @ q) * ro[i]
        q = q - al[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        be_i = float(old_dirs[i] @ r) * ro[i]
        r = r + (al[i] - be_i) * old_stps[i]
    return r, h_diag
