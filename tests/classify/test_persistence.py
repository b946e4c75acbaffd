"""The saved format: two files, no pickle, and classifiers saved by earlier versions load unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import semsearch
from semsearch.classify import CONFIG_FILE, WEIGHTS_FILE, Classifier, Features, saved_fingerprint
from semsearch.classify.persistence import ClassifierConfig, fingerprint, read
from semsearch.encoder import Encoder
from semsearch.errors import ClassifierError
from semsearch.models import weights_sha256
from semsearch.types import Precision

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V0_1 = FIXTURES / "classifier-v0.1"  # saved before semsearch.classify became a subpackage; see its make.py
EXPECTED = json.loads((V0_1 / "expected.json").read_text()) if (V0_1 / "expected.json").is_file() else {}


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


def test_damaged_or_missing_files_are_refused_in_plain_words(frozen: Path, tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="no classifier at") as missing:
        read(tmp_path / "nothing")
    assert "--" not in str(missing.value) and "semsearch classifier" not in str(missing.value)
    damaged = tmp_path / "damaged"
    shutil.copytree(frozen, damaged)
    config = json.loads((damaged / CONFIG_FILE).read_text())
    del config["weights_sha256"]  # as earlier versions saved it: the weights are not checked by hash
    (damaged / CONFIG_FILE).write_text(json.dumps(config))
    (damaged / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ClassifierError, match="head.safetensors is damaged"):
        Classifier.load(damaged)
    assert saved_fingerprint(damaged) is None  # a damaged copy counts as another classifier
    (damaged / CONFIG_FILE).write_text("{")
    with pytest.raises(ClassifierError, match="is damaged"):
        Classifier.load(damaged)


def test_saved_fingerprint_reads_no_model(frozen: Path, tmp_path: Path) -> None:
    assert saved_fingerprint(frozen) == Classifier.load(frozen).fingerprint
    assert saved_fingerprint(tmp_path) is None
    config, tensors = read(frozen)
    assert fingerprint(tensors, config) == saved_fingerprint(frozen)
    assert ClassifierConfig.from_json(config.to_json(), frozen / CONFIG_FILE) == config


# -- classifiers saved by semsearch 0.1 (tests/fixtures/classifier-v0.1) ---------------------------------


@pytest.fixture(scope="module")
def fp32_default() -> Encoder:
    return Encoder(precision=Precision.FP32)


@pytest.mark.parametrize("name", ["dense", "hybrid", "finetuned"])
def test_an_old_classifier_keeps_its_fingerprint_and_saves_the_same_files(name: str, tmp_path: Path) -> None:
    """Indexes stamp labels with the fingerprint: it must not move, or every index would relabel."""
    directory = V0_1 / name
    assert saved_fingerprint(directory) == EXPECTED[name]["fingerprint"]
    loaded = Classifier.load(directory)  # no model loaded: the encoder is loaded on first use
    assert loaded.fingerprint == EXPECTED[name]["fingerprint"]
    loaded.save(tmp_path / name)
    for file in (CONFIG_FILE, WEIGHTS_FILE):
        assert (tmp_path / name / file).read_bytes() == (directory / file).read_bytes(), file


@pytest.mark.parametrize("name", ["dense", "hybrid"])
def test_an_old_frozen_classifier_gives_the_same_probabilities(name: str, fp32_default: Encoder) -> None:
    expected = EXPECTED[name]
    loaded = Classifier.load(V0_1 / name, encoder=fp32_default)
    vectors = load_file(str(V0_1 / "probe_vectors.safetensors"))[name]
    # From the saved vectors: the same to the last bits a CPU's own BLAS kernels round differently (AVX2 and
    # AVX-512 differ by 1e-16)
    np.testing.assert_allclose(
        loaded.proba_from_vectors(vectors, EXPECTED["probe"]), expected["proba_from_vectors"], rtol=0, atol=1e-12
    )
    proba = loaded.predict_proba(EXPECTED["probe"])  # encodes: the same up to the machine's arithmetic
    np.testing.assert_allclose(proba, expected["predict_proba"], rtol=0, atol=1e-6)
    assert loaded.predict(EXPECTED["probe"]) == expected["predict"]
    assert loaded.features is Features(name)


def test_an_old_finetuned_classifier_gives_the_same_probabilities(tiny_model: Path, tmp_path: Path) -> None:
    expected = EXPECTED["finetuned"]
    assert weights_sha256(tiny_model) == expected["tiny_model_sha256"], (
        "the tiny test model is not the one it was trained on"
    )
    tiny = Encoder(tiny_model, precision=Precision.FP32)
    loaded = Classifier.load(V0_1 / "finetuned", encoder=tiny)
    np.testing.assert_allclose(loaded.predict_proba(EXPECTED["probe"]), expected["predict_proba"], rtol=0, atol=1e-6)
    assert loaded.predict(EXPECTED["probe"]) == expected["predict"]
    assert loaded.fingerprint == expected["fingerprint"]  # the same once its layers are rebuilt
    loaded.save(tmp_path / "again")
    assert (tmp_path / "again" / WEIGHTS_FILE).read_bytes() == (V0_1 / "finetuned" / WEIGHTS_FILE).read_bytes()


def test_the_classifier_an_old_index_installed_still_stamps_its_labels(tmp_path: Path) -> None:
    """tests/fixtures/index-v0.1 holds labels stamped by its dense classifier's fingerprint at the time."""
    index_dir = tmp_path / "index"
    shutil.copytree(FIXTURES / "index-v0.1", index_dir)
    stamps = set(semsearch.open(index_dir).store.scan(["sys_label_by"], "chunk = 0")["sys_label_by"].to_pylist())
    installed = index_dir / "classifier"
    assert stamps == {saved_fingerprint(installed)} == {Classifier.load(installed).fingerprint}
