"""A small switch-time sweep through the library API: CNN, FCN twin and eFCN at each t_w.

Trains on scikit-learn's digits (offline), then prints the summary and writes figures under
runs/efcn_example/figures. The full protocol is `dltheory efcn sweep` / `reproduce`.

    .venv/bin/python examples/efcn_switch_time.py
"""

from pathlib import Path

from dltheory.core.plotting import markdown_table
from dltheory.efcn.figures import summary_rows
from dltheory.efcn.protocol import sweep
from dltheory.efcn.train import TrainConfig

cfg = TrainConfig(
    dataset="digits",
    data_size=600,
    model="vanilla-small",
    channels=16,
    epochs=10,
    batch_size=25,
    n_saves=4,
    device="cpu",
    threads=1,
)
out = Path("runs/efcn_example")
sweep(cfg, out, resume=(out / "cnn" / "last.pt").exists())
print(markdown_table(summary_rows(out)))
print(f"figures in {out / 'figures'}")
