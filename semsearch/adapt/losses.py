"""The follow-up stage's loss: contrastive ranking, guided by the frozen base encoder, plus distillation.

One forward pass of the student and one of the frozen base encoder (the *teacher*) per batch feed
two terms:

- **contrastive** (InfoNCE, as ``MultipleNegativesRankingLoss``): each pseudo-query must score its own
  document above every other candidate of the batch: the other queries' documents (in-batch
  negatives) and the BM25-mined hard negatives. Candidates that the *teacher* scores at least as
  high as the query's own document are masked out (GISTEmbed's false-negative filter, Solatorio
  2024): a BM25 look-alike that the base model already finds as relevant is probably relevant.
- **distillation** keeps what the base model knows, which a few hundred steps on pseudo-queries
  would otherwise wear away (and which continued MLM has already shaken):
  ``embedding``: 1 - cosine between student and teacher vectors of every text in the batch (the
  vector space keeps its shape); ``scores``: KL divergence from the teacher's to the student's
  softmax over the batch's candidates (the base model's ranking is the target, not its vectors).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.losses.merged_forward import embed_columns
from torch import Tensor, nn
from torch.nn import functional


class Distillation(StrEnum):
    """What of the frozen base encoder the student is held to."""

    NONE = "none"
    EMBEDDING = "embedding"
    SCORES = "scores"


class GuidedDistillationLoss(nn.Module):
    """InfoNCE with teacher-masked false negatives, plus ``weight`` times a distillation term."""

    def __init__(
        self,
        model: SentenceTransformer,
        teacher: SentenceTransformer,
        scale: float = 20.0,
        distillation: Distillation = Distillation.EMBEDDING,
        weight: float = 1.0,
        margin: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.teacher = teacher.eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.scale = scale
        self.distillation = Distillation(distillation)
        self.weight = weight
        self.margin = margin

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        teacher_features = [dict(f) for f in features]  # the models write their outputs into the dicts
        student = embed_columns(self.model, features)
        with torch.no_grad():
            teacher = embed_columns(self.teacher, teacher_features)
        scores = _cosines(student[0], torch.cat(student[1:]))
        with torch.no_grad():
            guide = _cosines(teacher[0], torch.cat(teacher[1:]))
        targets = torch.arange(scores.size(0), device=scores.device)
        own = guide[targets, targets].unsqueeze(1)
        false_negative = guide > own - self.margin
        false_negative[targets, targets] = False
        masked = (scores * self.scale).masked_fill(false_negative, float("-inf"))
        loss = functional.cross_entropy(masked, targets)
        if self.distillation is Distillation.EMBEDDING:
            distances = [1 - functional.cosine_similarity(s, t) for s, t in zip(student, teacher, strict=True)]
            loss = loss + self.weight * torch.stack([d.mean() for d in distances]).mean()
        elif self.distillation is Distillation.SCORES:
            loss = loss + self.weight * functional.kl_div(
                functional.log_softmax(scores * self.scale, dim=1),
                functional.log_softmax(guide * self.scale, dim=1),
                log_target=True,
                reduction="batchmean",
            )
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "distillation": str(self.distillation),
            "weight": self.weight,
            "margin": self.margin,
        }


def _cosines(queries: Tensor, candidates: Tensor) -> Tensor:
    return functional.normalize(queries, dim=-1) @ functional.normalize(candidates, dim=-1).T
