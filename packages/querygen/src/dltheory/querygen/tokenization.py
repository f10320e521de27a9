"""Offline Hugging Face ``tokenizers`` trained on the training text (word level by default, BPE option).

The pre-tokenizer reproduces :func:`dltheory.querygen.data.word_tokenize` exactly (lower-case,
whitespace split, punctuation isolated, apostrophes kept inside words). Nothing is downloaded: a
tokenizer is either trained here or read from a local ``tokenizer.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

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


class QueryTokenizer:
    """Word or BPE tokenizer with ``<pad>=0, <unk>=1, <sos>=2, <eos>=3``."""

    def __init__(self, tokenizer, kind: str):
        self.tk = tokenizer
        self.kind = kind
        for i, s in enumerate(SPECIALS):
            if tokenizer.token_to_id(s) != i:
                raise DltheoryError(f"tokenizer must map {s} to id {i}")
        self.pad_id, self.unk_id, self.sos_id, self.eos_id = range(4)
        self.whole_words = {t.content for t in tokenizer.get_added_tokens_decoder().values()} - set(
            SPECIALS
        )

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
        if keep_words:
            tok.add_tokens(sorted(set(keep_words)))
        return cls(tok, kind)

    @classmethod
    def from_file(cls, path: str | Path) -> QueryTokenizer:
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise DltheoryError(
                f"tokenizer file not found: {path} (only local tokenizers are used)"
            )
        tk = Tokenizer.from_file(str(path))
        return cls(tk, "bpe" if tk.decoder is not None else "word")

    def to_str(self) -> str:
        return self.tk.to_str()

    @classmethod
    def from_str(cls, s: str) -> QueryTokenizer:
        from tokenizers import Tokenizer

        tk = Tokenizer.from_str(s)
        return cls(tk, "bpe" if tk.decoder is not None else "word")

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
