"""Per-task ``info`` survives batching and indexing, whether it is a tensor or a
list (string class names)."""

from __future__ import annotations

import torch

import metabook as mb

WORDS = [f"{cls}{i}" for cls in "abcdef" for i in range(5)]
LABELS = [w[0] for w in WORDS]


def encode(words: list[str]) -> torch.Tensor:
    return torch.tensor([[ord(ch) for ch in w] for w in words])


def test_list_info_is_indexed_by_task():
    sampler = mb.EpisodeSampler(
        WORDS, LABELS, n_way=3, k_shot=1, n_query=2, collate=encode
    )
    batch = sampler.sample_batch(4)
    assert (
        isinstance(batch.info["classes"], list)
        and len(batch.info["classes"]) == 4
    )
    for i, task in enumerate(batch):
        assert task.info["classes"] == batch.info["classes"][i]
        assert [chr(int(row[0])) for row in task.support_x] == task.info[
            "classes"
        ]
    head = batch[1:3]
    assert head.batched and head.info["classes"] == batch.info["classes"][1:3]


def test_tensor_info_is_indexed_by_task():
    sampler = mb.EpisodeSampler(
        torch.arange(30).unsqueeze(-1), torch.arange(30) // 5, 3, 1, 2
    )
    batch = sampler.sample_batch(4)
    assert torch.equal(batch[2].info["classes"], batch.info["classes"][2])
