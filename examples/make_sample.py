"""How examples/scifact-sample was made (kept for the record; the sample itself is committed).

Picks 60 SciFact test claims, every abstract they cite, and random other abstracts up to 300,
so the sample has both relevant and distracting documents. Run from the project root with
../shared/data beside it: ``python examples/make_sample.py``.
"""

import json
import random
from pathlib import Path

SOURCE = Path("../shared/data/scifact")
TARGET = Path("examples/scifact-sample")
rng = random.Random(0)

corpus = [json.loads(line) for line in (SOURCE / "corpus.jsonl").open()]
queries = {q["_id"]: q for q in map(json.loads, (SOURCE / "queries.jsonl").open())}
rows = [line.rstrip("\r\n").split("\t") for line in (SOURCE / "qrels/test.tsv").open()][1:]
qrels: dict[str, list[str]] = {}
for qid, did, _ in rows:
    qrels.setdefault(qid, []).append(did)

chosen = rng.sample(sorted(qrels), 60)
relevant = {d for q in chosen for d in qrels[q]}
others = [d["_id"] for d in corpus if d["_id"] not in relevant]
keep = relevant | set(rng.sample(others, 300 - len(relevant)))

TARGET.joinpath("qrels").mkdir(parents=True, exist_ok=True)
with (TARGET / "corpus.jsonl").open("w") as out:
    for doc in corpus:
        if doc["_id"] in keep:
            out.write(json.dumps(doc) + "\n")
with (TARGET / "queries.jsonl").open("w") as out:
    for qid in chosen:
        out.write(json.dumps({"_id": qid, "text": queries[qid]["text"]}) + "\n")
with (TARGET / "qrels/test.tsv").open("w") as out:
    out.write("query-id\tcorpus-id\tscore\n")
    for qid, did, score in rows:
        if qid in chosen:
            out.write(f"{qid}\t{did}\t{score}\n")
