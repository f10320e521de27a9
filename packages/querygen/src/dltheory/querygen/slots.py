"""Delexicalisation (slot spans -> ``_slot_``) and surface realisation (placeholders -> values + BIO).

The model is trained on delexicalised queries ("play _track_ on _service_"); after generation each
placeholder is refilled with a value drawn uniformly from that slot's values *for the same intent* in the training data,
which yields slot-labelled synthetic queries (reference: ``data/utils/utils.py`` of the authors' code).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from dltheory.core.errors import DltheoryError

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
    """Slot values seen in training, per intent and keyed by placeholder; refills word sequences.

    A placeholder is refilled with a value of the same slot *from the same intent* (values pooled
    across intents gave cross-intent slots, e.g. a playlist name in a weather query); only a slot
    the intent never had falls back to the pooled values. Values keep their original casing.
    ``set_values`` replaces the values of a slot by a user list (``--slot-values FILE``).
    """

    def __init__(self, utterances: Iterable[Utterance] = ()):
        self.values: dict[str, list[str]] = defaultdict(list)  # pooled over every intent
        self.by_intent: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.slot_names: dict[str, str] = {}
        for u in utterances:
            self.add(u)

    def add(self, u: Utterance) -> None:
        for slot, value in u.raw_slots:
            key = placeholder(slot)
            self.slot_names.setdefault(key, slot)
            self.values[key].append(value)
            self.by_intent[u.intent][key].append(value)

    def set_values(self, slot: str, values: Sequence[str], intent: str | None = None) -> None:
        """User values for ``slot`` (every intent when ``intent`` is None)."""
        key = placeholder(slot)
        values = [v.strip() for v in values if word_tokenize(v)]
        if not values:
            raise SlotValuesError(f"slot {slot!r} has no usable value")
        self.slot_names.setdefault(key, slot)
        if intent is None:
            self.values[key] = list(values)
            for table in self.by_intent.values():
                if key in table:
                    table[key] = list(values)
        else:
            self.by_intent[intent][key] = list(values)
            self.values.setdefault(key, list(values))

    def choices(self, word: str, intent: str) -> list[str]:
        own = self.by_intent.get(intent, {}).get(word)
        return own if own else self.values[word]

    def state(self) -> dict:
        """Plain data for a weights-only checkpoint."""
        return {
            "values": {k: list(v) for k, v in self.values.items()},
            "by_intent": {i: {k: list(v) for k, v in t.items()} for i, t in self.by_intent.items()},
            "slot_names": dict(self.slot_names),
        }

    @classmethod
    def from_state(cls, state: dict) -> SurfaceRealiser:
        r = cls()
        r.values.update({k: list(v) for k, v in state["values"].items()})
        for intent, table in state.get("by_intent", {}).items():
            r.by_intent[intent].update({k: list(v) for k, v in table.items()})
        r.slot_names.update(state["slot_names"])
        return r

    def realise(
        self, words: Sequence[str], intent: str, rng: random.Random | None = None
    ) -> Utterance:
        """Words -> Utterance whose slot chunks hold values drawn uniformly from the intent's values."""
        rng = rng or random.Random(0)
        chunks: list[tuple[str, str | None]] = []
        for w in words:
            if w in self.values:
                value = rng.choice(self.choices(w, intent))
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


class SlotValuesError(DltheoryError):
    """A --slot-values file is missing or malformed."""


def load_slot_values(path: str | Path, realiser: SurfaceRealiser) -> SurfaceRealiser:
    """Apply a user value list: JSON ``{slot: [values]}`` or ``{intent: {slot: [values]}}``, or a
    CSV with a header ``slot,value`` or ``intent,slot,value`` (``intent`` empty = every intent)."""
    import csv
    import json

    from .data import read_text_tolerant

    path = Path(path)
    if not path.is_file():
        raise SlotValuesError(f"slot values file not found: {path}")
    text = read_text_tolerant(path)
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SlotValuesError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not obj:
            raise SlotValuesError(f"{path}:1: expected an object {{slot: [values]}}")
        for key, val in obj.items():
            if isinstance(val, list) and all(isinstance(v, str) for v in val):
                realiser.set_values(key, val)
            elif isinstance(val, dict):
                for slot, vals in val.items():
                    if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                        raise SlotValuesError(f"{path}: {key}.{slot} must be a list of strings")
                    realiser.set_values(slot, vals, intent=key)
            else:
                raise SlotValuesError(f"{path}: {key!r} must map to a list of strings or an object")
        return realiser
    lines = text.splitlines()
    delimiter = next((d for d in (",", ";", "\t") if lines and d in lines[0]), ",")
    reader = csv.DictReader(lines, delimiter=delimiter)
    names = {f.strip() for f in reader.fieldnames or []}
    if not {"slot", "value"} <= names:
        raise SlotValuesError(f"{path}:1: CSV header must contain 'slot' and 'value'")
    table: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("slot") or not row.get("value"):
            raise SlotValuesError(f"{path}:{reader.line_num}: empty slot or value")
        table[(row.get("intent") or None, row["slot"])].append(row["value"])
    if not table:
        raise SlotValuesError(f"{path}:1: no rows")
    for (intent, slot), vals in table.items():
        realiser.set_values(slot, vals, intent=intent)
    return realiser
