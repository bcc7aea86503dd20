"""Self-checks for the chapter "Prototypical Networks".

* :func:`check_prototypes`: does ``prototypes(embeddings, labels, n_way)``
  return the class means of the support embeddings, one row per class in label
  order?
* :func:`check_linear_head`: does ``linear_head(prototypes)`` return the weights
  ``W = 2 C`` and biases ``b = −‖c_k‖²`` of the linear model that a prototype
  classifier with squared Euclidean distance is?
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

from . import CheckFailed, call_user, passed


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-6, atol=1e-8)


def _as_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise CheckFailed(
            f"{name} is a {type(value).__name__}; return a torch.Tensor"
        )
    return value


# ------------------------------------------------------------------- prototypes


def _support_case(
    seed: int, n_way: int, counts: list[int], d: int
) -> tuple[Tensor, Tensor]:
    """Embeddings and *shuffled* labels, so that classes do not appear in the
    order 0, 1, 2, ..."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    order = torch.randperm(len(labels), generator=g)
    while labels[order][0] == 0:  # make sure class 0 is not the first to appear
        order = torch.randperm(len(labels), generator=g)
    embeddings = (
        torch.randn(len(labels), d, generator=g, dtype=torch.float64)
        + 3 * torch.randn(n_way, d, generator=g, dtype=torch.float64)[labels]
    )
    return embeddings[order], labels[order]


def _diagnose_prototypes(
    got: Tensor, embeddings: Tensor, labels: Tensor, n_way: int
) -> str:
    d = embeddings.shape[-1]
    counts = torch.bincount(labels, minlength=n_way).to(embeddings.dtype)[
        :, None
    ]
    means = torch.stack([embeddings[labels == k].mean(0) for k in range(n_way)])
    sums = means * counts
    if got.shape == (d, n_way) and got.shape != means.shape:
        return (
            f"the result has shape {tuple(got.shape)} = (d, n_way): it looks "
            "transposed. Return one row "
            f"per class, shape (n_way, d) = {tuple(means.shape)}, so that row "
            "k is the prototype c_k."
        )
    if got.shape == embeddings.shape and got.shape != means.shape:
        return (
            f"the result has shape {tuple(got.shape)}, one row per support "
            "example; a prototype "
            "summarises a whole class, so return shape (n_way, d) = "
            f"{tuple(means.shape)}."
        )
    if got.shape != means.shape:
        return (
            f"the result has shape {tuple(got.shape)}, expected (n_way, d) = "
            f"{tuple(means.shape)}."
        )
    if _close(got, sums):
        return (
            "each row is the *sum* of its class's embeddings, not the mean: "
            "divide by the class's count."
        )
    if _close(got, means.mean(0, keepdim=True).expand_as(means)) or _close(
        got, embeddings.mean(0, keepdim=True).expand_as(means)
    ):
        return (
            "every row is the same: the mean of all support embeddings. "
            "Select the rows of class k "
            "(embeddings[labels == k]) before averaging."
        )
    if any(
        _close(got, sums / per)
        for per in (len(labels) / n_way, len(labels) // n_way)
    ):
        return (
            "you divide every class's sum by n_support / n_way, which is "
            "right only when all classes "
            "have the same number of support examples; divide by each class's "
            "own count."
        )
    first_seen = list(dict.fromkeys(labels.tolist()))
    for target, what in ((means, "means"), (sums, "sums")):
        for perm in itertools.permutations(range(n_way)):
            if list(perm) != list(range(n_way)) and _close(
                got, target[list(perm)]
            ):
                order = (
                    "in the order the classes first appear in labels"
                    if list(perm) == first_seen
                    else "in another order"
                )
                extra = (
                    " They are also sums, not means: divide by each class's "
                    "count."
                    if what == "sums"
                    else ""
                )
                return (
                    f"the rows are the right class {what} but in the wrong "
                    f"order ({order}): row k must be "
                    "class k. Loop over k in range(n_way) rather than over "
                    f"labels.unique(sorted=False) or a set.{extra}"
                )
    worst = int((got - means).abs().amax(-1).argmax())
    fmt = lambda row: "[" + ", ".join(f"{v:.3g}" for v in row.tolist()) + "]"  # noqa: E731
    return (
        f"row {worst} (class {worst}) is {fmt(got[worst])}, expected the mean "
        "of the embeddings with "
        f"label {worst}, {fmt(means[worst])}."
    )


def check_prototypes(
    prototypes: Callable[[Tensor, Tensor, int], Tensor],
) -> None:
    """``prototypes(embeddings, labels, n_way)`` must return the ``(n_way, d)``
    class means.

    The check shuffles the support set (classes do not come in label order),
    uses ``d != n_way`` (so a transposed answer shows), tries a support set
    whose classes have different sizes, and checks that gradients flow back to
    the embeddings (ProtoNet trains the encoder *through* the prototypes).
    """
    cases = [
        ("4-way 3-shot", 0, 4, [3, 3, 3, 3], 3),
        ("3-way with 2, 5 and 1 examples", 1, 3, [2, 5, 1], 6),
    ]
    for name, seed, n_way, counts, d in cases:
        embeddings, labels = _support_case(seed, n_way, counts, d)
        embeddings.requires_grad_(True)
        got = _as_tensor(
            "the result", call_user(prototypes, embeddings, labels, n_way)
        )
        expected = torch.stack(
            [embeddings[labels == k].mean(0) for k in range(n_way)]
        )
        if not _close(got.detach().to(torch.float64), expected.detach()):
            raise CheckFailed(
                f"{name} support set: "
                + _diagnose_prototypes(
                    got.detach().to(torch.float64),
                    embeddings.detach(),
                    labels,
                    n_way,
                )
            )
        if not got.requires_grad:
            raise CheckFailed(
                "the prototypes are right but carry no gradient: ProtoNet "
                "trains the encoder through them. "
                "Avoid .item(), .tolist(), .numpy(), torch.tensor(...) and "
                "torch.no_grad() on the embeddings."
            )
        (grad,) = torch.autograd.grad(got.sum(), embeddings)
        expected_grad = (
            1.0 / torch.bincount(labels, minlength=n_way).to(grad.dtype)
        )[labels][:, None].expand_as(grad)
        if not _close(grad, expected_grad):
            raise CheckFailed(
                "the prototypes have the right values but the wrong gradient "
                "with respect to the embeddings; "
                "compute them from the embeddings with differentiable "
                "operations (mean, sum, indexing)."
            )
    passed(
        "prototypes are the class means, in label order, with gradients "
        "flowing to the embeddings"
    )


# ------------------------------------------------------------------ linear head


def check_linear_head(
    linear_head: Callable[[Tensor], tuple[Tensor, Tensor]],
) -> None:
    """``linear_head(C)`` for prototypes ``C`` of shape ``(n_way, d)`` must
    return ``(W, b)`` with ``W = 2 C`` (shape ``(n_way, d)``) and ``b_k =
    −‖c_k‖²`` (shape ``(n_way,)``), so that ``z @ W.T + b`` equals ``−‖z −
    c_k‖²`` up to ``−‖z‖²``, the same for every class.
    """
    g = torch.Generator().manual_seed(0)
    n_way, d = 5, 3
    c = torch.randn(n_way, d, generator=g, dtype=torch.float64) * 2
    result = call_user(linear_head, c.clone())
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(
            f"linear_head returned a {type(result).__name__}; "
            "return a pair (W, b)"
        )
    w = _as_tensor("W", result[0]).detach().to(torch.float64)
    b = _as_tensor("b", result[1]).detach().to(torch.float64)
    if w.shape == (d, n_way):
        raise CheckFailed(
            f"W has shape {tuple(w.shape)} = (d, n_way): it looks transposed. "
            "Use one row per class, "
            f"shape (n_way, d) = {(n_way, d)}, so that the logits are z @ W.T "
            "+ b."
        )
    if w.shape != (n_way, d):
        raise CheckFailed(
            f"W has shape {tuple(w.shape)}, expected (n_way, d) = {(n_way, d)}"
        )
    if b.shape != (n_way,):
        hint = " (flatten it)" if b.numel() == n_way else ""
        raise CheckFailed(
            f"b has shape {tuple(b.shape)}, expected (n_way,) = "
            f"{(n_way,)}{hint}"
        )
    sq = c.pow(2).sum(-1)
    if _close(w, c) and _close(b, -sq / 2):
        raise CheckFailed(
            "your W = C and b = −‖c‖²/2 give exactly half the right logits: "
            "the same predictions, but a "
            "different softmax (and loss). Expanding −‖z − c‖² gives 2 cᵀz − "
            "‖c‖², so W = 2 C, b = −‖c‖²."
        )
    if not _close(w, 2 * c):
        if _close(w, c):
            hint = (
                "W equals the prototypes: the factor 2 is missing (−‖z − c‖² "
                "= 2 cᵀz − ‖c‖² − ‖z‖²)."
            )
        elif _close(w, -2 * c) or _close(w, -c):
            hint = (
                "W has the wrong sign: the logit grows as z points towards "
                "c_k, so W = +2 C."
            )
        else:
            hint = "expected W = 2 C: row k is twice the prototype c_k."
        raise CheckFailed(f"W is wrong. {hint}")
    if not _close(b, -sq):
        if _close(b, torch.zeros_like(b)):
            hint = (
                "b is zero: the −‖c_k‖² term is missing. It differs between "
                "classes, so unlike −‖z‖² it "
                "cannot be dropped."
            )
        elif _close(b, sq):
            hint = (
                "b has the wrong sign: b_k = −‖c_k‖² (a far-away prototype is "
                "penalised)."
            )
        elif _close(b, -sq.sqrt()):
            hint = (
                "b = −‖c_k‖ is not squared: b_k = −‖c_k‖² (the sum of squares "
                "of c_k's entries)."
            )
        elif _close(b, -sq / 2):
            hint = "b is half of −‖c_k‖²: with W = 2 C, b_k = −‖c_k‖² (no ½)."
        else:
            hint = (
                "expected b_k = −‖c_k‖², the negative squared norm of each "
                "prototype."
            )
        raise CheckFailed(f"b is wrong. {hint}")
    z = torch.randn(7, d, generator=g, dtype=torch.float64)
    linear = z @ w.T + b
    from_distances = -(z[:, None] - c[None]).pow(2).sum(-1)
    if not torch.allclose(
        linear - from_distances,
        z.pow(2).sum(-1, keepdim=True).expand_as(linear),
    ):
        raise CheckFailed(
            "z @ W.T + b does not equal −‖z − c_k‖² + ‖z‖²; check W and b again"
        )
    passed(
        "W = 2C and b = −‖c‖²: the linear logits equal the negative "
        "squared distances plus ‖z‖², the same softmax"
    )
