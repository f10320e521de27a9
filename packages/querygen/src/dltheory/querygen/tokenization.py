"""Offline Hugging Face ``tokenizers`` trained on the training text (word level by default, BPE option).

The pre-tokenizer reproduces :func:`dltheory.querygen.data.word_tokenize` exactly (lower-case,
whitespace split, punctuation isolated, apostrophes kept inside words). Nothing is downloaded: a
tokenizer is either trained here or read from a local ``tokenizer.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dltheory.core.errors import DltheoryError

PAD, UNK, SOS, EOS = "<pad>", "<unk>", "<sos>", "<eos>"
SPECIALS = [PAD, UNK, SOS, EOS]
BPE_SUFFIX = "</w>"


def _base_tokenizer(model):
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

    tok = Tokenizer(model)
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"[^\w\s']"), behavior="isolated"),
        ]
    )
    return tok


# names under which Hugging Face tokenizers commonly store each special token, in order of preference
SPECIAL_ALIASES = {
    PAD: ("<pad>", "[PAD]", "<|pad|>", "<|padding|>"),
    UNK: ("<unk>", "[UNK]", "<|unk|>"),
    SOS: (
        "<sos>",
        "<s>",
        "<bos>",
        "[CLS]",
        "<|startoftext|>",
        "<|begin_of_text|>",
        "<|endoftext|>",
    ),
    EOS: ("<eos>", "</s>", "[SEP]", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>"),
}


def _kind_of(tokenizer) -> str:
    """word / bpe for the tokenizers trained here, generic for any other tokenizer.json."""
    ids = [tokenizer.token_to_id(s) for s in SPECIALS]
    ours = ids == [0, 1, 2, 3]
    model = type(tokenizer.model).__name__
    if ours and model == "WordLevel" and tokenizer.decoder is None:
        return "word"
    if ours and model == "BPE" and type(tokenizer.decoder).__name__ == "BPEDecoder":
        return "bpe"
    return "generic"


class QueryTokenizer:
    """Word or BPE tokenizer trained here (``<pad>=0, <unk>=1, <sos>=2, <eos>=3``), or any local
    Hugging Face ``tokenizer.json``: its own special tokens are found by name (``[PAD]``, ``</s>``,
    ``<|endoftext|>``...), and the ones it lacks are added as new special tokens, so no id is
    assumed (``<pad>`` need not be 0)."""

    def __init__(self, tokenizer, kind: str | None = None):
        from tokenizers import AddedToken

        self.tk = tokenizer
        self.kind = kind or _kind_of(tokenizer)
        ids = {}
        model_unk = getattr(tokenizer.model, "unk_token", None)
        for name, aliases in SPECIAL_ALIASES.items():
            if name == UNK and model_unk:  # the model's own unknown token first
                aliases = (model_unk, *aliases)
            found = next((a for a in aliases if tokenizer.token_to_id(a) is not None), None)
            if found is None:
                tokenizer.add_special_tokens([AddedToken(name, special=True)])
                found = name
            ids[name] = tokenizer.token_to_id(found)
        self.pad_id, self.unk_id, self.sos_id, self.eos_id = (ids[n] for n in SPECIALS)
        if self.pad_id in (self.sos_id, self.eos_id, self.unk_id):
            raise DltheoryError("the tokenizer's padding token must differ from <sos>/<eos>/<unk>")
        self.special_ids = {self.pad_id, self.unk_id, self.sos_id, self.eos_id}
        self.whole_words = {t.content for t in tokenizer.get_added_tokens_decoder().values()} - {
            a for aliases in SPECIAL_ALIASES.values() for a in aliases
        }

    def add_words(self, words: Sequence[str]) -> None:
        """Make ``words`` (slot placeholders) whole tokens of the vocabulary."""
        new = sorted(set(words) - self.whole_words)
        if new:
            self.tk.add_tokens(new)
            self.whole_words |= set(new)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        kind: str = "word",
        vocab_size: int = 10_000,
        min_frequency: int = 1,
        keep_words: Sequence[str] = (),
    ) -> QueryTokenizer:
        """Train on ``texts``; ``keep_words`` (slot placeholders) are always whole tokens in the vocabulary."""
        from tokenizers import decoders, models, trainers

        texts = list(texts)
        trainer: Any
        if kind == "word":
            tok = _base_tokenizer(models.WordLevel(unk_token=UNK))
            trainer = trainers.WordLevelTrainer(
                vocab_size=vocab_size,
                min_frequency=min_frequency,
                special_tokens=SPECIALS,
                show_progress=False,
            )
        elif kind == "bpe":
            tok = _base_tokenizer(models.BPE(unk_token=UNK, end_of_word_suffix=BPE_SUFFIX))
            tok.decoder = decoders.BPEDecoder(suffix=BPE_SUFFIX)
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size,
                min_frequency=min_frequency,
                special_tokens=SPECIALS,
                end_of_word_suffix=BPE_SUFFIX,
                show_progress=False,
            )
        else:
            raise DltheoryError(f"unknown tokenizer kind {kind!r} (word or bpe)")
        tok.train_from_iterator(texts, trainer=trainer)
        out = cls(tok, kind)
        out.add_words(keep_words)
        return out

    @classmethod
    def from_file(cls, path: str | Path) -> QueryTokenizer:
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise DltheoryError(
                f"tokenizer file not found: {path} (only local tokenizers are used)"
            )
        try:
            tk = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise DltheoryError(
                f"{path} is not a Hugging Face tokenizer.json: {str(exc).splitlines()[0]}"
            ) from None
        return cls(tk)

    def to_str(self) -> str:
        return self.tk.to_str()

    @classmethod
    def from_str(cls, s: str) -> QueryTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(s))

    def save(self, path: str | Path) -> None:
        self.tk.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tk.get_vocab_size()

    def pre_tokenize(self, text: str) -> list[str]:
        norm = self.tk.normalizer.normalize_str(text)
        return [w for w, _ in self.tk.pre_tokenizer.pre_tokenize_str(norm)]

    def encode(self, text: str) -> list[int]:
        return self.tk.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tk.encode_batch(list(texts), add_special_tokens=False)]

    def decode_words(self, ids: Sequence[int]) -> list[str]:
        """Ids up to the first ``<eos>`` (pads and ``<sos>`` dropped) -> words."""
        kept = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.sos_id):
                kept.append(i)
        if self.kind == "word":
            return [self.tk.id_to_token(i) for i in kept]
        if self.kind == "generic":  # the tokenizer's own decoder, then our word split
            from .data import word_tokenize

            return word_tokenize(self.tk.decode(kept, skip_special_tokens=True))
        # BPE: a piece ending in </w> closes a word; added whole-word tokens (slot placeholders) stand alone
        words, current = [], ""
        for i in kept:
            piece = self.tk.id_to_token(i)
            if piece in self.whole_words:
                words += [current, piece] if current else [piece]
                current = ""
            elif piece.endswith(BPE_SUFFIX):
                words.append(current + piece[: -len(BPE_SUFFIX)])
                current = ""
            else:
                current += piece
        return [*words, current] if current else words
