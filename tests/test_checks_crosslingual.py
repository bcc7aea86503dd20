"""The self-checks of "Cross-lingual transfer": right answers pass, typical
mistakes get a helpful message."""

from __future__ import annotations

import random

import pytest
import torch

from metabook.checks import CheckFailed
from metabook.checks import crosslingual as checks

# -------------------------------------------------------------- language splits


def right_split(languages, test_languages, n_val, seed):
    rest = sorted(lang for lang in languages if lang not in test_languages)
    random.Random(seed).shuffle(rest)
    return rest[n_val:], rest[:n_val], list(test_languages)


def leaky_split(languages, test_languages, n_val, seed):
    """The classic mistake: shuffle *all* languages for meta-training, then add
    the test ones."""
    every = sorted(languages)
    random.Random(seed).shuffle(every)
    val = [lang for lang in every if lang not in test_languages][:n_val]
    return (
        [lang for lang in every if lang not in val],
        val,
        list(test_languages),
    )


def test_splits_pass_on_disjoint_languages(capsys):
    checks.check_splits(["en", "fr"], ["de"], ["fi", "hu"])
    assert "no language in two splits" in capsys.readouterr().out


def test_splits_accept_class_texts():
    from metabook.tasks import ClassTexts

    parts = [
        ClassTexts.from_groups([(c, c, ["w"]) for c in codes])
        for codes in (["en", "fr"], ["de"], ["fi"])
    ]
    checks.check_splits(*parts, quiet=True)


@pytest.mark.parametrize(
    "train, val, test, message",
    [
        (["en", "fi"], ["de"], ["fi", "hu"], "also meta-training languages"),
        (["en"], ["fi"], ["fi", "hu"], "both meta-validation and meta-test"),
        (
            ["en", "de"],
            ["de"],
            ["fi"],
            "both meta-training and meta-validation",
        ),
        (["en", "en"], ["de"], ["fi"], "more than once"),
        ("en", ["de"], ["fi"], "list or tuple"),
        ([1, 2], ["de"], ["fi"], "not language codes"),
    ],
    ids=["train-test", "val-test", "train-val", "repeat", "string", "ints"],
)
def test_split_mistakes_are_named(train, val, test, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_splits(train, val, test)


def test_language_split_passes(capsys):
    checks.check_language_split(right_split)
    assert "test languages stay out" in capsys.readouterr().out


def unseeded(languages, test_languages, n_val, seed):
    return right_split(languages, test_languages, n_val, random.random())


@pytest.mark.parametrize(
    "wrong, message",
    [
        (leaky_split, "no longer unseen"),
        (
            lambda langs, test, n_val, seed: right_split(
                langs, test, n_val, seed
            )[:2],
            "three lists",
        ),
        (
            lambda langs, test, n_val, seed: right_split(
                langs, test, n_val, seed
            )[0],
            "return three lists",
        ),
        (
            lambda langs, test, n_val, seed: (
                lambda tr, va, te: (tr + te[:1], va, te)
            )(*right_split(langs, test, n_val, seed)),
            "also meta-training languages",
        ),
        (
            lambda langs, test, n_val, seed: (
                lambda tr, va, te: (tr, va + te[:1], te)
            )(*right_split(langs, test, n_val, seed)),
            "both meta-validation and meta-test",
        ),
        (
            lambda langs, test, n_val, seed: (
                lambda tr, va, te: (tr[1:], va, te)
            )(*right_split(langs, test, n_val, seed)),
            "in no split",
        ),
        (
            lambda langs, test, n_val, seed: right_split(
                langs, test, n_val + 1, seed
            ),
            "n_val=",
        ),
        (
            lambda langs, test, n_val, seed: right_split(langs, test, n_val, 0),
            "same meta-validation languages",
        ),
        (unseeded, "different splits"),
        (
            lambda langs, test, n_val, seed: (
                lambda tr, va, te: (tr, va, tr[: len(test)])
            )(*right_split(langs, test, n_val, seed)),
            "fixed in advance",
        ),
        (
            lambda langs, test, n_val, seed: (
                lambda tr, va, te: (tr + ["xx"], va, te)
            )(*right_split(langs, test, n_val, seed)),
            "not among",
        ),
        (lambda langs, test, n_val, seed: 1 / 0, "ZeroDivisionError"),
    ],
    ids=[
        "leak",
        "two-parts",
        "one-list",
        "train-has-test",
        "val-has-test",
        "missing",
        "n_val",
        "ignores-seed",
        "unseeded",
        "drawn-test",
        "unknown",
        "raises",
    ],
)
def test_language_split_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_language_split(wrong)


# ------------------------------------------------------------- confusion matrix


def right_confusion(true, pred, n_classes):
    counts = torch.zeros(n_classes, n_classes)
    for t, p in zip(true.tolist(), pred.tolist()):
        counts[t, p] += 1
    return counts / counts.sum(1, keepdim=True).clamp(min=1)


def counts_of(true, pred, n):
    return torch.bincount(true * n + pred, minlength=n * n).view(n, n).float()


def test_confusion_matrix_passes(capsys):
    checks.check_confusion_matrix(right_confusion)
    assert "rows sum to 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (counts_of, "holds counts"),
        (
            lambda t, p, n: (
                counts_of(t, p, n)
                / counts_of(t, p, n).sum(0, keepdim=True).clamp(min=1)
            ),
            "column",
        ),
        (lambda t, p, n: right_confusion(t, p, n).T, "transposed"),
        (lambda t, p, n: right_confusion(p, t, n), "precision view"),
        (lambda t, p, n: counts_of(t, p, n) / len(t), "whole matrix sums to 1"),
        (
            lambda t, p, n: (
                counts_of(t, p, n) / counts_of(t, p, n).sum(1, keepdim=True)
            ),
            "nan",
        ),
        (lambda t, p, n: right_confusion(t, p, n)[:, :-1], "shape"),
        (lambda t, p, n: right_confusion(t, p, n).tolist(), "torch.Tensor"),
        (
            lambda t, p, n: right_confusion(t, p, n) + 0.01,
            r"entry \[\d, \d\] "
            r"is",
        ),
        (lambda t, p, n: 1 / 0, "ZeroDivisionError"),
    ],
    ids=[
        "counts",
        "columns",
        "transposed",
        "precision",
        "total",
        "nan",
        "shape",
        "list",
        "offset",
        "raises",
    ],
)
def test_confusion_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_confusion_matrix(wrong)
