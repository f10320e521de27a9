"""Nonlocality (paper eq. 8), gates and head centres of a ConViT over a real batch of images.

    python examples/convit_locality_analysis.py [RUN_DIR]

With a run folder from `dltheory convit train`, analyses the trained model; without one, a
freshly initialised 4-block ConViT (its GPSA heads are local by construction).
"""

import json
import sys
from pathlib import Path

import torch

from dltheory.convit import ConViT, ConViTSpec, gate_values, head_centres, nonlocality
from dltheory.convit.data import build_datasets
from dltheory.convit.train import load_run_model

if len(sys.argv) > 1:
    model = load_run_model(sys.argv[1]).eval()
else:
    model = ConViT(
        ConViTSpec(
            img_size=(8, 8),
            patch_size=1,
            in_chans=1,
            num_classes=10,
            depth=4,
            num_gpsa_layers=2,
            num_heads=4,
            embed_dim_per_head=16,
        )
    ).eval()
dataset, root = "digits", ""
if len(sys.argv) > 1 and (Path(sys.argv[1]) / "config.json").is_file():  # the run's own data
    saved = json.loads((Path(sys.argv[1]) / "config.json").read_text())
    dataset, root = saved["dataset"], saved["data_root"]
_, val, _, _ = build_datasets(dataset, root, img_size=model.spec.img_size[0])
images = torch.stack([val[i][0] for i in range(64)])
nl = nonlocality(model, images)
for layer, (value, gpsa) in enumerate(
    zip(nl["per_layer"].tolist(), nl["is_gpsa"].tolist()), start=1
):
    print(f"layer {layer} ({'GPSA' if gpsa else 'MHSA'}): nonlocality {value:.3f} patches")
print("gates sigma(lambda):", gate_values(model).numpy().round(3))
print("head centres (x, y):", head_centres(model)["centres"].numpy().round(2))
