"""Small translation-like tasks generated in code (no downloads), a vocabulary, and batching.

* ``make_pig_latin_task``: English-like word sequences (1-20 words from a 42-word lexicon) are
  "translated" word by word into pig Latin **and put in reverse order** ("the cat sat" ->
  "atsay atcay ethay"). Every output word depends on exactly one input word, far from it for
  long inputs: a decoder that must squeeze 20 words into one state vector fails where an
  attentive one reads them off (its attention map is the anti-diagonal).
* ``make_date_task``: dates written out in words or digits ("the third of march nineteen
  ninety four", "march 3 , 1994", "3 / 3 / 1994") to ISO form ("1 9 9 4 - 0 3 - 0 3", one token
  per character).

Both return a ``TaskData`` with vocabularies and disjoint train/test lists of token pairs.
``batches`` turns pairs into padded int64 arrays.
"""

import dataclasses

import numpy as np

__all__ = ["Vocab", "TaskData", "Batch", "pig_latin", "make_pig_latin_task", "make_date_task",
           "batches", "pad_batch"]

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"


class Vocab:
    """Token <-> id maps. Ids 0, 1, 2 are ``<pad>``, ``<s>`` (begin) and ``</s>`` (end); with
    ``unk=True`` id 3 is ``<unk>``, which unknown tokens map to. Without it, an unknown token
    raises ``ValueError`` naming it."""

    def __init__(self, tokens, unk=False):
        specials = [PAD, BOS, EOS] + ([UNK] if unk else [])
        self.itos = list(specials)
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(f"Vocab: tokens must be strings, got {tok!r}")
            if tok not in self.itos:
                self.itos.append(tok)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.unk_id = 3 if unk else None

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def encode(self, tokens, add_bos=False, add_eos=False):
        """A list of ids for ``tokens`` (a list of strings, or one string split at spaces)."""
        if isinstance(tokens, str):
            tokens = tokens.split()
        ids = [self.bos_id] if add_bos else []
        for tok in tokens:
            i = self.stoi.get(tok, self.unk_id)
            if i is None:
                known = ", ".join(repr(t) for t in self.itos[3:8])
                raise ValueError(f"Vocab: unknown token {tok!r}; the vocabulary holds "
                                 f"{len(self)} tokens ({known}, ...); build it with unk=True "
                                 "to map unknown tokens to <unk>")
            ids.append(i)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, strip=True):
        """Tokens for ``ids``; with ``strip``, stop at ``</s>`` and drop ``<pad>``/``<s>``."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"Vocab: id {i} is out of range [0, {len(self)})")
            if strip and i == self.eos_id:
                break
            if strip and i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i])
        return out


@dataclasses.dataclass
class TaskData:
    """A generated task: vocabularies and disjoint train / test lists of (source tokens,
    target tokens) pairs."""
    name: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    train: list
    test: list


@dataclasses.dataclass
class Batch:
    """Padded arrays (batch first). src: (B, S) int64; src_lengths: (B,); tgt_in: (B, T)
    starting with <s>; tgt_out: (B, T) ending with </s>, <pad> after it."""
    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray


# ---- pig Latin ------------------------------------------------------------------------------
LEXICON = (
    "the a cat dog bird fish man woman child king queen friend teacher farmer doctor sees "
    "likes finds helps eats drinks reads writes big small old young happy quick slow red green "
    "blue under over near with and quietly often never today"
).split()
VOWELS = "aeiou"


def pig_latin(word):
    """Pig Latin of one lower-case word: a leading consonant cluster moves to the end and gets
    "ay" ("cat" -> "atcay", "three" -> "eethray"); a word starting with a vowel gets "way"
    ("eats" -> "eatsway")."""
    if not word or not word.isalpha():
        raise ValueError(f"pig_latin: expected a non-empty word of letters, got {word!r}")
    if word[0] in VOWELS:
        return word + "way"
    for i, ch in enumerate(word):
        if ch in VOWELS or (ch == "y" and i > 0):
            return word[i:] + word[:i] + "ay"
    return word + "ay"


def _split(pairs, n_train, n_test, rng, who):
    """Deduplicate by source and split into disjoint train / test lists."""
    seen, unique = set(), []
    for src, tgt in pairs:
        key = tuple(src)
        if key not in seen:
            seen.add(key)
            unique.append((src, tgt))
    if len(unique) < n_train + n_test:
        raise ValueError(f"{who}: only {len(unique)} distinct examples for n_train={n_train} + "
                         f"n_test={n_test}")
    order = rng.permutation(len(unique))
    picked = [unique[i] for i in order[:n_train + n_test]]
    return picked[:n_train], picked[n_train:]


def make_pig_latin_task(n_train=20000, n_test=1000, min_len=1, max_len=20, reverse=True,
                        seed=0):
    """Word-level English -> pig Latin, with the word order reversed when ``reverse``.

    Sources are uniform-length (in [min_len, max_len]) sequences of words from a 42-word
    lexicon; targets are their pig-Latin words. Vocabularies: 45 source and 45 target tokens
    (with <pad>, <s>, </s>).
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"make_pig_latin_task: expected 1 <= min_len <= max_len, got "
                         f"{min_len}, {max_len}")
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(int(1.1 * (n_train + n_test)) + 10):
        n = int(rng.integers(min_len, max_len + 1))
        src = [LEXICON[i] for i in rng.integers(0, len(LEXICON), n)]
        tgt = [pig_latin(w) for w in src]
        pairs.append((src, tgt[::-1] if reverse else tgt))
    train, test = _split(pairs, n_train, n_test, rng, "make_pig_latin_task")
    return TaskData("pig-latin-reversed" if reverse else "pig-latin", Vocab(LEXICON),
                    Vocab(pig_latin(w) for w in LEXICON), train, test)


# ---- dates ------------------------------------------------------------------------------------
MONTHS = ("january february march april may june july august september october november "
          "december").split()
ONES = "zero one two three four five six seven eight nine".split()
TEENS = ("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen "
         "nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINALS = ("_ first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
            "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
            "nineteenth twentieth").split()
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _number_words(n):
    """0 <= n < 100 in words: ``["ninety", "four"]``."""
    if n < 10:
        return [ONES[n]]
    if n < 20:
        return [TEENS[n - 10]]
    return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])


def _ordinal_words(day):
    if day <= 20:
        return [ORDINALS[day]]
    if day == 30:
        return ["thirtieth"]
    return [TENS[day // 10], ORDINALS[day % 10]]


def _year_words(year):
    if 2000 <= year < 2010:
        return ["two", "thousand"] + (["and", ONES[year % 10]] if year % 10 else [])
    hi, lo = divmod(year, 100)
    if lo == 0:
        return _number_words(hi) + ["hundred"]
    return _number_words(hi) + (["oh", ONES[lo]] if lo < 10 else _number_words(lo))


def _date_source(day, month, year, style):
    digits = list  # "1994" -> ["1", "9", "9", "4"]
    if style == 0:
        return ["the"] + _ordinal_words(day) + ["of", MONTHS[month - 1]] + _year_words(year)
    if style == 1:
        return [MONTHS[month - 1]] + _ordinal_words(day) + _year_words(year)
    if style == 2:
        return [MONTHS[month - 1]] + digits(str(day)) + [","] + digits(str(year))
    return digits(str(day)) + ["/"] + digits(str(month)) + ["/"] + digits(str(year))


def make_date_task(n_train=20000, n_test=1000, seed=0):
    """Dates in four written styles -> ISO ``YYYY-MM-DD`` (one target token per character).

    Years 1900-2029. Source vocabulary: number and month words, digits, ``the of , /``.
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(int(1.2 * (n_train + n_test)) + 10):
        year = int(rng.integers(1900, 2030))
        month = int(rng.integers(1, 13))
        day = int(rng.integers(1, DAYS_IN_MONTH[month - 1] + 1))
        src = _date_source(day, month, year, int(rng.integers(0, 4)))
        pairs.append((src, list(f"{year:04d}-{month:02d}-{day:02d}")))
    train, test = _split(pairs, n_train, n_test, rng, "make_date_task")
    src_tokens = sorted({t for s, _ in train + test for t in s})
    return TaskData("dates", Vocab(src_tokens), Vocab(list("0123456789-")), train, test)


# ---- batching -------------------------------------------------------------------------------
def pad_batch(seqs, pad_id=0):
    """Right-pad lists of ids into a (B, max_len) int64 array; returns (array, lengths)."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), int(lengths.max()) if len(seqs) else 0), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths


def batches(pairs, src_vocab, tgt_vocab, batch_size, shuffle=True, rng=None,
            sort_by_length=False):
    """Yield ``Batch``es of up to ``batch_size`` pairs (source tokens, target tokens).

    With ``sort_by_length``, each batch holds sources of similar length (less padding)."""
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    order = np.arange(len(pairs))
    if shuffle:
        order = (rng or np.random.default_rng()).permutation(len(pairs))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if sort_by_length:
        by_len = sorted(order, key=lambda i: len(pairs[i][0]))
        chunks = [np.array(by_len[i:i + batch_size]) for i in range(0, len(by_len), batch_size)]
        if shuffle:
            chunks = [chunks[i] for i in (rng or np.random.default_rng()).permutation(
                len(chunks))]
    for idx in chunks:
        src, src_len = pad_batch([src_vocab.encode(pairs[i][0]) for i in idx], src_vocab.pad_id)
        tgt = [tgt_vocab.encode(pairs[i][1]) for i in idx]
        tgt_in, _ = pad_batch([[tgt_vocab.bos_id] + t for t in tgt], tgt_vocab.pad_id)
        tgt_out, _ = pad_batch([t + [tgt_vocab.eos_id] for t in tgt], tgt_vocab.pad_id)
        yield Batch(src, src_len, tgt_in, tgt_out)
