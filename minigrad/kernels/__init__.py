"""numba kernels: module-level functions of arrays that write into preallocated outputs.

The Python layer (``minigrad.ops``) validates, makes arrays contiguous and allocates; kernels
only compute. All are ``@njit(cache=True, error_model='numpy')`` without ``fastmath`` (inf and
NaN must survive: exploding gradients show up as inf).
"""
