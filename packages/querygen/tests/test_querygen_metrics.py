import math

import pytest

from dltheory.querygen.metrics import (
    KneserNeyBigramLM,
    augmentation_accuracy,
    distinct_n,
    evaluate_generations,
    intent_classifier,
    originality,
    self_bleu_diversity,
    sentence_bleu,
    transfer_rate,
)


def test_sentence_bleu_matches_closed_form():
    assert sentence_bleu("play some jazz music now", ["play some jazz music now"]) == pytest.approx(
        1.0
    )
    # 5-word candidate, 4/5 unigrams, 2/4 bigrams, 1/3 trigrams, 0/2 4-grams (floored to 0.1), no brevity penalty
    c, r = "play some jazz tunes now", "play some jazz music now"
    expected = math.exp(
        (math.log(4 / 5) + math.log(2 / 4) + math.log(1 / 3) + math.log(0.1 / 2)) / 4
    )
    assert sentence_bleu(c, [r]) == pytest.approx(expected, rel=1e-3)
    assert sentence_bleu("xyz", ["play jazz"]) == 0.0


def test_self_bleu_is_leave_one_out():
    cands = ["play jazz now", "play jazz now", "book a table for two"]
    div = self_bleu_diversity(cands)
    d0 = 1 - sentence_bleu(cands[0], cands[1:])
    d2 = 1 - sentence_bleu(cands[2], cands[:2])
    assert d0 == pytest.approx(0.0)
    assert div == pytest.approx((2 * d0 + d2) / 3)
    assert math.isnan(self_bleu_diversity(["one"]))


def test_set_statistics():
    assert distinct_n(["a b a", "b c"], 1) == pytest.approx(3 / 5)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert originality(["x y", "a b", "c"], ["a b"]) == pytest.approx(2 / 3)
    assert transfer_rate(["a new word"], ["a word"]) == pytest.approx(1 / 3)


def test_kneser_ney_is_normalised_and_learns():
    train = ["play some jazz", "play some rock", "play jazz now"]
    lm = KneserNeyBigramLM({w for t in train for w in t.split()}).fit(train)
    for ctx in ["<s>", "play", "some", "jazz", "unseen-context"]:
        assert sum(lm.prob(w, ctx) for w in lm.vocab) == pytest.approx(1.0)
    assert lm.perplexity(["play some jazz"]) < lm.perplexity(["jazz some play"])


def test_evaluate_generations_uses_correctly_classified_only():
    train = [
        ("play jazz", "Music"),
        ("play some rock", "Music"),
        ("weather in paris", "Weather"),
        ("will it rain", "Weather"),
    ]
    clf = intent_classifier([t for t, _ in train] * 3, [y for _, y in train] * 3)
    gen = [
        ("play jazz", "Music"),
        ("play some jazz", "Music"),
        ("weather in paris", "Music"),
        ("will it rain in rome", "Weather"),
    ]
    res = evaluate_generations(
        gen, train, [("play rock", "Music"), ("rain in rome", "Weather")], clf
    )
    music = res["per_intent"]["Music"]
    assert music["intent_accuracy"] == pytest.approx(2 / 3)
    assert music["originality"] == pytest.approx(1 / 2)  # "play jazz" is a training query
    assert res["intent_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert res["per_intent"]["Weather"]["transfer"] == pytest.approx(1 / 5)  # "rome" is new


def test_augmentation_accuracy_gain_on_separable_data():
    train = [("play jazz", "M"), ("rain today", "W")]
    gen = [("play rock", "M"), ("play pop", "M"), ("rain tomorrow", "W"), ("snow tomorrow", "W")]
    test = [("play pop music", "M"), ("snow tomorrow morning", "W")]
    res = augmentation_accuracy(train, gen, test)
    assert res["accuracy_augmented"] == 1.0
    assert res["gain"] == res["accuracy_augmented"] - res["accuracy_real"]
