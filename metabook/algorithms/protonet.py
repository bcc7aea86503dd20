"""Prototypical Networks (Snell, Swersky & Zemel, 2017).

Embed every example with f_φ, average the support embeddings of each class into
a prototype c_k, and classify a query by its negative squared Euclidean distance
to each prototype::

    c_k = mean_{i: y_i = k} f_φ(x_i)        logits_k(x) = −‖f_φ(x) − c_k‖²

There is no inner loop: "adapting" to a task is computing its prototypes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..episode import Episode
from ..errors import EpisodeError, NonFiniteLossError, check_module
from .base import StepOutput, task_metrics_from
from .guards import (
    check_labels,
    check_model_input,
    non_finite_inputs,
    non_finite_params,
    outer_step_error,
)


def prototypes(embeddings: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Class means of support embeddings.

    Args:
        embeddings: ``(..., n_support, d)``.
        labels: ``(..., n_support)`` class indices in ``0..n_way-1``.
        n_way: number of classes.

    Returns:
        ``(..., n_way, d)``.
    """
    one_hot = (
        labels.unsqueeze(-1) == torch.arange(n_way, device=labels.device)
    ).to(embeddings.dtype)
    counts = one_hot.sum(-2).unsqueeze(-1)  # (..., n_way, 1)
    if (counts == 0).any():
        missing = int((counts.squeeze(-1) == 0).nonzero()[0, -1])
        raise EpisodeError(
            f"class {missing} of n_way={n_way} has no support example; "
            "support labels must cover 0..n_way-1"
        )
    return one_hot.transpose(-1, -2) @ embeddings / counts


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``‖a_i − b_j‖²`` for ``a`` of shape ``(..., m, d)`` and ``b`` of ``(...,
    n, d)`` -> ``(..., m, n)``."""
    return (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)


class ProtoNet:
    """A Prototypical Network around any embedding ``encoder``.

    Args:
        encoder: maps ``(n, *x_shape)`` to ``(n, d)`` embeddings.
    """

    def __init__(self, encoder: nn.Module) -> None:
        check_module("encoder", encoder)
        self.model = encoder

    def __repr__(self) -> str:
        return "ProtoNet()"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _embed(self, x: Tensor, batched: bool) -> Tensor:
        if not batched:
            return self.model(x)
        b, n = x.shape[:2]
        return self.model(x.reshape(b * n, *x.shape[2:])).reshape(b, n, -1)

    def logits(self, episode: Episode) -> Tensor:
        """Query logits ``(..., n_query, n_way)``: negative squared distances to
        the prototypes."""
        if episode.support_y.is_floating_point():
            raise EpisodeError(
                "ProtoNet needs class labels; support_y holds "
                "floats (a regression task?)"
            )
        check_model_input(self.model, episode)
        n_way = int(episode.support_y.max()) + 1
        check_labels(
            episode, n_way, f"the support set has classes 0..{n_way - 1}"
        )
        support = self._embed(episode.support_x, episode.batched)
        query = self._embed(episode.query_x, episode.batched)
        return -squared_distances(
            query, prototypes(support, episode.support_y, n_way)
        )

    def _losses(self, batch: Episode) -> tuple[Tensor, Tensor]:
        logits = self.logits(batch)
        losses = F.cross_entropy(
            logits.flatten(0, -2), batch.query_y.flatten(), reduction="none"
        )
        losses = losses.view(batch.query_y.shape).mean(-1)
        if not bool(torch.isfinite(losses).all()):
            raise self._non_finite(batch, losses)
        return logits, losses

    def _non_finite(self, batch: Episode, losses: Tensor) -> Exception:
        """Why the query loss is not finite: the episode, or the encoder's
        weights."""
        bad_input = non_finite_inputs(batch)
        if bad_input is not None:
            return bad_input
        what = "the query loss"
        name = non_finite_params(dict(self.model.named_parameters()))
        if name is not None:
            return outer_step_error(what, name)
        value = losses[~torch.isfinite(losses)].flatten()[0].item()
        return NonFiniteLossError(
            f"{what} is {value}: the embeddings overflow (their squared "
            "distances exceed the float range); lower meta_lr or normalise the "
            "encoder's output"
        )

    def backward(self, batch: Episode) -> StepOutput:
        logits, losses = self._losses(batch)
        loss = losses.mean()
        loss.backward()
        return StepOutput(
            loss.detach(), task_metrics_from(logits, batch.query_y, losses)
        )

    def task_metrics(
        self, batch: Episode, inner_steps: int | None = None
    ) -> dict[str, Tensor]:
        """Per-task query loss and accuracy (``inner_steps`` is ignored: there
        is no inner loop)."""
        with torch.no_grad():
            logits, losses = self._losses(batch)
        return task_metrics_from(logits, batch.query_y, losses)
