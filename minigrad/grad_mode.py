"""Global switches read by every op: gradient recording and anomaly detection.

``no_grad`` / ``enable_grad`` / ``detect_anomaly`` work as context managers and as decorators.
The switches are per thread, like PyTorch's.
"""

import contextlib
import threading


class _State(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.anomaly = False


STATE = _State()


def is_grad_enabled():
    """True when ops record the graph."""
    return STATE.grad_enabled


class _SetGradEnabled(contextlib.ContextDecorator):
    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = []

    def __enter__(self):
        self._prev.append(STATE.grad_enabled)
        STATE.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        STATE.grad_enabled = self._prev.pop()
        return False


def no_grad():
    """Context manager / decorator: ops inside record no graph."""
    return _SetGradEnabled(False)


def enable_grad():
    """Context manager / decorator: ops inside record the graph, even inside ``no_grad``."""
    return _SetGradEnabled(True)


def inference_mode(mode=True):
    """Context manager / decorator: like ``no_grad`` when ``mode`` is True (PyTorch's inference
    mode; minigrad has no separate inference tensors), a no-op otherwise."""
    if not mode:
        return _SetGradEnabled(STATE.grad_enabled)
    return _SetGradEnabled(False)


def set_grad_enabled(mode):
    """Context manager / decorator setting recording to ``mode``."""
    return _SetGradEnabled(mode)


class detect_anomaly(contextlib.ContextDecorator):  # noqa: N801 - PyTorch's name
    """Inside, the first op whose output or whose backward gradient holds NaN or inf raises
    ``FloatingPointError`` naming the op and its scope."""

    def __init__(self):
        self._prev = []

    def __enter__(self):
        self._prev.append(STATE.anomaly)
        STATE.anomaly = True
        return self

    def __exit__(self, *exc):
        STATE.anomaly = self._prev.pop()
        return False
