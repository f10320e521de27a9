"""Conditional sentence VAE with an encoder-side intent classifier (arXiv:1911.03698, Sec. 3).

Encoder GRU -> (mu, log var) of q(z|x) and q(y|x) = softmax(W h). The decoder's initial state is
``latent2hidden([z ; y])`` where, in training, ``y`` is a Gumbel-softmax sample of q(y|x) (the gold
label only supervises q(y|x)) and, in generation, the one-hot of the requested intent. The decoder
is a GRU (faithful default) or a small GPT-2-style Transformer built from a ``transformers`` config
(no pretrained weights) that receives ``[z ; y]`` as a prefix embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class CVAEConfig:
    vocab_size: int
    n_classes: int
    embedding_dim: int = 100
    hidden_size: int = 256
    latent_size: int = 8
    embedding_dropout: float = 0.5
    word_dropout: float = 0.0
    gumbel_tau: float = 1.0
    decoder: str = "gru"  # gru | transformer
    transformer_layers: int = 2
    transformer_heads: int = 4
    transformer_dim: int = 128
    max_len: int = 20  # decoded tokens including <eos>
    pad_id: int = 0
    unk_id: int = 1
    sos_id: int = 2
    eos_id: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


class QueryCVAE(nn.Module):
    def __init__(self, cfg: CVAEConfig):
        super().__init__()
        if cfg.decoder not in ("gru", "transformer"):
            raise ValueError(f"decoder must be gru or transformer, not {cfg.decoder!r}")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=cfg.pad_id)
        self.embedding_dropout = nn.Dropout(cfg.embedding_dropout)
        self.encoder = nn.GRU(cfg.embedding_dim, cfg.hidden_size, batch_first=True)
        self.hidden2mean = nn.Linear(cfg.hidden_size, cfg.latent_size)
        self.hidden2logv = nn.Linear(cfg.hidden_size, cfg.latent_size)
        self.hidden2cat = nn.Linear(cfg.hidden_size, cfg.n_classes)
        cond = cfg.latent_size + cfg.n_classes
        self.decoder: nn.Module
        if cfg.decoder == "gru":
            self.latent2hidden = nn.Linear(cond, cfg.hidden_size)
            self.decoder = nn.GRU(cfg.embedding_dim, cfg.hidden_size, batch_first=True)
            self.outputs2vocab = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        else:
            from transformers import GPT2Config, GPT2Model

            d = cfg.transformer_dim
            gcfg = GPT2Config(
                vocab_size=cfg.vocab_size,
                n_positions=cfg.max_len + 2,
                n_embd=d,
                n_layer=cfg.transformer_layers,
                n_head=cfg.transformer_heads,
                resid_pdrop=0.1,
                embd_pdrop=0.1,
                attn_pdrop=0.1,
                bos_token_id=cfg.sos_id,
                eos_token_id=cfg.eos_id,
                pad_token_id=cfg.pad_id,
            )
            self.latent2prefix = nn.Linear(cond, d)
            self.input_proj = nn.Linear(cfg.embedding_dim, d)
            self.decoder = GPT2Model(gcfg)
            self.outputs2vocab = nn.Linear(d, cfg.vocab_size)

    # ------------------------------------------------------------------ encoder
    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor):
        """inputs: (B, T) ids starting with <sos>; lengths: (B,) -> mu, logv, log q(y|x)."""
        # no dropout on the encoder's input: the authors' (Sentence-VAE) embedding dropout acts on
        # the decoder's inputs only
        emb = self.embedding(inputs)
        packed = nn.utils.rnn.pack_padded_sequence(
            emb, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, h = self.encoder(packed)
        h = h[-1]  # (B, H); [-1] keeps batch size 1 intact
        return self.hidden2mean(h), self.hidden2logv(h), F.log_softmax(self.hidden2cat(h), dim=-1)

    # ------------------------------------------------------------------ decoder
    def _word_dropout(self, inputs: torch.Tensor) -> torch.Tensor:
        p = self.cfg.word_dropout
        if not self.training or p <= 0:
            return inputs
        drop = torch.rand(inputs.shape, device=inputs.device) < p
        keep = (inputs == self.cfg.pad_id) | (inputs == self.cfg.sos_id)
        return torch.where(drop & ~keep, torch.full_like(inputs, self.cfg.unk_id), inputs)

    def decode(self, inputs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) for decoder inputs (B, T) given cond = [z ; y] (B, L+C)."""
        emb = self.embedding_dropout(self.embedding(self._word_dropout(inputs)))
        if self.cfg.decoder == "gru":
            h0 = self.latent2hidden(cond).unsqueeze(0)
            out, _ = self.decoder(emb, h0)
            return self.outputs2vocab(out)
        x = torch.cat([self.latent2prefix(cond).unsqueeze(1), self.input_proj(emb)], dim=1)
        out = self.decoder(inputs_embeds=x).last_hidden_state[:, 1:]
        return self.outputs2vocab(out)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> dict:
        mu, logv, log_q_y = self.encode(inputs, lengths)
        z = mu + torch.exp(0.5 * logv) * torch.randn_like(mu)  # reparameterisation
        y = F.gumbel_softmax(log_q_y, tau=self.cfg.gumbel_tau, hard=False)
        logits = self.decode(inputs, torch.cat([z, y], dim=-1))
        return {"logits": logits, "mu": mu, "logv": logv, "z": z, "log_q_y": log_q_y}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        intents: torch.Tensor,
        z: torch.Tensor | None = None,
        *,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_len: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode one query per entry of ``intents`` (class ids) in one batch -> (N, max_len) ids.

        z ~ N(0, I) unless given. ``strategy``: greedy (the paper), or sample (with ``temperature``
        and nucleus ``top_p``). Positions after <eos> hold <pad>.
        """
        cfg = self.cfg
        was_training = self.training
        self.eval()
        device = self.embedding.weight.device
        n = intents.shape[0]
        max_len = max_len or cfg.max_len
        if z is None:
            z = torch.randn(n, cfg.latent_size, generator=generator, device="cpu").to(device)
        cond = torch.cat([z, F.one_hot(intents.to(device), cfg.n_classes).float()], dim=-1)
        tokens = torch.full((n, 1), cfg.sos_id, dtype=torch.long, device=device)
        out = torch.full((n, max_len), cfg.pad_id, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        if cfg.decoder == "gru":
            state = self.latent2hidden(cond).unsqueeze(0)
        else:
            past, cache_key = None, "cache"
            step_in = torch.cat(
                [self.latent2prefix(cond).unsqueeze(1), self.input_proj(self.embedding(tokens))],
                dim=1,
            )
        active = torch.arange(
            n, device=device
        )  # GRU rows still decoding (finished rows are dropped)
        for t in range(max_len):
            if cfg.decoder == "gru":
                h, state = self.decoder(self.embedding(tokens), state)
                logits = self.outputs2vocab(h[:, -1])
                if t == 0:  # an empty query is never generated (the authors' latest inference)
                    logits[:, cfg.eos_id] = float("-inf")
                nxt = select_next_token(logits, strategy, temperature, top_p, generator)
                out[active, t] = nxt
                keep = nxt != cfg.eos_id
                if not bool(keep.any()):
                    break
                active, state, tokens = active[keep], state[:, keep], nxt[keep].unsqueeze(1)
                continue
            res = self.decoder(
                inputs_embeds=step_in, use_cache=True, **({cache_key: past} if past else {})
            )
            # transformers >= 5 names the key-value cache ``cache``; 4.x ``past_key_values``
            cache_key = "cache" if "cache" in res else "past_key_values"
            past = res[cache_key]
            logits = self.outputs2vocab(res.last_hidden_state[:, -1])
            if t == 0:
                logits[:, cfg.eos_id] = float("-inf")
            nxt = select_next_token(logits, strategy, temperature, top_p, generator)
            nxt = torch.where(done, torch.full_like(nxt, cfg.pad_id), nxt)
            out[:, t] = nxt
            done |= nxt == cfg.eos_id
            if bool(done.all()):
                break
            step_in = self.input_proj(self.embedding(nxt.unsqueeze(1)))
        self.train(was_training)
        return out


def select_next_token(
    logits: torch.Tensor,
    strategy: str,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Greedy arg-max, or a sample from softmax(logits / T) restricted to the top-p nucleus."""
    if strategy == "greedy":
        return logits.argmax(-1)
    if strategy != "sample":
        raise ValueError(f"strategy must be greedy or sample, not {strategy!r}")
    probs = F.softmax(logits.float() / max(temperature, 1e-6), dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        cum = sorted_p.cumsum(-1)
        # keep the smallest prefix whose mass reaches top_p (the first token is always kept)
        drop = cum - sorted_p >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    u = probs.cpu() if generator is not None and generator.device.type == "cpu" else probs
    return torch.multinomial(u, 1, generator=generator).squeeze(-1).to(logits.device)
