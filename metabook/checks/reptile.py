"""Self-checks for the chapter "First-order MAML and Reptile".

Each check builds its own small float64 problem (an MLP and a few sinusoid
tasks), calls the learner's function, compares it with the right answer and,
when they differ, with the answers that the usual mistakes produce, so that the
message can say which mistake it was:

* :func:`check_reptile_step`: one Reptile update ``θ ← θ + ε · mean_i (θ'_i −
  θ)``, applied in place to an ``nn.Module``;
* :func:`check_fomaml_meta_gradient`: the first-order MAML meta-gradient
  ``mean_i ∇L_query_i(θ'_i)``, written with copies of the model (as in the seed
  article's sketch) or any other way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import CheckFailed, passed

# ----------------------------------------------------------------- helpers


def _problem(
    seed: int, meta_batch_size: int = 4, k_shot: int = 5, n_query: int = 5
):
    """A small float64 MLP and a batched sinusoid episode; the caller's random
    state is untouched."""
    from ..models import MLP
    from ..tasks import SinusoidTasks

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(hidden=(16, 16)).to(torch.float64)
    g = torch.Generator().manual_seed(seed)
    batch = SinusoidTasks().sample(
        meta_batch_size, k_shot, n_query, g, dtype=torch.float64
    )
    return model, batch


def _mse(
    model: nn.Module, params: dict[str, Tensor], x: Tensor, y: Tensor
) -> Tensor:
    return F.mse_loss(torch.func.functional_call(model, params, (x,)), y)


def _sgd(
    model: nn.Module,
    start: dict[str, Tensor],
    x: Tensor,
    y: Tensor,
    inner_lr: float,
    inner_steps: int,
    accumulate: bool = False,
):
    """Plain SGD on one task from ``start``; returns the weights after each step
    (``[θ⁽⁰⁾, ..., θ⁽ˢ⁾]``).

    ``accumulate=True`` reproduces a loop that forgets ``zero_grad``: step s
    uses the sum of the gradients of steps 1..s.
    """
    path = [start]
    w = {k: v.detach().clone() for k, v in start.items()}
    total = {k: torch.zeros_like(v) for k, v in w.items()}
    for _ in range(inner_steps):
        w = {k: v.requires_grad_() for k, v in w.items()}
        grads = torch.autograd.grad(_mse(model, w, x, y), list(w.values()))
        for k, gk in zip(w, grads):
            total[k] = total[k] + gk if accumulate else gk
        w = {k: (v - inner_lr * total[k]).detach() for k, v in w.items()}
        path.append(w)
    return path


def _flat(params: dict[str, Tensor] | list[Tensor]) -> Tensor:
    values = params.values() if isinstance(params, dict) else params
    return torch.cat(
        [v.detach().reshape(-1).to(torch.float64).cpu() for v in values]
    )


def _matches(value: Tensor, expected: Tensor, rtol: float = 1e-4) -> bool:
    """Relative agreement of two flat vectors (robust to float32 arithmetic
    inside the learner's code)."""
    if value.shape != expected.shape or not torch.isfinite(value).all():
        return False
    return bool((value - expected).norm() <= rtol * expected.norm() + 1e-12)


def _explain_mismatch(
    name: str,
    value: Tensor,
    expected: Tensor,
    mistakes: dict[str, Tensor],
    advice: str,
) -> None:
    if _matches(value, expected):
        return
    if not torch.isfinite(value).all():
        raise CheckFailed(f"{name} contains nan or inf")
    for hint, wrong in mistakes.items():
        if _matches(value, wrong):
            raise CheckFailed(f"{name} is not right yet: {hint}")
    rel = ((value - expected).norm() / expected.norm()).item()
    raise CheckFailed(
        f"{name} differs from the right answer (relative difference "
        f"{rel:.3g}) and matches none "
        f"of the usual mistakes. {advice}"
    )


# ------------------------------------------------------------------ Reptile


def reptile_step_variants(
    model: nn.Module,
    tasks: list,
    inner_lr: float,
    inner_steps: int,
    epsilon: float,
) -> dict[str, Tensor]:
    """θ after the right Reptile step and after typical wrong ones, each
    flattened.

    Args:
        model: the network; its parameters are θ (not changed).
        tasks: unbatched episodes; only their support sets are used.
        inner_lr, inner_steps: the inner SGD loop.
        epsilon: ε, Reptile's outer step size.
    """
    theta = {k: v.detach().clone() for k, v in model.named_parameters()}
    flat_theta = _flat(theta)
    n = len(tasks)

    def adapted(
        start, task, steps=inner_steps, accumulate=False, on_query=False
    ):
        x, y = (
            (task.query_x, task.query_y)
            if on_query
            else (task.support_x, task.support_y)
        )
        return _flat(_sgd(model, start, x, y, inner_lr, steps, accumulate)[-1])

    fresh = [adapted(theta, t) for t in tasks]
    mean_delta = torch.stack(fresh).mean(0) - flat_theta
    chained, start = [], theta
    for t in tasks:
        w = _sgd(model, start, t.support_x, t.support_y, inner_lr, inner_steps)[
            -1
        ]
        chained.append(_flat(w))
        start = w

    def update(adapted_list, scale=epsilon):
        return flat_theta + scale * (
            torch.stack(adapted_list).mean(0) - flat_theta
        )

    return {
        "right": flat_theta + epsilon * mean_delta,
        "sign": flat_theta - epsilon * mean_delta,
        "summed": flat_theta + epsilon * n * mean_delta,
        "no_epsilon": flat_theta + mean_delta,
        "epsilon_twice": flat_theta + epsilon**2 * mean_delta,
        "chained": update(chained),
        "chained_last": flat_theta + epsilon * (chained[-1] - flat_theta),
        "last_task": fresh[-1],
        "last_task_step": flat_theta + epsilon * (fresh[-1] - flat_theta),
        "accumulated": update(
            [adapted(theta, t, accumulate=True) for t in tasks]
        ),
        "one_step": update([adapted(theta, t, steps=1) for t in tasks]),
        "query": update([adapted(theta, t, on_query=True) for t in tasks]),
        "unchanged": flat_theta,
    }


def check_reptile_step(
    fn: Callable[..., Any],
    inner_lr: float = 0.02,
    inner_steps: int = 3,
    epsilon: float = 0.5,
) -> None:
    """Check ``fn(model, tasks, inner_lr, inner_steps, epsilon)``: one Reptile
    step, in place.

    ``tasks`` is a list of unbatched episodes. For every task, ``fn`` must start
    from the model's current weights θ, take ``inner_steps`` plain SGD steps
    with step size ``inner_lr`` on the task's support set (mean squared error),
    and remember the adapted weights θ'_i. It then sets the model's parameters
    to ``θ + epsilon · mean_i (θ'_i − θ)``. It returns nothing.
    """
    model, batch = _problem(seed=3)
    tasks = [batch[i] for i in range(batch.meta_batch_size)]
    variants = reptile_step_variants(
        model, tasks, inner_lr, inner_steps, epsilon
    )
    names = [n for n, _ in model.named_parameters()]

    def run(task_list: list) -> tuple[Tensor, Any]:
        m = copy.deepcopy(model)
        result = fn(m, list(task_list), inner_lr, inner_steps, epsilon)
        got = [n for n, _ in m.named_parameters()]
        if got != names:
            raise CheckFailed(
                "after your step the model's parameters are "
                f"{got}, expected {names}"
            )
        return _flat(dict(m.named_parameters())), result

    value, result = run(tasks)
    if _matches(value, variants["unchanged"], rtol=1e-12):
        extra = (
            f" (it returned a {type(result).__name__})"
            if result is not None
            else ""
        )
        raise CheckFailed(
            "the model's weights did not "
            "change" + extra + ". Update them in "
            "place, e.g. "
            "`with torch.no_grad(): p.add_(epsilon * mean_delta)` for each "
            "parameter, or with "
            "model.load_state_dict(new_weights)."
        )
    mistakes = {
        "the step goes the wrong way: Reptile moves θ towards the adapted "
        "weights, "
        "θ + ε·(θ' − θ); you used θ − θ' (or subtracted the "
        "step).": variants["sign"],
        f"the step is summed over the {len(tasks)} tasks; average θ'_i − θ "
        "over the tasks "
        "(divide by the number of tasks), so that ε does not depend on the "
        "meta-batch size.": variants["summed"],
        "ε is not applied: the model jumped to the mean of the adapted "
        "weights. "
        "Multiply the mean difference by epsilon.": variants["no_epsilon"],
        "ε is applied twice (the step is ε² · mean(θ' − θ)).": variants[
            "epsilon_twice"
        ],
        "the tasks chain: each task must start from θ, not from the previous "
        "task's adapted weights.": variants["chained"],
        "the tasks chain and only the last task's weights are used: start "
        "every task from θ "
        "and average θ'_i − θ over all tasks.": variants["chained_last"],
        "the model was set to the last task's adapted weights: average θ'_i − "
        "θ over all tasks "
        "and take a step of size ε.": variants["last_task"],
        "only the last task's θ' − θ is used: average θ'_i − θ over all tasks "
        "(keep a running sum over the loop, then divide by the number of "
        "tasks).": variants["last_task_step"],
        "the inner gradients accumulate: call zero_grad() (or set p.grad = "
        "None) before every "
        "backward() in the inner loop, otherwise step s uses the sum of all "
        "earlier gradients.": variants["accumulated"],
        "it equals the step with one inner step: the inner loop must run "
        f"inner_steps={inner_steps} "
        "times, each step continuing from the previous "
        "one.": variants["one_step"],
        "the inner loop was run on the query set; Reptile adapts on the "
        "support set "
        "(support_x, support_y).": variants["query"],
    }
    step = value - variants["unchanged"]
    right = variants["right"] - variants["unchanged"]
    wrong_steps = {
        hint: wrong - variants["unchanged"] for hint, wrong in mistakes.items()
    }
    if not _matches(step, right) and not any(
        _matches(step, w) for w in wrong_steps.values()
    ):
        reversed_value, _ = run(tasks[::-1])
        if not _matches(reversed_value - variants["unchanged"], step):
            raise CheckFailed(
                "your update depends on the order of the tasks, so the tasks "
                "influence each other: "
                "every task must start from the same θ (the model's weights "
                "before the step), and "
                "the update must use all tasks alike. Copy θ afresh for each "
                "task (copy.deepcopy(model)) "
                "instead of continuing from the previous task's weights."
            )
    _explain_mismatch(
        "your Reptile step",
        step,
        right,
        wrong_steps,
        "Try one task (tasks[:1]) and inner_steps=1 first: then θ'_1 = θ − "
        "inner_lr·∇L_support(θ).",
    )
    passed(
        f"your Reptile step equals θ + ε·mean_i(θ'_i − θ) ({len(tasks)} "
        f"tasks, {inner_steps} inner steps, ε={epsilon})"
    )


# ------------------------------------------------------------------- FOMAML


def fomaml_variants(
    model: nn.Module, batch, inner_lr: float, inner_steps: int
) -> dict[str, Tensor]:
    """The first-order meta-gradient and typical wrong ones, flattened (θ is not
    changed)."""
    from ..algorithms import MAML

    params = list(model.parameters())
    theta = {k: v.detach() for k, v in model.named_parameters()}

    def maml(steps: int, first_order: bool) -> Tensor:
        loss = MAML(model, inner_lr, steps, first_order=first_order).meta_loss(
            batch
        )
        return _flat(list(torch.autograd.grad(loss, params)))

    leftover = []
    for i in range(batch.meta_batch_size):
        t = batch[i]
        before_last = _sgd(
            model, theta, t.support_x, t.support_y, inner_lr, inner_steps
        )[-2]
        w = {k: v.clone().requires_grad_() for k, v in before_last.items()}
        leftover.append(
            _flat(
                list(
                    torch.autograd.grad(
                        _mse(model, w, t.support_x, t.support_y),
                        list(w.values()),
                    )
                )
            )
        )
    leftover_mean = torch.stack(leftover).mean(0)
    right = maml(inner_steps, True)
    b = batch.meta_batch_size
    return {
        "right": right,
        "second_order": maml(inner_steps, False),
        "summed": right * b,
        "negated": -right,
        "leftover": right + leftover_mean,
        "leftover_summed": (right + leftover_mean) * b,
        "no_adaptation": maml(0, True),
    }


def check_fomaml_meta_gradient(
    fn: Callable[..., Any], inner_lr: float = 0.05
) -> None:
    """Check ``fn(model, batch, inner_lr, inner_steps)``: the first-order MAML
    meta-gradient.

    ``batch`` is a batched episode. ``fn`` must return ``mean_i
    ∇L_query_i(θ'_i)``, where θ'_i comes from ``inner_steps`` SGD steps on task
    i's support set (mean squared error), as a list of tensors in
    ``model.parameters()`` order or a dict by name. It must not change the
    model's weights.
    """
    for inner_steps in (1, 2):
        model, batch = _problem(seed=10 + inner_steps)
        names = [n for n, _ in model.named_parameters()]
        variants = fomaml_variants(model, batch, inner_lr, inner_steps)
        before = _flat(dict(model.named_parameters()))
        result = fn(model, batch, inner_lr, inner_steps)
        if not _matches(
            _flat(dict(model.named_parameters())), before, rtol=1e-12
        ):
            raise CheckFailed(
                "your function changed the model's weights: adapt a copy of "
                "the model "
                "(copy.deepcopy or load_state_dict into a new one), not the "
                "model itself"
            )
        if isinstance(result, dict):
            missing = [n for n in names if n not in result]
            if missing:
                raise CheckFailed(
                    f"the returned dict lacks {missing}; key it "
                    "by model.named_parameters() names"
                )
            result = [result[n] for n in names]
        if not isinstance(result, (list, tuple)) or len(result) != len(names):
            raise CheckFailed(
                f"return one gradient tensor per parameter ({len(names)} of "
                "them, in model.parameters() "
                f"order) or a dict by name; got {type(result).__name__}"
            )
        for n, r in zip(names, result):
            if not isinstance(r, Tensor):
                raise CheckFailed(
                    f"the gradient for {n} is {type(r).__name__}: after "
                    "backward(), the gradient "
                    "lives in each parameter's .grad (the module itself has "
                    "no .grad)"
                )
        value = _flat(list(result))
        mistakes = {
            "it equals second-order MAML's gradient. FOMAML treats the inner "
            "gradients as "
            "constants: do not pass create_graph=True in the inner "
            "loop.": variants["second_order"],
            "it is summed over the tasks; the meta-loss is the mean of the "
            "query losses, so "
            "divide by meta_batch_size.": variants["summed"],
            "it has the wrong sign: return the gradient itself, the optimiser "
            "subtracts it.": variants["negated"],
            "it contains the last inner step's support gradient as well: "
            "backward() adds to .grad, "
            "so zero the copy's gradients before the query loss's "
            "backward().": variants["leftover"],
            "it contains the last inner step's support gradient (zero the "
            "copy's gradients before the "
            "query backward) and is summed over the tasks (divide by "
            "meta_batch_size).": variants["leftover_summed"],
            "it equals the query gradient at θ, without adaptation: take the "
            "query gradient at "
            "the adapted weights θ'_i.": variants["no_adaptation"],
        }
        _explain_mismatch(
            f"your meta-gradient (inner_steps={inner_steps})",
            value,
            variants["right"],
            mistakes,
            "Try meta_batch_size=1 (batch[0:1]) and compare with "
            "metabook.MAML(first_order=True).",
        )
    passed(
        "your meta-gradient equals first-order MAML's, with one and with "
        "two inner steps"
    )
