"""``POST /v1/embeddings`` and ``GET /v1/models`` as the OpenAI API has them, over the indexes' encoders.

The official ``openai`` client works against it with ``base_url`` pointed at the server. Vectors are the
library's own (:meth:`semsearch.encoder.Encoder.encode`: L2-normalised float32), as floats or, as the client
asks by default, base64 of their little-endian float32 bytes. Token counts are the model's own tokenizer's
(special tokens included). Token arrays as input are refused: they would be another tokenizer's ids.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from semsearch.serve.errors import ApiError, out_of_range
from semsearch.serve.limits import Limits
from semsearch.serve.registry import Registry

CREATED = 0  # models carry no creation time here


class EmbeddingsRequest(BaseModel):
    """The OpenAI embeddings request. ``model``: an id from ``GET /v1/models`` or an index's name
    (omitted: the first index's model)."""

    # strict as every JSON body is ("dimensions": "384" is refused); unknown names are ignored, not refused:
    # OpenAI's clients send fields of their own
    model_config = ConfigDict(extra="ignore", strict=True)

    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A text or a list of texts (token arrays are refused: they would be another tokenizer's)."
    )
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, description="Accepted only when it is the model's own.")
    user: str | None = None


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class ModelItem(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = CREATED
    owned_by: str = "semsearch"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelItem]


def checked_texts(given: object, limits: Limits) -> list[str]:
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts:
        raise ApiError(400, "input: give a text or a non-empty list of texts", "invalid_request")
    if len(texts) > limits.max_embed_inputs:
        raise out_of_range(f"input: {len(texts)} texts, over the limit of {limits.max_embed_inputs} per request")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise ApiError(400, "input: token arrays are not supported; send the texts themselves", "invalid_request")
        if not text.strip():
            raise ApiError(400, f"input[{position}]: an empty text has no embedding", "invalid_request")
        if len(text) > limits.max_embed_chars:
            limit = limits.max_embed_chars
            raise out_of_range(f"input[{position}]: {len(text)} characters, over the limit of {limit}")
    return texts


def embed(registry: Registry, request: EmbeddingsRequest, limits: Limits) -> dict[str, Any]:
    """The OpenAI response for ``request`` (runs the encoder: call it off the event loop)."""
    texts = checked_texts(request.input, limits)
    model = registry.model(request.model)
    if request.dimensions is not None and request.dimensions != model.dim:
        raise ApiError(400, f"dimensions: {model.id} gives {model.dim}-dimensional vectors only", "invalid_request")
    encoder = model.encoder(registry)
    ids = encoder.token_ids(texts)
    vectors = encoder.encode_ids(ids)  # what Encoder.encode(texts) gives, with the token counts kept
    tokens = sum(len(row) for row in ids)
    if request.encoding_format == "base64":
        little = vectors.astype("<f4", copy=False)
        data = [{"object": "embedding", "index": i, "embedding": base64.b64encode(row.tobytes()).decode("ascii")}
                for i, row in enumerate(little)]  # fmt: skip
    else:
        data = [{"object": "embedding", "index": i, "embedding": row.tolist()} for i, row in enumerate(vectors)]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model.id, "usage": usage}


def models(registry: Registry) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": m.id, "object": "model", "created": CREATED, "owned_by": "semsearch"}
                                       for m in registry.models]}  # fmt: skip


def model_info(registry: Registry, model_id: str) -> dict[str, Any]:
    model = registry.model(model_id)
    return {"id": model.id, "object": "model", "created": CREATED, "owned_by": "semsearch"}


__all__ = ["EmbeddingsRequest", "EmbeddingsResponse", "ModelItem", "ModelList", "embed", "model_info", "models"]
