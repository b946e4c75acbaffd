"""Small helpers shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from semsearch.store import ChunkRows, Store
from semsearch.types import Document, Engine


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def random_store(
    path: Path, docs: int, chunks_per_doc: int = 1, dim: int = 16, seed: int = 0
) -> tuple[Store, np.ndarray]:
    """A store of random unit vectors with metadata ``group`` (doc index mod 33) and ``even``."""
    rng = np.random.default_rng(seed)
    store = Store.create(path, dim)
    documents = [
        Document(id=f"d{i}", text=f"document {i}", metadata={"group": i % 33, "even": i % 2 == 0, "name": f"n{i % 5}"})
        for i in range(docs)
    ]
    from semsearch.store.schema import filterable_kinds

    store.ensure_fields(filterable_kinds(documents))
    vectors = rng.normal(size=(docs * chunks_per_doc, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.write(
        ChunkRows(
            docs=documents,
            doc_index=[i for i in range(docs) for _ in range(chunks_per_doc)],
            numbers=[c for _ in range(docs) for c in range(chunks_per_doc)],
            spans=[(0, 1)] * (docs * chunks_per_doc),
            rowids=list(range(docs * chunks_per_doc)),
            vectors=vectors,
        )
    )
    return store, vectors


def tiny_bert(target: Path, seed: int) -> Path:
    """A 2-layer, 32-wide random BERT with the default tokenizer, written to ``target``: fast, not the default
    weights, and another encoder for each ``seed``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from semsearch.models import default_model_dir

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(default_model_dir()).save_pretrained(target)
    return target


def skip_without(engine: Engine) -> None:
    """Skip the test where ``engine``'s library is not installed (they are optional)."""
    import pytest

    from semsearch.runtime import onnx_runtime, openvino_runtime

    if engine is Engine.OPENVINO and not openvino_runtime.available():
        pytest.skip("OpenVINO and NNCF are not installed")
    if engine is Engine.ONNXRUNTIME and not onnx_runtime.available():
        pytest.skip("ONNX Runtime is not installed")
