"""The three heads: what each learns, how it is saved, and the small protocol the classifier drives them by."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from classify.samples import dataset, late_topic
from safetensors.numpy import load_file

from semsearch.classify import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    Classifier,
    Features,
    Hashing,
    TrainOptions,
    WindowPooling,
    classification_scores,
    encode_texts,
    saved_fingerprint,
)
from semsearch.classify.heads.base import FrozenHead, Head, softmax, two_rows_if_binary
from semsearch.classify.heads.cv import cv_split, temperature, two_columns_if_binary
from semsearch.classify.heads.dense import DenseHead
from semsearch.classify.heads.finetuned import FineTunedHead
from semsearch.classify.heads.hybrid import HybridHead
from semsearch.classify.options import HeadKind
from semsearch.encoder import Encoder
from semsearch.errors import ClassifierError

# -- the frozen dense head ----------------------------------------------------------------------------


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
    assert isinstance(loaded.head, DenseHead) and loaded.features is Features.DENSE


# -- the fine-tuned head ------------------------------------------------------------------------------


def test_finetuning_top_layers_trains_and_saves_only_those(tuned: Classifier, tmp_path: Path) -> None:
    losses = tuned.config.training["train_loss"]
    assert losses[-1] < losses[0]
    assert tuned.config.training["validation"]["accuracy"] >= 0.8  # chance: 0.33
    tuned.save(tmp_path / "tuned")
    keys = load_file(str(tmp_path / "tuned" / WEIGHTS_FILE)).keys()
    assert {k.split(".")[1] for k in keys if k.startswith("layers.")} == {"0"}  # one tuned layer, not the body
    loaded = Classifier.load(tmp_path / "tuned")
    assert not loaded.uses_vectors and loaded.fingerprint == tuned.fingerprint
    texts = dataset(20, seed=2)[0]
    np.testing.assert_allclose(loaded.predict_proba(texts[:5]), tuned.predict_proba(texts[:5]), atol=1e-5)
    assert isinstance(loaded.head, FineTunedHead) and loaded.config.head_kind is HeadKind.FINETUNED
    assert loaded.fingerprint == tuned.fingerprint  # rebuilding the layers on first use changes nothing


def test_a_finetuned_head_needs_the_texts_and_its_own_states(tuned: Classifier, tiny_encoder: Encoder) -> None:
    texts = dataset(2, seed=4)[0]
    with pytest.raises(ClassifierError, match="needs the texts, not the frozen vectors"):
        tuned.proba_from_vectors(np.zeros((len(texts), tiny_encoder.dim), dtype=np.float32))
    frozen_vectors = encode_texts(tiny_encoder, texts, first_only=True, progress=False)
    with pytest.raises(ClassifierError, match="fine-tuning needs states after layer 1"):
        tuned.predict_proba(frozen_vectors)
    states = encode_texts(tiny_encoder, texts, first_only=True, window=128, state_layer=1, progress=False)
    assert tuned.predict(states) == tuned.predict(texts)


# -- the hybrid head ----------------------------------------------------------------------------------


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
    assert isinstance(loaded.head, HybridHead)


def test_hybrid_head_round_trips_exactly_without_pickle(tiny_encoder: Encoder, tmp_path: Path) -> None:
    texts, labels = late_topic(10, seed=2)
    options = TrainOptions(features=Features.HYBRID, hybrid_c_grid=(1.0,), dense_weights=(0.5,), progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    trained.save(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    config = json.loads((tmp_path / "clf" / CONFIG_FILE).read_text())
    assert config["format"] == 2 and config["lexical"] == dataclasses.asdict(Hashing())
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
    vectors = encode_texts(tiny_encoder, probe, first_only=True, progress=False).pooled(WindowPooling.FIRST)
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


def test_a_hybrid_head_reads_the_texts_too(tiny_encoder: Encoder) -> None:
    texts, labels = late_topic(3, seed=9)
    encoded = encode_texts(tiny_encoder, texts, first_only=True, progress=False)
    encoded.texts = None
    with pytest.raises(ClassifierError, match="a hybrid head reads the texts too"):
        Classifier(encoder=tiny_encoder, options=TrainOptions(progress=False)).fit(encoded, labels)


# -- the protocol, driven without the classifier ------------------------------------------------------


@pytest.mark.parametrize("head_class", [DenseHead, HybridHead])
def test_a_frozen_head_fits_and_gives_probabilities_on_its_own(tiny_encoder: Encoder, head_class: type) -> None:
    texts, labels = late_topic(6, seed=10)
    y = np.array([sorted(set(labels)).index(label) for label in labels])
    encoded = encode_texts(tiny_encoder, texts, first_only=True, progress=False)
    head = head_class(WindowPooling.FIRST)
    assert isinstance(head, Head) and isinstance(head, FrozenHead)
    report: dict = {}
    head.fit(encoded, y, TrainOptions(), report)
    assert "c" in report
    proba = head.proba(encoded)
    assert proba.shape == (len(texts), 3) and proba.dtype == np.float64 and np.allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba, head.proba_from_vectors(encoded.pooled(WindowPooling.FIRST), texts))
    tensors = head.tensors()
    assert tensors["weight"].shape == (3, tiny_encoder.dim) and tensors["weight"].flags.c_contiguous
    assert {name for name in tensors if name.startswith("lexical.")} == (
        {"lexical.columns", "lexical.idf", "lexical.weight"} if head_class is HybridHead else set()
    )


def test_each_head_kind_has_its_own_class() -> None:
    assert {h.kind for h in (DenseHead, HybridHead, FineTunedHead)} == set(HeadKind)


def test_a_binary_linear_model_as_two_rows_gives_the_same_probability() -> None:
    rng = np.random.default_rng(0)
    weight, bias, x = rng.normal(size=(1, 4)), rng.normal(size=1), rng.normal(size=(5, 4))
    two_weight, two_bias = two_rows_if_binary(weight, bias)
    z = x @ weight.T + bias
    np.testing.assert_allclose(softmax(x @ two_weight.T + two_bias)[:, 1], 1 / (1 + np.exp(-z[:, 0])))
    np.testing.assert_allclose(softmax(two_columns_if_binary(z[:, 0]))[:, 1], 1 / (1 + np.exp(-z[:, 0])))
    three = rng.normal(size=(3, 4))
    assert two_rows_if_binary(three, bias)[0] is three  # more than two classes: unchanged


def test_cv_folds_fewer_for_rare_classes_and_none_for_singletons() -> None:
    assert cv_split(np.array([0, 0, 0, 1, 1, 1])).n_splits == 3
    assert cv_split(np.array([0, 0, 0, 1, 1])).n_splits == 2
    assert cv_split(np.array([0, 0, 1])) is None


def test_the_temperature_sharpens_margins_that_are_too_timid() -> None:
    y = np.array([0, 1] * 20)
    logits = np.column_stack([0.1 * (1 - 2 * y), 0.1 * (2 * y - 1)])  # always right, barely
    assert temperature(logits, y) > 10
