"""A classifier on disk: ``classifier.json`` (what it is) and ``head.safetensors`` (its tensors), no pickle.

``classifier.json`` holds the label names, the encoder the head was trained on, the window pooling,
the number of tuned layers, a hybrid head's hashing settings, the training report and the SHA-256 of
``head.safetensors``. A head without lexical features is written as format 1, which versions before
the hybrid head read; one with them as format 2. The file names, keys and tensor names are the format:
classifiers saved by earlier versions must keep loading, with the same fingerprint.

Light: importing this module loads neither torch nor scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy

from semsearch.classify.options import Features, Hashing, HeadKind, WindowPooling
from semsearch.errors import ClassifierError, IncompatibleEncoderError
from semsearch.fsutil import atomic_write_text, file_sha256
from semsearch.models import model_spec
from semsearch.types import ModelIdentity, Pooling

if TYPE_CHECKING:
    from semsearch.encoder import Encoder

FORMAT = 2  # 2: may hold hashed lexical features ("lexical" in classifier.json, "lexical.*" tensors)
DENSE_FORMAT = 1  # a classifier without lexical features is still written as 1, readable by older versions
READABLE_FORMATS = (DENSE_FORMAT, FORMAT)
CONFIG_FILE = "classifier.json"
WEIGHTS_FILE = "head.safetensors"
WEIGHTS_HASH = "weights_sha256"  # in classifier.json: which head.safetensors it was saved with
LAYER_PREFIX = "layers."  # a fine-tuned head's tuned layers
LEXICAL_PREFIX = "lexical."  # a hybrid head's kept columns, their IDF and weights


@dataclass(frozen=True)
class EncoderRef:
    """The encoder a head was trained on; vectors from any other encoder mean nothing to it."""

    model: ModelIdentity
    pooling: Pooling
    max_length: int  # tokens per window of the training texts
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
                f"{pooling} pooling; train a classifier on that encoder"
            )

    @property
    def model_spec(self) -> str:
        return model_spec(self.model.name, self.model.path)


@dataclass(frozen=True)
class ClassifierConfig:
    """What ``classifier.json`` holds: enough to rebuild the classifier and to check it is applicable."""

    labels: tuple[str, ...]
    encoder: EncoderRef
    window: WindowPooling
    finetune_layers: int
    training: dict[str, Any] = field(default_factory=dict)  # what happened when it was trained (a report)
    lexical: Hashing | None = None  # a hybrid head's hashing settings (its IDF is in head.safetensors)

    @property
    def head_kind(self) -> HeadKind:
        """Which head the saved tensors are for: the format tells them apart by these two fields."""
        if self.finetune_layers:
            return HeadKind.FINETUNED
        return HeadKind.DENSE if self.lexical is None else HeadKind.HYBRID

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
                window=WindowPooling(data["window"]),
                finetune_layers=int(data["finetune_layers"]),
                training=dict(data.get("training") or {}),
                lexical=None if lexical is None else Hashing(**lexical),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ClassifierError(f"{path} is damaged ({exc}); train the classifier again") from exc


def fingerprint(tensors: dict[str, np.ndarray], config: ClassifierConfig) -> str:
    """16 hex digits of sha256 over the weights (and a hybrid head's IDF and kept columns), the labels,
    the encoder they apply to and the hashing settings: whatever changes a prediction changes it.

    Indexes stamp each label with it, so it must stay bit for bit what it was for the same classifier.
    """
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


def write(directory: Path, tensors: dict[str, np.ndarray], config: ClassifierConfig) -> Path:
    """Write ``head.safetensors`` and ``classifier.json`` into ``directory``.

    Each file is replaced whole, one after the other; the config records the weights' SHA-256, so a
    save interrupted between the two (over an earlier classifier) is refused on load rather than
    pairing new weights with old labels.
    """
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{WEIGHTS_FILE}.tmp"
    # safetensors writes an array's memory as it lies: anything but C order would be scrambled
    save_numpy({name: np.ascontiguousarray(tensor) for name, tensor in tensors.items()}, str(temporary))
    data = {**json.loads(config.to_json()), WEIGHTS_HASH: file_sha256(temporary)}
    temporary.replace(directory / WEIGHTS_FILE)
    atomic_write_text(directory / CONFIG_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return directory


def read(directory: Path) -> tuple[ClassifierConfig, dict[str, np.ndarray]]:
    """The config and tensors saved in ``directory``, refused if missing, damaged or from two saves."""
    config_path = directory / CONFIG_FILE
    if not config_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise ClassifierError(
            f"no classifier at {directory} (expected {CONFIG_FILE} and {WEIGHTS_FILE}; train one and save it there)"
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
    return config, tensors
