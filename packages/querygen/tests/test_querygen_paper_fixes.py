"""Decoder-only input dropout and <eos> blocked at the first step (as the authors' code), a
Hugging Face tokenizer.json with its own special tokens, novelty, diversity against count."""

import math

import pytest
import torch

from dltheory.querygen.metrics import diversity_at, evaluate_generations, novelty
from dltheory.querygen.models import CVAEConfig, QueryCVAE
from dltheory.querygen.tokenization import QueryTokenizer


def tiny(**kw):
    torch.manual_seed(0)
    return QueryCVAE(
        CVAEConfig(
            vocab_size=30,
            n_classes=3,
            embedding_dim=8,
            hidden_size=16,
            latent_size=4,
            embedding_dropout=0.5,
            max_len=6,
            **kw,
        )
    )


def test_encoder_input_has_no_dropout_decoder_input_has():
    model = tiny().train()
    x = torch.randint(4, 30, (5, 6))
    lengths = torch.full((5,), 6)
    a, b = model.encode(x, lengths), model.encode(x, lengths)
    assert all(torch.equal(p, q) for p, q in zip(a, b))  # deterministic in training mode
    cond = torch.zeros(5, 7)
    assert not torch.equal(model.decode(x, cond), model.decode(x, cond))  # dropout active


@pytest.mark.parametrize(("pad_id", "eos_id"), [(0, 3), (7, 11)])
def test_eos_is_blocked_at_the_first_step(pad_id, eos_id):
    model = tiny(pad_id=pad_id, eos_id=eos_id, sos_id=2, unk_id=1)
    with torch.no_grad():
        model.outputs2vocab.bias.zero_()
        model.outputs2vocab.bias[eos_id] = 100.0  # <eos> dominates every step
    out = model.generate(torch.tensor([0, 1, 2]))
    assert (out[:, 0] != eos_id).all()
    assert (out[:, 1] == eos_id).all()  # and is taken at the second step
    assert (out[:, 2:] == pad_id).all()


def _bert_like_tokenizer(path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["hello", "[CLS]", "play", "[SEP]", "music", "[UNK]"])}
    vocab["[PAD]"] = len(vocab)  # <pad> is not 0
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.save(str(path))


def test_hugging_face_tokenizer_json_special_tokens_are_mapped(tmp_path):
    path = tmp_path / "tokenizer.json"
    _bert_like_tokenizer(path)
    tok = QueryTokenizer.from_file(path)
    assert tok.kind == "generic"
    assert (tok.pad_id, tok.unk_id, tok.sos_id, tok.eos_id) == (6, 5, 1, 3)
    tok.add_words(["_artist_"])
    ids = tok.encode("play music _artist_")
    assert tok.decode_words([*ids, tok.eos_id, tok.pad_id]) == ["play", "music", "_artist_"]


def test_tokenizer_without_pad_or_sos_gets_them_added(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<|endoftext|>": 0, "hi": 1, "there": 2, "<|unknown|>": 3}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<|unknown|>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "gpt.json"
    tk.save(str(path))
    tok = QueryTokenizer.from_file(path)
    assert tok.sos_id == tok.eos_id == 0  # GPT-2 style: one token opens and closes
    assert tok.unk_id == 3  # the model's own unknown token
    assert tok.pad_id == 4  # added after the vocabulary, not assumed 0
    assert tok.vocab_size == 5
    assert tok.decode_words([1, 2, 0, 1]) == ["hi", "there"]


def test_novelty_excludes_transferred_copies():
    candidates = ["a b", "c d", "e f", "g h"]
    assert novelty(candidates, training=["a b"], transferred=["c d"]) == 0.5
    # originality (the authors') would count "c d" as new: 0.75
    result = evaluate_generations(
        [(c, "X") for c in candidates],
        train=[("a b", "X")],
        validation=[("a b", "X")],
        classifier=type("C", (), {"predict": lambda self, t: ["X"] * len(t)})(),
        transferred=["c d"],
        counts=(2, 4),
    )
    assert result["originality"] == 0.75
    assert result["novelty"] == 0.5
    assert result["copied_transferred"] == 0.25


def test_diversity_falls_with_more_candidates():
    # identical sentences plus unique ones: more candidates -> more chances of a copy
    cands = ["play the song"] * 10 + [f"word{k} x{k} y{k} z{k}" for k in range(10)]
    small = diversity_at(cands[8:12], 4)  # two copies, two unique
    assert math.isclose(small, 0.5, abs_tol=1e-9)  # copies score BLEU 1, unique ones 0
    assert diversity_at(cands, 20) == pytest.approx(0.5, abs=1e-9)
