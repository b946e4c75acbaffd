"""The classifier head: fit/predict/save/load, labelled data, and predicted labels in an index."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import write_jsonl

import semsearch
from semsearch.chunking import DEFAULT_OVERLAP, DEFAULT_WINDOW
from semsearch.classify import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    Classifier,
    Features,
    Hashing,
    TrainOptions,
    Window,
    classification_scores,
    encode_texts,
    load_labelled,
    pool_windows,
    saved_fingerprint,
    split_validation,
)
from semsearch.cli import main
from semsearch.encoder import Encoder
from semsearch.errors import BadRecordError, ClassifierError, FilterError, IncompatibleEncoderError
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import CLASSIFIER_DIR
from semsearch.types import Pooling, Precision

VOCAB = {
    "space": ["orbit", "rocket", "shuttle", "launch", "nasa", "moon", "satellite", "astronaut", "planet", "telescope"],
    "medicine": [
        "doctor",
        "patient",
        "disease",
        "symptom",
        "treatment",
        "drug",
        "vaccine",
        "clinic",
        "therapy",
        "infection",
    ],
    "hockey": ["puck", "goalie", "skate", "stick", "rink", "penalty", "playoff", "coach", "referee", "period"],
}


def texts_of(topic: str, count: int, seed: int, words: int = 12) -> list[str]:
    rng = random.Random(f"{topic}{seed}")
    return [" ".join(rng.choice(VOCAB[topic]) for _ in range(words)) for _ in range(count)]


def dataset(count: int, seed: int) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for topic in VOCAB:
        texts += texts_of(topic, count, seed)
        labels += [topic] * count
    return texts, labels


@pytest.fixture(scope="module")
def tiny_encoder(tiny_model: Path) -> Encoder:
    return Encoder(tiny_model)


@pytest.fixture(scope="module")
def frozen(tiny_encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = dataset(30, seed=0)
    options = TrainOptions(features=Features.DENSE, progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    return trained.save(tmp_path_factory.mktemp("clf") / "frozen")


def test_frozen_head_vectors_are_the_indexs_own(tiny_encoder: Encoder) -> None:
    """At any precision (the default may be int8) a frozen head sees exactly the stored vectors."""
    texts = ["short text", " ".join(["long"] * 300), "another one"]
    encoded = encode_texts(tiny_encoder, texts, first_only=False, overlap=8, progress=False)
    windows = [c.input_ids for c in tiny_encoder.chunks(texts, 8)]
    np.testing.assert_array_equal(encoded.vectors, tiny_encoder.encode_ids(windows))
    assert encoded.states is None


def test_window_vectors_are_the_encoders_own(tiny_model: Path) -> None:
    """The fine-tuning path runs the torch layers itself; in fp32 it must agree with the encoder."""
    tiny_encoder = Encoder(tiny_model, precision=Precision.FP32)
    texts = ["short text", " ".join(["long"] * 300), "another one"]
    encoded = encode_texts(tiny_encoder, texts, first_only=False, overlap=8, state_layer=1, progress=False)
    windows = [c.input_ids for c in tiny_encoder.chunks(texts, 8)]
    np.testing.assert_allclose(encoded.vectors, tiny_encoder.encode_ids(windows), atol=1e-6)
    assert encoded.count == 3 and len(encoded.vectors) > 3  # the long text has several windows
    assert [s.shape[0] for s in encoded.states] == [len(windows[0]), tiny_encoder.max_length, len(windows[-1])]
    first = pool_windows(encoded.doc_index, encoded.vectors, 3, Window.FIRST)
    np.testing.assert_allclose(first[1], encoded.vectors[1])
    mean = pool_windows(encoded.doc_index, encoded.vectors, 3, Window.MEAN)
    assert np.allclose(np.linalg.norm(mean, axis=1), 1.0) and not np.allclose(mean[1], first[1])


def test_frozen_head_learns_and_round_trips_without_pickle(frozen: Path, tiny_encoder: Encoder) -> None:
    assert sorted(p.name for p in frozen.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    loaded = Classifier.load(frozen)
    config = json.loads((frozen / CONFIG_FILE).read_text())
    assert config["labels"] == ["hockey", "medicine", "space"]
    assert config["encoder"]["model"]["sha256"] == tiny_encoder.identity.sha256 and config["finetune_layers"] == 0
    held_out, truth = dataset(10, seed=1)
    assert classification_scores(truth, loaded.predict(held_out), loaded.classes_.tolist()).accuracy >= 0.9
    proba = loaded.predict_proba(held_out[:4])
    assert proba.shape == (4, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(loaded.classes_[proba.argmax(axis=1)]) == loaded.predict(held_out[:4])


def test_a_classifier_refuses_another_encoder(frozen: Path, tiny_model: Path) -> None:
    with pytest.raises(IncompatibleEncoderError, match="cls pooling"):
        Classifier.load(frozen, encoder=Encoder(tiny_model, Pooling.CLS))
    with pytest.raises(ClassifierError, match="no classifier at"):
        Classifier.load(frozen.parent / "missing")


def test_finetuning_top_layers_trains_and_saves_only_those(tiny_encoder: Encoder, tmp_path: Path) -> None:
    texts, labels = dataset(20, seed=2)
    options = TrainOptions(finetune_layers=1, epochs=6, batch_size=8, layer_lr=1e-3, head_lr=3e-2, progress=False)
    tuned = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels, validation=dataset(5, seed=3))
    losses = tuned.config.training["train_loss"]
    assert losses[-1] < losses[0]
    assert tuned.config.training["validation"]["accuracy"] >= 0.8  # chance: 0.33
    tuned.save(tmp_path / "tuned")
    from safetensors.numpy import load_file

    keys = load_file(str(tmp_path / "tuned" / WEIGHTS_FILE)).keys()
    assert {k.split(".")[1] for k in keys if k.startswith("layers.")} == {"0"}  # one tuned layer, not the body
    loaded = Classifier.load(tmp_path / "tuned")
    assert not loaded.uses_vectors and loaded.fingerprint == tuned.fingerprint
    np.testing.assert_allclose(loaded.predict_proba(texts[:5]), tuned.predict_proba(texts[:5]), atol=1e-5)

    # in an index, a fine-tuned classifier labels each document from its text
    rows = corpus(3, seed=4)
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    options = IndexOptions(model=str(tiny_encoder.root), progress=False, classifier=tmp_path / "tuned")
    build_index(source, tmp_path / "idx", options)
    stored = predicted(semsearch.open(tmp_path / "idx"))
    want = loaded.predict([r["text"] for r in rows])
    assert [stored[r["id"]][0] for r in rows] == want


def test_labelled_data_needs_no_id_and_names_bad_records(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("title,text,label\nT,first text,a\n,second text,b\n,third text,\n", encoding="utf-8")
    with pytest.raises(BadRecordError, match=r"data.csv:4: field 'label': missing label"):
        load_labelled(data)
    examples = load_labelled(data, skip_bad=True)
    assert examples.texts == ["T first text", "second text"] and examples.labels == ["a", "b"]
    assert examples.skipped == 1


def test_validation_split_is_stratified_and_fixed() -> None:
    labels = ["a"] * 40 + ["b"] * 20
    train, val = split_validation(labels, 0.25)
    assert len(val) == 15 and sorted([labels[i] for i in val]).count("b") == 5
    assert set(train).isdisjoint(val) and len(train) + len(val) == 60
    assert list(split_validation(labels, 0.25)[1]) == list(val)
    with pytest.raises(ClassifierError, match="'c' have a single example"):
        split_validation([*labels, "c"], 0.25)


def corpus(count: int, seed: int) -> list[dict]:
    """20 Newsgroups-like records: their own metadata is called `label` (an int) and `label_name`."""
    rows = []
    for number, topic in enumerate(VOCAB):
        for i, text in enumerate(texts_of(topic, count, seed, words=20)):
            rows.append({"id": f"{topic}/{i}", "text": text, "label": number, "label_name": topic})
    return rows


def predicted(index: semsearch.Index) -> dict[str, tuple[str, float]]:
    rows = index.store.scan(["doc_id", "sys_label", "sys_label_prob"], "chunk = 0")
    return {d: (label, prob) for d, label, prob in zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True)}


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


def test_a_default_classifier_reads_the_vectors_of_a_default_index() -> None:
    encoder = Encoder()  # the default model reads 256 tokens; a new index cuts 128
    texts, labels = dataset(10, seed=3)
    options = TrainOptions(features=Features.DENSE, progress=False)
    classifier = Classifier(encoder=encoder, options=options).fit(texts, labels)
    assert encoder.max_length == 256 and classifier.trained_window == DEFAULT_WINDOW == 128
    assert classifier.reads_vectors_cut_as(DEFAULT_WINDOW, DEFAULT_OVERLAP)
    assert not classifier.reads_vectors_cut_as(256, DEFAULT_OVERLAP)
    tuned = Classifier(encoder=encoder, options=TrainOptions(finetune_layers=1, progress=False))
    assert tuned._training_window(finetuned=True) == 256  # it encodes every text itself: all the model reads


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


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_train_eval_index_and_search(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = dataset(20, seed=10)
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "topic": y} for t, y in zip(texts, labels, strict=True)])
    code, out, err = run(
        "classifier", "train", data, "--out", tmp_path / "clf", "--label-field", "topic", "--model", tiny_model,
        "--validation", "0.2", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["labels"] == ["hockey", "medicine", "space"] and report["validation"]["examples"] == 12
    test_texts, test_labels = dataset(8, seed=11)
    test = write_jsonl(
        tmp_path / "test.jsonl", [{"text": t, "topic": y} for t, y in zip(test_texts, test_labels, strict=True)]
    )
    png = tmp_path / "cm.png"
    code, out, err = run(
        "classifier", "eval", tmp_path / "clf", test, "--label-field", "topic", "--plot", png, "--json"
    )
    assert code == 0, err
    scores = json.loads(out)
    assert scores["accuracy"] >= 0.9 and scores["macro_f1"] >= 0.9 and scores["examples"] == 24
    assert set(scores["per_class"]["space"]) >= {"precision", "recall"} and len(scores["confusion_matrix"]) == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    source = write_jsonl(tmp_path / "c.jsonl", corpus(6, seed=12))
    code, out, err = run(
        "index", source, "--index", tmp_path / "idx", "--model", tiny_model, "--classifier", tmp_path / "clf"
    )
    assert code == 0, err
    code, out, err = run("search", "goalie", "--index", tmp_path / "idx", "--label", "hockey", "-k", "4", "--json")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    labels_by_id = predicted(semsearch.open(tmp_path / "idx"))
    assert len(hits) == 4 and all(labels_by_id[h["id"]][0] == "hockey" for h in hits)
    code, _, err = run("search", "x", "--index", tmp_path / "idx", "--label", "hockey", "--min-prob", "2")
    assert code == 1 and "--min-prob 2.0: must be between 0 and 1" in err  # the flag, not the parameter
    code, _, err = run("classifier", "eval", tmp_path / "nothing", test)
    assert code == 1 and err.startswith("error: no classifier at") and err.count("\n") == 1


# -- the hybrid frozen head: pooled vector + hashed TF-IDF of the whole text ----------------------------

FILLER = ["report", "today", "people", "said", "about", "which", "there", "later", "several", "group"]


def late_topic(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts whose topic words come after 150 neutral words: past the tiny encoder's window, so only
    a head that reads the whole text's words can tell the topics apart."""
    texts, labels = [], []
    for topic in VOCAB:
        rng = random.Random(f"late{topic}{seed}")
        for _ in range(count):
            filler = " ".join(rng.choice(FILLER) for _ in range(150))
            texts.append(filler + " " + " ".join(rng.choice(VOCAB[topic]) for _ in range(5)))
            labels.append(topic)
    return texts, labels


@pytest.fixture(scope="module")
def hybrid(tiny_encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = late_topic(20, seed=0)
    options = TrainOptions(features=Features.HYBRID, progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    return trained.save(tmp_path_factory.mktemp("clf") / "hybrid")


def test_hybrid_head_reads_words_past_the_window(tiny_encoder: Encoder, hybrid: Path) -> None:
    assert tiny_encoder.chunks(late_topic(1, seed=1)[0][:1], 8)[-1].number > 0  # several windows per text
    train, train_labels = late_topic(20, seed=0)
    held_out, truth = late_topic(10, seed=1)
    options = TrainOptions(features=Features.DENSE, progress=False)
    dense = Classifier(encoder=tiny_encoder, options=options).fit(train, train_labels)
    loaded = Classifier.load(hybrid)
    assert loaded.features is Features.HYBRID and loaded.uses_vectors
    assert classification_scores(truth, dense.predict(held_out), dense.classes_.tolist()).accuracy < 0.7
    assert classification_scores(truth, loaded.predict(held_out), loaded.classes_.tolist()).accuracy >= 0.9
    report = loaded.config.training
    assert report["dense_weight"] in TrainOptions().dense_weights and report["c"] in TrainOptions().hybrid_c_grid
    assert 0 < report["lexical_columns"] < TrainOptions().hashing.n_features


def test_hybrid_head_round_trips_exactly_without_pickle(tiny_encoder: Encoder, tmp_path: Path) -> None:
    texts, labels = late_topic(10, seed=2)
    options = TrainOptions(features=Features.HYBRID, hybrid_c_grid=(1.0,), dense_weights=(0.5,), progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    trained.save(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    config = json.loads((tmp_path / "clf" / CONFIG_FILE).read_text())
    assert config["format"] == 2 and config["lexical"] == dataclasses.asdict(Hashing())
    from safetensors.numpy import load_file

    tensors = load_file(str(tmp_path / "clf" / WEIGHTS_FILE))
    columns = tensors["lexical.columns"]
    assert columns.dtype == np.int64 and np.all(np.diff(columns) > 0)
    assert tensors["lexical.idf"].shape == columns.shape and tensors["lexical.weight"].shape == (3, len(columns))
    report = trained.config.training
    assert (report["c"], report["dense_weight"]) == (1.0, 0.5) and report["temperature"] != 1.0  # fitted on CV

    loaded = Classifier.load(tmp_path / "clf", encoder=tiny_encoder)
    probe = late_topic(4, seed=3)[0] + ["nothing here is known", "orbit"]
    np.testing.assert_array_equal(loaded.predict_proba(probe), trained.predict_proba(probe))
    assert loaded.fingerprint == trained.fingerprint
    vectors = encode_texts(tiny_encoder, probe, first_only=True, progress=False).pooled(Window.FIRST)
    with pytest.raises(ClassifierError, match="needs each text beside its vector"):
        loaded.proba_from_vectors(vectors)
    np.testing.assert_array_equal(loaded.proba_from_vectors(vectors, probe), trained.predict_proba(probe))

    # another hashing setting is another classifier: its fingerprint (the index's relabelling cue) moves
    config["lexical"]["lowercase"] = False
    (tmp_path / "clf" / CONFIG_FILE).write_text(json.dumps(config))
    changed = Classifier.load(tmp_path / "clf")
    assert changed.fingerprint != trained.fingerprint
    assert saved_fingerprint(tmp_path / "clf") == changed.fingerprint
    config["format"] = 3
    (tmp_path / "clf" / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ClassifierError, match="classifier format 3, this semsearch reads 1, 2"):
        Classifier.load(tmp_path / "clf")


def test_hybrid_head_with_two_labels(tiny_encoder: Encoder) -> None:
    """A binary SVM has one margin; the head still gives one probability per label."""
    texts, labels = late_topic(12, seed=7)
    texts, labels = texts[12:], labels[12:]  # medicine and hockey
    trained = Classifier(encoder=tiny_encoder, options=TrainOptions(progress=False)).fit(texts, labels)
    held_out, truth = late_topic(5, seed=8)
    proba = trained.predict_proba(held_out[5:])
    assert proba.shape == (10, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert trained.predict(held_out[5:]) == truth[5:] and trained.config.features is Features.HYBRID


def test_a_dense_head_is_still_written_in_format_1(frozen: Path) -> None:
    """Nothing changed for a dense head, so older versions keep reading it and its fingerprint holds."""
    config = json.loads((frozen / CONFIG_FILE).read_text())
    assert config["format"] == 1 and "lexical" not in config
    assert Classifier.load(frozen).features is Features.DENSE


def test_weights_from_another_save_are_refused(frozen: Path, hybrid: Path, tmp_path: Path) -> None:
    """What a save interrupted between its two files leaves: one classifier's config, another's weights."""
    mixed = tmp_path / "mixed"
    shutil.copytree(frozen, mixed)
    shutil.copy(hybrid / WEIGHTS_FILE, mixed / WEIGHTS_FILE)
    with pytest.raises(ClassifierError, match="not the one classifier.json was saved with"):
        Classifier.load(mixed)
    shutil.copy(frozen / WEIGHTS_FILE, mixed / WEIGHTS_FILE)
    assert Classifier.load(mixed).fingerprint == Classifier.load(frozen).fingerprint


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


def test_cli_train_features_flag(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = late_topic(8, seed=6)
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "topic": y} for t, y in zip(texts, labels, strict=True)])
    common = ["--label-field", "topic", "--model", tiny_model, "--validation", "0.25", "--json"]
    code, out, err = run("classifier", "train", data, "--out", tmp_path / "hybrid", "--features", "hybrid", *common)
    assert code == 0, err
    report = json.loads(out)
    assert report["mode"] == "frozen, first window, hybrid features" and report["lexical_columns"] > 0
    assert json.loads((tmp_path / "hybrid" / CONFIG_FILE).read_text())["lexical"]["ngram_max"] == 2
    code, out, err = run("classifier", "train", data, "--out", tmp_path / "dense", "--features", "dense", *common)
    assert code == 0, err
    assert "lexical" not in json.loads((tmp_path / "dense" / CONFIG_FILE).read_text())
    assert json.loads(out)["mode"] == "frozen, first window, dense features"
    code, _, err = run("classifier", "train", data, "--out", tmp_path / "x", "--features", "hybrid", "--finetune")
    assert code == 2 and "--features hybrid is for the frozen head" in err and not (tmp_path / "x").exists()
