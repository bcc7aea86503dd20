"""Words → language: frequent words of 42 languages, labelled by their language.

An example is one word (``"että"``); its class is a language (``fi``, Finnish).
A task asks which of ``n_way`` languages each query word comes from, given
``k_shot`` words of each. Languages, not words, are split between meta-train,
meta-validation and meta-test, so a meta-test task is about languages never seen
in meta-training. The words are the most frequent of each language in wordfreq
(Speer, 2022; ``speer2022wordfreq`` in references.bib): its ``small`` lists,
which ship in the wheel, so nothing is downloaded, and which are already
segmented, so no tokeniser such as MeCab or jieba is needed.

Choices, each a field of :class:`WordLanguages`:

* **Words, not numbers.** Only words made of letters and combining marks (plus
  apostrophes, hyphens and zero-width joiners, as in ``aujourd'hui`` and Persian
  ``می‌شود``) are kept: digits, emoji and punctuation say nothing of a language.
  wordfreq lower-cases (case-folds) its lists, so Greek final ``ς`` appears as
  ``σ``.
* **Shared words.** Many frequent words belong to several languages: ``a``,
  ``de``, ``no``, loanwords, English in everyone's web text, and whole
  vocabularies where languages are close (Malay/Indonesian, Bokmål/Danish,
  Serbo-Croatian/Slovenian). With ``shared="drop"`` (the default) a word is
  dropped from every language if it is among the ``pool × n_words`` most
  frequent words of two selected languages, and each language keeps its
  ``n_words`` most frequent remaining words (reading further down its list where
  needed; words two languages reach that way are dropped too). No word then has
  two labels, at a price: English starts at *they, when, were*, and Malay, close
  to Indonesian, loses most of its top 1,000 words. With ``shared="keep"`` each
  language keeps its top ``n_words`` as they are, so the same string can carry
  two labels: a failure case that a later chapter discusses.
* **The split.** Languages are ordered by ``seed`` and split 64/16/20; or
  ``test_languages`` fixes the meta-test languages and the rest are split into
  meta-train and meta-validation in the same 64:16 ratio. ``train.classes`` is
  in the seeded order, so ``data.train.subset(data.train.classes[:m])`` gives
  ``m`` meta-training languages, nested as ``m`` grows.

wordfreq, by Robyn Speer, is under the Apache licence 2.0, and its word lists
(built from Wikipedia, subtitles, news, books, web text and social media) may be
redistributed under CC-BY-SA 4.0
(https://creativecommons.org/licenses/by-sa/4.0/): credit wordfreq and share
data derived from the lists under the same licence.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .text import (
    ClassTexts,
    TextSplits,
    check_count,
    check_fractions,
    make_tokenizer,
    require,
    seeded_order,
    split_sizes,
)

#: Every language with a wordfreq ``small`` list in wordfreq 3.1.1, and its
#: English name.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan",
    "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish",
    "fil": "Filipino", "fr": "French", "he": "Hebrew", "hi": "Hindi",
    "hu": "Hungarian", "id": "Indonesian", "is": "Icelandic", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian",
    "mk": "Macedonian", "ms": "Malay", "nb": "Norwegian Bokmål", "nl": "Dutch",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sh": "Serbo-Croatian", "sk": "Slovak", "sl": "Slovenian", "sv": "Swedish",
    "ta": "Tamil", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
LANGUAGES: tuple[str, ...] = tuple(sorted(LANGUAGE_NAMES))

_INSTALL = "wordfreq==3.1.1"
_PURPOSE = "WordLanguages (the wordfreq word lists)"
_JOINERS = frozenset("'’-\u200c\u200d")


def is_word(token: str) -> bool:
    """Letters and combining marks (and apostrophes, hyphens, zero-width
    joiners), with at least one letter."""
    categories = [
        unicodedata.category(ch)[0] if ch not in _JOINERS else "J"
        for ch in token
    ]
    return "L" in categories and all(c in "LMJ" for c in categories)


@functools.lru_cache(maxsize=256)
def _ranked(language: str, n: int) -> tuple[str, ...]:
    """Up to ``n`` most frequent words (:func:`is_word`) of ``language``, most
    frequent first."""
    import wordfreq

    ask = 2 * n + 100
    while True:
        tokens = wordfreq.top_n_list(language, ask, wordlist="small")
        words = [w for w in tokens if is_word(w)]
        if len(words) >= n or len(tokens) < ask:  # enough, or the whole list
            return tuple(words[:n])
        ask *= 2


@functools.lru_cache(maxsize=16)
def _words(
    languages: tuple[str, ...], n_words: int, shared: str, pool: int
) -> tuple[tuple[str, ...], ...]:
    """The ``n_words`` words of each language (fewer if its list runs out), in
    the order of ``languages``."""
    if shared == "keep":
        return tuple(_ranked(lang, n_words) for lang in languages)
    owners: dict[str, set[str]] = {}
    for lang in languages:
        for w in _ranked(lang, pool * n_words):
            owners.setdefault(w, set()).add(lang)
    banned = {w for w, langs in owners.items() if len(langs) > 1}
    while True:
        lists = [
            _unshared(lang, n_words, pool * n_words, banned)
            for lang in languages
        ]
        # A language that ran past its top pool * n_words words may meet
        # another's deep words.
        seen: dict[str, int] = {}
        for words in lists:
            for w in words:
                seen[w] = seen.get(w, 0) + 1
        clashes = {w for w, count in seen.items() if count > 1}
        if not clashes:
            return tuple(lists)
        banned |= clashes


def _unshared(
    language: str, n_words: int, depth: int, banned: set[str]
) -> tuple[str, ...]:
    """The ``n_words`` most frequent words of ``language`` not in ``banned``."""
    while True:
        ranked = _ranked(language, depth)
        mine = [w for w in ranked if w not in banned]
        if len(mine) >= n_words or len(ranked) < depth:
            return tuple(mine[:n_words])
        depth *= 2


@dataclass(frozen=True)
class WordLanguages:
    """Frequent words labelled by language (see the module docstring).

    Args:
        languages: the wordfreq language codes to use (default: all of
            :data:`LANGUAGES`).
        test_languages: meta-test languages chosen by hand (the rest are split
            by ``seed``); ``None`` draws them by ``seed`` too.
        n_words: words per language.
        shared: ``"drop"`` words that several selected languages share, or
            ``"keep"`` them.
        pool: a word is shared if it is among the ``pool * n_words`` most
            frequent words of two languages.
        fractions: relative shares of languages for meta-train, meta-val and
            meta-test (with ``test_languages``, only the first two are used).
        unit: ``"bytes"`` (:class:`ByteTokenizer`) or ``"chars"`` (a
            :class:`CharTokenizer` fitted on the meta-training words).
        max_len: tokens per word (longer words are cut; 32 bytes keep >99%
            whole).
        seed: the order of languages, hence the split, is drawn from it.

    Example:
        >>> data = WordLanguages(test_languages=("fi", "hu", "tr")).load()
        >>> data.test.class_names
        ('Finnish', 'Hungarian', 'Turkish')
    """

    languages: tuple[str, ...] | None = None
    test_languages: tuple[str, ...] | None = None
    n_words: int = 1000
    shared: str = "drop"
    pool: int = 2
    fractions: tuple[float, float, float] = (0.64, 0.16, 0.20)
    unit: str = "bytes"
    max_len: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_count("n_words", self.n_words, 2)
        check_count("pool", self.pool, 1)
        check_count("max_len", self.max_len, 1)
        check_count("seed", self.seed, 0)
        if self.unit not in ("bytes", "chars"):
            raise ConfigError(
                f"unit={self.unit!r} must be 'bytes' or 'chars': every "
                "example is one word, so a word "
                "vocabulary would turn every unseen word into the unknown id"
            )
        if self.shared not in ("drop", "keep"):
            raise ConfigError(
                f"shared={self.shared!r} must be 'drop' or 'keep'"
            )
        selected = self.selected()
        unknown = [
            lang
            for lang in selected + tuple(self.test_languages or ())
            if lang not in LANGUAGE_NAMES
        ]
        if unknown:
            raise ConfigError(
                f"unknown languages {unknown}; wordfreq's small "
                f"lists cover {list(LANGUAGES)}"
            )
        if len(set(selected)) != len(selected):
            raise ConfigError(f"languages={selected} has repeats")
        if self.test_languages is not None:
            test = tuple(self.test_languages)
            if len(set(test)) != len(test) or len(test) < 2:
                raise ConfigError(
                    f"test_languages={test} must be at least 2 "
                    "different languages"
                )
            outside = [lang for lang in test if lang not in selected]
            if outside:
                raise ConfigError(
                    f"test_languages {outside} are not among "
                    f"languages={selected}"
                )
            check_fractions(self.fractions)
            _two_way(len(selected) - len(test), self.fractions)
        else:
            split_sizes(len(selected), self.fractions)

    def selected(self) -> tuple[str, ...]:
        """The languages in use (``languages`` or all of :data:`LANGUAGES`)."""
        return LANGUAGES if self.languages is None else tuple(self.languages)

    def words(self) -> dict[str, tuple[str, ...]]:
        """The words of every selected language, most frequent first (cached).

        Raises:
            MissingDataError: if ``wordfreq`` is not installed.
        """
        require("wordfreq", _INSTALL, _PURPOSE)
        languages = self.selected()
        lists = _words(
            tuple(sorted(languages)), self.n_words, self.shared, self.pool
        )
        short = {
            lang: len(ws)
            for lang, ws in zip(sorted(languages), lists)
            if len(ws) < self.n_words
        }
        if short:
            raise ConfigError(
                f"n_words={self.n_words} but these languages "
                f"have fewer words: {short}"
            )
        return dict(zip(sorted(languages), lists))

    def load(self) -> TextSplits:
        """The meta-train, meta-val and meta-test languages (the same for the
        same settings).

        Raises:
            MissingDataError: if ``wordfreq`` is not installed.
        """
        words = self.words()
        group = {
            lang: (lang, LANGUAGE_NAMES[lang], words[lang]) for lang in words
        }
        if self.test_languages is None:
            order = seeded_order(list(words), self.seed)
            n_train, n_val, _ = split_sizes(len(order), self.fractions)
            parts = [
                order[:n_train],
                order[n_train : n_train + n_val],
                order[n_train + n_val :],
            ]
        else:
            test = list(self.test_languages)
            order = seeded_order(
                [lang for lang in words if lang not in test], self.seed
            )
            n_train, n_val = _two_way(len(order), self.fractions)
            parts = [order[:n_train], order[n_train:], test]
        train, val, test_split = (
            ClassTexts.from_groups([group[k] for k in part]) for part in parts
        )
        return TextSplits(
            train,
            val,
            test_split,
            make_tokenizer(self.unit, self.max_len, train.texts),
        )


def _two_way(n: int, fractions: Sequence[float]) -> tuple[int, int]:
    """Meta-train and meta-val sizes when the meta-test languages are fixed."""
    n_val = round(fractions[1] / (fractions[0] + fractions[1]) * n)
    if n - n_val < 2 or n_val < 2:
        raise ConfigError(
            f"{n} languages left after test_languages split "
            f"{fractions[0]}:{fractions[1]} gives "
            f"{n - n_val} meta-train and {n_val} meta-val languages; each "
            "split needs at least 2"
        )
    return n - n_val, n_val
