"""querygen speed: training throughput, batched vs one-at-a-time generation, 100k-query selection.

Anchors measured in the same process: the one-query-per-forward generation loop (the authors'
code generates in one batch, but a naive user loop is the usual baseline) and an LSA fitted on the
whole reservoir with every n-gram, instead of a 5k-sentence sample and 30k n-grams.

    python packages/querygen/benchmarks/bench_querygen_speed.py [--quick] [--threads 1]
        [--device cpu] [--out FILE.json]

Results go to ``benchmarks/results/local-bench_querygen_speed.json`` (git-ignored) unless
``--out`` names a file; the JSON records the machine, threads, torch version and git commit.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

from dltheory.core.bench import time_callable, write_bench
from dltheory.querygen.data import Utterance, load_chatterbot
from dltheory.querygen.generation import GeneratorBundle
from dltheory.querygen.losses import cvae_loss
from dltheory.querygen.models import CVAEConfig, QueryCVAE
from dltheory.querygen.slots import SurfaceRealiser
from dltheory.querygen.tokenization import QueryTokenizer
from dltheory.querygen.transfer import LsaEmbedder, transfer_queries


def make_bundle(n_intents: int = 7) -> GeneratorBundle:
    texts = [u.text for u in load_chatterbot()]
    tok = QueryTokenizer.train(texts)
    intents = [f"intent{i}" for i in range(n_intents)]
    torch.manual_seed(0)
    model = QueryCVAE(CVAEConfig(vocab_size=tok.vocab_size, n_classes=n_intents))  # paper sizes
    return GeneratorBundle(model, tok, intents, intents, SurfaceRealiser(), {})


def bench_training(bundle: GeneratorBundle, steps: int) -> dict:
    model = bundle.model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    v = bundle.tokenizer.vocab_size
    device = next(model.parameters()).device
    x = torch.randint(4, v, (32, 12))
    x[:, 0] = 2
    x = x.to(device)
    lengths = torch.full((32,), 12)
    labels = torch.randint(0, len(bundle.classes), (32,)).to(device)

    def step():
        o = model(x, lengths)
        parts = cvae_loss(
            o["logits"],
            x,
            o["mu"],
            o["logv"],
            o["log_q_y"],
            labels,
            torch.ones(32, device=device),
            pad_id=0,
            kl_weight=0.5,
            label_weight=0.5,
        )
        opt.zero_grad()
        parts.total.backward()
        opt.step()

    t = time_callable(step, repeats=steps, warmup=2)
    return {
        "case": "training (batch 32, 12 tokens)",
        "seconds": t["median_s"],
        "rate": 32 / t["median_s"],
        "unit": "sentences/s",
    }


def bench_generation(bundle: GeneratorBundle, n_total: int, n_single: int) -> list[dict]:
    counts = {i: n_total // len(bundle.intents) for i in bundle.intents}
    n = sum(counts.values())
    t_batched = time_callable(
        lambda: bundle.generate(counts, batch_size=1024), repeats=3, warmup=1
    )["median_s"]
    single_counts = {i: max(n_single // len(bundle.intents), 1) for i in bundle.intents}
    m = sum(single_counts.values())
    t_single = time_callable(
        lambda: bundle.generate_one_at_a_time(single_counts), repeats=1, warmup=0
    )["median_s"]
    rate_b, rate_s = n / t_batched, m / t_single
    return [
        {
            "case": f"generate {n} queries, one at a time (anchor, timed on {m})",
            "seconds": n / rate_s,
            "rate": rate_s,
            "unit": "queries/s",
            "ratio_vs_anchor": 1.0,
        },
        {
            "case": f"generate {n} queries, batched 1024 (+ surface realisation)",
            "seconds": t_batched,
            "rate": rate_b,
            "unit": "queries/s",
            "ratio_vs_anchor": rate_b / rate_s,
        },
    ]


def synthetic_reservoir(n: int, n_groups: int, seed: int = 0) -> list[Utterance]:
    """n queries in n_groups groups: chatterbot first turns with words shuffled and resampled."""
    rng = random.Random(seed)
    base = [u.normalised.split() for u in load_chatterbot()]
    vocab = sorted({w for s in base for w in s})
    out = []
    for i in range(n):
        words = list(rng.choice(base))
        for k in range(len(words)):
            if rng.random() < 0.3:
                words[k] = rng.choice(vocab)
        out.append(Utterance.plain(" ".join(words), "None", f"group{i % n_groups}"))
    return out


def bench_selection(n: int) -> list[dict]:
    train = [Utterance.plain(u.text, u.intent) for u in load_chatterbot()][:500]
    reservoir = synthetic_reservoir(n, 500)
    LsaEmbedder().fit([u.normalised for u in train])  # warm-up: scikit-learn imports
    t0 = time.perf_counter()
    sel = transfer_queries(train, reservoir, "query_transfer", threshold=0.5, none_size=200)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = [u.normalised for u in train + reservoir]
    full = LsaEmbedder(fit_max=len(texts), max_features=None).fit(texts)
    transfer_queries(
        train, reservoir, "query_transfer", threshold=0.5, none_size=200, embedder=full
    )
    t_full = time.perf_counter() - t0
    return [
        {
            "case": f"select over {n} queries, LSA fitted on all (anchor)",
            "seconds": t_full,
            "rate": n / t_full,
            "unit": "queries/s",
            "ratio_vs_anchor": 1.0,
        },
        {
            "case": f"select over {n} queries, LSA fitted on a 5k sample ({len(sel.kept)} groups kept)",
            "seconds": t_fast,
            "rate": n / t_fast,
            "unit": "queries/s",
            "ratio_vs_anchor": t_full / t_fast,
        },
    ]


def record_provenance(path: Path, device) -> None:
    """Add the machine, thread count, device and git commit to the JSON written by write_bench."""
    import json
    import platform
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    data = json.loads(path.read_text())
    data["environment"].update(
        machine=platform.platform(),
        host_cpus=__import__("os").cpu_count(),
        threads=torch.get_num_threads(),
        device=str(device),
        git_commit=commit,
    )
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--model", type=Path, help="trained run folder / model.pt (default: random paper-size CVAE)"
    )
    parser.add_argument("--only-generation", action="store_true")
    parser.add_argument(
        "--only-selection", action="store_true", help="only the 100k selection rows"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "local-bench_querygen_speed.json",
    )
    parser.add_argument("--threads", type=int, default=None, help="default: DLTHEORY_THREADS")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from dltheory.core.device import resolve_device
    from dltheory.core.threads import configure_threads

    configure_threads(args.threads)
    device = resolve_device(args.device)
    if args.only_selection:
        rows = bench_selection(20_000 if args.quick else 100_000)
        print(
            write_bench(
                rows, args.out, title=f"querygen selection ({torch.get_num_threads()} threads)"
            )
        )
        record_provenance(args.out, device)
        return
    bundle = GeneratorBundle.load(args.model) if args.model else make_bundle()
    bundle.model.to(device)
    rows = [] if args.only_generation else [bench_training(bundle, 5 if args.quick else 20)]
    rows += bench_generation(bundle, 1400 if args.quick else 10_000, 70 if args.quick else 350)
    if not args.only_generation:
        rows += bench_selection(20_000 if args.quick else 100_000)
    model = f"trained model {args.model}" if args.model else "random paper-size CVAE"
    print(
        write_bench(
            rows, args.out, title=f"querygen speed ({model}, {torch.get_num_threads()} threads)"
        )
    )
    record_provenance(args.out, device)


if __name__ == "__main__":
    main()
