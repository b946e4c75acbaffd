"""What an index directory holds and how its vectors were made.

The manifest is written once when an index is created and checked on every later use: vectors
from another model, pooling or chunking would be silently incomparable, so any mismatch is refused.

It cannot be rebuilt from the other files (they do not say which model made the vectors), so it
is written twice, atomically each time: ``manifest.json`` and ``manifest.backup.json``. A damaged
or missing ``manifest.json`` is reported with the way back (``semsearch repair`` copies the backup
over it); it is never guessed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from semsearch import location
from semsearch.errors import (
    IncompatibleEncoderError,
    IndexDamagedError,
    IndexFormatError,
    IndexNotFoundError,
    OptionError,
    repair_hint,
)
from semsearch.fsutil import atomic_write_text
from semsearch.models import model_spec
from semsearch.types import Backend, Fusion, ModelIdentity, Pooling, Precision

FORMAT = 1
MANIFEST = "manifest.json"
BACKUP = "manifest.backup.json"
STORE_DIR = "store"
CLASSIFIER_DIR = "classifier"  # the index's own classifier (semsearch.ingest.labelling installs it)


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
    # How the last run read its corpus (which fields are the id, text and title, declared types) and
    # where from (a path; None for documents given in memory), so an update needs neither typed again.
    # Plain JSON values: the corpus package reads them. Absent in indexes written before they were recorded.
    fields: dict[str, Any] | None = None
    source: str | None = None
    glob: str | None = None  # which files of a folder the source was read as
    # How hybrid search fuses the dense and BM25 lists, and, when `semsearch tune` chose it, on what evidence
    # (semsearch.adaptation.fusion.FusionChoice.to_json). Indexes written before fusion was a choice use RRF.
    fusion: Fusion = field(default_factory=Fusion)
    fusion_evidence: dict[str, Any] | None = None

    def save(self, directory: Path) -> None:
        """The manifest first, then its backup: a kill between the two leaves a readable manifest."""
        text = json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"
        atomic_write_text(directory / MANIFEST, text)
        location.push(directory, MANIFEST)
        atomic_write_text(directory / BACKUP, text)
        location.push(directory, BACKUP)

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if (remote := location.remote_of(directory)) is not None:
            location.pull(directory)  # the newest small files (a writer elsewhere may have committed)
            if not path.is_file() and not (directory / BACKUP).is_file():
                raise IndexNotFoundError(f"no index at {remote.uri}: index a corpus into it first")
        if not directory.is_dir():
            raise IndexNotFoundError(f"no index at {directory}: index a corpus into it first")
        if not path.is_file():
            if (directory / BACKUP).is_file():
                raise cls._damaged(directory, f"{path} is missing")
            if (directory / STORE_DIR).is_dir():
                raise IndexDamagedError(
                    f"{path} is missing: the first indexing run into {directory} was interrupted before it "
                    "finished, or the file was removed; index the corpus again"
                )
            raise IndexNotFoundError(f"{directory} is not a semsearch index: {MANIFEST} is missing")
        try:
            return cls.read(path)
        except IndexDamagedError as error:
            raise cls._damaged(directory, str(error)) from error

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Parse one manifest file; :class:`IndexDamagedError` names it and what is wrong."""
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            if isinstance(data.get("format"), bool) or not isinstance(data.get("format"), int):
                raise ValueError("it has no format number")  # damaged, not written by another version
            if data.get("format") != FORMAT:
                raise IndexFormatError(
                    f"{path}: index format {data.get('format')!r}, this version of semsearch reads format {FORMAT}"
                )
            return cls(
                model=ModelIdentity(**data["model"]),
                pooling=Pooling(data["pooling"]),
                dim=int(data["dim"]),
                max_length=int(data["max_length"]),
                overlap=int(data["overlap"]),
                backend=Backend(data["backend"]),
                faiss_factory=str(data["faiss_factory"]),
                precision=Precision(data.get("precision", Precision.FP32)),
                fields=dict(data["fields"]) if isinstance(data.get("fields"), dict) else None,
                source=str(data["source"]) if isinstance(data.get("source"), str) else None,
                glob=str(data["glob"]) if isinstance(data.get("glob"), str) else None,
                fusion=Fusion.from_json(data.get("fusion")),
                fusion_evidence=evidence if isinstance(evidence := data.get("fusion_evidence"), dict) else None,
            )
        except OSError as exc:
            raise IndexDamagedError(f"{path} cannot be read ({exc.strerror})") from exc
        except (ValueError, KeyError, TypeError, RecursionError, OptionError) as exc:  # JSONDecodeError is a ValueError
            raise IndexDamagedError(f"{path} is damaged ({type(exc).__name__}: {exc})") from exc

    @staticmethod
    def _damaged(directory: Path, problem: str) -> IndexDamagedError:
        """``problem`` with the way back: the backup when it is readable, else indexing again."""
        try:
            Manifest.read(directory / BACKUP)
        except IndexDamagedError:
            return IndexDamagedError(
                f"{problem}; it cannot be rebuilt from the other files and {BACKUP} is not usable either: "
                f"delete {directory} and index the corpus again"
            )
        return IndexDamagedError(problem, repair_hint(directory, f"run {{how}} to restore it from {BACKUP}"))

    @classmethod
    def restore_from_backup(cls, directory: Path) -> bool:
        """Copy a readable backup over a missing or damaged ``manifest.json``; True if it did."""
        try:
            cls.read(directory / MANIFEST)
            return False
        except IndexDamagedError as error:
            try:
                backup = cls.read(directory / BACKUP)
            except IndexDamagedError as also:
                raise IndexDamagedError(
                    f"{error}, and its backup cannot replace it: {also}; delete {directory} and index the corpus again"
                ) from also
            backup.save(directory)
            return True

    def check_same_vectors(self, other: Manifest) -> None:
        """Refuse to mix vectors made differently (another model, pooling, chunking or precision).

        Precision counts too: an int8 vector is close to the fp32 one but not equal, so windows encoded at
        two precisions would rank by how they happened to be encoded.
        """
        mine = (self.model.sha256, self.pooling, self.max_length, self.overlap, self.precision)
        theirs = (other.model.sha256, other.pooling, other.max_length, other.overlap, other.precision)
        if mine != theirs:
            raise IncompatibleEncoderError(
                f"this index was built with model {self.model.name} ({self.model.sha256[:12]}), "
                f"pooling {self.pooling}, {self.max_length}-token windows overlapping by {self.overlap}, "
                f"precision {self.precision}; asked for model {other.model.name} ({other.model.sha256[:12]}), "
                f"pooling {other.pooling}, {other.max_length}-token windows overlapping by {other.overlap}, "
                f"precision {other.precision}. "
                f"Use a new index directory for a different encoder."
            )

    def with_run_settings(
        self, backend: Backend, faiss_factory: str, fields: dict[str, Any] | None, source: str | None,
        glob: str | None = None,
    ) -> Manifest:  # fmt: skip
        """This index as a run leaves it: the search settings and the corpus mapping it was given."""
        return replace(self, backend=backend, faiss_factory=faiss_factory, fields=fields, source=source, glob=glob)

    def with_fusion(self, fusion: Fusion, evidence: dict[str, Any] | None = None) -> Manifest:
        """This index searched in hybrid mode with ``fusion``; ``evidence`` is why (None: set by hand)."""
        return replace(self, fusion=fusion, fusion_evidence=evidence)

    @property
    def title_field(self) -> str:
        """The metadata field holding each document's title, as the last run read the corpus."""
        return str((self.fields or {}).get("title_field", "title"))

    @property
    def model_spec(self) -> str:
        """What to pass to :class:`~semsearch.encoder.Encoder` to load this index's model."""
        return model_spec(self.model.name, self.model.path)


def installed_labels(directory: Path) -> tuple[str, ...]:
    """The label names of the classifier installed in the index at ``directory`` (empty without one),
    read from its JSON config alone: asking an index what it can filter on loads no classifier."""
    path = directory / CLASSIFIER_DIR / "classifier.json"
    if not path.is_file():
        return ()
    return tuple(str(label) for label in json.loads(path.read_text(encoding="utf-8")).get("labels", []))
