"""Query transfer (arXiv:1911.03698 Sec. 3.2): pick reservoir *groups* close to the target intents.

Each sentence is embedded (TF-IDF + LSA offline by default; any callable ``texts -> array`` works,
e.g. a local sentence encoder), embeddings are averaged per target intent and per reservoir group,
and a reservoir group is kept when the cosine between its mean and *some* target intent's mean
exceeds the threshold (0.9 in the paper). Its queries then join training:

* ``query_transfer``: labelled "None", with their classifier loss scaled by alpha (in the trainer);
* ``pseudo_label``: labelled with the target intent the group matched best (baseline);
* ``none``: nothing is added (baseline).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltheory.core.errors import ConfigError, DatasetNotFoundError

from .data import NONE_INTENT, Utterance, warn

TRANSFER_METHODS = ("none", "query_transfer", "pseudo_label")
Embedder = Callable[[Sequence[str]], np.ndarray]


class LsaEmbedder:
    """TF-IDF (uni+bi-grams, sublinear tf) followed by truncated SVD (LSA), rows L2-normalised.

    ``fit`` uses at most ``fit_max`` texts (a seeded sample) and ``max_features`` n-grams, so a
    100k-sentence reservoir costs one sparse transform, not a 100k-row SVD.
    """

    def __init__(
        self,
        n_components: int = 100,
        fit_max: int = 5_000,
        max_features: int = 30_000,
        seed: int = 0,
    ):
        self.n_components, self.fit_max, self.max_features, self.seed = (
            n_components,
            fit_max,
            max_features,
            seed,
        )

    def fit(self, texts: Sequence[str]) -> LsaEmbedder:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(texts)
        if len(texts) > self.fit_max:
            texts = random.Random(self.seed).sample(texts, self.fit_max)
        self.tfidf = TfidfVectorizer(
            ngram_range=(1, 2),
            sublinear_tf=True,
            token_pattern=r"[\w']+",
            max_features=self.max_features,
            dtype=np.float32,
        )
        x = self.tfidf.fit_transform(texts)
        k = max(1, min(self.n_components, x.shape[1] - 1, x.shape[0] - 1))
        self.svd = TruncatedSVD(n_components=k, n_iter=4, random_state=self.seed).fit(x)
        return self

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        e = self.svd.transform(self.tfidf.transform(list(texts)))
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


class LocalEncoderEmbedder:
    """Mean-pooled last hidden states of a Hugging Face encoder read from a local folder only
    (``local_files_only=True``; nothing is downloaded), rows L2-normalised."""

    def __init__(self, path: str | Path, batch_size: int = 64, device: str = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise DatasetNotFoundError(
                f"no local sentence encoder at {path} (expected a saved Hugging Face model "
                f"folder with config.json); nothing is downloaded"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.batch_size, self.device = batch_size, device

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    list(texts[s : s + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=64,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out.append(
                    ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy()
                )
        e = np.concatenate(out)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def group_means(embeddings: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    names, inverse = np.unique(np.asarray(labels), return_inverse=True)
    sums = np.zeros((len(names), embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, embeddings)
    counts = np.bincount(inverse, minlength=len(names))[:, None]
    return {str(g): sums[k] / counts[k] for k, g in enumerate(names)}


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


@dataclass
class Selection:
    """Reservoir groups kept, the target intent each matched best, and every cosine."""

    kept: dict[str, str]  # group -> best target intent
    cosines: dict[str, dict[str, float]]  # group -> intent -> cosine
    threshold: float
    added: list[Utterance] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "threshold": self.threshold,
            "groups_total": len(self.cosines),
            "groups_kept": len(self.kept),
            "kept": self.kept,
            "added": len(self.added),
            "max_cosine": {g: max(c.values()) for g, c in self.cosines.items()},
        }


def select_groups(
    target_means: dict[str, np.ndarray], group_means_: dict[str, np.ndarray], threshold: float
) -> Selection:
    """Keep group g iff max_intent cos(mean_g, mean_intent) > threshold."""
    intents, groups = list(target_means), list(group_means_)
    cos = cosine_matrix(
        np.stack([group_means_[g] for g in groups]), np.stack([target_means[i] for i in intents])
    )
    cosines = {
        g: {i: float(cos[a, b]) for b, i in enumerate(intents)} for a, g in enumerate(groups)
    }
    kept = {
        g: intents[int(cos[a].argmax())] for a, g in enumerate(groups) if cos[a].max() > threshold
    }
    return Selection(kept, cosines, threshold)


def transfer_queries(
    train: Sequence[Utterance],
    reservoir: Sequence[Utterance],
    method: str,
    *,
    none_size: int = 200,
    threshold: float = 0.9,
    seed: int = 0,
    embedder: Embedder | None = None,
    text_of: Callable[[Utterance], str] | None = None,
) -> Selection:
    """Select reservoir groups and return the queries to add (``Selection.added``) for ``method``."""
    if method not in TRANSFER_METHODS:
        raise ConfigError(f"transfer method must be one of {TRANSFER_METHODS}, not {method!r}")
    if method == "none" or none_size <= 0:
        return Selection({}, {}, threshold)
    if not reservoir:
        warn(f"{method}: the reservoir is empty, so 0 queries are transferred")
        return Selection({}, {}, threshold)
    text_of = text_of or (lambda u: u.normalised)
    if any(u.group is None for u in reservoir):
        raise ConfigError("every reservoir query needs a source group")
    train_texts = [text_of(u) for u in train]
    res_texts = [text_of(u) for u in reservoir]
    if embedder is None:
        embedder = LsaEmbedder(seed=seed).fit(train_texts + res_texts)
    targets = group_means(embedder(train_texts), [u.intent for u in train])
    groups = group_means(embedder(res_texts), [str(u.group) for u in reservoir])
    sel = select_groups(targets, groups, threshold)
    pool = [u for u in reservoir if u.group in sel.kept]
    random.Random(seed).shuffle(pool)
    label = (lambda u: sel.kept[u.group]) if method == "pseudo_label" else (lambda u: NONE_INTENT)
    sel.added = [u.with_intent(label(u)) for u in pool[:none_size]]
    if not sel.added:
        best = max((max(c.values()) for c in sel.cosines.values()), default=float("nan"))
        warn(
            f"{method}: no reservoir group has a cosine above {threshold:g} with a target intent "
            f"(best {best:.3f}), so 0 queries are transferred and the run equals no transfer; "
            f"lower --cosine-threshold or give a closer --reservoir"
        )
    return sel
