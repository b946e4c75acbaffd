"""Integrated gradients, for CLS pooling, where no exact decomposition of the score exists.

The [CLS] vector depends on every token through attention in no additive way, so the shares here are an
approximation: integrated gradients (Sundararajan et al., 2017) of f(x) = cos(target, h_cls(x)) along the
straight path in embedding space from a baseline (every word token replaced by [PAD], the special tokens
kept) to the input. Their sum approaches f(x) - f(baseline) as the steps grow; what is left, the
completeness gap, is reported beside them rather than hidden. This needs the torch model and gradients,
so it costs ``steps`` forward and backward passes per window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

IG_STEPS = 16  # midpoint-rule steps along the path


@dataclass(frozen=True)
class Attribution:
    """Integrated gradients of one text: a share per token, the score of the input and of the baseline,
    and the completeness gap |sum(shares) - (score - baseline_score)|."""

    shares: np.ndarray
    score: float
    baseline_score: float
    gap: float
    vector: np.ndarray  # the input's unit [CLS] vector


def integrated_gradients(model: torch.nn.Module, ids: Sequence[int], special: Sequence[bool],
                         target: np.ndarray, steps: int = IG_STEPS) -> Attribution:  # fmt: skip
    """Attributions of cos(``target``, [CLS] vector) to the tokens of ``ids`` (``special`` marks [CLS],
    [SEP] and the like, kept in the baseline)."""
    transformer: Any = model  # transformers' methods read as Tensor | Module attributes to the checker
    embed = transformer.get_input_embeddings()
    pad_id = int(getattr(model.config, "pad_token_id", None) or 0)
    token_ids = torch.tensor([list(ids)])
    baseline_ids = torch.tensor([[i if s else pad_id for i, s in zip(ids, special, strict=True)]])
    aim = torch.from_numpy(np.asarray(target, dtype=np.float32))
    with torch.no_grad():
        inputs, baseline = embed(token_ids), embed(baseline_ids)
        ends = _cls(model, torch.cat([inputs, baseline]))
    scores = ends @ aim
    alphas = ((torch.arange(steps, dtype=torch.float32) + 0.5) / steps)[:, None, None]
    with torch.enable_grad():
        path = (baseline + alphas * (inputs - baseline)).detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad((_cls(model, path) @ aim).sum(), path)
    shares = ((inputs - baseline)[0] * gradient.mean(dim=0)).sum(dim=-1).double().numpy()
    score, baseline_score = float(scores[0]), float(scores[1])
    gap = abs(float(shares.sum()) - (score - baseline_score))
    return Attribution(shares, score, baseline_score, gap, ends[0].double().numpy())


def _cls(model: torch.nn.Module, embeddings: torch.Tensor) -> torch.Tensor:
    """Unit [CLS] vectors of a batch of input embeddings (no padding)."""
    mask = torch.ones(embeddings.shape[:2], dtype=torch.long)
    hidden = model(inputs_embeds=embeddings, attention_mask=mask).last_hidden_state[:, 0]
    return torch.nn.functional.normalize(hidden, dim=-1)
