"""Scopes: labels such as ``layer0/t=3`` recorded on every node made inside ``mg.scope(name)``.

Scopes nest; a node records the whole path as a tuple, e.g. ``("lstm", "layer0", "t=3")``, so
drawing code can group nodes by layer and time step without parsing anything.
"""

import contextlib
import threading


class _ScopeStack(threading.local):
    def __init__(self):
        self.path = ()


_STACK = _ScopeStack()


def current_scope():
    """The tuple of scope names active now (``()`` outside any scope)."""
    return _STACK.path


class scope(contextlib.ContextDecorator):  # noqa: N801 - used like a function
    """Context manager (or decorator) that labels every node recorded inside it.

    ``name`` must be a non-empty string without ``/`` (the separator used in ``Tensor.scope``).
    """

    def __init__(self, name):
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"scope: expected a non-empty name without '/', got {name!r}")
        self.name = name
        self._saved = []

    def __enter__(self):
        self._saved.append(_STACK.path)
        _STACK.path = _STACK.path + (self.name,)
        return self

    def __exit__(self, *exc):
        _STACK.path = self._saved.pop()
        return False
