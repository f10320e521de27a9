"""Delexicalisation (slot spans -> ``_slot_``) and surface realisation (placeholders -> values + BIO).

The model is trained on delexicalised queries ("play _track_ on _service_"); after generation each
placeholder is refilled with a value drawn uniformly from that slot's values in the training data,
which yields slot-labelled synthetic queries (reference: ``data/utils/utils.py`` of the authors' code).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence

from .data import Utterance, word_tokenize


def placeholder(slot: str) -> str:
    """The delexicalised token of a slot (lower-cased, so it survives :func:`word_tokenize`)."""
    return f"_{slot.lower()}_"


def delexicalise(u: Utterance) -> Utterance:
    """Replace every slot chunk by its placeholder; the result has no slot chunks."""
    # spaces around the placeholder keep it one word even when a chunk is glued to it ("_artist_'s")
    text = "".join(
        f" {placeholder(s)} " if s is not None and word_tokenize(t) else t for t, s in u.chunks
    )
    return Utterance(((text, None),), u.intent, u.group)


class SurfaceRealiser:
    """Slot values seen in training, keyed by placeholder; refills delexicalised word sequences."""

    def __init__(self, utterances: Iterable[Utterance] = ()):
        self.values: dict[str, list[list[str]]] = defaultdict(list)
        self.slot_names: dict[str, str] = {}
        for u in utterances:
            self.add(u)

    def add(self, u: Utterance) -> None:
        for slot, value in u.slots:
            key = placeholder(slot)
            self.slot_names.setdefault(key, slot)
            self.values[key].append(value.split())

    def is_placeholder(self, word: str) -> bool:
        return word in self.values

    def realise(
        self, words: Sequence[str], intent: str, rng: random.Random | None = None
    ) -> Utterance:
        """Words -> Utterance whose slot chunks hold values drawn uniformly from the training values."""
        rng = rng or random.Random(0)
        chunks: list[tuple[str, str | None]] = []
        for w in words:
            if w in self.values:
                value = " ".join(rng.choice(self.values[w]))
                if chunks:
                    chunks[-1] = (
                        (chunks[-1][0] + " ", chunks[-1][1])
                        if chunks[-1][1] is None
                        else chunks[-1]
                    )
                    if chunks[-1][1] is not None:
                        chunks.append((" ", None))
                chunks.append((value, self.slot_names[w]))
            elif chunks and chunks[-1][1] is None:
                chunks[-1] = (chunks[-1][0] + (" " if chunks[-1][0].strip() else "") + w, None)
            else:
                chunks.append(((" " if chunks else "") + w, None))
        return Utterance(tuple(chunks), intent)
