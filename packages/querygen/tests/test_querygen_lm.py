"""The 2011.02143 augmentation experiment: a GRU LM and the Kneser-Ney LM, real vs real + generated."""

import math
import random

import torch

from dltheory.querygen.lm import GruLM, lm_augmentation


def corpus(n, seed, pattern):
    rng = random.Random(seed)
    colours = ["red", "blue", "green", "black", "white"]
    things = ["car", "house", "dog", "song", "lamp"]
    return [pattern.format(rng.choice(colours), rng.choice(things)) for _ in range(n)]


def test_gru_lm_perplexity_closed_form_at_uniform_output():
    lm = GruLM(["a", "b", "c"])
    with torch.no_grad():
        lm.out.weight.zero_()
        lm.out.bias.zero_()
    # uniform over the 7 ids (pad, <s>, </s>, <unk>, a, b, c) -> perplexity exactly 7
    assert math.isclose(lm.perplexity(["a b", "c a b c"]), 7.0, rel_tol=1e-6)


def test_gru_lm_learns_a_pattern():
    train = corpus(200, 0, "play the {} {}")
    test = corpus(50, 1, "play the {} {}")
    torch.manual_seed(0)
    lm = GruLM({w for t in train for w in t.split()})
    before = lm.perplexity(test)
    lm.fit(train, test[:10], max_epochs=15)
    # 5 x 5 equiprobable fillers: the best model has ppl = (5 * 5) ** (1/5) ~ 1.90 per token
    assert lm.perplexity(test) < 2.3 < before


def test_augmentation_with_in_distribution_text_lowers_perplexity_and_junk_raises_it():
    real = corpus(12, 0, "play the {} {}")
    test = corpus(60, 1, "play the {} {}")
    good = corpus(120, 2, "play the {} {}")
    junk = [
        " ".join(random.Random(k).sample(["zip", "zap", "the", "dog", "moo"], 4))
        for k in range(120)
    ]
    helped = lm_augmentation(real, good, test, seed=0)
    hurt = lm_augmentation(real, junk, test, seed=0)
    for lm in ("kneser_ney", "gru"):
        assert helped[lm]["log_ratio"] < 0 < hurt[lm]["log_ratio"]
        ratio = helped[lm]["perplexity_augmented"] / helped[lm]["perplexity_real"]
        assert math.isclose(math.log(ratio), helped[lm]["log_ratio"])
