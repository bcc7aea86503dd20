"""What the gradient-based learners (MAML, FOMAML, Reptile, a fine-tuned
baseline) share.

A learner holds a model and the inner-loop settings. ``run_tasks`` adapts the
model to every task of a batched episode *at once* (``torch.func.vmap`` over the
task dimension) and returns per-task results. Subclasses only decide what the
outer update is (``backward``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from ..episode import Episode
from ..errors import ConfigError, EpisodeError, NonFiniteLossError, check_module
from ..inner import (
    LossFn,
    Params,
    adapt,
    adapt_batch,
    batched_forward,
    forward,
    lr_names_message,
)
from .guards import (
    check_labels,
    check_model_input,
    check_no_running_stats,
    non_finite_inputs,
    non_finite_params,
    outer_step_error,
)


def default_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error for float targets, cross-entropy for class indices.

    Args:
        output: ``(n, *y_shape)`` for regression or ``(n, n_way)`` logits.
        target: ``(n, *y_shape)`` floats or ``(n,)`` class indices.
    """
    if target.is_floating_point():
        if output.shape != target.shape:
            raise EpisodeError(
                f"model output shape {tuple(output.shape)} does not match "
                "target shape "
                f"{tuple(target.shape)} (per task)"
            )
        return F.mse_loss(output, target)
    if output.dim() != target.dim() + 1 or output.shape[:-1] != target.shape:
        raise EpisodeError(
            f"logits of shape {tuple(output.shape)} do not fit class labels "
            "of shape "
            f"{tuple(target.shape)} (per task); expected logits of shape "
            f"{(*target.shape, 'n_way')}"
        )
    return F.cross_entropy(output, target)


def task_metrics_from(
    output: Tensor, target: Tensor, loss: Tensor
) -> dict[str, Tensor]:
    """Per-task metrics: ``loss`` always, ``accuracy`` when targets are class
    indices.

    ``output``/``target`` have a leading task dimension; ``loss`` has shape
    ``(B,)``.
    """
    metrics = {"loss": loss.detach()}
    if not target.is_floating_point():
        metrics["accuracy"] = (
            (output.argmax(-1) == target).float().mean(-1).detach()
        )
    return metrics


@dataclass
class TaskOutputs:
    """Per-task results of adapting to a batched episode (first dimension:
    task)."""

    query_loss: Tensor  # (B,)
    support_losses: Tensor  # (B, inner_steps): loss before each inner step
    query_output: Tensor  # (B, n_query, ...)
    # name -> (B, *param_shape), or (B, n_rows, ...) for the names in ``rows``
    adapted: Params
    # name -> (B, n_rows): rows of θ[name] adapted
    rows: dict[str, Tensor] = field(default_factory=dict)

    def mean_adapted(self, name: str, theta: Tensor) -> Tensor:
        """mean_i θ'_i of one parameter, in θ's shape (rows a task did not adapt
        stay at θ)."""
        if name not in self.rows:
            return self.adapted[name].mean(0)
        index = self.rows[name]  # (B, n_rows)
        # (B * n_rows, ...)
        delta = (self.adapted[name] - theta[index]).flatten(0, 1)
        return (
            theta
            + torch.zeros_like(theta).index_add_(0, index.flatten(), delta)
            / index.shape[0]
        )


@dataclass
class StepOutput:
    """What one call of ``backward`` reports."""

    loss: Tensor  # scalar, detached: the mean query loss
    metrics: dict[str, Tensor]  # per task, detached


def _check_positive_number(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < math.inf
    ):
        raise ConfigError(f"{name}={value!r} must be a positive, finite number")


def _check_inner_lr(model: nn.Module, inner_lr: object) -> float | Params:
    """α as a float, or a per-parameter dict naming exactly the trainable
    parameters."""
    if not isinstance(inner_lr, dict):
        _check_positive_number("inner_lr", inner_lr)
        return float(inner_lr)
    trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
    if inner_lr.keys() != trainable.keys():
        raise ConfigError(lr_names_message(inner_lr, trainable))
    for name, lr in inner_lr.items():
        if isinstance(lr, Tensor):
            if not torch.isfinite(lr.detach()).all():
                raise ConfigError(f"inner_lr[{name!r}] holds nan/inf")
            shape = trainable[name].shape
            try:
                fits = torch.broadcast_shapes(lr.shape, shape) == shape
            except RuntimeError:
                fits = False
            if not fits:
                raise ConfigError(
                    f"inner_lr[{name!r}] has shape {tuple(lr.shape)}, which "
                    "does "
                    f"not broadcast to the parameter's "
                    f"{tuple(trainable[name].shape)}"
                )
        else:
            _check_positive_number(f"inner_lr[{name!r}]", lr)
    return inner_lr


def describe_lr(inner_lr: float | Params) -> str:
    """``inner_lr=0.01``, or a short description of a per-parameter one."""
    if isinstance(inner_lr, dict):
        return f"a per-parameter inner_lr ({len(inner_lr)} tensors)"
    return f"inner_lr={inner_lr}"


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

    Sparse inputs. If the model has a ``localize(params, support_x, query_x)``
    method (:class:`~metabook.models.TransformerClassifier` does), the inner
    loop adapts only the embedding rows of the tokens each task uses, with the
    token ids renumbered per task. Rows a task never reads get zero gradient
    anyway, so the result is exactly the same; the work per inner step no longer
    grows with the vocabulary. Set ``learner.localize = False`` to adapt the
    whole table (as a check).
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
        check_module("model", model)
        check_no_running_stats(model)
        self.model = model
        self.inner_lr = _check_inner_lr(model, inner_lr)
        self.inner_steps = _check_steps(inner_steps)
        self.loss_fn = loss_fn
        self.randomness = randomness

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._lr_repr()}, "
            f"inner_steps={self.inner_steps})"
        )

    def _lr_repr(self) -> str:
        if isinstance(self.inner_lr, dict):
            return f"inner_lr=<{len(self.inner_lr)} per-parameter tensors>"
        return f"inner_lr={self.inner_lr}"

    # ---------------------------------------------------------------- helpers
    @property
    def params(self) -> Params:
        """θ: the model's parameters by name (the tensors the optimiser
        updates)."""
        return dict(self.model.named_parameters())

    def split_frozen(
        self, params: Params, own: bool = False
    ) -> tuple[Params, Params]:
        """``(adapted, frozen)``: the inner loop adapts only trainable
        parameters.

        A parameter of the model with ``requires_grad=False`` (a frozen
        embedding table, a frozen pre-trained body under a trainable head) is
        passed to the forward pass unchanged; every gradient-based learner
        treats it so. ``own=True`` says ``params`` are the model's own tensors,
        whose flags can be read directly (no second walk over the modules).
        """
        source = params.items() if own else self.model.named_parameters()
        frozen_names = {k for k, p in source if not p.requires_grad}
        if not frozen_names:
            return params, {}
        adapted = {k: v for k, v in params.items() if k not in frozen_names}
        frozen = {k: v for k, v in params.items() if k in frozen_names}
        if not adapted:
            raise ConfigError(
                "every parameter of the model has requires_grad=False: the "
                "inner loop has nothing to adapt; unfreeze at least the head"
            )
        return adapted, frozen

    def n_outputs(self, x: Tensor) -> int:
        """How many classes the model outputs, from one example ``x[0]``;
        cached."""
        key = tuple(x.shape[1:])
        cache = self.__dict__.setdefault("_n_outputs", {})
        if key not in cache:
            modes = [(m, m.training) for m in self.model.modules()]
            # no dropout: the probe must not use random numbers
            self.model.eval()
            try:
                with torch.no_grad():
                    out = self.model(x[:1])
            finally:
                for m, mode in modes:
                    m.training = mode
            cache[key] = out.shape[-1]
        return cache[key]

    def check_batch(self, batch: Episode) -> None:
        """Inputs the model accepts, labels the model can output (before any
        kernel)."""
        check_model_input(self.model, batch)
        if not batch.support_y.is_floating_point():
            x = batch.support_x[0] if batch.batched else batch.support_x
            n = self.n_outputs(x)
            check_labels(batch, n, f"the model outputs {n} classes")

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
        """Adapt to every task of a batched episode and evaluate on its query
        set.

        Args:
            batch: a batched episode on the model's device.
            inner_steps: overrides ``self.inner_steps`` (e.g. more steps at test
                time).
            first_order: overrides the learner's own setting.
            params: start from these parameters instead of the model's.
        """
        steps, fo = self.run_settings(batch, inner_steps, first_order)
        own = params is None
        params = self.params if own else params
        self.check_batch(batch)
        params, frozen = self.split_frozen(params, own)
        buffers = {**frozen, **self.buffers}
        support_x, query_x, rows = batch.support_x, batch.query_x, {}
        localize = (
            getattr(self.model, "localize", None) if self.localize else None
        )
        if localize is not None:
            params, rows, (support_x, query_x) = localize(
                params, support_x, query_x
            )
        adapted, support_losses = adapt_batch(
            self.model,
            params,
            support_x,
            batch.support_y,
            self.loss_fn,
            self.inner_lr,
            steps,
            fo,
            buffers,
            self.randomness,
            tuple(rows),
        )
        out = batched_forward(
            self.model, adapted, query_x, buffers, self.randomness
        )
        query_loss = vmap(self.loss_fn)(out, batch.query_y)
        outputs = TaskOutputs(query_loss, support_losses, out, adapted, rows)
        self._check_finite(outputs, batch, params)
        return outputs

    def run_settings(
        self,
        batch: Episode,
        inner_steps: int | None,
        first_order: bool | None,
    ) -> tuple[int, bool]:
        """Check the episode is batched; return the inner steps and order."""
        if not batch.batched:
            raise EpisodeError(
                "run_tasks needs a batched episode; use "
                "Episode.stack([...]) or batch[i:i+1]"
            )
        steps = (
            self.inner_steps
            if inner_steps is None
            else _check_steps(inner_steps)
        )
        fo = self.first_order if first_order is None else first_order
        return steps, fo

    def _check_finite(
        self, outputs: TaskOutputs, batch: Episode, params: Params
    ) -> None:
        s = outputs.support_losses
        q = outputs.query_loss.detach()
        # One sync in the normal path; the diagnosis below runs only on failure.
        if bool(torch.isfinite(s).all() & torch.isfinite(q).all()):
            return
        bad_input = non_finite_inputs(batch)
        if bad_input is not None:
            raise bad_input
        if s.numel() and not torch.isfinite(s).all():
            task, step = (~torch.isfinite(s)).nonzero()[0].tolist()
            value = s[task, step].item()
            if step == 0:  # the loss at θ itself, before any inner step
                name = non_finite_params(params)
                if name is not None:
                    raise outer_step_error(
                        f"the support loss of task {task}", name
                    )
                raise NonFiniteLossError(
                    f"the support loss of task {task} is {value} at the "
                    "starting "
                    "parameters, before any inner step: the model's output "
                    "overflows (lower meta_lr, or check the model)"
                )
            raise NonFiniteLossError(
                f"the support loss became {value} at inner step {step + 1} of "
                f"task {task} with {describe_lr(self.inner_lr)}; lower inner_lr"
            )
        task = int((~torch.isfinite(q)).nonzero()[0])
        raise NonFiniteLossError(
            f"the query loss after adaptation is {q[task].item()} for task "
            f"{task} "
            f"with {describe_lr(self.inner_lr)} and {s.shape[-1]} inner "
            "step(s); "
            "lower inner_lr"
        )

    # ------------------------------------------------------------ evaluation
    def task_metrics(
        self, batch: Episode, inner_steps: int | None = None
    ) -> dict[str, Tensor]:
        """Per-task query metrics after adapting (no graph is kept)."""
        with torch.no_grad():
            out = self.run_tasks(
                batch, inner_steps=inner_steps, first_order=True
            )
        return task_metrics_from(
            out.query_output, batch.query_y, out.query_loss
        )

    def adapt(self, episode: Episode, inner_steps: int | None = None) -> Params:
        """Adapted parameters θ' for one (unbatched) episode, detached."""
        if episode.batched:
            raise EpisodeError(
                "adapt takes one task; index a batched episode first (batch[i])"
            )
        steps = (
            self.inner_steps
            if inner_steps is None
            else _check_steps(inner_steps)
        )
        self.check_batch(episode)
        params, frozen = self.split_frozen(
            {k: v.detach() for k, v in self.params.items()}
        )
        with torch.no_grad():
            adapted, losses = adapt(
                self.model,
                params,
                episode.support_x,
                episode.support_y,
                self.loss_fn,
                self.inner_lr,
                steps,
                True,
                self.buffers,
                frozen,
            )
        if losses.numel() and not torch.isfinite(losses).all():
            bad_input = non_finite_inputs(episode)
            if bad_input is not None:
                raise bad_input
            raise NonFiniteLossError(
                "the support loss became non-finite with "
                f"{describe_lr(self.inner_lr)}"
            )
        return {**adapted, **frozen}

    def predict(self, params: Params, x: Tensor) -> Tensor:
        """The model's output on ``x`` with parameters ``params`` (e.g. from
        ``adapt``)."""
        with torch.no_grad():
            return forward(self.model, params, x, self.buffers)

    # ------------------------------------------------------------------ outer
    def backward(
        self, batch: Episode
    ) -> StepOutput:  # pragma: no cover - abstract
        """Fill ``.grad`` of the model's parameters with this learner's
        meta-gradient."""
        raise NotImplementedError
