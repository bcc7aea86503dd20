"""``Episode``: one task (or a batch of tasks) with its support and query sets.

Shapes, for a single task with ``n_support`` and ``n_query`` examples::

    support_x (n_support, *x_shape)   support_y (n_support, *y_shape)
    query_x   (n_query,   *x_shape)   query_y   (n_query,   *y_shape)

A *batched* episode (``Episode.stack`` or a task family's ``sample``) has one
more leading dimension, the task: ``support_x`` is ``(meta_batch_size,
n_support, ...)``. Algorithms ``vmap`` over that dimension.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from .errors import EpisodeError

_FIELDS = ("support_x", "support_y", "query_x", "query_y")


@dataclass
class Episode:
    """Support and query tensors of one task, or of a batch of tasks.

    Args:
        support_x: inputs the learner adapts on.
        support_y: their targets (class indices ``0..n_way-1`` or regression
            values).
        query_x: inputs the adapted learner is evaluated on.
        query_y: their targets.
        batched: ``True`` when dimension 0 indexes tasks.
        info: extra per-task facts (e.g. the original class ids, a sinusoid's
            amplitude and phase), tensors whose first dimension is the task when
            batched.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    batched: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if not isinstance(value, Tensor):
                raise EpisodeError(
                    f"{name} must be a torch.Tensor, got {type(value).__name__}"
                )
        lead = 2 if self.batched else 1
        for name in _FIELDS:
            if getattr(self, name).dim() < lead:
                raise EpisodeError(
                    f"{name} has shape {tuple(getattr(self, name).shape)}; a "
                    f"{'batched ' if self.batched else ''}episode needs at "
                    f"least {lead} dimension(s)"
                )
        for side in ("support", "query"):
            x, y = getattr(self, f"{side}_x"), getattr(self, f"{side}_y")
            if x.shape[:lead] != y.shape[:lead]:
                raise EpisodeError(
                    f"{side}_x has shape {tuple(x.shape)} but {side}_y has "
                    f"shape {tuple(y.shape)}: "
                    f"they must agree in the first {lead} dimension(s)"
                )
        d = lead
        if self.support_x.shape[d:] != self.query_x.shape[d:]:
            raise EpisodeError(
                "support_x examples have shape "
                f"{tuple(self.support_x.shape[d:])} but query_x "
                f"examples have shape {tuple(self.query_x.shape[d:])}"
            )
        if self.support_y.shape[d:] != self.query_y.shape[d:]:
            raise EpisodeError(
                "support_y targets have shape "
                f"{tuple(self.support_y.shape[d:])} but query_y "
                f"targets have shape {tuple(self.query_y.shape[d:])}"
            )
        if self.batched and self.support_x.shape[0] != self.query_x.shape[0]:
            raise EpisodeError(
                f"support has {self.support_x.shape[0]} tasks but query has "
                f"{self.query_x.shape[0]}"
            )

    # ------------------------------------------------------------------ sizes
    @property
    def meta_batch_size(self) -> int:
        """Number of tasks (1 for an unbatched episode)."""
        return self.support_x.shape[0] if self.batched else 1

    @property
    def n_support(self) -> int:
        return self.support_x.shape[1 if self.batched else 0]

    @property
    def n_query(self) -> int:
        return self.query_x.shape[1 if self.batched else 0]

    @property
    def device(self) -> torch.device:
        return self.support_x.device

    # ------------------------------------------------------------- transforms
    def to(
        self, device: torch.device | str, dtype: torch.dtype | None = None
    ) -> Episode:
        """A copy on ``device``; ``dtype`` (if given) converts floating-point
        tensors only."""

        def move(t: Any) -> Any:
            if not isinstance(t, Tensor):
                return t
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device)

        return replace(
            self,
            **{name: move(getattr(self, name)) for name in _FIELDS},
            info={k: move(v) for k, v in self.info.items()},
        )

    def __getitem__(self, index: int | slice) -> Episode:
        """Task ``index`` of a batched episode (a slice keeps it batched)."""
        if not self.batched:
            raise EpisodeError("only a batched episode can be indexed by task")
        keep = isinstance(index, slice)
        return Episode(
            *(getattr(self, name)[index] for name in _FIELDS),
            batched=keep,
            info={
                k: (v[index] if self._per_task(v) else v)
                for k, v in self.info.items()
            },
        )

    def _per_task(self, value: Any) -> bool:
        """Whether an ``info`` value holds one entry per task (a tensor, or the
        list ``stack`` makes)."""
        if isinstance(value, Tensor):
            return value.dim() > 0
        return isinstance(value, list) and len(value) == self.meta_batch_size

    def __iter__(self) -> Iterator[Episode]:
        """Iterate over the tasks of a batched episode."""
        if not self.batched:
            raise EpisodeError(
                "only a batched episode can be iterated over tasks"
            )
        for i in range(self.meta_batch_size):
            yield self[i]

    def __len__(self) -> int:
        return self.meta_batch_size

    @staticmethod
    def stack(episodes: Sequence[Episode]) -> Episode:
        """Stack single-task episodes of equal shapes into a batched episode."""
        if not episodes:
            raise EpisodeError("cannot stack an empty list of episodes")
        if any(e.batched for e in episodes):
            raise EpisodeError(
                "Episode.stack takes single-task episodes; got a batched one"
            )
        shapes = {
            tuple(tuple(getattr(e, n).shape) for n in _FIELDS) for e in episodes
        }
        if len(shapes) > 1:
            raise EpisodeError(
                f"episodes to stack have different shapes: {sorted(shapes)}"
            )
        info: dict[str, Any] = {}
        for key in episodes[0].info:
            values = [e.info.get(key) for e in episodes]
            if all(isinstance(v, Tensor) for v in values):
                info[key] = torch.stack(values)
            else:
                info[key] = values
        return Episode(
            *(torch.stack([getattr(e, n) for e in episodes]) for n in _FIELDS),
            batched=True,
            info=info,
        )
