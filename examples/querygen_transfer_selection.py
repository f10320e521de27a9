"""Which reservoir groups does query transfer keep? (TF-IDF + LSA group means, cosine threshold)

python examples/querygen_transfer_selection.py [SNIPS_2017-06_FOLDER] [--threshold 0.9]
"""

import argparse

from dltheory.querygen import TrainConfig, prepare_data

parser = argparse.ArgumentParser()
parser.add_argument("data", nargs="?", default="chatterbot")
parser.add_argument("--threshold", type=float, default=None)
args = parser.parse_args()

threshold = (
    args.threshold if args.threshold is not None else (0.6 if args.data == "chatterbot" else 0.9)
)
prepared = prepare_data(
    TrainConfig(
        data=args.data,
        cosine_threshold=threshold,
        train_size=100 if args.data == "chatterbot" else 200,
    )
)
sel = prepared.selection
for group, cos in sorted(sel.cosines.items(), key=lambda kv: -max(kv[1].values())):
    best = max(cos, key=cos.get)
    print(f"{group:22s} best {best:22s} cos {cos[best]:.3f} {'KEPT' if group in sel.kept else ''}")
print(f"{len(sel.added)} queries transferred, e.g.:")
for u in sel.added[:5]:
    print(f"  [{u.group}] {u.normalised}")
