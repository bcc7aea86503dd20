"""The self-checks of "A small Transformer from scratch": right answers pass,
typical mistakes get a helpful message."""

from __future__ import annotations

import math

import pytest
import torch

from metabook.checks import CheckFailed
from metabook.checks import transformer as checks
from metabook.models import TransformerClassifier, count_parameters

# -------------------------------------------------------------------- attention


def make_attention(
    scale=True, key_mask=True, causal=None, dim=-1, fill=None, returns="out"
):
    """Attention with switchable ingredients; the defaults are right for
    bidirectional attention."""

    def attention(q, k, v, keep):
        B, H, T, d = q.shape
        scores = q @ k.transpose(-2, -1)
        if scale is True:
            scores = scores / math.sqrt(d)
        elif scale == "d":
            scores = scores / d
        allowed = torch.ones(B, 1, T, T, dtype=torch.bool)
        if key_mask == "queries":
            allowed = allowed & keep[:, None, :, None]
        elif key_mask:
            allowed = allowed & keep[:, None, None, :]
        ones = torch.ones(T, T, dtype=torch.bool)
        if causal is not None:
            allowed = (
                allowed
                & {
                    "lower": ones.tril(),
                    "upper": ones.triu(),
                    "strict": ones.tril(-1),
                }[causal]
            )
        scores = scores.masked_fill(
            ~allowed,
            fill if fill is not None else torch.finfo(scores.dtype).min,
        )
        weights = scores.softmax(dim=dim)
        out = weights @ v
        if returns == "concat":
            return out.transpose(1, 2).reshape(B, T, H * d)
        if returns == "weights":
            return weights
        if returns == "pair":
            return out, weights
        return out

    return attention


def test_attention_passes(capsys):
    checks.check_attention(make_attention())
    checks.check_attention(make_attention(causal="lower"), causal=True)
    assert capsys.readouterr().out.count("✔") == 2


@pytest.mark.parametrize(
    "kwargs, causal, message",
    [
        (dict(scale=False), False, "not divided by √d_head"),
        (dict(scale="d"), False, "instead of √d_head"),
        (dict(key_mask=False), False, "padding keys receive attention"),
        (dict(key_mask="queries"), False, "padding keys receive attention"),
        (dict(dim=-2), False, "softmax runs over the queries"),
        (dict(fill=float("-inf")), False, "-inf"),
        (dict(causal="lower"), False, "bidirectional"),
        (dict(scale=False, key_mask=False), False, "2 things to fix"),
        (dict(), True, "no causal mask"),
        (dict(causal="upper"), True, "wrong triangle"),
        (dict(causal="strict"), True, "hides the diagonal"),
        (dict(causal="lower", scale=False), True, "not divided by √d_head"),
        (dict(returns="concat"), False, "already concatenated"),
        (dict(returns="weights"), False, "attention weights"),
        (dict(returns="pair"), False, "tuple of 2 tensors"),
    ],
    ids=[
        "no-scale",
        "scale-d",
        "no-mask",
        "mask-queries",
        "softmax-dim",
        "inf-fill",
        "causal-not-wanted",
        "two-mistakes",
        "no-causal",
        "upper",
        "strict",
        "causal-no-scale",
        "concat",
        "weights",
        "pair",
    ],
)
def test_attention_mistakes_are_named(kwargs, causal, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_attention(make_attention(**kwargs), causal=causal)


def test_attention_other_errors():
    with pytest.raises(CheckFailed, match="ZeroDivisionError"):
        checks.check_attention(lambda q, k, v, keep: 1 / 0)
    with pytest.raises(CheckFailed, match="differs from the expected"):
        checks.check_attention(
            lambda q, k, v, keep: make_attention()(q, k, v, keep) + 0.1
        )
    with pytest.raises(CheckFailed, match="return a torch.Tensor"):
        checks.check_attention(
            lambda q, k, v, keep: make_attention()(q, k, v, keep).numpy()
        )


def test_reference_attention_agrees_with_the_library():
    """The check's reference equals the library's SelfAttention with identity
    projections (q = k = v = x)."""
    torch.manual_seed(0)
    q, k, v, keep = checks._attention_case()
    B, H, T, d = v.shape
    model = TransformerClassifier(
        20, 3, d_model=H * d, n_heads=H, n_layers=1, d_ff=8, max_len=T
    ).double()
    attn = model.encoder.blocks[0].attn
    with torch.no_grad():
        for linear in (attn.query, attn.key, attn.value):
            linear.weight.copy_(torch.eye(H * d))
            linear.bias.zero_()
    # (B, H, T, T)
    _, weights = attn(v.transpose(1, 2).reshape(B, T, H * d), keep)
    torch.testing.assert_close(weights @ v, checks._reference(v, v, v, keep))


# -------------------------------------------------------------- parameter count


def right_count(V, N, C, H, L, F, T):
    block = 4 * (C * C + C) + 2 * 2 * C + (C * F + F) + (F * C + C)
    return V * C + T * C + L * block + 2 * C + (C * N + N)


def test_parameter_count_passes(capsys):
    checks.check_parameter_count(right_count)
    checks.check_parameter_count(
        lambda *c: count_parameters(TransformerClassifier(c[0], c[1], *c[2:]))
    )
    assert capsys.readouterr().out.count("✔") == 2


@pytest.mark.parametrize(
    "wrong, message",
    [
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T) - T * C
            ),
            "learned positions",
        ),
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T) - 4 * C * L
            ),
            "LayerNorms of each block",
        ),
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T) - 2 * C
            ),
            "final LayerNorm",
        ),
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T) - C * N - N
            ),
            "head's weights",
        ),
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T) - L * (C * C + C)
            ),
            "output projection",
        ),
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T) - L * (5 * C + F) - N
            ),
            "every bias",
        ),
        (
            lambda V, N, C, H, L, F, T: (
                right_count(V, N, C, H, L, F, T)
                + (H - 1) * L * (3 * C * C + 3 * C)
            ),
            "grows with n_heads",
        ),
        (
            lambda V, N, C, H, L, F, T: right_count(V, N, C, H, 1, F, T),
            "blocks' parameters once",
        ),
        (
            lambda V, N, C, H, L, F, T: right_count(V, N, C, H, L, F, T) + 1,
            "count each module",
        ),
        (lambda *c: "many", "return an int"),
    ],
    ids=[
        "positions",
        "block-ln",
        "final-ln",
        "head",
        "proj",
        "biases",
        "per-head",
        "one-block",
        "off-by-one",
        "not-int",
    ],
)
def test_parameter_count_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_parameter_count(wrong)


# ----------------------------------------------------------------- mean pooling


def right_pool(h, keep):
    w = keep.to(h.dtype).unsqueeze(-1)
    return (h * w).sum(1) / w.sum(1).clamp(min=1)


def test_mean_pooling_passes(capsys):
    checks.check_mean_pooling(right_pool)
    torch.manual_seed(0)
    encoder = TransformerClassifier(
        10, 2, d_model=5, n_heads=1
    ).encoder.double()
    checks.check_mean_pooling(encoder.pool)
    assert capsys.readouterr().out.count("✔") == 2


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda h, keep: h.mean(1), "padding included"),
        (
            lambda h, keep: (h * keep.unsqueeze(-1)).sum(1) / h.shape[1],
            "divide by T",
        ),
        (lambda h, keep: (h * keep.unsqueeze(-1)).sum(1), r"\*sum\*"),
        (
            lambda h, keep: (
                (h * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True)
            ),
            "0 by 0",
        ),
        (lambda h, keep: h[:, 0], "first token"),
        (lambda h, keep: h.mean(-1), "over the features"),
        (lambda h, keep: right_pool(h, keep).detach(), "no gradient"),
        (
            lambda h, keep: (
                right_pool(h, keep) + (keep.sum(1, keepdim=True) == 0)
            ),
            "zero vector",
        ),
        (lambda h, keep: right_pool(h, keep) * 1.1, "wrong vector"),
    ],
    ids=[
        "all-positions",
        "divide-by-T",
        "sum",
        "nan",
        "first",
        "features",
        "no-grad",
        "nonzero-empty",
        "scaled",
    ],
)
def test_mean_pooling_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_mean_pooling(wrong)
