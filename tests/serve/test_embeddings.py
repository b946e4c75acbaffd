"""POST /v1/embeddings through the official ``openai`` client: base64 (the client's default) and floats,
token counts, the model list, and its errors as the client raises them."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import openai
import pytest

import semsearch

TEXTS = ["Vitamin D and infection", "gene expression in cancer cells", "a third, longer text " * 20]


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="not-needed", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def model_id(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


def test_the_model_list_names_the_indexes_model(client: openai.OpenAI, tiny_model: Path) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == [tiny_model.name]  # two indexes, one model: listed once
    assert client.models.retrieve(models[0].id).id == models[0].id


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_embeddings_are_the_encoders_vectors(client: openai.OpenAI, model_id: str, tiny_index: Path,
                                             encoding_format: str | None) -> None:  # fmt: skip
    options = {} if encoding_format is None else {"encoding_format": encoding_format}
    response = client.embeddings.create(model=model_id, input=TEXTS, **options)
    encoder = semsearch.open(tiny_index).encoder
    expected = encoder.encode(TEXTS)
    assert [item.index for item in response.data] == [0, 1, 2]
    if encoding_format == "base64":  # asked for explicitly, the client hands the string over as it came
        got = np.stack([np.frombuffer(base64.b64decode(item.embedding), dtype="<f4") for item in response.data])
    else:
        got = np.array([item.embedding for item in response.data], dtype=np.float32)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    tokens = sum(len(ids) for ids in encoder.token_ids(TEXTS))
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens
    assert response.model == model_id


def test_one_text_and_index_names_as_model(client: openai.OpenAI, tiny_index: Path) -> None:
    response = client.embeddings.create(model="again", input="vitamin D")
    assert len(response.data) == 1
    expected = semsearch.open(tiny_index).encoder.encode(["vitamin D"])[0]
    np.testing.assert_allclose(response.data[0].embedding, expected, rtol=1e-5, atol=1e-6)


def test_errors_reach_the_client_with_their_message(client: openai.OpenAI, model_id: str) -> None:
    with pytest.raises(openai.NotFoundError, match="no model"):
        client.embeddings.create(model="text-embedding-3-small", input=["x"])
    with pytest.raises(openai.BadRequestError, match="over the limit of 256"):
        client.embeddings.create(model=model_id, input=["x"] * 257)
    with pytest.raises(openai.BadRequestError, match="token arrays"):
        client.embeddings.create(model=model_id, input=[[101, 2000, 102]])
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.embeddings.create(model=model_id, input=[""])
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model=model_id, input=["x"], dimensions=7)
    with pytest.raises(openai.BadRequestError, match="characters"):
        client.embeddings.create(model=model_id, input=["word " * 5000])
