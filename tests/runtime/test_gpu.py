"""The GPU paths, checked on any machine: what is chosen when a GPU is (said to be) there, and fp16 as a
precision of its own (recorded in the manifest, never mixed with fp32 vectors)."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch import gpu, runtime
from semsearch.encoder import Encoder
from semsearch.errors import IncompatibleEncoderError
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import Manifest
from semsearch.types import Precision


def test_no_device_node_means_no_cuda_without_importing_torch(monkeypatch):
    gpu.cuda_available.cache_clear()
    monkeypatch.setattr(gpu.glob, "glob", lambda pattern: [])
    assert gpu.cuda_available() is False
    gpu.cuda_available.cache_clear()


def test_a_new_index_on_a_gpu_machine_gets_fp16(monkeypatch):
    monkeypatch.setattr(gpu, "cuda_available", lambda: True)
    assert runtime.best_precision() is Precision.FP16


def test_fp16_vectors_are_close_to_fp32_and_kept_apart_from_them(tiny_model, tmp_path):
    texts = ["the river bank was flooded", "a bank account with interest"]
    half = Encoder(tiny_model, precision=Precision.FP16).encode(texts)
    full = Encoder(tiny_model, precision=Precision.FP32).encode(texts)
    assert half.dtype == np.float32 and np.min(np.sum(half * full, axis=1)) > 0.99
    docs = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    build_index(docs, tmp_path / "idx", IndexOptions(model=str(tiny_model), precision=Precision.FP16, progress=False))
    assert Manifest.load(tmp_path / "idx").precision is Precision.FP16
    with pytest.raises(IncompatibleEncoderError, match="precision fp16"):
        build_index(docs, tmp_path / "idx", IndexOptions(precision=Precision.FP32, progress=False))
