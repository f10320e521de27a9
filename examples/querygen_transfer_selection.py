"""Which reservoir groups does query transfer keep? (TF-IDF + LSA group means, cosine threshold)

python examples/querygen_transfer_selection.py [SNIPS_2017-06_FOLDER] [--threshold 0.15] [--fold 0]

The reservoir of a leave-intents-out fold holds the other intents' queries and the
chatterbot-corpus first turns, never a sentence of the target intents.
"""

import argparse

from dltheory.querygen import TrainConfig, prepare_data

parser = argparse.ArgumentParser()
parser.add_argument("data", nargs="?", default="chatterbot")
parser.add_argument("--threshold", type=float, default=0.15)
parser.add_argument("--fold", type=int, default=0)
args = parser.parse_args()

prepared = prepare_data(
    TrainConfig(
        data=args.data,
        cosine_threshold=args.threshold,
        fold=args.fold,
        train_size=100 if args.data == "chatterbot" else 200,
    )
)
sel = prepared.selection
print(f"target intents: {prepared.intents}")
for group, cos in sorted(sel.cosines.items(), key=lambda kv: -max(kv[1].values()))[:15]:
    best = max(cos, key=cos.get)
    print(f"{group:26s} best {best:22s} cos {cos[best]:.3f} {'KEPT' if group in sel.kept else ''}")
print(f"{len(sel.added)} queries transferred, e.g.:")
for u in sel.added[:5]:
    print(f"  [{u.group}] {u.normalised}")
