"""How many threads minigrad's own kernels may use (like ``torch.set_num_threads``).

    mg.get_num_threads()     # 2 on a 2-core machine
    mg.set_num_threads(1)    # every kernel single-threaded from now on

The default is the ``OMP_NUM_THREADS`` environment variable when it holds a positive integer
(the convention PyTorch and the BLAS libraries share), else the number of CPUs this process
may run on. minigrad only reads that variable; it never sets it, nor any other process-wide
knob (BLAS thread counts are the BLAS library's own business). Today the fused recurrent
kernels are the only users: with two or more threads, a second thread works beside the
recurrence (see ``models.rnn.kernels.side``).
"""

import os

_num_threads = None


def _default():
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads():
    """The number of threads minigrad's kernels may use (at least 1)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default()
    return _num_threads


def set_num_threads(n):
    """Let minigrad's kernels use up to ``n`` threads (an int >= 1); 1 keeps every kernel on
    the calling thread."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected an int >= 1, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected an int >= 1, got {n}")
    global _num_threads
    _num_threads = n
