"""A small word-level language model written the way PyTorch programs are, for the import
rewrite test (tests/test_torch_programs.py): it runs as written under PyTorch, and under
minigrad after only its imports are rewritten (``import torch`` -> ``import models.torch as
torch``, ...). Tied embedding / output weights, truncated BPTT by detaching the state,
gradient clipping, a learning-rate schedule or the manual SGD step through ``p.data``,
checkpoint round trips (a state dict, and the whole model loaded under ``safe_globals``),
sampling with ``multinomial``, and a packed-sequence classifier. Not collected by pytest (no
``test_``)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: N812 - PyTorch's name
from torch import optim

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TinyLM(nn.Module):
    """Embedding -> recurrent layers -> LayerNorm -> Linear tied to the embedding."""

    def __init__(self, kind, vocab, size, layers=2, dropout=0.0):
        super().__init__()
        self.kind, self.size, self.layers = kind, size, layers
        self.encoder = nn.Embedding(vocab, size)
        if kind in ("LSTM", "GRU"):
            self.rnn = getattr(nn, kind)(size, size, layers, dropout=dropout)
        else:
            self.rnn = nn.RNN(size, size, layers, nonlinearity=kind, dropout=dropout)
        self.norm = nn.LayerNorm(size)
        self.decoder = nn.Linear(size, vocab)
        self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, tokens, hidden):
        output, hidden = self.rnn(self.encoder(tokens), hidden)
        logits = self.decoder(self.norm(output))
        return F.log_softmax(logits.view(-1, logits.size(-1)), dim=1), hidden

    def init_hidden(self, batch):
        weight = next(self.parameters())
        zeros = weight.new_zeros(self.layers, batch, self.size)
        return (zeros, zeros.clone()) if self.kind == "LSTM" else zeros


def corpus(vocab, length, seed):
    """A token stream with structure to learn: mostly token t + 1 after token t."""
    torch.manual_seed(seed)
    steps = torch.randint(0, 4, (length,)).tolist()
    ids = [0]
    for i in range(1, length):
        ids.append((ids[-1] + 1 + (steps[i] == 0) * steps[i - 1]) % vocab)
    return torch.tensor(ids, dtype=torch.long)


def batchify(ids, batch):
    count = ids.size(0) // batch
    return ids.narrow(0, 0, count * batch).view(batch, -1).t().contiguous().to(device)


def get_batch(source, i, bptt):
    length = min(bptt, len(source) - 1 - i)
    return source[i:i + length], source[i + 1:i + 1 + length].reshape(-1)


def detach(hidden):
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(detach(h) for h in hidden)


def make_optimizer(model, name, lr):
    if name == "manual":  # word_language_model's own update, without an optimizer
        return None
    if name == "sgd":
        return optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)


def train(model, data, epochs=2, bptt=6, lr=0.5, clip=0.25, optimizer="sgd"):
    """Returns (optimizer, scheduler, the loss of every batch); both None for "manual"."""
    criterion = nn.NLLLoss()
    opt = make_optimizer(model, optimizer, lr)
    scheduler = None if opt is None else optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    losses = []
    for _ in range(epochs):
        model.train()
        hidden = model.init_hidden(data.size(1))
        for i in range(0, data.size(0) - 1, bptt):
            inputs, targets = get_batch(data, i, bptt)
            hidden = detach(hidden)
            if opt is None:
                model.zero_grad()
            else:
                opt.zero_grad()
            output, hidden = model(inputs, hidden)
            loss = criterion(output, targets)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            if opt is None:
                for p in model.parameters():
                    p.data.add_(p.grad, alpha=-lr)
            else:
                opt.step()
            losses.append(loss.item())
        if scheduler is None:
            lr /= 2.0
        else:
            scheduler.step()
    return opt, scheduler, losses


def evaluate(model, data, bptt=6):
    model.eval()
    total = 0.0
    hidden = model.init_hidden(data.size(1))
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            inputs, targets = get_batch(data, i, bptt)
            output, hidden = model(inputs, hidden)
            total += len(inputs) * F.nll_loss(output, targets).item()
    return total / (len(data) - 1)


def sample(model, count, temperature=1.0, seed=0):
    torch.manual_seed(seed)
    model.eval()
    hidden = model.init_hidden(1)
    token = torch.randint(model.encoder.num_embeddings, (1, 1), dtype=torch.long).to(device)
    words = []
    with torch.inference_mode():
        for _ in range(count):
            output, hidden = model(token, hidden)
            weights = output.squeeze().div(temperature).exp().cpu()
            index = torch.multinomial(weights, 1)[0]
            token.fill_(index)
            words.append(int(index))
    return words


def save_and_restore(model, opt, scheduler, path, kind, vocab, size):
    """Checkpoint round trips: the training state, the model's weights alone, and the whole
    model (loaded with PyTorch's weights_only default, its classes allowed)."""
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": 2}, path)
    checkpoint = torch.load(path, map_location="cpu")
    fresh = TinyLM(kind, vocab, size).to(device)
    fresh.load_state_dict(checkpoint["model"])
    torch.save(model.state_dict(), path + ".weights")
    again = TinyLM(kind, vocab, size).to(device)
    again.load_state_dict(torch.load(path + ".weights", map_location=device,
                                     weights_only=True))
    with open(path + ".whole", "wb") as f:
        torch.save(model, f)
    allowed = [TinyLM, nn.Embedding, nn.LSTM, nn.GRU, nn.RNN, nn.LayerNorm, nn.Linear]
    with open(path + ".whole", "rb") as f, torch.serialization.safe_globals(allowed):
        whole = torch.load(f, map_location=device)
    return checkpoint, fresh, again, whole


class Classifier(nn.Module):
    """Sequences of different lengths, packed, through a bidirectional GRU."""

    def __init__(self, vocab, size, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, size, padding_idx=0)
        self.rnn = nn.GRU(size, size, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * size, classes)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths,
                                                   batch_first=True, enforce_sorted=False)
        output, h_n = self.rnn(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
        pooled = padded.sum(dim=1) / lengths.unsqueeze(1).float()
        return self.head(pooled + torch.cat([h_n[0], h_n[1]], dim=1))


def train_classifier(model, tokens, lengths, labels, steps=5):
    opt = optim.Adam(model.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = criterion(model(tokens, lengths), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def perplexity(loss):
    return math.exp(loss)
