"""Batched generation from a trained CVAE, then surface realisation (slots refilled, BIO tags)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from dltheory.core.errors import CheckpointError, ConfigError
from dltheory.core.runs import atomic_torch_save, load_checkpoint

from .data import Utterance
from .models import CVAEConfig, QueryCVAE
from .slots import SurfaceRealiser
from .tokenization import QueryTokenizer


@dataclass
class GeneratedQuery:
    words: str  # the model's output (delexicalised when trained so)
    intent: str
    realised: Utterance  # slots refilled from the training values


@dataclass
class GeneratorBundle:
    model: QueryCVAE
    tokenizer: QueryTokenizer
    classes: list[str]  # classifier classes (may end with "None")
    intents: list[str]  # real intents that can be requested
    realiser: SurfaceRealiser
    train_config: dict

    def save(self, path: str | Path) -> Path:
        """Weights-only-loadable bundle (tensors, strings, lists, dicts)."""
        return atomic_torch_save(
            {
                "model": self.model.state_dict(),
                "cvae_config": self.model.cfg.to_dict(),
                "tokenizer": self.tokenizer.to_str(),
                "classes": self.classes,
                "intents": self.intents,
                "slots": self.realiser.state(),
                "train_config": self.train_config,
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> GeneratorBundle:
        path = Path(path)
        if path.is_dir():
            path = path / "model.pt"
        state = load_checkpoint(path, map_location="cpu")
        try:
            model = QueryCVAE(CVAEConfig(**state["cvae_config"]))
            model.load_state_dict(state["model"])
            realiser = SurfaceRealiser.from_state(state["slots"])
            tok = QueryTokenizer.from_str(state["tokenizer"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path} is not a querygen model bundle: {exc}".splitlines()[0]
            ) from None
        return cls(
            model.to(device),
            tok,
            list(state["classes"]),
            list(state["intents"]),
            realiser,
            dict(state.get("train_config", {})),
        )

    def generate(
        self,
        counts: dict[str, int],
        *,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 1024,
    ) -> list[GeneratedQuery]:
        """``counts[intent]`` queries per intent, decoded ``batch_size`` at a time; reproducible by seed."""
        unknown = sorted(set(counts) - set(self.intents))
        if unknown:
            raise ConfigError(f"unknown intent(s) {unknown}; this model knows {self.intents}")
        requested = [i for i, k in counts.items() for _ in range(k)]
        gen = torch.Generator().manual_seed(seed)
        rng = random.Random(seed)
        out: list[GeneratedQuery] = []
        for s in range(0, len(requested), batch_size):
            chunk = requested[s : s + batch_size]
            ids = torch.tensor([self.classes.index(i) for i in chunk])
            tokens = self.model.generate(
                ids, strategy=strategy, temperature=temperature, top_p=top_p, generator=gen
            ).cpu()
            for intent, row in zip(chunk, tokens.tolist()):
                words = self.tokenizer.decode_words(row)
                out.append(
                    GeneratedQuery(
                        " ".join(words), intent, self.realiser.realise(words, intent, rng)
                    )
                )
        return out

    def generate_one_at_a_time(self, counts: dict[str, int], seed: int = 0) -> list[str]:
        """Reference loop for the benchmark: one greedy query per forward pass."""
        gen = torch.Generator().manual_seed(seed)
        out = []
        for intent, k in counts.items():
            cls = torch.tensor([self.classes.index(intent)])
            for _ in range(k):
                row = self.model.generate(cls, generator=gen)[0].tolist()
                out.append(" ".join(self.tokenizer.decode_words(row)))
        return out
