"""The classifier: a head on the encoder's pooled vectors, trained on labelled texts, saved without pickle.

One scikit-learn style class (``fit`` / ``predict`` / ``predict_proba``) in front of three heads, one
module each under :mod:`semsearch.classify.heads`; which one is said by the options (training) or the
saved config (loading), never guessed from what happens to be empty:

- **frozen** (``finetune_layers=0``, the default): the encoder is left as it is and a linear head reads
  its L2-normalised pooled vectors (the very vectors an index stores), so labelling documents at index
  time costs nothing beyond the indexing itself. ``TrainOptions.features`` says what else it reads:
  ``HYBRID`` (the default) also the hashed TF-IDF of the whole text's words, ``DENSE`` nothing else.
- **fine-tuned** (``finetune_layers=N``): the top ``N`` transformer layers and a linear head, trained on
  the first window of each text.

Either way the classifier records its label names and the identity of the encoder it was trained on
(weights sha256, pooling, window length), so an index built with another encoder can refuse it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.classify import persistence
from semsearch.classify.encoding import Encoded, encode_texts
from semsearch.classify.heads.base import FrozenHead, Head
from semsearch.classify.heads.dense import DenseHead
from semsearch.classify.heads.finetuned import FineTunedHead
from semsearch.classify.heads.hybrid import HybridHead
from semsearch.classify.layers import bert_layers
from semsearch.classify.metrics import classification_scores
from semsearch.classify.options import Features, HeadKind, TrainOptions, WindowPooling
from semsearch.classify.persistence import ClassifierConfig, EncoderRef
from semsearch.encoder import Encoder
from semsearch.errors import ClassifierError
from semsearch.types import Pooling

_UNTRAINED = "this classifier is not trained yet: call fit() or Classifier.load()"


class Classifier:
    """Labels texts with a head on a BERT encoder; scikit-learn style (``fit``, ``predict``, ``predict_proba``).

    >>> clf = Classifier(options=TrainOptions()).fit(texts, labels)
    >>> clf.predict(["the new GPU driver crashes"])
    >>> clf.save("models/topics"); Classifier.load("models/topics").predict_proba(texts)
    """

    def __init__(
        self,
        model: str | Path = "default",
        pooling: Pooling = Pooling.MEAN,
        options: TrainOptions | None = None,
        encoder: Encoder | None = None,
        cache: str | Path | None = None,
    ) -> None:
        self.options = options or TrainOptions()
        self.cache = cache  # a folder keeping a frozen head's vectors of texts seen before (featurecache)
        self._encoder = encoder
        self._model_spec = str(model)
        self._pooling = Pooling(pooling)
        self.config: ClassifierConfig | None = None  # set by fit and load
        self.head: Head | None = None  # likewise
        self.directory: Path | None = None  # where it was saved or loaded

    # -- scikit-learn surface ---------------------------------------------------------------------

    @property
    def classes_(self) -> np.ndarray:
        return np.array(self._config.labels, dtype=object)

    @property
    def encoder(self) -> Encoder:
        """The encoder, loaded on first use (labelling an index's stored vectors never needs it)."""
        if self._encoder is None:
            spec = self.config.encoder.model_spec if self.config else self._model_spec
            pooling = self.config.encoder.pooling if self.config else self._pooling
            self._encoder = Encoder(spec, pooling)
        if self.config is not None:
            self.config.encoder.check_matches(self._encoder.identity, self._encoder.pooling, "the loaded encoder")
        return self._encoder

    def fit(
        self,
        texts: Sequence[str] | Encoded,
        labels: Sequence[str],
        validation: tuple[Sequence[str] | Encoded, Sequence[str]] | None = None,
    ) -> Classifier:
        """Train on ``texts`` (or their :class:`Encoded` form) and ``labels``; report on ``validation``."""
        labels = [str(label) for label in labels]
        names = tuple(sorted(set(labels)))
        if len(names) < 2:
            raise ClassifierError(f"training needs at least two distinct labels, got {list(names)}")
        if len(labels) != (texts.count if isinstance(texts, Encoded) else len(texts)):
            raise ClassifierError("texts and labels differ in length")
        y = np.array([names.index(label) for label in labels])
        self.config, self.head = None, None
        started, cpu_started = time.perf_counter(), time.process_time()
        options = self.options
        encoded = self._encoded(texts)
        head = self._new_head(options.head_kind)
        report: dict[str, Any] = {"examples": len(labels)}
        head.fit(encoded, y, options, report)
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        finetuned = options.head_kind is HeadKind.FINETUNED
        self.config = ClassifierConfig(
            labels=names,
            encoder=EncoderRef.of(
                self.encoder, options.overlap, encoded.window or options.training_window(self.encoder.max_length)
            ),
            window=WindowPooling.FIRST if finetuned else options.window,
            finetune_layers=options.finetune_layers,
            training=report,
            lexical=options.hashing if options.head_kind is HeadKind.HYBRID else None,
        )
        self.head = head
        if validation is not None:
            scores = classification_scores(validation[1], self.predict(validation[0]), names)
            held_out = {"examples": len(validation[1]), **scores.summary()}
            self.config = replace(self.config, training={**report, "validation": held_out})
        return self

    def predict_proba(self, texts: Sequence[str] | Encoded) -> np.ndarray:
        """Class probabilities, one row per text, columns in the order of ``classes_``."""
        return self._head.proba(self._encoded(texts))

    def encode(self, texts: Sequence[str]) -> Encoded:
        """``texts`` as this classifier's head reads them, to fit or score many heads on (a learning curve)."""
        return self._encoded(texts)

    def predict(self, texts: Sequence[str] | Encoded) -> list[str]:
        proba = self.predict_proba(texts)
        return [self._config.labels[i] for i in proba.argmax(axis=1)]

    # -- for indexing -----------------------------------------------------------------------------

    def use_encoder(self, encoder: Encoder, what: str) -> None:
        """Share ``encoder`` (an index's) after checking it is the one this classifier was trained on."""
        self._config.encoder.check_matches(encoder.identity, encoder.pooling, what)
        self._encoder = encoder

    @property
    def uses_vectors(self) -> bool:
        """True when labels come from the encoder's own vectors (frozen), so an index's vectors suffice
        (a hybrid head also reads each text's words, which an index stores too: still no encoding)."""
        return self._config.head_kind is not HeadKind.FINETUNED

    @property
    def trained_window(self) -> int:
        """Tokens per window of the texts the head was trained on."""
        return self._config.encoder.max_length

    def reads_vectors_cut_as(self, window: int, overlap: int) -> bool:
        """True when this head can label from vectors of ``window``-token windows overlapping by
        ``overlap`` (an index's): a frozen head trained on vectors cut the same way. Another cut gives
        other vectors (a 256-token first window is not a 128-token one), which the head never saw."""
        ref = self._config.encoder
        same_overlap = ref.overlap == overlap or self._config.window is WindowPooling.FIRST  # one window: no overlap
        return self.uses_vectors and ref.max_length == window and same_overlap

    @property
    def features(self) -> Features:
        return self._config.features

    def proba_from_vectors(self, features: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities from already pooled, normalised vectors (frozen head only); a hybrid head also
        needs the ``texts`` they were made from (the whole texts: its words are not limited to a window)."""
        head = self._head
        if not isinstance(head, FrozenHead):
            raise ClassifierError("a fine-tuned classifier needs the texts, not the frozen vectors")
        return head.proba_from_vectors(features, texts)

    @property
    def fingerprint(self) -> str:
        """A short hash of what the classifier computes: labels stamped by another one are stale."""
        return persistence.fingerprint(self._head.tensors(), self._config)

    # -- persistence ------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``head.safetensors`` and ``classifier.json`` into ``directory`` (no pickle); see
        :func:`semsearch.classify.persistence.write`."""
        self.directory = persistence.write(Path(directory), self._head.tensors(), self._config)
        return self.directory

    @classmethod
    def load(cls, directory: str | Path, encoder: Encoder | None = None) -> Classifier:
        """A saved classifier; the encoder (loaded lazily) must be the one it was trained on."""
        directory = Path(directory)
        config, tensors = persistence.read(directory)
        if encoder is not None:
            config.encoder.check_matches(encoder.identity, encoder.pooling, "the given encoder")
        classifier = cls(config.encoder.model_spec, config.encoder.pooling, encoder=encoder)
        classifier.config, classifier.directory = config, directory
        rows = tensors["weight"].shape[0]
        if rows != len(config.labels):
            raise ClassifierError(f"{directory}: {len(config.labels)} labels but {rows} rows")
        match config.head_kind:
            case HeadKind.FINETUNED:  # its layers are rebuilt on first use, on the encoder then in use
                classifier.head = FineTunedHead.restore(tensors, config, directory, lambda: classifier.encoder)
            case HeadKind.HYBRID:
                classifier.head = HybridHead.restore(tensors, config, directory)
            case HeadKind.DENSE:
                classifier.head = DenseHead.restore(tensors, config, directory)
        return classifier

    # -- internals --------------------------------------------------------------------------------

    @property
    def _config(self) -> ClassifierConfig:
        if self.config is None:
            raise ClassifierError(_UNTRAINED)
        return self.config

    @property
    def _head(self) -> Head:
        if self.config is None or self.head is None:
            raise ClassifierError(_UNTRAINED)
        return self.head

    def _new_head(self, kind: HeadKind) -> Head:
        match kind:
            case HeadKind.FINETUNED:
                return FineTunedHead(lambda: self.encoder, self.options.finetune_layers)
            case HeadKind.HYBRID:
                return HybridHead(self.options.window)
            case HeadKind.DENSE:
                return DenseHead(self.options.window)

    @property
    def _state_layer(self) -> int:
        layers = self.config.finetune_layers if self.config else self.options.finetune_layers
        return len(bert_layers(self.encoder.torch_model)) - layers

    def _encoded(self, texts: Sequence[str] | Encoded) -> Encoded:
        """``texts`` encoded as this classifier's head reads them (an :class:`Encoded` is checked, not redone)."""
        config, options = self.config, self.options
        finetuned = (config.head_kind if config else options.head_kind) is HeadKind.FINETUNED
        if isinstance(texts, Encoded):
            if finetuned and (texts.states is None or texts.state_layer != self._state_layer):
                raise ClassifierError(f"fine-tuning needs states after layer {self._state_layer}")
            return texts
        if isinstance(texts, str):
            raise ClassifierError("expected a list of texts, got one string")
        encoder = self.encoder
        if config is not None:
            pooling, overlap, window = config.window, config.encoder.overlap, config.encoder.max_length
        else:
            pooling, overlap, window = options.window, options.overlap, options.training_window(encoder.max_length)
        return encode_texts(
            encoder,
            list(texts),
            first_only=finetuned or pooling is WindowPooling.FIRST,
            overlap=overlap,
            window=window,
            state_layer=self._state_layer if finetuned else None,
            progress=options.progress and len(texts) > 64,
            cache=None if finetuned else self.cache,
        )
