"""Integrated gradients (CLS pooling): an approximation whose completeness gap shrinks with the steps."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.encoder import Encoder
from semsearch.explain.gradients import integrated_gradients
from semsearch.types import Pooling


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    """A tiny BERT with large random weights: at the usual initial scale its [CLS] vector barely depends
    on the other tokens, and every attribution would be near zero."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from semsearch.models import default_model_dir

    torch.manual_seed(1)
    target = tmp_path_factory.mktemp("steep-bert")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, initializer_range=0.4,
    )  # fmt: skip
    BertModel(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(default_model_dir()).save_pretrained(target)
    return Encoder(target, Pooling.CLS, precision="fp32")


def test_scores_are_the_encoders_and_the_gap_shrinks(encoder: Encoder) -> None:
    ids = encoder.token_ids(["vitamin D deficiency raises the risk of respiratory infections"])[0]
    special = [i in (ids[0], ids[-1]) for i in ids]
    target = encoder.encode(["vitamin D and infection"])[0]
    coarse = integrated_gradients(encoder.torch_model, ids, special, target, steps=2)
    fine = integrated_gradients(encoder.torch_model, ids, special, target, steps=64)
    assert fine.score == pytest.approx(float(encoder.encode_ids([ids])[0] @ target), abs=1e-5)
    assert fine.score == pytest.approx(coarse.score) and fine.baseline_score == pytest.approx(coarse.baseline_score)
    assert len(fine.shares) == len(ids) and np.isclose(np.linalg.norm(fine.vector), 1.0)
    assert fine.gap == pytest.approx(abs(fine.shares.sum() - (fine.score - fine.baseline_score)))
    assert abs(fine.score - fine.baseline_score) > 0.01 and fine.gap < coarse.gap
    assert fine.gap < 0.1 * abs(fine.score - fine.baseline_score)
