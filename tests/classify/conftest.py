"""Classifiers trained once for all the classifier tests (on the tiny random BERT: seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from classify.samples import dataset, late_topic

from semsearch.classify import Classifier, Features, TrainOptions
from semsearch.encoder import Encoder


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model: Path) -> Encoder:
    return Encoder(tiny_model)


@pytest.fixture(scope="session")
def frozen(tiny_encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense frozen head, saved."""
    texts, labels = dataset(30, seed=0)
    options = TrainOptions(features=Features.DENSE, progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    return trained.save(tmp_path_factory.mktemp("clf") / "frozen")


@pytest.fixture(scope="session")
def hybrid(tiny_encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hybrid frozen head, saved, trained on texts whose topic words lie past the encoder's window."""
    texts, labels = late_topic(20, seed=0)
    options = TrainOptions(features=Features.HYBRID, progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    return trained.save(tmp_path_factory.mktemp("clf") / "hybrid")


@pytest.fixture(scope="session")
def tuned(tiny_encoder: Encoder) -> Classifier:
    """A fine-tuned head (one top layer), with a held-out report; not saved."""
    texts, labels = dataset(20, seed=2)
    options = TrainOptions(finetune_layers=1, epochs=6, batch_size=8, layer_lr=1e-3, head_lr=3e-2, progress=False)
    return Classifier(encoder=tiny_encoder, options=options).fit(texts, labels, validation=dataset(5, seed=3))
