"""Self-checks for the chapter "The same algorithms in learn2learn".

* :func:`check_l2l_meta_gradient`: does ``meta_gradient(model, batch, inner_lr,
  inner_steps)``, written with learn2learn's ``clone()``/``adapt()``, return
  MAML's meta-gradient?
* :func:`check_inner_lrs`: does ``inner_lrs(meta_sgd)`` turn a learn2learn
  ``MetaSGD`` wrapper's step sizes into metabook's per-parameter dict?
* :func:`check_functional_adapt`: does ``adapted_predictions(model, task,
  inner_lr)`` take one inner step in the functional style and predict with the
  adapted parameters, keeping the graph to θ?

Each check runs in float64 on small sinusoid tasks, so that a right answer
matches to rounding and a wrong one cannot pass by luck.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..algorithms import MAML
from ..episode import Episode
from ..inner import adapt
from ..models import MLP
from ..tasks import SinusoidTasks
from . import CheckFailed, call_user, passed

_F64 = torch.float64


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-7, atol=1e-10)


def _all_close(a: Sequence[Tensor], b: Sequence[Tensor]) -> bool:
    return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))


def _case(seed: int, meta_batch_size: int) -> tuple[nn.Module, Episode]:
    """A small float64 MLP and a batch of sinusoid tasks."""
    g = torch.Generator().manual_seed(seed)
    batch = SinusoidTasks().sample(meta_batch_size, 5, 5, g, dtype=_F64)
    torch.manual_seed(seed)
    return MLP(hidden=(8, 8)).to(_F64), batch


def _meta_gradient(
    model: nn.Module,
    batch: Episode,
    inner_lr: float,
    inner_steps: int,
    first_order: bool = False,
) -> list[Tensor]:
    maml = MAML(model, inner_lr, inner_steps, first_order=first_order)
    loss = maml.run_tasks(batch).query_loss.mean()
    return list(torch.autograd.grad(loss, list(model.parameters())))


def _as_tensors(
    name: str, value: Any, shapes: list[torch.Size]
) -> list[Tensor]:
    if value is None:
        raise CheckFailed(
            f"{name} returned None. Return the gradients, e.g. "
            "torch.autograd.grad(loss, list(model.parameters())); if you "
            "called loss.backward(), return [p.grad for p in "
            "model.parameters()]"
        )
    if isinstance(value, Tensor) or not isinstance(value, (list, tuple)):
        raise CheckFailed(
            f"{name} returned a {type(value).__name__}; return a list with one "
            "gradient tensor per parameter, in the order of model.parameters()"
        )
    if len(value) != len(shapes):
        raise CheckFailed(
            f"{name} returned {len(value)} tensors for a model with "
            f"{len(shapes)} parameters; return one per parameter"
        )
    for i, (v, shape) in enumerate(zip(value, shapes)):
        if not isinstance(v, Tensor) or v.shape != shape:
            got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise CheckFailed(
                f"gradient #{i} is {got}, expected shape {tuple(shape)}: keep "
                "the order of model.parameters()"
            )
    return [v.detach().to(_F64) for v in value]


# ------------------------------------------------------------- meta-gradient


def check_l2l_meta_gradient(
    meta_gradient: Callable[[nn.Module, Episode, float, int], Sequence[Tensor]],
) -> None:
    """``meta_gradient(model, batch, inner_lr, inner_steps)`` must return
    MAML's second-order meta-gradient, one tensor per ``model.parameters()``.

    The loss is the mean over the tasks of ``batch`` of the query MSE after
    ``inner_steps`` steps of size ``inner_lr`` on the support MSE. The check
    compares with ``mb.MAML`` in float64 on 3 tasks with 2 inner steps, and
    recognises the usual slips: summing instead of averaging, first-order by
    accident, one inner step only, and adapting the wrapper itself instead of
    a clone.
    """
    inner_lr, inner_steps = 0.05, 2
    model, batch = _case(0, 3)
    shapes = [p.shape for p in model.parameters()]
    expected = _meta_gradient(model, batch, inner_lr, inner_steps)
    theirs = copy.deepcopy(model)
    result = call_user(meta_gradient, theirs, batch, inner_lr, inner_steps)
    if not all(isinstance(p, nn.Parameter) for p in theirs.parameters()):
        raise CheckFailed(
            "after your function, the model's parameters are no longer "
            "nn.Parameters: the model itself was adapted. maml.adapt() changes "
            "the module it wraps; adapt a maml.clone() for each task instead"
        )
    got = _as_tensors("meta_gradient", result, shapes)
    if _all_close(got, expected):
        passed("the meta-gradient equals mb.MAML's (second-order, 2 steps)")
        return
    size = batch.meta_batch_size
    if _all_close(got, [size * e for e in expected]):
        hint = (
            f"it is {size} times too large: you summed the query losses of "
            f"the {size} tasks; divide by the number of tasks (the mean)"
        )
    elif _all_close(got, _meta_gradient(model, batch, inner_lr, 2, True)):
        hint = (
            "it is the first-order gradient: adapt with create_graph (the "
            "MAML wrapper's default, first_order=False) and do not detach"
        )
    elif _all_close(got, _meta_gradient(model, batch, inner_lr, 1)):
        hint = f"it is the gradient after 1 inner step; take {inner_steps}"
    elif _all_close(got, _meta_gradient(model, batch, inner_lr, 0)):
        hint = "it is the gradient before any inner step: call adapt()"
    else:
        worst = max(
            range(len(got)), key=lambda i: (got[i] - expected[i]).abs().max()
        )
        hint = (
            f"gradient #{worst} differs by up to "
            f"{(got[worst] - expected[worst]).abs().max().item():.3g}; check "
            "the loss (F.mse_loss on support, then on query) and that each "
            "task starts from its own maml.clone()"
        )
    raise CheckFailed(f"the meta-gradient is not MAML's: {hint}")


# ---------------------------------------------------------------- Meta-SGD


def _metasgd_case():
    from ..install_learn2learn import import_learn2learn

    l2l = import_learn2learn()
    torch.manual_seed(0)
    model = MLP(hidden=(6,)).to(_F64)
    meta_sgd = l2l.algorithms.MetaSGD(model, lr=0.1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # distinct step sizes, so that order errors show
        for lr in meta_sgd.lrs:
            lr.copy_(0.05 + 0.1 * torch.rand(lr.shape, generator=g, dtype=_F64))
    return model, meta_sgd


def check_inner_lrs(inner_lrs: Callable[[Any], dict[str, Tensor]]) -> None:
    """``inner_lrs(meta_sgd)`` must return metabook's ``inner_lr`` dict.

    learn2learn's ``MetaSGD`` keeps one learnable step size per parameter
    entry in ``meta_sgd.lrs``, a list in the order of the wrapped model's
    parameters. metabook's inner loop (``mb.adapt``, ``mb.adapt_batch``) takes
    them as ``{name: tensor}``, keyed by the *model's* parameter names. The
    values must stay the learnable tensors themselves (the outer gradient has
    to reach them). The check then adapts with both and compares.
    """
    model, meta_sgd = _metasgd_case()
    names = [name for name, _ in model.named_parameters()]
    result = call_user(inner_lrs, meta_sgd)
    if not isinstance(result, dict):
        raise CheckFailed(
            f"inner_lrs returned a {type(result).__name__}; return a dict "
            "{parameter name: step sizes}, as mb.adapt's inner_lr takes it"
        )
    keys = list(result)
    if any(str(k).startswith("module.") for k in keys):
        raise CheckFailed(
            "the names carry the prefix 'module.': they come from "
            "meta_sgd.named_parameters(), which names the wrapper's attributes "
            "(and lists the step sizes too, as 'lrs.0', ...). Use the wrapped "
            "model's names: meta_sgd.module.named_parameters()"
        )
    if any(str(k).startswith("lrs") or str(k).isdigit() for k in keys):
        raise CheckFailed(
            f"the keys {keys[:2]}... are the step sizes' own names (their "
            "positions in meta_sgd.lrs); key each step size by the name of "
            "the model parameter it belongs to"
        )
    if set(keys) != set(names):
        missing = sorted(set(names) - set(keys))
        extra = sorted(set(keys) - set(names))
        raise CheckFailed(
            f"the keys should be the model's parameter names {names}; "
            f"missing {missing}, unexpected {extra}"
        )
    lrs = dict(zip(names, meta_sgd.lrs))
    for name in names:
        value = result[name]
        if not isinstance(value, Tensor) or value.shape != lrs[name].shape:
            raise CheckFailed(
                f"result[{name!r}] should be a tensor of shape "
                f"{tuple(lrs[name].shape)}, the parameter's own shape"
            )
        if not torch.equal(value.detach(), lrs[name].detach()):
            raise CheckFailed(
                f"result[{name!r}] holds other step sizes than the ones of "
                "that parameter: meta_sgd.lrs[i] belongs to the i-th entry of "
                "model.parameters(); zip the two lists"
            )
    probe = sum(result[name].sum() for name in names)
    if not isinstance(probe, Tensor) or not probe.requires_grad:
        raise CheckFailed(
            "the step sizes are detached (.data, .detach() or a copy): "
            "Meta-SGD learns them, so the outer gradient must reach "
            "meta_sgd.lrs. Return the tensors of meta_sgd.lrs themselves"
        )
    grads = torch.autograd.grad(probe, list(meta_sgd.lrs), allow_unused=True)
    if any(g is None for g in grads):
        raise CheckFailed(
            "the outer gradient does not reach meta_sgd.lrs: return its "
            "tensors themselves, not new ones"
        )
    batch = _case(2, 1)[1][0]
    params = dict(model.named_parameters())
    ours, _ = adapt(
        model, params, batch.support_x, batch.support_y, F.mse_loss, result, 1
    )
    learner = meta_sgd.clone()
    learner.adapt(F.mse_loss(learner(batch.support_x), batch.support_y))
    theirs = dict(learner.module.named_parameters())
    if not all(_close(ours[n].detach(), theirs[n].detach()) for n in names):
        raise CheckFailed(
            "with these step sizes, mb.adapt does not take the same step as "
            "MetaSGD's adapt(): check which step size goes with which name"
        )
    passed(
        "the dict holds MetaSGD's own step sizes under the model's names; "
        "mb.adapt with it takes MetaSGD's step"
    )


# ------------------------------------------------------ functional adaptation


def check_functional_adapt(
    adapted_predictions: Callable[[nn.Module, Episode, float], Tensor],
) -> None:
    """``adapted_predictions(model, task, inner_lr)`` must return the query
    predictions after one gradient step of size ``inner_lr`` on the support
    MSE, computed in the functional style (the model's parameters are not
    changed), and keep the graph to θ for second-order MAML.
    """
    inner_lr = 0.05
    model, batch = _case(3, 1)
    task = batch[0]
    before = [p.detach().clone() for p in model.parameters()]
    result = call_user(adapted_predictions, model, task, inner_lr)
    if any(not torch.equal(a, p) for a, p in zip(before, model.parameters())):
        raise CheckFailed(
            "the model's own parameters changed: the functional style leaves "
            "them alone and computes new tensors θ' = θ − α g"
        )
    if not isinstance(result, Tensor):
        raise CheckFailed(
            f"the function returned a {type(result).__name__}; return the "
            "query predictions, a tensor"
        )
    params = dict(model.named_parameters())
    support = F.mse_loss(model(task.support_x), task.support_y)
    grads = torch.autograd.grad(
        support, list(params.values()), create_graph=True
    )
    adapted = {k: p - inner_lr * g for (k, p), g in zip(params.items(), grads)}
    expected = functional_call(model, adapted, (task.query_x,))
    if result.shape != expected.shape:
        raise CheckFailed(
            f"the predictions have shape {tuple(result.shape)}, expected "
            f"{tuple(expected.shape)} (one per query point)"
        )
    got = result.detach().to(_F64)
    if not _close(got, expected.detach()):
        wrong_sign = {
            k: p + inner_lr * g for (k, p), g in zip(params.items(), grads)
        }
        if _close(got, model(task.query_x).detach()):
            hint = (
                "these are the predictions *before* the step, the stale value "
                "of learn2learn issue #420: predict with the adapted "
                "parameters, functional_call(model, adapted, (task.query_x,))"
            )
        elif _close(got, functional_call(model, wrong_sign, (task.query_x,))):
            hint = "the step goes uphill: θ' = θ − α g, with a minus"
        else:
            hint = (
                "check the support loss (F.mse_loss of the support set) and "
                "that the step uses the gradient at θ"
            )
        raise CheckFailed(
            f"the predictions are not the adapted model's: {hint}"
        )
    if not result.requires_grad:
        raise CheckFailed(
            "the predictions are right but carry no graph to θ: MAML's outer "
            "step differentiates through them. Do not use torch.no_grad() or "
            ".detach()"
        )
    theta = list(params.values())
    want = torch.autograd.grad(expected.sum(), theta)
    have = torch.autograd.grad(result.sum(), theta, allow_unused=True)
    if any(h is None for h in have) or not _all_close(list(have), list(want)):
        raise CheckFailed(
            "the predictions are right but their gradient with respect to θ is "
            "first-order: pass create_graph=True to torch.autograd.grad in the "
            "inner step, so that the outer gradient goes through it"
        )
    passed(
        "one functional inner step: the adapted predictions, the model "
        "untouched, and the graph to θ kept for second order"
    )
