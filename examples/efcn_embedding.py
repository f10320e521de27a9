"""Embed the authors' vanilla CNN into FCN space and check the embedding (arXiv:1906.06766).

Prints the parameter counts (CNN vs eFCN, with and without the dead padding columns), the largest
output difference in float64, the deviation from the CNN subspace before and after one SGD step,
and checks that converting back recovers the CNN's weights exactly.

    .venv/bin/python examples/efcn_embedding.py
"""

import torch
import torch.nn.functional as F

from dltheory.efcn import count_params, deviation, embed, plan_embedding, to_cnn, vanilla_cnn

torch.manual_seed(0)
cnn = vanilla_cnn(channels=16).double()  # channels=64 is the paper's size (110.6M eFCN parameters)
shape = (3, 32, 32)
plan = plan_embedding(cnn, shape, fold_padding=False)
print(
    f"CNN {count_params(cnn):,} params; eFCN {plan.dense_params:,} (authors' layout), "
    f"{plan.live_params:,} without weights that only ever see padding"
)

efcn = embed(cnn, shape)  # dense layers on unpadded inputs: exactly the live parameters
x = torch.randn(8, *shape, dtype=torch.float64)
with torch.no_grad():
    print("max |eFCN(x) - CNN(x)| =", float((efcn(x) - cnn(x)).abs().max()))
print("deviation after embedding:", deviation(efcn)["all"])
back = to_cnn(efcn)
print(
    "round trip exact:", all(torch.equal(a, b) for a, b in zip(back.parameters(), cnn.parameters()))
)

opt = torch.optim.SGD(efcn.parameters(), lr=0.1)
F.cross_entropy(efcn(x), torch.randint(0, 10, (8,))).backward()
opt.step()
print("deviation after one SGD step in FCN space:", deviation(efcn)["all"])
