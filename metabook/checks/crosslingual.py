"""Self-checks for the chapter "Cross-lingual transfer: words to languages".

* :func:`check_splits`: are the meta-train, meta-val and meta-test *languages*
  disjoint, so that a meta-test language is never seen in meta-training?
* :func:`check_language_split`: does a learner's ``split_languages(languages,
  test_languages, n_val, seed)`` keep the given test languages out of
  meta-training and meta-validation, use every language once, and follow its
  seed?
* :func:`check_confusion_matrix`: does ``confusion_matrix(true, pred,
  n_classes)`` return, in row ``i``, where the examples of true class ``i`` went
  (each row sums to 1)?
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from . import CheckFailed, call_user, passed

# -------------------------------------------------------------- language splits

_SPLIT_NAMES = ("meta-train", "meta-val", "meta-test")


def _codes(name: str, part: Any) -> list[str]:
    """Language codes of one split: a sequence of strings, or anything with
    ``.classes`` (a ClassTexts)."""
    if hasattr(part, "classes") and not isinstance(part, (str, Tensor)):
        part = part.classes
    if isinstance(part, str) or not isinstance(
        part, (list, tuple, set, frozenset)
    ):
        raise CheckFailed(
            f"the {name} languages are a {type(part).__name__}; give a list "
            "or tuple of language codes such as ['fi', 'hu']"
        )
    codes = list(part)
    bad = [c for c in codes if not isinstance(c, str)]
    if bad:
        raise CheckFailed(
            f"the {name} languages contain {bad[:3]!r}, which "
            "are not language codes (strings)"
        )
    return codes


def check_splits(train: Any, val: Any, test: Any, quiet: bool = False) -> None:
    """Meta-train, meta-val and meta-test languages must be disjoint (and have
    no repeats).

    Args:
        train, val, test: the language codes of each split (sequences of
            strings, or :class:`~metabook.tasks.ClassTexts` whose ``classes``
            are the codes).
        quiet: do not print the confirmation.
    """
    parts = [_codes(n, p) for n, p in zip(_SPLIT_NAMES, (train, val, test))]
    for name, codes in zip(_SPLIT_NAMES, parts):
        repeats = sorted({c for c in codes if codes.count(c) > 1})
        if repeats:
            raise CheckFailed(
                f"the {name} split lists {repeats} more than "
                "once; each language belongs to one split, once"
            )
    train_set, val_set, test_set = (set(p) for p in parts)
    if train_set & test_set:
        raise CheckFailed(
            f"meta-test languages {sorted(train_set & test_set)} are also "
            "meta-training languages: a test language "
            "that the encoder saw in meta-training is no longer unseen, so "
            "its accuracy measures memory, not transfer. "
            "Choose the meta-training languages among those that are not "
            "meta-test languages."
        )
    if val_set & test_set:
        raise CheckFailed(
            f"languages {sorted(val_set & test_set)} are both meta-validation "
            "and meta-test languages: settings chosen "
            "on them would be tuned to the test. Take the meta-validation "
            "languages from the non-test languages."
        )
    if train_set & val_set:
        raise CheckFailed(
            f"languages {sorted(train_set & val_set)} are both meta-training "
            "and meta-validation languages: "
            "validation would then reward remembering them. Keep the two "
            "splits disjoint."
        )
    if not quiet:
        passed(
            f"{len(train_set)} meta-train, {len(val_set)} meta-val, "
            f"{len(test_set)} meta-test languages; "
            "no language in two splits"
        )


def _split_result(result: Any) -> list[list[str]]:
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise CheckFailed(
            f"split_languages returned a {type(result).__name__}"
            + (
                f" of length {len(result)}"
                if isinstance(result, (tuple, list))
                else ""
            )
            + "; return three lists of language codes: (train, val, test)"
        )
    return [_codes(n, p) for n, p in zip(_SPLIT_NAMES, result)]


def check_language_split(
    split_languages: Callable[[Sequence[str], Sequence[str], int, int], Any],
) -> None:
    """``split_languages(languages, test_languages, n_val, seed)`` must return
    ``(train, val, test)``:

    * ``test`` is exactly ``test_languages`` (they are fixed by hand, not
      drawn);
    * ``val`` has ``n_val`` languages and ``train`` the rest, both drawn (by
      ``seed``) from the languages that are *not* test languages;
    * every language is in exactly one split; the same seed gives the same
      split, and another seed (usually) another one.
    """
    from ..tasks import LANGUAGES

    cases = [
        (tuple(LANGUAGES), ("es", "pt", "uk", "el"), 3),
        (
            ("de", "en", "fi", "fr", "hu", "it", "nl", "ru", "sv", "tr"),
            ("fi", "hu"),
            2,
        ),
    ]
    for languages, test_languages, n_val in cases:
        first = _split_result(
            call_user(
                split_languages, list(languages), list(test_languages), n_val, 0
            )
        )
        train, val, test = first
        if set(test) != set(test_languages) or len(test) != len(test_languages):
            raise CheckFailed(
                f"with test_languages={list(test_languages)} your meta-test "
                f"split is {sorted(test)}: the meta-test "
                "languages are fixed in advance (the same for every run, so "
                "results can be compared), so return "
                "them as they are instead of drawing them."
            )
        outside = sorted(set(train + val) - set(languages))
        if outside:
            raise CheckFailed(
                f"your splits contain {outside}, which are not "
                "among the languages you were given"
            )
        check_splits(train, val, test, quiet=True)
        if len(val) != n_val:
            raise CheckFailed(
                f"the meta-validation split has {len(val)} "
                f"languages, expected n_val={n_val}"
            )
        missing = sorted(set(languages) - set(train + val + test))
        if missing:
            raise CheckFailed(
                f"languages {missing} are in no split: every language that is "
                "not a test or validation language "
                "should be a meta-training language (more meta-training "
                "languages transfer better)."
            )
        again = _split_result(
            call_user(
                split_languages, list(languages), list(test_languages), n_val, 0
            )
        )
        if [sorted(p) for p in again] != [sorted(p) for p in first]:
            raise CheckFailed(
                "two calls with seed=0 gave different splits: draw the order "
                "from a generator seeded with `seed` "
                "(torch.Generator().manual_seed(seed) or "
                "random.Random(seed)), not from global randomness."
            )
        others = [
            _split_result(
                call_user(
                    split_languages,
                    list(languages),
                    list(test_languages),
                    n_val,
                    s,
                )
            )
            for s in (1, 2, 3)
        ]
        if all(sorted(o[1]) == sorted(val) for o in others):
            raise CheckFailed(
                "seeds 0, 1, 2 and 3 all give the same meta-validation "
                "languages: is `seed` used to shuffle the "
                "non-test languages before taking n_val of them?"
            )
    passed(
        "test languages stay out of meta-training and meta-validation; "
        "every language used once; the seed is followed"
    )


# ------------------------------------------------------------- confusion matrix


def _counts(true: Tensor, pred: Tensor, n: int) -> Tensor:
    return (
        torch.bincount(true * n + pred, minlength=n * n)
        .view(n, n)
        .to(torch.float64)
    )


def _rows_normalised(counts: Tensor) -> Tensor:
    return counts / counts.sum(1, keepdim=True).clamp(min=1)


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b, rtol=1e-6, atol=1e-9)
    )


def _diagnose_confusion(got: Tensor, counts: Tensor) -> str:
    expected = _rows_normalised(counts)
    cols = counts / counts.sum(0, keepdim=True).clamp(min=1)
    if _close(got, counts):
        return (
            "it holds counts: entry [i, j] is the number of examples of class "
            "i predicted as j. Divide each row by "
            "its total (the number of examples of class i), so that row i "
            "says which fraction of class i went where."
        )
    if _close(got, cols):
        return (
            "each *column* sums to 1: you divided by how often each class was "
            "*predicted*. That answers 'of the "
            "words called j, which language were they?'. The confusion matrix "
            "asks 'where did the words of "
            "language i go?': divide each row by its own total, counts.sum(1, "
            "keepdim=True)."
        )
    if _close(got, expected.T):
        return (
            "it is transposed: rows are predicted classes and columns true "
            "ones. Use confusion[i, j] = fraction "
            "of the examples of true class i that were predicted as j (count "
            "with true as the row index)."
        )
    if _close(got, cols.T):
        return (
            "rows are predicted classes and each row sums to 1: that is "
            "P(true | predicted), the precision view. "
            "Swap the roles: row i is true class i and is divided by the "
            "number of examples of class i."
        )
    if _close(got, counts / counts.sum()):
        return (
            "the whole matrix sums to 1 (you divided by the number of "
            "examples); divide each row by its own total "
            "instead, so that every class with examples has a row that sums "
            "to 1, however many examples it has."
        )
    worst = (got - expected).abs().flatten().argmax().item()
    i, j = divmod(int(worst), expected.shape[1])
    return (
        f"entry [{i}, {j}] is {got[i, j].item():.4g}, expected "
        f"{expected[i, j].item():.4g}."
    )


def check_confusion_matrix(
    confusion_matrix: Callable[[Tensor, Tensor, int], Tensor],
) -> None:
    """``confusion_matrix(true, pred, n_classes)`` must return the
    row-normalised confusion matrix.

    Entry ``[i, j]`` is the fraction of the examples of true class ``i`` that
    were predicted as ``j``, so every row of a class with examples sums to 1,
    and a class that never occurs in ``true`` has a row of zeros (not ``nan``).
    The check uses classes of different sizes and lopsided mistakes, so rows and
    columns, and a matrix and its transpose, differ.
    """
    g = torch.Generator().manual_seed(0)
    n = 4
    sizes = [30, 10, 50, 20]
    true = torch.cat([torch.full((s,), k) for k, s in enumerate(sizes)])
    pred = true.clone()
    wrong = (
        torch.rand(len(true), generator=g)
        < torch.tensor([0.1, 0.5, 0.3, 0.2])[true]
    )
    # lopsided mistakes: confusion is not symmetric
    pred[wrong] = torch.tensor([1, 2, 0, 0])[true[wrong]]
    order = torch.randperm(len(true), generator=g)
    cases = [
        ("4 classes of 30, 10, 50 and 20 examples", true[order], pred[order], n)
    ]
    # class 2 is never a true label, but it is predicted
    true2 = torch.tensor([0, 0, 0, 1, 1, 3, 3, 3, 3])
    pred2 = torch.tensor([0, 2, 0, 1, 2, 3, 0, 3, 2])
    cases.append(
        ("a class that is predicted but never the true label", true2, pred2, 4)
    )
    for name, t, p, k in cases:
        result = call_user(confusion_matrix, t.clone(), p.clone(), k)
        if not isinstance(result, Tensor):
            raise CheckFailed(
                "confusion_matrix returned a "
                f"{type(result).__name__}; return a "
                "torch.Tensor of shape (n_classes, n_classes)"
            )
        got = result.detach().cpu().to(torch.float64)
        if got.shape != (k, k):
            raise CheckFailed(
                f"{name}: the result has shape "
                f"{tuple(got.shape)}, expected (n_classes, "
                f"n_classes) = {(k, k)}"
            )
        counts = _counts(t, p, k)
        if torch.isnan(got).any():
            rows = sorted(
                {int(i) for i in torch.nonzero(torch.isnan(got))[:, 0].tolist()}
            )
            raise CheckFailed(
                f"{name}: rows {rows} contain nan. Class {rows[0]} has no "
                "examples, so its row total is 0 and 0/0 = nan; "
                "divide by the totals clamped to at least 1 (.clamp(min=1)) "
                "so that such a row is all zeros."
            )
        if not _close(got, _rows_normalised(counts)):
            raise CheckFailed(f"{name}: " + _diagnose_confusion(got, counts))
    passed(
        "confusion[i, j] is the fraction of class i predicted as j: rows "
        "sum to 1, empty classes give zero rows"
    )
