"""Copy timm's convit_tiny weights into dltheory's ConViT and compare logits (fast and reference).

python examples/convit_timm_equivalence.py
"""

import timm
import torch

from dltheory.convit import convit_tiny

torch.manual_seed(0)
reference = timm.create_model("convit_tiny", pretrained=False).eval()
ours = convit_tiny().eval()
ours.load_state_dict(reference.state_dict())  # identical keys: no conversion
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    expected, fast = reference(x), ours(x)
    explicit = ours.set_fast(False)(x)
print(f"max |fast - timm|      = {(fast - expected).abs().max():.2e}")
print(f"max |reference - timm| = {(explicit - expected).abs().max():.2e}")
