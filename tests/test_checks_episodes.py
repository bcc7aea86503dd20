"""The self-checks of "Tasks and episodes": right answers pass, typical mistakes
get a helpful message."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
import torch

import metabook as mb
from metabook.checks import CheckFailed
from metabook.checks import episodes as checks

# ---------------------------------------------------------------- check_episode

LETTERS = [f"{cls}{i}" for cls in "abcdefg" for i in range(8)]
LABELS = [s[0] for s in LETTERS]


def encode(words: list[str]) -> torch.Tensor:
    return torch.tensor([[ord(ch) for ch in w.ljust(2)] for w in words])


def class_of(row: torch.Tensor) -> str:
    return chr(int(row[0]))


@pytest.fixture
def episode():
    sampler = mb.EpisodeSampler(
        LETTERS, LABELS, n_way=4, k_shot=2, n_query=3, collate=encode
    )
    return sampler.sample()


def test_check_episode_passes_on_sampler_output(episode, capsys):
    checks.check_episode(episode, 4, 2, 3, class_of=class_of)
    assert "valid 4-way 2-shot" in capsys.readouterr().out


def test_check_episode_wrong_shape(episode):
    with pytest.raises(
        CheckFailed,
        match=r"support_x has 8 examples, "
        r"expected n_way \* k_shot = 4 \* 3",
    ):
        checks.check_episode(episode, 4, 3, 3)


def test_check_episode_original_labels(episode):
    bad = replace(
        episode, support_y=episode.support_y + 10, query_y=episode.query_y + 10
    )
    with pytest.raises(CheckFailed, match="relabels its n_way classes"):
        checks.check_episode(bad, 4, 2, 3)


def test_check_episode_overlap(episode):
    query_x = episode.query_x.clone()
    query_x[0] = episode.support_x[0]
    with pytest.raises(
        CheckFailed, match="query example #0 also appears in the support set"
    ):
        checks.check_episode(replace(episode, query_x=query_x), 4, 2, 3)


def test_check_episode_labels_out_of_step(episode):
    flipped = replace(episode, support_y=episode.support_y.flip(0))
    with pytest.raises(
        CheckFailed, match="labels and examples got out of step"
    ):
        checks.check_episode(flipped, 4, 2, 3, class_of=class_of)


def test_check_episode_repeated_class(episode):
    info = {"classes": [episode.info["classes"][0]] * 4}
    with pytest.raises(CheckFailed, match="names a class twice"):
        checks.check_episode(replace(episode, info=info), 4, 2, 3)


def test_check_episode_batched():
    batch = mb.EpisodeSampler(
        LETTERS, LABELS, 3, 1, 1, collate=encode
    ).sample_batch(2)
    with pytest.raises(CheckFailed, match="batched episode of 2 tasks"):
        checks.check_episode(batch, 3, 1, 1)


# ---------------------------------------------------------- check_split_classes


def split_classes(labels, fractions, generator):
    classes = sorted(set(labels), key=repr)
    order = torch.randperm(len(classes), generator=generator).tolist()
    shuffled = [classes[i] for i in order]
    cuts = [0] + [
        round(len(classes) * sum(fractions[: i + 1]))
        for i in range(len(fractions))
    ]
    return [shuffled[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def test_split_classes_reference_passes(capsys):
    checks.check_split_classes(split_classes)
    assert "disjoint, complete, reproducible" in capsys.readouterr().out


def test_split_examples_instead_of_classes():
    def by_examples(labels, fractions, generator):
        order = torch.randperm(len(labels), generator=generator).tolist()
        cut = round(len(labels) * fractions[0])
        rest = (
            [order[cut:]]
            if len(fractions) == 2
            else [order[cut : cut + 1], order[cut + 1 :]]
        )
        return [order[:cut], *rest]

    with pytest.raises(CheckFailed, match="not class labels|example indices"):
        checks.check_split_classes(by_examples)


def test_split_overlap():
    def overlapping(labels, fractions, generator):
        parts = split_classes(labels, fractions, generator)
        parts[-1] = parts[-1] + parts[0][:1]
        return parts

    with pytest.raises(CheckFailed, match="must be disjoint"):
        checks.check_split_classes(overlapping)


def test_split_missing_class():
    def dropping(labels, fractions, generator):
        parts = split_classes(labels, fractions, generator)
        parts[-1] = parts[-1][:-1]
        return parts

    with pytest.raises(CheckFailed, match="in no split"):
        checks.check_split_classes(dropping)


def test_split_floor_rounding_is_caught():
    def floored(labels, fractions, generator):
        classes = sorted(set(labels), key=repr)
        shuffled = [
            classes[i]
            for i in torch.randperm(len(classes), generator=generator).tolist()
        ]
        sizes = [math.floor(f * len(classes)) for f in fractions[:-1]]
        sizes.append(len(classes) - sum(sizes))
        cuts = [0] + list(itertools.accumulate(sizes))
        return [shuffled[a:b] for a, b in zip(cuts[:-1], cuts[1:])]

    with pytest.raises(CheckFailed, match="asks for about 1.95"):
        checks.check_split_classes(floored)


def test_split_ignores_generator():
    def unshuffled(labels, fractions, generator):
        return split_classes(
            labels, fractions, torch.Generator().manual_seed(0)
        )

    with pytest.raises(CheckFailed, match="same for every seed"):
        checks.check_split_classes(unshuffled)


def test_split_not_reproducible():
    def global_rng(labels, fractions, generator):
        return split_classes(labels, fractions, None)

    with pytest.raises(CheckFailed, match="seeded alike gave different splits"):
        checks.check_split_classes(global_rng)


def test_split_wrong_number_of_parts():
    with pytest.raises(CheckFailed, match="returned 2 parts for 3 fractions"):
        checks.check_split_classes(
            lambda labels, fractions, g: split_classes(labels, fractions, g)[:2]
        )


# ---------------------------------------------------- check_count_class_subsets


def test_count_passes(capsys):
    checks.check_count_class_subsets(math.comb)
    assert "n choose N" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (math.perm, "ordered choices"),
        (lambda n, k: n**k, "drawn twice"),
        (lambda n, k: math.comb(n, k) + 1, "binomial coefficient"),
        (lambda n, k: "many", "return an int"),
    ],
)
def test_count_wrong(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_count_class_subsets(wrong)
