"""A small switch-time sweep through the library API: CNN, FCN twin, eFCN and eLCN at each t_w,
and the loss landscape between the solutions (barriers along the interpolation paths).

Trains on scikit-learn's digits (offline), then prints the summary and the barriers, and writes
figures under runs/efcn_example/figures. The full protocol is `dltheory efcn sweep` / `reproduce`.

    .venv/bin/python examples/efcn_switch_time.py
    DLTHEORY_EXAMPLE_SMOKE=1 .venv/bin/python examples/efcn_switch_time.py   # a few seconds
"""

import json
import os
from pathlib import Path

from dltheory.core.plotting import markdown_table
from dltheory.efcn.config import SweepConfig
from dltheory.efcn.figures import summary_rows
from dltheory.efcn.protocol import barrier_rows, sweep

smoke = os.environ.get("DLTHEORY_EXAMPLE_SMOKE") == "1"
cfg = SweepConfig(
    dataset="digits",
    data_size=120 if smoke else 600,
    model="vanilla-small",
    channels=4 if smoke else 16,
    epochs=2 if smoke else 10,
    batch_size=40 if smoke else 25,
    n_saves=2 if smoke else 4,
    local_times=[1] if smoke else [2],
    landscape_points=3 if smoke else 11,
    device="cpu",
    threads=1,
)
out = Path("runs/efcn_example_smoke" if smoke else "runs/efcn_example")
sweep(cfg, out, resume=(out / "cnn" / "last.pt").exists())
print(markdown_table(summary_rows(out)))
print(markdown_table(barrier_rows(json.loads((out / "landscape.json").read_text()))))
print(f"figures in {out / 'figures'}")
