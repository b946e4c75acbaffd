"""The model in torch: the reference fp32 runtime, bf16 under autocast, and fp16 on a CUDA GPU."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel

from semsearch.errors import ModelError
from semsearch.types import Precision


def load_model(model_dir: Path) -> torch.nn.Module:
    """The transformer of ``model_dir`` as an fp32 torch module in eval mode."""
    try:
        return AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a model from {model_dir}: {exc}") from exc


class TorchRuntime:
    """The model in torch, fp32 or under bf16 autocast, on ``threads`` threads (None: torch's default).

    torch has one thread pool per process, so the count is set around each call and then restored:
    a process that searches (one thread) and then indexes (every core) gets both right.
    """

    def __init__(self, model: torch.nn.Module, precision: Precision, threads: int | None = None) -> None:
        from semsearch.gpu import cuda_available

        # On a GPU the model runs there (fp16 halves its memory and uses the tensor cores); fp16 on a CPU
        # is for a GPU-built index's queries on a machine without one (same number format, slower).
        self.device = torch.device("cuda" if cuda_available() and precision in (Precision.FP16, Precision.FP32)
                                   else "cpu")  # fmt: skip
        self.model = model.half() if precision is Precision.FP16 else model
        self.model.to(self.device)
        self.bf16 = precision is Precision.BF16
        self.threads = threads

    @torch.inference_mode()
    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        before = torch.get_num_threads()
        if self.threads and self.threads != before:
            torch.set_num_threads(self.threads)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out = self.model(
                    input_ids=torch.from_numpy(ids).to(self.device),
                    attention_mask=torch.from_numpy(mask).to(self.device),
                )
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
        return out.last_hidden_state.float().cpu().numpy()

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        return (self.forward(ids, mask) for ids, mask in batches)
