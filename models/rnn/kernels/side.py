"""A second thread beside the recurrence, and the worker that runs it.

Per step the recurrence must finish h_{t-1} before h_{t-1} W_hh^T can start, but the input
projection x_t W_ih^T (forward) and the weight gradients x_t^T dpre_t, h_{t-1}^T dpre_t
(backward) do not sit on that chain, and the columns of one step's product are independent.
With two threads (``minigrad.get_num_threads()``), one worker thread takes a share while the
calling thread runs the recurrence (the plans are chosen in ``launch``):

- forward, ``input_products``: the worker writes xp[t] = x_t W_ih^T for the steps in the
  recurrence's order, several steps per product, and publishes how many are done; the
  recurrence waits for step s, then adds h_{t-1} W_hh^T into xp[t];
- forward, split by hidden units: both threads run a ``*_forward_units`` kernel (``lstm``,
  ``gru``, ``rnn``) on half the units each;
- forward, ``product_columns`` (layers too narrow for the units split): the worker makes the
  last columns of every step's products, in step with the recurrence (which makes the rest
  and the gate math);
- backward, ``weight_grads``: the recurrence publishes each step's gate gradients; the
  worker sums the weight and bias gradients over chunks of the finished steps, and the
  caller takes a share of the chunks left once its recurrence is done.

Both sides run numba kernels without the GIL; they meet through a ``sync`` array (``sync``).
The worker is one daemon thread per process, used by one call at a time: a call that finds
it busy (another Python thread is using it) runs on its own thread alone, as with one
thread.
"""

import threading

from numba import njit

from .common import masked
from .packed import add_product, pack_panels, packed_matmul, packed_product
from .sync import (
    ABORT,
    DONE,
    NEXT,
    PROGRESS,
    SIDE_STEPS,
    aborted,
    fetch_add,
    publish,
    wait_flag,
    wait_for,
)

CHUNK_ROWS = 128  # rows (steps x batch) per product on the worker


def chunk_steps(B):
    """Steps per worker product: about CHUNK_ROWS rows, at least one step."""
    return max(1, -(-CHUNK_ROWS // max(B, 1)))


@njit(cache=True, error_model="numpy", nogil=True)
def input_products(x, w_ih_t, xp, reverse, chunk, fam, sync):
    """xp[t, :, :Np] = x_t W_ih^T for every time index, taken in the order the forward takes
    them (``reverse``: t = T - 1 first), one step first, then ``chunk`` steps per product;
    PROGRESS holds the number of steps done. x: (T, B, I) C-contiguous; w_ih_t: W_ih^T
    (I, G H), any strides (packed here); xp: (T, B, Np) C-contiguous. Sets DONE at the
    end."""
    T, B, I = x.shape
    Np = xp.shape[2]
    xwp = pack_panels(fam, w_ih_t)
    s0, step = 0, 1  # one step first: the recurrence can start at once
    while s0 < T and not aborted(sync):
        s1 = min(T, s0 + step)
        t0, t1 = (T - s1, T - s0) if reverse else (s0, s1)
        rows = (t1 - t0) * B
        packed_matmul(fam, x[t0:t1].reshape((rows, I)), xwp, xp[t0:t1].reshape((rows, Np)))
        publish(sync, PROGRESS, s1)
        s0, step = s1, chunk
    publish(sync, DONE, 1)


@njit(cache=True, error_model="numpy", nogil=True)
def product_columns(x, w_ih_t, h0, states, w_hh_t, mask, use_mask, reverse, accumulate, xp,
                    pre, u, fam, sync):
    """The worker's share of each forward step when the products are split by columns: for
    s = 0, 1, ... (t in the forward's order), once h_{t-1} is written (PROGRESS >= s; h0
    first), xp = x_t W_ih'^T and pre (+)= (m * h_{t-1}) W_hh'^T (``accumulate``: pre is xp,
    LSTM and RNN; else GRU's separate recurrent product), W' the last columns of the layer's
    weights (w_ih_t, w_hh_t: views of W_ih^T, W_hh^T, packed here while the calling thread
    packs its own; I, H >= 1). xp, pre: (B, N') views of the
    kernel's buffers (rows contiguous); u: (B, H) scratch. SIDE_STEPS counts the steps
    done; DONE is set at the end."""
    T = states.shape[0]
    xwp, wp = pack_panels(fam, w_ih_t), pack_panels(fam, w_hh_t)
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        if s > 0 and not wait_for(sync, PROGRESS, s):
            break
        src = masked(hp, mask, u) if use_mask else hp
        packed_product(fam, xwp, x[t], xp, False)
        packed_product(fam, wp, src, pre, accumulate)
        publish(sync, SIDE_STEPS, s + 1)
        hp = states[t, 0]
    publish(sync, DONE, 1)


@njit(cache=True, error_model="numpy", nogil=True)
def _gather(x, states, h0, mask, use_mask, lengths, reverse, t0, t1, ux, uh, want_x, want_h):
    """The left operands of the weight gradients for time indices [t0, t1): ux ((t1 - t0) B,
    I) the inputs x_t, uh (same rows, H) the (masked) h_{t-1} that met W_hh (h0 where the
    recurrence starts), rows of sequences that ended before t zeroed (what they hold may be
    anything, NaN included)."""
    T, B = x.shape[0], x.shape[1]
    for t in range(t0, t1):
        first = t == T - 1 if reverse else t == 0
        src = h0 if first else states[t + 1 if reverse else t - 1, 0]
        for b in range(B):
            r = (t - t0) * B + b
            live = t < lengths[b]
            if want_x:
                if live:
                    ux[r] = x[t, b]
                else:
                    ux[r] = 0
            if want_h:
                row = uh[r]
                if not live:
                    row[:] = 0
                elif use_mask:
                    sb, mb = src[b], mask[b]
                    for j in range(row.shape[0]):
                        row[j] = sb[j] * mb[j]
                else:
                    row[:] = src[b]


@njit(cache=True, error_model="numpy", nogil=True)
def _column_sums(d, gb):
    """gb (N',) += the column sums of d (R, N')."""
    for r in range(d.shape[0]):
        dr = d[r]
        for m in range(gb.shape[0]):
            gb[m] += dr[m]


@njit(cache=True, error_model="numpy", nogil=True)
def weight_grads(x, states, h0, mask, use_mask, lengths, reverse, d_ih, d_hh, gw_ih, gw_hh,
                 gb_ih, gb_hh, chunk, ux, uh, finish, fam, sync):
    """Sum weight and bias gradients over chunks of ``chunk`` steps, taking the next chunk
    from NEXT (``fetch_add``: the worker and, once its recurrence is done, the calling thread
    share the chunks, each into its own accumulators) and waiting until the backward kernel
    has finished its steps (PROGRESS: how many, from s = T - 1 down). Chunk c covers steps
    s in [T - (c + 1) chunk, T - c chunk).

    gw_ih (I, N') += U_x^T d_ih, gw_hh (H, N') += U_h^T d_hh, gb_ih += d_ih's column sums,
    gb_hh += d_hh's (the empty ones are skipped); d_ih, d_hh: (T, B, N') C-contiguous (the
    same array except for a GRU with reset_after); U as in ``_gather``. ux: (chunk B, I),
    uh: (chunk B, H) scratch. ``finish``: set DONE at the end (the worker's call)."""
    T, B, I = x.shape
    Np = d_hh.shape[2]
    chunks = -(-T // chunk)
    want_x, want_h = gw_ih.size > 0, gw_hh.size > 0
    while not aborted(sync):
        c = fetch_add(sync, NEXT, 1)
        if c >= chunks:
            break
        s_hi = T - c * chunk
        s_lo = max(0, s_hi - chunk)
        if not wait_for(sync, PROGRESS, T - s_lo):
            break
        t0, t1 = (T - s_hi, T - s_lo) if reverse else (s_lo, s_hi)
        rows = (t1 - t0) * B
        _gather(x, states, h0, mask, use_mask, lengths, reverse, t0, t1, ux, uh, want_x,
                want_h)
        dx = d_ih[t0:t1].reshape((rows, Np))
        dh = d_hh[t0:t1].reshape((rows, Np))
        if want_x:
            add_product(fam, ux[:rows].T, dx, gw_ih)
        if want_h:
            add_product(fam, uh[:rows].T, dh, gw_hh)
        if gb_ih.size > 0:
            _column_sums(dx, gb_ih)
        if gb_hh.size > 0:
            _column_sums(dh, gb_hh)
    if finish:
        publish(sync, DONE, 1)


@njit(cache=True, nogil=True)
def _wait_done(sync):
    return wait_for(sync, DONE, 1)


class _Job:
    __slots__ = ("fn", "args", "sync", "error")

    def __init__(self, fn, args, sync):
        self.fn, self.args, self.sync, self.error = fn, args, sync, None


class _Worker:
    """One daemon thread that runs one side kernel at a time."""

    def __init__(self):
        self._busy = threading.Lock()  # held by the call that uses the worker
        self._go = threading.Lock()  # released to hand the thread a job
        self._go.acquire()
        self._job = None
        self._thread = None

    def claim(self):
        """Reserve the worker for this call; False when another call has it."""
        return self._busy.acquire(blocking=False)

    def release(self):
        self._busy.release()

    def start(self, job):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="minigrad-rnn-side",
                                            daemon=True)
            self._thread.start()
        self._job = job
        self._go.release()

    def _loop(self):
        while True:
            self._go.acquire()
            job, self._job = self._job, None
            try:
                job.fn(*job.args)
            except BaseException as err:  # hand it to the caller, which is waiting
                job.error = err
                job.sync[ABORT] = 1
                job.sync[DONE] = 1
            finally:
                job.args = None


_WORKER = _Worker()


def run_beside(side_fn, side_args, main_fn, main_args, sync, then=None):
    """Run ``side_fn(*side_args, sync)`` on the worker thread while ``main_fn(*main_args)``
    runs here, then ``then[0](*then[1])`` here when given (a share of the side's work). The
    side function and the kernels the others run are nogil numba kernels that communicate
    through ``sync`` (the side kernel sets DONE last); main_fn may be Python around them.
    Returns once all are done; re-raises the worker's error. The caller has claimed the
    worker (``claim_worker``) and releases it afterwards."""
    job = _Job(side_fn, (*side_args, sync), sync)
    _WORKER.start(job)
    finished = False
    try:
        main_fn(*main_args)
        if then is not None:
            then[0](*then[1])
        finished = _wait_done(sync)
    finally:
        if not finished:  # let the worker stop, then wait for it before buffers go
            sync[ABORT] = 1
            wait_flag(sync, DONE)
    if job.error is not None:
        raise RuntimeError("the recurrent layer's side thread failed") from job.error
    if sync[ABORT]:
        raise RuntimeError("the recurrent layer's side thread was aborted")


def claim_worker(threads):
    """True when this call may use the worker: ``threads`` >= 2 and nobody else has it."""
    return threads >= 2 and _WORKER.claim()


def release_worker():
    _WORKER.release()
