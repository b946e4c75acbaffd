"""What an index directory holds and how its vectors were made.

The manifest is written once when an index is created and checked on every later use: vectors
from another model, pooling or chunking would be silently incomparable, so any mismatch is refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from semsearch.encoder import DEFAULT_MODEL, ModelIdentity, Precision
from semsearch.errors import IncompatibleEncoderError, IndexDamagedError, IndexNotFoundError
from semsearch.fsutil import atomic_write_text
from semsearch.types import Backend, Pooling

FORMAT = 1
MANIFEST = "manifest.json"
STORE_DIR = "store"


@dataclass(frozen=True)
class Manifest:
    model: ModelIdentity
    pooling: Pooling
    dim: int
    max_length: int
    overlap: int
    backend: Backend
    faiss_factory: str
    # The encoder's number format. Indexes written before it was recorded were all fp32.
    precision: Precision = Precision.FP32
    format: int = FORMAT

    def save(self, directory: Path) -> None:
        data = asdict(self)
        atomic_write_text(directory / MANIFEST, json.dumps(data, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not directory.is_dir():
            raise IndexNotFoundError(
                f"no index at {directory} (create one with 'semsearch index SOURCE --index {directory}')"
            )
        if not path.is_file():
            raise IndexNotFoundError(f"{directory} is not a semsearch index: {MANIFEST} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise IndexDamagedError(f"{path}: index format {data.get('format')!r}, this semsearch reads {FORMAT}")
            return cls(
                model=ModelIdentity(**data["model"]),
                pooling=Pooling(data["pooling"]),
                dim=int(data["dim"]),
                max_length=int(data["max_length"]),
                overlap=int(data["overlap"]),
                backend=Backend(data["backend"]),
                faiss_factory=str(data["faiss_factory"]),
                precision=Precision(data.get("precision", Precision.FP32)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexDamagedError(
                f"{path} is damaged ({exc}); it cannot be rebuilt from other files, re-run 'semsearch index'"
            ) from exc

    def check_same_vectors(self, other: Manifest) -> None:
        """Refuse to mix vectors made differently (another model, pooling, chunking or precision).

        Precision counts too: an int8 vector is within a cosine of ~0.998 of the fp32 one, close but not
        equal, so windows encoded at two precisions would rank by how they happened to be encoded.
        """
        mine = (self.model.sha256, self.pooling, self.max_length, self.overlap, self.precision)
        theirs = (other.model.sha256, other.pooling, other.max_length, other.overlap, other.precision)
        if mine != theirs:
            raise IncompatibleEncoderError(
                f"this index was built with model {self.model.name} ({self.model.sha256[:12]}), "
                f"pooling {self.pooling}, {self.max_length}-token windows overlapping by {self.overlap}, "
                f"precision {self.precision}; asked for model {other.model.name} ({other.model.sha256[:12]}), "
                f"pooling {other.pooling}, {other.max_length}/{other.overlap}, precision {other.precision}. "
                f"Use a new --index directory for a different encoder."
            )

    def with_search_settings(self, backend: Backend, faiss_factory: str) -> Manifest:
        return replace(self, backend=backend, faiss_factory=faiss_factory)

    @property
    def model_spec(self) -> str:
        """What to pass to :class:`~semsearch.encoder.Encoder` to load this index's model."""
        return DEFAULT_MODEL if self.model.name == DEFAULT_MODEL else self.model.path
