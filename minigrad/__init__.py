"""minigrad: a small reverse-mode autograd tensor library with numba kernels.

    import minigrad as mg
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x.tanh() * 3).sum()
    y.backward()
    x.grad
"""

from . import dtypes
from .autograd import backward, grad, topological_order
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    multinomial,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .device import device, get_default_device, set_default_device
from .dtypes import bool_, float32, float64, get_default_dtype, int64, set_default_dtype
from .grad_mode import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops.elementwise import (
    abs,
    add,
    cast,
    clamp,
    div,
    exp,
    leaky_relu,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from .ops.gather import gather, scatter_add
from .ops.index import embedding, index_select
from .ops.linalg import bmm, matmul
from .ops.reduce import (
    amax,
    amin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    softmax,
    std,
    sum,
    var,
)
from .ops.remainder import remainder
from .ops.scan import cumsum
from .ops.shape import (
    cat,
    chunk,
    concat,
    expand,
    flatten,
    getitem,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from .ops.sort import argsort, sort
from .ops.trig import cos, sin
from .parallel import get_num_threads, set_num_threads
from .primitive import REGISTRY, Primitive, bind
from .random import Generator, manual_seed
from .scope import current_scope, scope
from .tensor import Tensor, is_tensor

clip = clamp

# PyTorch's dtype names (numpy dtypes underneath).
float = float32  # noqa: A001
double = float64
long = int64
int = int32 = dtypes.np.int32  # noqa: A001
int16, int8, uint8 = dtypes.np.int16, dtypes.np.int8, dtypes.np.uint8
bool = bool_  # noqa: A001

__version__ = "0.1.0"

from . import cuda, nn, optim  # noqa: E402
from .serialization import load, save  # noqa: E402
