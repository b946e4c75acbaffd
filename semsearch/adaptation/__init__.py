"""Domain adaptation: make the encoder better on the user's own corpus, and never worse.

``semsearch adapt CORPUS --out MODEL_DIR`` runs :func:`adapt` (:mod:`.pipeline`):

1. :mod:`~semsearch.adaptation.mlm`: a short continued masked-LM pretraining on the corpus;
2. :mod:`~semsearch.adaptation.pairs` and :mod:`~semsearch.adaptation.train`: pseudo-queries mined from the corpus
   (titles, inverse-cloze sentences) with BM25 hard negatives, trained contrastively with the frozen base
   encoder as false-negative guide and distillation teacher (:mod:`~semsearch.adaptation.losses`);
3. :mod:`~semsearch.adaptation.gate`: held-out pseudo-queries decide whether the adapted encoder replaces the base.

:mod:`.options` holds the settings; importing them is cheap. :func:`adapt` loads torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from semsearch.adaptation.options import AdaptOptions, ContrastiveSettings, Distillation, MLMSettings

if TYPE_CHECKING:
    from semsearch.adaptation.pipeline import AdaptResult, adapt

__all__ = ["AdaptOptions", "AdaptResult", "ContrastiveSettings", "Distillation", "MLMSettings", "adapt"]


def __getattr__(name: str) -> Any:
    if name in ("adapt", "AdaptResult"):
        from semsearch.adaptation import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'semsearch.adaptation' has no attribute {name!r}")
