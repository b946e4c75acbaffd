"""A classifier head on the encoder's pooled vectors: train on labelled texts, predict labels.

Two modes, one scikit-learn style class (:class:`Classifier`: ``fit`` / ``predict`` /
``predict_proba``), saved without pickle (``head.safetensors`` + ``classifier.json``):

- **frozen** (default): the encoder is left as it is and a multinomial logistic regression is fitted
  on its L2-normalised pooled vectors (the very vectors an index stores), so labelling documents at
  index time costs nothing beyond the indexing itself. A long text is represented by its first
  window (``Window.FIRST``) or by the mean of all its windows (``Window.MEAN``).
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
from tqdm.auto import tqdm

from semsearch.encoder import DEFAULT_MODEL, Encoder, ModelIdentity
from semsearch.errors import IncompatibleEncoderError, SemsearchError
from semsearch.fsutil import atomic_write_text
from semsearch.types import Pooling

log = logging.getLogger(__name__)

FORMAT = 1
CONFIG_FILE = "classifier.json"
WEIGHTS_FILE = "head.safetensors"
LAYER_PREFIX = "layers."


class ClassifierError(SemsearchError):
    """A classifier directory is missing or unusable, or training data is unusable."""


class Window(StrEnum):
    """How a text longer than one encoder window becomes one vector for the frozen head."""

    FIRST = "first"  # the first window only (for a post: headers, subject and opening)
    MEAN = "mean"  # the mean of all windows' vectors, re-normalised


@dataclass(frozen=True)
class EncoderRef:
    """The encoder a head was trained on; vectors from any other encoder mean nothing to it."""

    model: ModelIdentity
    pooling: Pooling
    max_length: int
    overlap: int

    @classmethod
    def of(cls, encoder: Encoder, overlap: int) -> EncoderRef:
        return cls(model=encoder.identity, pooling=encoder.pooling, max_length=encoder.max_length, overlap=overlap)

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
        return DEFAULT_MODEL if self.model.name == DEFAULT_MODEL else self.model.path


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters. Fixed defaults chosen before measuring; see benchmarks/classifier.py."""

    window: Window = Window.FIRST
    finetune_layers: int = 0  # 0: frozen encoder, logistic regression; N: tune the top N layers
    overlap: int = 32  # window overlap, as in indexing (matters for Window.MEAN)
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0)  # inverse L2 strengths tried by 3-fold CV (frozen)
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
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, path: Path) -> ClassifierConfig:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ClassifierError(
                    f"{path}: classifier format {data.get('format')!r}, this semsearch reads {FORMAT}"
                )
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
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ClassifierError(f"{path} is damaged ({exc}); train the classifier again") from exc


@dataclass
class Encoded:
    """What the encoder made of a list of texts, computed once and reused by every head fitted on them.

    ``vectors`` are the frozen encoder's pooled, normalised window vectors (``doc_index`` says which
    text each belongs to; with ``first_only`` there is exactly one per text, its first window).
    ``states`` (fine-tuning only) hold, per text, the first window's hidden states after the frozen
    bottom layers, in bfloat16 to halve their memory.
    """

    doc_index: np.ndarray
    vectors: np.ndarray
    count: int
    states: list[torch.Tensor] | None = None
    state_layer: int = -1  # how many layers produced ``states``

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
    overlap: int = 32,
    state_layer: int | None = None,
    progress: bool = True,
) -> Encoded:
    """Encode ``texts`` once: window vectors for a frozen head and, if ``state_layer`` is given, the
    first windows' hidden states after that many layers (the cache that fine-tuning trains on).

    The vectors equal :meth:`Encoder.encode_ids` (same windows, pooling and normalisation), so a
    head trained here applies unchanged to an index's stored vectors.
    """
    chunks = encoder.chunks(texts, overlap)
    if first_only:
        chunks = [c for c in chunks if c.number == 0]
    windows = [c.input_ids for c in chunks]
    doc_index = np.array([c.doc for c in chunks], dtype=np.int64)
    first_windows = {i for i, c in enumerate(chunks) if c.number == 0}  # fine-tuning sees these only
    if state_layer is None:  # a frozen head: exactly the vectors the index stores, at its precision
        with tqdm(total=len(windows), unit="window", desc="encoding", disable=not progress) as bar:
            vectors = encoder.encode_ids(windows, bar)
        return Encoded(doc_index=doc_index, vectors=vectors, count=len(texts), states=None, state_layer=-1)
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
        model: str | Path = DEFAULT_MODEL,
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
        started, cpu_started = time.perf_counter(), time.process_time()
        options = self.options
        encoded = self._encoded(texts)
        report: dict[str, Any] = {"examples": len(labels)}
        if options.finetune_layers:
            self._fit_top(encoded, y, len(names), report)
        else:
            self._fit_frozen(encoded.pooled(options.window), y, report)
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        self.config = ClassifierConfig(
            labels=names,
            encoder=EncoderRef.of(self.encoder, options.overlap),
            window=Window.FIRST if options.finetune_layers else options.window,
            finetune_layers=options.finetune_layers,
            training=report,
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
        return self.proba_from_vectors(encoded.pooled(self._config.window))

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
        """True when labels come from the encoder's own vectors (frozen), so an index's vectors suffice."""
        return self._config.finetune_layers == 0

    def proba_from_vectors(self, features: np.ndarray) -> np.ndarray:
        """Probabilities from already pooled, normalised vectors (frozen head only)."""
        if not self.uses_vectors:
            raise ClassifierError("a fine-tuned classifier needs the texts, not the frozen vectors")
        assert self.weight is not None and self.bias is not None
        return _softmax(features.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias)

    @property
    def fingerprint(self) -> str:
        """A short hash of what the classifier computes: labels stamped by another one are stale."""
        return fingerprint(self._tensors(), self._config)

    # -- persistence ------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``head.safetensors`` and ``classifier.json`` into ``directory`` (no pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{WEIGHTS_FILE}.tmp"
        save_numpy(self._tensors(), str(temporary))
        temporary.replace(directory / WEIGHTS_FILE)
        atomic_write_text(directory / CONFIG_FILE, self._config.to_json())
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
        config = ClassifierConfig.from_json(config_path.read_text(encoding="utf-8"), config_path)
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
            state_layer=self._state_layer if finetuned else None,
            progress=self.options.progress and len(texts) > 64,
        )

    def _fit_frozen(self, features: np.ndarray, y: np.ndarray, report: dict[str, Any]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # Standardised features: the C grid then means the same for any encoder, whatever its vectors' spread.
        base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        folds = min(3, int(np.bincount(y).min()))
        if len(self.options.c_grid) > 1 and folds >= 2:
            search = GridSearchCV(
                base,
                {"logisticregression__C": list(self.options.c_grid)},
                cv=StratifiedKFold(folds, shuffle=True, random_state=0),
            )
            search.fit(features, y)
            model = search.best_estimator_
            report["c"] = float(search.best_params_["logisticregression__C"])
            report["cv_accuracy"] = round(float(search.best_score_), 4)
        else:
            model = base.set_params(logisticregression__C=self.options.c_grid[0]).fit(features, y)
            report["c"] = float(self.options.c_grid[0])
        scaler, regression = model[0], model[-1]
        # Fold the scaler into the linear map: W (x - mu) / sigma + b = (W / sigma) x + (b - W mu / sigma).
        weight = regression.coef_ / scaler.scale_
        bias = regression.intercept_ - weight @ scaler.mean_
        if weight.shape[0] == 1:  # binary: one logit z; softmax over (-z/2, z/2) is the same sigmoid(z)
            weight, bias = np.vstack([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
        self.weight, self.bias = weight.astype(np.float32), bias.astype(np.float32)

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
    """16 hex digits of sha256 over the weights, the labels and the encoder they apply to."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes())
    what = [list(config.labels), str(config.window), config.finetune_layers, config.encoder.model.sha256]
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
                examples.append(str(error))
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
