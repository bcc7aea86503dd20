"""In-context learners: the support set is part of the input; no weight changes.

MAML adapts by gradient steps on the support set; ProtoNet by averaging its
embeddings. An in-context learner reads the support set and the query as one
sequence and answers in a single forward pass. Three models, one idea:

* :class:`LinearSelfAttention`: one layer of *linear* self-attention over tokens
  ``e = (x, y)``. Von Oswald et al. (2023; ``vonoswald2023transformers`` in
  references.bib) show that it can implement one gradient step on the support
  set's squared error; :meth:`LinearSelfAttention.gradient_step` builds that
  construction and :func:`effective_matrix` reads off what a trained layer does.
* :class:`InContextRegressor`: a small softmax Transformer on the same tokens,
  for in-context linear regression (Garg et al., 2022; ``garg2022incontext``).
* :class:`InContextClassifier`: few-shot text classification as a sequence,
  ``[x_1, label_1, x_2, label_2, ..., query_1, query_2, ...]``, with label
  tokens that are arbitrary symbols drawn anew for every episode.

Every sequence is *support first, queries last*. Under the mask of
:func:`context_mask` (or :func:`episode_mask`) support tokens attend to support
tokens only, and each query to the support tokens and to itself, never to
another query. So the answer for one query does not depend on the others, and a
batch of queries costs one pass.

The softmax models reuse the blocks of :mod:`metabook.models.transformer`
(pre-LayerNorm, attention written out); only the attention's mask changes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..algorithms.base import StepOutput, task_metrics_from
from ..episode import Episode
from ..errors import ConfigError, EpisodeError, check_int, check_module
from .transformer import Block, SelfAttention, TransformerConfig

# ------------------------------------------------------------------ the mask


def context_mask(
    n_context: int, n_query: int, device: torch.device | None = None
) -> Tensor:
    """Which token may attend to which: ``(T, T)`` bool, ``T = N + Q``.

    Row ``i`` is the attending token (the query of attention), column ``j`` the
    attended one. The first ``n_context`` tokens (the support set) attend to
    each other; each of the last ``n_query`` tokens attends to the support set
    and to itself only.

    Example:
        >>> context_mask(2, 2).int()
        tensor([[1, 1, 0, 0],
                [1, 1, 0, 0],
                [1, 1, 1, 0],
                [1, 1, 0, 1]], dtype=torch.int32)
    """
    check_int("n_context", n_context, 1)
    check_int("n_query", n_query, 0)
    T = n_context + n_query
    allowed = torch.eye(T, dtype=torch.bool, device=device)
    allowed[:, :n_context] = True
    return allowed


def _through_blocks(
    blocks: nn.ModuleList, x: Tensor, allowed: Tensor
) -> tuple[Tensor, list[Tensor]]:
    """``x`` through every block under the attention mask ``allowed``; also
    each block's attention weights."""
    maps = []
    for block in blocks:
        x, att = block(x, allowed)
        maps.append(att)
    return x, maps


class MaskedSelfAttention(SelfAttention):
    """:class:`~metabook.models.transformer.SelfAttention` with any mask.

    The second argument of ``forward`` is ``allowed``, ``(T, T)`` or
    ``(B, T, T)`` bool (True: may attend), instead of a key padding mask.
    """

    def forward(self, x: Tensor, allowed: Tensor) -> tuple[Tensor, Tensor]:
        B, T, C = x.shape
        H = self.n_heads
        q = self.query(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hs)
        k = self.key(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hs)
        v = self.value(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)  # (B, H, T, T)
        mask = allowed if allowed.dim() == 3 else allowed.unsqueeze(0)
        fill = torch.finfo(att.dtype).min
        att = att.masked_fill(~mask[:, None], fill)  # (B, H, T, T)
        att = F.softmax(att, dim=-1)
        y = self.attn_dropout(att) @ v  # (B, H, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.proj(y)), att


class MaskedBlock(Block):
    """A pre-LayerNorm :class:`~metabook.models.transformer.Block` whose
    attention takes a ``(T, T)`` or ``(B, T, T)`` mask (:func:`context_mask`).
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        self.attn = MaskedSelfAttention(config)


def _blocks(
    d_model: int, n_heads: int, n_layers: int, d_ff: int, dropout: float
) -> tuple[nn.ModuleList, TransformerConfig]:
    # The blocks use only the widths and dropout; vocabulary, length unused.
    config = TransformerConfig(
        vocab_size=1, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
        d_ff=d_ff, max_len=1, dropout=dropout,
    )  # fmt: skip
    return nn.ModuleList(MaskedBlock(config) for _ in range(n_layers)), config


# ------------------------------------------------------- in-context regression


def regression_tokens(
    context_x: Tensor, context_y: Tensor, query_x: Tensor
) -> Tensor:
    """Tokens ``e = (x, y)``: the context's, then the queries' with ``y = 0``.

    Args:
        context_x: ``(B, N, d)``.
        context_y: ``(B, N, 1)``.
        query_x: ``(B, Q, d)``.

    Returns:
        ``(B, N + Q, d + 1)``.
    """
    if context_x.dim() != 3 or query_x.dim() != 3:
        raise EpisodeError(
            f"context_x {tuple(context_x.shape)} and query_x "
            f"{tuple(query_x.shape)} must be (B, n, d)"
        )
    if context_y.shape != (*context_x.shape[:2], 1):
        raise EpisodeError(
            f"context_y has shape {tuple(context_y.shape)}; expected "
            f"{(*context_x.shape[:2], 1)}"
        )
    context = torch.cat([context_x, context_y], dim=-1)  # (B, N, d + 1)
    blank = query_x.new_zeros(*query_x.shape[:2], 1)
    query = torch.cat([query_x, blank], dim=-1)  # (B, Q, d + 1)
    return torch.cat([context, query], dim=1)


class LinearSelfAttention(nn.Module):
    """One layer of linear self-attention on tokens ``e = (x, y)`` (no softmax).

    Every token ``e_j`` reads the ``N`` context tokens::

        e_j <- e_j + P W_V  (1/N) sum_i e_i (W_K e_i)^T (W_Q e_j)

    and the prediction for a query ``(x_q, 0)`` is the ``y`` entry of its
    output. With ``W_K = W_Q = [[I, 0], [0, 0]]`` and ``P W_V`` sending ``y`` to
    ``η y``,
    that entry is ``η (1/N) sum_i y_i x_i^T x_q``: the prediction of a linear
    model after one gradient step of size ``η`` on the context's squared error
    ``(1/2N) sum_i (w^T x_i - y_i)^2``, from ``w = 0``
    (:meth:`gradient_step`). Von Oswald et al. (2023) read the prediction as
    minus that entry; the two conventions differ by the sign of ``P``.

    Args:
        dim: the input dimension ``d`` (tokens have ``d + 1`` entries).
        init_std: standard deviation of the initial weights.
    """

    def __init__(self, dim: int, init_std: float = 0.05) -> None:
        super().__init__()
        check_int("dim", dim, 1)
        D = dim + 1
        self.dim = dim
        self.query = nn.Linear(D, D, bias=False)
        self.key = nn.Linear(D, D, bias=False)
        self.value = nn.Linear(D, D, bias=False)
        self.proj = nn.Linear(D, D, bias=False)
        for layer in (self.query, self.key, self.value, self.proj):
            nn.init.normal_(layer.weight, std=init_std)

    def forward(self, tokens: Tensor, n_context: int) -> Tensor:
        """``(B, T, d + 1)`` tokens, the first ``n_context`` of them the
        context, to ``(B, T, d + 1)``. Every token reads the context (no mask
        is needed: only context tokens are keys)."""
        ctx = tokens[:, :n_context]  # (B, N, D)
        keys = self.key(ctx)  # (B, N, D)
        values = self.value(ctx)  # (B, N, D)
        att = self.query(tokens) @ keys.transpose(1, 2) / n_context  # (B, T, N)
        return tokens + self.proj(att @ values)  # (B, T, D)

    def predict(
        self, context_x: Tensor, context_y: Tensor, query_x: Tensor
    ) -> Tensor:
        """``(B, N, d)``, ``(B, N, 1)``, ``(B, Q, d)`` -> ``(B, Q, 1)``."""
        tokens = regression_tokens(context_x, context_y, query_x)
        N = context_x.shape[1]
        return self(tokens, N)[:, N:, -1:]

    @classmethod
    def gradient_step(cls, dim: int, eta: float) -> LinearSelfAttention:
        """The layer that makes one gradient step of size ``eta`` from 0."""
        layer = cls(dim)
        D = dim + 1
        x_block = torch.zeros(D, D)
        x_block[:dim, :dim] = torch.eye(dim)
        y_entry = torch.zeros(D, D)
        y_entry[dim, dim] = 1.0
        with torch.no_grad():
            layer.key.weight.copy_(x_block)
            layer.query.weight.copy_(x_block)
            layer.value.weight.copy_(y_entry)
            layer.proj.weight.copy_(eta * y_entry)
        return layer


def effective_matrix(layer: LinearSelfAttention) -> tuple[Tensor, Tensor]:
    """What a linear self-attention layer computes for a query, weight-free.

    The prediction for ``(x_q, 0)`` is a sum of three kinds of terms::

        y_hat = (1/N) sum_i [ y_i x_i^T M x_q  +  (b_x^T x_i) x_i^T A_xx x_q
                              + b_y y_i^2 A_yx x_q ]
        M = b_y A_xx + b_x A_yx        (d, d)

    with ``A = W_K^T W_Q`` and ``b`` the last row of ``P W_V`` (split into its
    ``x`` part ``b_x`` and ``y`` entry ``b_y``). Only *products* of weights
    appear: scaling ``W_K`` by ``c`` and ``W_Q`` by ``1/c`` (or ``W_V`` and
    ``P``) changes nothing, so weights are compared through ``M``. One
    gradient step of size ``η`` is ``M = η I`` with the other terms zero.

    Returns:
        ``M`` ``(d, d)`` and the *even* part: the stacked coefficients
        ``b_x ⊗ A_xx`` ``(d, d, d)`` and ``b_y A_yx`` ``(d,)`` flattened into
        one vector (terms even in ``y``, which cannot predict it on average).
    """
    d = layer.dim
    A = layer.key.weight.T @ layer.query.weight  # (D, D): e_i^T A e_q
    b = (layer.proj.weight @ layer.value.weight)[d]  # (D,): y row of P W_V
    A_xx, A_yx = A[:d, :d], A[d, :d]
    M = b[d] * A_xx + torch.outer(b[:d], A_yx)
    even = torch.cat([(b[:d, None, None] * A_xx).flatten(), b[d] * A_yx])
    return M.detach(), even.detach()


class InContextRegressor(nn.Module):
    """A small softmax Transformer that reads ``(x, y)`` pairs, predicts ``y``.

    The tokens are those of :func:`regression_tokens`, read in by a linear map,
    plus a learned embedding of their kind (context or query). There are no
    positions: the context is a set, so the model is defined for any number of
    context points (how well it *does* on more than it was trained on is an
    empirical question). Blocks use the mask of :func:`context_mask`. Weights
    have PyTorch's default initialisation, which trained faster here than
    GPT-2's small one (0.02).

    Args:
        dim: input dimension ``d``.
        d_model, n_heads, n_layers, d_ff, dropout: the blocks' sizes.
    """

    def __init__(
        self,
        dim: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 3,
        d_ff: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("dim", dim, 1)
        self.dim = dim
        self.read_in = nn.Linear(dim + 1, d_model)
        self.kind = nn.Embedding(2, d_model)  # 0: context, 1: query
        self.blocks, self.config = _blocks(
            d_model, n_heads, n_layers, d_ff, dropout
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.read_out = nn.Linear(d_model, 1)

    def hidden_states(
        self, context_x: Tensor, context_y: Tensor, query_x: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """Final hidden states ``(B, N + Q, C)`` and each layer's attention."""
        tokens = regression_tokens(context_x, context_y, query_x)
        B, T, _ = tokens.shape
        N = context_x.shape[1]
        kinds = torch.zeros(T, dtype=torch.long, device=tokens.device)
        kinds[N:] = 1
        x = self.read_in(tokens) + self.kind(kinds)  # (B, T, C)
        allowed = context_mask(N, T - N, tokens.device)
        x, maps = _through_blocks(self.blocks, x, allowed)
        return self.ln_f(x), maps

    def forward(
        self, context_x: Tensor, context_y: Tensor, query_x: Tensor
    ) -> Tensor:
        """``(B, N, d)``, ``(B, N, 1)``, ``(B, Q, d)`` -> ``(B, Q, 1)``."""
        h, _ = self.hidden_states(context_x, context_y, query_x)
        return self.read_out(h[:, context_x.shape[1] :])


# --------------------------------------------- in-context text classification

EXAMPLE, LABEL, QUERY = 0, 1, 2  # the kinds of token in an episode's sequence


def draw_symbols(
    meta_batch_size: int,
    n_way: int,
    n_symbols: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random label symbols for ``meta_batch_size`` episodes.

    Returns:
        ``(B, n_way)`` int64: distinct symbols in ``0 .. n_symbols-1``;
        ``symbols[b, k]`` is the label token that stands for class ``k`` in
        episode ``b``.
    """
    check_int("meta_batch_size", meta_batch_size, 1)
    check_int("n_way", n_way, 1)
    check_int("n_symbols", n_symbols, n_way)
    order = torch.rand(meta_batch_size, n_symbols, generator=generator)
    return order.argsort(-1)[:, :n_way]


def sequence_layout(n_support: int, n_query: int) -> Tensor:
    """The kind of every token of an episode's sequence, ``(2 S + Q,)``.

    The support pairs come first, each example followed by its label token, then
    the queries: ``[EXAMPLE, LABEL, EXAMPLE, LABEL, ..., QUERY, QUERY, ...]``.
    """
    check_int("n_support", n_support, 1)
    check_int("n_query", n_query, 0)
    pairs = torch.tensor([EXAMPLE, LABEL]).repeat(n_support)
    return torch.cat([pairs, torch.full((n_query,), QUERY)])


def episode_mask(
    n_support: int, n_query: int, device: torch.device | None = None
) -> Tensor:
    """Which token of an episode's sequence may attend to which: ``(T, T)``.

    The sequence is that of :func:`sequence_layout`. A support example attends
    to every support token; a label token to its own example and to itself
    (that is how it knows which example it labels); a query to every support
    token and to itself, never to another query.
    """
    check_int("n_support", n_support, 1)
    check_int("n_query", n_query, 0)
    S = 2 * n_support
    allowed = context_mask(S, n_query, device)
    labels = torch.arange(1, S, 2, device=device)
    allowed[labels] = False
    allowed[labels, labels] = True  # itself
    allowed[labels, labels - 1] = True  # its example
    return allowed


class InContextClassifier(nn.Module):
    """Few-shot classification as one sequence: support pairs, then queries.

    An episode of ``S`` support and ``Q`` query examples becomes the sequence
    ``[f(x_1), ℓ(y_1), ..., f(x_S), ℓ(y_S), f(q_1), ..., f(q_Q)]``
    (:func:`sequence_layout`), where ``f`` is the example ``encoder`` (any
    module mapping ``(n, *x_shape)`` to ``(n, d_encoder)``) followed by a linear
    map, and ``ℓ(k)`` is the embedding of the *symbol* that stands for class
    ``k`` in this episode. Symbols are drawn at random for every episode
    (:func:`draw_symbols`), so no symbol means anything by itself: the model
    has to read the mapping from the support set. A learned embedding of each
    token's kind (example, label, query) is added.

    There are no positions: which example a label token belongs to is given by
    the mask (:func:`episode_mask`), so the support set has no order and any
    number of shots gives a valid sequence.

    The logit of class ``k`` for a query is its final hidden state, mapped by a
    linear layer, dotted with ``ℓ(k)``: the model answers by pointing at one of
    the label symbols of the episode.

    Initialisation. The value and output maps of every attention layer, and the
    final linear layer, start as the identity, so that from the first step an
    attention head *copies* what it attends to. A query must copy the label of
    the examples it resembles; through random maps the copied label is noise to
    the read-out, and training sits on a long plateau at chance (the chapter
    shows it).
    Everything else has PyTorch's default initialisation; the example encoder
    keeps its own.

    Args:
        encoder: the example encoder.
        d_encoder: the width of its output.
        n_symbols: the label vocabulary (at least ``n_way``).
        d_model, n_heads, n_layers, d_ff, dropout: the in-context blocks' sizes.
        copy_init: start the value, output and final maps at the identity.
    """

    def __init__(
        self,
        encoder: nn.Module,
        d_encoder: int,
        n_symbols: int = 10,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 128,
        dropout: float = 0.0,
        copy_init: bool = True,
    ) -> None:
        super().__init__()
        check_module("encoder", encoder)
        check_int("d_encoder", d_encoder, 1)
        check_int("n_symbols", n_symbols, 2)
        self.n_symbols = n_symbols
        self.encoder = encoder
        # Example tokens are normalised, like the symbols' N(0, 1) rows, so that
        # neither drowns the other; the kind of a token is a small tag.
        self.read_in = nn.Sequential(
            nn.Linear(d_encoder, d_model), nn.LayerNorm(d_model)
        )
        self.label = nn.Embedding(n_symbols, d_model)
        self.kind = nn.Embedding(3, d_model)
        nn.init.normal_(self.kind.weight, std=0.02)
        self.blocks, self.config = _blocks(
            d_model, n_heads, n_layers, d_ff, dropout
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.read_out = nn.Linear(d_model, d_model)
        if copy_init:
            eye = torch.eye(d_model)
            with torch.no_grad():
                for block in self.blocks:
                    block.attn.value.weight.copy_(eye)
                    block.attn.proj.weight.copy_(eye)
                self.read_out.weight.copy_(eye)

    def _encode(self, x: Tensor) -> Tensor:
        B, n = x.shape[:2]
        z = self.encoder(x.reshape(B * n, *x.shape[2:]))  # (B * n, d_encoder)
        return self.read_in(z.reshape(B, n, -1))  # (B, n, C)

    def _check(
        self, support_y: Tensor, query_x: Tensor, symbols: Tensor
    ) -> None:
        if support_y.dim() != 2 or support_y.is_floating_point():
            raise EpisodeError(
                f"support_y must be (B, S) class indices, got shape "
                f"{tuple(support_y.shape)} and dtype {support_y.dtype}"
            )
        B = support_y.shape[0]
        if symbols.dim() != 2 or symbols.shape[0] != B:
            raise EpisodeError(
                f"symbols has shape {tuple(symbols.shape)}; expected "
                f"(B, n_way) with B={B}"
            )
        if query_x.shape[0] != B:
            raise EpisodeError(
                f"query_x has {query_x.shape[0]} episodes, support_y has {B}"
            )
        n_way = symbols.shape[1]
        if int(support_y.min()) < 0 or int(support_y.max()) >= n_way:
            raise EpisodeError(
                f"support labels must be in 0..{n_way - 1}, one per symbol"
            )
        if int(symbols.min()) < 0 or int(symbols.max()) >= self.n_symbols:
            raise EpisodeError(
                f"symbols must be in 0..{self.n_symbols - 1} "
                f"(n_symbols={self.n_symbols})"
            )

    def sequence(
        self,
        support_x: Tensor,
        support_y: Tensor,
        query_x: Tensor,
        symbols: Tensor,
    ) -> Tensor:
        """The input vectors of a batch of episodes, ``(B, 2 S + Q, C)``."""
        self._check(support_y, query_x, symbols)
        B, S = support_y.shape
        Q = query_x.shape[1]
        examples = self._encode(support_x)  # (B, S, C)
        labels = self.label(symbols.gather(1, support_y))  # (B, S, C)
        pairs = torch.stack([examples, labels], dim=2).reshape(B, 2 * S, -1)
        kinds = sequence_layout(S, Q).to(support_y.device)  # (T,)
        tokens = torch.cat([pairs, self._encode(query_x)], dim=1)  # (B, T, C)
        return tokens + self.kind(kinds)

    def hidden_states(
        self,
        support_x: Tensor,
        support_y: Tensor,
        query_x: Tensor,
        symbols: Tensor,
    ) -> tuple[Tensor, list[Tensor]]:
        """Final hidden states ``(B, 2 S + Q, d_model)`` and each layer's
        attention weights ``(B, n_heads, T, T)`` (rows attend to columns)."""
        x = self.sequence(support_x, support_y, query_x, symbols)
        S = support_y.shape[1]
        allowed = episode_mask(S, x.shape[1] - 2 * S, x.device)
        x, maps = _through_blocks(self.blocks, x, allowed)
        return self.ln_f(x), maps

    def forward(
        self,
        support_x: Tensor,
        support_y: Tensor,
        query_x: Tensor,
        symbols: Tensor,
    ) -> Tensor:
        """Query logits ``(B, Q, n_way)``.

        Args:
            support_x: ``(B, S, *x_shape)``.
            support_y: ``(B, S)`` classes ``0 .. n_way-1``.
            query_x: ``(B, Q, *x_shape)``.
            symbols: ``(B, n_way)``, the label symbol of each class.
        """
        h, _ = self.hidden_states(support_x, support_y, query_x, symbols)
        out = self.read_out(h[:, 2 * support_y.shape[1] :])  # (B, Q, C)
        scale = 1.0 / math.sqrt(out.shape[-1])  # logits of order 1 at the start
        return (
            scale * out @ self.label(symbols).transpose(1, 2)
        )  # (B, Q, n_way)

    def attention_maps(
        self,
        support_x: Tensor,
        support_y: Tensor,
        query_x: Tensor,
        symbols: Tensor,
    ) -> list[Tensor]:
        """Per layer, the attention weights ``(B, n_heads, T, T)``."""
        with torch.no_grad():
            return self.hidden_states(support_x, support_y, query_x, symbols)[1]


class InContextLearner:
    """An :class:`InContextClassifier` as a meta-learner for ``mb.meta_train``
    and ``mb.evaluate``: the outer loop trains it on episodes, and there is no
    inner loop.

    An episode may carry ``info["symbols"]`` (see :func:`with_symbols`); if not,
    symbols are drawn from torch's global random stream, so that every training
    episode gets new ones.
    """

    def __init__(self, model: InContextClassifier) -> None:
        if not isinstance(model, InContextClassifier):
            raise ConfigError(
                "model must be an InContextClassifier, got "
                f"{type(model).__name__}"
            )
        self.model = model

    def __repr__(self) -> str:
        return "InContextLearner()"

    def logits(self, batch: Episode) -> Tensor:
        """``(B, n_query, n_way)`` for a batched episode."""
        if not batch.batched:
            raise EpisodeError("InContextLearner needs a batched episode")
        symbols = batch.info.get("symbols")
        if symbols is None:
            n_way = int(batch.support_y.max()) + 1
            symbols = draw_symbols(
                batch.meta_batch_size, n_way, self.model.n_symbols
            )
        symbols = symbols.to(batch.support_y.device)
        return self.model(
            batch.support_x, batch.support_y, batch.query_x, symbols
        )

    def _losses(self, batch: Episode) -> tuple[Tensor, Tensor]:
        logits = self.logits(batch)
        losses = F.cross_entropy(
            logits.flatten(0, 1), batch.query_y.flatten(), reduction="none"
        )
        return logits, losses.view(batch.query_y.shape).mean(-1)

    def backward(self, batch: Episode) -> StepOutput:
        """Fill ``.grad`` with the gradient of the mean query loss."""
        logits, losses = self._losses(batch)
        loss = losses.mean()
        loss.backward()
        metrics = task_metrics_from(logits, batch.query_y, losses)
        return StepOutput(loss.detach(), metrics)

    def task_metrics(
        self, batch: Episode, inner_steps: int | None = None
    ) -> dict[str, Tensor]:
        """Per-task query loss and accuracy (``inner_steps`` is ignored)."""
        with torch.no_grad():
            logits, losses = self._losses(batch)
        return task_metrics_from(logits, batch.query_y, losses)


def with_symbols(
    episodes: Episode, n_symbols: int, generator: torch.Generator | None = None
) -> Episode:
    """The same batched episodes with fixed label symbols in
    ``info["symbols"]`` ``(B, n_way)``, so that every evaluation reads the same
    sequences."""
    if not episodes.batched:
        raise EpisodeError("with_symbols needs a batched episode")
    n_way = int(episodes.support_y.max()) + 1
    symbols = draw_symbols(
        episodes.meta_batch_size, n_way, n_symbols, generator
    )
    return Episode(
        episodes.support_x, episodes.support_y, episodes.query_x,
        episodes.query_y, batched=True,
        info=dict(episodes.info, symbols=symbols),
    )  # fmt: skip
