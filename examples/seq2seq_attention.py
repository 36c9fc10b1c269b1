"""Train an attentive encoder-decoder on a generated translation task and compare it with the
same model without attention.

    .venv/bin/python examples/seq2seq_attention.py            # the full run (a few minutes)
    .venv/bin/python examples/seq2seq_attention.py --quick    # a tiny run, seconds

The default task (``models.tasks.make_pig_latin_task``): translate 1-20 English words into pig
Latin and reverse their order ("the cat sat" -> "atsay atcay ethay"). The script trains
with a tqdm progress bar, reports exact-match accuracy on held-out sentences (overall and by
source length), saves the model with ``mg.save`` and checks that the reloaded copy decodes
identically, plots the attention of one long held-out sentence (PNG), shows greedy vs beam
outputs, then trains the same model without attention for the same number of steps.

BLAS runs single-threaded by default (``--threads``): the GEMMs here are small, and on a
shared 2-core machine a second BLAS thread costs far more than it brings.
"""

import argparse
import json
import os
import sys
import tempfile
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("pig-latin", "dates"), default="pig-latin")
    p.add_argument("--attention", choices=("luong", "bahdanau"), default="luong")
    p.add_argument("--score", choices=("dot", "general", "concat"), default="general")
    p.add_argument("--input-feeding", action="store_true",
                   help="Luong input feeding (the decoder then runs step by step: slower)")
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=1600, help="training steps per model")
    p.add_argument("--lr", type=float, default=4e-3, help="Adam's learning rate (decays "
                   "linearly to 5%% of it)")
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--no-baseline", action="store_true", help="skip the model without "
                   "attention")
    p.add_argument("--heatmap", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                     "attention_heatmap.png"))
    p.add_argument("--checkpoint", default=None, help="where to save the trained model "
                   "(default: a temporary file)")
    p.add_argument("--results", default=None, help="write the measured numbers as JSON here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs")
    args = p.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.steps = 300, 40, 30
        args.embed, args.hidden, args.batch_size, args.beam_size = 16, 32, 32, 3
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(ARGS.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import minigrad as mg  # noqa: E402
from models.seq2seq import Decoder, Encoder, Seq2Seq  # noqa: E402
from models.tasks import batches, make_date_task, make_pig_latin_task  # noqa: E402

BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20))


def make_task(args):
    if args.task == "dates":
        return make_date_task(args.train_size, args.test_size, seed=args.seed)
    max_len = 6 if args.quick else 20
    return make_pig_latin_task(args.train_size, args.test_size, max_len=max_len, seed=args.seed)


def build_model(args, data, attention):
    mg.manual_seed(args.seed)
    hidden = args.hidden // 2 if args.bidirectional else args.hidden
    encoder = Encoder(len(data.src_vocab), args.embed, hidden, cell=args.cell,
                      bidirectional=args.bidirectional)
    decoder = Decoder(len(data.tgt_vocab), args.embed, args.hidden, cell=args.cell,
                      attention=attention, encoder_size=encoder.output_size, score=args.score,
                      input_feeding=args.input_feeding if attention == "luong" else None)
    return Seq2Seq(encoder, decoder, pad_id=data.tgt_vocab.pad_id,
                   bos_id=data.tgt_vocab.bos_id, eos_id=data.tgt_vocab.eos_id)


def train(model, data, args, label):
    params = list(model.parameters())
    opt = mg.optim.Adam(params, lr=args.lr)
    rng = np.random.default_rng(args.seed)
    stream = iter(())
    start = time.perf_counter()
    bar = tqdm(range(args.steps), desc=f"train {label}", unit="step", leave=True,
               mininterval=2.0, file=sys.stdout)
    avg = None
    cpu = time.process_time()
    for step in bar:
        try:
            batch = next(stream)
        except StopIteration:
            stream = batches(data.train, data.src_vocab, data.tgt_vocab, args.batch_size,
                             rng=rng)
            batch = next(stream)
        opt.lr = args.lr * (1.0 - 0.95 * step / max(args.steps - 1, 1))
        model.train()
        loss = model.loss(batch.src, batch.tgt_in, batch.tgt_out, batch.src_lengths)
        opt.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
        bar.set_postfix(loss=f"{avg:.3f}", refresh=False)
    bar.close()
    return time.perf_counter() - start, time.process_time() - cpu


def evaluate(model, data, pairs=None):
    """Exact-match accuracy (greedy decoding) overall and per source-length bucket."""
    pairs = data.test if pairs is None else pairs
    hits, lengths = [], []
    for batch in batches(pairs, data.src_vocab, data.tgt_vocab, 250, shuffle=False):
        decoded = model.greedy_decode(batch.src, batch.src_lengths, max_len=30)
        for i, out in enumerate(decoded):
            gold = batch.tgt_out[i][:int(np.argmax(batch.tgt_out[i] == data.tgt_vocab.eos_id))]
            hits.append(out == gold.tolist())
            lengths.append(int(batch.src_lengths[i]))
    hits, lengths = np.array(hits), np.array(lengths)
    by_bucket = {}
    for lo, hi in BUCKETS:
        sel = (lengths >= lo) & (lengths <= hi)
        if sel.any():
            by_bucket[f"{lo}-{hi}"] = float(hits[sel].mean())
    return float(hits.mean()), by_bucket


def check_save_load(model, data, args, path):
    mg.save(model.state_dict(), path)
    twin = build_model(args, data, model.decoder.attention_type)
    with mg.no_grad():
        for p in twin.parameters():  # make sure nothing is left over from the fresh init
            p.zero_()
    twin.load_state_dict(mg.load(path))
    batch = next(batches(data.test, data.src_vocab, data.tgt_vocab, 64, shuffle=False))
    same_greedy = model.greedy_decode(batch.src, batch.src_lengths) == twin.greedy_decode(
        batch.src, batch.src_lengths)
    a = model.beam_search(batch.src[:4], batch.src_lengths[:4], beam_size=3)
    b = twin.beam_search(batch.src[:4], batch.src_lengths[:4], beam_size=3)
    if not (same_greedy and a == b):
        raise RuntimeError("the reloaded model decodes differently")
    return os.path.getsize(path)


def plot_heatmap(model, data, path):
    """The attention weights of the longest held-out source, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src_tokens, _ = max(data.test, key=lambda pair: len(pair[0]))
    src = np.array([data.src_vocab.encode(src_tokens)])
    out, maps = model.greedy_decode(src, return_attention=True)
    out_tokens = data.tgt_vocab.decode(out[0]) + ["</s>"]
    weights = maps[0]
    fig, ax = plt.subplots(figsize=(0.42 * len(src_tokens) + 2.5, 0.36 * len(out_tokens) + 2))
    im = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(out_tokens)), out_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("output (greedy)")
    ax.set_title(f"{model.decoder.attention_type} attention, {data.name}")
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return src_tokens, out_tokens


def show_decodes(model, data, beam_size, count=3):
    """Greedy vs beam outputs of the longest held-out sources."""
    pairs = sorted(data.test, key=lambda pair: -len(pair[0]))[:count]
    src = [data.src_vocab.encode(s) for s, _ in pairs]
    width = max(len(s) for s in src)
    tokens = np.zeros((len(src), width), dtype=np.int64)
    for i, s in enumerate(src):
        tokens[i, :len(s)] = s
    lengths = np.array([len(s) for s in src])
    greedy = model.greedy_decode(tokens, lengths)
    beams = model.beam_search(tokens, lengths, beam_size=beam_size, n_best=min(3, beam_size))
    for (source, target), g, hyps in zip(pairs, greedy, beams, strict=True):
        print(f"  source : {' '.join(source)}")
        print(f"  target : {' '.join(target)}")
        print(f"  greedy : {' '.join(data.tgt_vocab.decode(g))}")
        for rank, h in enumerate(hyps):
            print(f"  beam#{rank + 1} : {' '.join(data.tgt_vocab.decode(h.tokens))}  "
                  f"(score {h.score:.3f})")
        print()


def main(args):
    data = make_task(args)
    print(f"task {data.name}: {len(data.train)} training and {len(data.test)} held-out pairs, "
          f"vocabularies {len(data.src_vocab)} / {len(data.tgt_vocab)} tokens, sources of "
          f"{min(len(s) for s, _ in data.test)}-{max(len(s) for s, _ in data.test)} tokens")
    results = {"task": data.name, "steps": args.steps, "batch_size": args.batch_size}
    model = build_model(args, data, args.attention)
    print(f"model with {args.attention} attention: {model.num_parameters()} parameters")
    seconds, cpu = train(model, data, args, args.attention)
    acc, buckets = evaluate(model, data)
    results["attention"] = {"accuracy": acc, "by_length": buckets, "train_seconds": seconds,
                            "train_cpu_seconds": cpu}
    print(f"{args.attention} attention: exact match {100 * acc:.1f}% on held-out data after "
          f"{seconds:.0f} s of training ({cpu:.0f} s CPU); by source length: "
          + ", ".join(f"{k}: {100 * v:.1f}%" for k, v in buckets.items()))

    with tempfile.TemporaryDirectory(prefix="seq2seq-") as folder:
        path = args.checkpoint or os.path.join(folder, "seq2seq_attention.npz")
        size = check_save_load(model, data, args, path)
    print(f"saved to {path} ({size / 1024:.0f} KiB); the reloaded model decodes identically")
    src_tokens, _ = plot_heatmap(model, data, args.heatmap)
    print(f"attention heatmap of a {len(src_tokens)}-token source: {args.heatmap}")
    print("greedy vs beam search on the longest held-out sources:")
    show_decodes(model, data, args.beam_size)

    if not args.no_baseline:
        baseline = build_model(args, data, None)
        seconds, cpu = train(baseline, data, args, "no attention")
        acc, buckets = evaluate(baseline, data)
        results["no_attention"] = {"accuracy": acc, "by_length": buckets,
                                   "train_seconds": seconds, "train_cpu_seconds": cpu}
        print(f"no attention: exact match {100 * acc:.1f}% after {seconds:.0f} s "
              f"({cpu:.0f} s CPU); by source length: "
              + ", ".join(f"{k}: {100 * v:.1f}%" for k, v in buckets.items()))
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(ARGS)
