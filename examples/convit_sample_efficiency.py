"""ConViT vs DeiT of the same size on a fraction of digits (paper Table 2 at CPU scale).

python examples/convit_sample_efficiency.py OUT_DIR [FRACTION]
"""

import sys
from pathlib import Path

from dltheory.convit.reproduce import quick_config
from dltheory.convit.train import train

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/convit-sample-efficiency")
fraction = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
for name, gpsa_layers in (("deit", 0), ("convit", 2)):
    final = train(
        quick_config(out / name, gpsa_layers, fraction, steps=250, device="cpu"), overwrite=True
    )
    print(f"{name}: top-1 {final['top1']:.1f}% with {fraction:.0%} of the training images")
