"""The encoder's transformer layers as torch modules, which only the fine-tuned head needs.

Fine-tuning trains the top layers on what the frozen bottom ones make of each text, so the bottom
layers run once (:func:`encode_with_states` keeps their output) and each epoch runs the top ones
only (:func:`run_layers`, the one loop over layers). Padding, pooling and batching are the
encoder's own (:func:`semsearch.runtime.pad`, :func:`semsearch.encoder.pool`,
:func:`semsearch.encoder.length_batches`), so the vectors made here are the encoder's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from semsearch.chunking import Chunk
from semsearch.encoder import Encoder, length_batches
from semsearch.errors import ClassifierError
from semsearch.pooling import normalize, pool
from semsearch.runtime import pad


def bert_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The transformer layers of a BERT-style model (embeddings, then ``encoder.layer``)."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not hasattr(model, "embeddings"):
        raise ClassifierError(
            f"fine-tuning needs a BERT-style model (embeddings + encoder.layer), not {type(model).__name__}; "
            "train a frozen head instead"
        )
    return layers


def run_layers(layers: Iterable[torch.nn.Module], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``hidden`` through ``layers``, padding (``mask`` 0) masked out of attention."""
    extended = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in layers:
        out = layer(hidden, attention_mask=extended)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


@torch.inference_mode()
def encode_with_states(
    encoder: Encoder, chunks: Sequence[Chunk], count: int, state_layer: int, progress: Any
) -> tuple[np.ndarray, list[torch.Tensor]]:
    """The pooled, normalised vector of each chunk, and for each of the ``count`` texts the hidden states
    of its first window after ``state_layer`` layers (bfloat16, to halve their memory)."""
    windows = [c.input_ids for c in chunks]
    vectors = np.zeros((len(windows), encoder.dim), dtype=np.float32)
    states: list[torch.Tensor | None] = [None] * count
    model = encoder.torch_model
    layers = bert_layers(model)
    embeddings: Any = model.embeddings
    bottom = state_layer if 0 <= state_layer <= len(layers) else len(layers)  # out of range: no states
    # batches of the encoder's batch size, longest first
    budget = encoder.batch_size * max([encoder.max_length, *map(len, windows)])
    for batch in length_batches([len(w) for w in windows], budget, encoder.batch_size):
        ids, mask = (torch.from_numpy(array) for array in pad([windows[i] for i in batch]))
        hidden = run_layers(layers[:bottom], embeddings(input_ids=ids), mask)
        if bottom == state_layer:
            lengths = mask.sum(1).tolist()
            for row, position in enumerate(batch):
                if chunks[position].number == 0:  # fine-tuning reads first windows only
                    states[chunks[position].doc] = hidden[row, : lengths[row]].to(torch.bfloat16).clone()
        hidden = run_layers(layers[bottom:], hidden, mask)
        vectors[batch] = normalize(pool(hidden.float(), mask, encoder.pooling).numpy())
        progress.update(len(batch))
    return vectors, states  # type: ignore[return-value]
