"""The ray engine (a local Ray on 127.0.0.1, started by the tests): the same index as the local engine,
on a folder and on object storage, and a killed job that resumes to the exact document set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import semsearch
from semsearch.ingest import IndexOptions, build_index
from semsearch.types import Precision

ray = pytest.importorskip("ray", reason="the ray engine's tests need the distributed extra")
pytest.importorskip("lance_ray")

from semsearch.ingest.distributed import build_index_distributed, plan_cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "scifact-sample" / "corpus.jsonl"
COSINE = 0.999  # vectors of the two engines: the same windows, batched differently


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.open()][:100]


def options(**extra) -> IndexOptions:
    return IndexOptions(progress=False, precision=Precision.FP32, **extra)


def windows(directory) -> dict[str, list]:
    return {row["id"]: row for row in semsearch.open(directory).export(vectors=True)}


def test_the_cluster_plan_follows_what_the_cluster_has():
    assert plan_cluster({"CPU": 2}).actors == 1 and plan_cluster({"CPU": 2}).gpus_per_actor == 0
    gpu = plan_cluster({"CPU": 16, "GPU": 4})
    assert (gpu.actors, gpu.gpus_per_actor) == (4, 1.0)
    assert plan_cluster({"CPU": 16}).actors == 7


def test_the_ray_engine_builds_the_index_the_local_engine_builds(local_ray, docs, tmp_path):
    ray_summary = build_index_distributed(docs, tmp_path / "ray", options(), unit_docs=40)
    build_index(docs, tmp_path / "local", options())
    assert ray_summary.added == ray_summary.encoded_docs == len(docs)
    ours, theirs = windows(tmp_path / "ray"), windows(tmp_path / "local")
    assert sorted(ours) == sorted(theirs)
    worst = 1.0
    for doc_id, row in ours.items():
        other = theirs[doc_id]
        assert (row["text"], row["metadata"]) == (other["text"], other["metadata"])
        assert [(w["start"], w["end"]) for w in row["windows"]] == [(w["start"], w["end"]) for w in other["windows"]]
        for mine, local in zip(row["windows"], other["windows"], strict=True):
            worst = min(worst, float(np.dot(mine["vector"], local["vector"])))
    assert worst >= COSINE
    a, b = semsearch.open(tmp_path / "ray"), semsearch.open(tmp_path / "local")
    for query in ("vitamin D and infection", "gene expression in cancer cells"):
        assert [h.id for h in a.search(query, k=10).hits] == [h.id for h in b.search(query, k=10).hits]
    hashes = a.store.doc_hashes()
    assert hashes == b.store.doc_hashes()
    rowids = a.store.scan(["rowid"])["rowid"].to_pylist()
    assert len(set(rowids)) == len(rowids)


def test_the_ray_engine_updates_an_index_on_object_storage(local_ray, docs, s3_server, s3_uri):
    first = build_index_distributed(docs[:60], s3_uri, options(), unit_docs=25, storage_options=s3_server)
    assert first.docs == 60
    changed = [dict(docs[0], text="a new text about parrots"), *docs[30:80]]
    folder = semsearch.location.resolve(s3_uri, s3_server)
    again = build_index_distributed(changed, folder, options(delete_missing=True), unit_docs=25)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (20, 1, 30, 29)
    assert again.encoded_docs == 21  # only the new and the changed text are encoded
    opened = semsearch.open(s3_uri, storage_options=s3_server)
    assert sorted(d["id"] for d in opened.export()) == sorted(d["_id"] for d in changed)
    assert opened.search("parrots", k=1, mode="bm25").hits[0].id == docs[0]["_id"]
    rowids = opened.store.scan(["rowid"])["rowid"].to_pylist()
    assert len(set(rowids)) == len(rowids)


KILLED_JOB = """
import json, sys
from semsearch.ingest import IndexOptions
from semsearch.ingest.distributed import build_index_distributed
from semsearch.types import Precision
docs = [json.loads(line) for line in open(sys.argv[1])][:100]
build_index_distributed(docs, sys.argv[2], IndexOptions(progress=False, precision=Precision.FP32), unit_docs=10, cpus=2)
"""


@pytest.mark.slow
def test_a_killed_job_resumes_to_the_exact_set_without_encoding_committed_documents(docs, tmp_path):
    target = tmp_path / "killed"
    job = subprocess.Popen(
        [sys.executable, "-c", KILLED_JOB, str(SAMPLE), str(target)], start_new_session=True,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    committed = 0
    while time.monotonic() < deadline and job.poll() is None:
        try:
            committed = semsearch.open(target).store.count_docs() if (target / "manifest.json").exists() else 0
        except semsearch.errors.SemsearchError:
            committed = 0
        if committed >= 20:
            break
        time.sleep(0.5)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert 0 < committed < len(docs), "the job was killed between its commits"
    before = semsearch.open(target).store.count_docs()
    summary = build_index(docs, target, options())
    assert summary.unchanged == before and summary.encoded_docs == len(docs) - before
    assert sorted(d["id"] for d in semsearch.open(target).export()) == sorted(d["_id"] for d in docs)
