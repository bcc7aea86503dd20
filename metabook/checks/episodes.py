"""Self-checks for the chapter "Tasks and episodes".

* :func:`check_episode`: is an episode a valid N-way K-shot episode (shapes,
  labels ``0..n_way-1``, support and query disjoint, labels consistent with the
  classes)?
* :func:`check_split_classes`: does a learner's ``split_classes(labels,
  fractions, generator)`` split the *classes* into disjoint meta-train /
  meta-val / meta-test sets?
* :func:`check_count_class_subsets`: does ``count(n_classes, n_way)`` count the
  distinct sets of classes an N-way episode can use?
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..episode import Episode
from . import CheckFailed, passed

# --------------------------------------------------------------------- episodes


def _label_counts(
    name: str, y: Tensor, n_way: int, per_class: int, what: str
) -> None:
    if y.dim() != 1:
        raise CheckFailed(
            f"{name} has shape {tuple(y.shape)}; class labels "
            "should be a 1-D tensor of ints"
        )
    if y.is_floating_point():
        raise CheckFailed(
            f"{name} has dtype {y.dtype}; class labels should "
            "be integers (torch.long)"
        )
    values = sorted(set(y.tolist()))
    if values != list(range(n_way)):
        raise CheckFailed(
            f"{name} uses the labels "
            f"{values[:10]}{' ...' if len(values) > 10 else ''}, expected "
            f"0..{n_way - 1}. "
            "An episode relabels its n_way classes 0..n_way-1; keep the "
            "original class ids in info['classes']."
        )
    counts = torch.bincount(y, minlength=n_way)
    for label, count in enumerate(counts.tolist()):
        if count != per_class:
            raise CheckFailed(
                f"label {label} appears {count} times in {name}, expected "
                f"{per_class} ({what} per class)"
            )


def _rows(x: Tensor) -> list[tuple]:
    return [tuple(row) for row in x.reshape(x.shape[0], -1).tolist()]


def check_episode(
    episode: Episode,
    n_way: int,
    k_shot: int,
    n_query: int,
    class_of: Callable[[Tensor], Any] | None = None,
) -> None:
    """One episode must be a valid N-way K-shot episode.

    Checks the shapes (``n_way * k_shot`` support and ``n_way * n_query`` query
    examples), that labels are ``0..n_way-1`` with ``k_shot`` (``n_query``) of
    each, that no example is used twice (support and query are disjoint: this
    assumes the dataset's examples are distinct), that ``info["classes"]`` (if
    present) names ``n_way`` different classes, and, given ``class_of`` (one
    example -> its original class), that every example belongs to the class its
    label stands for.
    """
    if not isinstance(episode, Episode):
        raise CheckFailed(
            f"expected a metabook Episode, got a {type(episode).__name__}"
        )
    if episode.batched:
        raise CheckFailed(
            f"this is a batched episode of {episode.meta_batch_size} tasks; "
            "check one task at a time (episode[0])"
        )
    for side, per_class, what in (
        ("support", k_shot, "k_shot"),
        ("query", n_query, "n_query"),
    ):
        x, y = getattr(episode, f"{side}_x"), getattr(episode, f"{side}_y")
        expected = n_way * per_class
        if x.shape[0] != expected:
            raise CheckFailed(
                f"{side}_x has {x.shape[0]} examples, expected n_way * {what} "
                f"= {n_way} * {per_class} = {expected}"
            )
        _label_counts(f"{side}_y", y, n_way, per_class, what)
    support, query = _rows(episode.support_x), _rows(episode.query_x)
    for side, rows in (("support", support), ("query", query)):
        if len(set(rows)) != len(rows):
            raise CheckFailed(
                f"the {side} set contains the same example twice: draw "
                "examples without replacement"
            )
    shared = set(support) & set(query)
    if shared:
        i = query.index(next(iter(shared)))
        raise CheckFailed(
            f"query example #{i} also appears in the support set. Draw k_shot "
            "+ n_query examples of each "
            "class together, without replacement, and split them; otherwise "
            "the query score rewards memorising"
        )
    classes = episode.info.get("classes")
    if classes is not None:
        names = (
            classes.tolist() if isinstance(classes, Tensor) else list(classes)
        )
        if len(names) != n_way:
            raise CheckFailed(
                f"info['classes'] names {len(names)} classes, "
                f"expected n_way = {n_way}"
            )
        if len(set(map(repr, names))) != n_way:
            raise CheckFailed(
                f"info['classes'] = {names} names a class twice: draw the "
                "classes without replacement"
            )
        if class_of is not None:
            for side in ("support", "query"):
                x, y = (
                    getattr(episode, f"{side}_x"),
                    getattr(episode, f"{side}_y"),
                )
                for i, (xi, yi) in enumerate(zip(x, y.tolist())):
                    actual = class_of(xi)
                    if actual != names[yi]:
                        raise CheckFailed(
                            f"{side} example #{i} has label {yi}, which "
                            f"stands for class {names[yi]!r}, but the "
                            f"example belongs to {actual!r}: labels and "
                            "examples got out of step"
                        )
    elif class_of is not None:
        raise CheckFailed(
            "class_of was given but the episode has no "
            "info['classes'] to compare with"
        )
    passed(
        f"a valid {n_way}-way {k_shot}-shot episode: {n_way * k_shot} support "
        f"and {n_way * n_query} query "
        "examples, labels 0..n_way-1, support and query disjoint"
        + (
            ", every label matches its class"
            if class_of is not None and classes is not None
            else ""
        )
    )


# ----------------------------------------------------------------- class splits


def _toy_labels(n_classes: int, as_int: bool, seed: int) -> list[Any]:
    """Labels of a small dataset: ``n_classes`` classes of uneven sizes, in
    shuffled order."""
    g = torch.Generator().manual_seed(seed)
    names = (
        list(range(100, 100 + n_classes))
        if as_int
        else [f"class-{chr(65 + i)}" for i in range(n_classes)]
    )
    sizes = (3 + torch.randint(0, 6, (n_classes,), generator=g)).tolist()
    labels = [name for name, size in zip(names, sizes) for _ in range(size)]
    order = torch.randperm(len(labels), generator=g).tolist()
    return [labels[i] for i in order]


def _call_split(
    split_classes: Callable,
    labels: list[Any],
    fractions: Sequence[float],
    seed: int,
) -> list[list[Any]]:
    result = split_classes(
        labels, fractions, torch.Generator().manual_seed(seed)
    )
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, (str, bytes)) or not hasattr(result, "__iter__"):
        raise CheckFailed(
            f"split_classes returned a {type(result).__name__}; return one "
            "list of classes per fraction"
        )
    parts = [list(p.tolist() if isinstance(p, Tensor) else p) for p in result]
    if len(parts) != len(fractions):
        raise CheckFailed(
            f"split_classes returned {len(parts)} parts for {len(fractions)} "
            f"fractions {tuple(fractions)}; "
            "return one list of classes per fraction"
        )
    return parts


def _check_one_split(
    parts: list[list[Any]], labels: list[Any], fractions: Sequence[float]
) -> None:
    classes = set(labels)
    n = len(classes)
    for i, part in enumerate(parts):
        unknown = [c for c in part if c not in classes]
        if unknown:
            hint = ""
            if all(
                isinstance(c, int) and 0 <= c < len(labels) for c in unknown
            ):
                hint = (
                    " They look like example indices: split the set of "
                    "*classes* (the distinct labels), "
                    "not the examples."
                )
            raise CheckFailed(
                f"split {i} contains {unknown[:5]!r}, which are "
                f"not class labels of the data.{hint}"
            )
        if len(set(part)) != len(part):
            twice = next(c for c in part if part.count(c) > 1)
            raise CheckFailed(
                f"class {twice!r} appears {part.count(twice)} times in split "
                f"{i}: list each class once "
                "(take the distinct labels before shuffling)"
            )
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            both = set(parts[i]) & set(parts[j])
            if both:
                raise CheckFailed(
                    f"class {next(iter(both))!r} is in split {i} and in split "
                    f"{j}: the splits must be disjoint, "
                    "otherwise the meta-test tasks reuse classes seen during "
                    "meta-training"
                )
    missing = classes - set().union(*map(set, parts))
    if missing:
        raise CheckFailed(
            f"{len(missing)} class(es) are in no split, e.g. "
            f"{sorted(missing, key=repr)[0]!r}: every class must "
            "go somewhere. With rounding, cut at round(n_classes * cumulative "
            "fraction) so the last cut is n_classes"
        )
    for i, (part, fraction) in enumerate(zip(parts, fractions)):
        target = fraction * n
        if abs(len(part) - target) > 1 + 1e-9:
            raise CheckFailed(
                f"split {i} has {len(part)} of {n} classes, but the fraction "
                f"{fraction} asks for about "
                f"{target:.2f}. Cut the shuffled classes at round(n_classes * "
                "(f_0 + ... + f_i)): rounding "
                "each share down and giving the rest to the last split makes "
                "that split too large"
            )


def check_split_classes(
    split_classes: Callable[
        [list[Any], Sequence[float], torch.Generator], Sequence[Sequence[Any]]
    ],
) -> None:
    """``split_classes(labels, fractions, generator)`` must split the classes of
    ``labels``.

    It is called on small datasets (string and int labels, uneven class sizes)
    and must return one list of classes per fraction such that the lists are
    disjoint, together hold every class exactly once, have sizes within one
    class of ``fraction * n_classes``, are the same for two generators seeded
    alike, and change with the seed.
    """
    cases = [
        (_toy_labels(20, as_int=False, seed=0), (0.6, 0.2, 0.2)),
        (_toy_labels(13, as_int=True, seed=1), (0.7, 0.15, 0.15)),
        (_toy_labels(11, as_int=False, seed=2), (0.5, 0.5)),
    ]
    for labels, fractions in cases:
        parts = _call_split(split_classes, labels, fractions, seed=0)
        _check_one_split(parts, labels, fractions)
        again = _call_split(split_classes, labels, fractions, seed=0)
        if [set(p) for p in again] != [set(p) for p in parts]:
            raise CheckFailed(
                "two calls with generators seeded alike gave different "
                "splits: draw the shuffle from the "
                "generator you are given, torch.randperm(n, "
                "generator=generator), not from random or numpy, "
                "and put the classes in a fixed order first (e.g. sorted)"
            )
        others = [
            _call_split(split_classes, labels, fractions, seed=s)
            for s in range(1, 6)
        ]
        if all([set(p) for p in o] == [set(p) for p in parts] for o in others):
            raise CheckFailed(
                "the split is the same for every seed: shuffle the classes "
                "with the generator "
                "(torch.randperm(n_classes, generator=generator)) before "
                "cutting them into parts"
            )
    passed(
        "split_classes gives disjoint, complete, reproducible class splits "
        "of the right sizes "
        f"({len(cases)} datasets checked)"
    )


# ------------------------------------------------------- counting class subsets


def check_count_class_subsets(count: Callable[[int, int], int]) -> None:
    """``count(n_classes, n_way)``: how many different sets of ``n_way`` classes
    exist."""
    cases = [(20, 5), (15, 5), (5, 5), (7, 3), (30, 2), (64, 5), (4, 5)]
    for n, k in cases:
        got = count(n, k)
        expected = math.comb(n, k)
        try:
            same = int(got) == expected and float(got) == float(expected)
        except (TypeError, ValueError, OverflowError):
            raise CheckFailed(
                f"count({n}, {k}) returned {got!r}; return an int"
            ) from None
        if same:
            continue
        if k <= n and got == math.perm(n, k):
            hint = (
                "you counted ordered choices n!/(n-N)!; a set of classes does "
                "not depend on the order it was "
                f"drawn in, so divide by N! = {math.factorial(k)}"
            )
        elif got == n**k:
            hint = (
                "n**N lets a class be drawn twice; an episode's classes are "
                "different (no replacement)"
            )
        elif k > n:
            hint = (
                "with fewer classes than n_way no episode can be built, so "
                "the count is 0"
            )
        else:
            hint = "this is 'n choose N', the binomial coefficient (math.comb)"
        raise CheckFailed(
            f"count({n}, {k}) returned {got!r}, expected {expected}: {hint}"
        )
    passed(f"the counts match n choose N on {len(cases)} cases")
