"""``torch.save`` / ``torch.load`` / ``torch.serialization.safe_globals``: ``mg.save`` and
``mg.load`` under PyTorch's names and keywords.

A checkpoint is data: state dicts and nested dicts / lists / tuples of tensors, arrays and
numbers, written as an ``.npz`` with a JSON manifest. Nothing is ever pickled, in either
direction: a pickle can run any code when it is loaded. So ``torch.save(model, f)`` (a whole
module) is refused, before anything is written, with a message that points to
``model.state_dict()``; restore with ``model.load_state_dict(torch.load(f))``. PyTorch's
``weights_only=True`` loading, its default, refuses arbitrary objects too.

``safe_globals`` / ``add_safe_globals`` are accepted so that code written for PyTorch runs;
since nothing is unpickled they allow nothing more.
"""

import contextlib

import minigrad as mg

_allowed = []  # add_safe_globals: remembered for get_safe_globals, never used to unpickle


def _checked_globals(entries, who):
    if not isinstance(entries, (list, tuple)):
        raise TypeError(f"{who}: expected a list of classes or functions, got "
                        f"{type(entries).__name__}")
    out = []
    for e in entries:
        if isinstance(e, tuple) and len(e) == 2:  # (object, "module.name"), as PyTorch allows
            e = e[0]
        if not callable(e):
            raise TypeError(f"{who}: expected classes or functions, got {e!r}")
        out.append(e)
    return out


def add_safe_globals(safe_globals):
    """Accepted for PyTorch code; minigrad never unpickles, so nothing more is allowed."""
    _allowed.extend(_checked_globals(safe_globals, "add_safe_globals"))


def get_safe_globals():
    return list(_allowed)


def clear_safe_globals():
    _allowed.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """Accepted for PyTorch code (``with torch.serialization.safe_globals([...]):``); it allows
    nothing more, since minigrad never unpickles."""
    _checked_globals(safe_globals, "safe_globals")
    yield


def save(obj, f, pickle_module=None, pickle_protocol=None, **unused):
    """Write ``obj`` (a state dict or a tree of dicts / lists / tuples of tensors, arrays and
    numbers) to ``f``, a path or a binary file object, through ``mg.save``. A whole module or
    optimizer raises ``TypeError`` naming ``state_dict()``; nothing is written then."""
    if pickle_module is not None:
        raise TypeError("save: pickle_module is not supported: minigrad never pickles")
    mg.save(obj, f)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **unused):
    """Read what ``save`` (or ``mg.save``) wrote; ``map_location`` may name only the CPU.
    A file that is not such a checkpoint (e.g. one PyTorch pickled) raises ``ValueError``."""
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
