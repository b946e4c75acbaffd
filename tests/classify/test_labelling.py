"""Predicted labels in an index: labelled at indexing, filtered before top-k, relabelled when stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from classify.samples import corpus, dataset, late_topic, predicted, texts_of
from helpers import write_jsonl

import semsearch
from semsearch.classify import CONFIG_FILE, Classifier, TrainOptions, Window, encode_texts
from semsearch.encoder import Encoder
from semsearch.errors import FilterError, IncompatibleEncoderError
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import CLASSIFIER_DIR
from semsearch.types import Pooling


def test_index_with_classifier_filters_by_label_before_top_k(tmp_path: Path, tiny_model: Path, frozen: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus(12, seed=5))
    options = IndexOptions(model=str(tiny_model), progress=False, batch_docs=10, classifier=frozen)
    summary = build_index(source, tmp_path / "idx", options)
    assert summary.docs == 36 and (tmp_path / "idx" / CLASSIFIER_DIR / CONFIG_FILE).is_file()
    index = semsearch.open(tmp_path / "idx")
    labels = predicted(index)
    assert sum(label == doc_id.split("/")[0] for doc_id, (label, _) in labels.items()) >= 30
    medicine = {d for d, (label, _) in labels.items() if label == "medicine"}
    assert len(medicine) >= 10
    for mode in ("dense", "bm25", "hybrid"):
        # off topic for medicine: dense must dig below the space posts; BM25 matches only words it has
        query = "orbit rocket launch" + (" doctor patient clinic drug" if mode == "bm25" else "")
        hits = index.search(query, k=8, mode=mode, label="medicine").hits
        assert len(hits) == 8 and {h.id for h in hits} <= medicine, mode
    # the corpus's own `label` field is untouched metadata; predicted labels have reserved names
    assert {h.metadata["label"] for h in index.search("puck", k=50, where="label = 2").hits} == {2}
    assert index.condition(where="_label = 'space'").sql == index.condition(label="space").sql
    confident = {d for d, (label, prob) in labels.items() if label == "medicine" and prob >= 0.6}
    hits = index.search("doctor", k=40, mode="dense", label="medicine", min_prob=0.6).hits
    assert {h.id for h in hits} == confident
    with pytest.raises(FilterError, match="unknown label 'sci.med'.*hockey, medicine, space"):
        index.search("x", label="sci.med")


def test_stored_labels_are_the_classifiers_own_whatever_windows_the_index_cuts(
    tmp_path: Path, tiny_model: Path, tiny_encoder: Encoder, frozen: Path
) -> None:
    """The head was trained on the model's whole 128-token first windows; an index of 16-token windows
    holds other vectors, which the head never saw: it must label by encoding as Classifier.predict does."""
    rows = corpus(8, seed=7)
    for row in rows:
        row["text"] = "a note filed on a weekday, then " + row["text"]  # the first 16 tokens say nothing
    texts = [row["text"] for row in rows]
    classifier = Classifier.load(frozen)
    assert classifier.trained_window == 128 and not classifier.reads_vectors_cut_as(16, 4)
    short = encode_texts(tiny_encoder, texts, first_only=True, overlap=4, window=16, progress=False)
    from_short_vectors = classifier.proba_from_vectors(short.pooled(Window.FIRST)).argmax(axis=1)
    own = classifier.predict(texts)
    assert any(classifier.classes_[i] != label for i, label in zip(from_short_vectors, own, strict=True))

    options = IndexOptions(model=str(tiny_model), progress=False, window=16, overlap=4, classifier=frozen)
    build_index(write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "idx", options)
    labels = predicted(semsearch.open(tmp_path / "idx"))
    assert [labels[row["id"]][0] for row in rows] == own


def test_labels_follow_incremental_indexing_and_classifier_changes(
    tmp_path: Path, tiny_model: Path, tiny_encoder: Encoder, frozen: Path
) -> None:
    rows = corpus(5, seed=6)
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    options = IndexOptions(model=str(tiny_model), progress=False, batch_docs=4)
    build_index(source, tmp_path / "idx", options)  # no classifier yet: no labels
    with pytest.raises(FilterError, match="no predicted labels"):
        semsearch.open(tmp_path / "idx").search("x", label="space")
    with_classifier = IndexOptions(**{**options.__dict__, "classifier": frozen})
    first = build_index(source, tmp_path / "idx", with_classifier)
    assert (first.unchanged, first.encoded_docs, first.relabelled) == (15, 0, 15)  # labelled from stored vectors
    before = predicted(semsearch.open(tmp_path / "idx"))
    assert all(label for label, _ in before.values())

    rows[0]["text"] = texts_of("hockey", 1, seed=7, words=20)[0]  # a space post rewritten as hockey
    rows.append({"id": "new", "text": texts_of("medicine", 1, seed=8, words=20)[0], "label": 1, "label_name": "x"})
    again = build_index(write_jsonl(source, rows), tmp_path / "idx", options)  # the index keeps its classifier
    assert (again.added, again.updated, again.relabelled) == (1, 1, 0)
    after = predicted(semsearch.open(tmp_path / "idx"))
    assert after[rows[0]["id"]][0] == "hockey" and after["new"][0] == "medicine"

    flipped = Classifier(encoder=tiny_encoder, options=TrainOptions(progress=False))
    texts, labels = dataset(30, seed=0)
    flipped.fit(texts, [{"space": "medicine", "medicine": "space"}.get(label, label) for label in labels])
    flipped.save(tmp_path / "flipped")
    changed = build_index(
        source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "classifier": tmp_path / "flipped"})
    )
    assert changed.relabelled == 16 and changed.encoded_docs == 0
    relabelled = predicted(semsearch.open(tmp_path / "idx"))
    assert after["new"][0] == "medicine" and relabelled["new"][0] == "space"


def test_index_refuses_a_classifier_of_another_encoder(tmp_path: Path, tiny_model: Path, frozen: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus(2, seed=9))
    options = IndexOptions(model=str(tiny_model), pooling=Pooling.CLS, progress=False, classifier=frozen)
    with pytest.raises(IncompatibleEncoderError, match=r"but the index at .* uses model .* cls pooling"):
        build_index(source, tmp_path / "idx", options)
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_index_labelled_by_a_hybrid_head_from_stored_vectors_and_texts(
    tmp_path: Path, tiny_model: Path, hybrid: Path
) -> None:
    texts, topics = late_topic(6, seed=4)
    rows = [{"id": f"d{i}", "text": t, "topic": y} for i, (t, y) in enumerate(zip(texts, topics, strict=True))]
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    options = IndexOptions(model=str(tiny_model), progress=False, batch_docs=5)
    build_index(source, tmp_path / "idx", options)
    first = build_index(source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "classifier": hybrid}))
    assert (first.relabelled, first.encoded_docs) == (18, 0)  # labelled from the index, nothing encoded
    index = semsearch.open(tmp_path / "idx")
    labels = predicted(index)
    want = Classifier.load(hybrid).predict(texts)
    assert [labels[r["id"]][0] for r in rows] == want
    assert sum(label == topic for label, topic in zip(want, topics, strict=True)) >= 16  # words past the window

    rows.append({"id": "new", "text": late_topic(1, seed=5)[0][0], "topic": "space"})  # new: encoded, labelled
    again = build_index(write_jsonl(source, rows), tmp_path / "idx", options)  # the index keeps its classifier
    assert (again.added, again.encoded_docs, again.relabelled) == (1, 1, 0)
    index = semsearch.open(tmp_path / "idx")
    assert predicted(index)["new"][0] == "space"
    hockey = {d for d, (label, _) in predicted(index).items() if label == "hockey"}
    assert len(hockey) > 4
    for mode in ("dense", "bm25", "hybrid"):  # filtered before top-k: k hits, all with the label
        hits = index.search("orbit rocket report puck", k=4, mode=mode, label="hockey").hits
        assert len(hits) == 4 and {h.id for h in hits} <= hockey, mode


def test_a_finetuned_classifier_labels_each_document_from_its_text(
    tmp_path: Path, tiny_encoder: Encoder, tuned: Classifier
) -> None:
    tuned.save(tmp_path / "tuned")
    loaded = Classifier.load(tmp_path / "tuned")
    rows = corpus(3, seed=4)
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    options = IndexOptions(model=str(tiny_encoder.root), progress=False, classifier=tmp_path / "tuned")
    build_index(source, tmp_path / "idx", options)
    stored = predicted(semsearch.open(tmp_path / "idx"))
    want = loaded.predict([r["text"] for r in rows])
    assert [stored[r["id"]][0] for r in rows] == want
