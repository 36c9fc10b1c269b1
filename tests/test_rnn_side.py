"""The side thread of the fused recurrent kernels (``models.rnn.kernels.side``) and
``mg.set_num_threads``.

With two threads the input projections (forward) and the weight gradients (backward) run on a
worker thread beside the recurrence. Checked here: the same numbers as one thread and as the
numpy reference, for every mode and option, with the work split into several chunks (shared
between both threads in the backward); that the side path was the one taken; that a busy
worker makes a call run alone; and that an error on either thread surfaces instead of
hanging.
"""

import threading

import numpy as np
import pytest
from test_rnn_fused import (
    CASES,
    _options,
    check_against_reference,
    make_inputs,
    run_fused,
)

import minigrad as mg
from models.rnn.kernels import family, launch, side, sync

pytestmark = pytest.mark.skipif(not family.active().packed,
                                reason="the side thread needs a packed kernel family")
# The tests marked with it run under every packed family this CPU has (AVX-512 and AVX2 on
# an AVX-512 machine); the others under the default one.
PACKED = [name for name in family.supported() if family.FAMILIES[name].packed]
FAMILIES = pytest.mark.parametrize("kernels", PACKED)


@pytest.fixture
def kernels_used(request):
    """Runs the test under the family of its ``kernels`` parameter."""
    with family.using(request.getfixturevalue("kernels")) as chosen:
        yield chosen


@pytest.fixture
def two_threads(monkeypatch):
    """Two threads, the side thread used at any size, chunks of 2 steps (B = 3: 6 rows);
    records the side kernels that ran."""
    ran = []
    run_beside = side.run_beside

    def recording(side_fn, *args, **kw):
        ran.append(side_fn.__name__)
        return run_beside(side_fn, *args, **kw)

    monkeypatch.setattr(side, "run_beside", recording)
    monkeypatch.setattr(launch, "SIDE_MIN_MACS", {"forward": 0, "backward": 0})
    monkeypatch.setattr(launch, "SPLIT_MIN_MACS_PER_STEP", 0)
    monkeypatch.setattr(launch, "UNITS_MIN_MACS_PER_STEP", 0)
    monkeypatch.setattr(side, "CHUNK_ROWS", 6)
    old = mg.get_num_threads()
    mg.set_num_threads(2)
    yield ran
    mg.set_num_threads(old)


def _run(mode, p, kw):
    out, t = run_fused(mode, p, **kw)
    v = np.random.default_rng(2).standard_normal(out.shape)
    (out * mg.tensor(v, dtype=np.float64)).sum().backward()
    return out.numpy(), {k: a.grad.numpy() for k, a in t.items() if a is not None}


def _assert_as_one_thread(with_side, alone):
    """The states bit for bit; every gradient equal to rounding. float32: the weight
    gradients are sums in another order (chunks of steps instead of one product over all),
    with cancellation, so they are compared at the scale of the whole gradient."""
    np.testing.assert_array_equal(with_side[0], alone[0])
    for name, g in alone[1].items():
        if g.dtype == np.float32:
            rtol, atol = 1e-5, 1e-5 * np.abs(g).max()
        else:
            rtol, atol = 1e-12, 1e-14
        np.testing.assert_allclose(with_side[1][name], g, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("mode, make_kw, kw", CASES)
def test_side_thread_gives_the_single_thread_numbers(two_threads, mode, make_kw, kw):
    """T = 9 steps in chunks of 2 (the last one short), reverse and ended sequences included:
    forward states identical, gradients equal to rounding, and against the reference."""
    p = make_inputs(mode, T=9, **make_kw)
    kw = _options(kw)
    with_side = _run(mode, p, kw)
    taken = list(two_threads)
    two_threads.clear()
    mg.set_num_threads(1)
    alone = _run(mode, p, kw)
    assert two_threads == []
    # GRU reset_after=False makes its weight gradients after the kernel (no side thread).
    both = mode != "gru" or kw.get("reset_after", True)
    assert taken == (["input_products", "weight_grads"] if both else ["input_products"])
    _assert_as_one_thread(with_side, alone)
    mg.set_num_threads(2)
    check_against_reference(mode, p, kw)


# H large enough for the units split (each thread at least one whole vector of units).
_SPLIT_H = {("rnn", np.float64): 48, ("lstm", np.float64): 16, ("gru", np.float64): 16,
            ("rnn", np.float32): 96, ("lstm", np.float32): 32, ("gru", np.float32): 32}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode, make_kw, kw", CASES)
def test_forward_split_between_the_threads(two_threads, mode, make_kw, kw, dtype):
    """Wide enough layers split every step between the threads by hidden units (each
    thread its units' gates and states; GRU reset_after=False keeps the input projections
    ahead instead). The same states as one thread, bit for bit, and the same gradients."""
    H = _SPLIT_H[mode, dtype]
    p = make_inputs(mode, T=9, I=5, H=H, dtype=dtype, **make_kw)
    kw = _options(kw, H=H)
    with_side = _run(mode, p, kw)
    split = mode != "gru" or kw.get("reset_after", True)
    assert two_threads[0] == (f"{mode}_forward_units" if split else "input_products")
    mg.set_num_threads(1)
    alone = _run(mode, p, kw)
    _assert_as_one_thread(with_side, alone)


@pytest.mark.parametrize("mode, H", [("lstm", 16), ("gru", 16), ("rnn", 48)])
@FAMILIES
def test_forward_split_against_the_reference(two_threads, kernels_used, kernels, mode, H):
    """Each split against the numpy reference itself (float64, B = 1: the one-row kernels
    on both threads)."""
    p = make_inputs(mode, T=6, B=1, I=3, H=H, peephole=mode == "lstm")
    check_against_reference(mode, p, _options({"hidden_mask": "mask"}, B=1, H=H))
    assert two_threads[0] == f"{mode}_forward_units"


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("kw", [{}, {"reverse": True, "hidden_mask": "mask"}])
@FAMILIES
def test_units_split_off_the_vector_grid(two_threads, kernels_used, kernels, mode, kw):
    """float32, H = 40: this thread keeps 16 units, the worker 24 (its blocks of the gates
    array start off the 64-byte grid), B = 11 across the 8-row (4-row) blocks, ended
    sequences."""
    p = make_inputs(mode, T=7, B=11, I=6, H=40, peephole=mode == "lstm", dtype=np.float32)
    kw = _options({**kw, "lengths": [7, 2, 5, 7, 1, 7, 6, 3, 7, 4, 7]}, B=11, H=40)
    with_side = _run(mode, p, kw)
    assert two_threads == [f"{mode}_forward_units", "weight_grads"]
    mg.set_num_threads(1)
    alone = _run(mode, p, kw)
    _assert_as_one_thread(with_side, alone)


@pytest.mark.parametrize("mode, make_kw, kw", [
    ("lstm", {"peephole": True}, {"reverse": True, "lengths": [9, 4, 6]}),
    ("gru", {}, {"hidden_mask": "mask", "lengths": [2, 9, 7]}),
    ("rnn", {}, {}),
])
def test_the_caller_takes_the_chunks_a_late_worker_leaves(monkeypatch, two_threads, mode,
                                                          make_kw, kw):
    """A worker that starts late finds the chunks taken by the caller, which sums them into
    its own accumulators once its recurrence is done: the same gradients."""
    import time

    p = make_inputs(mode, T=9, **make_kw)
    kw = _options(kw)
    mg.set_num_threads(1)
    alone = _run(mode, p, kw)
    mg.set_num_threads(2)
    run_beside = side.run_beside
    late = []

    def late_worker(side_fn, side_args, *args, **kw):
        if side_fn is side.weight_grads:
            def slow(*a):
                time.sleep(0.2)
                late.append(a[-1][sync.NEXT])  # chunks already handed out
                side.weight_grads(*a)
            side_fn = slow
        return run_beside(side_fn, side_args, *args, **kw)

    monkeypatch.setattr(side, "run_beside", late_worker)
    with_side = _run(mode, p, kw)
    assert late and late[0] >= 5  # all five chunks (2 steps each) went to the caller
    _assert_as_one_thread(with_side, alone)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@FAMILIES
def test_side_thread_float32_and_wider_layers(two_threads, kernels_used, kernels, mode):
    """float32, B = 19 across the row blocks, H = 21 padding the gate columns: the side
    thread's numbers equal the single thread's (the same products in the same order)."""
    p = make_inputs(mode, T=7, B=19, I=5, H=21, dtype=np.float32)
    kw = _options({"lengths": [7, 3, 1, 7, 5, 2, 7, 6, 4, 7, 1, 7, 7, 2, 5, 7, 3, 7, 6]},
                  B=19, H=21)
    with_side = _run(mode, p, kw)
    # AVX-512: H = 21 is too narrow for the units split (a whole 16-float vector each); the
    # LSTM's 4 H = 84 columns are wide enough for the column split, the GRU's and RNN's are
    # not. AVX2 (8-float vectors): the units split.
    if kernels_used.vector_width(np.float32) <= 21 // 2:
        first = f"{mode}_forward_units"
    else:
        first = "product_columns" if mode == "lstm" else "input_products"
    assert two_threads == [first, "weight_grads"]
    mg.set_num_threads(1)
    alone = _run(mode, p, kw)
    _assert_as_one_thread(with_side, alone)


def test_one_thread_never_uses_the_worker(two_threads):
    mg.set_num_threads(1)
    _run("lstm", make_inputs("lstm", T=9), {})
    assert two_threads == []


def test_a_busy_worker_makes_the_call_run_alone(two_threads):
    """While another call holds the worker, a call runs on its own thread: same numbers."""
    p = make_inputs("gru", T=9)
    want = _run("gru", p, {})
    two_threads.clear()
    assert side.claim_worker(2)
    try:
        got = _run("gru", p, {})
    finally:
        side.release_worker()
    assert two_threads == []
    np.testing.assert_array_equal(got[0], want[0])


def test_an_error_after_the_plan_releases_the_worker(monkeypatch, two_threads):
    """The forward claims the worker when it makes its plan, before it allocates anything:
    an error after that (here in allocating a product buffer) is raised and leaves the worker free,
    so that the next call shares its work again."""
    p = make_inputs("lstm", T=9)
    buffer, calls = launch._product_buffer, []

    def failing_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("no room for the products")
        return buffer(*args)

    monkeypatch.setattr(launch, "_product_buffer", failing_once)
    with pytest.raises(MemoryError, match="no room"):
        _run("lstm", p, {})
    assert two_threads == []  # it failed before anything ran beside it
    assert side.claim_worker(2)  # free again
    side.release_worker()
    got = _run("lstm", p, {})
    assert two_threads  # the next call used the worker
    monkeypatch.setattr(launch, "_product_buffer", buffer)
    mg.set_num_threads(1)
    _assert_as_one_thread(got, _run("lstm", p, {}))


def test_calls_from_two_python_threads_at_once(two_threads):
    """Several Python threads running layers at once: each call gets the worker or runs
    alone; every result is right."""
    p = make_inputs("lstm", T=9, peephole=True)
    want = _run("lstm", p, {})
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(_run("lstm", p, {}))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(results) == 15
    for out, grads in results:
        np.testing.assert_array_equal(out, want[0])
        for name, g in want[1].items():
            np.testing.assert_allclose(grads[name], g, rtol=1e-12, atol=1e-14)


def _failing_side(s):
    raise ValueError("side failed")


def test_an_error_on_the_worker_reaches_the_caller():
    """The worker's error stops the caller's wait (ABORT) and is raised there."""
    s = sync.new_sync()
    assert side.claim_worker(2)
    try:
        with pytest.raises(RuntimeError, match="side thread failed") as info:
            side.run_beside(_failing_side, (), sync.wait_for, (s, sync.PROGRESS, 1), s)
    finally:
        side.release_worker()
    assert isinstance(info.value.__cause__, ValueError)


def test_an_error_on_the_caller_stops_the_worker():
    """The caller's error raises ABORT: the worker, waiting for progress that will never
    come, stops, and the call returns with the caller's error."""
    s = sync.new_sync()
    x = np.ones((4, 2, 3))

    def failing_main():
        raise KeyError("main failed")

    assert side.claim_worker(2)
    try:
        with pytest.raises(KeyError, match="main failed"):
            side.run_beside(side.weight_grads,
                            (x, np.ones((4, 1, 2, 5)), np.ones((2, 5)), np.ones((0, 0)), False,
                             np.full(2, 4, np.int64), False, np.ones((4, 2, 8)),
                             np.ones((4, 2, 8)), np.zeros((3, 8)), np.zeros((5, 8)),
                             np.zeros(0), np.zeros(8), 1, np.empty((2, 3)), np.empty((2, 5)),
                             True, family.active().token),
                            failing_main, (), s)
    finally:
        side.release_worker()
    assert s[sync.ABORT] == 1 and s[sync.DONE] == 1


def test_fetch_add_hands_out_each_chunk_once():
    """Both threads take chunks from one counter: every index exactly once."""
    from numba import njit

    @njit(nogil=True)
    def take(s, n, out):
        k = 0
        while True:
            c = sync.fetch_add(s, sync.NEXT, 1)
            if c >= n:
                return k
            out[k] = c
            k += 1

    s = sync.new_sync()
    n = 200_000
    a, b = np.full(n, -1), np.full(n, -1)
    counts = {}
    t = threading.Thread(target=lambda: counts.update(b=take(s, n, b)))
    t.start()
    counts["a"] = take(s, n, a)
    t.join()
    got = np.sort(np.concatenate([a[:counts["a"]], b[:counts["b"]]]))
    np.testing.assert_array_equal(got, np.arange(n))


def test_set_num_threads(monkeypatch):
    from minigrad import parallel

    old = mg.get_num_threads()
    try:
        mg.set_num_threads(3)
        assert mg.get_num_threads() == 3
        for bad, err in ((0, ValueError), (-1, ValueError), (2.0, TypeError),
                         (True, TypeError), ("2", TypeError)):
            with pytest.raises(err, match="set_num_threads"):
                mg.set_num_threads(bad)
        assert mg.get_num_threads() == 3  # unchanged by the refused calls
        monkeypatch.setattr(parallel, "_num_threads", None)
        monkeypatch.setenv("OMP_NUM_THREADS", "5")
        assert mg.get_num_threads() == 5
        monkeypatch.setattr(parallel, "_num_threads", None)
        monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
        assert mg.get_num_threads() >= 1
    finally:
        mg.set_num_threads(old)


@pytest.mark.parametrize("cls, kw", [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "peephole": True}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("RNN", {"bidirectional": True, "nonlinearity": "relu"}),
])
def test_layers_with_two_threads(two_threads, cls, kw):
    """Through the layer classes (stacked, bidirectional, variable lengths, batch_first):
    two threads give one thread's outputs, final states and parameter gradients."""
    import models

    def run(threads):
        mg.set_num_threads(threads)
        mg.manual_seed(3)
        layer = getattr(models, cls)(5, 32, batch_first=True, dtype=mg.float64, **kw)
        x = mg.tensor(np.random.default_rng(4).standard_normal((6, 9, 5)), dtype=mg.float64,
                      requires_grad=True)
        out, h_n = layer(x, lengths=[9, 4, 7, 9, 1, 6])
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n
        (out.sum() + (h_n * h_n).sum()).backward()
        grads = {name: p.grad.numpy().copy() for name, p in layer.named_parameters()}
        return out.numpy(), h_n.numpy(), x.grad.numpy(), grads

    with_side = run(2)
    assert "weight_grads" in two_threads  # every layer-direction's backward used the worker
    alone = run(1)
    np.testing.assert_array_equal(with_side[0], alone[0])
    np.testing.assert_array_equal(with_side[1], alone[1])
    np.testing.assert_allclose(with_side[2], alone[2], rtol=1e-12, atol=1e-14)
    for name, g in alone[3].items():
        np.testing.assert_allclose(with_side[3][name], g, rtol=1e-12, atol=1e-14,
                                   err_msg=name)
