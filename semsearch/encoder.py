"""Turn token windows and queries into L2-normalised float32 vectors with a BERT-family model.

The encoder tokenises, batches windows of similar length, hands each batch to a runtime
(:mod:`semsearch.runtime`: torch or OpenVINO) and pools its token vectors into one unit vector.
Model directories and their identity are :mod:`semsearch.models`' business.

Making an encoder reads JSON files and hashes the weights, nothing more: queries are tokenised by the
``tokenizers`` library and (at fp32, where OpenVINO is installed) run by OpenVINO, so a process that only
answers queries never imports transformers or torch. Documents are cut into windows by the same library
(offsets and overflowing windows); transformers' tokenizer only where a model ships no ``tokenizer.json``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch import runtime
from semsearch.chunking import Chunk, ChunkConfig, split, split_fast, window_tokenizer
from semsearch.errors import ModelError
from semsearch.models import (
    DEFAULT_MODEL,
    configured_max_length,
    model_shape,
    resolve_model_dir,
    tokenizer_max_length,
    weights_sha256,
)
from semsearch.pooling import normalize, pool
from semsearch.runtime import pad
from semsearch.runtime.base import CPU_BATCH_TOKENS
from semsearch.types import Engine, ModelIdentity, Pooling, Precision

if TYPE_CHECKING:
    import tokenizers
    import torch
    from tqdm import tqdm
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def length_batches(lengths: Sequence[int], max_tokens: int, max_windows: int) -> list[list[int]]:
    """Positions grouped into batches of similar length, longest first.

    A batch is padded to its longest window, so sorting by length keeps padding small; a batch holds
    at most ``max_tokens`` padded tokens (so short windows go in bigger batches, which keeps the
    per-call overhead small) and at most ``max_windows`` windows.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for position in order:
        current = batches[-1] if batches else None
        if current and len(current) < max_windows and (len(current) + 1) * lengths[current[0]] <= max_tokens:
            current.append(position)
        else:
            batches.append([position])
    return batches


class Encoder:
    """A BERT-family model with a pooling; loads once, then encodes windows or queries.

    ``threads`` caps the threads of the matrix work (None: the library's default, every core). The
    search engine encodes queries with :meth:`for_queries`: on the threads the runtime planner measured
    fastest for one query (a thread pool can make a query many times slower on a busy machine).
    """

    def __init__(
        self,
        model: str | Path | None = DEFAULT_MODEL,
        pooling: Pooling = Pooling.MEAN,
        precision: Precision | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.name = DEFAULT_MODEL if model is None else str(model)
        self.root, self.model_dir = resolve_model_dir(self.name)
        self.pooling = Pooling(pooling)
        self.batch_size = batch_size
        self.threads = threads
        self.dim, positions = model_shape(self.model_dir)
        self.max_length = configured_max_length(
            self.root, self.model_dir, tokenizer_max_length(self.model_dir), positions
        )
        self.identity = ModelIdentity(name=self.name, path=str(self.root), sha256=weights_sha256(self.model_dir))
        # No precision given: the fastest one measured on this CPU for these weights (a new index's default).
        self.precision = Precision(precision) if precision else runtime.best_precision(self.planner_model())
        self.engine = engine or runtime.engine_for(self.precision, threads, self.identity.sha256)
        # two threads cutting at once (an index run cuts the next batch while a classifier labels the current
        # one) take turns: transformers' fast tokenizer sets its truncation on each call
        self._cutting = threading.Lock()
        self._fast_tokenizers: dict[ChunkConfig, tokenizers.Tokenizer | None] = {}

    @classmethod
    def for_queries(
        cls, model: str | Path | None = DEFAULT_MODEL, pooling: Pooling = Pooling.MEAN,
        precision: Precision | None = None,
    ) -> Encoder:  # fmt: skip
        """An encoder of single queries, on the threads the runtime plan chose for one query at this
        precision in its engine (one thread where no plan says otherwise)."""
        encoder = cls(model, pooling, precision, threads=1)
        encoder.threads = runtime.query_threads(encoder.precision, encoder.engine, encoder.identity.sha256)
        return encoder

    def planner_model(self) -> runtime.planner.Model:
        """What the runtime planner needs to measure this model."""
        from semsearch.runtime.planner import Model

        return Model(self.model_dir, self.identity.sha256, self.pooling, self.max_length, lambda: self.tokenizer)

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """transformers' tokenizer of the model: what cuts documents into windows (with offsets)."""
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load a tokenizer from {self.model_dir}: {exc}") from exc

    @cached_property
    def query_tokenizer(self) -> tokenizers.Tokenizer | None:
        """The model's fast tokenizer as the ``tokenizers`` library loads it (no transformers import), set to
        truncate at ``max_length`` and not to pad; None when the model ships no ``tokenizer.json``."""
        return self._fast_tokenizer(ChunkConfig(self.max_length, 0))

    def _fast_tokenizer(self, config: ChunkConfig) -> tokenizers.Tokenizer | None:
        """The ``tokenizers`` library's tokenizer cutting as ``config`` says (one per config, kept); None when
        the model ships no ``tokenizer.json``."""
        if config not in self._fast_tokenizers:
            path = self.model_dir / "tokenizer.json"
            self._fast_tokenizers[config] = window_tokenizer(str(path), config) if path.is_file() else None
        return self._fast_tokenizers[config]

    @cached_property
    def runtime(self) -> runtime.Runtime:
        """What runs the transformer, loaded on first use."""
        return runtime.load(self.model_dir, self.identity.sha256, self.precision, lambda: self.tokenizer,
                            self.max_length, self.threads, self.engine)  # fmt: skip

    @cached_property
    def torch_model(self) -> torch.nn.Module:
        """The model as an fp32 torch module, for what needs its layers (classifier fine-tuning).

        A runtime other than torch (OpenVINO) holds a graph, so this loads the weights once more.
        """
        from semsearch.runtime.torch_runtime import TorchRuntime, load_model

        if self.engine is Engine.TORCH and isinstance(self.runtime, TorchRuntime):
            return self.runtime.model
        return load_model(self.model_dir)

    def chunks(self, texts: Sequence[str], overlap: int, window: int | None = None) -> list[Chunk]:
        """Token windows of ``window`` tokens (the model's whole ``max_length`` when None)."""
        config = ChunkConfig(window or self.max_length, overlap)
        with self._cutting:
            fast = self._fast_tokenizer(config)
            return split(self.tokenizer, texts, config) if fast is None else split_fast(fast, texts)

    def encode_ids(
        self, windows: Sequence[Sequence[int]], progress: tqdm[Any] | None = None, multiple: int = 1
    ) -> np.ndarray:
        """Vectors for already-tokenised windows, batched by length so little padding is computed (each batch
        padded to a multiple of ``multiple`` tokens, at most ``max_length``)."""
        out = np.zeros((len(windows), self.dim), dtype=np.float32)
        budget = self.batch_size * self.max_length
        if self.precision is not Precision.FP16:  # fp16 runs on a GPU, which wants big batches
            budget = min(budget, CPU_BATCH_TOKENS)
        batches = length_batches([len(w) for w in windows], budget, 4 * self.batch_size)
        padded = [pad([windows[i] for i in batch], multiple, self.max_length) for batch in batches]
        for batch, (_, mask), hidden in zip(batches, padded, self.runtime.forward_all(padded), strict=True):
            out[batch] = self._pool(hidden, mask)
            if progress is not None:
                progress.update(len(batch))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for short texts such as queries; anything past ``max_length`` is truncated.

        In OpenVINO the texts are padded to a multiple of 32 tokens (:func:`runtime.query_multiple`): it prepares
        its kernels for each input shape it meets, and a query of a width it had met ran faster than one of a new
        width (benchmarks/RESULTS.md). The mask keeps the vectors; the runtime parity suite holds every runtime to
        that."""
        return self.encode_ids(self.token_ids(texts), multiple=runtime.query_multiple(self.engine))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of ``texts`` with the special tokens, truncated to ``max_length``: the same ids
        transformers' tokenizer gives (tested), from the lighter ``tokenizers`` library where it can."""
        fast = self.query_tokenizer
        if fast is not None:
            return [encoding.ids for encoding in fast.encode_batch(list(texts))]
        ids = self.tokenizer(list(texts), max_length=self.max_length, truncation=True, return_attention_mask=False)
        return list(ids["input_ids"])

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        """Each text's last hidden state (tokens x dim, special tokens included, truncated to
        ``max_length``) and each token's character span ((0, 0) for special tokens), all texts in ONE
        forward pass: what disambiguation reads mention vectors from."""
        if not texts:
            return []
        fast = self.query_tokenizer
        if fast is not None:
            encodings = fast.encode_batch(list(texts))
            ids = [e.ids for e in encodings]
            offsets = [[(int(a), int(b)) for a, b in e.offsets] for e in encodings]
        else:
            encoded = self.tokenizer(list(texts), max_length=self.max_length, truncation=True,
                                     return_offsets_mapping=True, return_attention_mask=False)  # fmt: skip
            ids = list(encoded["input_ids"])
            offsets = [[(int(a), int(b)) for a, b in o] for o in encoded["offset_mapping"]]
        hidden = self.runtime.forward(*pad(ids))
        return [(hidden[row, : len(ids[row])], offsets[row]) for row in range(len(ids))]

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """One unit vector per window from its token vectors (padding excluded)."""
        return normalize(pool(hidden, mask.astype(np.float32), self.pooling))
