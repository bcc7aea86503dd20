"""Checks every learner runs on a batch *before* torch sees it.

Two kinds of mistakes would otherwise surface as deep torch errors, or worse:

* class labels outside ``0 .. n_classes-1`` and token ids outside the vocabulary
  reach an indexing kernel; on the CPU that is an ``IndexError`` from a
  decomposition, on CUDA a device-side assert that kills the kernel. So the
  range is checked first, on the (small) label and token tensors.
* a loss that turns ``nan``/``inf``. Only then, on the error path, do we look at
  why: bad numbers in the episode, parameters already ruined by an earlier outer
  step, or an inner step that overshot. The normal path pays one ``isfinite``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..episode import Episode
from ..errors import ConfigError, EpisodeError, NonFiniteLossError


def check_labels(batch: Episode, n_classes: int, source: str) -> None:
    """Class labels of both sets must lie in ``0 .. n_classes-1``.

    Args:
        batch: the episode (labels are skipped when they are floats).
        n_classes: how many classes the learner can output.
        source: where ``n_classes`` comes from, for the message
            (e.g. ``"the model outputs 5 classes"``).
    """
    for name in ("support_y", "query_y"):
        y = getattr(batch, name)
        if y.is_floating_point() or y.numel() == 0:
            continue
        low, high = (int(v) for v in torch.aminmax(y))
        bad = low if low < 0 else high if high >= n_classes else None
        if bad is not None:
            raise EpisodeError(
                f"{name} holds the label {bad}, outside 0..{n_classes - 1} "
                f"({source}); relabel each episode's classes 0..n_way-1"
            )


def check_model_input(model: nn.Module, batch: Episode) -> None:
    """Run the model's ``check_input(x)`` hook on both sets, if it has one."""
    check = getattr(model, "check_input", None)
    if check is not None:
        check(batch.support_x, "support_x")
        check(batch.query_x, "query_x")


def non_finite_inputs(batch: Episode) -> EpisodeError | None:
    """An error naming the first episode tensor that holds ``nan``/``inf``, or
    ``None``."""
    for name in ("support_x", "query_x", "support_y", "query_y"):
        t = getattr(batch, name)
        if not t.is_floating_point():
            continue
        bad = ~torch.isfinite(t)
        if bad.any():
            where = bad.nonzero()[0].tolist()
            value = t[tuple(where)].item()
            task = f" (task {where[0]})" if batch.batched else ""
            return EpisodeError(
                f"episode.{name} contains {value}{task}; "
                "remove or repair those examples"
            )
    return None


def non_finite_params(params: dict[str, Tensor]) -> str | None:
    """The name of the first parameter holding ``nan``/``inf``, or ``None``."""
    for name, p in params.items():
        if not torch.isfinite(p.detach()).all():
            return name
    return None


def outer_step_error(what: str, name: str) -> NonFiniteLossError:
    """The error for a loss that is non-finite because θ itself already is."""
    return NonFiniteLossError(
        f"{what} is not finite because the parameter {name!r} already holds "
        "nan/inf: an earlier outer step blew up; lower meta_lr (the outer "
        "optimiser's learning rate) or clip the meta-gradient"
    )


def check_no_running_stats(model: nn.Module) -> None:
    """Refuse normalisation layers that update running statistics in training.

    Under ``vmap`` every task would have to write its own batch statistics into
    one shared buffer, which has no meaning (and functorch refuses it). Per-task
    statistics are what ``track_running_stats=False`` computes: each forward
    pass normalises with the statistics of the batch it is given.
    """
    norms = (
        nn.modules.batchnorm._BatchNorm,
        nn.modules.instancenorm._InstanceNorm,
    )
    for name, module in model.named_modules():
        if isinstance(module, norms) and module.track_running_stats:
            raise ConfigError(
                f"model.{name or '(root)'} ({type(module).__name__}) tracks "
                "running "
                "statistics, which one model shared by a vmapped batch of "
                "tasks "
                "cannot update; build it with track_running_stats=False "
                "(per-batch statistics) or use nn.LayerNorm"
            )
