"""Self-checks for the chapter "A small Transformer from scratch".

* :func:`check_attention`: does ``attention(q, k, v, keep)`` compute scaled
  dot-product attention with a key padding mask (and, with ``causal=True``, a
  causal mask)?
* :func:`check_parameter_count`: does a formula ``count(vocab_size, n_way,
  d_model, n_heads, n_layers, d_ff, max_len)`` give the number of parameters of
  :class:`~metabook.models.TransformerClassifier`?
* :func:`check_mean_pooling`: does ``pool(h, keep)`` average the hidden states
  of the real (non-padding) tokens only?

Each check recognises the usual mistakes (no 1/√d_head, no padding mask, a
softmax over the wrong axis, the wrong triangle of a causal mask, biases or
LayerNorms left out of a count, padding averaged in, ...) and says what is wrong
and why.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor

from . import CheckFailed, call_user, passed


def _as_tensor(name: str, value: object) -> Tensor:
    if isinstance(value, tuple) and value and isinstance(value[0], Tensor):
        raise CheckFailed(
            f"{name} is a tuple of {len(value)} tensors; return "
            "only the output tensor"
        )
    if not isinstance(value, Tensor):
        raise CheckFailed(
            f"{name} is a {type(value).__name__}; return a torch.Tensor"
        )
    return value


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    )


# -------------------------------------------------------------------- attention

_SCALES = {"sqrt": "1/√d_head", "none": "no scale", "d": "1/d_head"}
_CAUSAL = {
    "none": "no causal mask",
    "lower": "j ≤ i",
    "upper": "j ≥ i",
    "strict": "j < i",
}


def _reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    keep: Tensor,
    scale: str = "sqrt",
    key_mask: bool = True,
    causal: str = "none",
    dim: int = -1,
) -> Tensor:
    """Attention with each ingredient switchable, so that a wrong answer can be
    recognised."""
    T, d_head = q.shape[-2], q.shape[-1]
    factor = {"sqrt": 1 / math.sqrt(d_head), "none": 1.0, "d": 1 / d_head}[
        scale
    ]
    scores = (q @ k.transpose(-2, -1)) * factor  # (B, H, T, T)
    allowed = torch.ones(q.shape[0], 1, T, T, dtype=torch.bool)
    if key_mask:
        allowed = allowed & keep[:, None, None, :]
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    if causal != "none":
        allowed = (
            allowed
            & {"lower": j <= i, "upper": j >= i, "strict": j < i}[causal]
        )
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return scores.softmax(dim=dim) @ v


def _attention_case(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """B=4 sequences of lengths 7, 4, 2 and 0 (all padding), H=2 heads, T=7,
    d_head=9."""
    g = torch.Generator().manual_seed(seed)
    B, H, T, d = 4, 2, 7, 9
    q, k, v = (
        torch.randn(B, H, T, d, generator=g, dtype=torch.float64)
        for _ in range(3)
    )
    # (B, T)
    keep = torch.arange(T)[None, :] < torch.tensor([7, 4, 2, 0])[:, None]
    return q, k, v, keep


def _attention_mistakes(causal: bool) -> list[tuple[str, dict[str, object]]]:
    """Every combination of the ingredients, the right one first."""
    combos = itertools.product(_SCALES, (True, False), _CAUSAL, (-1, -2))
    right = {
        "scale": "sqrt",
        "key_mask": True,
        "causal": "lower" if causal else "none",
        "dim": -1,
    }
    out = [("right", right)]
    for scale, key_mask, c, dim in combos:
        variant = {
            "scale": scale,
            "key_mask": key_mask,
            "causal": c,
            "dim": dim,
        }
        if variant != right:
            out.append(("wrong", variant))
    return out


def _explain(variant: dict[str, object], causal: bool) -> list[str]:
    problems = []
    if variant["scale"] == "none":
        problems.append(
            "the scores are not divided by √d_head. A dot product of two "
            "d_head-dimensional vectors with "
            "unit-variance entries has a standard deviation of √d_head, so "
            "without the scale the softmax "
            "saturates (one weight near 1, the rest near 0) and its gradients "
            "vanish as heads get wider."
        )
    elif variant["scale"] == "d":
        problems.append(
            "the scores are divided by d_head instead of √d_head: that "
            "over-corrects, and the weights "
            "become too flat (close to uniform) for wide heads. Use scores / "
            "math.sqrt(d_head)."
        )
    if variant["dim"] == -2:
        problems.append(
            "the softmax runs over the queries (dim=-2), so each *column* "
            "sums to 1. Row i holds query i's "
            "scores against every key; normalise each row over the keys with "
            "softmax(dim=-1)."
        )
    if not variant["key_mask"]:
        problems.append(
            "padding keys receive attention weight. Mask the *keys* where "
            "keep is False, on the last axis "
            "of the scores (keep[:, None, None, :]), before the softmax; "
            "masking the queries "
            "(keep[:, None, :, None]) does not help, and without the key mask "
            "appending padding to a "
            "sequence changes every token's output."
        )
    wanted = "lower" if causal else "none"
    if variant["causal"] != wanted:
        c = variant["causal"]
        if not causal:
            problems.append(
                f"you applied a causal mask ({_CAUSAL[c]}); this attention is "
                "bidirectional: every token may "
                "attend to every real token, before and after it."
            )
        elif c == "none":
            problems.append(
                "there is no causal mask: position i also attends to later "
                "positions j > i. Mask the scores "
                "where j > i (keep the lower triangle, torch.tril) as well as "
                "the padding keys."
            )
        elif c == "upper":
            problems.append(
                "the causal mask is the wrong triangle: position i attends to "
                "j ≥ i (the future). Keep the "
                "lower triangle, j ≤ i (torch.tril, or mask torch.triu(..., "
                "diagonal=1))."
            )
        elif c == "strict":
            problems.append(
                "the causal mask also hides the diagonal (j < i): a position "
                "must be able to attend to "
                "itself, and the first position would otherwise have nothing "
                "to attend to. Keep j ≤ i."
            )
    return problems


def check_attention(
    attention: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor],
    causal: bool = False,
) -> None:
    """``attention(q, k, v, keep)`` must return ``softmax(q kᵀ / √d_head + mask)
    v``.

    ``q``, ``k``, ``v`` have shape ``(B, H, T, d_head)`` and ``keep`` ``(B, T)``
    (True for real tokens); the result has shape ``(B, H, T, d_head)``. Padding
    keys get weight 0; with ``causal=True`` position ``i`` also ignores every
    later position ``j > i``. The outputs of real query positions are compared
    with the right answer; a sequence made only of padding must give finite
    numbers (whatever they are), which a ``-inf`` fill does not.
    """
    q, k, v, keep = _attention_case()
    B, H, T, d = q.shape
    got = _as_tensor(
        "the result",
        call_user(attention, q.clone(), k.clone(), v.clone(), keep.clone()),
    )
    if got.shape != (B, H, T, d):
        if got.shape == (B, T, H * d):
            raise CheckFailed(
                f"the result has shape {tuple(got.shape)} = (B, T, H * "
                "d_head): the heads are already "
                "concatenated. This function works on all heads at once but "
                "keeps them apart; return "
                f"(B, H, T, d_head) = {(B, H, T, d)}."
            )
        if got.shape == (B, H, T, T):
            raise CheckFailed(
                f"the result has shape {tuple(got.shape)} = (B, H, T, T): "
                "these look like the attention "
                "weights. Multiply them by v to get the output, shape "
                f"{(B, H, T, d)}."
            )
        raise CheckFailed(
            f"the result has shape {tuple(got.shape)}, expected "
            f"(B, H, T, d_head) = {(B, H, T, d)}"
        )
    got = got.detach().to(torch.float64)
    # outputs of real query positions
    real = keep[:, None, :, None].expand_as(got)
    if not torch.isfinite(got[real]).all():
        raise CheckFailed(
            "the outputs of real tokens contain nan or inf. Check the scale "
            "and the masks: a row whose "
            "keys are all masked with -inf gives softmax 0/0."
        )
    if not torch.isfinite(got).all():
        raise CheckFailed(
            "a sequence made only of padding gives nan. Its query rows have "
            "every key masked; with a -inf "
            "fill the softmax computes 0/0. Fill with a large finite negative "
            "number instead, "
            "torch.finfo(scores.dtype).min: exp(min - max) is exactly 0 for "
            "masked keys of real rows, "
            "and an all-masked row becomes uniform instead of nan."
        )
    for kind, variant in _attention_mistakes(causal):
        expected = _reference(q, k, v, keep, **variant)  # type: ignore[arg-type]
        if _close(got[real], expected[real]):
            if kind == "right":
                what = (
                    "causal attention with a key padding mask"
                    if causal
                    else "attention with a key padding mask"
                )
                passed(
                    f"{what}: scaled by 1/√d_head, softmax over the keys, "
                    "padding keys ignored, no nan"
                )
                return
            problems = _explain(variant, causal)
            if len(problems) == 1:
                raise CheckFailed("Almost: " + problems[0])
            listed = " ".join(f"({n}) {p}" for n, p in enumerate(problems, 1))
            raise CheckFailed(f"{len(problems)} things to fix: {listed}")
    right = _reference(q, k, v, keep, causal="lower" if causal else "none")
    err = (got - right).abs().masked_fill(~real, 0)
    b, h, t, _ = [int(i) for i in torch.nonzero(err == err.max())[0]]
    raise CheckFailed(
        f"the output of sequence {b}, head {h}, position {t} differs from the "
        "expected one by up to "
        f"{err.max().item():.3g}. Follow the recipe: scores = q @ "
        "k.transpose(-2, -1) / √d_head (B, H, T, T); "
        "mask the padding keys"
        + (" and the future positions j > i" if causal else "")
        + " with a finite "
        "fill; softmax over the last axis; multiply by v."
    )


# -------------------------------------------------------------- parameter count


def _parts(
    V: int, N: int, C: int, H: int, L: int, F: int, T: int
) -> dict[str, int]:
    """The parameters of each kind in a TransformerClassifier, in total."""
    return {
        "tok": V * C,
        "pos": T * C,
        "attn_w": L * 3 * C * C,
        "attn_b": L * 3 * C,
        "proj": L * (C * C + C),
        "ln": L * 2 * 2 * C,
        "mlp_w": L * 2 * C * F,
        "mlp_b": L * (F + C),
        "ln_f": 2 * C,
        "head_w": C * N,
        "head_b": N,
    }


_MISSING = {
    "tok": "the token embeddings (vocab_size × d_model)",
    "pos": "the learned positions (max_len × d_model)",
    "attn_b": "the biases of the query, key and value projections",
    "proj": "the attention's output projection (d_model × d_model weights "
    "and d_model biases)",
    "ln": "the two LayerNorms of each block (a gain and a bias of size "
    "d_model each)",
    "mlp_b": "the feed-forward biases (d_ff + d_model per block)",
    "ln_f": "the final LayerNorm (2 × d_model)",
    "head_w": "the head's weights (d_model × n_way)",
    "head_b": "the head's biases (n_way)",
}


def _diagnose_count(
    got: list[int], configs: list[tuple[int, ...]]
) -> str | None:
    parts = [_parts(*c) for c in configs]
    truth = [sum(p.values()) for p in parts]
    # one or two kinds of parameters left out
    for r in (1, 2):
        for missing in itertools.combinations(_MISSING, r):
            if all(
                g == t - sum(p[m] for m in missing)
                for g, t, p in zip(got, truth, parts)
            ):
                what = " and ".join(_MISSING[m] for m in missing)
                return f"your count leaves out {what}."

    def linear_biases(c: tuple[int, ...]) -> int:
        V, N, C, H, L, F, T = c
        # query, key, value, output, the two MLP layers; the head
        return L * (3 * C + C + F + C) + N

    if all(g == t - linear_biases(c) for g, t, c in zip(got, truth, configs)):
        return (
            "your count leaves out every bias: nn.Linear(a, b) has a × b "
            "weights and b biases."
        )
    L_parts = ("attn_w", "attn_b", "proj", "ln", "mlp_w", "mlp_b")
    if all(
        g == t - sum(p[k] for k in L_parts) * (c[4] - 1) // c[4]
        for g, t, p, c in zip(got, truth, parts, configs)
    ):
        return (
            "your count has the blocks' parameters once; there are n_layers "
            "blocks, each with its own weights."
        )
    qkv = [p["attn_w"] + p["attn_b"] for p in parts]
    per_head = [
        (t + (c[3] - 1) * a, t + (c[3] - 1) * (a + p["proj"]))
        for t, a, p, c in zip(truth, qkv, parts, configs)
    ]
    if all(g in options for g, options in zip(got, per_head)):
        return (
            "your count grows with n_heads: it gives every head its own "
            "d_model × d_model projections. "
            "The heads *split* d_model into n_heads slices of d_head = "
            "d_model / n_heads, so the query, "
            "key and value projections are d_model × d_model in total, "
            "whatever n_heads is."
        )
    if all(g == t - (p["mlp_w"] // 2) for g, t, p in zip(got, truth, parts)):
        return (
            "your feed-forward network has one weight matrix; it has two "
            "(d_model → d_ff → d_model)."
        )
    if all(
        g == t - p["attn_w"] // 3 - p["attn_b"] // 3
        for g, t, p in zip(got, truth, parts)
    ):
        return (
            "your attention has two of the query, key and value projections; "
            "it has all three."
        )
    return None


def check_parameter_count(count: Callable[..., int]) -> None:
    """``count(vocab_size, n_way, d_model, n_heads, n_layers, d_ff, max_len)``
    must equal ``count_parameters(TransformerClassifier(...))`` with those sizes
    (checked on four sizes, with different numbers of heads and layers)."""
    from ..models import TransformerClassifier, count_parameters

    configs = [
        (50, 5, 16, 2, 2, 32, 12),
        (300, 3, 24, 4, 1, 40, 20),
        (7, 10, 32, 8, 3, 64, 5),
        (1000, 2, 8, 1, 4, 8, 9),
    ]
    names = (
        "vocab_size",
        "n_way",
        "d_model",
        "n_heads",
        "n_layers",
        "d_ff",
        "max_len",
    )
    got = []
    for c in configs:
        value = call_user(count, *c)
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CheckFailed(
                f"count returned {value!r} "
                f"({type(value).__name__}); return an int"
            )
        got.append(value)
    truth = []
    for V, N, C, H, L, F, T in configs:
        model = TransformerClassifier(
            V, N, d_model=C, n_heads=H, n_layers=L, d_ff=F, max_len=T
        )
        truth.append(count_parameters(model))
        # the check's own bookkeeping
        assert truth[-1] == sum(_parts(V, N, C, H, L, F, T).values())
    if got == truth:
        passed(
            f"your formula matches count_parameters on {len(configs)} "
            "sizes (1 to 8 heads, 1 to 4 layers)"
        )
        return
    wrong = next(i for i in range(len(configs)) if got[i] != truth[i])
    sizes = ", ".join(f"{n}={v}" for n, v in zip(names, configs[wrong]))
    reason = _diagnose_count(got, configs)
    if reason is None:
        p = _parts(*configs[wrong])
        reason = (
            "count each module: nn.Embedding(n, d) has n × d parameters, "
            "nn.Linear(a, b) a × b + b, "
            "nn.LayerNorm(d) 2 × d; a block has 4 linear maps in attention "
            "(query, key, value, output), "
            "2 LayerNorms and a 2-layer MLP. (Here the embeddings and "
            f"positions alone are {p['tok'] + p['pos']}.)"
        )
    raise CheckFailed(
        f"with {sizes} the model has {truth[wrong]} parameters, "
        f"you counted {got[wrong]}: {reason}"
    )


# ----------------------------------------------------------------- mean pooling


def check_mean_pooling(pool: Callable[[Tensor, Tensor], Tensor]) -> None:
    """``pool(h, keep)`` must average ``h`` ``(B, T, C)`` over the real tokens
    (``keep`` ``(B, T)``, True for real tokens), returning ``(B, C)``; a
    sequence made only of padding pools to zeros."""
    g = torch.Generator().manual_seed(0)
    B, T, C = 4, 6, 5
    h = torch.randn(B, T, C, generator=g, dtype=torch.float64) + 1.0
    lengths = torch.tensor([6, 3, 1, 0])
    keep = torch.arange(T)[None, :] < lengths[:, None]
    got = _as_tensor(
        "the result", call_user(pool, h.clone().requires_grad_(), keep.clone())
    )
    if got.shape != (B, C):
        if got.shape == (B, T):
            raise CheckFailed(
                f"the result has shape {tuple(got.shape)} = (B, T): you "
                "averaged over the features. Average "
                "over the tokens (dim=1) to get one vector per sequence, "
                f"shape (B, C) = {(B, C)}."
            )
        raise CheckFailed(
            f"the result has shape {tuple(got.shape)}, expected "
            f"(B, C) = {(B, C)}"
        )
    w = keep.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
    sums = (h * w).sum(1)
    right = sums / lengths.clamp(min=1)[:, None]
    value = got.detach().to(torch.float64)
    has_real = lengths > 0
    if not torch.isfinite(value[has_real]).all():
        raise CheckFailed(
            "the pooled vectors of real sequences contain nan or inf"
        )
    if _close(value[has_real], right[has_real]):
        if not torch.isfinite(value[~has_real]).all():
            raise CheckFailed(
                "a sequence made only of padding pools to nan: its count of "
                "real tokens is 0, so you divide "
                "0 by 0. Clamp the count to at least 1 (count.clamp(min=1)); "
                "the sum is 0, so it pools to zeros."
            )
        if not (value[~has_real] == 0).all():
            raise CheckFailed(
                "a sequence made only of padding should pool to the zero "
                "vector (it has no token to average); "
                "multiply by the mask before summing and clamp the count to "
                "at least 1."
            )
        if not got.requires_grad:
            raise CheckFailed(
                "the values are right but carry no gradient to h; use "
                "differentiable operations "
                "(no .item(), .tolist(), torch.tensor(...) or torch.no_grad())."
            )
        passed(
            "mean over the real tokens only; padding ignored; an "
            "all-padding sequence pools to zeros"
        )
        return
    r = has_real
    if _close(value[r], h.mean(1)[r]):
        raise CheckFailed(
            "you averaged over all T positions, padding included: the padding "
            "tokens' hidden states leak "
            "into the result, and appending padding changes it. Multiply by "
            "keep before summing and divide "
            "by the number of real tokens."
        )
    if _close(value[r], (sums / T)[r]):
        raise CheckFailed(
            "you sum the real tokens but divide by T, the padded length; "
            "divide by each sequence's number "
            "of real tokens, keep.sum(1)."
        )
    if _close(value[r], sums[r]):
        raise CheckFailed(
            "you return the *sum* over real tokens; divide by "
            "each sequence's number of real tokens."
        )
    if _close(value[r], h[:, 0][r]):
        raise CheckFailed(
            "you return the first token's hidden state "
            "(first-token pooling); average the real tokens."
        )
    if _close(value[r], h.sum(1)[r]):
        raise CheckFailed(
            "you sum over all T positions, padding included; "
            "average over the real tokens only."
        )
    worst = int((value - right)[r].abs().amax(-1).argmax())
    row = int(torch.nonzero(r)[worst])
    raise CheckFailed(
        f"sequence {row} (with {int(lengths[row])} real tokens) pools to the "
        "wrong vector; expected the mean "
        "of h[b, t] over the t where keep[b, t] is True."
    )
