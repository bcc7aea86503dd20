"""What the gradient-based learners (MAML, FOMAML, Reptile, a fine-tuned baseline) share.

A learner holds a model and the inner-loop settings. ``run_tasks`` adapts the
model to every task of a batched episode *at once* (``torch.func.vmap`` over the
task dimension) and returns per-task results. Subclasses only decide what the
outer update is (``backward``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from ..episode import Episode
from ..errors import ConfigError, EpisodeError, NonFiniteLossError
from ..inner import LossFn, Params, adapt, adapt_batch, batched_forward, forward


def default_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error for float targets, cross-entropy for class indices.

    Args:
        output: ``(n, *y_shape)`` for regression or ``(n, n_way)`` logits.
        target: ``(n, *y_shape)`` floats or ``(n,)`` class indices.
    """
    if target.is_floating_point():
        if output.shape != target.shape:
            raise EpisodeError(
                f"model output shape {tuple(output.shape)} does not match target shape "
                f"{tuple(target.shape)} (per task)"
            )
        return F.mse_loss(output, target)
    if output.dim() != target.dim() + 1 or output.shape[:-1] != target.shape:
        raise EpisodeError(
            f"logits of shape {tuple(output.shape)} do not fit class labels of shape "
            f"{tuple(target.shape)} (per task); expected logits of shape {(*target.shape, 'n_way')}"
        )
    return F.cross_entropy(output, target)


def task_metrics_from(output: Tensor, target: Tensor, loss: Tensor) -> dict[str, Tensor]:
    """Per-task metrics: ``loss`` always, ``accuracy`` when targets are class indices.

    ``output``/``target`` have a leading task dimension; ``loss`` has shape ``(B,)``.
    """
    metrics = {"loss": loss.detach()}
    if not target.is_floating_point():
        metrics["accuracy"] = (output.argmax(-1) == target).float().mean(-1).detach()
    return metrics


@dataclass
class TaskOutputs:
    """Per-task results of adapting to a batched episode (first dimension: task)."""

    query_loss: Tensor  # (B,)
    support_losses: Tensor  # (B, inner_steps): loss before each inner step
    query_output: Tensor  # (B, n_query, ...)
    adapted: Params  # name -> (B, *param_shape), or (B, n_rows, ...) for the names in ``rows``
    rows: dict[str, Tensor] = field(default_factory=dict)  # name -> (B, n_rows): rows of θ[name] adapted

    def mean_adapted(self, name: str, theta: Tensor) -> Tensor:
        """mean_i θ'_i of one parameter, in θ's shape (rows a task did not adapt stay at θ)."""
        if name not in self.rows:
            return self.adapted[name].mean(0)
        index = self.rows[name]  # (B, n_rows)
        delta = (self.adapted[name] - theta[index]).flatten(0, 1)  # (B * n_rows, ...)
        return theta + torch.zeros_like(theta).index_add_(0, index.flatten(), delta) / index.shape[0]


@dataclass
class StepOutput:
    """What one call of ``backward`` reports."""

    loss: Tensor  # scalar, detached: the mean query loss
    metrics: dict[str, Tensor]  # per task, detached


def _check_positive_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name}={value!r} must be a positive number")


def _check_steps(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"inner_steps={value!r} must be a non-negative int")
    return value


class GradientLearner:
    """Base class: a model plus a gradient-descent inner loop.

    Args:
        model: any ``nn.Module``; it is evaluated with ``functional_call``.
        inner_lr: α, the inner-loop step size.
        inner_steps: inner gradient steps per task during meta-training.
        loss_fn: ``loss_fn(output, target) -> scalar`` for one task.
        randomness: passed to ``vmap``; ``"different"`` gives each task its own
            dropout mask.

    Sparse inputs. If the model has a ``localize(params, support_x, query_x)`` method
    (:class:`~metabook.models.TransformerClassifier` does), the inner loop adapts only
    the embedding rows of the tokens each task uses, with the token ids renumbered
    per task. Rows a task never reads get zero gradient anyway, so the result is
    exactly the same; the work per inner step no longer grows with the vocabulary.
    Set ``learner.localize = False`` to adapt the whole table (as a check).
    """

    localize: bool = True

    first_order: bool = True

    def __init__(
        self,
        model: nn.Module,
        inner_lr: float,
        inner_steps: int = 1,
        loss_fn: LossFn = default_loss,
        randomness: str = "different",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be an nn.Module, got {type(model).__name__}")
        _check_positive_number("inner_lr", inner_lr)
        self.model = model
        self.inner_lr = float(inner_lr)
        self.inner_steps = _check_steps(inner_steps)
        self.loss_fn = loss_fn
        self.randomness = randomness

    def __repr__(self) -> str:
        return f"{type(self).__name__}(inner_lr={self.inner_lr}, inner_steps={self.inner_steps})"

    # ---------------------------------------------------------------- helpers
    @property
    def params(self) -> Params:
        """θ: the model's parameters by name (the tensors the optimiser updates)."""
        return dict(self.model.named_parameters())

    @property
    def buffers(self) -> Params:
        return dict(self.model.named_buffers())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def run_tasks(
        self,
        batch: Episode,
        inner_steps: int | None = None,
        first_order: bool | None = None,
        params: Params | None = None,
    ) -> TaskOutputs:
        """Adapt to every task of a batched episode and evaluate on its query set.

        Args:
            batch: a batched episode on the model's device.
            inner_steps: overrides ``self.inner_steps`` (e.g. more steps at test time).
            first_order: overrides the learner's own setting.
            params: start from these parameters instead of the model's.
        """
        if not batch.batched:
            raise EpisodeError("run_tasks needs a batched episode; use Episode.stack([...]) or batch[i:i+1]")
        steps = self.inner_steps if inner_steps is None else _check_steps(inner_steps)
        fo = self.first_order if first_order is None else first_order
        params = self.params if params is None else params
        buffers = self.buffers
        support_x, query_x, rows = batch.support_x, batch.query_x, {}
        localize = getattr(self.model, "localize", None) if self.localize else None
        if localize is not None:
            params, rows, (support_x, query_x) = localize(params, support_x, query_x)
        adapted, support_losses = adapt_batch(
            self.model, params, support_x, batch.support_y, self.loss_fn,
            self.inner_lr, steps, fo, buffers, self.randomness, tuple(rows),
        )
        out = batched_forward(self.model, adapted, query_x, buffers, self.randomness)
        query_loss = vmap(self.loss_fn)(out, batch.query_y)
        outputs = TaskOutputs(query_loss, support_losses, out, adapted, rows)
        self._check_finite(outputs)
        return outputs

    def _check_finite(self, outputs: TaskOutputs) -> None:
        s = outputs.support_losses
        if s.numel() and not torch.isfinite(s).all():
            task, step = (~torch.isfinite(s)).nonzero()[0].tolist()
            raise NonFiniteLossError(
                f"the support loss became {s[task, step].item()} at inner step {step + 1} of task "
                f"{task} with inner_lr={self.inner_lr}; lower inner_lr or check the data"
            )
        q = outputs.query_loss.detach()
        if not torch.isfinite(q).all():
            task = int((~torch.isfinite(q)).nonzero()[0])
            raise NonFiniteLossError(
                f"the query loss after adaptation is {q[task].item()} for task {task} with "
                f"inner_lr={self.inner_lr} and {outputs.support_losses.shape[-1]} inner step(s); "
                "lower inner_lr or check the data"
            )

    # ------------------------------------------------------------ evaluation
    def task_metrics(self, batch: Episode, inner_steps: int | None = None) -> dict[str, Tensor]:
        """Per-task query metrics after adapting (no graph is kept)."""
        with torch.no_grad():
            out = self.run_tasks(batch, inner_steps=inner_steps, first_order=True)
        return task_metrics_from(out.query_output, batch.query_y, out.query_loss)

    def adapt(self, episode: Episode, inner_steps: int | None = None) -> Params:
        """Adapted parameters θ' for one (unbatched) episode, detached."""
        if episode.batched:
            raise EpisodeError("adapt takes one task; index a batched episode first (batch[i])")
        steps = self.inner_steps if inner_steps is None else _check_steps(inner_steps)
        with torch.no_grad():
            adapted, losses = adapt(
                self.model, {k: v.detach() for k, v in self.params.items()},
                episode.support_x, episode.support_y, self.loss_fn, self.inner_lr, steps, True, self.buffers,
            )
        if losses.numel() and not torch.isfinite(losses).all():
            raise NonFiniteLossError(f"the support loss became non-finite with inner_lr={self.inner_lr}")
        return adapted

    def predict(self, params: Params, x: Tensor) -> Tensor:
        """The model's output on ``x`` with parameters ``params`` (e.g. from ``adapt``)."""
        with torch.no_grad():
            return forward(self.model, params, x, self.buffers)

    # ------------------------------------------------------------------ outer
    def backward(self, batch: Episode) -> StepOutput:  # pragma: no cover - abstract
        """Fill ``.grad`` of the model's parameters with this learner's meta-gradient."""
        raise NotImplementedError
