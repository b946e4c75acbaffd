"""Training options, and what importing the light modules of the classifier costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semsearch.classify import Features, TrainOptions, Window, WindowPooling
from semsearch.classify.options import HeadKind
from semsearch.errors import OptionError

ROOT = Path(__file__).resolve().parents[2]


def test_features_default_to_hybrid_for_a_frozen_head_and_dense_for_a_finetuned_one() -> None:
    assert TrainOptions().features is None
    assert TrainOptions().effective_features is Features.HYBRID and TrainOptions().head_kind is HeadKind.HYBRID
    dense = TrainOptions(features=Features.DENSE)
    assert dense.effective_features is Features.DENSE and dense.head_kind is HeadKind.DENSE
    tuned = TrainOptions(finetune_layers=2)
    assert tuned.effective_features is Features.DENSE and tuned.head_kind is HeadKind.FINETUNED
    assert TrainOptions(finetune_layers=2, features=Features.DENSE).head_kind is HeadKind.FINETUNED


def test_hybrid_features_are_for_a_frozen_head_only() -> None:
    with pytest.raises(OptionError, match="features='hybrid': is for a frozen head") as refused:
        TrainOptions(finetune_layers=1, features=Features.HYBRID)
    assert refused.value.option == "features" and "--" not in str(refused.value)
    from dataclasses import replace

    with pytest.raises(OptionError):
        replace(TrainOptions(features=Features.HYBRID), finetune_layers=1)


def test_the_training_window_is_an_indexs_for_a_frozen_head_and_the_models_for_a_finetuned_one() -> None:
    assert TrainOptions().training_window(256) == 128  # as a new index cuts
    assert TrainOptions(finetune_layers=1).training_window(256) == 256  # all the model reads
    assert TrainOptions(max_length=64, finetune_layers=1).training_window(256) == 64


def test_window_pooling_keeps_its_earlier_name() -> None:
    assert Window is WindowPooling and WindowPooling("mean") is Window.MEAN


def imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in ('torch', 'sklearn', 'scipy', 'transformers') if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import semsearch.classify",
        "from semsearch.classify import TrainOptions, Features, WindowPooling, Hashing, CONFIG_FILE, saved_fingerprint",
        "import semsearch.classify.options",
        "import semsearch.classify.persistence",
        "from semsearch.classify.options import TrainOptions\nTrainOptions(finetune_layers=2).head_kind",
    ],
)
def test_the_light_modules_import_neither_torch_nor_scikit_learn(code: str) -> None:
    assert imported_after(code) == []


def test_the_package_exports_every_name_it_did() -> None:
    import semsearch.classify as package

    before = {
        "Classifier", "TrainOptions", "Features", "Window", "Hashing", "LexicalFeatures", "ClassifierConfig",
        "Encoded", "classification_scores", "encode_texts", "load_labelled", "plot_confusion", "pool_windows",
        "saved_fingerprint", "split_validation", "CONFIG_FILE", "WEIGHTS_FILE", "Scores", "LabelledFile",
        "TrainReport", "EvalResult", "train", "evaluate",
    }  # fmt: skip
    assert before | {"WindowPooling"} <= set(package.__all__)
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError):
        package.nothing  # noqa: B018
