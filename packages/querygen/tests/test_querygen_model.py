import math

import pytest
import torch

from dltheory.querygen.data import load_chatterbot, word_tokenize
from dltheory.querygen.losses import (
    cvae_loss,
    cyclical_kl_weight,
    kl_per_dimension,
    logistic_kl_weight,
)
from dltheory.querygen.models import CVAEConfig, QueryCVAE, select_next_token
from dltheory.querygen.tokenization import QueryTokenizer


def tiny(decoder="gru", **kw):
    torch.manual_seed(0)
    return QueryCVAE(
        CVAEConfig(
            vocab_size=30,
            n_classes=3,
            embedding_dim=8,
            hidden_size=16,
            latent_size=4,
            decoder=decoder,
            transformer_dim=16,
            transformer_heads=2,
            max_len=8,
            **kw,
        )
    )


def test_kl_matches_torch_distributions_float64():
    mu, logv = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logv))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(kl_per_dimension(mu, logv), torch.distributions.kl_divergence(q, p))


def test_schedules():
    assert logistic_kl_weight(300, 0.01, 300) == pytest.approx(0.5)
    assert logistic_kl_weight(0, 0.01, 300) == pytest.approx(1 / (1 + math.exp(3)))
    w = [cyclical_kl_weight(s, 100, cycles=4, ratio=0.5) for s in range(100)]
    assert w[0] == 0
    assert w[25] == 0
    assert w[12] == pytest.approx(12 / 12.5)
    assert w[20] == 1.0
    assert max(w) == 1.0


def test_loss_parts_alpha_and_free_bits():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    targets = torch.tensor([[4, 5, 0], [6, 3, 0]])
    mu, logv = torch.zeros(2, 4), torch.zeros(2, 4)  # KL = 0 exactly
    log_q = torch.log_softmax(torch.randn(2, 3), -1)
    labels = torch.tensor([0, 2])
    full = cvae_loss(
        logits,
        targets,
        mu,
        logv,
        log_q,
        labels,
        torch.tensor([1.0, 1.0]),
        pad_id=0,
        kl_weight=1.0,
        label_weight=0.5,
    )
    rec = (
        torch.nn.functional.cross_entropy(
            logits.reshape(-1, 7), targets.reshape(-1), ignore_index=0, reduction="sum"
        )
        / 2
    )
    assert full.reconstruction == pytest.approx(float(rec))
    assert float(full.kl) == 0
    alpha = cvae_loss(
        logits,
        targets,
        mu,
        logv,
        log_q,
        labels,
        torch.tensor([1.0, 0.0]),
        pad_id=0,
        kl_weight=1.0,
        label_weight=0.5,
    )
    assert float(full.total - alpha.total) == pytest.approx(0.5 * float(-log_q[1, 2]) / 2, rel=1e-5)
    fb = cvae_loss(
        logits,
        targets,
        mu,
        logv,
        log_q,
        labels,
        torch.ones(2),
        pad_id=0,
        kl_weight=1.0,
        label_weight=0.5,
        free_bits=0.25,
    )
    assert float(fb.total - full.total) == pytest.approx(4 * 0.25, rel=1e-5)  # 4 dims x lambda


@pytest.mark.parametrize("decoder", ["gru", "transformer"])
def test_forward_shapes_gradients_and_batched_generation(decoder):
    m = tiny(decoder, word_dropout=0.3)
    x = torch.randint(4, 30, (4, 6))
    x[:, 0] = 2
    out = m(x, torch.tensor([6, 3, 1, 5]))
    assert out["logits"].shape == (4, 6, 30)
    assert out["log_q_y"].exp().sum(-1).allclose(torch.ones(4))
    out["logits"].sum().backward()
    assert m.hidden2cat.weight.grad is not None
    assert m.hidden2mean.weight.grad.abs().sum() > 0
    z = torch.randn(5, 4)
    intents = torch.tensor([0, 1, 2, 0, 1])
    batched = m.generate(intents, z=z)
    single = torch.cat([m.generate(intents[i : i + 1], z=z[i : i + 1]) for i in range(5)])
    assert batched.shape == (5, 8)
    assert torch.equal(batched, single)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(
        m.generate(intents, strategy="sample", generator=g1),
        m.generate(intents, strategy="sample", generator=g2),
    )
    eos = (batched == 3).int()
    after = eos.cumsum(1) - eos > 0  # strictly after the first <eos>
    assert (batched[after] == 0).all()


def test_decoder_depends_on_intent_not_gold_label():
    m = tiny()
    z = torch.zeros(1, 4)
    cond = [
        torch.cat([z, torch.nn.functional.one_hot(torch.tensor([c]), 3).float()], -1)
        for c in range(3)
    ]
    x = torch.tensor([[2, 5, 6]])
    m.eval()
    a, b = m.decode(x, cond[0]), m.decode(x, cond[1])
    assert not torch.allclose(a, b)


def test_top_p_keeps_nucleus_only():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    draws = {int(select_next_token(logits, "sample", top_p=0.7, generator=g)) for _ in range(300)}
    assert draws == {0, 1}
    assert int(select_next_token(logits, "greedy")) == 0
    with pytest.raises(ValueError, match="greedy or sample"):
        select_next_token(logits, "beam")


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_offline_matches_word_tokenize(kind, tmp_path):
    texts = [u.text for u in load_chatterbot()]
    tok = QueryTokenizer.train(texts, kind, vocab_size=2000, keep_words=["_artist_"])
    for t in [*texts[:300], "play _artist_ now, please!", "what's up?"]:
        assert tok.pre_tokenize(t) == word_tokenize(t)
        ids = tok.encode(t)
        words = tok.decode_words([*ids, tok.eos_id, 7, 7])
        if tok.unk_id not in ids:
            assert words == word_tokenize(t)
    assert tok.decode_words(tok.encode("play _artist_")) == ["play", "_artist_"]
    path = tmp_path / "tok.json"
    tok.save(path)
    again = QueryTokenizer.from_file(path)
    assert again.kind == kind
    assert again.encode("what is ai?") == tok.encode("what is ai?")
