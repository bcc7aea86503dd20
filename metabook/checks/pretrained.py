"""Self-checks for the chapter "Meta-learning meets pre-training".

* :func:`check_mean_pool`: does ``mean_pool(states, keep)`` turn token states
  into sentence embeddings as all-MiniLM-L6-v2 does (mean over the real tokens,
  unit length)?
* :func:`check_prototype_head`: does ``prototype_head(support, support_y,
  n_way)`` give the linear head that Proto-MAML starts from (w = 2c,
  b = −‖c‖²), which predicts exactly as ProtoNet?
* :func:`check_metasgd_step`: does ``metasgd_step(params, lrs, support,
  support_y)`` take one Meta-SGD inner step on a linear head, keeping the graph
  to the learned step sizes?
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..algorithms.protonet import prototypes, squared_distances
from ..models.pretrained import mean_pool
from . import CheckFailed, call_user, passed


def _states(seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(4, 7, 6, generator=g, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5, 1])
    keep = torch.arange(7) < lengths[:, None]
    return states, keep


def _tensor(value: object, what: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise CheckFailed(
            f"return {what} as a tensor, got a {type(value).__name__}"
        )
    return value.detach().to(torch.float64)


def check_mean_pool(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """``fn(states, keep)``: ``(n, T, d)`` states, ``(n, T)`` booleans -> ``(n,
    d)``."""
    for seed in (0, 1):
        states, keep = _states(seed)
        out = _tensor(
            call_user(fn, states.clone(), keep.clone()), "the embeddings"
        )
        ref = mean_pool(states, keep)
        if out.shape != ref.shape:
            raise CheckFailed(
                f"the embeddings have shape {tuple(out.shape)}, expected "
                f"{tuple(ref.shape)}: one vector per text (average over T)"
            )
        if torch.allclose(out, ref, atol=1e-6):
            continue
        norms = out.norm(dim=-1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-4):
            raise CheckFailed(
                "the embeddings are not of unit length: divide the mean by its "
                "norm, as the model's last step (Normalize) does"
            )
        everything = F.normalize(states.mean(1), dim=-1)
        if torch.allclose(out, everything, atol=1e-6):
            raise CheckFailed(
                "you averaged over every position, padding included: weight "
                "the "
                "states by keep and divide by the number of real tokens"
            )
        raise CheckFailed(
            "the embeddings differ from the mean of the kept token states, "
            f"scaled to unit length (largest difference "
            f"{(out - ref).abs().max().item():.3g})"
        )
    passed("mean_pool averages the real tokens and scales to unit length")


def _support(seed: int) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    B, n_way, k, d = 2, 3, 2, 5
    labels = torch.arange(n_way).repeat_interleave(k).repeat(B, 1)
    support = torch.randn(B, n_way * k, d, generator=g, dtype=torch.float64)
    query = torch.randn(B, 6, d, generator=g, dtype=torch.float64)
    return support, labels, query


def _head(out: object) -> tuple[Tensor, Tensor]:
    if isinstance(out, dict) and {"weight", "bias"} <= out.keys():
        out = (out["weight"], out["bias"])
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed(
            "return (W, b): W of shape (B, n_way, d) and b of shape (B, n_way)"
        )
    return _tensor(out[0], "W"), _tensor(out[1], "b")


def check_prototype_head(fn: Callable[[Tensor, Tensor, int], object]) -> None:
    """``fn(support, support_y, n_way)`` -> ``(W, b)`` of Proto-MAML's starting
    head."""
    for seed in (0, 1):
        support, labels, query = _support(seed)
        n_way = int(labels.max()) + 1
        W, b = _head(call_user(fn, support.clone(), labels.clone(), n_way))
        c = prototypes(support, labels, n_way)
        B, _, d = support.shape
        if W.shape != (B, n_way, d) or b.shape != (B, n_way):
            raise CheckFailed(
                f"W has shape {tuple(W.shape)} and b {tuple(b.shape)}; "
                "expected "
                f"{(B, n_way, d)} and {(B, n_way)}: one row per class and task"
            )
        logits = query @ W.transpose(1, 2) + b.unsqueeze(1)
        proto = -squared_distances(query, c)
        # Equal up to a constant per query (−‖z‖²): compare centred logits.
        diff = (logits - proto) - (logits - proto).mean(-1, keepdim=True)
        if diff.abs().max() < 1e-6:
            continue
        if torch.allclose(W, c) or torch.allclose(W, 2 * c):
            if torch.allclose(W, c):
                raise CheckFailed(
                    "W = c is half of what it should be: −‖z − c‖² = 2cᵀz − "
                    "‖c‖² − ‖z‖², so the weights are 2c"
                )
            norms = c.pow(2).sum(-1)
            if torch.allclose(b, norms):
                raise CheckFailed(
                    "the bias has the wrong sign: it is −‖c‖² (a far-away "
                    "prototype should lose logit)"
                )
            if torch.allclose(b.abs(), norms.sqrt()):
                raise CheckFailed("the bias is −‖c‖², the *squared* norm")
        raise CheckFailed(
            "your head does not predict as ProtoNet: its logits should equal "
            "−‖z − c_k‖² up to a constant per query; use W = 2c, b = −‖c‖² "
            "with c the class means of the support set"
        )
    passed(
        "prototype_head starts at ProtoNet's predictions (W = 2c, b = −‖c‖²)"
    )


def _metasgd_case(seed: int):
    g = torch.Generator().manual_seed(seed)
    n_way, k, d = 3, 2, 4
    support = torch.randn(n_way * k, d, generator=g, dtype=torch.float64)
    labels = torch.arange(n_way).repeat_interleave(k)
    params = {
        "weight": torch.randn(n_way, d, generator=g, dtype=torch.float64),
        "bias": torch.randn(n_way, generator=g, dtype=torch.float64),
    }
    lrs = {
        k: (0.1 + torch.rand(v.shape, generator=g, dtype=torch.float64))
        for k, v in params.items()
    }
    return params, lrs, support, labels


def _reference_step(params, lrs, support, labels):
    logits = support @ params["weight"].T + params["bias"]
    loss = F.cross_entropy(logits, labels)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    return {k: p - lrs[k] * g for (k, p), g in zip(params.items(), grads)}


def check_metasgd_step(fn: Callable[..., dict]) -> None:
    """``fn(params, lrs, support, support_y)`` -> the head after one Meta-SGD
    step.

    ``params`` and ``lrs`` are dicts with ``"weight"`` ``(n_way, d)`` and
    ``"bias"`` ``(n_way,)``; the logits are ``support @ weight.T + bias``.
    """
    for seed in (0, 1):
        params, lrs, support, labels = _metasgd_case(seed)
        mine_p = {k: v.clone().requires_grad_() for k, v in params.items()}
        mine_a = {k: v.clone().requires_grad_() for k, v in lrs.items()}
        out = call_user(fn, mine_p, mine_a, support.clone(), labels.clone())
        if not isinstance(out, dict) or set(out) != {"weight", "bias"}:
            raise CheckFailed(
                'return a dict with the adapted "weight" and "bias"'
            )
        ref = _reference_step(
            {k: v.clone().requires_grad_() for k, v in params.items()},
            lrs,
            support,
            labels,
        )
        got = {k: _tensor(v, k) for k, v in out.items()}
        if all(torch.allclose(got[k], ref[k].detach()) for k in ref):
            total = sum(v.sum() for v in out.values())
            if not total.requires_grad:
                raise CheckFailed(
                    "the adapted head is detached: keep the graph (no "
                    ".detach(), no torch.no_grad()) so the step sizes get a "
                    "meta-gradient"
                )
            grads = torch.autograd.grad(
                total, list(mine_a.values()), allow_unused=True
            )
            if any(g is None for g in grads):
                raise CheckFailed(
                    "the step sizes get no gradient from the adapted head: "
                    "use the lrs tensors you were given in the update"
                )
            continue
        scalar = {k: lrs[k].mean() for k in lrs}
        wrong = _reference_step(
            {k: v.clone().requires_grad_() for k, v in params.items()},
            scalar,
            support,
            labels,
        )
        if all(torch.allclose(got[k], wrong[k].detach()) for k in wrong):
            raise CheckFailed(
                "you used one step size per tensor; Meta-SGD multiplies each "
                "gradient entry by its own step size (lrs[k] * grad, entrywise)"
            )
        up = {k: 2 * params[k] - ref[k].detach() for k in ref}
        if all(torch.allclose(got[k], up[k]) for k in up):
            raise CheckFailed("you stepped uphill: θ' = θ − α ⊙ ∇L")
        raise CheckFailed(
            "the adapted head differs from θ − α ⊙ ∇θ CE(support): take one "
            "step on the mean cross-entropy of the support set"
        )
    passed("metasgd_step takes θ − α ⊙ ∇L, and α gets a meta-gradient")
