import numpy as np
import pytest

from dltheory.core.errors import ConfigError
from dltheory.querygen.data import Utterance
from dltheory.querygen.transfer import LsaEmbedder, cosine_matrix, select_groups, transfer_queries


def test_selection_rule_is_max_cosine_above_threshold():
    rng = np.random.default_rng(0)
    targets = {"a": np.array([1.0, 0, 0]), "b": np.array([0, 1.0, 0])}
    groups = {f"g{i}": rng.normal(size=3) for i in range(200)}
    sel = select_groups(targets, groups, threshold=0.5)
    for g, v in groups.items():
        cos = {k: float(v @ t / np.linalg.norm(v)) for k, t in targets.items()}
        assert (g in sel.kept) == (max(cos.values()) > 0.5)
        if g in sel.kept:
            assert sel.kept[g] == max(cos, key=cos.get)
        assert sel.cosines[g] == pytest.approx(cos)
    assert 0 < len(sel.kept) < 200
    # strict inequality at the boundary
    edge = select_groups({"a": np.array([1.0, 0])}, {"e": np.array([0.9, np.sqrt(1 - 0.81)])}, 0.9)
    assert edge.cosines["e"]["a"] == pytest.approx(0.9)
    assert ("e" in edge.kept) == (edge.cosines["e"]["a"] > 0.9)


def test_cosine_matrix_scale_invariant():
    a, b = (
        np.random.default_rng(1).normal(size=(4, 5)),
        np.random.default_rng(2).normal(size=(3, 5)),
    )
    assert np.allclose(cosine_matrix(3 * a, b / 7), cosine_matrix(a, b))
    assert np.allclose(np.diag(cosine_matrix(a, a)), 1)


def _toy():
    music = ["play some jazz", "play the new album", "play a song by queen", "play rock music"]
    weather = ["what is the weather in paris", "will it rain tomorrow", "weather forecast for rome"]
    train = [Utterance.plain(t, "Music") for t in music] + [
        Utterance.plain(t, "Weather") for t in weather
    ]
    res = [
        Utterance.plain(t, "None", "Songs")
        for t in ["play the song hello", "play music by adele", "play jazz"]
    ] + [
        Utterance.plain(t, "None", "Cooking")
        for t in ["how to bake bread", "boil an egg", "knead dough"]
    ]
    return train, res


@pytest.mark.parametrize(
    ("method", "label"), [("query_transfer", "None"), ("pseudo_label", "Music")]
)
def test_transfer_methods_label_selected_groups(method, label):
    train, res = _toy()
    emb = LsaEmbedder(n_components=5).fit([u.normalised for u in train + res])
    sel = transfer_queries(train, res, method, none_size=10, threshold=0.5, embedder=emb)
    assert sel.kept == {"Songs": "Music"}
    assert len(sel.added) == 3
    assert {u.intent for u in sel.added} == {label}
    assert {u.group for u in sel.added} == {"Songs"}
    small = transfer_queries(train, res, method, none_size=2, threshold=0.5, embedder=emb)
    assert len(small.added) == 2


def test_no_transfer_and_bad_method():
    train, res = _toy()
    assert transfer_queries(train, res, "none").added == []
    with pytest.raises(ConfigError):
        transfer_queries(train, res, "magic")


def test_lsa_embedder_rows_unit_norm_and_fit_sample():
    texts = [f"query number {i} about topic {i % 7}" for i in range(300)]
    emb = LsaEmbedder(n_components=10, fit_max=50).fit(texts)
    e = emb(texts)
    assert e.shape == (300, 10)
    assert np.allclose(np.linalg.norm(e, axis=1), 1)


def test_local_sentence_encoder_from_folder_only(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from dltheory.core.errors import DatasetNotFoundError
    from dltheory.querygen.transfer import LocalEncoderEmbedder

    with pytest.raises(DatasetNotFoundError, match="nothing is downloaded"):
        LocalEncoderEmbedder(tmp_path / "missing")
    words = ["[PAD]", "[UNK]", "play", "jazz", "rain", "today"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]"
    ).save_pretrained(tmp_path)
    BertModel(
        BertConfig(
            vocab_size=len(words),
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
        )
    ).save_pretrained(tmp_path)
    emb = LocalEncoderEmbedder(tmp_path)
    e = emb(["play jazz", "rain today", "play jazz"])
    assert e.shape == (3, 8)
    assert np.allclose(np.linalg.norm(e, axis=1), 1)
    assert np.allclose(e[0], e[2], atol=1e-5)
    assert not np.allclose(e[0], e[1])
