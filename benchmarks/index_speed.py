"""Indexing speed, whole process: `semsearch index` of SciFact against plain sentence-transformers encoding
the same texts, each a fresh process timed from start to end, in one run; and what each index finds.

    .venv/bin/python benchmarks/index_speed.py                      # all 5,183 SciFact documents
    .venv/bin/python benchmarks/index_speed.py --docs 1000          # the first 1,000
    .venv/bin/python benchmarks/index_speed.py --precisions default fp32
    .venv/bin/python benchmarks/index_speed.py --precisions default --repeats 3   # medians of 3, interleaved

Rows: the peer (sentence-transformers fp32, batch 64, truncating each text at its 256 tokens: it encodes
fewer tokens than an index, which encodes every window of every document), then one `semsearch index` run
per precision: "default" is what a new index gets (the runtime planner's choice on this CPU; its plan is
made before timing, as it is once per machine), the others are given with --precision. docs/s is what the
user waits for; tokens/s is the engine's own efficiency. nDCG@10 is each index's, on the SciFact test
queries (dense and hybrid; documents outside a --docs subset are not judged). With --repeats, every run is
made that many times, the peer and the indexes taken in turn, and each row gives the median wall time (and
the fastest and slowest): a shared machine's speed drifts within minutes, and taking turns spreads the drift
over every row alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scifact"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

PEER = """
import json, sys, time
from sentence_transformers import SentenceTransformer
from semsearch.models import default_model_dir
texts = [json.loads(line)["text"] for line in open(sys.argv[1])]
model = SentenceTransformer(str(default_model_dir()), device="cpu")
model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
tokens = sum(min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"])
print(json.dumps({"tokens": tokens}))
"""


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def evaluate(index: Path, mode: str, qrels: Path) -> float:
    _, out = timed([sys.executable, "-m", "semsearch", "eval", "--index", str(index), "--queries",
                    str(DATA / "queries.jsonl"), "--qrels", str(qrels), "--mode", mode, "--json"])  # fmt: skip
    return float(json.loads(out)["ndcg@10"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--precisions", nargs="+", default=["default", "fp32"])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each row, taken in turn (median shown)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus and indexes (where: printed at the end)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="semsearch-index-speed-"))
    try:
        run(args, work)
    finally:
        if args.keep:
            print(f"\ncorpus and indexes kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    from semsearch import corpus
    from semsearch.encoder import Encoder
    from semsearch.runtime import cpu
    from semsearch.runtime.planner import plan_for

    docs = list(corpus.load(DATA))[: args.docs]
    source = work / "corpus.jsonl"
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as lines:  # the records as SciFact has them, titles apart
        records = [json.loads(line) for line, _ in zip(lines, docs, strict=False)]
    assert [r["_id"] for r in records] == [d.id for d in docs]
    source.write_text("".join(json.dumps({k: r[k] for k in ("_id", "title", "text") if k in r}) + "\n"
                              for r in records), encoding="utf-8")  # fmt: skip
    peer_texts = work / "texts.jsonl"  # what the index encodes: title and text as the corpus reader joins them
    peer_texts.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in docs), encoding="utf-8")
    qrels = work / "qrels.tsv"
    kept = {d.id for d in docs}
    lines = (DATA / "qrels" / "test.tsv").read_text().splitlines()
    judged = [line for line in lines[1:] if line.split("\t")[1] in kept]
    qrels.write_text("\n".join([lines[0], *judged]) + "\n")
    reference = Encoder(precision="fp32")  # counts the windows' tokens, as every precision cuts them alike
    tokens = sum(len(c.input_ids) for c in reference.chunks([d.text for d in docs], 32, 128))
    plan = plan_for(Encoder(precision="fp32").planner_model())  # made once per machine; not timed below

    print(f"CPU: {cpu.model_name()}, {cpu.usable_cores()} cores; flags: {plan.flags}", flush=True)
    walls: dict[str, list[float]] = {}
    rows: dict[str, tuple[int, float | None, float | None]] = {}
    peer = "sentence-transformers fp32, batch 64 (peer; truncates at 256 tokens)"
    for repeat in range(args.repeats):
        seconds, out = timed([sys.executable, "-c", PEER, str(peer_texts)])
        walls.setdefault(peer, []).append(seconds)
        rows[peer] = (json.loads(out)["tokens"], None, None)
        print(f"peer: {len(docs) / seconds:.1f} docs/s", flush=True)
        for precision in args.precisions:
            index = work / f"index-{precision}-{repeat}"
            given = [] if precision == "default" else ["--precision", precision]
            seconds, _ = timed([sys.executable, "-m", "semsearch", "index", str(source), "--index", str(index),
                                *given])  # fmt: skip
            made = json.loads((index / "manifest.json").read_text())["precision"]
            name = f"semsearch index, {made}" + (" (the default here)" if precision == "default" else "")
            walls.setdefault(name, []).append(seconds)
            if repeat == 0:  # the same windows and weights make the same index every time
                rows[name] = (tokens, evaluate(index, "dense", qrels), evaluate(index, "hybrid", qrels))
            print(f"{name}: {len(docs) / seconds:.1f} docs/s", flush=True)

    print()
    print(f"SciFact, {len(docs)} documents, whole process; plan: bulk {plan.bulk[0]} in {plan.bulk[1]}")
    print("| run | wall s (fastest-slowest) | docs/s | vs peer | tokens | tokens/s | nDCG@10 dense | nDCG@10 hybrid |")
    print("|---|---|---|---|---|---|---|---|")
    peer_seconds = statistics.median(walls[peer])
    for name, (count, dense, hybrid) in rows.items():
        seconds = statistics.median(walls[name])
        spread = f" ({min(walls[name]):.0f}-{max(walls[name]):.0f})" if len(walls[name]) > 1 else ""
        quality = f"{dense:.4f} | {hybrid:.4f}" if dense is not None else " | "
        print(f"| {name} | {seconds:.0f}{spread} | {len(docs) / seconds:.1f} | {peer_seconds / seconds:.2f}x | "
              f"{count:,} | {count / seconds:,.0f} | {quality} |")  # fmt: skip


if __name__ == "__main__":
    main()
