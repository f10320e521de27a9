"""The language-model augmentation experiment of arXiv:2011.02143: train a language model on the
few-shot queries with and without the generated ones and compare perplexity on held-out queries
of the same (target) intents.

Two language models, one shared word vocabulary per comparison (the words of the real and the
generated training text, plus ``<unk>``):

* :class:`~dltheory.querygen.metrics.KneserNeyBigramLM` (interpolated Kneser-Ney, Chen & Goodman);
* :class:`GruLM`, a one-layer GRU word LM (embedding 64, hidden 128, dropout 0.3, Adam 3e-3),
  early-stopped on a dev split of the *real* few-shot queries (10 %, the same split for both
  conditions, left out of both training sets), so that more training text cannot win by
  simply training longer.

Perplexity = exp(mean NLL per predicted token), ``</s>`` included, ``<s>`` not predicted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .metrics import KneserNeyBigramLM

BOS, EOS, UNK, PAD = "<s>", "</s>", "<unk>", "<pad>"


class GruLM(nn.Module):
    def __init__(
        self, vocab: Iterable[str], emb: int = 64, hidden: int = 128, dropout: float = 0.3
    ):
        super().__init__()
        self.itos = [PAD, BOS, EOS, UNK, *sorted(set(vocab) - {PAD, BOS, EOS, UNK})]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.embedding = nn.Embedding(len(self.itos), emb, padding_idx=0)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, len(self.itos))

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> inputs (<s> w1..wk) and targets (w1..wk </s>), padded with 0."""
        unk = self.stoi[UNK]
        seqs = [[self.stoi.get(w, unk) for w in t.split()] for t in texts]
        length = max(len(s) for s in seqs) + 1
        x = torch.zeros(len(seqs), length, dtype=torch.long)
        y = torch.zeros(len(seqs), length, dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, : len(s) + 1] = torch.tensor([self.stoi[BOS], *s])
            y[i, : len(s) + 1] = torch.tensor([*s, self.stoi[EOS]])
        return x, y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.drop(self.embedding(x)))
        return self.out(self.drop(h))

    @torch.no_grad()
    def nll(self, texts: Sequence[str]) -> tuple[float, int]:
        """Summed NLL (nats) and the number of predicted tokens."""
        was = self.training
        self.eval()
        x, y = self.encode(texts)
        logits = self(x)
        total = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=0, reduction="sum"
        )
        self.train(was)
        return float(total), int((y != 0).sum())

    def perplexity(self, texts: Sequence[str]) -> float:
        total, n = self.nll(texts)
        return math.exp(total / n)

    def fit(
        self,
        texts: Sequence[str],
        dev: Sequence[str],
        *,
        max_epochs: int = 30,
        patience: int = 3,
        batch_size: int = 32,
        lr: float = 3e-3,
        seed: int = 0,
    ) -> GruLM:
        """Adam on ``texts``; keeps the weights of the epoch with the lowest ``dev`` perplexity."""
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        x, y = self.encode(texts)
        best, best_state, bad = math.inf, None, 0
        for _ in range(max_epochs):
            self.train()
            for b in torch.randperm(len(texts), generator=gen).split(batch_size):
                logits = self(x[b])
                loss = F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y[b].reshape(-1), ignore_index=0
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.parameters(), 5.0)
                opt.step()
            ppl = self.perplexity(dev)
            if ppl < best - 1e-6:
                best, bad = ppl, 0
                best_state = {k: v.clone() for k, v in self.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
        if best_state is not None:
            self.load_state_dict(best_state)
        return self


def lm_augmentation(
    real: Sequence[str],
    generated: Sequence[str],
    test: Sequence[str],
    seed: int = 0,
    dev_share: float = 0.1,
) -> dict:
    """Held-out perplexity of a Kneser-Ney bigram LM and a GRU LM trained on the real few-shot
    queries vs real + generated ones (2011.02143's augmentation experiment)."""
    real = list(real)
    rng = random.Random(seed)
    order = rng.sample(range(len(real)), len(real))
    n_dev = max(1, round(dev_share * len(real)))
    dev = [real[i] for i in order[:n_dev]]
    train_real = [real[i] for i in order[n_dev:]]
    vocab = {w for t in train_real + list(generated) for w in t.split()}
    kn_real = KneserNeyBigramLM(vocab).fit(train_real).perplexity(test)
    kn_aug = KneserNeyBigramLM(vocab).fit(train_real + list(generated)).perplexity(test)
    out = {
        "kneser_ney": {"perplexity_real": kn_real, "perplexity_augmented": kn_aug},
    }
    gru = {}
    for name, texts in (("real", train_real), ("augmented", train_real + list(generated))):
        torch.manual_seed(seed)
        lm = GruLM(vocab).fit(texts, dev, seed=seed)
        gru[f"perplexity_{name}"] = lm.perplexity(test)
    out["gru"] = gru
    for v in out.values():
        v["log_ratio"] = math.log(v["perplexity_augmented"] / v["perplexity_real"])
    return out
