"""A model that learns nothing fails here: generated queries of a small SNIPS subset must be
recognised as their intent by an independent scikit-learn classifier (fast enough for CI)."""

import json

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from dltheory.querygen.config import TrainConfig
from dltheory.querygen.data import load_snips
from dltheory.querygen.slots import delexicalise
from dltheory.querygen.train import train

INTENTS = ("GetWeather", "PlayMusic", "RateBook")


def test_generated_queries_are_recognised_by_an_independent_classifier(snips_dir, tmp_path):
    rows = load_snips(snips_dir, "train", intents=INTENTS)  # the 2017-06 small split
    path = tmp_path / "small.jsonl"
    with path.open("w") as fh:
        for u in rows[::6]:  # ~100 queries per intent
            fh.write(json.dumps({"text": u.text, "intent": u.intent}) + "\n")
    cfg = TrainConfig(
        data=str(path),
        folds=1,
        method="none",
        train_size=90,
        epochs=30,
        hidden_size=64,
        embedding_dim=32,
        kl_x0=50,
        device="cpu",
        threads=1,
        checkpoint_every=100,
    )
    result = train(cfg, tmp_path / "run", quiet=True)
    queries = result.bundle.generate({i: 30 for i in INTENTS}, seed=0)
    # independent judge: bag of words + logistic regression on the full SNIPS training data
    full = load_snips(snips_dir, "train_full", intents=INTENTS)
    judge = make_pipeline(
        CountVectorizer(token_pattern=r"[\w']+"), LogisticRegression(max_iter=500)
    )
    judge.fit([delexicalise(u).normalised for u in full], [u.intent for u in full])
    predicted = judge.predict([q.words for q in queries])
    accuracy = sum(p == q.intent for p, q in zip(predicted, queries)) / len(queries)
    assert accuracy >= 0.8, [q.words for q in queries[:10]]
    # and the queries are not all one sentence
    assert len({q.words for q in queries}) >= 10
