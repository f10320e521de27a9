"""ConViT vs DeiT of the same size on a fraction of digits (paper Table 2 at CPU scale).

python examples/convit_sample_efficiency.py OUT_DIR [FRACTION]

``dltheory convit reproduce`` runs the whole protocol (three fractions, three seeds, claims);
this trains one pair. DLTHEORY_EXAMPLE_SMOKE=1 runs 20 steps instead of 200.
"""

import dataclasses
import os
import sys
from pathlib import Path

from dltheory.convit.reproduce import SETTINGS, sample_efficiency_config
from dltheory.convit.train import train

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/convit-sample-efficiency")
fraction = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
setting = SETTINGS["quick"]
if os.environ.get("DLTHEORY_EXAMPLE_SMOKE"):
    setting = dataclasses.replace(setting, steps=20, evaluations=1)
for name, gpsa_layers in (("deit", 0), ("convit", setting.num_gpsa_layers)):
    cfg = sample_efficiency_config(setting, out / name, gpsa_layers, fraction, seed=0)
    final = train(cfg, overwrite=True)
    print(f"{name}: top-1 {final['top1']:.1f}% with {fraction:.0%} of the training images")
