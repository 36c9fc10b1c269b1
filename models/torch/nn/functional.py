"""``torch.nn.functional``: ``minigrad.nn.functional``, which has PyTorch's signatures
(``softmax(input, dim=None, _stacklevel=3, dtype=None)``, ``dropout(..., inplace=)``,
``relu(..., inplace=)``, ``layer_norm``, ``one_hot``, class weights and label smoothing)."""

import minigrad.nn.functional as _core

__all__ = list(_core.__all__)

binary_cross_entropy_with_logits = _core.binary_cross_entropy_with_logits
cross_entropy = _core.cross_entropy
dropout = _core.dropout
embedding = _core.embedding
layer_norm = _core.layer_norm
leaky_relu = _core.leaky_relu
linear = _core.linear
log_softmax = _core.log_softmax
mse_loss = _core.mse_loss
nll_loss = _core.nll_loss
one_hot = _core.one_hot
relu = _core.relu
sigmoid = _core.sigmoid
softmax = _core.softmax
softplus = _core.softplus
tanh = _core.tanh
