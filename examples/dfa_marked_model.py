"""Train any model with DFA by marking its blocks (dltheory.dfa engine), then measure alignment.

python examples/dfa_marked_model.py
"""

import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core.data import load_digits, train_test_split_tensors
from dltheory.dfa import DirectFeedback, FeedbackPoint, attach_feedback
from dltheory.dfa.alignment import gradient_alignment, weight_alignment


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(64, 128), nn.Linear(128, 128), nn.Linear(128, 10)
        self.cut1, self.cut2 = FeedbackPoint(), FeedbackPoint()  # DFA cuts the graph here
        self.feedback = DirectFeedback(n_outputs=10, mode="dfa", scale=128**-0.5)

    def forward(self, x):
        x = self.cut1(torch.relu(self.fc1(x.flatten(1))))
        x = self.cut2(torch.relu(self.fc2(x)))
        return self.feedback(self.head(x))


torch.manual_seed(0)
x, y = load_digits()
x_tr, y_tr, x_te, y_te = train_test_split_tensors((x - x.mean()) / x.std(), y, 0.2)
model = attach_feedback(Net())
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for _epoch in range(10):
    for idx in torch.randperm(len(x_tr)).split(64):
        opt.zero_grad()
        F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()  # one backward, one B GEMM
        opt.step()
with torch.no_grad():
    acc = (model(x_te).argmax(1) == y_te).float().mean().item()
print(f"DFA test accuracy on digits: {acc:.3f}")
print("weight alignment:", weight_alignment(model, x_te[:2]))
print("gradient alignment:", gradient_alignment(model, x_te[:256], y_te[:256], F.cross_entropy))
