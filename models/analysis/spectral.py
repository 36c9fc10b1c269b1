"""Spectral facts about recurrent weight matrices, and initialisers that set them.

Pascanu, Mikolov & Bengio (2013): for ``h_t = f(W_ih x_t + W_hh h_{t-1} + b)`` with
``|f'| <= gamma``, ``||dh_T/dh_k|| <= (gamma sigma_max(W_hh))^(T-k)``; ``sigma_max < 1/gamma``
is sufficient for vanishing gradients and ``sigma_max > 1/gamma`` necessary for exploding ones.
These helpers measure ``sigma_max`` / the spectral radius and put a chosen value into a model.

Matrices may be numpy arrays or Tensors. A "model" is any ``mg.nn.Module``; its recurrent
matrices are the parameters whose last name component starts with ``weight_hh`` (PyTorch's names:
``weight_hh_l0``, ``weight_hh_l1_reverse``, ...). For LSTM and GRU these stack one ``(H, H)``
block per gate along dim 0 (``(4H, H)``, ``(3H, H)``); the initialisers treat every block alone.
"""

import re

import numpy as np

import minigrad as mg

_RECURRENT_NAME = re.compile(r"(^|\.)weight_hh\w*$")


def _array(w, who):
    arr = np.asarray(w.numpy() if isinstance(w, mg.Tensor) else w, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{who}: expected a 2-D matrix, got shape {arr.shape}")
    return arr


def singular_values(w):
    """The singular values of ``w`` (a matrix), largest first."""
    return np.linalg.svd(_array(w, "singular_values"), compute_uv=False)


def sigma_max(w):
    """The largest singular value (the spectral norm, ``||w||_2``) of a matrix."""
    arr = _array(w, "sigma_max")
    return float(np.linalg.norm(arr, 2)) if arr.size else 0.0


def spectral_radius(w):
    """The largest absolute eigenvalue of a square matrix."""
    arr = _array(w, "spectral_radius")
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"spectral_radius: expected a square matrix, got shape {arr.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(arr)))) if arr.size else 0.0


def recurrent_weights(model):
    """The ``(name, parameter)`` pairs of ``model``'s recurrent matrices (``weight_hh*``)."""
    if isinstance(model, (mg.Tensor, np.ndarray)):
        return [("weight_hh", model)]
    found = [(k, p) for k, p in model.named_parameters() if _RECURRENT_NAME.search(k)]
    if not found:
        raise ValueError(f"{type(model).__name__}: no recurrent weight (a parameter named "
                         "weight_hh...) was found")
    return found


def gate_blocks(weight):
    """Split a recurrent weight ``(G*H, H)`` into its ``G`` square ``(H, H)`` gate blocks
    (views into the array)."""
    arr = weight.numpy() if isinstance(weight, mg.Tensor) else weight
    rows, cols = arr.shape
    if cols == 0 or rows % cols:
        raise ValueError(f"gate_blocks: expected a (G*H, H) matrix, got shape {arr.shape}")
    return [arr[g * cols:(g + 1) * cols] for g in range(rows // cols)]


def _blocks_of(target):
    blocks = []
    for _, p in recurrent_weights(target):
        if isinstance(p, mg.Tensor):
            p._bump_version()  # the caller writes into the blocks
        blocks.extend(gate_blocks(p))
    return blocks


def _rng(generator):
    return generator if generator is not None else mg.random.default_generator()


def set_spectral_radius_(target, radius):
    """Scale every recurrent block of ``target`` (a model or a matrix) in place so that its
    spectral radius is ``radius``. Returns ``target``."""
    if radius < 0:
        raise ValueError(f"set_spectral_radius_: radius must be >= 0, got {radius}")
    for block in _blocks_of(target):
        rho = spectral_radius(block)
        if rho == 0:
            raise ValueError("set_spectral_radius_: a block has spectral radius 0 and cannot "
                             "be scaled to another value")
        block *= block.dtype.type(radius / rho)
    return target


def set_sigma_max_(target, value):
    """Scale every recurrent block of ``target`` (a model or a matrix) in place so that its
    largest singular value is ``value``. Returns ``target``."""
    if value < 0:
        raise ValueError(f"set_sigma_max_: value must be >= 0, got {value}")
    for block in _blocks_of(target):
        s = sigma_max(block)
        if s == 0:
            raise ValueError("set_sigma_max_: a block is zero and cannot be scaled")
        block *= block.dtype.type(value / s)
    return target


def random_orthogonal(n, generator=None):
    """A random ``(n, n)`` orthogonal matrix (Haar distributed: QR of a Gaussian matrix with
    the signs of R's diagonal folded into Q)."""
    q, r = np.linalg.qr(_rng(generator).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def orthogonal_recurrent_(target, gain=1.0, generator=None):
    """Set every recurrent block to ``gain`` times a random orthogonal matrix, so all its
    singular values equal ``gain`` (Saxe et al. 2014; ``gain = sigma_max``). Returns
    ``target``."""
    for block in _blocks_of(target):
        block[...] = gain * random_orthogonal(block.shape[0], generator)
    return target


def identity_recurrent_(target, gain=1.0, zero_bias=True):
    """Set every recurrent block to ``gain * I`` and, for a model with ``zero_bias``, its
    biases to zero: the IRNN init of Le, Jaitly & Hinton (2015) for ReLU RNNs. Returns
    ``target``."""
    for block in _blocks_of(target):
        block[...] = gain * np.eye(block.shape[0])
    if zero_bias and not isinstance(target, (mg.Tensor, np.ndarray)):
        for name, p in target.named_parameters():
            if re.search(r"(^|\.)bias_(hh|ih)\w*$", name):
                p.numpy()[...] = 0
                p._bump_version()
    return target


def set_forget_bias_(model, value):
    """Set an LSTM's forget-gate biases (the second quarter of ``bias_ih*``; ``bias_hh*`` set
    to 0 there) so that the gate starts near ``sigmoid(value)`` (Gers et al. 2000; Jozefowicz
    et al. 2015 recommend ``value = 1``). Returns ``model``."""
    params = dict(model.named_parameters())
    hit = False
    for name, p in params.items():
        m = re.search(r"^(.*?)bias_(ih|hh)(\w*)$", name)
        if not m:
            continue
        w = params.get(f"{m.group(1)}weight_hh{m.group(3)}")
        if w is None or w.shape[0] != 4 * w.shape[1]:
            continue  # not an LSTM layer
        h = w.shape[1]
        p.numpy()[h:2 * h] = value if m.group(2) == "ih" else 0.0
        p._bump_version()
        hit = True
    if not hit:
        raise ValueError(f"set_forget_bias_: {type(model).__name__} has no LSTM layer "
                         "(bias_ih*/bias_hh* next to a (4H, H) weight_hh*)")
    return model


def recurrent_summary(model):
    """``{name: {"sigma_max": ..., "spectral_radius": ...}}`` per recurrent block (gate
    blocks are named ``name[g]``)."""
    out = {}
    for name, p in recurrent_weights(model):
        blocks = gate_blocks(p)
        for g, block in enumerate(blocks):
            key = name if len(blocks) == 1 else f"{name}[{g}]"
            out[key] = {"sigma_max": sigma_max(block), "spectral_radius": spectral_radius(block)}
    return out
