"""PyTorch's module layout over minigrad and models, so that a CPU PyTorch program built from
recurrent layers runs after rewriting only its imports:

    import torch                    ->  import models.torch as torch
    import torch.nn as nn           ->  import models.torch.nn as nn
    import torch.nn.functional as F ->  import models.torch.nn.functional as F
    from torch import optim         ->  from models.torch import optim

Everything public in ``minigrad`` is here under the same name (``tensor``, ``zeros``,
``Tensor``, ``no_grad``, ``manual_seed``, the dtype names ``long``, ``float``, ...), plus what
PyTorch programs reach for at the top level: ``device``, ``cuda`` / ``backends.mps`` /
``accelerator`` (nothing available: minigrad runs on the CPU), ``save`` / ``load`` /
``serialization`` (``mg.save`` / ``mg.load``: data only, never pickled), ``nn`` (with
``nn.LSTM`` / ``GRU`` / ``RNN`` that take ``PackedSequence``), ``optim`` (with
``lr_scheduler``) and the legacy constructors ``LongTensor`` / ``FloatTensor``.

This package lives in ``models`` because ``nn.LSTM`` must come from ``models``; the core
(``minigrad``) never imports it.
"""

import minigrad as _mg

_SKIP = {"autograd", "creation", "dtypes", "grad_mode", "kernels", "ops", "parallel",
         "primitive", "random", "scope", "serialization", "nn", "optim", "cuda", "save",
         "load", "symbolic", "cli", "device"}
globals().update({name: getattr(_mg, name) for name in dir(_mg)
                  if not name.startswith("_") and name not in _SKIP})

from minigrad.device import device  # noqa: E402

from . import (  # noqa: E402
    accelerator,
    autograd,
    backends,
    cuda,
    nn,
    onnx,
    optim,
    serialization,
    utils,
)
from .functions import (  # noqa: E402
    allclose,
    argmax,
    argmin,
    clone,
    dropout,
    equal,
    isinf,
    isnan,
    masked_fill,
    mm,
    numel,
    randperm,
    topk,
    tril,
    triu,
)
from .legacy import DoubleTensor, FloatTensor, LongTensor  # noqa: E402
from .serialization import load, save  # noqa: E402

__all__ = sorted(n for n in globals() if not n.startswith("_"))
