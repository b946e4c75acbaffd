"""The Classifier facade: which head it trains, what it refuses, and which index vectors it can read."""

from __future__ import annotations

from pathlib import Path

import pytest
from classify.samples import dataset

from semsearch.chunking import DEFAULT_OVERLAP, DEFAULT_WINDOW
from semsearch.classify import Classifier, Features, TrainOptions, WindowPooling
from semsearch.classify.heads.dense import DenseHead
from semsearch.classify.heads.finetuned import FineTunedHead
from semsearch.classify.heads.hybrid import HybridHead
from semsearch.encoder import Encoder
from semsearch.errors import ClassifierError, IncompatibleEncoderError
from semsearch.types import Pooling


def test_a_classifier_refuses_another_encoder(frozen: Path, tiny_model: Path) -> None:
    with pytest.raises(IncompatibleEncoderError, match="cls pooling") as refused:
        Classifier.load(frozen, encoder=Encoder(tiny_model, Pooling.CLS))
    assert "train a classifier on that encoder" in str(refused.value) and "--" not in str(refused.value)
    with pytest.raises(ClassifierError, match="no classifier at"):
        Classifier.load(frozen.parent / "missing")
    loaded = Classifier.load(frozen)
    with pytest.raises(IncompatibleEncoderError, match="but the index at x uses"):
        loaded.use_encoder(Encoder(tiny_model, Pooling.CLS), "the index at x")


def test_a_default_classifier_reads_the_vectors_of_a_default_index() -> None:
    encoder = Encoder()  # the default model reads 256 tokens; a new index cuts 128
    texts, labels = dataset(10, seed=3)
    options = TrainOptions(features=Features.DENSE, progress=False)
    classifier = Classifier(encoder=encoder, options=options).fit(texts, labels)
    assert encoder.max_length == 256 and classifier.trained_window == DEFAULT_WINDOW == 128
    assert classifier.reads_vectors_cut_as(DEFAULT_WINDOW, DEFAULT_OVERLAP)
    assert not classifier.reads_vectors_cut_as(256, DEFAULT_OVERLAP)
    tuned = Classifier(encoder=encoder, options=TrainOptions(finetune_layers=1, progress=False))
    assert tuned.options.training_window(encoder.max_length) == 256  # it encodes every text itself: all the model reads


def test_the_options_say_which_head_is_trained(tiny_encoder: Encoder) -> None:
    texts, labels = dataset(6, seed=4)
    kinds = {
        DenseHead: TrainOptions(features=Features.DENSE, progress=False),
        HybridHead: TrainOptions(progress=False),
        FineTunedHead: TrainOptions(finetune_layers=1, epochs=1, progress=False),
    }
    for head_class, options in kinds.items():
        trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
        assert type(trained.head) is head_class and trained.config.head_kind is options.head_kind
        assert trained.predict(texts[:2]) == trained.predict(texts[:2]) and len(trained.predict(texts[:2])) == 2


def test_a_mean_window_head_reads_only_vectors_cut_with_its_overlap(tiny_encoder: Encoder) -> None:
    texts, labels = dataset(6, seed=5)
    options = TrainOptions(window=WindowPooling.MEAN, features=Features.DENSE, overlap=8, progress=False)
    trained = Classifier(encoder=tiny_encoder, options=options).fit(texts, labels)
    assert trained.config.window is WindowPooling.MEAN and trained.trained_window == 128
    assert trained.reads_vectors_cut_as(128, 8) and not trained.reads_vectors_cut_as(128, 16)
    first = Classifier(encoder=tiny_encoder, options=TrainOptions(features=Features.DENSE, progress=False))
    assert first.fit(texts, labels).reads_vectors_cut_as(128, 16)  # one window: its overlap does not matter


def test_what_fit_and_predict_refuse(tiny_encoder: Encoder) -> None:
    untrained = Classifier(encoder=tiny_encoder)
    for call in (lambda: untrained.predict(["x"]), lambda: untrained.fingerprint, lambda: untrained.classes_):
        with pytest.raises(ClassifierError, match="not trained yet"):
            call()
    with pytest.raises(ClassifierError, match="at least two distinct labels"):
        untrained.fit(["a", "b"], ["x", "x"])
    with pytest.raises(ClassifierError, match="differ in length"):
        untrained.fit(["a", "b", "c"], ["x", "y"])
    texts, labels = dataset(4, seed=6)
    trained = Classifier(encoder=tiny_encoder, options=TrainOptions(progress=False)).fit(texts, labels)
    with pytest.raises(ClassifierError, match="a list of texts, got one string"):
        trained.predict("one text")


def test_library_messages_name_no_command_line_flag() -> None:
    """The library says ``validation=0``; the CLI renders a Hint as ``--validation 0`` (semsearch.errors)."""
    import ast
    import re

    import semsearch.classify

    flag = re.compile(r"(^|[\s(`'])--[a-z]|semsearch classifier")
    package = Path(semsearch.classify.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
            if isinstance(text, str) and flag.search(text):
                found.append(f"{path.name}:{node.lineno}: {text!r}")
    assert not found
