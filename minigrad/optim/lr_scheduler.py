"""Learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``): ``StepLR``,
``MultiStepLR``, ``ExponentialLR``, ``LambdaLR``, ``CosineAnnealingLR``, ``ReduceLROnPlateau``.

A scheduler writes ``group["lr"]`` of its optimizer's ``param_groups``. Making one sets every
group's ``initial_lr`` (if absent) and takes step 0; call ``scheduler.step()`` once per epoch
after ``optimizer.step()`` (``ReduceLROnPlateau``: ``step(val_loss)``). The update rules are
PyTorch's, chained on the current ``lr`` as its are, so the numbers are the same.
``get_last_lr()``, ``state_dict()`` and ``load_state_dict()`` as in PyTorch.
"""

import math


def _check_optimizer(optimizer, who):
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g
                                               for g in groups):
        raise TypeError(f"{who}: expected an optimizer with param_groups, got "
                        f"{type(optimizer).__name__}")
    return groups


def _positive_int(value, name, who):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{who}: {name} expected a positive int, got {value!r}")
    return value


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` (the new lr of every group at
    ``self.last_epoch``)."""

    def __init__(self, optimizer, last_epoch=-1):
        who = type(self).__name__
        groups = _check_optimizer(optimizer, who)
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            missing = [i for i, g in enumerate(groups) if "initial_lr" not in g]
            if missing:
                raise KeyError(f"{who}: param_groups {missing} have no 'initial_lr' (needed to "
                               f"resume at last_epoch={last_epoch})")
        self.optimizer = optimizer
        self.base_lrs = [g["initial_lr"] for g in groups]
        self.last_epoch = last_epoch
        self._last_lr = [g["lr"] for g in groups]
        self.step()

    def get_lr(self):
        raise NotImplementedError

    def get_last_lr(self):
        """The lr of every group as set by the last ``step()``."""
        return list(self._last_lr)

    def step(self, epoch=None):
        if epoch is not None:
            raise ValueError(f"{type(self).__name__}.step: the epoch argument is deprecated in "
                             "PyTorch and not supported; call step() once per epoch")
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _current(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer (and callables, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v) and k != "lr_lambdas"}

    def load_state_dict(self, state_dict):
        if not isinstance(state_dict, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict, got "
                            f"{type(state_dict).__name__}")
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr <- lr * gamma every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class MultiStepLR(LRScheduler):
    """lr <- lr * gamma at each epoch listed in ``milestones``."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        hits = self.milestones.count(self.last_epoch)
        if not hits:
            return self._current()
        return [lr * self.gamma ** hits for lr in self._current()]


class ExponentialLR(LRScheduler):
    """lr <- lr * gamma every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); ``lr_lambda`` one function or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = _check_optimizer(optimizer, "LambdaLR")
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(f"LambdaLR: expected {len(groups)} lr_lambdas (one per param "
                                 f"group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(groups)
        if not all(callable(f) for f in self.lr_lambdas):
            raise TypeError("LambdaLR: lr_lambda expected a function of the epoch (or a list "
                            "of them)")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch)
                for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]


class CosineAnnealingLR(LRScheduler):
    """lr follows eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, computed
    step by step as PyTorch does."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        epoch, t_max, low = self.last_epoch, self.T_max, self.eta_min
        current = self._current()
        if epoch == 0:
            return current
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [lr + (base - low) * (1 - math.cos(math.pi / t_max)) / 2
                    for lr, base in zip(current, self.base_lrs, strict=True)]
        ratio = (1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1)
                                                                         / t_max))
        return [ratio * (lr - low) + low for lr in current]


class ReduceLROnPlateau(LRScheduler):
    """lr <- max(lr * factor, min_lr) when the metric passed to ``step(metric)`` has not
    improved (by ``threshold``, relative or absolute) for more than ``patience`` epochs; then
    waits ``cooldown`` epochs."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        who = "ReduceLROnPlateau"
        groups = _check_optimizer(optimizer, who)
        if not factor < 1.0:
            raise ValueError(f"{who}: factor expected < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"{who}: mode expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{who}: threshold_mode expected 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                raise ValueError(f"{who}: expected {len(groups)} min_lrs, got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * len(groups)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in groups]

    def is_better(self, value, best):
        if self.mode == "min":
            edge = best * (1 - self.threshold) if self.threshold_mode == "rel" else (
                best - self.threshold)
            return value < edge
        edge = best * (1 + self.threshold) if self.threshold_mode == "rel" else (
            best + self.threshold)
        return value > edge

    def step(self, metrics, epoch=None):
        if epoch is not None:
            raise ValueError("ReduceLROnPlateau.step: the epoch argument is deprecated in "
                             "PyTorch and not supported")
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new_lr = max(group["lr"] * self.factor, low)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
