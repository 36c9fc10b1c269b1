"""``torch.save`` / ``torch.load`` / ``torch.serialization.safe_globals``: ``mg.save`` and
``mg.load`` under PyTorch's names and keywords.

A checkpoint is data: state dicts, whole modules, and nested dicts / lists / tuples of
tensors, arrays and numbers, written as an ``.npz`` with a JSON manifest. Nothing is ever
pickled, in either direction: a pickle can run any code when it is loaded. A whole module
(``torch.save(model, f)``) is saved as its class by import path, the arguments its constructor
was called with and its state dict; ``torch.load`` rebuilds it when the class is allowed, as
PyTorch's ``weights_only=True`` loading (its default) allows only listed globals: minigrad's
and models' own classes (so ``nn.LSTM``, ``nn.Linear``, ...), those given to
``add_safe_globals`` / ``safe_globals``, or any Module class with ``weights_only=False``.
"""

import minigrad as mg
from minigrad.serialization import (
    UnsafeCheckpointError,
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    safe_globals,
)

__all__ = ["save", "load", "add_safe_globals", "clear_safe_globals", "get_safe_globals",
           "safe_globals", "UnsafeCheckpointError"]


def save(obj, f, pickle_module=None, pickle_protocol=None, **unused):
    """Write ``obj`` (a state dict, a whole module, or a tree of dicts / lists / tuples of
    tensors, arrays and numbers) to ``f``, a path or a binary file object, through
    ``mg.save``. An optimizer, or a module whose constructor arguments are not data, raises
    ``TypeError`` naming ``state_dict()``; nothing is written then."""
    if pickle_module is not None:
        raise TypeError("save: pickle_module is not supported: minigrad never pickles")
    mg.save(obj, f)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **unused):
    """Read what ``save`` (or ``mg.save``) wrote; ``map_location`` may name only the CPU;
    ``weights_only`` as in PyTorch (see the module docstring). A file that is not such a
    checkpoint (e.g. one PyTorch pickled) raises ``ValueError``."""
    if pickle_module is not None:
        raise TypeError("load: pickle_module is not supported: minigrad never unpickles")
    return mg.load(f, map_location=_cpu_location(map_location), weights_only=weights_only)


def _cpu_location(map_location):
    """None for ``mg.load`` when ``map_location`` names only the CPU (None, "cpu", a device, a
    dict mapping devices to the CPU, or a function, as PyTorch allows; a function is never
    called: every tensor loads on the CPU). Another device raises ``RuntimeError``, as
    PyTorch does for a device it does not have."""
    if map_location is None or callable(map_location) and not isinstance(
            map_location, mg.device):
        return None
    if isinstance(map_location, dict):
        targets = list(map_location.values())
    elif isinstance(map_location, (str, mg.device)):
        targets = [map_location]
    else:
        raise TypeError(f"load: map_location expected None, 'cpu', a device, a dict of them or "
                        f"a function, got {type(map_location).__name__}")
    for target in targets:
        if mg.device(target).type != "cpu":
            raise RuntimeError(f"load: map_location={map_location!r}: minigrad runs on the CPU "
                               "only; use map_location='cpu' or None")
    return None
