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

**The lexical residual** (CLEAR, Gao et al. 2021, here in InfoNCE form; off unless ``lexical_weight``
is set). The contrastive logits become ``scale * cosine + lexical_weight * bm25 / max bm25`` (each
query's BM25 scores of the batch's candidates, divided by its best), so the loss is what a BM25 + dense
mix still gets wrong: an example BM25 already separates moves the encoder little, and training goes to
the pairs BM25 confuses, which is what hybrid search needs of its dense half. Almost every pseudo-query
is one BM25 already answers (:mod:`semsearch.adaptation.pairs`), hence the idea. Measured, it gained a
little on the tuning queries and nothing on the test queries (benchmarks/RESULTS.md, adaptation), so it
is not the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.losses.merged_forward import embed_columns
from torch import Tensor, nn
from torch.nn import functional

from semsearch.adaptation.options import Distillation
from semsearch.adaptation.pairs import LexicalScorer, Triplet


class LexicalBias:
    """``weight`` times the BM25 of each batch query against each batch candidate, each row divided by its largest.

    The loss gets the triplets' row numbers as labels; candidates are ordered as the loss orders them:
    the batch's documents, then its hard negatives.
    """

    def __init__(self, triplets: Sequence[Triplet], scorer: LexicalScorer, weight: float = 1.0) -> None:
        self.scorer = scorer
        self.weight = weight
        self.queries = scorer.bags([t.query for t in triplets])
        self.positives = scorer.bags([t.positive for t in triplets])
        self.negatives = scorer.bags([t.negative for t in triplets])

    def __call__(self, rows: Sequence[int], hard_negatives: bool) -> Tensor:
        candidates = [self.positives[r] for r in rows] + ([self.negatives[r] for r in rows] if hard_negatives else [])
        scores = torch.tensor([[self.scorer.score(self.queries[r], c) for c in candidates] for r in rows])
        return self.weight * scores / scores.max(dim=1, keepdim=True).values.clamp_min(1e-6)


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
        lexical: LexicalBias | None = None,
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
        self.lexical = lexical

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
        logits = scores * self.scale
        if self.lexical is not None:
            if labels is None:
                raise ValueError("the lexical residual needs each example's row number as its label")
            bias = self.lexical([int(row) for row in labels.tolist()], len(features) > 2)
            logits = logits + bias.to(logits.device)
        masked = logits.masked_fill(false_negative, float("-inf"))
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
            "lexical_weight": self.lexical.weight if self.lexical is not None else 0.0,
        }


def _cosines(queries: Tensor, candidates: Tensor) -> Tensor:
    return functional.normalize(queries, dim=-1) @ functional.normalize(candidates, dim=-1).T
