"""Training again on a labelled file that grew encodes only its new texts, and gives the same classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from classify.samples import dataset
from helpers import write_jsonl

from semsearch.classify import LabelledFile, TrainOptions, encode_texts, train
from semsearch.classify.persistence import read
from semsearch.encoder import Encoder


@pytest.fixture
def counted(tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Windows the encoder is asked to encode, call by call."""
    calls: list[int] = []
    original = Encoder.encode_ids

    def encode_ids(self: Encoder, windows, progress=None):  # type: ignore[no-untyped-def]
        calls.append(len(windows))
        return original(self, windows, progress)

    monkeypatch.setattr(Encoder, "encode_ids", encode_ids)
    return calls


def test_cached_vectors_equal_fresh_ones_and_only_new_texts_are_encoded(
    tiny_encoder: Encoder, counted: list[int], tmp_path: Path
) -> None:
    texts, _ = dataset(4, seed=0)
    long_text = " ".join(["orbit rocket launch"] * 100)  # several windows
    fresh = encode_texts(tiny_encoder, [*texts, long_text], first_only=False, progress=False)
    counted.clear()
    first = encode_texts(tiny_encoder, [*texts, long_text], first_only=False, progress=False, cache=tmp_path)
    assert counted == [len(fresh.vectors)]
    np.testing.assert_allclose(first.vectors, fresh.vectors, atol=1e-6)
    assert np.array_equal(first.doc_index, fresh.doc_index)
    more, _ = dataset(2, seed=9)
    counted.clear()
    grown = encode_texts(tiny_encoder, [long_text, *texts, *more], first_only=False, progress=False, cache=tmp_path)
    assert sum(counted) == len(more)  # one window each, the rest read back
    np.testing.assert_allclose(grown.pooled(TrainOptions().window)[1:1 + len(texts)],
                               fresh.pooled(TrainOptions().window)[: len(texts)], atol=1e-6)  # fmt: skip
    assert grown.count == 1 + len(texts) + len(more) and grown.texts is not None and grown.texts[0] == long_text


def test_training_again_on_a_grown_file_is_cheap_and_the_same_seed_gives_the_same_head(
    tiny_model: Path, counted: list[int], tmp_path: Path
) -> None:
    texts, labels = dataset(12, seed=4)
    rows = [{"text": t, "topic": y} for t, y in zip(texts, labels, strict=True)]
    data = LabelledFile(write_jsonl(tmp_path / "a.jsonl", rows), label_field="topic")
    options = TrainOptions(progress=False, seed=3)
    cache = tmp_path / "cache"
    train(data, tmp_path / "one", str(tiny_model), options=options, validation=0.2, cache=cache)
    assert sum(counted) == len(texts)  # the training part, then the held-out part for the check
    counted.clear()
    train(data, tmp_path / "two", str(tiny_model), options=options, validation=0.2, cache=cache)
    assert counted == []  # nothing new: nothing encoded
    one, two = read(tmp_path / "one")[1], read(tmp_path / "two")[1]
    assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)
    extra, extra_labels = dataset(3, seed=5)
    grown = rows + [{"text": t, "topic": y} for t, y in zip(extra, extra_labels, strict=True)]
    counted.clear()
    train(LabelledFile(write_jsonl(tmp_path / "b.jsonl", grown), label_field="topic"), tmp_path / "three",
          str(tiny_model), options=options, validation=0.0, cache=cache)  # fmt: skip
    assert sum(counted) == len(extra)  # only the new texts
