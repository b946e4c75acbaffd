"""What ``adapt`` does, as plain values: importing this loads no model, so the CLI reads its defaults here."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from semsearch.corpus import FieldMap
from semsearch.errors import OptionError
from semsearch.models import DEFAULT_MODEL


class Distillation(StrEnum):
    """What of the frozen base encoder the student is held to."""

    NONE = "none"
    EMBEDDING = "embedding"
    SCORES = "scores"


@dataclass(frozen=True)
class MLMSettings:
    """How long and how hard stage 1 trains. ``steps=0`` skips it."""

    steps: int = 100
    batch_size: int = 16
    learning_rate: float = 2e-5
    max_length: int = 128  # tokens per window, as the index's default window
    probability: float = 0.15  # BERT's 15%, split 80/10/10 by the collator's defaults


@dataclass(frozen=True)
class ContrastiveSettings:
    """How stage 2 trains. ``steps`` is a ceiling: a small corpus gets one pass over its triplets."""

    steps: int = 150
    batch_size: int = 32
    learning_rate: float = 2e-5
    max_length: int = 128
    sentences_per_doc: int = 2  # inverse-cloze queries per document (plus its title, if it has one)
    negative_depth: int = 10  # the hard negative is drawn from this many best BM25 documents
    hard_negatives: bool = True
    distillation: Distillation = Distillation.EMBEDDING
    distillation_weight: float = 1.0
    scale: float = 20.0  # 1 / temperature, as all-MiniLM-L6-v2 was trained
    guide_margin: float = 0.0
    lexical_weight: float = 0.0  # BM25's weight in the logits (losses.py: tried at 8, not better on test)

    def planned_steps(self, examples: int) -> int:
        return min(self.steps, math.ceil(examples / self.batch_size))


@dataclass(frozen=True)
class AdaptOptions:
    """Everything ``adapt`` does, with the defaults the CLI gives.

    The step counts are ceilings: in full they take about an hour of CPU on a SciFact-sized corpus on 2
    cores, so a tighter budget needs ``max_minutes`` (benchmarks/RESULTS.md, adaptation).
    """

    base: str = DEFAULT_MODEL
    seed: int = 0
    mlm: MLMSettings = field(default_factory=MLMSettings)
    contrastive: ContrastiveSettings = field(default_factory=ContrastiveSettings)
    blend: float = 0.5  # share of the trained weights in the candidate; the rest is the base's
    held_out_fraction: float = 0.1
    held_out_cap: int = 500
    max_steps: int | None = None  # a ceiling on each stage's steps
    max_minutes: float | None = None  # wall-clock budget of the whole run
    fields: FieldMap = field(default_factory=FieldMap)
    skip_bad: bool = False
    work_dir: Path | None = None
    keep_work: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.blend <= 1.0:
            raise OptionError("blend", self.blend, "is the trained weights' share of the output, from 0 to 1")

    def capped(self) -> AdaptOptions:
        """The options with ``max_steps`` applied to both stages."""
        if self.max_steps is None:
            return self
        return replace(
            self,
            mlm=replace(self.mlm, steps=min(self.mlm.steps, self.max_steps)),
            contrastive=replace(self.contrastive, steps=min(self.contrastive.steps, self.max_steps)),
        )

    def recipe(self) -> dict[str, Any]:
        """What determines the trained weights (budgets, paths and display do not)."""
        return {
            "seed": self.seed,
            "mlm": asdict(self.mlm),
            "contrastive": {**asdict(self.contrastive), "distillation": str(self.contrastive.distillation)},
            "blend": self.blend,
            "held_out_fraction": self.held_out_fraction,
            "held_out_cap": self.held_out_cap,
        }
