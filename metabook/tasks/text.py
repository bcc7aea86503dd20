"""What the text task families share: tokenisers, labelled splits, class
splitting.

A text family (:class:`~metabook.tasks.WordNetDefinitions`,
:class:`~metabook.tasks.WordLanguages`) loads a :class:`TextSplits`: meta-train,
meta-validation and meta-test :class:`ClassTexts` with no class in common, and
the tokeniser that turns a list of strings into a padded ``LongTensor``::

    data = WordLanguages().load()
    sampler = data.sampler("train", n_way=5, k_shot=1, n_query=15)
    episode = sampler.sample()  # support_x: (5, max_len) int64, 0 = padding

Models trained from scratch read bytes (:class:`ByteTokenizer`, 256 symbols, any
script), characters (:class:`CharTokenizer`, an alphabet fitted on the
meta-training texts; characters outside it become ``unk_id``) or words
(:class:`WordTokenizer`, a vocabulary fitted on the meta-training texts:
sequences are about 5x shorter than in bytes, and each id already carries a
meaning).
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib.machinery import ModuleSpec

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, MissingDataError, check_int
from ..sampler import EpisodeSampler

SPLITS = ("train", "val", "test")


def require(package: str, install: str, purpose: str) -> ModuleSpec:
    """The import spec of ``package`` (not imported), or a
    :class:`MissingDataError` saying how to install it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise MissingDataError(
            f"{purpose} needs the Python package {package!r}, which is not "
            "installed; "
            f"install it with: pip install {install}"
        )
    return spec


# validation of counts, shared with the rest of metabook
check_count = check_int


# ------------------------------------------------------------------ tokenisers
@dataclass(frozen=True)
class ByteTokenizer:
    """UTF-8 bytes as ids: byte ``b`` is id ``b + 1``, id 0 is padding.

    Calling it encodes, so it can be passed as ``EpisodeSampler(collate=...)``.
    Texts longer than ``max_len`` bytes are cut (possibly inside a multi-byte
    character, which :meth:`decode` shows as U+FFFD).

    Args:
        max_len: ids per text; every encoded batch is ``(n, max_len)``.
    """

    max_len: int = 64
    pad_id: int = field(default=0, init=False)
    vocab_size: int = field(default=257, init=False)

    def __post_init__(self) -> None:
        check_count("max_len", self.max_len, 1)

    def encode(self, texts: Sequence[str]) -> Tensor:
        """``(len(texts), max_len)`` int64 ids, right-padded with ``pad_id``."""
        out = np.zeros((len(texts), self.max_len), dtype=np.int64)
        for i, text in enumerate(texts):
            raw = np.frombuffer(
                text.encode("utf-8")[: self.max_len], dtype=np.uint8
            )
            out[i, : len(raw)] = raw + 1
        return torch.from_numpy(out)

    __call__ = encode

    def decode(self, ids: Tensor) -> list[str]:
        """The texts of a ``(n, max_len)`` batch of ids (padding dropped)."""
        rows = ids.reshape(-1, ids.shape[-1]).tolist()
        return [
            bytes(v - 1 for v in row if v != self.pad_id).decode(
                "utf-8", errors="replace"
            )
            for row in rows
        ]


@dataclass(frozen=True)
class CharTokenizer:
    """Unicode characters as ids: 0 is padding, 1 an unknown character, then
    ``alphabet``.

    Build one from the meta-training texts with :meth:`fit`: characters that
    only meta-test texts use (a script never seen in training) become
    ``unk_id``.

    Args:
        alphabet: the known characters, in id order (ids ``2 ..
            len(alphabet)+1``).
        max_len: ids per text (characters beyond it are cut).
    """

    alphabet: str
    max_len: int = 32
    pad_id: int = field(default=0, init=False)
    unk_id: int = field(default=1, init=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_count("max_len", self.max_len, 1)
        if not isinstance(self.alphabet, str) or not self.alphabet:
            raise ConfigError(
                f"alphabet={self.alphabet!r} must be a non-empty string"
            )
        if len(set(self.alphabet)) != len(self.alphabet):
            raise ConfigError("alphabet has repeated characters")
        object.__setattr__(
            self, "_index", {ch: i + 2 for i, ch in enumerate(self.alphabet)}
        )

    @classmethod
    def fit(cls, texts: Sequence[str], max_len: int = 32) -> CharTokenizer:
        """A tokeniser whose alphabet is the characters of ``texts``, sorted."""
        return cls("".join(sorted(set("".join(texts)))), max_len)

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 2

    def encode(self, texts: Sequence[str]) -> Tensor:
        """``(len(texts), max_len)`` int64 ids, right-padded with ``pad_id``."""
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [
                self._index.get(ch, self.unk_id) for ch in text[: self.max_len]
            ]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    __call__ = encode

    def decode(self, ids: Tensor) -> list[str]:
        """The texts of a ``(n, max_len)`` batch of ids (padding dropped,
        unknowns as U+FFFD)."""
        chars = "\x00\ufffd" + self.alphabet
        rows = ids.reshape(-1, ids.shape[-1]).tolist()
        return [
            "".join(chars[v] for v in row if v != self.pad_id) for row in rows
        ]


# runs of letters/digits/_ and single punctuation marks
WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: ``"A ___ of Rome."`` -> ``['a',
    '___', 'of', 'rome', '.']``."""
    return WORD_PATTERN.findall(text.lower())


@dataclass(frozen=True)
class WordTokenizer:
    """Words as ids: 0 is padding, 1 an unknown word, then ``vocab`` in order.

    Build one from the meta-training texts with :meth:`fit`: words seen fewer
    than ``min_count`` times there, and words that only meta-test texts use,
    become ``unk_id``. Texts are split by :func:`split_words` (lower case;
    punctuation marks are words of their own; ``___``, the definitions' mask, is
    one word).

    Args:
        vocab: the known words, in id order (ids ``2 .. len(vocab)+1``).
        max_len: ids per text (words beyond it are cut).
    """

    vocab: tuple[str, ...]
    max_len: int = 32
    pad_id: int = field(default=0, init=False)
    unk_id: int = field(default=1, init=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_count("max_len", self.max_len, 1)
        if (
            not isinstance(self.vocab, tuple)
            or not self.vocab
            or not all(isinstance(w, str) and w for w in self.vocab)
        ):
            raise ConfigError(
                "vocab must be a non-empty tuple of non-empty strings"
            )
        if len(set(self.vocab)) != len(self.vocab):
            raise ConfigError("vocab has repeated words")
        object.__setattr__(
            self, "_index", {w: i + 2 for i, w in enumerate(self.vocab)}
        )

    def __repr__(self) -> str:
        return (
            f"WordTokenizer(vocab_size={self.vocab_size}, "
            f"max_len={self.max_len})"
        )

    @classmethod
    def fit(
        cls, texts: Sequence[str], max_len: int = 32, min_count: int = 2
    ) -> WordTokenizer:
        """A tokeniser whose vocabulary is every word used at least
        ``min_count`` times in ``texts``.

        Words are ordered by decreasing count, ties alphabetically, so the
        result does not depend on the order of ``texts``.
        """
        check_count("min_count", min_count, 1)
        counts = Counter(w for text in texts for w in split_words(text))
        vocab = tuple(
            w
            for w, n in sorted(
                counts.items(), key=lambda item: (-item[1], item[0])
            )
            if n >= min_count
        )
        if not vocab:
            raise ConfigError(
                f"no word occurs min_count={min_count} times in "
                f"the {len(texts)} texts"
            )
        return cls(vocab, max_len)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 2

    def encode(self, texts: Sequence[str]) -> Tensor:
        """``(len(texts), max_len)`` int64 ids, right-padded with ``pad_id``."""
        out = np.zeros((len(texts), self.max_len), dtype=np.int64)
        for i, text in enumerate(texts):
            ids = [
                self._index.get(w, self.unk_id)
                for w in split_words(text)[: self.max_len]
            ]
            out[i, : len(ids)] = ids
        return torch.from_numpy(out)

    __call__ = encode

    def decode(self, ids: Tensor) -> list[str]:
        """The texts of a ``(n, max_len)`` batch of ids, words joined by spaces
        (unknowns as ``<unk>``)."""
        words = ("", "<unk>") + self.vocab
        rows = ids.reshape(-1, ids.shape[-1]).tolist()
        return [
            " ".join(words[v] for v in row if v != self.pad_id) for row in rows
        ]


Tokenizer = ByteTokenizer | CharTokenizer | WordTokenizer


UNITS = ("bytes", "chars", "words")


def make_tokenizer(
    unit: str, max_len: int, train_texts: Sequence[str], min_count: int = 2
) -> Tokenizer:
    """``"bytes"``: a :class:`ByteTokenizer`; ``"chars"``/``"words"``: a
    :class:`CharTokenizer`/ :class:`WordTokenizer` fitted on ``train_texts``
    (words need ``min_count`` occurrences)."""
    if unit == "bytes":
        return ByteTokenizer(max_len)
    if unit == "chars":
        return CharTokenizer.fit(train_texts, max_len)
    if unit == "words":
        return WordTokenizer.fit(train_texts, max_len, min_count)
    raise ConfigError(f"unit={unit!r} must be one of {UNITS}")


# ---------------------------------------------------------------- the splits
@dataclass(frozen=True)
class ClassTexts:
    """The labelled texts of one split.

    Attributes:
        texts: the examples, class by class.
        labels: ``(n,)`` int64; ``labels[i]`` indexes ``classes`` (ids are local
            to the split).
        classes: a stable key per class (``"dog.n.01"``, ``"fi"``), in the
            seeded order of the split, so ``classes[:m]`` are ``m`` random
            classes and larger prefixes contain smaller ones.
        class_names: a readable name per class (``"dog"``, ``"Finnish"``).
    """

    texts: tuple[str, ...]
    labels: Tensor
    classes: tuple[str, ...]
    class_names: tuple[str, ...]

    @staticmethod
    def from_groups(
        groups: Sequence[tuple[str, str, Sequence[str]]],
    ) -> ClassTexts:
        """Build a split from ``(key, name, texts)`` per class, labelled ``0, 1,
        ...`` in that order."""
        texts = tuple(t for _, _, ts in groups for t in ts)
        labels = torch.repeat_interleave(
            torch.arange(len(groups)),
            torch.tensor([len(ts) for _, _, ts in groups]),
        )
        return ClassTexts(
            texts,
            labels,
            tuple(k for k, _, _ in groups),
            tuple(n for _, n, _ in groups),
        )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def texts_of(self, cls: int | str) -> list[str]:
        """The texts of one class, given its label or its key."""
        label = self.classes.index(cls) if isinstance(cls, str) else cls
        return [
            self.texts[i]
            for i in torch.nonzero(self.labels == label).flatten().tolist()
        ]

    def subset(self, classes: Sequence[str]) -> ClassTexts:
        """The same data restricted to ``classes`` (keys), relabelled ``0, 1,
        ...`` in the given order."""
        unknown = [c for c in classes if c not in self.classes]
        if unknown:
            raise ConfigError(
                f"classes {unknown} are not in this split (it "
                f"has {list(self.classes)})"
            )
        if len(set(classes)) != len(classes):
            raise ConfigError(f"classes {list(classes)} has repeats")
        names = dict(zip(self.classes, self.class_names))
        return ClassTexts.from_groups(
            [(c, names[c], self.texts_of(c)) for c in classes]
        )

    def sampler(
        self,
        n_way: int,
        k_shot: int,
        n_query: int,
        collate: Tokenizer,
        generator: torch.Generator | None = None,
    ) -> EpisodeSampler:
        """An :class:`~metabook.EpisodeSampler` over this split; ``collate``
        turns texts into ids."""
        return EpisodeSampler(
            self.texts,
            self.labels,
            n_way,
            k_shot,
            n_query,
            generator=generator,
            collate=collate,
        )


@dataclass(frozen=True)
class TextSplits:
    """Meta-train, meta-validation and meta-test classes (disjoint) and their
    tokeniser.

    Episodes from :meth:`sampler` have ``support_x`` of shape ``(n_way * k_shot,
    tokenizer.max_len)`` and ``info["classes"]``, the labels of the episode's
    classes in the split (``split.classes[i]`` is the key).
    """

    train: ClassTexts
    val: ClassTexts
    test: ClassTexts
    tokenizer: Tokenizer

    def __iter__(self) -> Iterator[ClassTexts]:
        return iter((self.train, self.val, self.test))

    def __getitem__(self, split: str) -> ClassTexts:
        if split not in SPLITS:
            raise ConfigError(f"split={split!r} must be one of {SPLITS}")
        return getattr(self, split)

    def sampler(
        self,
        split: str,
        n_way: int,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
    ) -> EpisodeSampler:
        """An :class:`~metabook.EpisodeSampler` of ``n_way``-way ``k_shot``-shot
        episodes over ``split``."""
        return self[split].sampler(
            n_way, k_shot, n_query, self.tokenizer, generator
        )

    def with_tokenizer(self, tokenizer: Tokenizer) -> TextSplits:
        """The same splits encoded by another tokeniser."""
        return replace(self, tokenizer=tokenizer)


def check_fractions(fractions: Sequence[float]) -> None:
    if (
        not isinstance(fractions, (tuple, list))
        or len(fractions) != 3
        or any(
            isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 0
            for f in fractions
        )
    ):
        raise ConfigError(
            f"fractions={fractions!r} must be three positive "
            "numbers (train, val, test)"
        )


def split_sizes(
    n_classes: int, fractions: tuple[float, float, float]
) -> tuple[int, int, int]:
    """Classes per split: validation and test get ``round(fraction *
    n_classes)``, training the rest."""
    check_fractions(fractions)
    total = sum(fractions)
    n_val = round(fractions[1] / total * n_classes)
    n_test = round(fractions[2] / total * n_classes)
    sizes = (n_classes - n_val - n_test, n_val, n_test)
    if min(sizes) < 2:
        raise ConfigError(
            f"{n_classes} classes split by fractions={fractions} gives "
            f"{sizes} classes; "
            "every split needs at least 2"
        )
    return sizes


def seeded_order(keys: Sequence[str], seed: int) -> list[str]:
    """``keys`` sorted, then shuffled by a generator seeded with ``seed``."""
    keys = sorted(keys)
    perm = torch.randperm(
        len(keys), generator=torch.Generator().manual_seed(seed)
    )
    return [keys[i] for i in perm.tolist()]
