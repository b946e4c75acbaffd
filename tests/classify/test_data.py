"""Labelled examples from corpus files, and the stratified hold-out."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_jsonl

from semsearch.classify import load_labelled, split_validation
from semsearch.errors import BadRecordError, ClassifierError


def test_labelled_data_needs_no_id_and_names_bad_records(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("title,text,label\nT,first text,a\n,second text,b\n,third text,\n", encoding="utf-8")
    with pytest.raises(BadRecordError, match=r"data.csv:4: field 'label': missing label"):
        load_labelled(data)
    examples = load_labelled(data, skip_bad=True)
    assert examples.texts == ["T first text", "second text"] and examples.labels == ["a", "b"]
    assert examples.skipped == 1


def test_labels_may_be_numbers_and_fields_are_named_by_the_caller(tmp_path: Path) -> None:
    rows = [{"body": "one", "topic": 3}, {"body": "two", "topic": "x", "title": "  "}, {"body": " ", "topic": 1}]
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    examples = load_labelled(data, text_field="body", label_field="topic", skip_bad=True)
    assert (examples.texts, examples.labels, examples.skipped) == (["one", "two"], ["3", "x"], 1)
    assert examples.skipped_examples and "missing or empty text" in examples.skipped_examples[0]
    with pytest.raises(ClassifierError, match="no labelled examples"):
        load_labelled(data, text_field="nothing", skip_bad=True)


def test_validation_split_is_stratified_and_fixed() -> None:
    labels = ["a"] * 40 + ["b"] * 20
    train, val = split_validation(labels, 0.25)
    assert len(val) == 15 and sorted([labels[i] for i in val]).count("b") == 5
    assert set(train).isdisjoint(val) and len(train) + len(val) == 60
    assert list(split_validation(labels, 0.25)[1]) == list(val)
    with pytest.raises(ClassifierError, match="'c' have a single example") as single:
        split_validation([*labels, "c"], 0.25)
    assert single.value.hint is not None and single.value.hint.option == "validation"
    assert "validation=0" in str(single.value) and "--" not in str(single.value)  # the CLI renders the flag


def test_no_validation_and_fractions_out_of_range() -> None:
    train, val = split_validation(["a", "b", "c"], 0)
    assert list(train) == [0, 1, 2] and len(val) == 0
    with pytest.raises(ClassifierError, match="between 0 and 1"):
        split_validation(["a", "b"], 1.5)
