"""Self-checks for the chapter "Meta-training the Transformer".

* :func:`check_fit_heads`: does ``fit_heads(support, support_y, n_way, lr,
  steps)`` fit a fresh linear head per task, as the non-meta baseline does (zero
  start, gradient descent on each task's mean cross-entropy)?
* :func:`check_paired_difference`: is an estimate of "method A minus method B"
  the mean ± CI of the per-episode differences (a paired comparison on shared
  episodes)?
* :func:`check_nearest_class_mean`: does ``fn(support, support_y, query)``
  label each query with the class whose support mean is nearest in Euclidean
  distance, as scikit-learn's ``NearestCentroid`` does?
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..algorithms.finetune import fit_heads
from ..evaluate import Estimate, mean_ci
from . import CheckFailed, call_user, passed


def _case(seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    B, n_way, k, d = 3, 4, 2, 6
    # (B, n_way * k)
    labels = torch.arange(n_way).repeat_interleave(k).repeat(B, 1)
    centres = torch.randn(B, n_way, d, generator=g, dtype=torch.float64)
    support = centres.gather(
        1, labels[..., None].expand(-1, -1, d)
    ) + 0.3 * torch.randn(B, n_way * k, d, generator=g, dtype=torch.float64)
    return support, labels


def check_fit_heads(
    fn: Callable[[Tensor, Tensor, int, float, int], tuple[Tensor, Tensor]],
) -> None:
    """``fn(support, support_y, n_way, lr, steps)`` must return the heads ``(W,
    b)`` of every task.

    ``support``: ``(B, n_support, d)``; ``W``: ``(B, n_way, d)``; ``b``: ``(B,
    n_way)``.
    """
    for seed, lr, steps in ((2, 0.3, 0), (0, 0.5, 1), (1, 1.0, 25)):
        support, labels = _case(seed)
        n_way = int(labels.max()) + 1
        out = call_user(fn, support.clone(), labels.clone(), n_way, lr, steps)
        if not (
            isinstance(out, tuple)
            and len(out) >= 2
            and all(isinstance(t, Tensor) for t in out[:2])
        ):
            raise CheckFailed(
                "return a tuple (W, b) of tensors: W of shape "
                "(B, n_way, d), b of shape (B, n_way)"
            )
        W, b = (t.detach().to(torch.float64) for t in out[:2])
        W_ref, b_ref, _ = fit_heads(support, labels, n_way, lr, steps)
        B, _, d = support.shape
        if W.shape != (B, n_way, d) or b.shape != (B, n_way):
            raise CheckFailed(
                f"W has shape {tuple(W.shape)} and b {tuple(b.shape)}; "
                f"expected {(B, n_way, d)} and {(B, n_way)}: "
                "one head per task, one row per class"
            )
        if steps == 0 and (W.abs().max() > 0 or b.abs().max() > 0):
            raise CheckFailed(
                "with steps=0 the heads should be exactly zero: a fresh head "
                "starts at W = 0, b = 0 "
                "(a random start would make the baseline's result depend on "
                "the draw)"
            )
        if torch.allclose(W, W_ref, rtol=1e-5, atol=1e-8) and torch.allclose(
            b, b_ref, rtol=1e-5, atol=1e-8
        ):
            continue
        if steps == 1:
            summed, _, _ = fit_heads(
                support, labels, n_way, lr * labels.shape[1], 1
            )
            if torch.allclose(W, summed, rtol=1e-5, atol=1e-8):
                raise CheckFailed(
                    "your first step is n_support times too large: average "
                    "the cross-entropy over each "
                    "task's support examples (F.cross_entropy's default), "
                    "then sum over tasks"
                )
            if torch.allclose(W, W_ref / B, rtol=1e-5, atol=1e-8):
                raise CheckFailed(
                    f"your first step is {B} times too small: the tasks' "
                    "losses were averaged; sum them, so "
                    "every task gets its own full gradient (task i's loss "
                    "only depends on head i)"
                )
        if torch.allclose(b, torch.zeros_like(b)) and b_ref.abs().max() > 1e-9:
            raise CheckFailed(
                "b never moved: the bias is a parameter of the "
                "head too, step it with its gradient"
            )
        raise CheckFailed(
            f"with lr={lr} and steps={steps} your heads differ from the "
            "expected ones by up to "
            f"{(W - W_ref).abs().max().item():.3g} (W) and "
            f"{(b - b_ref).abs().max().item():.3g} (b). "
            "Start from zeros, take `steps` plain gradient steps of size lr "
            "on each task's mean "
            "cross-entropy of logits = support @ W.T + b."
        )
    passed(
        "fit_heads fits one zero-initialised head per task by gradient "
        "descent, as the baseline does"
    )


def check_paired_difference(
    estimate: Estimate, per_task_a: Tensor, per_task_b: Tensor
) -> None:
    """``estimate`` must be ``mean_ci(per_task_a - per_task_b)``: a paired
    comparison on shared episodes."""
    if not isinstance(estimate, Estimate):
        raise CheckFailed(
            "pass an Estimate (what mb.mean_ci returns), got a "
            f"{type(estimate).__name__}"
        )
    a, b = (
        torch.as_tensor(per_task_a, dtype=torch.float64),
        torch.as_tensor(per_task_b, dtype=torch.float64),
    )
    if a.shape != b.shape or a.dim() != 1:
        raise CheckFailed(
            f"per-task results of shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)}: a paired comparison needs "
            "one value per episode for both methods, on the same episodes"
        )
    ref = mean_ci(a - b)
    if (
        abs(estimate.mean - ref.mean) < 1e-6
        and abs(estimate.ci - ref.ci) < 1e-6
    ):
        passed(
            f"paired difference {ref}: its interval is "
            f"{'clear of' if ref.low > 0 or ref.high < 0 else 'across'} "
            "zero"
        )
        return
    if (
        abs(estimate.mean + ref.mean) < 1e-6
        and abs(estimate.ci - ref.ci) < 1e-6
    ):
        raise CheckFailed(
            "you computed B minus A; the check asks for A minus "
            "B (the sign matters for the verdict)"
        )
    unpaired = (mean_ci(a).ci ** 2 + mean_ci(b).ci ** 2) ** 0.5
    if (
        abs(estimate.mean - ref.mean) < 1e-6
        and abs(estimate.ci - unpaired) < 1e-6
    ):
        raise CheckFailed(
            "your interval combines the two methods' separate intervals, as "
            "if they were tested on different "
            "episodes; both saw the same episodes, so take the difference "
            "episode by episode first, then "
            "its mean and CI (mean_ci(a - b))"
        )
    raise CheckFailed(
        f"expected {ref} for the per-episode differences, got {estimate}; use "
        "mean_ci(per_task_a - per_task_b)"
    )


def _ncm_case(seed: int, k_shot: int) -> tuple[Tensor, Tensor, Tensor]:
    """Non-negative unit-length rows, as TF-IDF vectors are: 4 classes."""
    g = torch.Generator().manual_seed(seed)
    n_way, n_query, d = 4, 40, 8
    centres = torch.rand(n_way, d, generator=g, dtype=torch.float64) ** 3
    labels = torch.arange(n_way).repeat_interleave(k_shot)
    noise = torch.rand(n_way * k_shot, d, generator=g, dtype=torch.float64)
    support = centres[labels] + 0.6 * noise
    query = torch.rand(n_query, d, generator=g, dtype=torch.float64)
    unit = torch.nn.functional.normalize
    return unit(support, dim=-1), labels, unit(query, dim=-1)


def _class_means(support: Tensor, labels: Tensor) -> Tensor:
    n_way = int(labels.max()) + 1
    return torch.stack([support[labels == c].mean(0) for c in range(n_way)])


def _squared_distances(query: Tensor, centres: Tensor) -> Tensor:
    return ((query[:, None, :] - centres[None]) ** 2).sum(-1)


def check_nearest_class_mean(
    fn: Callable[[Tensor, Tensor, Tensor], Tensor],
) -> None:
    """``fn(support, support_y, query)`` must return the predicted class of
    every query: the class whose mean support vector is nearest.

    ``support``: ``(n_support, d)``; ``support_y``: ``(n_support,)`` labels in
    ``0 .. n_way-1``; ``query``: ``(n_query, d)``. Return ``(n_query,)``
    labels (a tensor, an array or a list).
    """
    for seed, k_shot in ((0, 1), (1, 3), (2, 5)):
        support, labels, query = _ncm_case(seed, k_shot)
        out = call_user(fn, support.clone(), labels.clone(), query.clone())
        try:
            pred = torch.as_tensor(out).flatten()
        except (TypeError, ValueError, RuntimeError) as err:
            raise CheckFailed(
                "return the predicted labels as a tensor, an array or a "
                f"list, got a {type(out).__name__}"
            ) from err
        if pred.numel() != len(query) or pred.is_floating_point():
            raise CheckFailed(
                f"return one integer label per query, shape ({len(query)},); "
                f"got {pred.numel()} values of dtype {pred.dtype}"
            )
        pred = pred.long()
        means = _class_means(support, labels)
        distances = _squared_distances(query, means)
        if torch.equal(pred, distances.argmin(-1)):
            continue
        n_way = means.shape[0]
        sums = means * (len(labels) // n_way)
        cosine = torch.nn.functional.normalize(means, dim=-1)
        wrong = (
            (
                distances.argmax(-1),
                "you picked the farthest class mean: take the argmin of the "
                "distance (or the argmax of minus the distance)",
            ),
            (
                _squared_distances(query, sums).argmin(-1),
                "you measured the distance to class sums, not means: divide "
                "each class's sum by its number of support examples",
            ),
            (
                (query @ cosine.T).argmax(-1),
                "you used cosine similarity to the means. It ranks classes "
                "differently from Euclidean distance when the means have "
                "different lengths (a mean of unit vectors is shorter than 1 "
                "the more they differ); NearestCentroid uses Euclidean "
                "distance",
            ),
            (
                (query @ means.T).argmax(-1),
                "you ranked the classes by the dot product q·c alone; the "
                "squared distance is ‖q‖² − 2 q·c + ‖c‖², and the ‖c‖² term "
                "changes the ranking when the means have different lengths",
            ),
        )
        for expected, message in wrong:
            if torch.equal(pred, expected):
                raise CheckFailed(message)
        bad = int((pred != distances.argmin(-1)).sum())
        raise CheckFailed(
            f"{bad} of {len(query)} queries got another label than the "
            f"nearest class mean ({k_shot}-shot case). Average the support "
            "vectors of each class, then give each query the label of the "
            "mean at the smallest Euclidean distance."
        )
    passed(
        "nearest_class_mean labels every query with its nearest class mean, "
        "as NearestCentroid does"
    )
