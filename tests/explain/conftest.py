"""A small index for explanations: a tiny random BERT, short windows so a document has several, fp32."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = [
    {"id": "vit", "text": "Vitamin D deficiency raises the risk of respiratory infections in older adults."},
    {
        "id": "flu",
        "text": "Influenza infections spread quickly; vitamin supplements did not prevent infected patients.",
    },
    {"id": "gene", "text": "Gene expression profiling of breast cancer cells reveals tumour subtypes."},
    {"id": "heart", "text": "Aspirin lowers the risk of a second heart attack in patients with angina."},
    {
        "id": "long",
        "text": "Bone density falls with age. Calcium intake was recorded for every participant. "
        "Later, the study measured vitamin D levels and respiratory infection rates over ten winters, "
        "finding that deficiency predicted infection. Statins were not studied.",
    },
    {"id": "stat", "text": "Statins and cholesterol in older adults: a randomised trial of dosing."},
]


@pytest.fixture(scope="session")
def explain_index(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """DOCS indexed with the tiny model in 16-token windows overlapping by 4 (the long text has several)."""
    import semsearch

    target = tmp_path_factory.mktemp("explain") / "idx"
    semsearch.index(DOCS, target, model=str(tiny_model), precision="fp32", window=16, overlap=4, progress=False)
    return target


@pytest.fixture(scope="session")
def cls_index(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """The same documents with CLS pooling."""
    import semsearch

    target = tmp_path_factory.mktemp("explain-cls") / "idx"
    semsearch.index(DOCS, target, model=str(tiny_model), precision="fp32", pooling="cls", window=16, overlap=4,
                    progress=False)  # fmt: skip
    return target
