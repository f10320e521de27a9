"""Benchmark: building the eFCN of the vanilla CNN, and measuring its deviation vs a training step.

1. Embedding: ours (one strided copy per block of positions; no loop over positions or channels) against
   the straightforward loop of the authors' ``cnn2fc`` (reimplemented here: a Python loop over
   output channel c' and output position (i, j) writing the C_in x k x k filter block), both into
   the same preallocated matrix in the authors' padded-column layout; plus the full ``embed()``
   call (allocation of the 110.6M-entry matrices and the CNN probe included).
2. Deviation: ``deviation(efcn)`` (projection onto the CNN subspace, O(#weights)) against one SGD
   step of the same eFCN on a batch.

Prints a markdown table of ratios against the anchor measured in the same process and writes JSON.
Usage: python packages/efcn/benchmarks/bench_efcn_embedding.py [--channels 64] [--batch 250]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from dltheory.core.bench import time_callable, write_bench
from dltheory.core.device import resolve_device
from dltheory.core.threads import configure_threads
from dltheory.efcn import deviation, embed, embed_filter, plan_embedding, vanilla_cnn
from dltheory.efcn.embedding import conv_sites


def loop_fill(dense: torch.Tensor, geometry, weight: torch.Tensor) -> None:
    """The authors' triple loop (reference notes A.3), on the padded-input layout."""
    g = geometry
    k_h, k_w = g.kernel
    view = dense.view(g.out_channels, g.out_h, g.out_w, g.in_channels, g.padded_h, g.padded_w)
    for c_out in range(g.out_channels):
        for i in range(g.out_h):
            for j in range(g.out_w):
                h0, w0 = i * g.stride[0], j * g.stride[1]
                view[c_out, i, j, :, h0 : h0 + k_h, w0 : w0 + k_w] = weight[c_out]


def scatter_fill(dense: torch.Tensor, geometry, weight: torch.Tensor) -> None:
    """The other vectorised design (reference notes A.7): index tensors built, then one scatter."""
    index, tap_h, tap_w = geometry._support_index(weight.device)
    dense.view(-1)[index] = weight.permute(0, 2, 3, 1)[:, tap_h, tap_w, :]


def ours_fill(dense: torch.Tensor, geometry, weight: torch.Tensor) -> torch.Tensor:
    geometry.__dict__.pop("blocks", None)  # include finding the blocks
    return embed_filter(geometry, weight, out=dense)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: the core policy)."
    )
    parser.add_argument(
        "--device", default="cpu", help="Device of the deviation-vs-SGD-step rows (cpu, cuda)."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("results") / "local-bench_efcn_embedding.json",
        help="JSON output (default: an untracked local-*.json; tracked results are never "
        "overwritten unless named here).",
    )
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    shape = (3, 32, 32)
    cnn = vanilla_cnn(channels=args.channels).eval()
    sites = conv_sites(cnn, shape, fold_padding=False)
    rows = []

    loop_total = ours_total = scatter_total = 0.0
    for site in sites:
        g, w = site.geometry, site.conv.weight.detach()
        dense, mine, scattered = (torch.zeros(g.n_out, g.n_in) for _ in range(3))
        loop = time_callable(lambda d=dense, g=g, w=w: loop_fill(d, g, w), repeats=args.repeats)[
            "median_s"
        ]
        ours = time_callable(lambda d=mine, g=g, w=w: ours_fill(d, g, w), repeats=args.repeats)[
            "median_s"
        ]
        scatter = time_callable(
            lambda d=scattered, g=g, w=w: scatter_fill(d, g, w), repeats=args.repeats
        )["median_s"]
        # same matrix from all three (the loop also writes filter values on padding columns)
        live = g.live_column_mask()
        assert torch.equal(dense[:, live], mine[:, live])
        assert torch.equal(scattered, mine)
        loop_total, ours_total, scatter_total = (
            loop_total + loop,
            ours_total + ours,
            scatter_total + scatter,
        )
        rows.append(
            {
                "task": f"fill {site.name} ({g.n_out}x{g.n_in})",
                "anchor": "authors' loop",
                "anchor_s": loop,
                "ours_s": ours,
                "speedup": loop / ours,
            }
        )
    rows.append(
        {
            "task": "fill all conv layers",
            "anchor": "authors' loop",
            "anchor_s": loop_total,
            "ours_s": ours_total,
            "speedup": loop_total / ours_total,
        }
    )
    rows.append(
        {
            "task": "fill all conv layers",
            "anchor": "index tensors + one scatter",
            "anchor_s": scatter_total,
            "ours_s": ours_total,
            "speedup": scatter_total / ours_total,
        }
    )

    def authors_embed():
        for site in sites:
            g = site.geometry
            loop_fill(torch.zeros(g.n_out, g.n_in), g, site.conv.weight.detach())

    authors = time_callable(authors_embed, repeats=args.repeats)["median_s"]
    full = time_callable(lambda: embed(cnn, shape, fold_padding=False), repeats=args.repeats)[
        "median_s"
    ]
    n_dense = plan_embedding(cnn, shape, fold_padding=False).dense_params
    rows.append(
        {
            "task": f"whole eFCN incl. allocating {n_dense / 1e6:.1f}M params",
            "anchor": "authors' zeros + loop",
            "anchor_s": authors,
            "ours_s": full,
            "speedup": authors / full,
        }
    )

    efcn = embed(cnn.to(device), shape, fold_padding=True)
    x = torch.randn(args.batch, *shape, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    opt = torch.optim.SGD(efcn.parameters(), lr=0.01)

    def step():
        F.cross_entropy(efcn(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step_s = time_callable(step, repeats=args.repeats, device=device)["median_s"]
    dev_s = time_callable(lambda: deviation(efcn), repeats=args.repeats, device=device)["median_s"]
    n_params = sum(p.numel() for p in efcn.parameters())
    rows.append(
        {
            "task": f"deviation(efcn) vs 1 SGD step, batch {args.batch} ({n_params / 1e6:.1f}M "
            f"params, {device})",
            "anchor": "SGD step",
            "anchor_s": step_s,
            "ours_s": dev_s,
            "speedup": step_s / dev_s,
        }
    )
    print(
        write_bench(
            rows,
            args.out,
            title=f"eFCN embedding and deviation (vanilla CNN, {args.channels} channels, "
            f"{threads} threads)",
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
