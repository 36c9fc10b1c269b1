"""Many-to-many tagging: a bidirectional LSTM labels every word of a sentence.

The lectures' sequence-labelling example on a synthetic named-entity task generated in code:
sentences from templates with people, places, organisations and dates, tagged in the BIO scheme
(``B-PER``, ``I-PER``, ``B-LOC``, ...). Some names are ambiguous on purpose — "jordan",
"georgia", "chelsea", "sydney" are a person in one template and a place in another — so a tag
can only be decided from the words around it, sometimes from words that come *after* it: that
is what the backward direction of the bidirectional LSTM contributes. Variable-length sentences
are padded and run with ``lengths=``; padded positions are ignored by the loss. The script
trains the bidirectional tagger and, for comparison, a forward-only one with the same budget.

    python examples/tagging.py            # ~1 minute
    python examples/tagging.py --quick    # a few seconds (used by the tests)
"""

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import minigrad as mg  # noqa: E402
import models  # noqa: E402

FIRST = ["anna", "bruno", "chen", "dara", "emil", "farah", "goran", "hana", "ines", "jonas",
         "keiko", "lena", "marco", "nadia", "oskar", "priya"]
LAST = ["berg", "costa", "dahl", "esposito", "fischer", "garcia", "haddad", "ivanova", "kowal",
        "larsen", "moreau", "novak", "okafor", "petrov"]
PLACES = ["oslo", "lima", "kyoto", "dakar", "quito", "hanoi", "perth", "tunis", "bergen",
          "porto", "malmo", "cusco"]
ORGS = [["acme"], ["globex"], ["initech"], ["hooli"], ["northwind", "traders"],
        ["blue", "harbour", "bank"], ["river", "valley", "school"], ["city", "library"]]
AMBIGUOUS = ["jordan", "georgia", "chelsea", "sydney", "florence", "victoria"]
MONTHS = ["january", "march", "april", "june", "july", "october", "november", "december"]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-DATE", "I-DATE"]

# Templates: words, or slots {PER} {LOC} {ORG} {DATE}; {APER} / {ALOC} draw an ambiguous name
# that is a person / a place in that context.
TEMPLATES = [
    "{PER} visited {LOC} in {DATE} .",
    "{PER} works for {ORG} in {LOC} .",
    "on {DATE} {ORG} opened an office in {LOC} .",
    "{APER} said that {PER} would fly to {LOC} .",
    "we flew to {ALOC} with {PER} on {DATE} .",
    "the meeting in {ALOC} was moved to {DATE} .",
    "yesterday {APER} met {PER} at {ORG} .",
    "{ORG} hired {APER} last {MONTH} .",
    "the train from {LOC} to {ALOC} was late .",
    "{PER} and {APER} started {ORG} together .",
    "after {DATE} the {ORG} office in {ALOC} closed .",
    "it rained in {LOC} all day .",
    "{ALOC} has cold winters and long summers .",
    "{ALOC} is famous for its old harbour .",
    "{APER} has a sister in {LOC} .",
    "{APER} is famous for her old songs .",
]


def _fill(template, rng):
    words, tags = [], []

    def put(tokens, kind):
        for i, tok in enumerate(tokens):
            words.append(tok)
            tags.append(("B-" if i == 0 else "I-") + kind if kind else "O")

    for piece in template.split():
        if piece == "{PER}":
            name = [rng.choice(FIRST)] + ([rng.choice(LAST)] if rng.random() < 0.6 else [])
            put(name, "PER")
        elif piece == "{APER}":
            put([rng.choice(AMBIGUOUS)] + ([rng.choice(LAST)] if rng.random() < 0.3 else []),
                "PER")
        elif piece == "{LOC}":
            put([rng.choice(PLACES)], "LOC")
        elif piece == "{ALOC}":
            put([rng.choice(AMBIGUOUS)], "LOC")
        elif piece == "{ORG}":
            put(list(ORGS[rng.integers(len(ORGS))]), "ORG")
        elif piece == "{DATE}":
            day = str(rng.integers(1, 29))
            put([day, rng.choice(MONTHS)] if rng.random() < 0.5 else [rng.choice(MONTHS), day],
                "DATE")
        elif piece == "{MONTH}":
            put([rng.choice(MONTHS)], None)  # "last march": not a full date, tagged O
        else:
            put([piece], None)
    return words, tags


def make_data(n, rng):
    return [_fill(TEMPLATES[rng.integers(len(TEMPLATES))], rng) for _ in range(n)]


def encode(sentences, word_ids, pad_tag=-100):
    """Pad to the longest: ids (B, T) int64, tags (B, T) int64 (pad_tag where padded),
    lengths (B,)."""
    lengths = np.array([len(w) for w, _ in sentences], dtype=np.int64)
    T = int(lengths.max())
    ids = np.zeros((len(sentences), T), dtype=np.int64)
    tags = np.full((len(sentences), T), pad_tag, dtype=np.int64)
    for b, (words, labels) in enumerate(sentences):
        ids[b, :len(words)] = [word_ids.get(w, 1) for w in words]
        tags[b, :len(words)] = [TAGS.index(t) for t in labels]
    return ids, tags, lengths


class Tagger(mg.nn.Module):
    """ids (B, T) -> tag scores (B, T, n_tags): embedding, (bidirectional) LSTM, linear."""

    def __init__(self, vocab_size, n_tags, embed=32, hidden=48, bidirectional=True):
        super().__init__()
        self.embed = mg.nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = models.LSTM(embed, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = mg.nn.Linear((2 if bidirectional else 1) * hidden, n_tags)

    def forward(self, ids, lengths):
        out, _ = self.lstm(self.embed(ids), lengths=lengths)
        return self.head(out)


def spans(tags):
    """Entity spans (kind, start, end) of a BIO tag list."""
    out, start, kind = [], None, None
    for i, t in enumerate(list(tags) + ["O"]):
        if start is not None and not (t.startswith("I-") and t[2:] == kind):
            out.append((kind, start, i))
            start = kind = None
        if t.startswith("B-") or (t.startswith("I-") and start is None):
            start, kind = i, t[2:]
    return set(out)


def evaluate(model, sentences, word_ids):
    ids, tags, lengths = encode(sentences, word_ids)
    with mg.no_grad():
        pred = np.argmax(model(mg.tensor(ids), lengths).numpy(), axis=-1)
    mask = tags != -100
    token_acc = float(np.mean(pred[mask] == tags[mask]))
    tp = fp = fn = 0
    amb_right = amb_total = 0
    for b, (words, gold) in enumerate(sentences):
        guess = [TAGS[k] for k in pred[b, :len(words)]]
        g, p = spans(gold), spans(guess)
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
        for w, gt, pt in zip(words, gold, guess, strict=True):
            if w in AMBIGUOUS:
                amb_total += 1
                amb_right += gt == pt
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    return token_acc, f1, amb_right / max(1, amb_total), pred


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 600)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    steps = args.steps if args.steps is not None else (15 if args.quick else 600)
    if steps < 1:
        p.error("--steps must be positive")

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = make_data(200 if args.quick else 3000, rng)
    test = make_data(50 if args.quick else 500, np.random.default_rng(args.seed + 1))
    vocab = ["<pad>", "<unk>"] + sorted({w for words, _ in data for w in words})
    word_ids = {w: i for i, w in enumerate(vocab)}
    print(f"{len(data)} training / {len(test)} test sentences, vocabulary {len(vocab)}, "
          f"tags {', '.join(TAGS)}")

    results = {}
    for bidirectional in (True, False):
        name = "bidirectional" if bidirectional else "forward only"
        mg.manual_seed(args.seed)
        model = Tagger(len(vocab), len(TAGS), bidirectional=bidirectional)
        seconds = train(model, data, word_ids, steps, args, name)
        model.eval()
        results[name] = evaluate(model, test, word_ids) + (seconds,)

    print(f"\n{'model':14s} {'token acc':>9s} {'entity F1':>9s} {'ambiguous':>9s} {'time':>6s}")
    for name, (acc, f1, amb, _, seconds) in results.items():
        print(f"{name:14s} {acc:9.1%} {f1:9.3f} {amb:9.1%} {seconds:5.1f}s")
    print("(ambiguous: names such as 'jordan' tagged right as a person or a place; the word "
          "that decides it often comes after the name, which only the backward direction sees)")

    pred = results["bidirectional"][3]
    print("\nsample predictions of the bidirectional tagger (word/tag; [gold] where wrong):")
    for b in range(4):
        print("  " + _show(test[b], pred[b]))
    fwd = results["forward only"][3]
    wrong = [b for b, (words, gold) in enumerate(test)
             if any(w in AMBIGUOUS and TAGS[fwd[b, i]] != gold[i] for i, w in enumerate(words))]
    if wrong:
        print("the forward-only tagger on sentences where it misreads an ambiguous name:")
        for b in wrong[:3]:
            print("  " + _show(test[b], fwd[b]))
    return 0


def train(model, data, word_ids, steps, args, name):
    rng = np.random.default_rng(args.seed)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"training ({name})", unit="step", dynamic_ncols=True)
    for step in bar:
        batch = [data[i] for i in rng.integers(0, len(data), size=args.batch)]
        ids, tags, lengths = encode(batch, word_ids)
        scores = model(mg.tensor(ids), lengths)
        loss = mg.nn.functional.cross_entropy(
            mg.reshape(scores, -1, len(TAGS)), tags.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 20 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return time.perf_counter() - start


def _show(sentence, pred):
    words, gold = sentence
    shown = []
    for i, w in enumerate(words):
        guess = TAGS[pred[i]]
        shown.append(f"{w}/{guess}" + (f"[{gold[i]}]" if guess != gold[i] else ""))
    return " ".join(shown)


if __name__ == "__main__":
    sys.exit(main())
