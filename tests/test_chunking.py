"""Long documents become overlapping windows; short ones stay whole."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from transformers import AutoTokenizer

from semsearch.chunking import ChunkConfig, split, split_fast, window_tokenizer
from semsearch.models import default_model_dir


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_model_dir())


def test_short_text_is_one_window(tokenizer) -> None:
    (chunk,) = split(tokenizer, ["a short text"], ChunkConfig(max_length=32, overlap=4))
    assert chunk.doc == 0 and chunk.number == 0
    assert chunk.input_ids[0] == tokenizer.cls_token_id and chunk.input_ids[-1] == tokenizer.sep_token_id
    assert (chunk.start, chunk.end) == (0, len("a short text"))


def test_long_text_is_split_into_overlapping_windows_covering_everything(tokenizer) -> None:
    words = [f"w{i}" for i in range(200)]
    text = " ".join(words)
    config = ChunkConfig(max_length=32, overlap=8)
    chunks = split(tokenizer, ["short", text], config)
    long = [c for c in chunks if c.doc == 1]
    assert [c.number for c in long] == list(range(len(long)))
    assert len(long) > 5
    assert all(len(c.input_ids) <= 32 for c in long)
    body = [c.input_ids[1:-1] for c in long]
    for previous, current in itertools.pairwise(body):
        assert previous[-8:] == current[:8]  # consecutive windows share exactly `overlap` tokens
    assert long[0].start == 0 and long[-1].end == len(text)
    for previous, current in itertools.pairwise(long):
        assert current.start < previous.end  # spans overlap too
    all_tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    rebuilt = body[0] + [t for b in body[1:] for t in b[8:]]
    assert rebuilt == all_tokens  # nothing is lost between windows


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        ChunkConfig(max_length=32, overlap=20)
    with pytest.raises(ValueError):
        ChunkConfig(max_length=4, overlap=0)


@pytest.mark.parametrize(("window", "overlap"), [(128, 32), (32, 15), (16, 0)])
def test_the_tokenizers_library_cuts_the_same_windows_as_transformers(tokenizer, window: int, overlap: int) -> None:
    texts = [
        "",
        "short",
        "Ünïcödé — accents, CAPITALS and 1,234.5 numbers\ttabs\nnew lines\u00a0and\u200bodd spaces",
        "日本語のテキスト" * 20,
        " ".join(f"w{i}" for i in range(300)),
        "Vitamin D deficiency is associated with a higher risk of respiratory infections in children. " * 9,
    ]
    config = ChunkConfig(max_length=window, overlap=overlap)
    fast = split_fast(window_tokenizer(str(default_model_dir() / "tokenizer.json"), config), texts)
    assert fast == split(tokenizer, texts, config)
    assert max(c.number for c in fast) > 2  # the long texts gave several windows each


def test_the_encoder_cuts_windows_without_importing_transformers() -> None:
    code = (
        "import sys; from semsearch.encoder import Encoder; from semsearch.types import Precision; "
        "chunks = Encoder(precision=Precision.FP32).chunks(['a text ' * 200], 32, 128); "
        "assert len(chunks) > 1 and 'transformers' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
