"""Devices, PyTorch's way, for code that names them: minigrad runs on the CPU only.

``mg.device("cpu")`` (or ``"cpu:0"``) is what every tensor reports as ``t.device``. Naming
another device type ("cuda", "mps", ...) is allowed, as in PyTorch, but putting a tensor or a
module there raises ``RuntimeError`` saying that minigrad runs on the CPU.
"""

KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "ipu", "hpu", "mtia")


class device:  # noqa: N801 - PyTorch's name
    """A device name: ``device("cpu")``, ``device("cuda", 0)``, ``device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu', got "
                            f"{type(spec).__name__}")
        kind, _, num = spec.partition(":")
        if kind not in KNOWN_TYPES:
            raise ValueError(f"device: expected one of {', '.join(KNOWN_TYPES)} at the start "
                             f"of the device string, got {spec!r}")
        if num:
            if not num.isdigit() or index is not None:
                raise ValueError(f"device: invalid device string {spec!r}")
            index = int(num)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"device: the index must be an int >= 0, got {index!r}")
        self.type, self.index = kind, index

    def __repr__(self):
        return f"device(type={self.type!r}" + (
            f", index={self.index})" if self.index is not None else ")")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        return (isinstance(other, device) and self.type == other.type
                and self.index == other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")


def set_default_device(device):  # noqa: A002 - PyTorch's name
    """PyTorch's ``torch.set_default_device``: only the CPU (or None) is accepted; another
    device raises ``RuntimeError``, as for tensors."""
    check_device(device, "set_default_device")


def get_default_device():
    """The device new tensors are made on: always the CPU."""
    return CPU


def is_device_like(x):
    """True for a ``device`` or a string naming a known device type (``"cpu"``, ``"cuda:0"``)."""
    if isinstance(x, device):
        return True
    return isinstance(x, str) and x.partition(":")[0] in KNOWN_TYPES


def check_device(spec, who):
    """Accept ``None`` or a CPU device (a ``device`` or a string); raise ``RuntimeError`` for any
    other device, and for an int (PyTorch reads it as a CUDA index)."""
    if spec is None:
        return CPU
    if isinstance(spec, int) and not isinstance(spec, bool):
        raise RuntimeError(f"{who}: device {spec} means a CUDA device; minigrad runs on the "
                           "CPU only (use 'cpu')")
    dev = spec if isinstance(spec, device) else device(spec)
    if dev.type != "cpu":
        raise RuntimeError(f"{who}: device {str(dev)!r} is not available: minigrad runs on the "
                           "CPU only (mg.cuda.is_available() is False); use 'cpu'")
    return CPU
