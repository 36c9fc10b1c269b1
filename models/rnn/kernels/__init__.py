"""numba kernels of the fused recurrent layers (``models.rnn.fused``).

One forward and one backward (BPTT) kernel per cell type: ``rnn``, ``lstm``, ``gru``; the gate
activations they share live in ``common``. Kernels are module-level functions of arrays that
write into preallocated outputs; ``launch`` is the Python layer that allocates them, runs the
input-projection and weight-gradient GEMMs with numpy, and calls the kernels.

numba's on-disk cache keys a kernel on its own file only: after editing ``common.py``, delete
this package's ``__pycache__`` so that the kernels are recompiled.
"""
