"""The Transformer classifier: shapes, padding, attention, and MAML / ProtoNet
through it.

The second-order meta-gradient is checked against a per-task loop with
``autograd.grad(create_graph=True)`` on the unbatched model, and against central
finite differences, in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import metabook as mb
from metabook.models import (
    TransformerClassifier,
    TransformerConfig,
    TransformerEncoder,
    count_parameters,
)
from metabook.tasks.text import ByteTokenizer

VOCAB, T, N_WAY = 20, 8, 3
TINY = dict(d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=12)


def tiny_model(seed=0, dtype=torch.float64, **kw) -> TransformerClassifier:
    torch.manual_seed(seed)
    return TransformerClassifier(VOCAB, N_WAY, **{**TINY, **kw}).to(dtype)


def token_data(seed=0, n_classes=6, per_class=6):
    """Sequences of random length 2..T, right-padded with 0; class c favours
    tokens near 3c."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n_classes * per_class, T, dtype=torch.long)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    for i, c in enumerate(labels.tolist()):
        length = int(torch.randint(2, T + 1, (1,), generator=g))
        x[i, :length] = (
            3 * c + torch.randint(0, 4, (length,), generator=g)
        ) % (VOCAB - 1) + 1
    return x, labels


def text_batch(seed=0, meta_batch_size=2, k_shot=1, n_query=2) -> mb.Episode:
    x, labels = token_data(seed)
    sampler = mb.EpisodeSampler(
        x,
        labels,
        N_WAY,
        k_shot,
        n_query,
        generator=torch.Generator().manual_seed(seed),
    )
    return sampler.sample_batch(meta_batch_size)


# ------------------------------------------------------------------ the model
def test_shapes_and_parameter_count():
    model = tiny_model()
    x, _ = token_data()
    assert model(x[:5]).shape == (5, N_WAY)
    assert model.embed(x[:5]).shape == (5, 16)
    maps = model.attention_maps(x[:5])
    assert len(maps) == 2 and all(m.shape == (5, 2, T, T) for m in maps)
    C, F_, L = 16, 32, 2
    block = 4 * (C * C + C) + 2 * 2 * C + (C * F_ + F_) + (F_ * C + C)
    expected = VOCAB * C + 12 * C + L * block + 2 * C + (C * N_WAY + N_WAY)
    assert count_parameters(model) == expected


def test_byte_tokenizer_strings():
    tok = ByteTokenizer(max_len=12)
    model = TransformerClassifier(tok.vocab_size, 4, **TINY)
    assert model(tok(["hello", "héllo", "a b c"])).shape == (3, 4)


@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_appending_padding_does_not_change_logits(pooling):
    model = tiny_model(pooling=pooling)
    x, _ = token_data()
    # T + 4 = max_len
    padded = torch.cat([x, torch.zeros(len(x), 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded), model(x), rtol=1e-12, atol=1e-12)


def test_attention_rows_sum_to_one_over_real_keys_and_zero_on_padding():
    model = tiny_model()
    x, _ = token_data()
    keep = (x != 0)[:, None, None, :]  # (n, 1, 1, T)
    for att in model.attention_maps(x):  # (n, H, T, T)
        assert (att.masked_select(~keep.expand_as(att)) == 0).all()
        torch.testing.assert_close(
            att.sum(-1), torch.ones_like(att.sum(-1)), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_fully_padded_row_embeds_to_zero_without_nan(pooling):
    """An all-padding sequence attends uniformly, embeds to 0, and its logits
    are the head's bias."""
    model = tiny_model(pooling=pooling)
    x, _ = token_data()
    x = torch.cat([torch.zeros(1, T, dtype=torch.long), x[:3]])
    for att in model.attention_maps(x):
        torch.testing.assert_close(att[0], torch.full_like(att[0], 1 / T))
    assert (model.embed(x)[0] == 0).all()
    logits = model(x)
    torch.testing.assert_close(logits[0].detach(), model.head.bias.detach())
    F.cross_entropy(logits, torch.arange(4) % N_WAY).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_errors():
    with pytest.raises(mb.ConfigError, match="divisible by n_heads"):
        TransformerClassifier(VOCAB, N_WAY, d_model=10, n_heads=4)
    with pytest.raises(mb.ConfigError, match="pooling='max'"):
        TransformerConfig(VOCAB, pooling="max")
    with pytest.raises(mb.ConfigError, match="dropout=1.5"):
        TransformerConfig(VOCAB, dropout=1.5)
    with pytest.raises(mb.ConfigError, match="pad_id=20"):
        TransformerConfig(VOCAB, pad_id=20)
    with pytest.raises(mb.ConfigError, match="n_way=1"):
        TransformerClassifier(VOCAB, 1)
    with pytest.raises(mb.ConfigError, match="TransformerConfig"):
        TransformerEncoder({"vocab_size": VOCAB})
    model = tiny_model()
    with pytest.raises(mb.EpisodeError, match="max_len=12"):
        model(torch.ones(2, 13, dtype=torch.long))
    with pytest.raises(mb.EpisodeError, match="integer ids"):
        model(torch.ones(2, 5))


def test_from_config_matches_keyword_construction():
    config = TransformerConfig(VOCAB, **TINY)
    torch.manual_seed(0)
    a = TransformerClassifier.from_config(config, N_WAY)
    torch.manual_seed(0)
    b = TransformerClassifier(VOCAB, N_WAY, **TINY)
    assert a.config == b.config
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


# ------------------------------------------------------------ MAML through it
def reference_meta_gradient(
    model, batch, inner_lr, inner_steps, first_order=False
):
    """One task at a time, the unbatched model,
    ``autograd.grad(create_graph=True)``."""
    names, weights = zip(*model.named_parameters())
    total = 0.0
    for i in range(batch.meta_batch_size):
        fast = list(weights)
        for _ in range(inner_steps):
            out = functional_call(
                model, dict(zip(names, fast)), (batch.support_x[i],)
            )
            grads = torch.autograd.grad(
                F.cross_entropy(out, batch.support_y[i]),
                fast,
                create_graph=not first_order,
            )
            fast = [w - inner_lr * g for w, g in zip(fast, grads)]
        out = functional_call(
            model, dict(zip(names, fast)), (batch.query_x[i],)
        )
        total = total + F.cross_entropy(out, batch.query_y[i])
    return torch.autograd.grad(total / batch.meta_batch_size, weights)


def metabook_grad(model, batch, inner_lr, inner_steps, first_order=False):
    maml = mb.MAML(
        model,
        inner_lr=inner_lr,
        inner_steps=inner_steps,
        first_order=first_order,
    )
    return torch.autograd.grad(maml.meta_loss(batch), list(model.parameters()))


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_maml_equals_per_task_autograd_loop(first_order, pooling):
    model, batch = tiny_model(pooling=pooling), text_batch(0)
    ours = metabook_grad(model, batch, 0.5, 2, first_order)
    ref = reference_meta_gradient(model, batch, 0.5, 2, first_order)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_second_order_matches_finite_differences():
    model, batch = tiny_model(1, n_layers=1), text_batch(1)
    maml = mb.MAML(model, inner_lr=0.5, inner_steps=2)
    names, params = zip(*model.named_parameters())
    grads = torch.autograd.grad(maml.meta_loss(batch), params)
    g = torch.Generator().manual_seed(0)
    eps = 1e-6
    for _ in range(2):
        direction = [
            torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params
        ]
        analytic = sum((gr * d).sum() for gr, d in zip(grads, direction)).item()
        with torch.no_grad():

            def loss_at(sign, direction=direction):
                shifted = {
                    n: p + sign * eps * d
                    for n, p, d in zip(names, params, direction)
                }
                return (
                    maml.run_tasks(batch, params=shifted)
                    .query_loss.mean()
                    .item()
                )

            numeric = (loss_at(1) - loss_at(-1)) / (2 * eps)
        assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (
            analytic,
            numeric,
        )


def test_first_order_differs_from_second_order():
    model, batch = tiny_model(2), text_batch(2)
    second = metabook_grad(model, batch, 0.5, 2)
    first = metabook_grad(model, batch, 0.5, 2, first_order=True)
    gap = max((a - b).abs().max().item() for a, b in zip(second, first))
    scale = max(a.abs().max().item() for a in second)
    assert gap > 1e-3 * scale, (gap, scale)


def test_dropout_under_vmap_gives_each_task_its_own_mask():
    """With dropout > 0 (training mode) MAML runs under
    vmap(randomness="different")."""
    model = tiny_model(3, dtype=torch.float32, dropout=0.3).train()
    task = text_batch(3, meta_batch_size=1)
    same = mb.Episode.stack([task[0], task[0]])  # the same task twice
    out = mb.MAML(model, inner_lr=0.5, inner_steps=2).backward(same)
    assert torch.isfinite(out.loss)
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in model.parameters()
    )
    losses = (
        mb.MAML(model, inner_lr=0.5, inner_steps=2).run_tasks(same).query_loss
    )
    assert losses[0] != losses[1]  # different dropout masks per task
    model.eval()
    losses = (
        mb.MAML(model, inner_lr=0.5, inner_steps=2).run_tasks(same).query_loss
    )
    torch.testing.assert_close(losses[0], losses[1])


# ---------------------------------------------------------------- ProtoNet
def test_protonet_on_the_encoder_fills_gradients():
    model, batch = tiny_model(4), text_batch(4, k_shot=2)
    out = mb.ProtoNet(model.encoder).backward(batch)
    assert torch.isfinite(out.loss) and out.metrics["accuracy"].shape == (2,)
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert model.head.weight.grad is None  # the head is not part of ProtoNet
    assert any(
        p.grad.abs().sum() > 0 for p in model.encoder.blocks.parameters()
    )


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("first_order", [False, True])
def test_maml_on_device(device, first_order):
    """float32 on ``device`` agrees with the float64 CPU reference."""
    model = tiny_model(5)
    batch = text_batch(5)
    ref = reference_meta_gradient(model, batch, 0.5, 2, first_order)
    model = model.to(device=device, dtype=torch.float32)
    ours = metabook_grad(model, batch.to(device), 0.5, 2, first_order)
    for a, b in zip(ours, ref, strict=True):
        assert a.device.type == device.type
        torch.testing.assert_close(a.cpu().double(), b, rtol=1e-3, atol=1e-5)
    maps = model.attention_maps(batch.query_x[0].to(device))
    assert maps[0].device.type == device.type


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (mb.MAML, dict(inner_steps=2)),
        (mb.MAML, dict(inner_steps=2, first_order=True)),
        (mb.Reptile, dict(inner_steps=3)),
    ],
)
def test_localized_embedding_rows_give_the_same_meta_gradient(make, kwargs):
    """Adapting only the embedding rows a task uses is exact: same loss, same
    θ.grad."""
    g = torch.Generator().manual_seed(0)
    vocab, B, n, T = 50, 3, 4, 6
    support_x = torch.randint(1, 20, (B, n, T), generator=g)
    support_x[:, :, -2:] = 0  # padding
    query_x = torch.randint(10, vocab, (B, n, T), generator=g)
    batch = mb.Episode(
        support_x,
        torch.arange(n).repeat(B, 1) % 2,
        query_x,
        torch.arange(n).repeat(B, 1) % 2,
        batched=True,
    )
    results = []
    for localize in (True, False):
        torch.manual_seed(0)
        model = TransformerClassifier(
            vocab, 2, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=T
        ).double()
        learner = make(model, 0.5, **kwargs)
        learner.localize = localize
        out = learner.backward(batch)
        results.append(
            (out.loss, {k: p.grad.clone() for k, p in model.named_parameters()})
        )
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b)
    torch.testing.assert_close(grads_a, grads_b)
    query_only_rows = grads_a["encoder.tok_emb.weight"][20:30].abs().sum()
    # query tokens' rows get a meta-gradient; Reptile never adapts them
    if make is mb.MAML:
        assert query_only_rows > 0
    else:
        assert query_only_rows == 0


def test_localize_renumbers_tokens_per_task():
    model = TransformerClassifier(
        30, 2, d_model=8, n_heads=2, n_layers=1, d_ff=8, max_len=4
    )
    support = torch.tensor([[[5, 7, 0, 0]], [[9, 9, 9, 0]]])
    query = torch.tensor([[[7, 3, 0, 0]], [[2, 0, 0, 0]]])
    params, rows, (s, q) = model.localize(
        dict(model.named_parameters()), support, query
    )
    index = rows[model.EMBEDDING]
    # padding first; task 2 padded with row 0
    assert index.tolist() == [[0, 3, 5, 7], [0, 2, 9, 0]]
    assert s.tolist() == [[[2, 3, 0, 0]], [[2, 2, 2, 0]]] and q.tolist() == [
        [[3, 1, 0, 0]],
        [[1, 0, 0, 0]],
    ]
    table = model.encoder.tok_emb.weight
    torch.testing.assert_close(params[model.EMBEDDING], table[index])
    # each task's renumbered tokens read the same vectors as the original ids
    for b in range(2):
        torch.testing.assert_close(
            params[model.EMBEDDING][b][s[b]], table[support[b]]
        )
