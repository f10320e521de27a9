"""The headline claims of arXiv:1911.03698 and arXiv:2011.02143, judged by ``reproduce``.

Every claim is measured on SNIPS with leave-intents-out folds (the reservoir holds other intents'
queries and chatterbot first turns, never a target-intent sentence), as a paired difference over
(fold, seed) with its standard error.
"""

from dltheory.core.claims import Claim, above, below, within

PAPER = "1911.03698"
PAPER_LM = "2011.02143"

CLAIMS = (
    Claim(
        id="querygen.transfer_originality",
        paper=PAPER,
        where="Sec. 4, bar figure (200 queries, 200 transferred)",
        statement=(
            "Query transfer makes generated queries more original than no transfer; judged on "
            "NOVELTY (not in the training set nor among the transferred sentences): the paired "
            "difference novelty(query transfer) - novelty(no transfer) is positive."
        ),
        paper_value="originality 0.087 -> 0.351 (+0.26)",
        rule=above(0.0, sigmas=2),
        min_scale="quick",
    ),
    Claim(
        id="querygen.transfer_keeps_accuracy",
        paper=PAPER,
        where="Sec. 4, bar figure",
        statement=(
            "Query transfer keeps the intent accuracy of generated queries: "
            "accuracy(query transfer) - accuracy(no transfer) within 0.03 (mean over folds and "
            "seeds)."
        ),
        paper_value="0.971 vs 0.982 (-0.011)",
        rule=within(0.0, abs=0.03),  # the point estimate, not widened by its SE
        min_scale="quick",
    ),
    Claim(
        id="querygen.pseudo_label_costs_accuracy",
        paper=PAPER,
        where="Sec. 4, bar figure",
        statement=(
            "Pseudo-labelling the transferred queries with their closest intent costs intent "
            "accuracy: the accuracy of its generated queries is about 0.90."
        ),
        paper_value="0.896 (no transfer 0.982)",
        rule=within(0.896, abs=0.03, sigmas=2),
        min_scale="full",
        requires="the pseudo-labelling and alpha = 0 / 1 runs of --scale full",
    ),
    Claim(
        id="querygen.alpha_tradeoff",
        paper=PAPER,
        where="Sec. 4, alpha figure",
        statement=(
            "Alpha trades accuracy for originality: alpha = 1 gives a higher intent accuracy than "
            "alpha = 0 (paired difference accuracy(1) - accuracy(0) positive)."
        ),
        paper_value="accuracy 0.890 (alpha 0) -> 0.984 (alpha 1); originality 0.430 -> 0.307",
        rule=above(0.0, sigmas=2),
        min_scale="full",
        requires="the pseudo-labelling and alpha = 0 / 1 runs of --scale full",
    ),
    Claim(
        id="querygen.lm_augmentation",
        paper=PAPER_LM,
        where="language-model augmentation experiment",
        statement=(
            "Adding generated queries (query transfer) to the few-shot queries lowers a neural "
            "(GRU) language model's perplexity on held-out queries of the target intents: "
            "log(ppl augmented / ppl real) < 0."
        ),
        paper_value="lower perplexity (the paper's numbers were not available here)",
        rule=below(0.0, sigmas=2),
        min_scale="quick",
    ),
    Claim(
        id="querygen.lm_augmentation_kneser_ney",
        paper=PAPER_LM,
        where="language-model augmentation experiment",
        statement=(
            "The same with an interpolated Kneser-Ney bigram language model: "
            "log(ppl augmented / ppl real) < 0."
        ),
        paper_value="lower perplexity (the paper's numbers were not available here)",
        rule=below(0.0, sigmas=2),
        min_scale="quick",
    ),
)
