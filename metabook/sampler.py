"""One validating sampler of N-way K-shot classification episodes over any
labelled data."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from .episode import Episode
from .errors import EpisodeError, check_int


def _check_count(name: str, value: Any, minimum: int) -> int:
    return check_int(name, value, minimum, EpisodeError)


class EpisodeSampler:
    """Draws N-way K-shot episodes from a labelled dataset.

    Everything that can make an episode impossible is checked here, when the
    sampler is built, and the error says which value is at fault.

    Args:
        x: the examples: a tensor whose first dimension indexes examples, or any
            sequence (e.g. strings) together with ``collate``.
        labels: one class label per example (ints or any hashable values).
        n_way: classes per episode.
        k_shot: support examples per class.
        n_query: query examples per class.
        generator: a seeded ``torch.Generator`` (see ``set_seed``); a fresh one
            seeded with 0 if omitted, so sampling is always reproducible.
        collate: turns a list of examples into a tensor; required when ``x`` is
            not a tensor.

    Episodes have ``support_x`` of shape ``(n_way * k_shot, *x_shape)`` ordered
    class by class, labels ``0..n_way-1`` assigned in a random class order, and
    ``info["classes"]``: the original class of each episode label.
    """

    def __init__(
        self,
        x: Tensor | Sequence[Any],
        labels: Sequence[Any] | Tensor,
        n_way: int,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
        collate: Callable[[list[Any]], Tensor] | None = None,
    ) -> None:
        self.n_way = _check_count("n_way", n_way, 2)
        self.k_shot = _check_count("k_shot", k_shot, 1)
        self.n_query = _check_count("n_query", n_query, 1)
        if not isinstance(x, Tensor) and collate is None:
            raise EpisodeError(
                f"x is a {type(x).__name__}, not a tensor: pass collate= to "
                "turn a list of examples into one"
            )
        labels_list = (
            labels.tolist() if isinstance(labels, Tensor) else list(labels)
        )
        if len(labels_list) != len(x):
            raise EpisodeError(
                f"x has {len(x)} examples but labels has {len(labels_list)}"
            )
        self.x = x
        self.collate = collate
        self.generator = (
            generator
            if generator is not None
            else torch.Generator().manual_seed(0)
        )

        by_class: dict[Any, list[int]] = {}
        for i, label in enumerate(labels_list):
            by_class.setdefault(label, []).append(i)
        self.classes = sorted(by_class, key=repr)
        n_classes = len(self.classes)
        if n_way > n_classes:
            raise EpisodeError(
                f"n_way={n_way} but the dataset has only {n_classes} classes"
            )
        need = k_shot + n_query
        eligible = [c for c in self.classes if len(by_class[c]) >= need]
        if len(eligible) < n_way:
            smallest = min(len(v) for v in by_class.values())
            raise EpisodeError(
                f"k_shot={k_shot} + n_query={n_query} needs {need} examples "
                "per class, but only "
                f"{len(eligible)} of {n_classes} classes have that many "
                f"(smallest class: {smallest}); "
                f"n_way={n_way} classes are needed"
            )
        self.eligible = eligible
        self._index = {c: torch.tensor(by_class[c]) for c in eligible}

    def __repr__(self) -> str:
        return (
            f"EpisodeSampler(n_way={self.n_way}, k_shot={self.k_shot}, "
            f"n_query={self.n_query}, "
            f"classes={len(self.eligible)})"
        )

    def _take(self, index: Tensor) -> Tensor:
        if isinstance(self.x, Tensor):
            return self.x[index]
        assert self.collate is not None
        return self.collate([self.x[i] for i in index.tolist()])

    def sample(self) -> Episode:
        """One episode."""
        g = self.generator
        pick = torch.randperm(len(self.eligible), generator=g)[: self.n_way]
        support, query = [], []
        for c in pick.tolist():
            pool = self._index[self.eligible[c]]
            order = pool[
                torch.randperm(len(pool), generator=g)[
                    : self.k_shot + self.n_query
                ]
            ]
            support.append(order[: self.k_shot])
            query.append(order[self.k_shot :])
        labels = torch.arange(self.n_way)
        classes = [self.eligible[c] for c in pick.tolist()]
        info: dict[str, Any] = {
            "classes": torch.tensor(classes)
            if all(isinstance(c, int) for c in classes)
            else classes
        }
        return Episode(
            support_x=self._take(torch.cat(support)),
            support_y=labels.repeat_interleave(self.k_shot),
            query_x=self._take(torch.cat(query)),
            query_y=labels.repeat_interleave(self.n_query),
            info=info,
        )

    def sample_batch(self, meta_batch_size: int) -> Episode:
        """``meta_batch_size`` episodes stacked into one batched episode."""
        _check_count("meta_batch_size", meta_batch_size, 1)
        return Episode.stack([self.sample() for _ in range(meta_batch_size)])

    def __iter__(self) -> Iterator[Episode]:
        while True:
            yield self.sample()
