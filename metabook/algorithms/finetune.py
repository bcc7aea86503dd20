"""The non-meta baseline for classification: pre-train a classifier, then fit a
new head per task.

Meta-training is replaced by ordinary supervised learning: one classifier over
*all* meta-training classes at once (272 WordNet concepts, say), trained on
mini-batches of examples. The task structure is used only at test time, where
the pre-trained encoder is frozen and each episode gets a fresh linear head,
fitted to its support set by gradient descent on the cross-entropy (a
multinomial logistic regression on the embeddings)::

    z = f_φ(x)  (optionally z / ‖z‖)        logits = W z + b,  W, b start at 0
    W, b ← W, b − η ∇ CE(support)           ``head_steps`` times

This is the baseline of Chen et al. (2019) and Tian et al. (2020) ("a good
embedding is all you need"). Starting the head at zero makes the fit
deterministic, and every class starts with the same logit, as nothing is known
about the new classes yet.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..episode import Episode
from ..errors import ConfigError, EpisodeError, check_int, check_module
from ..train import History, progress_bar
from .base import _check_positive_number, task_metrics_from
from .guards import check_labels


def fit_heads(
    support: Tensor, support_y: Tensor, n_way: int, lr: float, steps: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Fit one linear head per task to frozen support embeddings by gradient
    descent.

    Args:
        support: ``(B, n_support, d)`` embeddings.
        support_y: ``(B, n_support)`` labels in ``0..n_way-1``.
        n_way: classes per task.
        lr: gradient-descent step size η.
        steps: gradient steps (0 leaves the heads at zero).

    Returns:
        ``W`` ``(B, n_way, d)``, ``b`` ``(B, n_way)`` and the support loss
        before each step, ``(B, steps)``.
    """
    B, _, d = support.shape
    support = support.detach()
    W = support.new_zeros(B, n_way, d, requires_grad=True)
    b = support.new_zeros(B, n_way, requires_grad=True)
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            # (B, n_support, n_way)
            logits = support @ W.transpose(1, 2) + b.unsqueeze(1)
            loss = F.cross_entropy(
                logits.flatten(0, 1), support_y.flatten(), reduction="none"
            )
            loss = loss.view(B, -1).mean(1)  # (B,): each task's mean
            gW, gb = torch.autograd.grad(loss.sum(), (W, b))
            with torch.no_grad():
                W -= lr * gW
                b -= lr * gb
            losses.append(loss.detach())
    stacked = torch.stack(losses, 1) if losses else support.new_zeros(B, 0)
    return W.detach(), b.detach(), stacked


class FineTuneBaseline:
    """Supervised pre-training on all meta-training classes, a fresh head per
    test task.

    Args:
        encoder: maps ``(n, *x_shape)`` to ``(n, d)`` embeddings (e.g. a
            :class:`~metabook.models.TransformerEncoder`); it is frozen at test
            time.
        n_classes: the number of meta-training classes (the pre-training head's
            size).
        head_lr: η, the step size of the per-task head fit.
        head_steps: gradient steps of the per-task head fit.
        normalize: scale embeddings to unit length before the head (Tian et al.,
            2020).

    ``model`` is an ``nn.Sequential``-like module holding the encoder and the
    pre-training head, so optimisers and :func:`~metabook.evaluate` see one
    module.
    """

    def __init__(
        self,
        encoder: nn.Module,
        n_classes: int,
        head_lr: float = 1.0,
        head_steps: int = 100,
        normalize: bool = True,
    ) -> None:
        check_module("encoder", encoder)
        check_int("n_classes", n_classes, 2)
        _check_positive_number("head_lr", head_lr)
        check_int("head_steps", head_steps, 0)
        width = _width(encoder)
        self.encoder = encoder
        self.head = nn.Linear(width, n_classes).to(
            next(encoder.parameters()).device
        )
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.model = nn.ModuleDict({"encoder": encoder, "head": self.head})
        self.n_classes = n_classes
        self.head_lr = float(head_lr)
        self.head_steps = head_steps
        self.normalize = bool(normalize)

    def __repr__(self) -> str:
        return (
            f"FineTuneBaseline(n_classes={self.n_classes}, "
            f"head_lr={self.head_lr}, "
            f"head_steps={self.head_steps}, normalize={self.normalize})"
        )

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    def embed(self, x: Tensor) -> Tensor:
        """``(B, n, *x_shape)`` (a batch of tasks) -> ``(B, n, d)`` embeddings
        (unit length with ``normalize``)."""
        z = self.encoder(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        return F.normalize(z, dim=-1) if self.normalize else z

    # ------------------------------------------------------------ pre-training
    def pretrain(
        self,
        x: Tensor,
        y: Tensor,
        iters: int,
        batch_size: int,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator | None = None,
        *,
        progress: bool = True,
        evaluate_every: int = 0,
        evaluate=None,
    ) -> History:
        """Train encoder and head on mini-batches of ``(x, y)``: every
        meta-training example.

        Args:
            x: ``(n, *x_shape)`` inputs (e.g. token ids of all meta-training
                texts).
            y: ``(n,)`` labels in ``0..n_classes-1``.
            iters: optimiser steps.
            batch_size: examples per step, drawn uniformly without replacement
                within a step.
            optimizer: over ``self.model.parameters()``.
            generator: the source of the mini-batches (for reproducibility).
            progress: show a progress bar (``TQDM_DISABLE=1`` turns it off).
            evaluate_every, evaluate: as in :func:`~metabook.meta_train`.

        Returns:
            A :class:`~metabook.History`: the training loss and ``accuracy`` per
            step.
        """
        check_int("iters", iters, 0)
        check_int("batch_size", batch_size, 1)
        if x.shape[0] != y.shape[0]:
            raise EpisodeError(
                f"x has {x.shape[0]} examples but y has {y.shape[0]} labels"
            )
        if batch_size > x.shape[0]:
            raise ConfigError(
                f"batch_size={batch_size} is larger than the "
                f"{x.shape[0]} training examples"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise EpisodeError(
                f"labels must lie in 0..{self.n_classes - 1}, "
                f"found {int(y.min())}..{int(y.max())}"
            )
        if evaluate_every and evaluate is None:
            raise ConfigError(
                f"evaluate_every={evaluate_every} needs an evaluate= callable"
            )
        device = self.device
        history = History()
        self.model.train()
        start = time.perf_counter()
        for step in progress_bar(iters, "pre-training", progress):
            idx = torch.randperm(x.shape[0], generator=generator)[:batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = self.head(self.encoder(xb))
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            optimizer.step()
            history.loss.append(loss.item())
            history.metrics.setdefault("accuracy", []).append(
                (logits.argmax(-1) == yb).float().mean().item()
            )
            if evaluate_every and (step + 1) % evaluate_every == 0:
                self.model.eval()
                history.evals.append((step + 1, evaluate()))
                self.model.train()
        history.seconds = time.perf_counter() - start
        self.model.eval()
        return history

    # --------------------------------------------------------------- test time
    def task_metrics(
        self, batch: Episode, inner_steps: int | None = None
    ) -> dict[str, Tensor]:
        """Per-task query loss and accuracy with a fresh head fitted to each
        support set.

        ``inner_steps`` overrides ``head_steps``.
        """
        if not batch.batched:
            raise EpisodeError(
                "task_metrics needs a batched episode; use "
                "Episode.stack([...]) or batch[i:i+1]"
            )
        if batch.support_y.is_floating_point():
            raise EpisodeError(
                "FineTuneBaseline needs class labels; "
                "support_y holds floats (a regression task?)"
            )
        steps = (
            self.head_steps
            if inner_steps is None
            else check_int("inner_steps", inner_steps, 0)
        )
        n_way = int(batch.support_y.max()) + 1
        check_labels(
            batch, n_way, f"the support set has classes 0..{n_way - 1}"
        )
        with torch.no_grad():
            support = self.embed(batch.support_x)
            query = self.embed(batch.query_x)
        W, b, _ = fit_heads(
            support, batch.support_y, n_way, self.head_lr, steps
        )
        # (B, n_query, n_way)
        logits = query @ W.transpose(1, 2) + b.unsqueeze(1)
        losses = F.cross_entropy(
            logits.flatten(0, 1), batch.query_y.flatten(), reduction="none"
        )
        return task_metrics_from(
            logits, batch.query_y, losses.view(batch.query_y.shape).mean(-1)
        )


def _width(encoder: nn.Module) -> int:
    """The embedding width: ``encoder.config.d_model`` (a TransformerEncoder),
    else the last Linear's output."""
    width = getattr(getattr(encoder, "config", None), "d_model", None)
    if isinstance(width, int):
        return width
    linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            f"cannot tell the embedding width of {type(encoder).__name__}: it "
            "has no `config.d_model` "
            "and no nn.Linear layer"
        )
    return linears[-1].out_features
