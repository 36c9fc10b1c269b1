"""The ``minigrad demo`` command: a short end-to-end run of the library."""

import time


def register_demo(subparsers):
    p = subparsers.add_parser("demo", help="run a short end-to-end demonstration")
    p.set_defaults(func=run_demo)


def run_demo(args):
    import minigrad as mg

    mg.manual_seed(0)
    # A tanh RNN built op by op learns to output the sum of a short sequence's signs.
    T, B, H = 8, 64, 16
    w_ih = mg.nn.Parameter(mg.randn(1, H).data * 0.5)
    w_hh = mg.nn.Parameter(mg.randn(H, H).data * (0.9 / H ** 0.5))
    head = mg.nn.Linear(H, 1)
    opt = mg.optim.Adam([w_ih, w_hh] + list(head.parameters()), lr=0.02)
    start = time.perf_counter()
    for step in range(201):
        x = mg.randn(T, B, 1)
        target = (x.data > 0).sum(axis=0).astype("float32") / T
        h = mg.zeros(B, H)
        for t in range(T):
            h = (x[t] @ w_ih + h @ w_hh).tanh()
        loss = mg.nn.functional.mse_loss(head(h), mg.tensor(target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    print(f"trained a {T}-step tanh RNN in {time.perf_counter() - start:.1f} s")
    return 0
