"""What every runtime is: token ids and an attention mask in, the last hidden state out.

A runtime only runs the transformer; tokenising, batching and pooling are the encoder's
(:mod:`semsearch.encoder`), so two runtimes of the same weights are interchangeable where their
vectors agree (see ``tests/runtime``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

# Padded tokens in a batch on a CPU. Small batches keep a layer's activations in the cores' caches: 2,048 tokens
# (16 windows of 128) encoded faster than 8,192 in torch and ONNX Runtime and as fast in OpenVINO int8
# (benchmarks/RESULTS.md, "batch size"). A GPU wants big batches.
CPU_BATCH_TOKENS = 2048


class Runtime(Protocol):
    """Runs the transformer: token ids and mask in, last hidden state (float32) out."""

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """Hidden states of each batch, in order (a runtime may run several at once)."""
        ...


def pad(windows: Sequence[Sequence[int]], multiple: int = 1, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask, right-padded to the longest window, rounded up to a multiple of
    ``multiple`` tokens but never past ``limit`` (None: no limit) unless a window is longer."""
    longest = max(len(w) for w in windows)
    width = -(-longest // multiple) * multiple
    if limit is not None:
        width = max(min(width, limit), longest)
    ids = np.zeros((len(windows), width), dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return ids, mask


def bert_inputs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The three inputs an exported BERT graph takes, by name (one segment: token types all 0)."""
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
