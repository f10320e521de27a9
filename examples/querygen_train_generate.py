"""Train the paper's CVAE on 200 SNIPS queries (or chatterbot-corpus offline), generate, score.

python examples/querygen_train_generate.py [SNIPS_2017-06_FOLDER] [--epochs 50]
"""

import argparse
from pathlib import Path

from dltheory.querygen import Evaluator, TrainConfig, prepare_data, train
from dltheory.querygen.experiment import METRICS

parser = argparse.ArgumentParser()
parser.add_argument("data", nargs="?", default="chatterbot")
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument(
    "--method", default="query_transfer", choices=["none", "query_transfer", "pseudo_label"]
)
parser.add_argument("--out", type=Path, default=Path("runs/querygen-example"))
args = parser.parse_args()

cfg = TrainConfig(
    data=args.data,
    method=args.method,
    epochs=args.epochs,
    train_size=200 if args.data != "chatterbot" else 100,
    cosine_threshold=0.9 if args.data != "chatterbot" else 0.6,
)
prepared = prepare_data(cfg)
print(
    f"{len(prepared.subset)} training queries, {len(prepared.selection.added)} transferred "
    f"from groups {sorted(prepared.selection.kept)}"
)
result = train(cfg, args.out, overwrite=True, prepared=prepared)
queries = result.bundle.generate({i: 50 for i in result.bundle.intents}, seed=0)
for q in queries[::25]:
    print(f"{q.intent:22s} {q.words:55s} -> {q.realised.normalised}")
scores = Evaluator(prepared).score(queries)
for key in METRICS:
    print(f"{key:16s} {scores[key]:.3f}")
print("augmentation:", scores["augmentation"])
