"""Write slot-labelled queries in the formats NLU tools read. Original casing is kept (slot values
as in the data; the model's own words are lower-case).

* ``jsonl``: ``{"text", "intent", "slots"}`` per line; ``text`` = words joined by spaces,
  ``slots`` = one BIO tag per word (what :func:`dltheory.querygen.data.load_labelled_file` reads);
* ``csv``: the same columns, ``slots`` space-separated;
* ``rasa``: Rasa NLU training data YAML (``version: "3.1"``, ``nlu:`` list of
  ``{intent, examples}``, entities annotated ``[value](entity)``);
* ``snips``: the snips-nlu dataset JSON (``{"language", "intents": {name: {"utterances":
  [{"data": [{"text", "entity"?, "slot_name"?}]}]}}, "entities": {...}}``).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dltheory.core.errors import ConfigError
from dltheory.core.files import atomic_write_text

from .config import EXPORT_FORMATS as FORMATS
from .data import Utterance, word_tokenize

RASA_VERSION = "3.1"


def bio_row(u: Utterance) -> dict:
    words = u.cased_tokens
    return {"text": " ".join(words), "intent": u.intent, "slots": u.bio}


def to_jsonl(utterances: Iterable[Utterance]) -> str:
    return "".join(json.dumps(bio_row(u), ensure_ascii=False) + "\n" for u in utterances)


def to_csv(utterances: Iterable[Utterance]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["text", "intent", "slots"])
    for u in utterances:
        row = bio_row(u)
        writer.writerow([row["text"], row["intent"], " ".join(row["slots"])])
    return buf.getvalue()


def _rasa_escape(text: str) -> str:
    # brackets and parentheses outside an annotation would be read as entity syntax
    return text.replace("[", "(").replace("]", ")") if "[" in text or "]" in text else text


def rasa_example(u: Utterance) -> str:
    """One example line: plain chunks verbatim, slot chunks as ``[value](slot)``."""
    parts = []
    for text, slot in u.chunks:
        if slot is None or not word_tokenize(text):
            parts.append(_rasa_escape(text))
        else:
            lead = text[: len(text) - len(text.lstrip())]
            trail = text[len(text.rstrip()) :]
            parts.append(f"{lead}[{_rasa_escape(text.strip())}]({slot}){trail}")
    return " ".join("".join(parts).split())


def to_rasa(utterances: Iterable[Utterance]) -> str:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for u in utterances:
        by_intent[u.intent].append(rasa_example(u))
    lines = [f'version: "{RASA_VERSION}"', "", "nlu:"]
    for intent, examples in by_intent.items():
        lines.append(f"- intent: {json.dumps(intent)}")
        lines.append("  examples: |")
        lines += [f"    - {e}" for e in examples]
    return "\n".join(lines) + "\n"


def to_snips(utterances: Sequence[Utterance], language: str = "en") -> str:
    intents: dict[str, dict] = {}
    entity_values: dict[str, dict[str, None]] = defaultdict(dict)
    for u in utterances:
        data = []
        for text, slot in u.chunks:
            if slot is None or not word_tokenize(text):
                data.append({"text": text})
            else:
                lead = text[: len(text) - len(text.lstrip())]
                trail = text[len(text.rstrip()) :]
                if lead:
                    data.append({"text": lead})
                data.append({"text": text.strip(), "entity": slot, "slot_name": slot})
                if trail:
                    data.append({"text": trail})
                entity_values[slot][text.strip()] = None
        intents.setdefault(u.intent, {"utterances": []})["utterances"].append({"data": data})
    entities = {
        name: {
            "data": [{"value": v, "synonyms": []} for v in values],
            "use_synonyms": True,
            "automatically_extensible": True,
            "matching_strictness": 1.0,
        }
        for name, values in entity_values.items()
    }
    doc = {"language": language, "intents": intents, "entities": entities}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def export_queries(
    utterances: Sequence[Utterance], path: str | Path, fmt: str | None = None
) -> Path:
    """Write ``utterances`` to ``path`` in ``fmt`` (default: from the suffix: .jsonl, .csv,
    .yml/.yaml = rasa, .json = snips)."""
    path = Path(path)
    if fmt is None:
        fmt = {".csv": "csv", ".yml": "rasa", ".yaml": "rasa", ".json": "snips"}.get(
            path.suffix.lower(), "jsonl"
        )
    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    writers: dict[str, Callable[[list[Utterance]], str]] = {
        "jsonl": to_jsonl,
        "csv": to_csv,
        "rasa": to_rasa,
        "snips": to_snips,
    }
    text = writers[fmt](list(utterances))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path
