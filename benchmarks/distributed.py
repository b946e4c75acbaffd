"""The ray engine into a local S3 server against the local engine into a folder, one run; then kill-and-resume.

    python benchmarks/distributed.py [--data ../shared/data] [--kills 5] [--json out.json]

1. NFCorpus (3,633 documents) indexed by ``semsearch index --engine ray --index s3://...`` (a local Ray
   on 127.0.0.1 and a moto S3 server on 127.0.0.1, both started here) and by ``semsearch index`` into a
   folder, each a whole process: wall time, docs/s, whether the two hold the same documents, and
   nDCG@10 of both on the NFCorpus test qrels.
2. Kill-and-resume: a ray-engine job on the first ``--resume-docs`` documents, killed (SIGKILL, the whole
   process group) ``--kills`` times, each at a random moment after at least one more unit was committed, each
   time run again; then run to the end. The
   final index must hold exactly the source's documents, and the last run must encode only what no
   earlier run committed.

Prints a table (stdout) and writes the figures as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from semsearch.runtime import cpu

ROOT = Path(__file__).resolve().parent.parent
SEMSEARCH = [sys.executable, "-m", "semsearch"]
RESUME_JOB = """
import json, sys
from semsearch.ingest import IndexOptions
from semsearch.ingest.distributed import build_index_distributed
docs = [json.loads(line) for line in open(sys.argv[1])][: int(sys.argv[3])]
s = build_index_distributed(docs, sys.argv[2], IndexOptions(progress=False), unit_docs=int(sys.argv[4]))
print(json.dumps({"encoded": s.encoded_docs, "unchanged": s.unchanged, "docs": s.docs}))
"""


def start_s3() -> tuple[object, dict[str, str]]:
    import logging

    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"aws_endpoint": f"http://{host}:{port}", "allow_http": "true", "aws_region": "us-east-1",
               "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
    boto3.client("s3", endpoint_url=options["aws_endpoint"], region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="bench")  # fmt: skip
    return server, options


def storage_flags(options: dict[str, str]) -> list[str]:
    return [flag for key, value in options.items() for flag in ("--storage-option", f"{key}={value}")]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def evaluate(index: str, data: Path, extra: list[str]) -> float:
    queries, qrels = str(data / "queries.jsonl"), str(data / "qrels" / "test.tsv")
    _, out = timed([*SEMSEARCH, "eval", "--index", index, "--queries", queries, "--qrels", qrels, "--json", *extra])
    return float(json.loads(out)["ndcg@10"])


def ids(index: str, extra: list[str]) -> set[str]:
    _, out = timed([*SEMSEARCH, "export", "--index", index, *extra])
    return {json.loads(line)["id"] for line in out.splitlines() if line.strip()}


def committed(target: Path) -> int:
    """Documents the index at ``target`` holds (0 before its first commit)."""
    import semsearch

    try:
        return semsearch.open(target).store.count_docs() if (target / "manifest.json").exists() else 0
    except semsearch.errors.SemsearchError:
        return 0


def kill_and_resume(corpus: Path, work: Path, docs: int, unit: int, kills: int, seed: int) -> dict[str, object]:
    """Kill a job ``kills`` times, each at a random moment after at least one more unit was committed (a
    random 0-3 s past that commit, so some kills land mid-unit and some mid-commit), then run it to the end."""
    target = work / "resumed"
    rng = random.Random(seed)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    command = [sys.executable, "-c", RESUME_JOB, str(corpus), str(target), str(docs), str(unit)]
    killed_at: list[int | None] = []
    for _ in range(kills):
        before = committed(target)
        job = subprocess.Popen(command, start_new_session=True, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 600
        while job.poll() is None and committed(target) <= before and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(rng.uniform(0, 3))
        finished = job.poll() is not None
        if not finished:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        at = committed(target)
        killed_at.append(None if finished else at)
        print(f"  kill {len(killed_at)}: {'the job had finished' if finished else f'{at} documents committed'}",
              file=sys.stderr)  # fmt: skip
    before = ids(str(target), []) if (target / "manifest.json").exists() else set()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"the final run failed:\n{done.stderr[-3000:]}")
    last = json.loads(done.stdout.strip().splitlines()[-1])
    wanted = {json.loads(line)["_id"] for line in list(corpus.open())[:docs]}
    after = ids(str(target), [])
    return {"docs": docs, "committed_at_each_kill": killed_at, "committed_before_last_run": len(before),
            "last_run_encoded": last["encoded"], "last_run_unchanged": last["unchanged"],
            "exact_set": after == wanted,
            "encoded_only_uncommitted": last["encoded"] == len(wanted - before)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--resume-docs", type=int, default=400)
    parser.add_argument("--resume-unit", type=int, default=40)
    parser.add_argument("--skip-compare", action="store_true", help="only the kill-and-resume part")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = args.data / "nfcorpus"
    corpus = data / "corpus.jsonl"
    server, options = start_s3()
    flags = storage_flags(options)
    results: dict[str, object] = {"cpu": cpu.model_name(), "cores": len(os.sched_getaffinity(0))}
    with tempfile.TemporaryDirectory(prefix="semsearch-distributed-") as scratch:
        work = Path(scratch)
        if not args.skip_compare:
            uri = "s3://bench/indexes/nfcorpus"
            ray_seconds, _ = timed([*SEMSEARCH, "index", str(data), "--index", uri, "--engine", "ray", *flags])
            local_seconds, _ = timed([*SEMSEARCH, "index", str(data), "--index", str(work / "local")])
            documents = sum(1 for _ in corpus.open())
            same = ids(uri, flags) == ids(str(work / "local"), [])
            ray_ndcg, local_ndcg = evaluate(uri, data, flags), evaluate(str(work / "local"), data, [])
            results["compare"] = {
                "documents": documents, "same_documents": same,
                "ray_s3": {"seconds": ray_seconds, "docs_per_s": documents / ray_seconds, "ndcg@10": ray_ndcg},
                "local_folder": {"seconds": local_seconds, "docs_per_s": documents / local_seconds,
                                 "ndcg@10": local_ndcg},
            }  # fmt: skip
            print(f"NFCorpus, {documents} documents, {results['cores']} cores ({results['cpu']}); whole processes")
            print("| engine | where | wall s | docs/s | nDCG@10 (test) |")
            print("|---|---|---|---|---|")
            print(f"| ray | local S3 (moto) | {ray_seconds:.1f} | {documents / ray_seconds:.1f} | {ray_ndcg:.4f} |")
            print(f"| local | folder | {local_seconds:.1f} | {documents / local_seconds:.1f} | {local_ndcg:.4f} |")
            print(f"same documents: {same}; nDCG difference {abs(ray_ndcg - local_ndcg):.4f}")
        resumed = kill_and_resume(corpus, work, args.resume_docs, args.resume_unit, args.kills, args.seed)
        results["kill_and_resume"] = resumed
        print(f"\nkill-and-resume, {resumed['docs']} documents, units of {args.resume_unit}: "
              f"killed with {resumed['committed_at_each_kill']} documents committed; "
              f"{resumed['committed_before_last_run']} committed before the "
              f"last run, which encoded {resumed['last_run_encoded']} and skipped "
              f"{resumed['last_run_unchanged']}; exact set: {resumed['exact_set']}; encoded only what was not "
              f"committed: {resumed['encoded_only_uncommitted']}")  # fmt: skip
    server.stop()  # type: ignore[attr-defined]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
