"""What a classifier is asked to be: which head, what it reads, and its hyper-parameters.

Light: importing this module loads neither torch nor scikit-learn (hashing loads scikit-learn when
it runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from semsearch.chunking import DEFAULT_OVERLAP, default_window
from semsearch.errors import OptionError

if TYPE_CHECKING:
    from scipy import sparse


class WindowPooling(StrEnum):
    """How a text longer than one encoder window becomes one vector for a frozen head."""

    FIRST = "first"  # the first window only (for a post: headers, subject and opening)
    MEAN = "mean"  # the mean of all windows' vectors, re-normalised


Window = WindowPooling  # its earlier name


class Features(StrEnum):
    """What a frozen head reads: the pooled vector, or the pooled vector and the text's words."""

    DENSE = "dense"  # the encoder's pooled vector only
    HYBRID = "hybrid"  # the pooled vector and hashed TF-IDF of the whole text's words (see Hashing)


class HeadKind(StrEnum):
    """The three heads (one module each under :mod:`semsearch.classify.heads`)."""

    DENSE = "dense"  # frozen encoder, logistic regression on the pooled vector
    HYBRID = "hybrid"  # frozen encoder, linear SVM on the pooled vector and the words
    FINETUNED = "finetuned"  # the encoder's top layers and a linear head, trained together


@dataclass(frozen=True)
class Hashing:
    """How a text becomes counts of hashed words and word pairs (scikit-learn's ``HashingVectorizer``).

    Hashing is stateless: these settings are all that is saved of it (no vocabulary, no pickle), and
    the same settings give the same columns in any process. Collisions are rare at 2**20 columns.
    """

    n_features: int = 2**20
    ngram_max: int = 2  # word unigrams up to n-grams of this length
    lowercase: bool = True
    token_pattern: str = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Raw counts, one row per text, in ``n_features`` hashed columns (each row's columns sorted)."""
        import numpy as np
        from scipy import sparse
        from sklearn.feature_extraction.text import HashingVectorizer

        vectorizer = HashingVectorizer(
            n_features=self.n_features,
            ngram_range=(1, self.ngram_max),
            lowercase=self.lowercase,
            token_pattern=self.token_pattern,
            alternate_sign=False,
            norm=None,
            dtype=np.float64,
        )
        return sparse.csr_matrix(vectorizer.transform(list(texts)))


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters. Fixed defaults chosen before measuring, except the hybrid head's, chosen on a
    hold-out inside the 20 Newsgroups training part (never its validation part); see benchmarks/classifier.py.
    """

    window: WindowPooling = WindowPooling.FIRST
    finetune_layers: int = 0  # 0: a frozen encoder and a head on its vectors; N: tune the top N layers too
    # What a frozen head reads; None: HYBRID, which beat the dense head and a TF-IDF + LinearSVC baseline on
    # 20 Newsgroups (benchmarks/RESULTS.md, classifier). A fine-tuned head reads its own pooled vector only.
    features: Features | None = None
    overlap: int = DEFAULT_OVERLAP  # window overlap, as in indexing (matters for WindowPooling.MEAN)
    max_length: int | None = None  # tokens per window; None: a frozen head as a new index cuts, fine-tuned all
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0)  # inverse L2 strengths tried by 3-fold CV (frozen, dense)
    hashing: Hashing = Hashing()  # hybrid: how words become columns
    min_df: int = 2  # hybrid: keep the hashed columns seen in this many training texts
    hybrid_c_grid: tuple[float, ...] = (0.5, 1.0, 2.0)  # hybrid: SVM C values tried by 3-fold CV
    dense_weights: tuple[float, ...] = (0.125, 0.25, 0.5)  # hybrid: scales of the pooled vector, same CV
    epochs: int = 2  # fine-tuning
    batch_size: int = 32
    layer_lr: float = 1e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.finetune_layers and self.features is Features.HYBRID:
            raise OptionError(
                "features", Features.HYBRID.value, "is for a frozen head; a fine-tuned head reads its pooled vector"
            )

    @property
    def effective_features(self) -> Features:
        """What the head reads: ``features``, or its default (HYBRID frozen, DENSE fine-tuned)."""
        if self.features is not None:
            return self.features
        return Features.DENSE if self.finetune_layers else Features.HYBRID

    @property
    def head_kind(self) -> HeadKind:
        """The head these options train."""
        if self.finetune_layers:
            return HeadKind.FINETUNED
        return HeadKind.HYBRID if self.effective_features is Features.HYBRID else HeadKind.DENSE

    def training_window(self, encoder_length: int) -> int:
        """Tokens per window the head trains on, for an encoder that reads ``encoder_length`` tokens.

        A frozen head trains on windows cut as a new index cuts them, so that it labels an index from the
        vectors stored there (the default hybrid head also scored a little higher so). A fine-tuned head
        encodes every text itself, index or not, and reads more with the model's whole length
        (benchmarks/RESULTS.md, classifier).
        """
        if self.max_length is not None:
            return self.max_length
        return encoder_length if self.finetune_layers else default_window(encoder_length)
