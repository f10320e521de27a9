"""Quality, diversity and usefulness of generated queries (arXiv:1911.03698 Sec. 4; 2011.02143).

All texts are normalised word sequences joined by spaces (``Utterance.normalised``).

* intent accuracy: an independent TF-IDF + linear classifier trained on the full real training set
  labels each generation; accuracy = share equal to the conditioned intent, averaged over intents.
* on the correctly classified generations only (as the authors do):
  BLEU quality (sentence BLEU-4 vs the intent's validation sentences), diversity = 1 - self-BLEU
  (each candidate vs the *other* candidates of its intent: leave-one-out), originality (share not
  in the intent's training sentences), transfer (share of the candidates' vocabulary absent from
  the intent's training vocabulary).
* distinct-n over all generations; extrinsic accuracy of a classifier trained on few-shot vs
  few-shot + generated; perplexity of a Kneser-Ney bigram LM trained on real vs real + generated.

BLEU comes from sacrebleu (``tokenize="none"`` on our words, ``smooth_method="floor"`` with 0.1 =
NLTK's method1 for zero n-gram counts, ``effective_order=True`` for sentences under four words).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------- classifiers


def intent_classifier(texts: Sequence[str], labels: Sequence[str], seed: int = 0):
    """TF-IDF (1-2 grams) + linear SVM trained by SGD, as the authors' TF-IDF + SGDClassifier."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    clf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[\w']+"),
        SGDClassifier(loss="hinge", alpha=1e-4, max_iter=50, tol=None, random_state=seed),
    )
    return clf.fit(list(texts), list(labels))


def augmentation_accuracy(
    train: Sequence[tuple[str, str]],
    generated: Sequence[tuple[str, str]],
    test: Sequence[tuple[str, str]],
    seed: int = 0,
) -> dict:
    """Accuracy on ``test`` of a classifier trained on ``train`` vs on ``train + generated``."""
    tx, ty = zip(*test)
    base = intent_classifier([t for t, _ in train], [y for _, y in train], seed)
    both = list(train) + list(generated)
    aug = intent_classifier([t for t, _ in both], [y for _, y in both], seed)
    acc_base = float(np.mean(base.predict(list(tx)) == np.asarray(ty)))
    acc_aug = float(np.mean(aug.predict(list(tx)) == np.asarray(ty)))
    return {"accuracy_real": acc_base, "accuracy_augmented": acc_aug, "gain": acc_aug - acc_base}


# ------------------------------------------------------------------------------------- BLEU


def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="none", smooth_method="floor", smooth_value=0.1, effective_order=True)


def sentence_bleu(candidate: str, references: Sequence[str], scorer=None) -> float:
    """Sentence BLEU-4 in [0, 1] of one candidate against several references."""
    if not references:
        return 0.0
    return (scorer or _bleu()).sentence_score(candidate, list(references)).score / 100.0


def bleu_quality(candidates: Sequence[str], references: Sequence[str]) -> float:
    scorer = _bleu()
    return (
        float(np.mean([sentence_bleu(c, references, scorer) for c in candidates]))
        if candidates
        else float("nan")
    )


def self_bleu_diversity(
    candidates: Sequence[str], max_candidates: int | None = 500, seed: int = 0
) -> float:
    """Mean of 1 - BLEU(c_i, {c_j : j != i}) (leave-one-out; at most ``max_candidates`` sampled)."""
    cands = list(candidates)
    if len(cands) < 2:
        return float("nan")
    if max_candidates and len(cands) > max_candidates:
        cands = random.Random(seed).sample(cands, max_candidates)
    scorer = _bleu()
    return float(
        np.mean(
            [
                1.0 - sentence_bleu(c, cands[:i] + cands[i + 1 :], scorer)
                for i, c in enumerate(cands)
            ]
        )
    )


# ---------------------------------------------------------------------------- set statistics


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams / total n-grams over all texts (distinct-1 = type/token ratio)."""
    grams = [tuple(w[i : i + n]) for t in texts for w in [t.split()] for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def originality(candidates: Sequence[str], training: Iterable[str]) -> float:
    """Share of candidates that are not a training sentence."""
    seen = set(training)
    return float(np.mean([c not in seen for c in candidates])) if candidates else float("nan")


def novelty(
    candidates: Sequence[str], training: Iterable[str], transferred: Iterable[str]
) -> float:
    """Share of candidates that are neither a training sentence (any intent) nor a transferred
    reservoir sentence: copying a transferred query does not count as new (departs from the
    authors' originality, which only looks at the intent's own training sentences)."""
    seen = set(training) | set(transferred)
    return float(np.mean([c not in seen for c in candidates])) if candidates else float("nan")


def transfer_rate(candidates: Sequence[str], training: Iterable[str]) -> float:
    """Share of the candidates' vocabulary that never occurs in the training sentences."""
    vocab = {w for c in candidates for w in c.split()}
    train_vocab = {w for t in training for w in t.split()}
    return len(vocab - train_vocab) / len(vocab) if vocab else float("nan")


def _nanmean(values) -> float:
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else float("nan")


# The authors generate 500 queries over all classes (7 SNIPS intents + None) and score self-BLEU
# within an intent's correctly classified ones: about 500 / 8 = 62 candidates per intent.
AUTHORS_CANDIDATES = 62
DIVERSITY_COUNTS = (10, 25, AUTHORS_CANDIDATES, 100)


def diversity_at(candidates: Sequence[str], count: int, seed: int = 0) -> float:
    """1 - self-BLEU over ``count`` candidates sampled without replacement (all when fewer)."""
    cands = list(candidates)
    if len(cands) > count:
        cands = random.Random(seed).sample(cands, count)
    return self_bleu_diversity(cands, None, seed)


def evaluate_generations(
    generated: Sequence[tuple[str, str]],
    train: Sequence[tuple[str, str]],
    validation: Sequence[tuple[str, str]],
    classifier,
    seed: int = 0,
    transferred: Sequence[str] = (),
    counts: Sequence[int] = DIVERSITY_COUNTS,
) -> dict:
    """All intrinsic metrics of (text, intent) generations; per-intent values are averaged.

    ``bleu_diversity`` is 1 - self-BLEU at :data:`AUTHORS_CANDIDATES` candidates per intent;
    ``diversity_by_count`` gives it at each of ``counts`` (it falls as candidates are added, since
    each candidate meets more references). ``novelty`` also excludes ``transferred`` sentences.
    """
    if not generated:
        raise ValueError("no generated queries to evaluate")
    texts = [t for t, _ in generated]
    predicted = classifier.predict(texts)
    train_by, valid_by, gen_by = defaultdict(list), defaultdict(list), defaultdict(list)
    for t, y in train:
        train_by[y].append(t)
    all_train = {t for t, _ in train}
    transferred_set = set(transferred)
    for t, y in validation:
        valid_by[y].append(t)
    for (t, y), p in zip(generated, predicted):
        gen_by[y].append((t, p == y))
    per_intent = {}
    for intent, rows in sorted(gen_by.items()):
        good = [t for t, ok in rows if ok]
        per_intent[intent] = {
            "n": len(rows),
            "intent_accuracy": len(good) / len(rows),
            "bleu_quality": bleu_quality(good, valid_by[intent]) if good else float("nan"),
            "bleu_diversity": diversity_at(good, AUTHORS_CANDIDATES, seed),
            "originality": originality(good, train_by[intent]),
            "novelty": novelty(good, all_train, transferred_set),
            "copied_transferred": (
                float(np.mean([c in transferred_set for c in good])) if good else float("nan")
            ),
            "transfer": transfer_rate(good, train_by[intent]),
            **{f"diversity_{n}": diversity_at(good, n, seed) for n in counts},
        }
    keys = ["intent_accuracy", "bleu_quality", "bleu_diversity", "originality", "novelty"]
    keys += ["copied_transferred", "transfer"]
    summary: dict[str, Any] = {k: _nanmean(v[k] for v in per_intent.values()) for k in keys}
    summary["diversity_by_count"] = {
        str(n): _nanmean(v[f"diversity_{n}"] for v in per_intent.values()) for n in counts
    }
    summary.update(
        distinct_1=distinct_n(texts, 1), distinct_2=distinct_n(texts, 2), n_generated=len(texts)
    )
    return {**summary, "per_intent": per_intent}


# --------------------------------------------------------------------------- language model


class KneserNeyBigramLM:
    """Interpolated Kneser-Ney bigram LM over a fixed vocabulary (Chen & Goodman 1999, Eq. 7):

        P(w|v) = max(c(v,w) - d, 0) / c(v) + d N1+(v .) / c(v) * P_cont(w)
        P_cont(w) = (N1+(. w) + 1) / (N1+(. .) + |V|)         (add-one so every word has mass)

    with P(w|v) = P_cont(w) for an unseen context. Words outside the vocabulary map to <unk>.
    """

    BOS, EOS, UNK = "<s>", "</s>", "<unk>"

    def __init__(self, vocabulary: Iterable[str], discount: float = 0.75):
        self.vocab = sorted(set(vocabulary) | {self.EOS, self.UNK})
        self.d = discount

    def _words(self, text: str) -> list[str]:
        vocab = self._vocab_set
        return [self.BOS] + [w if w in vocab else self.UNK for w in text.split()] + [self.EOS]

    def fit(self, texts: Iterable[str]) -> KneserNeyBigramLM:
        self._vocab_set = set(self.vocab)
        bigrams: Counter[tuple[str, str]] = Counter()
        for t in texts:
            bigrams.update(itertools.pairwise(self._words(t)))
        self.c_bigram = bigrams
        self.c_context: Counter[str] = Counter()
        self.n_follow: Counter[str] = Counter()
        n_precede: Counter[str] = Counter()
        for (prev, word), c in bigrams.items():
            self.c_context[prev] += c
            self.n_follow[prev] += 1
            n_precede[word] += 1
        total_types = len(bigrams)
        self.p_cont = {w: (n_precede[w] + 1) / (total_types + len(self.vocab)) for w in self.vocab}
        return self

    def prob(self, w: str, v: str) -> float:
        cv = self.c_context.get(v, 0)
        if cv == 0:
            return self.p_cont[w]
        return (
            max(self.c_bigram.get((v, w), 0) - self.d, 0) / cv
            + self.d * self.n_follow[v] / cv * self.p_cont[w]
        )

    def perplexity(self, texts: Iterable[str]) -> float:
        logp, n = 0.0, 0
        for t in texts:
            w = self._words(t)
            for v, x in itertools.pairwise(w):
                logp += math.log(self.prob(x, v))
                n += 1
        return math.exp(-logp / n)
