"""Train the paper's CVAE on 200 SNIPS queries of one leave-intents-out fold (or on
chatterbot-corpus offline), generate, score, and export the queries for Rasa.

python examples/querygen_train_generate.py [SNIPS_2017-06_FOLDER] [--epochs 50]

DLTHEORY_EXAMPLE_SMOKE=1 trains a small model for 2 epochs on 40 queries (seconds).
"""

import argparse
import os
from pathlib import Path

from dltheory.querygen import Evaluator, TrainConfig, export_queries, prepare_data, train_cvae

SMOKE = bool(os.environ.get("DLTHEORY_EXAMPLE_SMOKE"))
parser = argparse.ArgumentParser()
parser.add_argument("data", nargs="?", default="chatterbot")
parser.add_argument("--epochs", type=int, default=2 if SMOKE else 50)
parser.add_argument(
    "--method", default="query_transfer", choices=["none", "query_transfer", "pseudo_label"]
)
parser.add_argument("--out", type=Path, default=Path("runs/querygen-example"))
args = parser.parse_args()

snips = args.data != "chatterbot"
cfg = TrainConfig(
    data=args.data,
    method=args.method,
    epochs=args.epochs,
    train_size=40 if SMOKE else (200 if snips else 100),
    none_size=20 if SMOKE else (200 if snips else 100),
    hidden_size=32 if SMOKE else 256,
    embedding_dim=16 if SMOKE else 100,
    device="cpu",
)
prepared = prepare_data(cfg)
print(
    f"targets {prepared.intents}: {len(prepared.subset)} training queries, "
    f"{len(prepared.selection.added)} transferred from groups {sorted(prepared.selection.kept)}"
)
result = train_cvae(cfg, args.out, overwrite=True, prepared=prepared, quiet=SMOKE)
queries = result.bundle.generate({i: 10 if SMOKE else 50 for i in result.bundle.intents}, seed=0)
for q in queries[:: max(len(queries) // 8, 1)]:
    print(f"{q.intent:22s} {q.words:55s} -> {q.realised.text}")
scores = Evaluator(prepared).score(queries, extrinsic=not SMOKE)
for key in ("intent_accuracy", "originality", "novelty", "bleu_diversity", "bleu_quality"):
    print(f"{key:16s} {scores[key]:.3f}")
print("diversity by candidates per intent:", scores["diversity_by_count"])
if not SMOKE:
    print("augmentation:", scores["augmentation"])
    print("language models:", scores["language_model"])
path = export_queries([q.realised for q in queries], args.out / "generated_nlu.yml")
print(f"Rasa NLU training data: {path}")
