r"""Encoder-decoder (sequence-to-sequence) models with optional attention.

* ``Encoder``: embedding + a stacked, optionally bidirectional RNN / LSTM / GRU over the padded
  source (batch first); padded steps are skipped (``lengths=``, PyTorch's packed semantics).
* ``Decoder``: embedding + a stacked RNN / LSTM / GRU, with

  - ``attention=None``: :math:`\mathrm{logits}_t = W_o h_t`;
  - ``attention="luong"`` (Luong et al. 2015): :math:`h_t = \mathrm{RNN}([e(y_{t-1});
    \tilde h_{t-1}], h_{t-1})` (:math:`\tilde h_{t-1}` only with ``input_feeding``),
    :math:`c_t = \mathrm{attn}(h_t, \bar h)`, :math:`\tilde h_t = \tanh(W_c [c_t; h_t])`,
    :math:`\mathrm{logits}_t = W_o \tilde h_t`;
  - ``attention="bahdanau"`` (Bahdanau et al. 2015): :math:`c_t = \mathrm{attn}(s_{t-1},
    \bar h)`, :math:`s_t = \mathrm{RNN}([e(y_{t-1}); c_t], s_{t-1})`,
    :math:`\tilde s_t = \tanh(W_c [c_t; s_t])`, :math:`\mathrm{logits}_t = W_o \tilde s_t`.

* ``Seq2Seq``: ties them (a ``tanh(Linear)`` bridge maps the encoder's final states to the
  decoder's when the sizes or directions differ), with teacher forcing (``teacher_forcing_ratio``
  < 1 feeds the model's own greedy predictions at random steps), a padding-aware loss
  (``ignore_index``), ``greedy_decode`` and ``beam_search``.

Token arrays are (B, S) / (B, T) int64, batch first; id conventions (pad 0, <s> 1, </s> 2) match
``models.tasks.Vocab``.
"""

from typing import NamedTuple

import numpy as np

import minigrad as mg
from minigrad.nn import Embedding, Linear, Module, functional

from .attention import BahdanauAttention, LuongAttention
from .cell.registry import NAMES, kind

__all__ = ["Encoder", "Decoder", "Seq2Seq", "Memory", "DecoderState", "Hypothesis"]

CELLS = NAMES  # the built-in kinds (models.cell.registry)


class Memory(NamedTuple):
    """What the decoder attends to. keys: (B, S, Dk) encoder outputs; mask: (B, S) bool numpy
    array (True = a real source step) or None; projected: the attention's ``project_keys(keys)``
    or None."""
    keys: mg.Tensor
    mask: np.ndarray = None
    projected: mg.Tensor = None

    def select(self, index):
        """The memory of the batch entries ``index`` (repeats allowed)."""
        index = np.asarray(index, dtype=np.int64)
        return Memory(mg.index_select(self.keys, 0, index),
                      None if self.mask is None else self.mask[index],
                      None if self.projected is None else mg.index_select(self.projected, 0,
                                                                          index))


class DecoderState(NamedTuple):
    """The decoder's recurrent state. hidden: h (L, B, H), or (h, c) for an LSTM; feed: the
    previous attentional state (B, H) for Luong input feeding, else None."""
    hidden: object
    feed: mg.Tensor = None

    def select(self, index):
        """The state of the batch entries ``index`` (repeats allowed)."""
        index = np.asarray(index, dtype=np.int64)
        if isinstance(self.hidden, tuple):
            hidden = tuple(mg.index_select(t, 1, index) for t in self.hidden)
        else:
            hidden = mg.index_select(self.hidden, 1, index)
        feed = None if self.feed is None else mg.index_select(self.feed, 0, index)
        return DecoderState(hidden, feed)


class Hypothesis(NamedTuple):
    """A beam-search result: ``tokens`` (ids, without <s> and </s>) and ``score`` (the sum of
    the token log-probabilities, </s> included, divided by length ** length_penalty)."""
    tokens: list
    score: float


# ---- checks ---------------------------------------------------------------------------------
def _cell(cell, who):
    if cell not in CELLS:
        raise ValueError(f"{who}: cell must be one of {CELLS}, got {cell!r}")
    return kind(cell).layer


def check_tokens(tokens, vocab_size, who, name="src"):
    """``tokens`` (Tensor, numpy array or nested lists of ints) as a (B, S) int64 array."""
    data = tokens.numpy() if isinstance(tokens, mg.Tensor) else np.asarray(tokens)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected {name} token ids as integers, got dtype {data.dtype} "
                        "(encode tokens with a Vocab first)")
    if data.ndim != 2:
        raise ValueError(f"{who}: expected {name} of shape (B, length) (batch first), got "
                         f"{data.shape}")
    if data.shape[1] == 0:
        raise ValueError(f"{who}: {name} is an empty sequence (shape {data.shape}); expected at "
                         "least one token")
    if data.size and (data.min() < 0 or data.max() >= vocab_size):
        bad = int(data.max()) if data.max() >= vocab_size else int(data.min())
        raise ValueError(f"{who}: {name} holds token id {bad}, outside the vocabulary "
                         f"[0, {vocab_size}) (an unknown token?)")
    return data.astype(np.int64, copy=False)


def check_lengths(lengths, batch, steps, who):
    """``lengths`` (B ints in [1, steps]) as int64, or None when every sequence is full."""
    if lengths is None:
        return None
    arr = np.asarray(lengths.numpy() if isinstance(lengths, mg.Tensor) else lengths)
    if arr.dtype.kind not in "iu" or arr.shape != (batch,):
        raise ValueError(f"{who}: expected src_lengths of {batch} ints (shape ({batch},)), got "
                         f"shape {arr.shape} and dtype {arr.dtype}")
    if arr.size and arr.min() < 1:
        i = int(np.argmin(arr))
        raise ValueError(f"{who}: source sequence {i} is empty (length {int(arr[i])}); every "
                         "source needs at least one token")
    if arr.size and arr.max() > steps:
        raise ValueError(f"{who}: src_lengths holds {int(arr.max())}, more than the {steps} "
                         "source steps given")
    arr = arr.astype(np.int64)
    return None if np.all(arr == steps) else arr


def _size(value, who, name):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: expected a positive int {name}, got {value!r}")
    return int(value)


# ---- encoder --------------------------------------------------------------------------------
class Encoder(Module):
    """Embedding + stacked (optionally bidirectional) RNN / LSTM / GRU, batch first.

    forward(src, lengths=None) -> (outputs, final): src (B, S) int64 ids; lengths (B,) or None;
    outputs (B, S, D H) (zeros past each sequence's end; D = 2 if bidirectional); final: the
    layer's h_n (L D, B, H), or (h_n, c_n) for an LSTM. Dropout (training mode) acts on the
    embeddings and between layers.
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers=1, cell="lstm",
                 bidirectional=False, dropout=0.0, padding_idx=0, dtype=None):
        super().__init__()
        who = "Encoder"
        self.vocab_size = _size(vocab_size, who, "vocab_size")
        self.cell = cell
        layer = _cell(cell, who)
        self.embedding = Embedding(self.vocab_size, _size(embed_dim, who, "embed_dim"),
                                   padding_idx=padding_idx, dtype=dtype)
        self.dropout = float(dropout)
        self.rnn = layer(embed_dim, _size(hidden_size, who, "hidden_size"),
                         _size(num_layers, who, "num_layers"), batch_first=True,
                         dropout=self.dropout if num_layers > 1 else 0.0,
                         bidirectional=bidirectional, dtype=dtype)
        self.hidden_size, self.num_layers = int(hidden_size), int(num_layers)
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * self.hidden_size

    def forward(self, src, lengths=None):
        tokens = check_tokens(src, self.vocab_size, "Encoder")
        lens = check_lengths(lengths, tokens.shape[0], tokens.shape[1], "Encoder")
        x = functional.dropout(self.embedding(tokens), self.dropout, self.training)
        with mg.scope("Encoder"):
            return self.rnn(x, lengths=lens)


# ---- decoder --------------------------------------------------------------------------------
class Decoder(Module):
    """Embedding + stacked RNN / LSTM / GRU + optional attention + output layer (see the module
    docstring for the equations).

    Decoder(vocab_size, embed_dim, hidden_size, num_layers=1, cell="lstm", attention=None,
    encoder_size=None, score="general", input_feeding=None, attn_size=None, dropout=0.0,
    padding_idx=0): ``attention`` is None, "luong" or "bahdanau"; ``encoder_size`` is the width
    Dk of the encoder outputs it attends to (default hidden_size); ``score`` the Luong score
    ("dot", "general", "concat"); ``input_feeding`` (Luong only, default True) feeds the
    previous attentional state back as input.

    Parameters: ``embedding``, ``rnn`` (an ``LSTM``/``GRU``/``RNN`` layer, batch first),
    ``attention`` and ``combine`` (W_c, no bias) with attention, ``out`` (W_o).
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers=1, cell="lstm",
                 attention=None, encoder_size=None, score="general", input_feeding=None,
                 attn_size=None, dropout=0.0, padding_idx=0, dtype=None):
        super().__init__()
        who = "Decoder"
        if attention not in (None, "luong", "bahdanau"):
            raise ValueError(f"{who}: attention must be None, 'luong' or 'bahdanau', got "
                             f"{attention!r}")
        if input_feeding and attention != "luong":
            raise ValueError(f"{who}: input_feeding needs attention='luong' (Bahdanau's decoder "
                             "always takes the context as input), got attention="
                             f"{attention!r}")
        self.vocab_size = _size(vocab_size, who, "vocab_size")
        self.hidden_size = _size(hidden_size, who, "hidden_size")
        self.num_layers = _size(num_layers, who, "num_layers")
        self.cell, self.attention_type = cell, attention
        self.encoder_size = _size(encoder_size if encoder_size is not None else hidden_size,
                                  who, "encoder_size")
        self.input_feeding = attention == "luong" and input_feeding is not False
        self.dropout = float(dropout)
        layer = _cell(cell, who)
        self.embedding = Embedding(self.vocab_size, _size(embed_dim, who, "embed_dim"),
                                   padding_idx=padding_idx, dtype=dtype)
        H, Dk = self.hidden_size, self.encoder_size
        rnn_input = embed_dim + (H if self.input_feeding else 0) + (
            Dk if attention == "bahdanau" else 0)
        self.rnn = layer(rnn_input, H, self.num_layers, batch_first=True,
                         dropout=self.dropout if self.num_layers > 1 else 0.0, dtype=dtype)
        if attention == "luong":
            self.attention = LuongAttention(H, Dk, score=score, attn_size=attn_size, dtype=dtype)
        elif attention == "bahdanau":
            self.attention = BahdanauAttention(H, Dk, attn_size=attn_size, dtype=dtype)
        else:
            self.attention = None
        if attention is not None:
            self.combine = Linear(Dk + H, H, bias=False, dtype=dtype)
        self.out = Linear(H, self.vocab_size, dtype=dtype)

    def extra_repr(self):
        return (f"cell={self.cell!r}, attention={self.attention_type!r}, "
                f"input_feeding={self.input_feeding}")

    def initial_state(self, hidden, batch, dtype):
        """A ``DecoderState`` from the (bridged) initial hidden state."""
        feed = mg.zeros(batch, self.hidden_size, dtype=dtype) if self.input_feeding else None
        return DecoderState(hidden, feed)

    def _output(self, h, memory):
        """(logits, attentional state, weights) from the RNN output h: (B, H) or (B, T, H)."""
        weights = None
        if self.attention_type == "luong":
            context, weights = self.attention(h, memory.keys, memory.mask, memory.projected)
            h = mg.tanh(self.combine(mg.concat([context, h], dim=-1)))
        dropped = functional.dropout(h, self.dropout, self.training)
        return self.out(dropped), h, weights

    def step(self, tokens, state, memory):
        """One decoding step. tokens: (B,) int64 ids of y_{t-1}; returns (logits (B, V), the
        new ``DecoderState``, attention weights (B, S) or None)."""
        emb = functional.dropout(self.embedding(tokens), self.dropout, self.training)
        parts, weights = [emb], None
        if self.attention_type == "bahdanau":
            hidden = state.hidden[0] if isinstance(state.hidden, tuple) else state.hidden
            context, weights = self.attention(hidden[-1], memory.keys, memory.mask,
                                              memory.projected)
            parts.append(context)
        elif self.input_feeding:
            parts.append(state.feed)
        x = mg.concat(parts, dim=1) if len(parts) > 1 else emb
        out, hidden = self.rnn(x.unsqueeze(1), state.hidden)
        h = out.squeeze(1)
        if self.attention_type == "bahdanau":
            h_att = mg.tanh(self.combine(mg.concat([context, h], dim=-1)))
            logits = self.out(functional.dropout(h_att, self.dropout, self.training))
        else:
            logits, h_att, weights = self._output(h, memory)
        return logits, DecoderState(hidden, h_att if self.input_feeding else None), weights

    def forward(self, tgt_in, state, memory, teacher_forcing_ratio=1.0, generator=None):
        """Decode a whole target. tgt_in: (B, T) ids starting with <s>; returns (logits
        (B, T, V), weights (B, T, S) or None).

        With teacher_forcing_ratio == 1 every step reads the true previous token; without
        attention or with Luong attention but no input feeding, the RNN then runs over the
        whole sequence in one call. Below 1, each example's next input is, with probability
        1 - ratio, the model's own greedy prediction instead.
        """
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"Decoder: teacher_forcing_ratio must be in [0, 1], got "
                             f"{teacher_forcing_ratio}")
        tokens = check_tokens(tgt_in, self.vocab_size, "Decoder", "tgt_in")
        with mg.scope("Decoder"):
            parallel = self.attention_type is None or (
                self.attention_type == "luong" and not self.input_feeding)
            if teacher_forcing_ratio == 1.0 and parallel:
                emb = functional.dropout(self.embedding(tokens), self.dropout, self.training)
                out, _ = self.rnn(emb, state.hidden)
                logits, _, weights = self._output(out, memory)
                return logits, weights
            rng = generator or np.random.default_rng()
            logits, weights = [], []
            current = tokens[:, 0]
            for t in range(tokens.shape[1]):
                with mg.scope(f"t={t}"):
                    step_logits, state, w = self.step(current, state, memory)
                logits.append(step_logits)
                weights.append(w)
                if t + 1 < tokens.shape[1]:
                    current = tokens[:, t + 1]
                    if teacher_forcing_ratio < 1.0:
                        own = np.argmax(step_logits.numpy(), axis=-1)
                        use_own = rng.random(current.shape[0]) >= teacher_forcing_ratio
                        current = np.where(use_own, own, current)
            stacked = None if weights[0] is None else mg.stack(weights, dim=1)
            return mg.stack(logits, dim=1), stacked


# ---- the whole model ------------------------------------------------------------------------
class Seq2Seq(Module):
    """An ``Encoder`` and a ``Decoder`` tied together.

    The decoder's layer l starts from the encoder's final state of layer
    ``L_enc - L_dec + l`` (both directions concatenated); when the encoder is bidirectional or
    its hidden size differs from the decoder's, ``bridge_h`` (and for LSTM-to-LSTM
    ``bridge_c``) map it: h0 = tanh(W_h [h_fwd; h_bwd] + b), c0 = W_c [c_fwd; c_bwd] + b. An
    LSTM decoder after a GRU/RNN encoder starts from c0 = 0.

    Methods: ``forward(src, tgt_in, src_lengths=None, teacher_forcing_ratio=1.0,
    return_attention=False)`` -> logits (B, T, V) [, weights (B, T, S)]; ``loss(...)``
    (cross-entropy over non-padding targets); ``greedy_decode``; ``beam_search``. Decoding runs
    under ``mg.no_grad()`` in eval mode (the previous mode is restored).
    """

    def __init__(self, encoder, decoder, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        who = "Seq2Seq"
        if not isinstance(encoder, Encoder) or not isinstance(decoder, Decoder):
            raise TypeError(f"{who}: expected an Encoder and a Decoder, got "
                            f"{type(encoder).__name__} and {type(decoder).__name__}")
        if decoder.attention is not None and decoder.encoder_size != encoder.output_size:
            raise ValueError(f"{who}: the decoder attends to encoder outputs of width "
                             f"encoder_size={decoder.encoder_size}, but the encoder gives "
                             f"{encoder.output_size} (= {encoder.num_directions} directions x "
                             f"hidden_size {encoder.hidden_size})")
        if decoder.num_layers > encoder.num_layers:
            raise ValueError(f"{who}: the decoder has {decoder.num_layers} layers but the "
                             f"encoder only {encoder.num_layers}; expected at most as many")
        self.encoder, self.decoder = encoder, decoder
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        dtype = encoder.embedding.weight.dtype
        width, H = encoder.output_size, decoder.hidden_size
        self.bridged = encoder.num_directions == 2 or encoder.hidden_size != H
        if self.bridged:
            self.bridge_h = Linear(width, H, dtype=dtype)
            if encoder.cell == "lstm" and decoder.cell == "lstm":
                self.bridge_c = Linear(width, H, dtype=dtype)

    # ---- encoding -------------------------------------------------------------------------
    def _layers(self, states):
        """(L D, B, H) final states -> (L_dec, B, D H), directions side by side."""
        enc = self.encoder
        L, D = enc.num_layers, enc.num_directions
        B, H = states.shape[1], states.shape[2]
        if D == 2:
            states = states.reshape(L, D, B, H).permute(0, 2, 1, 3).reshape(L, B, D * H)
        return states[L - self.decoder.num_layers:]

    def _bridge(self, final):
        enc_lstm = self.encoder.cell == "lstm"
        h = self._layers(final[0] if enc_lstm else final)
        if self.bridged:
            h = mg.tanh(self.bridge_h(h))
        if self.decoder.cell != "lstm":
            return h
        if enc_lstm:
            c = self._layers(final[1])
            c = self.bridge_c(c) if self.bridged else c
        else:
            c = mg.zeros(*h.shape, dtype=h.dtype)
        return (h, c)

    def encode(self, src, src_lengths=None):
        """Run the encoder. Returns (``Memory``, initial ``DecoderState``)."""
        tokens = check_tokens(src, self.encoder.vocab_size, "Seq2Seq")
        lens = check_lengths(src_lengths, tokens.shape[0], tokens.shape[1], "Seq2Seq")
        outputs, final = self.encoder(tokens, lens)
        mask = None
        if lens is not None:
            mask = np.arange(tokens.shape[1])[None, :] < lens[:, None]
        projected = None
        if self.decoder.attention is not None:
            projected = self.decoder.attention.project_keys(outputs)
        state = self.decoder.initial_state(self._bridge(final), tokens.shape[0], outputs.dtype)
        return Memory(outputs, mask, projected), state

    # ---- training -------------------------------------------------------------------------
    def forward(self, src, tgt_in, src_lengths=None, teacher_forcing_ratio=1.0,
                return_attention=False, generator=None):
        """src: (B, S) ids; tgt_in: (B, T) ids starting with <s>. Returns logits (B, T, V)
        (and the attention weights (B, T, S), or None without attention)."""
        memory, state = self.encode(src, src_lengths)
        logits, weights = self.decoder(tgt_in, state, memory, teacher_forcing_ratio, generator)
        return (logits, weights) if return_attention else logits

    def loss(self, src, tgt_in, tgt_out, src_lengths=None, teacher_forcing_ratio=1.0,
             generator=None):
        """Mean cross-entropy over the target tokens that are not padding (``ignore_index`` =
        pad_id). tgt_out: (B, T) ids ending with </s>, padded with pad_id."""
        logits = self(src, tgt_in, src_lengths, teacher_forcing_ratio, generator=generator)
        target = check_tokens(tgt_out, self.decoder.vocab_size, "Seq2Seq.loss", "tgt_out")
        if target.shape != logits.shape[:2]:
            raise ValueError(f"Seq2Seq.loss: expected tgt_out of shape {logits.shape[:2]} "
                             f"(like tgt_in), got {target.shape}")
        V = logits.shape[-1]
        return functional.cross_entropy(logits.reshape(-1, V), target.reshape(-1),
                                        ignore_index=self.pad_id)

    # ---- decoding -------------------------------------------------------------------------
    def _decoding(self, src, src_lengths, max_len):
        tokens = check_tokens(src, self.encoder.vocab_size, "Seq2Seq")
        if max_len is None:
            max_len = 2 * tokens.shape[1] + 10
        if not isinstance(max_len, (int, np.integer)) or max_len < 1:
            raise ValueError(f"Seq2Seq: max_len must be a positive int, got {max_len!r}")
        lens = check_lengths(src_lengths, tokens.shape[0], tokens.shape[1], "Seq2Seq")
        full = np.full(tokens.shape[0], tokens.shape[1], dtype=np.int64)
        return tokens, lens, (full if lens is None else lens), int(max_len)

    def greedy_decode(self, src, src_lengths=None, max_len=None, return_attention=False):
        """The most probable token at every step, until </s> or ``max_len`` tokens.

        src: (B, S) ids. Returns a list of B token-id lists (without <s>/</s>); with
        ``return_attention`` also a list of B weight arrays (T_i, S_i) (None without
        attention), row t being the weights used for output token t (</s> included).
        """
        tokens, lens, full, max_len = self._decoding(src, src_lengths, max_len)
        was_training = self.training
        self.eval()
        try:
            with mg.no_grad():
                memory, state = self.encode(tokens, lens)
                B = tokens.shape[0]
                current = np.full(B, self.bos_id, dtype=np.int64)
                outputs = np.zeros((B, max_len), dtype=np.int64)
                weights, done = [], np.zeros(B, dtype=bool)
                steps = np.full(B, max_len)
                for t in range(max_len):
                    logits, state, w = self.decoder.step(current, state, memory)
                    current = np.argmax(mg.log_softmax(logits, dim=-1).numpy(), axis=-1)
                    outputs[:, t] = current
                    weights.append(None if w is None else w.numpy())
                    newly = ~done & (current == self.eos_id)
                    steps[newly] = t + 1
                    done |= newly
                    if done.all():
                        break
        finally:
            self.train(was_training)
        result = []
        for b in range(B):
            seq = outputs[b, :steps[b]].tolist()
            result.append(seq[:-1] if seq and seq[-1] == self.eos_id else seq)
        if not return_attention:
            return result
        maps = []
        for b in range(B):
            if weights[0] is None:
                maps.append(None)
            else:
                maps.append(np.stack([w[b, :full[b]] for w in weights[:steps[b]]]))
        return result, maps

    def beam_search(self, src, src_lengths=None, beam_size=5, max_len=None,
                    length_penalty=1.0, n_best=None):
        """Beam search, one source at a time with the beam as the batch.

        Keeps the ``beam_size`` best partial hypotheses by total log-probability; a hypothesis
        ends when it emits </s>. The search for a source stops when ``beam_size`` hypotheses
        have ended or after ``max_len`` tokens (unfinished beams then count as they are).
        Scores: total log-probability / length ** length_penalty (length counts </s>;
        ``length_penalty=0`` ranks by total log-probability). Returns, per source, the
        ``n_best`` (default beam_size) ``Hypothesis(tokens, score)`` best first. With
        ``beam_size=1`` the result equals ``greedy_decode``.
        """
        if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
            raise ValueError(f"Seq2Seq.beam_search: beam_size must be a positive int, got "
                             f"{beam_size!r}")
        n_best = beam_size if n_best is None else int(n_best)
        if not 1 <= n_best <= beam_size:
            raise ValueError(f"Seq2Seq.beam_search: n_best must be in [1, beam_size="
                             f"{beam_size}], got {n_best}")
        tokens, lens, full, max_len = self._decoding(src, src_lengths, max_len)
        was_training = self.training
        self.eval()
        try:
            with mg.no_grad():
                memory, state = self.encode(tokens, lens)
                results = []
                for b in range(tokens.shape[0]):
                    results.append(self._beam_one(memory.select([b]), state.select([b]),
                                                  beam_size, max_len, length_penalty, n_best))
        finally:
            self.train(was_training)
        return results

    def _beam_one(self, memory, state, beam_size, max_len, length_penalty, n_best):
        def normalised(total, length):
            return float(total) / (length ** length_penalty)

        alive_tokens, alive_scores = [[]], np.zeros(1)
        finished = []
        for t in range(max_len):
            k = len(alive_tokens)
            last = np.array([seq[-1] if seq else self.bos_id for seq in alive_tokens])
            beam_memory = memory.select(np.zeros(k, dtype=np.int64))
            logits, state, _ = self.decoder.step(last, state, beam_memory)
            logp = mg.log_softmax(logits, dim=-1).numpy().astype(np.float64)
            total = (alive_scores[:, None] + logp).reshape(-1)
            order = np.argsort(-total, kind="stable")[:2 * beam_size]
            V = logp.shape[1]
            keep_rows, keep_tokens, keep_scores = [], [], []
            for rank, flat in enumerate(order):
                row, tok = divmod(int(flat), V)
                if tok == self.eos_id:
                    if rank < beam_size:
                        finished.append(Hypothesis(alive_tokens[row],
                                                   normalised(total[flat], t + 1)))
                else:
                    keep_rows.append(row)
                    keep_tokens.append(alive_tokens[row] + [tok])
                    keep_scores.append(total[flat])
                if len(keep_rows) == beam_size:
                    break
            if len(finished) >= beam_size or not keep_rows:
                break
            state = state.select(keep_rows)
            alive_tokens, alive_scores = keep_tokens, np.array(keep_scores)
        else:
            for seq, score in zip(alive_tokens, alive_scores, strict=True):
                finished.append(Hypothesis(seq, normalised(score, max_len)))
        finished.sort(key=lambda h: -h.score)
        return finished[:n_best]
