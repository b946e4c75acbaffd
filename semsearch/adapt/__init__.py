"""Domain adaptation: make the encoder better on the user's own corpus, and never worse.

``semsearch adapt CORPUS --out MODEL_DIR`` runs :func:`adapt`:

1. :mod:`~semsearch.adapt.mlm`: a short continued masked-LM pretraining on the corpus;
2. :mod:`~semsearch.adapt.pairs` and :mod:`~semsearch.adapt.train`: pseudo-queries mined from the corpus
   (titles, inverse-cloze sentences) with BM25 hard negatives, trained contrastively with the frozen base
   encoder as false-negative guide and distillation teacher (:mod:`~semsearch.adapt.losses`);
3. :mod:`~semsearch.adapt.gate`: held-out pseudo-queries decide whether the adapted encoder replaces the base.

Importing this package loads torch and transformers; the CLI imports it only for ``adapt``.
"""

from semsearch.adapt.losses import Distillation
from semsearch.adapt.mlm import MLMSettings
from semsearch.adapt.pipeline import AdaptOptions, AdaptResult, adapt
from semsearch.adapt.train import ContrastiveSettings

__all__ = ["AdaptOptions", "AdaptResult", "ContrastiveSettings", "Distillation", "MLMSettings", "adapt"]
