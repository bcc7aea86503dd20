"""A small Transformer encoder for few-shot text classification, written out in
one file.

In the style of minGPT/nanoGPT (Radford et al., 2019, as written by Karpathy),
but an *encoder*: every token attends to every non-padding token, in both
directions::

    tokens (B, T) -> token + position embeddings (B, T, C)
       -> n_layers x [x + attn(ln(x)); x + mlp(ln(x))]   (pre-LayerNorm)
       -> ln_f -> mean over non-pad tokens (B, C)        (TransformerEncoder)
       -> linear head (B, n_way)                         (TransformerClassifier)

Attention is written out, ``softmax(Q Kᵀ / √d_head + mask) V``, rather than
calling ``F.scaled_dot_product_attention``: the fused kernels have no double
backward, and second-order MAML differentiates through the inner loop's
gradients.

Padding. ``pad_id`` tokens are masked as attention *keys* (every query gives
them weight exactly 0) and left out of the pooling, so appending padding never
changes the output. A sequence made only of padding has no key to attend to: its
attention is uniform over its positions (finite, never ``nan``), it embeds to
the zero vector and its logits are the head's bias.

The modules take their device and dtype from their parameters and inputs, and
work with ``torch.func.functional_call`` under ``vmap``
(``randomness="different"`` gives every task its own dropout masks), which is
how metabook's inner loop calls them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, EpisodeError

POOLINGS = ("mean", "first")


@dataclass(frozen=True)
class TransformerConfig:
    """The encoder's sizes. The defaults are the book's text model: with byte
    tokens and a 5-way head, about 88k parameters.

    Args:
        vocab_size: token ids are ``0 .. vocab_size-1`` (257 for
            ``ByteTokenizer``).
        d_model: width C of the residual stream.
        n_heads: attention heads; ``d_model`` must be divisible by it.
        n_layers: Transformer blocks.
        d_ff: hidden width of each block's MLP.
        max_len: the longest sequence T (the number of learned positions).
        pad_id: the padding id; it is masked out of attention and pooling.
        dropout: on attention weights and on each residual branch (0 turns it
            off).
        pooling: ``"mean"`` over non-pad tokens, or ``"first"`` token.
    """

    vocab_size: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    max_len: int = 64
    pad_id: int = 0
    dropout: float = 0.0
    pooling: str = "mean"

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "d_model",
            "n_heads",
            "n_layers",
            "d_ff",
            "max_len",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise ConfigError(f"{name}={value!r} must be a positive int")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"d_model={self.d_model} must be divisible by "
                f"n_heads={self.n_heads}"
            )
        if not (
            isinstance(self.pad_id, int) and 0 <= self.pad_id < self.vocab_size
        ):
            raise ConfigError(
                f"pad_id={self.pad_id!r} must be a token id in "
                f"0..{self.vocab_size - 1}"
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not 0 <= self.dropout < 1
        ):
            raise ConfigError(
                f"dropout={self.dropout!r} must be a number in [0, 1)"
            )
        if self.pooling not in POOLINGS:
            raise ConfigError(
                f"pooling={self.pooling!r} must be one of {POOLINGS}"
            )


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask, written out."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        C = config.d_model
        self.n_heads = config.n_heads
        self.query = nn.Linear(C, C)
        self.key = nn.Linear(C, C)
        self.value = nn.Linear(C, C)
        self.proj = nn.Linear(C, C)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """``x``: (B, T, C); ``keep``: (B, T), True for real tokens. Returns y
        (B, T, C) and weights (B, H, T, T)."""
        B, T, C = x.shape
        H = self.n_heads
        q = self.query(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hs)
        k = self.key(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hs)
        v = self.value(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)  # (B, H, T, T)
        # A finite fill, not -inf: exp(min - max) underflows to exactly 0, so
        # padding keys get weight 0, and a sequence that is all padding gets a
        # uniform softmax instead of 0/0 = nan.
        att = att.masked_fill(
            ~keep[:, None, None, :], torch.finfo(att.dtype).min
        )
        att = F.softmax(att, dim=-1)  # (B, H, T, T)
        y = self.attn_dropout(att) @ v  # (B, H, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side
        return self.resid_dropout(self.proj(y)), att


class FeedForward(nn.Module):
    """The position-wise feed-forward network: C -> d_ff -> C with GELU."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.d_model, config.d_ff)
        self.proj = nn.Linear(config.d_ff, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C) -> (B, T, C)
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """One pre-LayerNorm Transformer block: ``x + attn(ln_1(x))``, then ``x +
    mlp(ln_2(x))``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = FeedForward(config)

    # (B, T, C), (B, T)
    def forward(self, x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        y, att = self.attn(self.ln_1(x), keep)
        x = x + y  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x, att


class TransformerEncoder(nn.Module):
    """Token ids ``(B, T)`` to one embedding per sequence ``(B, d_model)``.

    This is the network a Prototypical Network needs:
    ``ProtoNet(TransformerEncoder(config))`` (or
    ``ProtoNet(classifier.encoder)``).

    Args:
        config: the sizes (see :class:`TransformerConfig`).
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise ConfigError(
                "config must be a TransformerConfig, got "
                f"{type(config).__name__}"
            )
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.max_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config) for _ in range(config.n_layers)
        )
        self.ln_f = nn.LayerNorm(config.d_model)
        self.apply(_init_weights)
        # GPT-2: scale the residual projections by depth
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(
                    p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers)
                )

    def _check(self, tokens: Tensor) -> None:
        if (
            tokens.dim() != 2
            or tokens.is_floating_point()
            or tokens.is_complex()
        ):
            raise EpisodeError(
                "tokens must be a (n, T) tensor of integer ids, got shape "
                f"{tuple(tokens.shape)} "
                f"and dtype {tokens.dtype}"
            )
        if tokens.shape[1] > self.config.max_len:
            raise EpisodeError(
                f"sequences have T={tokens.shape[1]} tokens but the model has "
                f"max_len={self.config.max_len} "
                "positions; tokenise with a smaller max_len or build the "
                "model with a larger one"
            )
        if not _is_batched(tokens):  # under vmap the learners checked already
            self.check_input(tokens)

    def check_input(self, tokens: Tensor, name: str = "tokens") -> None:
        """Token ids must be integers in ``0 .. vocab_size-1``.

        Checked before the embedding lookup: an id outside the table is an
        ``IndexError`` on the CPU and a device-side assert (a dead kernel) on
        CUDA.
        """
        if tokens.is_floating_point() or tokens.is_complex():
            raise EpisodeError(
                f"{name} must hold integer token ids, got dtype {tokens.dtype}"
            )
        if tokens.numel() == 0:
            return
        low, high = (int(v) for v in torch.aminmax(tokens))
        vocab = self.config.vocab_size
        bad = low if low < 0 else high if high >= vocab else None
        if bad is not None:
            raise EpisodeError(
                f"{name} holds the token id {bad}, outside the vocabulary "
                f"0..{vocab - 1} (vocab_size={vocab}); tokenise with the "
                "tokenizer the model was built for"
            )

    def hidden_states(
        self, tokens: Tensor
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """The final LayerNorm's output, the padding mask and each layer's
        attention weights.

        Returns:
            ``(B, T, C)`` hidden states, ``(B, T)`` bool (True for real tokens)
            and a list of ``n_layers`` tensors ``(B, n_heads, T, T)`` (rows:
            queries, columns: keys).
        """
        self._check(tokens)
        B, T = tokens.shape
        keep = tokens != self.config.pad_id  # (B, T)
        x = self.tok_emb(tokens) + self.pos_emb.weight[:T]  # (B, T, C)
        x = self.drop(x)
        maps = []
        for block in self.blocks:
            x, att = block(x, keep)  # (B, T, C), (B, H, T, T)
            maps.append(att)
        return self.ln_f(x), keep, maps

    def pool(self, x: Tensor, keep: Tensor) -> Tensor:
        """``(B, T, C)`` -> ``(B, C)``: the mean over real tokens, or the first
        token (0 if it is padding)."""
        weights = keep.to(x.dtype)  # (B, T)
        if self.config.pooling == "first":
            return x[:, 0] * weights[:, :1]  # (B, C)
        # (B, 1); an all-pad row pools to 0
        count = weights.sum(1, keepdim=True).clamp(min=1)
        return (x * weights.unsqueeze(-1)).sum(1) / count  # (B, C)

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens``: ``(B, T)`` int64 ids -> ``(B, d_model)`` embeddings."""
        x, keep, _ = self.hidden_states(tokens)
        return self.pool(x, keep)

    def attention_maps(self, tokens: Tensor) -> list[Tensor]:
        """Per layer, the attention weights ``(B, n_heads, T, T)`` (for plots;
        no graph is kept)."""
        with torch.no_grad():
            return self.hidden_states(tokens)[2]


class TransformerClassifier(nn.Module):
    """A :class:`TransformerEncoder` and a linear head: ``(n, T)`` ids -> ``(n,
    n_way)`` logits.

    The learner of MAML, FOMAML and Reptile for text; ``model.encoder`` alone is
    ProtoNet's embedding (``mb.ProtoNet(model.encoder)``), so both kinds of
    method can share one architecture.

    Args:
        vocab_size: token ids are ``0 .. vocab_size-1``.
        n_way: classes per task, the size of the head.
        d_model, n_heads, n_layers, d_ff, max_len, pad_id, dropout, pooling: see
            :class:`TransformerConfig`.

    Example:
        >>> tok = ByteTokenizer(max_len=64)
        >>> model = TransformerClassifier(tok.vocab_size, n_way=5)
        >>> model(tok(["hello", "bonjour"])).shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        vocab_size: int,
        n_way: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 128,
        max_len: int = 64,
        pad_id: int = 0,
        dropout: float = 0.0,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        if isinstance(n_way, bool) or not isinstance(n_way, int) or n_way < 2:
            raise ConfigError(f"n_way={n_way!r} must be an int of at least 2")
        config = TransformerConfig(
            vocab_size,
            d_model,
            n_heads,
            n_layers,
            d_ff,
            max_len,
            pad_id,
            dropout,
            pooling,
        )
        self.config = config
        self.n_way = n_way
        self.encoder = TransformerEncoder(config)
        self.head = nn.Linear(config.d_model, n_way)
        _init_weights(self.head)

    @classmethod
    def from_config(
        cls, config: TransformerConfig, n_way: int
    ) -> TransformerClassifier:
        """A classifier with the sizes of ``config``."""
        return cls(n_way=n_way, **asdict(config))

    def check_input(self, tokens: Tensor, name: str = "tokens") -> None:
        """Token ids must be integers in ``0 .. vocab_size-1`` (see the
        encoder's)."""
        self.encoder.check_input(tokens, name)

    def embed(self, tokens: Tensor) -> Tensor:
        """``(n, T)`` ids -> ``(n, d_model)``: the encoder without the head."""
        return self.encoder(tokens)

    def forward(self, tokens: Tensor) -> Tensor:
        """``(n, T)`` int64 ids -> ``(n, n_way)`` logits."""
        return self.head(self.encoder(tokens))

    def attention_maps(self, tokens: Tensor) -> list[Tensor]:
        """Per layer, the attention weights ``(n, n_heads, T, T)``."""
        return self.encoder.attention_maps(tokens)

    EMBEDDING = "encoder.tok_emb.weight"

    def localize(
        self, params: dict[str, Tensor], *tokens: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, Tensor], tuple[Tensor, ...]]:
        """Give every task its own small embedding table: the rows of the tokens
        it uses.

        A task's forward passes read only the embedding rows of its own tokens,
        so the inner loop's gradient is zero on every other row, and adapting
        the full ``(vocab_size, d_model)`` table per task is wasted work (with a
        word vocabulary, most of the meta-step). This renumbers each task's
        tokens ``0 .. n_rows-1`` (padding stays 0) and gathers the matching
        rows.

        Args:
            params: θ by name, as for ``functional_call``.
            tokens: ``(B, n, T)`` token ids per task (support and query sets),
                all with the same ``B``.

        Returns:
            ``params`` with the embedding replaced by ``(B, n_rows, d_model)``
            rows, ``{name: (B, n_rows)}`` row indices into the full table
            (padded with row 0) and the renumbered ``tokens``. With a ``pad_id``
            other than 0, or without the embedding in ``params``, everything is
            returned unchanged.
        """
        if (
            self.config.pad_id != 0
            or self.EMBEDDING not in params
            or not tokens
        ):
            return params, {}, tokens
        B = tokens[0].shape[0]
        flat = torch.cat([t.reshape(B, -1) for t in tokens], dim=1)  # (B, N)
        pad = flat.new_zeros(B, 1)
        used, local = [], []
        # padding first, so it becomes local id 0
        for row in torch.cat([pad, flat], dim=1):
            ids, inverse = torch.unique(row, return_inverse=True)
            used.append(ids)
            local.append(inverse[1:])
        n_rows = max(len(ids) for ids in used)
        # (B, n_rows)
        index = torch.stack(
            [F.pad(ids, (0, n_rows - len(ids))) for ids in used]
        )
        renumbered = torch.stack(local).split(
            [t[0].numel() for t in tokens], dim=1
        )
        out = tuple(r.reshape(t.shape) for r, t in zip(renumbered, tokens))
        local_params = dict(params)
        # (B, n_rows, d_model)
        local_params[self.EMBEDDING] = params[self.EMBEDDING][index]
        return local_params, {self.EMBEDDING: index}, out


def _is_batched(t: Tensor) -> bool:
    """Whether ``t`` is a ``vmap`` BatchedTensor (its values cannot be read)."""
    return torch._C._functorch.is_batchedtensor(t)


def _init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation: normal(0, 0.02) weights, zero biases, LayerNorm
    at identity."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
