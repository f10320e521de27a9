"""Labelled queries and their loaders: SNIPS 2017-06 JSON, CSV/JSONL, chatterbot-corpus, reservoirs.

An :class:`Utterance` is a list of chunks ``(text, slot_or_None)`` as in the SNIPS benchmark JSON,
so that slot spans survive every transformation. Words are produced by :func:`word_tokenize`
(lower-cased ``[\\w']+`` runs and single punctuation marks); the Hugging Face tokenizer of
:mod:`dltheory.querygen.tokenization` reproduces exactly the same split.
"""

from __future__ import annotations

import csv
import functools
import json
import random
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dltheory.core.errors import DatasetNotFoundError, DltheoryError

WORD_PATTERN = r"[\w']+|[^\w\s']"
_WORD_RE = re.compile(WORD_PATTERN)
NONE_INTENT = "None"


class QueryGenWarning(UserWarning):
    """Data that trains but deserves attention (an intent with one example, nothing transferred)."""


def warn(message: str) -> None:
    warnings.warn(message, QueryGenWarning, stacklevel=2)


class DatasetFormatError(DltheoryError, ValueError):
    """A data file exists but is malformed; the message names the file and the line."""


def word_tokenize(text: str) -> list[str]:
    """Lower-cased words: runs of letters/digits/underscore/apostrophe, or one punctuation mark."""
    return _WORD_RE.findall(text.lower())


def cased_tokenize(text: str) -> list[str]:
    """The words of :func:`word_tokenize` with their original casing."""
    return _WORD_RE.findall(text)


@dataclass(frozen=True)
class Utterance:
    """One query: ``chunks`` of (text, slot name or None) concatenated verbatim, and its intent."""

    chunks: tuple[tuple[str, str | None], ...]
    intent: str
    group: str | None = field(default=None, compare=False)  # reservoir source intent, if any

    @classmethod
    def plain(cls, text: str, intent: str, group: str | None = None) -> Utterance:
        return cls(((text, None),), intent, group)

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.chunks)

    @property
    def tokens(self) -> list[str]:
        return [w for t, _ in self.chunks for w in word_tokenize(t)]

    @property
    def normalised(self) -> str:
        return " ".join(self.tokens)

    @property
    def cased_tokens(self) -> list[str]:
        """The words of :attr:`tokens` in their original casing (what exports write)."""
        return [w for t, _ in self.chunks for w in cased_tokenize(t)]

    @property
    def raw_slots(self) -> list[tuple[str, str]]:
        """(slot name, value as written in the data, stripped) for every slot chunk."""
        return [(s, t.strip()) for t, s in self.chunks if s is not None and word_tokenize(t)]

    @property
    def bio(self) -> list[str]:
        """One BIO tag per word of :attr:`tokens`."""
        tags: list[str] = []
        for text, slot in self.chunks:
            words = word_tokenize(text)
            if slot is None:
                tags += ["O"] * len(words)
            else:
                tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1) if words else []
        return tags

    @property
    def slots(self) -> list[tuple[str, str]]:
        """(slot name, normalised value) for every slot chunk."""
        return [
            (s, " ".join(word_tokenize(t)))
            for t, s in self.chunks
            if s is not None and word_tokenize(t)
        ]

    def with_intent(self, intent: str) -> Utterance:
        return Utterance(self.chunks, intent, self.group)


def utterance_from_bio(
    words: Sequence[str], tags: Sequence[str], intent: str, where: str = ""
) -> Utterance:
    """Rebuild chunks from words and BIO tags (the format written by ``generate``)."""
    if len(words) != len(tags):
        raise DatasetFormatError(f"{where}: {len(words)} words but {len(tags)} slot tags")
    spans: list[tuple[list[str], str | None]] = []
    for w, tag in zip(words, tags):
        if tag == "O":
            slot = None
        elif tag[:2] in ("B-", "I-") and len(tag) > 2:
            slot = tag[2:]
        else:
            raise DatasetFormatError(f"{where}: bad slot tag {tag!r} (expected O, B-x or I-x)")
        extend = spans and spans[-1][1] == slot and (slot is None or tag.startswith("I-"))
        if extend:
            spans[-1][0].append(w)
        else:
            spans.append(([w], slot))
    chunks: list[tuple[str, str | None]] = []
    for k, (ws, slot) in enumerate(spans):
        text = " ".join(ws)
        if k and slot is None:
            text = " " + text
        elif k and chunks[-1][1] is None:
            chunks[-1] = (chunks[-1][0] + " ", None)
        elif k:
            chunks.append((" ", None))
        chunks.append((text, slot))
    return Utterance(tuple(chunks), intent)


# --------------------------------------------------------------------------------------------- I/O


def read_text_tolerant(path: Path) -> str:
    """Read UTF-8; fall back to CESU-8 surrogate pairs (SNIPS' train_PlayMusic_full.json holds two)."""
    raw = Path(path).read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Excel's "CSV UTF-8")
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # surrogatepass turns each 3-byte surrogate into a lone code unit; a UTF-16 round trip
        # joins the pairs into the real code point, anything still unpaired becomes U+FFFD.
        text = raw.decode("utf-8", errors="surrogatepass")
        return text.encode("utf-16", errors="surrogatepass").decode("utf-16", errors="replace")


def _load_json(path: Path):
    try:
        return json.loads(read_text_tolerant(path))
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def _snips_line_of(text: str, index: int) -> int:
    """Line of the ``index``-th ``"data"`` key in a SNIPS file (for error messages)."""
    pos = -1
    for _ in range(index + 1):
        pos = text.find('"data"', pos + 1)
        if pos < 0:
            return 1
    return text.count("\n", 0, pos) + 1


def parse_snips_json(path: Path) -> list[Utterance]:
    """One SNIPS 2017-06 file (``{"Intent": [{"data": [{"text", "entity"?}, ...]}, ...]}``) or a
    snips-nlu dataset (``{"intents": {"Intent": {"utterances": [{"data": [...]}]}}, ...}``)."""
    path = Path(path)
    obj = _load_json(path)
    if isinstance(obj, dict) and isinstance(obj.get("intents"), dict) and "language" in obj:
        obj = {
            name: (spec or {}).get("utterances") if isinstance(spec, dict) else None
            for name, spec in obj["intents"].items()
        }
    if not isinstance(obj, dict) or not obj:
        raise DatasetFormatError(f"{path}:1: expected an object {{intent: [utterances]}}")
    out: list[Utterance] = []
    for intent, items in obj.items():
        if not isinstance(items, list) or not items:
            raise DatasetFormatError(f"{path}:1: intent {intent!r} has no utterance list")
        for i, item in enumerate(items):
            data = item.get("data") if isinstance(item, dict) else None
            bad = (
                not isinstance(data, list)
                or not data
                or not all(
                    isinstance(c, dict)
                    and isinstance(c.get("text"), str)
                    and isinstance(c.get("entity", ""), str)
                    for c in data
                )
            )
            if bad:
                line = _snips_line_of(read_text_tolerant(path), i)
                raise DatasetFormatError(
                    f"{path}:{line}: utterance {i} of {intent!r} needs a non-empty 'data' list of "
                    f"{{'text': str, 'entity'?: str}} chunks"
                )
            chunks = tuple((c["text"], c.get("slot_name", c.get("entity"))) for c in data or [])
            u = Utterance(chunks, intent)
            if not u.tokens:
                raise DatasetFormatError(
                    f"{path}:{_snips_line_of(read_text_tolerant(path), i)}: "
                    f"utterance {i} of {intent!r} is empty"
                )
            out.append(u)
    return out


SNIPS_SPLITS = {
    "train": "train_{}.json",
    "train_full": "train_{}_full.json",
    "validate": "validate_{}.json",
}


def load_snips(
    root: str | Path, split: str = "train_full", intents: Iterable[str] | None = None
) -> list[Utterance]:
    """SNIPS nlu-benchmark 2017-06 (``<root>/<Intent>/train_<Intent>[_full].json``, ``validate_…``)."""
    root = Path(root)
    if split not in SNIPS_SPLITS:
        raise DltheoryError(f"unknown SNIPS split {split!r}; choose one of {sorted(SNIPS_SPLITS)}")
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"SNIPS benchmark not found at {root}: clone https://github.com/sonos/nlu-benchmark and pass "
            f"its 2017-06-custom-intent-engines folder"
        )
    names = (
        sorted(intents)
        if intents
        else sorted(
            p.name for p in root.iterdir() if (p / SNIPS_SPLITS[split].format(p.name)).is_file()
        )
    )
    if not names:
        raise DatasetNotFoundError(
            f"no <Intent>/{SNIPS_SPLITS[split].format('<Intent>')} files under {root}"
        )
    out: list[Utterance] = []
    for name in names:
        path = root / name / SNIPS_SPLITS[split].format(name)
        if not path.is_file():
            raise DatasetNotFoundError(f"missing SNIPS file {path}")
        out += parse_snips_json(path)
    return out


def load_labelled_file(path: str | Path) -> list[Utterance]:
    """CSV with a header (``text,intent[,slots]``) or JSONL (``{"text", "intent", "slots"?}``).

    ``slots`` are BIO tags, one per word of :func:`word_tokenize` (space-separated in CSV, a list in
    JSONL); this is what ``dltheory querygen generate`` writes.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"data file not found: {path}")
    rows: list[tuple[int, dict]] = []
    text = read_text_tolerant(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("{") and "\n{" not in text:
        return parse_snips_json(path)  # one SNIPS 2017-06 or snips-nlu dataset file
    if path.suffix.lower() == ".csv":
        lines = text.splitlines()
        header = lines[0] if lines else ""
        # ';' (European spreadsheets) or tab when the header holds no comma but one of those
        delimiter = next((d for d in (",", ";", "\t") if d in header), ",")
        reader = csv.DictReader(lines, delimiter=delimiter)
        reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
        if not reader.fieldnames or not {"text", "intent"} <= set(reader.fieldnames):
            raise DatasetFormatError(
                f"{path}:1: CSV header must contain 'text' and 'intent' (got {reader.fieldnames})"
            )
        for row in reader:
            rows.append((reader.line_num, row))
    elif path.suffix.lower() in (".jsonl", ".json"):
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(
                    f"{path}:{lineno}: invalid JSON line ({exc.msg})"
                ) from None
            if not isinstance(row, dict):
                raise DatasetFormatError(f"{path}:{lineno}: expected a JSON object per line")
            rows.append((lineno, row))
    else:
        raise DatasetFormatError(
            f"{path}: unsupported extension {path.suffix!r} (use .csv or .jsonl)"
        )
    out: list[Utterance] = []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        sentence, intent = row.get("text"), row.get("intent")
        if not isinstance(sentence, str) or not word_tokenize(sentence):
            raise DatasetFormatError(f"{where}: empty or missing 'text'")
        if not isinstance(intent, str) or not intent.strip():
            raise DatasetFormatError(f"{where}: empty or missing 'intent'")
        slots = row.get("slots")
        if slots in (None, "", []):
            out.append(Utterance.plain(sentence, intent.strip()))
        else:
            tags = slots.split() if isinstance(slots, str) else list(slots)
            out.append(utterance_from_bio(cased_tokenize(sentence), tags, intent.strip(), where))
    if not out:
        raise DatasetFormatError(f"{path}:1: no rows")
    return out


def chatterbot_data_dir() -> Path:
    try:
        from chatterbot_corpus.corpus import DATA_DIRECTORY
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise DatasetNotFoundError(
            "chatterbot-corpus is not installed: pip install chatterbot-corpus"
        ) from exc
    return Path(DATA_DIRECTORY)


def load_chatterbot(language: str = "english", min_per_category: int = 1) -> list[Utterance]:
    """First turns of chatterbot-corpus conversations, labelled by file category, deduplicated."""
    return list(_chatterbot_cached(language, min_per_category))


@functools.lru_cache(maxsize=4)
def _chatterbot_cached(language: str, min_per_category: int) -> tuple[Utterance, ...]:
    import yaml

    folder = chatterbot_data_dir() / language
    if not folder.is_dir():
        raise DatasetNotFoundError(f"chatterbot-corpus has no language folder {folder}")
    out: list[Utterance] = []
    for path in sorted(folder.glob("*.yml")):
        try:
            doc = yaml.safe_load(read_text_tolerant(path))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DatasetFormatError(
                f"{path}:{mark.line + 1 if mark else 1}: invalid YAML"
            ) from None
        convs = (doc or {}).get("conversations") or []
        seen: set[str] = set()
        rows = []
        for conv in convs:
            first = conv[0] if isinstance(conv, list) and conv else None
            if isinstance(first, str) and word_tokenize(first):
                key = " ".join(word_tokenize(first))
                if key not in seen:
                    seen.add(key)
                    rows.append(Utterance.plain(first.strip(), path.stem))
        if len(rows) >= min_per_category:
            out += rows
    if not out:
        raise DatasetNotFoundError(f"no conversations found under {folder}")
    return tuple(out)


def load_reservoir(path: str | Path) -> list[Utterance]:
    """Unlabelled queries grouped by source intent.

    A JSONL file of ``{"text": ..., "group": ...}`` (``intent`` is accepted for ``group``; optional
    BIO ``slots``) or a folder of ``<group>.txt`` files with one query per line.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise DatasetNotFoundError(f"reservoir folder {path} holds no .txt files")
        out = []
        for f in files:
            lines = read_text_tolerant(f).splitlines()
            rows = [
                Utterance.plain(t.strip(), NONE_INTENT, f.stem) for t in lines if word_tokenize(t)
            ]
            if not rows:
                raise DatasetFormatError(f"{f}:1: reservoir file has no queries")
            out += rows
        return out
    if not path.is_file():
        raise DatasetNotFoundError(f"reservoir not found: {path}")
    out = []
    for lineno, line in enumerate(read_text_tolerant(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{path}:{lineno}: invalid JSON line ({exc.msg})") from None
        group = row.get("group", row.get("intent")) if isinstance(row, dict) else None
        sentence = row.get("text") if isinstance(row, dict) else None
        if (
            not isinstance(sentence, str)
            or not word_tokenize(sentence)
            or not isinstance(group, str)
            or not group
        ):
            raise DatasetFormatError(
                f"{path}:{lineno}: reservoir rows need non-empty 'text' and 'group'"
            )
        slots = row.get("slots")
        if slots:
            tags = slots.split() if isinstance(slots, str) else list(slots)
            u = utterance_from_bio(cased_tokenize(sentence), tags, NONE_INTENT, f"{path}:{lineno}")
            out.append(Utterance(u.chunks, NONE_INTENT, group))
        else:
            out.append(Utterance.plain(sentence, NONE_INTENT, group))
    if not out:
        raise DatasetFormatError(f"{path}:1: reservoir file has no queries")
    return out


def write_jsonl(
    utterances: Iterable[Utterance], path: str | Path, extra: dict | None = None
) -> Path:
    """Write ``{"text", "intent", "slots"}`` lines (text = normalised words, slots = BIO tags)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for u in utterances:
            row = {"text": u.normalised, "intent": u.intent, "slots": u.bio}
            if u.group is not None:
                row["group"] = u.group
            fh.write(json.dumps({**row, **(extra or {})}) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------- subsets


def by_intent(utterances: Iterable[Utterance], key: str = "intent") -> dict[str, list[Utterance]]:
    groups: dict[str, list[Utterance]] = defaultdict(list)
    for u in utterances:
        groups[getattr(u, key)].append(u)
    return dict(sorted(groups.items()))


def stratified_subset(utterances: Sequence[Utterance], size: int, seed: int = 0) -> list[Utterance]:
    """``size`` utterances balanced across intents (quotas differ by at most one), seeded.

    An intent with fewer utterances than its quota gives all of them and the rest of its quota
    goes to the intents that still have some.
    """
    groups = by_intent(utterances)
    if size <= 0 or size > len(utterances):
        raise DltheoryError(f"train size must be in 1..{len(utterances)} (got {size})")
    rng = random.Random(seed)
    pools = {k: rng.sample(v, len(v)) for k, v in groups.items()}
    quota = dict.fromkeys(pools, 0)
    remaining = size
    while remaining:
        open_ = [k for k in pools if quota[k] < len(pools[k])]
        share, extra = divmod(remaining, len(open_))
        lucky = set(rng.sample(open_, extra))
        for k in open_:
            take = min(share + (k in lucky), len(pools[k]) - quota[k])
            quota[k] += take
            remaining -= take
    chosen = [u for k in pools for u in pools[k][: quota[k]]]
    rng.shuffle(chosen)
    return chosen


# ----------------------------------------------------------------------- leave-intents-out folds


def fold_intents(intents: Sequence[str], folds: int, fold: int) -> list[str]:
    """Target intents of one leave-intents-out fold: the sorted intents with index % folds == fold.

    ``folds == 1`` makes every intent a target. Every intent is a target in exactly one fold.
    """
    names = sorted(set(intents))
    if folds < 1 or not 0 <= fold < folds:
        raise DltheoryError(f"fold must be in 0..{folds - 1} (got fold={fold}, folds={folds})")
    if folds > 1 and folds > len(names) - 1:
        raise DltheoryError(
            f"{folds} leave-intents-out folds need at least {folds + 1} intents (have {len(names)})"
        )
    return [n for k, n in enumerate(names) if k % folds == fold]


def drop_leaks(
    reservoir: Sequence[Utterance],
    target_rows: Iterable[Utterance],
    keys: Sequence = (),
) -> list[Utterance]:
    """Reservoir queries whose text (normalised, or any extra key such as the delexicalised form)
    equals no target-intent query: the reservoir never shares a sentence with the target task."""
    targets = list(target_rows)
    funcs = [lambda u: u.normalised, *keys]
    banned = [{f(u) for u in targets} for f in funcs]
    return [u for u in reservoir if not any(f(u) in b for f, b in zip(funcs, banned))]
