"""Labelled examples from a corpus file, and the held-out part a classifier is checked on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.errors import BadRecordError, ClassifierError, Hint


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
    from semsearch.corpus import FieldMap, raw_records

    # The label column stays as written (CSV columns are typed: "true"/"false" labels would become bools).
    fields = FieldMap.from_options(text_field=text_field, title_field=title_field, types={label_field: "string"})

    texts: list[str] = []
    labels: list[str] = []
    examples: list[str] = []
    skipped = 0
    for source, line, raw in raw_records(path, fields):
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
            f"label(s) {', '.join(map(repr, rare[:5]))} have a single example, too few to hold one out",
            Hint("add examples, or set {how} to hold none out", option="validation", value="0"),
        )
    try:
        train, val = train_test_split(positions, test_size=fraction, stratify=list(labels), random_state=seed)
    except ValueError as exc:
        raise ClassifierError(f"cannot hold out a stratified {fraction:.0%} for validation ({exc})") from exc
    return np.sort(train), np.sort(val)
