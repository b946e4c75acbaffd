"""A classifier head on the encoder's pooled vectors: train on labelled texts, predict labels.

Two modes, one scikit-learn style class (:class:`Classifier`: ``fit`` / ``predict`` /
``predict_proba``), saved without pickle (``head.safetensors`` + ``classifier.json``):

- **frozen** (default): the encoder is left as it is and a linear head reads its L2-normalised pooled
  vectors (the very vectors an index stores), so labelling documents at index time costs nothing
  beyond the indexing itself. A long text is represented by its first window (``Window.FIRST``) or by
  the mean of all its windows (``Window.MEAN``). What the head reads (``Features``):

  - ``HYBRID`` (the default): the pooled vector beside sublinear TF-IDF over hashed word unigrams and
    bigrams of the whole text (the classifier analogue of hybrid search: dense + lexical); a linear
    SVM is fitted on both, its margins made probabilities by a softmax temperature fitted on
    cross-validated margins. Exact words (names, addresses, jargon, anything past the encoder's
    window) decide many labels, and the pooled vector alone misses them. The hashing is stateless,
    so only the IDF of the columns seen in training is learned and saved; labelling an index still
    encodes nothing extra (vectors from the index, words from its stored text).
  - ``DENSE``: the pooled vector only, a multinomial logistic regression on standardised vectors.

- **fine-tuned** (``finetune_layers=N``): the top ``N`` transformer layers and a linear head are
  trained with cross-entropy on the first window of each text. The layers below stay frozen, so
  their output is computed once and cached, and each epoch only runs the top layers: on a CPU this
  is what makes fine-tuning affordable. Only the tuned layers are saved; the rest is the base
  encoder, found again by path and checked by its weights hash when the classifier loads.

Either way the classifier records its label names and the identity of the encoder it was trained on
(weights sha256, pooling, window length), so an index built with another encoder can refuse it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from scipy import sparse
from tqdm.auto import tqdm

from semsearch.chunking import DEFAULT_OVERLAP, default_window
from semsearch.encoder import Encoder
from semsearch.errors import ClassifierError, IncompatibleEncoderError
from semsearch.fsutil import atomic_write_text, file_sha256
from semsearch.models import model_spec
from semsearch.types import ModelIdentity, Pooling

log = logging.getLogger(__name__)

FORMAT = 2  # 2: may hold hashed lexical features ("lexical" in classifier.json, "lexical.*" tensors)
DENSE_FORMAT = 1  # a classifier without lexical features is still written as 1, readable by older versions
READABLE_FORMATS = (DENSE_FORMAT, FORMAT)
CONFIG_FILE = "classifier.json"
WEIGHTS_FILE = "head.safetensors"
WEIGHTS_HASH = "weights_sha256"  # in classifier.json: which head.safetensors it was saved with
LAYER_PREFIX = "layers."
LEXICAL_PREFIX = "lexical."


class Window(StrEnum):
    """How a text longer than one encoder window becomes one vector for the frozen head."""

    FIRST = "first"  # the first window only (for a post: headers, subject and opening)
    MEAN = "mean"  # the mean of all windows' vectors, re-normalised


class Features(StrEnum):
    """What the frozen head reads: the pooled vector, or the pooled vector and the text's words."""

    DENSE = "dense"  # the encoder's pooled vector only
    HYBRID = "hybrid"  # the pooled vector and hashed TF-IDF of the whole text's words (see Hashing)


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
class LexicalFeatures:
    """Sublinear TF-IDF over hashed columns, L2-normalised; what a hybrid head learns of the words.

    Only the columns seen in at least ``min_df`` training texts are kept (``columns``, with their
    smoothed IDF): the rest would get no weight anyway, and dropping them keeps the head small.
    """

    hashing: Hashing
    columns: np.ndarray  # sorted hashed column numbers (int64)
    idf: np.ndarray  # float32, one per kept column

    @classmethod
    def learn(cls, hashing: Hashing, counts: sparse.csr_matrix, min_df: int) -> LexicalFeatures:
        """The IDF of ``counts`` (the training texts' :meth:`Hashing.counts`), as scikit-learn smooths it."""
        texts = counts.shape[0]
        df = np.bincount(counts.indices, minlength=hashing.n_features)  # each row holds a column once
        columns = np.flatnonzero(df >= min_df)
        if not len(columns):
            raise ClassifierError(f"no word occurs in {min_df} or more training texts; lower min_df")
        idf = np.log((1.0 + texts) / (1.0 + df[columns])) + 1.0
        return cls(hashing, columns.astype(np.int64), idf.astype(np.float32))

    def of_counts(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Features from :meth:`Hashing.counts`: kept columns, 1 + log(tf) times IDF, unit length."""
        from sklearn.preprocessing import normalize

        kept = sparse.csr_matrix(counts[:, self.columns])
        kept.data = (1.0 + np.log(kept.data)) * self.idf[kept.indices].astype(np.float64)
        return sparse.csr_matrix(normalize(kept, norm="l2", copy=False))

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.of_counts(self.hashing.counts(texts))

    def tensors(self) -> dict[str, np.ndarray]:
        return {LEXICAL_PREFIX + "columns": self.columns, LEXICAL_PREFIX + "idf": self.idf}

    @classmethod
    def from_tensors(cls, hashing: Hashing, tensors: dict[str, np.ndarray]) -> LexicalFeatures:
        columns, idf = tensors[LEXICAL_PREFIX + "columns"], tensors[LEXICAL_PREFIX + "idf"]
        in_range = not len(columns) or 0 <= columns.min() <= columns.max() < hashing.n_features
        if columns.ndim != 1 or columns.shape != idf.shape or not in_range:
            raise ValueError("lexical columns and IDF do not fit the hashing settings")
        return cls(hashing, columns.astype(np.int64), idf.astype(np.float32))


@dataclass(frozen=True)
class EncoderRef:
    """The encoder a head was trained on; vectors from any other encoder mean nothing to it."""

    model: ModelIdentity
    pooling: Pooling
    max_length: int
    overlap: int

    @classmethod
    def of(cls, encoder: Encoder, overlap: int, window: int) -> EncoderRef:
        return cls(model=encoder.identity, pooling=encoder.pooling, max_length=window, overlap=overlap)

    def check_matches(self, model: ModelIdentity, pooling: Pooling, what: str) -> None:
        """Refuse ``what`` (an index, an encoder) whose vectors are made by another model or pooling."""
        if (model.sha256, Pooling(pooling)) != (self.model.sha256, self.pooling):
            raise IncompatibleEncoderError(
                f"this classifier was trained on model {self.model.name} ({self.model.sha256[:12]}) with "
                f"{self.pooling} pooling, but {what} uses model {model.name} ({model.sha256[:12]}) with "
                f"{pooling} pooling; train a classifier on that encoder (classifier train --model ... --pooling ...)"
            )

    @property
    def model_spec(self) -> str:
        return model_spec(self.model.name, self.model.path)


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters. Fixed defaults chosen before measuring, except the hybrid head's, chosen on a
    hold-out inside the 20 Newsgroups training part (never its validation part); see benchmarks/classifier.py."""

    window: Window = Window.FIRST
    finetune_layers: int = 0  # 0: frozen encoder, logistic regression; N: tune the top N layers
    # Frozen head only (a fine-tuned head reads its pooled vector). HYBRID by default: on 20 Newsgroups it
    # beat the dense head by 12 points of accuracy and a TF-IDF + LinearSVC baseline by 1 (README, Classifying).
    features: Features = Features.HYBRID
    overlap: int = DEFAULT_OVERLAP  # window overlap, as in indexing (matters for Window.MEAN)
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


@dataclass(frozen=True)
class ClassifierConfig:
    """What ``classifier.json`` holds: enough to rebuild the classifier and to check it is applicable."""

    labels: tuple[str, ...]
    encoder: EncoderRef
    window: Window
    finetune_layers: int
    training: dict[str, Any] = field(default_factory=dict)  # what happened when it was trained (a report)
    lexical: Hashing | None = None  # a hybrid head's hashing settings (its IDF is in head.safetensors)

    @property
    def features(self) -> Features:
        return Features.DENSE if self.lexical is None else Features.HYBRID

    def to_json(self) -> str:
        data = asdict(self)
        if self.lexical is None:  # exactly what format 1 held, so older versions still read it
            del data["lexical"]
        data["format"] = DENSE_FORMAT if self.lexical is None else FORMAT
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, path: Path) -> ClassifierConfig:
        try:
            data = json.loads(text)
            if data.get("format") not in READABLE_FORMATS:
                raise ClassifierError(
                    f"{path}: classifier format {data.get('format')!r}, this semsearch reads "
                    f"{', '.join(map(str, READABLE_FORMATS))}"
                )
            lexical = data.get("lexical")
            enc = data["encoder"]
            return cls(
                labels=tuple(str(label) for label in data["labels"]),
                encoder=EncoderRef(
                    model=ModelIdentity(**enc["model"]),
                    pooling=Pooling(enc["pooling"]),
                    max_length=int(enc["max_length"]),
                    overlap=int(enc["overlap"]),
                ),
                window=Window(data["window"]),
                finetune_layers=int(data["finetune_layers"]),
                training=dict(data.get("training") or {}),
                lexical=None if lexical is None else Hashing(**lexical),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ClassifierError(f"{path} is damaged ({exc}); train the classifier again") from exc


@dataclass
class Encoded:
    """What the encoder made of a list of texts, computed once and reused by every head fitted on them.

    ``vectors`` are the frozen encoder's pooled, normalised window vectors (``doc_index`` says which
    text each belongs to; with ``first_only`` there is exactly one per text, its first window).
    ``states`` (fine-tuning only) hold, per text, the first window's hidden states after the frozen
    bottom layers, in bfloat16 to halve their memory. ``texts`` are the texts themselves, which a
    hybrid head reads beside the vectors.
    """

    doc_index: np.ndarray
    vectors: np.ndarray
    count: int
    states: list[torch.Tensor] | None = None
    state_layer: int = -1  # how many layers produced ``states``
    texts: list[str] | None = None
    window: int = 0  # tokens per window the texts were cut into (0: not said; taken as the default for the head)

    def pooled(self, window: Window) -> np.ndarray:
        """One vector per text: its first window's, or the re-normalised mean of its windows'."""
        return pool_windows(self.doc_index, self.vectors, self.count, window)


def pool_windows(
    doc_index: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    count: int,
    window: Window,
    numbers: Sequence[int] | None = None,
) -> np.ndarray:
    """Per-document features from per-window vectors. ``numbers`` (each window's number within its
    document) finds the first windows; without it, each document's first-listed window is taken."""
    doc_index = np.asarray(doc_index)
    if window is Window.FIRST:
        first = np.full(count, -1)
        if numbers is not None:
            rows = np.flatnonzero(np.asarray(numbers) == 0)
            first[doc_index[rows]] = rows
        else:
            for row in range(len(doc_index) - 1, -1, -1):  # keep each document's first-listed window
                first[doc_index[row]] = row
        if (first < 0).any():
            raise ClassifierError("a document has no first window")
        return vectors[first]
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, doc_index, vectors)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return sums.astype(np.float32)


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """The same pooling as :class:`~semsearch.encoder.Encoder` (unnormalised)."""
    if pooling is Pooling.CLS:
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def _additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not hasattr(model, "embeddings"):
        raise ClassifierError(
            f"fine-tuning needs a BERT-style model (embeddings + encoder.layer), not {type(model).__name__}; "
            "train a frozen head instead (drop --finetune)"
        )
    return layers


def _run_layer(layer: torch.nn.Module, hidden: torch.Tensor, extended: torch.Tensor) -> torch.Tensor:
    out = layer(hidden, attention_mask=extended)
    return out[0] if isinstance(out, tuple) else out


def _padded(windows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(w) for w in windows)
    ids = torch.zeros((len(windows), width), dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = torch.as_tensor(window)
        mask[row, : len(window)] = 1
    return ids, mask


@torch.inference_mode()
def encode_texts(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    first_only: bool,
    overlap: int = DEFAULT_OVERLAP,
    window: int | None = None,
    state_layer: int | None = None,
    progress: bool = True,
) -> Encoded:
    """Encode ``texts`` once: window vectors for a frozen head and, if ``state_layer`` is given, the
    first windows' hidden states after that many layers (the cache that fine-tuning trains on).

    The vectors equal :meth:`Encoder.encode_ids` (same windows, pooling and normalisation), so a
    head trained here applies unchanged to an index's stored vectors.
    """
    window = window or default_window(encoder.max_length)
    chunks = encoder.chunks(texts, overlap, window)
    if first_only:
        chunks = [c for c in chunks if c.number == 0]
    windows = [c.input_ids for c in chunks]
    doc_index = np.array([c.doc for c in chunks], dtype=np.int64)
    first_windows = {i for i, c in enumerate(chunks) if c.number == 0}  # fine-tuning sees these only
    if state_layer is None:  # a frozen head: exactly the vectors the index stores, at its precision
        with tqdm(total=len(windows), unit="window", desc="encoding", disable=not progress) as bar:
            vectors = encoder.encode_ids(windows, bar)
        return Encoded(doc_index=doc_index, vectors=vectors, count=len(texts), texts=list(texts), window=window)
    vectors = np.zeros((len(windows), encoder.dim), dtype=np.float32)
    states: list[torch.Tensor | None] = [None] * len(texts)
    model = encoder.torch_model
    layers = _layers(model)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]), reverse=True)
    with tqdm(total=len(windows), unit="window", desc="encoding", disable=not progress) as bar:
        for begin in range(0, len(order), encoder.batch_size):
            batch = order[begin : begin + encoder.batch_size]
            ids, mask = _padded([windows[i] for i in batch])
            hidden = model.embeddings(input_ids=ids)
            extended = _additive_mask(mask, hidden.dtype)
            for number, layer in enumerate(layers):
                if number == state_layer:
                    _keep_states(states, hidden, mask, batch, doc_index, first_windows)
                hidden = _run_layer(layer, hidden, extended)
            if state_layer == len(layers):
                _keep_states(states, hidden, mask, batch, doc_index, first_windows)
            pooled = _pool(hidden.float(), mask, encoder.pooling)
            vectors[batch] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            bar.update(len(batch))
    return Encoded(
        doc_index=doc_index,
        vectors=vectors,
        count=len(texts),
        states=states,  # type: ignore[arg-type]
        state_layer=state_layer,
        texts=list(texts),
        window=window,
    )


def _keep_states(
    states: list[torch.Tensor | None],
    hidden: torch.Tensor,
    mask: torch.Tensor,
    batch: list[int],
    doc_index: np.ndarray,
    first_windows: set[int],
) -> None:
    lengths = mask.sum(1).tolist()
    for row, window in enumerate(batch):
        if window in first_windows:
            states[int(doc_index[window])] = hidden[row, : lengths[row]].to(torch.bfloat16).clone()


class _TopLayers(torch.nn.Module):
    """The tuned top layers of the encoder, its pooling and a linear head: cached states in, logits out."""

    def __init__(self, layers: Sequence[torch.nn.Module], pooling: Pooling, dim: int, classes: int) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.pooling = pooling
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(dim, classes)

    def features(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        extended = _additive_mask(mask, hidden.dtype)
        for layer in self.layers:
            hidden = _run_layer(layer, hidden, extended)
        return _pool(hidden, mask, self.pooling)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(hidden, mask)))


def _stack(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(s.shape[0] for s in states)
    hidden = torch.zeros((len(states), width, states[0].shape[1]), dtype=torch.float32)
    mask = torch.zeros((len(states), width), dtype=torch.long)
    for row, state in enumerate(states):
        hidden[row, : state.shape[0]] = state.float()
        mask[row, : state.shape[0]] = 1
    return hidden, mask


def _length_batches(lengths: Sequence[int], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length (little padding), in shuffled order."""
    order = rng.permutation(len(lengths))
    pool = size * 50
    batches = []
    for begin in range(0, len(order), pool):
        part = order[begin : begin + pool]
        part = part[np.argsort([lengths[i] for i in part], kind="stable")]
        batches += [part[b : b + size] for b in range(0, len(part), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _cv_split(y: np.ndarray) -> Any:
    """Stratified 3-fold CV with a fixed seed (fewer folds for a class with fewer than 3 examples), or
    None when some class has a single example and cannot be folded at all."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(3, int(np.bincount(y).min()))
    return StratifiedKFold(folds, shuffle=True, random_state=0) if folds >= 2 else None


def _choose_c(
    estimator: Any, parameter: str, grid: Sequence[float], x: Any, y: np.ndarray
) -> tuple[float, float | None]:
    """The inverse L2 strength with the best 3-fold CV accuracy (stratified, fixed seed), and that
    accuracy; with a single value (or too few examples per class to fold) that value and None."""
    from sklearn.model_selection import cross_val_score

    split = _cv_split(y)
    if len(grid) == 1 or split is None:
        return float(grid[0]), None
    scores = [float(np.mean(cross_val_score(estimator.set_params(**{parameter: c}), x, y, cv=split))) for c in grid]
    best = int(np.argmax(scores))  # the first (strongest regularisation) among equals
    return float(grid[best]), scores[best]


def _svm(c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=0)


def _search_hybrid(
    dense: np.ndarray, words: sparse.csr_matrix, y: np.ndarray, options: TrainOptions
) -> tuple[float, float, float | None, np.ndarray | None]:
    """(C, dense weight, CV accuracy, out-of-fold logits) of the best grid point by stratified 3-fold
    CV (fixed seed; the first among equals); with too few examples per class, the first of each grid."""
    from sklearn.model_selection import cross_val_predict

    split = _cv_split(y)
    if split is None:
        return float(options.hybrid_c_grid[0]), float(options.dense_weights[0]), None, None
    best: tuple[float, float, float, np.ndarray] | None = None
    for scale in options.dense_weights:
        features = _hstack(dense, scale, words)
        for c in options.hybrid_c_grid:
            margins = cross_val_predict(_svm(c), features, y, cv=split, method="decision_function")
            logits = _two_columns_if_binary(margins)
            accuracy = float(np.mean(logits.argmax(axis=1) == y))
            log.info("hybrid head: dense weight %g, C %g: CV accuracy %.4f", scale, c, accuracy)
            if best is None or accuracy > best[2]:
                best = (float(c), float(scale), accuracy, logits)
    assert best is not None
    return best


def _two_columns_if_binary(margins: np.ndarray) -> np.ndarray:
    """A binary SVM's one margin z as the logits (-z/2, z/2), as :func:`_two_rows_if_binary` saves it."""
    return np.column_stack([-margins / 2, margins / 2]) if margins.ndim == 1 else margins


def _temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature t under which out-of-fold ``logits`` give the truth the highest likelihood:
    one number that turns SVM margins into calibrated probabilities without changing any argmax."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-log_softmax(np.exp(log_t) * logits, axis=1)[rows, y].mean())

    return float(np.exp(minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded").x))


def _two_rows_if_binary(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A binary linear model has one logit z; softmax over (-z/2, z/2) is the same sigmoid(z)."""
    if weight.shape[0] == 1:
        return np.vstack([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
    return weight, bias


def _hstack(dense: np.ndarray, scale: float, words: sparse.csr_matrix) -> sparse.csr_matrix:
    """The hybrid head's input: the scaled pooled vectors beside the word features."""
    return sparse.csr_matrix(sparse.hstack([sparse.csr_matrix(dense.astype(np.float64) * scale), words]))


def _texts_of(encoded: Encoded) -> list[str]:
    if encoded.texts is None:
        raise ClassifierError("a hybrid head reads the texts too: give texts, or an Encoded that keeps them")
    return encoded.texts


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


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
    ) -> None:
        self.options = options or TrainOptions()
        self._encoder = encoder
        self._model_spec = str(model)
        self._pooling = Pooling(pooling)
        self.config: ClassifierConfig | None = None
        self.weight: np.ndarray | None = None  # (classes, dim)
        self.bias: np.ndarray | None = None  # (classes,)
        self.lexical: LexicalFeatures | None = None  # hybrid only: the word features ...
        self.lexical_weight: np.ndarray | None = None  # ... and their weights, (classes, kept columns)
        self.top: _TopLayers | None = None  # fine-tuned only
        self._saved_layers: dict[str, np.ndarray] | None = None  # loaded, not yet rebuilt into ``top``
        self.directory: Path | None = None

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
        self.config, self.top, self._saved_layers = None, None, None
        self.lexical, self.lexical_weight = None, None
        started, cpu_started = time.perf_counter(), time.process_time()
        options = self.options
        encoded = self._encoded(texts)
        report: dict[str, Any] = {"examples": len(labels)}
        if options.finetune_layers:
            self._fit_top(encoded, y, len(names), report)
        elif options.features is Features.HYBRID:
            self._fit_hybrid(encoded.pooled(options.window), _texts_of(encoded), y, report)
        else:
            self._fit_frozen(encoded.pooled(options.window), y, report)
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        self.config = ClassifierConfig(
            labels=names,
            encoder=EncoderRef.of(
                self.encoder, options.overlap, encoded.window or self._training_window(options.finetune_layers > 0)
            ),
            window=Window.FIRST if options.finetune_layers else options.window,
            finetune_layers=options.finetune_layers,
            training=report,
            lexical=self.lexical.hashing if self.lexical is not None else None,
        )
        if validation is not None:
            scores = classification_scores(validation[1], self.predict(validation[0]), names)
            held_out = {"examples": len(validation[1]), **scores.summary()}
            self.config = replace(self.config, training={**report, "validation": held_out})
        return self

    def predict_proba(self, texts: Sequence[str] | Encoded) -> np.ndarray:
        """Class probabilities, one row per text, columns in the order of ``classes_``."""
        if self._config.finetune_layers and self.top is None:
            self._restore_top()
        encoded = self._encoded(texts)
        if self.top is not None:
            return self._top_proba(encoded)
        return self.proba_from_vectors(encoded.pooled(self._config.window), encoded.texts)

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
        return self._config.finetune_layers == 0

    @property
    def trained_window(self) -> int:
        """Tokens per window of the texts the head was trained on."""
        return self._config.encoder.max_length

    def reads_vectors_cut_as(self, window: int, overlap: int) -> bool:
        """True when this head can label from vectors of ``window``-token windows overlapping by
        ``overlap`` (an index's): a frozen head trained on vectors cut the same way. Another cut gives
        other vectors (a 256-token first window is not a 128-token one), which the head never saw."""
        ref = self._config.encoder
        same_overlap = ref.overlap == overlap or self._config.window is Window.FIRST  # one window: no overlap
        return self.uses_vectors and ref.max_length == window and same_overlap

    @property
    def features(self) -> Features:
        return self._config.features

    def proba_from_vectors(self, features: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities from already pooled, normalised vectors (frozen head only); a hybrid head also
        needs the ``texts`` they were made from (the whole texts: its words are not limited to a window)."""
        if not self.uses_vectors:
            raise ClassifierError("a fine-tuned classifier needs the texts, not the frozen vectors")
        assert self.weight is not None and self.bias is not None
        logits = features.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        if self.lexical is not None:
            assert self.lexical_weight is not None
            if texts is None or len(texts) != len(features):
                raise ClassifierError("a hybrid classifier needs each text beside its vector")
            logits += self.lexical.transform(texts) @ self.lexical_weight.T.astype(np.float64)
        return _softmax(logits)

    @property
    def fingerprint(self) -> str:
        """A short hash of what the classifier computes: labels stamped by another one are stale."""
        return fingerprint(self._tensors(), self._config)

    # -- persistence ------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``head.safetensors`` and ``classifier.json`` into ``directory`` (no pickle).

        Each file is replaced whole, one after the other; the config records the weights' SHA-256, so
        a save interrupted between the two (over an earlier classifier) is refused on load rather than
        pairing new weights with old labels.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{WEIGHTS_FILE}.tmp"
        save_numpy(self._tensors(), str(temporary))
        config = {**json.loads(self._config.to_json()), WEIGHTS_HASH: file_sha256(temporary)}
        temporary.replace(directory / WEIGHTS_FILE)
        atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
        self.directory = directory
        return directory

    @classmethod
    def load(cls, directory: str | Path, encoder: Encoder | None = None) -> Classifier:
        """A saved classifier; the encoder (loaded lazily) must be the one it was trained on."""
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        if not config_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise ClassifierError(
                f"no classifier at {directory} (expected {CONFIG_FILE} and {WEIGHTS_FILE}; "
                "make one with 'semsearch classifier train DATA --out DIR')"
            )
        text = config_path.read_text(encoding="utf-8")
        config = ClassifierConfig.from_json(text, config_path)
        recorded = json.loads(text).get(WEIGHTS_HASH)  # absent in classifiers saved by earlier versions
        if recorded is not None and recorded != file_sha256(directory / WEIGHTS_FILE):
            raise ClassifierError(
                f"{directory}: {WEIGHTS_FILE} is not the one {CONFIG_FILE} was saved with (a save was "
                "interrupted, or a file was replaced); train the classifier again"
            )
        try:
            tensors = load_numpy(str(directory / WEIGHTS_FILE))
        except Exception as exc:  # safetensors raises several types for a damaged file
            raise ClassifierError(f"{directory / WEIGHTS_FILE} is damaged ({exc}); train again") from exc
        if encoder is not None:
            config.encoder.check_matches(encoder.identity, encoder.pooling, "the given encoder")
        classifier = cls(config.encoder.model_spec, config.encoder.pooling, encoder=encoder)
        classifier.config = config
        classifier.weight, classifier.bias = tensors["weight"], tensors["bias"]
        classifier.directory = directory
        if classifier.weight.shape[0] != len(config.labels):
            raise ClassifierError(f"{directory}: {len(config.labels)} labels but {classifier.weight.shape[0]} rows")
        if config.lexical is not None:
            classifier._restore_lexical(config.lexical, tensors)
        if config.finetune_layers:  # rebuilt on first use, on the encoder then in use (perhaps an index's)
            classifier._saved_layers = {k: v for k, v in tensors.items() if k.startswith(LAYER_PREFIX)}
        return classifier

    # -- internals --------------------------------------------------------------------------------

    def _tensors(self) -> dict[str, np.ndarray]:
        """What ``head.safetensors`` holds: the head, and the tuned layers of a fine-tuned classifier."""
        assert self.weight is not None and self.bias is not None
        # safetensors writes an array's memory as it lies: anything but C order would be scrambled
        tensors = {
            "weight": np.ascontiguousarray(self.weight, dtype=np.float32),
            "bias": np.ascontiguousarray(self.bias, dtype=np.float32),
        }
        if self.lexical is not None:
            assert self.lexical_weight is not None
            tensors.update(self.lexical.tensors())
            tensors[LEXICAL_PREFIX + "weight"] = np.ascontiguousarray(self.lexical_weight, dtype=np.float32)
        if self.top is not None:
            for name, tensor in self.top.layers.state_dict().items():
                tensors[LAYER_PREFIX + name] = np.ascontiguousarray(tensor.detach().float().numpy())
        elif self._saved_layers is not None:
            tensors.update(self._saved_layers)
        return tensors

    @property
    def _config(self) -> ClassifierConfig:
        if self.config is None:
            raise ClassifierError("this classifier is not trained yet: call fit() or Classifier.load()")
        return self.config

    @property
    def _state_layer(self) -> int:
        layers = self.config.finetune_layers if self.config else self.options.finetune_layers
        return len(_layers(self.encoder.torch_model)) - layers

    def _training_window(self, finetuned: bool) -> int:
        """A frozen head trains on windows cut as a new index cuts them, so that it labels an index from
        the vectors stored there (on 20 Newsgroups the default hybrid head also scored higher: 0.9518 at
        128 tokens, 0.9492 at 256). A fine-tuned head encodes every text itself, index or not, and
        reads more with the model's whole length (0.8109 at 256 tokens, 0.7795 at 128; README)."""
        if self.options.max_length is not None:
            return self.options.max_length
        reads = self.encoder.max_length
        return reads if finetuned else default_window(reads)

    def _encoded(self, texts: Sequence[str] | Encoded) -> Encoded:
        finetuned = (self.config.finetune_layers if self.config else self.options.finetune_layers) > 0
        window = self.config.window if self.config else self.options.window
        if isinstance(texts, Encoded):
            if finetuned and (texts.states is None or texts.state_layer != self._state_layer):
                raise ClassifierError(f"fine-tuning needs states after layer {self._state_layer}")
            return texts
        if isinstance(texts, str):
            raise ClassifierError("expected a list of texts, got one string")
        overlap = self.config.encoder.overlap if self.config else self.options.overlap
        return encode_texts(
            self.encoder,
            list(texts),
            first_only=finetuned or window is Window.FIRST,
            overlap=overlap,
            window=self.config.encoder.max_length if self.config else self._training_window(finetuned),
            state_layer=self._state_layer if finetuned else None,
            progress=self.options.progress and len(texts) > 64,
        )

    def _fit_frozen(self, features: np.ndarray, y: np.ndarray, report: dict[str, Any]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # Standardised features: the C grid then means the same for any encoder, whatever its vectors' spread.
        base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        c, cv_accuracy = _choose_c(base, "logisticregression__C", self.options.c_grid, features, y)
        model = base.set_params(logisticregression__C=c).fit(features, y)
        report["c"] = c
        if cv_accuracy is not None:
            report["cv_accuracy"] = round(cv_accuracy, 4)
        scaler, regression = model[0], model[-1]
        # Fold the scaler into the linear map: W (x - mu) / sigma + b = (W / sigma) x + (b - W mu / sigma).
        weight = regression.coef_ / scaler.scale_
        bias = regression.intercept_ - weight @ scaler.mean_
        weight, bias = _two_rows_if_binary(weight, bias)
        self.weight, self.bias = weight.astype(np.float32), bias.astype(np.float32)

    def _fit_hybrid(self, dense: np.ndarray, texts: Sequence[str], y: np.ndarray, report: dict[str, Any]) -> None:
        """A linear SVM on [w * pooled vector, hashed TF-IDF], C and w by 3-fold CV on the training texts,
        its margins made probabilities by one softmax temperature fitted on the out-of-fold margins.

        Why an SVM and not logistic regression: on 20 Newsgroups (a hold-out inside the training part)
        it was as accurate or better and 10-20x faster to fit over ~300k sparse columns, which is what
        makes a CV grid affordable. The temperature (folded into the saved weights) changes no argmax.
        Both parts have unit length, so w says how much the encoder's view counts against the words'.
        The IDF is learned from every training text (it uses no label, so the folds share it).
        """
        options = self.options
        counts = options.hashing.counts(texts)
        lexical = LexicalFeatures.learn(options.hashing, counts, options.min_df)
        words = lexical.of_counts(counts)
        del counts
        c, scale, cv_accuracy, out_of_fold = _search_hybrid(dense, words, y, options)
        temperature = _temperature(out_of_fold, y) if out_of_fold is not None else 1.0
        model = _svm(c).fit(_hstack(dense, scale, words), y)
        weight, bias = _two_rows_if_binary(model.coef_, model.intercept_)
        weight, bias, dim = weight * temperature, bias * temperature, dense.shape[1]
        self.weight = (weight[:, :dim] * scale).astype(np.float32)  # w folded in: applies to the raw vectors
        self.lexical_weight = weight[:, dim:].astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.lexical = lexical
        report.update(
            c=c, dense_weight=scale, temperature=round(temperature, 4), lexical_columns=len(lexical.columns),
            min_df=options.min_df,
        )  # fmt: skip
        if cv_accuracy is not None:
            report["cv_accuracy"] = round(cv_accuracy, 4)

    def _fit_top(self, encoded: Encoded, y: np.ndarray, classes: int, report: dict[str, Any]) -> None:
        options = self.options
        assert encoded.states is not None
        torch.manual_seed(options.seed)
        rng = np.random.default_rng(options.seed)
        layers = _layers(self.encoder.torch_model)
        tuned = [copy.deepcopy(layer) for layer in layers[len(layers) - options.finetune_layers :]]
        top = _TopLayers(tuned, self.encoder.pooling, self.encoder.dim, classes)
        top.train()
        optimizer = torch.optim.AdamW(
            [
                {"params": top.layers.parameters(), "lr": options.layer_lr},
                {"params": top.head.parameters(), "lr": options.head_lr},
            ],
            weight_decay=options.weight_decay,
        )
        lengths = [s.shape[0] for s in encoded.states]
        steps = options.epochs * math.ceil(len(lengths) / options.batch_size)
        warmup = max(1, steps // 20)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
        )
        targets = torch.as_tensor(y)
        losses = []
        with tqdm(total=steps, unit="batch", desc="fine-tuning", disable=not options.progress) as bar:
            for epoch in range(options.epochs):
                total, seen = 0.0, 0
                for batch in _length_batches(lengths, options.batch_size, rng):
                    hidden, mask = _stack([encoded.states[i] for i in batch])
                    loss = torch.nn.functional.cross_entropy(top(hidden, mask), targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    total, seen = total + float(loss.detach()) * len(batch), seen + len(batch)
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{total / seen:.3f}", refresh=False)
                losses.append(round(total / seen, 4))
        top.eval()
        self.top = top
        self.weight = top.head.weight.detach().numpy().copy()
        self.bias = top.head.bias.detach().numpy().copy()
        report.update(epochs=options.epochs, layers=options.finetune_layers, train_loss=losses)

    def _top_proba(self, encoded: Encoded) -> np.ndarray:
        assert self.top is not None and encoded.states is not None
        out = np.zeros((encoded.count, len(self._config.labels)), dtype=np.float64)
        order = sorted(range(encoded.count), key=lambda i: encoded.states[i].shape[0])  # type: ignore[index]
        with torch.inference_mode():
            for begin in range(0, len(order), 64):
                batch = order[begin : begin + 64]
                hidden, mask = _stack([encoded.states[i] for i in batch])
                out[batch] = torch.softmax(self.top(hidden, mask).double(), dim=-1).numpy()
        return out

    def _restore_lexical(self, hashing: Hashing, tensors: dict[str, np.ndarray]) -> None:
        try:
            self.lexical = LexicalFeatures.from_tensors(hashing, tensors)
            self.lexical_weight = tensors[LEXICAL_PREFIX + "weight"]
        except (KeyError, ValueError) as exc:
            raise ClassifierError(f"{self.directory}: lexical features are damaged ({exc}); train again") from exc
        if self.lexical_weight.shape != (len(self._config.labels), len(self.lexical.columns)):
            raise ClassifierError(f"{self.directory}: lexical weights do not fit the labels and columns")

    def _restore_top(self) -> None:
        config = self._config
        layers = _layers(self.encoder.torch_model)
        tuned = [copy.deepcopy(layer) for layer in layers[len(layers) - config.finetune_layers :]]
        top = _TopLayers(tuned, config.encoder.pooling, self.encoder.dim, len(config.labels))
        state = {k[len(LAYER_PREFIX) :]: torch.from_numpy(v.copy()) for k, v in (self._saved_layers or {}).items()}
        try:
            top.layers.load_state_dict(state)
        except RuntimeError as exc:
            raise ClassifierError(f"{self.directory}: tuned layers do not fit the base encoder ({exc})") from exc
        top.head.weight.data = torch.from_numpy(self.weight.copy())  # type: ignore[union-attr]
        top.head.bias.data = torch.from_numpy(self.bias.copy())  # type: ignore[union-attr]
        top.eval()
        self.top = top


def fingerprint(tensors: dict[str, np.ndarray], config: ClassifierConfig) -> str:
    """16 hex digits of sha256 over the weights (and a hybrid head's IDF and kept columns), the labels,
    the encoder they apply to and the hashing settings: whatever changes a prediction changes it."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        tensor = tensors[name]
        kind = np.float32 if tensor.dtype.kind == "f" else np.int64  # column numbers hashed as exact integers
        digest.update(np.ascontiguousarray(tensor, dtype=kind).tobytes())
    what: list[Any] = [list(config.labels), str(config.window), config.finetune_layers, config.encoder.model.sha256]
    if config.lexical is not None:  # absent for a dense head, whose fingerprint stays what it was
        what.append(asdict(config.lexical))
    digest.update(json.dumps(what).encode())
    return digest.hexdigest()[:16]


def saved_fingerprint(directory: Path) -> str | None:
    """The fingerprint of the classifier saved in ``directory`` (None if there is none), without loading a model."""
    config_path, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights.is_file():
        return None
    config = ClassifierConfig.from_json(config_path.read_text(encoding="utf-8"), config_path)
    try:
        return fingerprint(load_numpy(str(weights)), config)
    except Exception:  # a damaged copy: report it as different, so it gets replaced
        return None


@dataclass(frozen=True)
class Labelled:
    """Texts and their labels, read from a corpus file; ``skipped`` counts unusable records."""

    texts: list[str]
    labels: list[str]
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()


def load_labelled(
    path: str | Path, text_field: str = "text", label_field: str = "label", title_field: str = "title",
    skip_bad: bool = False,
) -> Labelled:  # fmt: skip
    """Labelled examples from any corpus format (jsonl, csv, parquet, ...). No id is needed; the
    title, if present, is prepended to the text as when indexing, so a head sees what an index sees."""
    from semsearch.corpus import raw_records
    from semsearch.errors import BadRecordError

    texts, labels, skipped, examples = [], [], 0, []
    for source, line, raw in raw_records(path):
        try:
            if isinstance(raw, BadRecordError):
                raise raw
            text, title, label = raw.get(text_field), raw.get(title_field), raw.get(label_field)
            if not isinstance(text, str) or not text.strip():
                raise BadRecordError(source, line, text_field, "missing or empty text")
            if label is None or isinstance(label, dict | list) or str(label).strip() == "":
                raise BadRecordError(source, line, label_field, "missing label (a string or a number)")
            prefix = title.strip() + " " if isinstance(title, str) and title.strip() else ""
            texts.append((prefix + text).strip().replace("\x00", ""))
            labels.append(str(label).strip())
        except BadRecordError as error:
            if not skip_bad:
                raise
            skipped += 1
            if len(examples) < 5:
                examples.append(error.message)
    if not texts:
        raise ClassifierError(f"{path}: no labelled examples (fields '{text_field}' and '{label_field}')")
    return Labelled(texts, labels, skipped, tuple(examples))


def split_validation(labels: Sequence[str], fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, stratified hold-out: (training positions, validation positions)."""
    positions = np.arange(len(labels))
    if fraction <= 0:
        return positions, positions[:0]
    if not 0 < fraction < 1:
        raise ClassifierError(f"the validation fraction must be between 0 and 1, got {fraction}")
    from sklearn.model_selection import train_test_split

    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    rare = sorted(label for label, count in counts.items() if count < 2)
    if rare:
        raise ClassifierError(
            f"label(s) {', '.join(map(repr, rare[:5]))} have a single example, too few to hold one out for "
            "validation; add examples or pass --validation 0"
        )
    try:
        train, val = train_test_split(positions, test_size=fraction, stratify=list(labels), random_state=seed)
    except ValueError as exc:
        raise ClassifierError(f"cannot hold out a stratified {fraction:.0%} for validation ({exc})") from exc
    return np.sort(train), np.sort(val)


@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""

    labels: tuple[str, ...]
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]

    def summary(self) -> dict[str, float]:
        return {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4)}

    def to_json(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "labels": list(self.labels),
            "confusion_matrix": self.confusion,
        }


def classification_scores(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Scores:
    """Scores of ``predicted`` against ``truth``; ``labels`` fixes the order (unseen ones are added)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    truth = [str(t) for t in truth]
    order = tuple(labels) + tuple(sorted(set(truth) - set(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(order), zero_division=0
    )
    present = [i for i, label in enumerate(order) if label in set(truth)]
    return Scores(
        labels=order,
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(
            f1_score(truth, predicted, labels=[order[i] for i in present], average="macro", zero_division=0)
        ),
        per_class={
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(order)
        },
        confusion=confusion_matrix(truth, predicted, labels=list(order)).tolist(),
    )


def plot_confusion(scores: Scores, path: str | Path, title: str = "") -> Path:
    """Write the confusion matrix (rows: true label, columns: predicted) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(scores.confusion)
    size = max(5.0, 0.45 * len(scores.labels) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(scores.labels)), scores.labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(scores.labels)), scores.labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title or f"accuracy {scores.accuracy:.3f}, macro-F1 {scores.macro_f1:.3f}")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(scores.labels) <= 30:
        for (row, column), value in np.ndenumerate(matrix):
            if value:
                color = "white" if value > threshold else "black"
                axes.text(column, row, str(value), ha="center", va="center", fontsize=6, color=color)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
